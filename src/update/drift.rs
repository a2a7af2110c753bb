//! Drift: what changed in the environment since the last deployment, outside cadkit.
//!
//! The reference is the inventory (what each root deployed last). Per root it reports
//! properties whose live value differs from the deployed one, properties added to
//! instances the root creates that no root sets, deployed instances and relations that
//! are gone, and relations nobody deployed that start at an instance the root creates.
//! A policy per root decides: `revert` (the default: the update puts the deployed state
//! back, even for roots whose patches did not change), `keep` (the drifted items are left
//! as they are live and the update does not touch them) or `fail` (nothing is applied).

use super::{Current, PlanRequest, RelKey};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What an update does with a root that drifted (`--update.driftPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Put the deployed state back (the default), even when the root's patches did not
    /// change.
    Revert,
    /// Leave the drifted items as they are live; the update does not touch them.
    Keep,
    /// Refuse the whole update: nothing is applied.
    Fail,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "revert" => Ok(Policy::Revert),
            "keep" => Ok(Policy::Keep),
            "fail" => Ok(Policy::Fail),
            other => Err(format!("expected revert, keep or fail, found {other:?}")),
        }
    }
}

/// A default policy plus per-root overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    /// The policy of roots without an override ([`Policy::Revert`] unless set).
    pub default: Policy,
    /// Overrides by root tag.
    pub per_root: BTreeMap<String, Policy>,
}

impl Default for Policies {
    fn default() -> Policies {
        Policies {
            default: Policy::Revert,
            per_root: BTreeMap::new(),
        }
    }
}

impl Policies {
    /// `revert`, `keep`, `fail`, or a JSON object `{"default": "keep", "<root tag>": "fail"}`.
    pub fn parse(s: &str) -> Result<Policies, String> {
        if let Ok(p) = s.parse::<Policy>() {
            return Ok(Policies {
                default: p,
                per_root: BTreeMap::new(),
            });
        }
        let map: BTreeMap<String, String> = serde_json::from_str(s).map_err(|_| {
            format!("expected revert, keep, fail or a JSON object {{\"default\": \"revert\", \"<root tag>\": \"keep\"}}, found {s:?}")
        })?;
        let mut out = Policies::default();
        for (k, v) in map {
            let p: Policy = v.parse()?;
            if k == "default" {
                out.default = p;
            } else if crate::patch::is_tag(&k) {
                out.per_root.insert(k, p);
            } else {
                return Err(format!(
                    "{k:?} is neither \"default\" nor a 20-hex root tag"
                ));
            }
        }
        Ok(out)
    }

    /// The policy applying to `root`: its override, else the default.
    pub fn of(&self, root: &str) -> Policy {
        self.per_root.get(root).copied().unwrap_or(self.default)
    }
}

/// How one deployed root differs live from its inventory record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootDrift {
    /// The root's tag.
    pub root: String,
    /// The policy applied to it (`None` until [`apply_policies`] ran).
    pub policy: Option<Policy>,
    /// Instance → properties whose live value differs from the deployed one.
    pub changed_props: BTreeMap<String, Vec<String>>,
    /// Instance → properties present live that no root sets.
    pub added_props: BTreeMap<String, Vec<String>>,
    /// Instances the root created that no longer exist.
    pub missing_instances: Vec<String>,
    /// Relations the root deployed that no longer exist.
    pub missing_relations: Vec<RelKey>,
    /// Relations nobody deployed starting at an instance the root creates.
    pub added_relations: Vec<RelKey>,
}

impl RootDrift {
    /// True when the root has not drifted (such roots are not reported).
    pub fn is_empty(&self) -> bool {
        self.changed_props.is_empty()
            && self.added_props.is_empty()
            && self.missing_instances.is_empty()
            && self.missing_relations.is_empty()
            && self.added_relations.is_empty()
    }
}

/// The drift of an environment: part of the `update` report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    /// Deployed, non-excluded roots compared with their inventory record.
    pub roots_checked: usize,
    /// The roots that drifted, in root-tag order.
    pub roots: Vec<RootDrift>,
}

/// Compare every deployed, non-excluded root with its inventory record.
pub fn detect(cur: &dyn Current, excluded: &BTreeSet<String>) -> Result<DriftReport> {
    let mut report = DriftReport::default();
    for root in cur.deployed_roots()? {
        if excluded.contains(&root) {
            continue;
        }
        let Some(state) = cur.deployed(&root)? else {
            continue;
        };
        report.roots_checked += 1;
        let mut d = RootDrift {
            root: root.clone(),
            ..RootDrift::default()
        };
        for t in state.instances() {
            let live = cur.props(t)?;
            let Some(live) = live else {
                if state.created.contains(t) {
                    d.missing_instances.push(t.clone());
                }
                continue;
            };
            if let Some(p) = state.props.get(t) {
                let changed: Vec<String> = p
                    .iter()
                    .filter(|(k, v)| {
                        !super::NEVER_COMPARED.contains(&k.as_str()) && live.get(*k) != Some(*v)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                if !changed.is_empty() {
                    d.changed_props.insert(t.clone(), changed);
                }
            }
            if state.created.contains(t) {
                let owners = cur.instance_owners(t)?;
                let set: BTreeSet<&String> = owners.props.values().flat_map(|p| p.keys()).collect();
                let added: Vec<String> = live
                    .iter()
                    .filter(|(k, v)| {
                        !v.is_null()
                            && !set.contains(k)
                            && !super::NEVER_COMPARED.contains(&k.as_str())
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                if !added.is_empty() {
                    d.added_props.insert(t.clone(), added);
                }
                for k in cur.relations_touching(t)? {
                    if k.l == *t
                        && !state.relations.contains(&k)
                        && cur.relation_owners(&k)?.is_empty()
                    {
                        d.added_relations.push(k);
                    }
                }
            }
        }
        for k in &state.relations {
            if !cur.has_relation(k)? {
                d.missing_relations.push(k.clone());
            }
        }
        if !d.is_empty() {
            report.roots.push(d);
        }
    }
    Ok(report)
}

/// Apply the policies: fill the plan request (revert / keep) or fail.
pub fn apply_policies(
    report: &mut DriftReport,
    policies: &Policies,
    req: &mut PlanRequest,
) -> Result<()> {
    let mut failing = Vec::new();
    for d in &mut report.roots {
        let p = policies.of(&d.root);
        d.policy = Some(p);
        match p {
            Policy::Revert => {
                req.revert.insert(d.root.clone());
                req.extra_relations
                    .extend(d.added_relations.iter().cloned());
            }
            Policy::Keep => {
                req.keep_instances.extend(d.changed_props.keys().cloned());
                req.keep_instances.extend(d.added_props.keys().cloned());
                req.keep_instances
                    .extend(d.missing_instances.iter().cloned());
                req.keep_relations
                    .extend(d.missing_relations.iter().cloned());
                req.keep_relations.extend(d.added_relations.iter().cloned());
            }
            Policy::Fail => failing.push(d.root.clone()),
        }
    }
    if !failing.is_empty() {
        bail!(
            "drift detected in {} root(s) with policy `fail`: {}; nothing was applied (see the drift report; use --update.driftPolicy revert or keep for these roots)",
            failing.len(),
            failing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_strictly() {
        assert_eq!(Policies::parse("keep").unwrap().default, Policy::Keep);
        let p = Policies::parse(r#"{"default":"fail","0123456789abcdef0123":"keep"}"#).unwrap();
        assert_eq!(p.of("0123456789abcdef0123"), Policy::Keep);
        assert_eq!(p.of("0123456789abcdef0124"), Policy::Fail);
        assert!(Policies::parse("banana").is_err());
        assert!(Policies::parse(r#"{"x":"keep"}"#).is_err());
    }
}
