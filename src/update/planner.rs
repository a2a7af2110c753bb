//! [`plan`]: the changes converging an environment to its desired state, in named stages:
//! which roots are affected, then each instance, then each relation, then the inventory
//! records. The rules (who owns an instance or a relation, what a dropped root removes)
//! are those of the module doc of [`crate::update`].

use super::{diff_props, merge_into, Current, DesiredState, Plan, PlanRequest, RelKey};
use super::{RootPlan, RootState};
use crate::graph::Props;
use anyhow::Result;
use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;

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
    let affected = affected_roots(desired, &deployed_roots, req, &mut plan.excluded_roots);
    plan.compared_roots = affected.len();
    let p = Planner::new(desired, cur, req, &affected)?;
    let mut root_plans: Vec<RootPlan> = affected
        .iter()
        .map(|(r, a)| RootPlan {
            root: r.clone(),
            action: a.to_string(),
            ..RootPlan::default()
        })
        .collect();
    let deleted_with_instances = p.instances(&mut root_plans)?;
    p.relations(&mut root_plans, &deleted_with_instances)?;
    p.inventory(&mut plan, &deployed_roots);
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

/// Roots to compare, in import order (`create`, `update`, or `revert` for drift on an
/// unchanged root), then deployed roots no patch holds any more (`delete`). Excluded
/// roots are listed in `excluded` and never compared.
fn affected_roots(
    desired: &DesiredState,
    deployed_roots: &BTreeSet<String>,
    req: &PlanRequest,
    excluded: &mut Vec<String>,
) -> Vec<(String, &'static str)> {
    let mut affected = Vec::new();
    for root in &desired.order {
        if req.excluded.contains(root) {
            excluded.push(root.clone());
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
    for root in deployed_roots {
        if desired.all_roots.contains(root) {
            continue;
        }
        if req.excluded.contains(root) {
            excluded.push(root.clone());
            continue;
        }
        affected.push((root.clone(), "delete"));
    }
    affected
}

/// An instance held by affected roots: the first root holding it (new states first: its
/// changes are reported there), and the affected roots holding it in their new and old
/// states.
#[derive(Default)]
struct Cand {
    first: Option<usize>,
    new: Vec<usize>,
    old: Vec<usize>,
}

/// What every stage reads: the inputs, the affected roots and their old (inventory) and
/// new (patch) states.
struct Planner<'a> {
    desired: &'a DesiredState,
    cur: &'a dyn Current,
    req: &'a PlanRequest,
    affected: &'a [(String, &'static str)],
    affected_set: BTreeSet<&'a str>,
    /// The old state of each affected root, by its index in `affected`.
    old: Vec<Cow<'a, RootState>>,
    empty: RootState,
}

impl<'a> Planner<'a> {
    fn new(
        desired: &'a DesiredState,
        cur: &'a dyn Current,
        req: &'a PlanRequest,
        affected: &'a [(String, &'static str)],
    ) -> Result<Planner<'a>> {
        let mut old = Vec::with_capacity(affected.len());
        for (root, _) in affected {
            let state = cur
                .deployed(root)?
                .unwrap_or(Cow::Owned(RootState::default()));
            old.push(state);
        }
        Ok(Planner {
            desired,
            cur,
            req,
            affected,
            affected_set: affected.iter().map(|(r, _)| r.as_str()).collect(),
            old,
            empty: RootState::default(),
        })
    }

    /// The new (patch) state of `root` (empty for a deleted root).
    fn new_of(&self, root: &str) -> &RootState {
        self.desired
            .roots
            .get(root)
            .map(|d| &d.state)
            .unwrap_or(&self.empty)
    }

    fn root_of(&self, i: usize) -> &'a str {
        self.affected[i].0.as_str()
    }

    /// Whether a root outside this plan holds it (so it stays).
    fn held_elsewhere<'r>(&self, mut roots: impl Iterator<Item = &'r Cow<'r, str>>) -> bool {
        roots.any(|r| !self.affected_set.contains(r.as_ref()))
    }

    /// Every instance of the affected roots' new and old states, in tag order (which root
    /// reports a relation deleted with two instances depends on it).
    fn candidates(&self) -> Vec<(&str, Cand)> {
        // Gathered by hash and sorted once: cheaper than a tree for a Core update's
        // thousands of candidates.
        let mut inst: HashMap<&str, Cand> = HashMap::default();
        for (i, (root, _)) in self.affected.iter().enumerate() {
            for t in self.new_of(root).instances() {
                let c = inst.entry(t.as_str()).or_default();
                c.first.get_or_insert(i);
                c.new.push(i);
            }
        }
        for (i, old) in self.old.iter().enumerate() {
            for t in old.instances() {
                let c = inst.entry(t.as_str()).or_default();
                c.first.get_or_insert(i);
                c.old.push(i);
            }
        }
        let mut sorted: Vec<(&str, Cand)> = inst.into_iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted
    }

    /// Instance stage: each candidate created, updated, deleted or left alone, reported on
    /// its first root. Returns the relations deleted with deleted instances.
    fn instances(&self, root_plans: &mut [RootPlan]) -> Result<BTreeSet<RelKey>> {
        let mut deleted_rels: BTreeSet<RelKey> = BTreeSet::new();
        for (tag, c) in &self.candidates() {
            if self.req.keep_instances.contains(*tag) {
                continue;
            }
            let rp = &mut root_plans[c.first.unwrap_or(0)];
            self.instance(tag, c, rp, &mut deleted_rels)?;
        }
        Ok(deleted_rels)
    }

    /// One instance: what the new states and the roots outside the plan want of it, against
    /// its live properties.
    fn instance(
        &self,
        tag: &str,
        c: &Cand,
        rp: &mut RootPlan,
        deleted_rels: &mut BTreeSet<RelKey>,
    ) -> Result<()> {
        let owners = self.cur.instance_owners(tag)?;
        let other_creators = self.held_elsewhere(owners.creators.iter());
        let mut desired_props: Option<Props> = None;
        let mut created_by_new = false;
        for (root, p) in &owners.props {
            if !self.affected_set.contains(root.as_ref()) {
                merge_into(desired_props.get_or_insert_with(Props::new), p);
            }
        }
        for &j in &c.new {
            let n = self.new_of(self.root_of(j));
            if let Some(p) = n.props.get(tag) {
                merge_into(desired_props.get_or_insert_with(Props::new), p);
            }
            created_by_new |= n.created.contains(tag);
        }
        let created_before = c.old.iter().any(|&j| self.old[j].created.contains(tag));
        let live = self.cur.props(tag)?;
        let exists_desired = created_by_new || other_creators || desired_props.is_some();
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
                let dropped = self.old_props(tag, c);
                let created_by_us = created_by_new || created_before;
                let d = diff_props(&want, &live, |k| created_by_us || dropped.contains(k));
                if !d.is_empty() {
                    rp.updated_instances.insert(tag.to_string(), d);
                }
            }
            (false, Some(_)) if created_before => {
                // Dropped by its roots and held by no other: delete it, with its relations.
                rp.deleted_instances.push(tag.to_string());
                for k in self.cur.relations_touching(tag)? {
                    if deleted_rels.insert(k.clone()) {
                        rp.deleted_relations.push(k);
                    }
                }
            }
            (false, Some(live)) => {
                // Only updated by the dropped root: remove the properties it set (in the
                // order its old states list them: the diff files keep key order).
                let mut d = Props::new();
                for &j in &c.old {
                    if let Some(p) = self.old[j].props.get(tag) {
                        for k in p.keys().filter(|k| live.contains_key(*k)) {
                            d.insert(k.clone(), Value::Null);
                        }
                    }
                }
                if !d.is_empty() {
                    rp.updated_instances.insert(tag.to_string(), d);
                }
            }
            (false, None) => {}
        }
        Ok(())
    }

    /// The properties of `tag` the affected roots set before (their old states).
    fn old_props(&self, tag: &str, c: &Cand) -> BTreeSet<&str> {
        let mut keys = BTreeSet::new();
        for &j in &c.old {
            if let Some(p) = self.old[j].props.get(tag) {
                keys.extend(p.keys().map(String::as_str));
            }
        }
        keys
    }

    /// Relation stage: each relation of the affected roots' states created or deleted on
    /// its first root (new states first), then the relations deleted with an instance that
    /// a root outside the plan still holds (created again), then `extra_relations`.
    fn relations(
        &self,
        root_plans: &mut [RootPlan],
        deleted_with_instances: &BTreeSet<RelKey>,
    ) -> Result<()> {
        // By hash: the outcome of each relation does not depend on the others' order
        // (each root's lists are sorted at the end).
        let mut rel_root: HashMap<&RelKey, (usize, bool)> = HashMap::default();
        for (i, (root, _)) in self.affected.iter().enumerate() {
            for k in &self.new_of(root).relations {
                rel_root.entry(k).or_insert((i, true));
            }
        }
        for (i, old) in self.old.iter().enumerate() {
            for k in &old.relations {
                rel_root.entry(k).or_insert((i, false));
            }
        }
        for (k, &(i, in_new)) in &rel_root {
            if self.req.keep_relations.contains(*k) {
                continue;
            }
            let wanted = in_new || self.held_elsewhere(self.cur.relation_owners(k)?.iter());
            // A relation removed with a deleted instance but still held by a patch is
            // created again after the deletion (as a fresh load creates it, even dangling).
            let live = !deleted_with_instances.contains(*k) && self.cur.has_relation(k)?;
            if wanted && !live {
                root_plans[i].created_relations.push((*k).clone());
            } else if !wanted && live {
                root_plans[i].deleted_relations.push((*k).clone());
            }
        }
        self.recreate(root_plans, &rel_root)?;
        self.extra_relations(root_plans, deleted_with_instances)
    }

    /// Relations removed with a deleted instance that an unaffected root still holds are
    /// created again.
    fn recreate(
        &self,
        root_plans: &mut [RootPlan],
        compared: &HashMap<&RelKey, (usize, bool)>,
    ) -> Result<()> {
        let mut recreate: Vec<(usize, RelKey)> = Vec::new();
        for (i, rp) in root_plans.iter().enumerate() {
            for k in &rp.deleted_relations {
                if compared.contains_key(k) || self.req.keep_relations.contains(k) {
                    continue;
                }
                if self.held_elsewhere(self.cur.relation_owners(k)?.iter()) {
                    recreate.push((i, k.clone()));
                }
            }
        }
        for (i, k) in recreate {
            root_plans[i].created_relations.push(k);
        }
        Ok(())
    }

    /// Live relations the request asks to delete, reported on the root that created their
    /// origin.
    fn extra_relations(
        &self,
        root_plans: &mut [RootPlan],
        deleted_with_instances: &BTreeSet<RelKey>,
    ) -> Result<()> {
        for k in &self.req.extra_relations {
            if deleted_with_instances.contains(k) || self.req.keep_relations.contains(k) {
                continue;
            }
            if self.cur.has_relation(k)? {
                // The first such root in tag order.
                let i = self
                    .affected
                    .iter()
                    .enumerate()
                    .filter(|(j, (r, _))| {
                        self.old[*j].created.contains(&k.l) || self.new_of(r).created.contains(&k.l)
                    })
                    .min_by_key(|(_, (r, _))| r.as_str())
                    .map_or(0, |(i, _)| i);
                if let Some(rp) = root_plans.get_mut(i) {
                    rp.deleted_relations.push(k.clone());
                }
            }
        }
        Ok(())
    }

    /// Inventory stage: the new states of compared roots whose record differs; deleted
    /// roots lose theirs. None for an environment that keeps no inventory.
    fn inventory(&self, plan: &mut Plan, deployed_roots: &BTreeSet<String>) {
        if self.req.no_inventory {
            return;
        }
        for (i, (root, action)) in self.affected.iter().enumerate() {
            if *action == "delete" {
                plan.inventory.insert(root.clone(), None);
            } else {
                let n = self.new_of(root);
                if n != self.old[i].as_ref() || !deployed_roots.contains(root) {
                    plan.inventory.insert(root.clone(), Some(n.clone()));
                }
            }
        }
    }
}
