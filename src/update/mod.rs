//! `update`: converge an environment to the patches of a built `dist/codeAsData`.
//!
//! The patches are the source of truth. For every root (the `rootTag` of a patch file) the
//! desired content is what its files create, update and relate; the environment is made to
//! match it: missing instances are created, changed properties set, properties no patch
//! holds any more removed (set `null`), relation set differences applied (key `m+l+r`), and
//! what a root deployed before but no longer holds is deleted.
//!
//! Ownership (what may be deleted) comes from an *inventory* kept in the environment, not
//! from a follow-rule walk of the live graph: every successful `install`/`update` records,
//! per root, the instances it creates, the properties it sets and the relations it holds
//! (a [`RootState`]). An item is deleted only when the last root that deployed it drops it
//! and no other root still holds it. Items nobody deployed (edited live in Draw, users,
//! business data) are never deleted. Properties are owned per root too (like Kubernetes
//! field managers): when a root drops a property another root still sets, the other root's
//! value stays.
//!
//! Modules: [`desired`] (loading a dist folder), [`changelog`] (rsync itemize output),
//! [`exclude`] (the toolkit's exclude/include closure), [`memory`] (an in-memory
//! environment for tests and the demo).

pub mod changelog;
pub mod demo;
pub mod desired;
pub mod drift;
pub mod envcmd;
pub mod exclude;
pub mod install;
pub mod memory;
pub mod remote;
pub mod render;
pub mod rollback;
pub mod run;

use crate::graph::{Graph, Props};
use crate::patch::{DeleteOp, InstanceOp, Op};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use desired::{DesiredRoot, DesiredState};

/// The deployment lock and the environment modes live with the embedded environment (their
/// SQL is there); kept under this path for callers.
pub use crate::env::sqlite::lock;

pub use crate::env::inventory::{Current, Owners, RelKey, RootState, STRUCTURE_RELATIONS};

/// Properties never compared (SRP salt and verifier of users: the server rewrites them).
pub const NEVER_COMPARED: [&str; 2] = ["ff023000000000000004", "ff023000000000000005"];

/// Changes planned for one root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootPlan {
    pub root: String,
    /// `create` (new root), `update`, `delete` (no patch holds it any more) or `revert`
    /// (unchanged patches, drift reverted).
    pub action: String,
    pub created_instances: Vec<String>,
    /// Instance tag → properties set (a `null` value removes the property).
    pub updated_instances: BTreeMap<String, Props>,
    pub deleted_instances: Vec<String>,
    pub created_relations: Vec<RelKey>,
    pub deleted_relations: Vec<RelKey>,
}

impl RootPlan {
    pub fn is_empty(&self) -> bool {
        self.created_instances.is_empty()
            && self.updated_instances.is_empty()
            && self.deleted_instances.is_empty()
            && self.created_relations.is_empty()
            && self.deleted_relations.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub roots: usize,
    pub created_instances: usize,
    pub updated_instances: usize,
    pub deleted_instances: usize,
    pub created_relations: usize,
    pub deleted_relations: usize,
}

/// The plan of an update: what changes per root, the inventory records to write and the
/// operations to apply (in application order).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Roots with changes, in import order (deleted roots last).
    pub roots: Vec<RootPlan>,
    pub totals: Totals,
    /// Roots compared (after change-log narrowing and exclusion).
    pub compared_roots: usize,
    /// Roots skipped as excluded (instance-managed).
    pub excluded_roots: Vec<String>,
    /// Whether a change log narrowed the comparison.
    pub change_log: bool,
    /// Inventory records to write (root → new state); deleted roots map to `None`.
    #[serde(skip)]
    pub inventory: BTreeMap<String, Option<RootState>>,
}

impl Plan {
    /// True when there is nothing to change in the graph.
    pub fn is_empty(&self) -> bool {
        self.roots.iter().all(RootPlan::is_empty)
    }

    /// True when neither the graph nor the inventory changes.
    pub fn is_noop(&self) -> bool {
        self.is_empty() && self.inventory.is_empty()
    }

    /// The operations to apply, in application order: delete relations, delete
    /// instances, create instances, update instances, create relations.
    pub fn ops(&self) -> Vec<Op> {
        let mut del_rel = Vec::new();
        let mut del_inst = Vec::new();
        let mut new_inst = Vec::new();
        let mut upd_inst = Vec::new();
        let mut new_rel = Vec::new();
        for r in &self.roots {
            del_rel.extend(r.deleted_relations.iter().map(|k| k.to_op(false)));
            del_inst.extend(r.deleted_instances.iter().map(|t| {
                Op::DeleteInstance(DeleteOp {
                    tag: t.clone(),
                    follow: None,
                    extra: Map::new(),
                })
            }));
            new_inst.extend(r.created_instances.iter().map(|t| {
                Op::CreateInstance(InstanceOp {
                    tag: t.clone(),
                    props: Map::new(),
                    extra: Map::new(),
                })
            }));
            upd_inst.extend(r.updated_instances.iter().map(|(t, p)| {
                Op::UpdateInstance(InstanceOp {
                    tag: t.clone(),
                    props: p.clone(),
                    extra: Map::new(),
                })
            }));
            new_rel.extend(r.created_relations.iter().map(|k| k.to_op(true)));
        }
        let mut all = del_rel;
        all.extend(del_inst);
        all.extend(new_inst);
        all.extend(upd_inst);
        all.extend(new_rel);
        all
    }

    fn total(&mut self) {
        self.roots.retain(|r| !r.is_empty());
        let t = &mut self.totals;
        *t = Totals::default();
        t.roots = self.roots.len();
        for r in &self.roots {
            t.created_instances += r.created_instances.len();
            t.updated_instances += r.updated_instances.len();
            t.deleted_instances += r.deleted_instances.len();
            t.created_relations += r.created_relations.len();
            t.deleted_relations += r.deleted_relations.len();
        }
    }

    /// Apply the plan to an in-memory graph.
    pub fn apply_to(&self, g: &mut Graph) {
        for op in self.ops() {
            g.apply(&op);
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Roots whose patches changed (from the change log); `None` = every desired root.
    pub changed: Option<BTreeSet<String>>,
    /// Extra roots to re-compare even if unchanged (drift to revert).
    pub revert: BTreeSet<String>,
    /// Live relations not in the inventory to delete (drift to revert).
    pub extra_relations: BTreeSet<RelKey>,
    /// Items whose live value is kept (drift policy `keep`): instance tags and relation
    /// keys the plan must not touch.
    pub keep_instances: BTreeSet<String>,
    pub keep_relations: BTreeSet<RelKey>,
    /// Roots excluded (instance-managed): never compared, created or deleted.
    pub excluded: BTreeSet<String>,
}

/// Compute the plan converging `cur` to `desired`.
///
/// `desired.roots` must hold (at least) every root to compare; `desired.all_roots` every
/// root tag present in the dist folder (roots absent from it are deleted).
pub fn plan(desired: &DesiredState, cur: &dyn Current, req: &PlanRequest) -> Result<Plan> {
    let deployed_roots = cur.deployed_roots()?;
    let mut plan = Plan {
        change_log: req.changed.is_some(),
        ..Plan::default()
    };
    // Roots to compare, in import order, then roots to delete.
    let mut affected: Vec<(String, &'static str)> = Vec::new();
    for root in &desired.order {
        if req.excluded.contains(root) {
            plan.excluded_roots.push(root.clone());
            continue;
        }
        let selected = match &req.changed {
            None => true,
            Some(c) => c.contains(root) || req.revert.contains(root),
        };
        if selected {
            let action = if !deployed_roots.contains(root) {
                "create"
            } else if req.changed.as_ref().is_some_and(|c| !c.contains(root)) {
                "revert"
            } else {
                "update"
            };
            affected.push((root.clone(), action));
        }
    }
    for root in &deployed_roots {
        if desired.all_roots.contains(root) {
            continue;
        }
        if req.excluded.contains(root) {
            plan.excluded_roots.push(root.clone());
            continue;
        }
        affected.push((root.clone(), "delete"));
    }
    plan.compared_roots = affected.len();
    let affected_set: BTreeSet<&str> = affected.iter().map(|(r, _)| r.as_str()).collect();

    // Old (inventory) and new (patch) states of the affected roots.
    let empty = RootState::default();
    let mut old: BTreeMap<&str, RootState> = BTreeMap::new();
    for (root, _) in &affected {
        old.insert(root, cur.deployed(root)?.unwrap_or_default());
    }
    let new_of =
        |root: &str| -> &RootState { desired.roots.get(root).map(|d| &d.state).unwrap_or(&empty) };

    let mut root_plans: Vec<RootPlan> = affected
        .iter()
        .map(|(r, a)| RootPlan {
            root: r.clone(),
            action: a.to_string(),
            ..RootPlan::default()
        })
        .collect();
    let index: BTreeMap<&str, usize> = affected
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (r.as_str(), i))
        .collect();

    // Candidate instances, attributed to the first root holding them (new state first),
    // with the affected roots holding them in their new and old states.
    #[derive(Default)]
    struct Cand {
        first: Option<usize>,
        new: Vec<usize>,
        old: Vec<usize>,
    }
    let mut inst: BTreeMap<&str, Cand> = BTreeMap::new();
    for (i, (root, _)) in affected.iter().enumerate() {
        for t in new_of(root).instances() {
            let c = inst.entry(t.as_str()).or_default();
            c.first.get_or_insert(i);
            c.new.push(i);
        }
    }
    for (i, (root, _)) in affected.iter().enumerate() {
        for t in old[root.as_str()].instances() {
            let c = inst.entry(t.as_str()).or_default();
            c.first.get_or_insert(i);
            c.old.push(i);
        }
    }
    let root_of = |i: usize| affected[i].0.as_str();
    let mut deleted_rel_set: BTreeSet<RelKey> = BTreeSet::new();
    for (tag, c) in &inst {
        let tag = *tag;
        if req.keep_instances.contains(tag) {
            continue;
        }
        let i = c.first.unwrap_or(0);
        let owners = cur.instance_owners(tag)?;
        let other_creators = owners
            .creators
            .iter()
            .any(|r| !affected_set.contains(r.as_str()));
        let mut desired_props: Option<Props> = None;
        let mut created_by_new = false;
        for (root, p) in &owners.props {
            if !affected_set.contains(root.as_str()) {
                merge_into(desired_props.get_or_insert_with(Props::new), p);
            }
        }
        for &j in &c.new {
            let n = new_of(root_of(j));
            if let Some(p) = n.props.get(tag) {
                merge_into(desired_props.get_or_insert_with(Props::new), p);
            }
            created_by_new |= n.created.contains(tag);
        }
        let created_before = c.old.iter().any(|&j| old[root_of(j)].created.contains(tag));
        let live = cur.props(tag)?;
        let exists_desired = created_by_new || other_creators || desired_props.is_some();
        let rp = &mut root_plans[i];
        match (exists_desired, live) {
            (true, None) => {
                rp.created_instances.push(tag.to_string());
                let p = desired_props.unwrap_or_default();
                if !p.is_empty() {
                    rp.updated_instances.insert(tag.to_string(), p);
                }
            }
            (true, Some(live)) => {
                let want = desired_props.unwrap_or_default();
                // Properties set by nobody any more are removed only if a root of this
                // plan created the instance or set them before (otherwise they were set
                // live on an instance that is not ours).
                let mut dropped: BTreeSet<&str> = BTreeSet::new();
                for &j in &c.old {
                    if let Some(p) = old[root_of(j)].props.get(tag) {
                        dropped.extend(p.keys().map(String::as_str));
                    }
                }
                let created_by_us = created_by_new || created_before;
                let d = diff_props(&want, &live, |k| created_by_us || dropped.contains(k));
                if !d.is_empty() {
                    rp.updated_instances.insert(tag.to_string(), d);
                }
            }
            (false, Some(live)) => {
                if created_before {
                    // Dropped by its roots and held by no other: delete it, with its
                    // relations.
                    rp.deleted_instances.push(tag.to_string());
                    for k in cur.relations_touching(tag)? {
                        if deleted_rel_set.insert(k.clone()) {
                            rp.deleted_relations.push(k);
                        }
                    }
                } else {
                    // Only updated by the dropped root: remove the properties it set.
                    let mut d = Props::new();
                    for &j in &c.old {
                        if let Some(p) = old[root_of(j)].props.get(tag) {
                            for k in p.keys() {
                                if live.contains_key(k) {
                                    d.insert(k.clone(), Value::Null);
                                }
                            }
                        }
                    }
                    if !d.is_empty() {
                        rp.updated_instances.insert(tag.to_string(), d);
                    }
                }
            }
            (false, None) => {}
        }
    }

    // Candidate relations: (first root, held by a new state).
    let mut rel_root: BTreeMap<&RelKey, (usize, bool)> = BTreeMap::new();
    for (i, (root, _)) in affected.iter().enumerate() {
        for k in &new_of(root).relations {
            rel_root.entry(k).or_insert((i, true));
        }
    }
    for (i, (root, _)) in affected.iter().enumerate() {
        for k in &old[root.as_str()].relations {
            rel_root.entry(k).or_insert((i, false));
        }
    }
    let already_deleted = deleted_rel_set;
    for (k, &(i, in_new)) in &rel_root {
        if req.keep_relations.contains(*k) {
            continue;
        }
        let wanted = in_new
            || cur
                .relation_owners(k)?
                .iter()
                .any(|r| !affected_set.contains(r.as_str()));
        // A relation removed with a deleted instance but still held by a patch is created
        // again after the deletion (as a fresh load creates it, even dangling).
        let live = !already_deleted.contains(*k) && cur.has_relation(k)?;
        if wanted && !live {
            root_plans[i].created_relations.push((*k).clone());
        } else if !wanted && live {
            root_plans[i].deleted_relations.push((*k).clone());
        }
    }
    // Relations removed with a deleted instance that an unaffected root still holds.
    let mut recreate: Vec<(usize, RelKey)> = Vec::new();
    for (i, rp) in root_plans.iter().enumerate() {
        for k in &rp.deleted_relations {
            if rel_root.contains_key(k) || req.keep_relations.contains(k) {
                continue;
            }
            if cur
                .relation_owners(k)?
                .iter()
                .any(|r| !affected_set.contains(r.as_str()))
            {
                recreate.push((i, k.clone()));
            }
        }
    }
    for (i, k) in recreate {
        root_plans[i].created_relations.push(k);
    }
    for k in &req.extra_relations {
        if already_deleted.contains(k) || req.keep_relations.contains(k) {
            continue;
        }
        if cur.has_relation(k)? {
            let i = index
                .iter()
                .find(|(r, _)| old[**r].created.contains(&k.l) || new_of(r).created.contains(&k.l))
                .map(|(_, i)| *i)
                .unwrap_or(0);
            if let Some(rp) = root_plans.get_mut(i) {
                rp.deleted_relations.push(k.clone());
            }
        }
    }

    // Inventory records: new states of compared roots whose record differs.
    for (root, action) in &affected {
        if *action == "delete" {
            plan.inventory.insert(root.clone(), None);
        } else {
            let n = new_of(root);
            let o = &old[root.as_str()];
            if n != o || !deployed_roots.contains(root) {
                plan.inventory.insert(root.clone(), Some(n.clone()));
            }
        }
    }
    for rp in &mut root_plans {
        rp.created_instances.sort();
        rp.deleted_instances.sort();
        rp.created_relations.sort();
        rp.deleted_relations.sort();
    }
    plan.roots = root_plans;
    plan.total();
    Ok(plan)
}

/// Overlay `p` onto `into` (later roots win).
fn merge_into(into: &mut Props, p: &Props) {
    for (k, v) in p {
        into.insert(k.clone(), v.clone());
    }
}

/// The properties to set so `live` becomes `want`; properties only in `live` are removed
/// when `removable(key)`.
fn diff_props(want: &Props, live: &Props, removable: impl Fn(&str) -> bool) -> Props {
    let mut d = Props::new();
    for (k, v) in want {
        if NEVER_COMPARED.contains(&k.as_str()) {
            continue;
        }
        if live.get(k) != Some(v) {
            d.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in live {
        if NEVER_COMPARED.contains(&k.as_str()) || want.contains_key(k) || v.is_null() {
            continue;
        }
        if removable(k) {
            d.insert(k.clone(), Value::Null);
        }
    }
    d
}

#[cfg(test)]
mod tests;
