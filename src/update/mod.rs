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
//! This module is the planner every environment shares, and nothing environment-specific:
//! [`inventory`] (the data model of what each root deployed, and [`Current`], the
//! planner's view of an environment), [`desired`] (loading a dist folder), [`changelog`]
//! (rsync itemize output), [`exclude`] (the toolkit's exclude/include closure), [`drift`],
//! [`memory`] (an in-memory environment for tests and the demo) and [`render`]. Each
//! environment converges itself with it behind [`crate::env::Environment::update`]: the
//! embedded one in `env/sqlite/update.rs`, an orchestrator in `env/orchestrator/update.rs`.

pub mod changelog;
pub mod desired;
pub mod drift;
pub mod exclude;
pub mod inventory;
pub mod memory;
mod planner;
pub mod render;

use crate::graph::{Graph, Props};
use crate::patch::{DeleteOp, InstanceOp, Op};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use desired::{DesiredRoot, DesiredState};

pub use inventory::{Current, Owners, RelKey, RootState, STRUCTURE_RELATIONS};

/// Properties never compared (SRP salt and verifier of users: the server rewrites them).
pub const NEVER_COMPARED: [&str; 2] = ["ff023000000000000004", "ff023000000000000005"];

/// Changes planned for one root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootPlan {
    /// The root's tag (the `rootTag` of its patch files).
    pub root: String,
    /// `create` (new root), `update`, `delete` (no patch holds it any more) or `revert`
    /// (unchanged patches, drift reverted).
    pub action: String,
    /// Instances to create, empty at first: their properties are set by the updated
    /// instances, as the toolkit's `CREATE {o:1,t,p:{}}` + `UPDATE` pair.
    pub created_instances: Vec<String>,
    /// Instance tag → properties set (a `null` value removes the property).
    pub updated_instances: BTreeMap<String, Props>,
    /// Instances to delete: dropped by the last root that created them.
    pub deleted_instances: Vec<String>,
    /// Relations to create (in the patches, not live).
    pub created_relations: Vec<RelKey>,
    /// Relations to delete (no longer held by any root, or live drift to revert).
    pub deleted_relations: Vec<RelKey>,
}

impl RootPlan {
    /// True when the root changes nothing (such roots are dropped from the plan).
    pub fn is_empty(&self) -> bool {
        self.created_instances.is_empty()
            && self.updated_instances.is_empty()
            && self.deleted_instances.is_empty()
            && self.created_relations.is_empty()
            && self.deleted_relations.is_empty()
    }
}

/// The plan's counts summed over its roots (the last row of the plan table, the `roots`
/// output of the CI step).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Roots with at least one change.
    pub roots: usize,
    /// Instances created.
    pub created_instances: usize,
    /// Instances whose properties are set (created ones with properties included).
    pub updated_instances: usize,
    /// Instances deleted.
    pub deleted_instances: usize,
    /// Relations created.
    pub created_relations: usize,
    /// Relations deleted.
    pub deleted_relations: usize,
}

/// The plan of an update: what changes per root, the inventory records to write and the
/// operations to apply (in application order).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Roots with changes, in import order (deleted roots last).
    pub roots: Vec<RootPlan>,
    /// The counts of `roots`.
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
    /// Relation keys whose live state is kept (drift policy `keep`).
    pub keep_relations: BTreeSet<RelKey>,
    /// Roots excluded (instance-managed): never compared, created or deleted.
    pub excluded: BTreeSet<String>,
    /// The environment keeps no inventory (an orchestrator: its live content is the
    /// deployed state): the plan records none, which spares a copy of every compared
    /// root's new state.
    pub no_inventory: bool,
}

pub use planner::plan;

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
