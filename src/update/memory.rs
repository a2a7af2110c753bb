//! An in-memory environment: a [`Graph`] plus the inventory. Used by the property tests
//! and as the reference semantics for the SQLite environment.

use super::{Current, DesiredState, Owners, Plan, RelKey, RootState, STRUCTURE_RELATIONS};
use crate::graph::{Graph, Props};
use anyhow::Result;
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// An environment held in memory: what the planner's [`Current`] reads and what a plan
/// changes, without SQL, so plans can be checked against the graph semantics directly.
#[derive(Debug, Clone, Default)]
pub struct MemEnv {
    /// The live graph.
    pub graph: Graph,
    /// The inventory: what each root deployed last, by root tag.
    pub inventory: BTreeMap<String, RootState>,
    /// Who owns what, built from `inventory` at the first ownership query: the planner asks
    /// for the owners of every instance and relation it touches, and a scan of every root's
    /// record per question made planning quadratic (a third of a Core update's plan).
    /// Reset by [`MemEnv::apply`]; code changing `inventory` by hand calls [`MemEnv::new`].
    owners: OnceLock<OwnerIndex>,
}

/// The inventory turned around: item → roots holding it (in root order, as a scan finds
/// them).
#[derive(Debug, Clone, Default)]
struct OwnerIndex {
    creators: HashMap<String, Vec<String>>,
    props: HashMap<String, Vec<String>>,
    relations: HashMap<RelKey, Vec<String>>,
}

impl OwnerIndex {
    fn of(inventory: &BTreeMap<String, RootState>) -> OwnerIndex {
        let mut ix = OwnerIndex::default();
        for (root, s) in inventory {
            for t in &s.created {
                ix.creators.entry(t.clone()).or_default().push(root.clone());
            }
            for t in s.props.keys() {
                ix.props.entry(t.clone()).or_default().push(root.clone());
            }
            for k in &s.relations {
                ix.relations
                    .entry(k.clone())
                    .or_default()
                    .push(root.clone());
            }
        }
        ix
    }
}

impl MemEnv {
    /// A graph and the inventory of what each root deployed.
    pub fn new(graph: Graph, inventory: BTreeMap<String, RootState>) -> MemEnv {
        MemEnv {
            graph,
            inventory,
            owners: OnceLock::new(),
        }
    }

    fn owners(&self) -> &OwnerIndex {
        self.owners.get_or_init(|| OwnerIndex::of(&self.inventory))
    }

    /// A fresh install of `desired`: the graph it describes and its inventory.
    pub fn install(desired: &DesiredState) -> MemEnv {
        MemEnv::new(
            desired_graph(desired),
            desired
                .roots
                .iter()
                .map(|(r, d)| (r.clone(), d.state.clone()))
                .collect(),
        )
    }

    /// Apply a plan: graph operations, then inventory records.
    pub fn apply(&mut self, plan: &Plan) {
        self.owners = OnceLock::new();
        plan.apply_to(&mut self.graph);
        for (root, state) in &plan.inventory {
            match state {
                Some(s) => {
                    self.inventory.insert(root.clone(), s.clone());
                }
                None => {
                    self.inventory.remove(root);
                }
            }
        }
    }
}

/// The graph a fresh load of `desired` gives: roots in import order, each creating its
/// instances, setting its properties and creating its relations.
pub fn desired_graph(desired: &DesiredState) -> Graph {
    let mut g = Graph::new();
    let roots: Vec<&String> = desired
        .order
        .iter()
        .filter(|r| desired.roots.contains_key(*r))
        .collect();
    for r in &roots {
        let s = &desired.roots[*r].state;
        for t in s.instances() {
            g.instances.entry(t.clone()).or_default();
        }
    }
    for r in &roots {
        let s = &desired.roots[*r].state;
        for (t, p) in &s.props {
            let e = g.instances.entry(t.clone()).or_default();
            for (k, v) in p {
                e.insert(k.clone(), v.clone());
            }
        }
    }
    for r in &roots {
        for k in &desired.roots[*r].state.relations {
            g.relate(&k.m, &k.l, &k.r);
        }
    }
    g
}

impl Current for MemEnv {
    fn props(&self, tag: &str) -> Result<Option<Cow<'_, Props>>> {
        Ok(self.graph.instances.get(tag).map(Cow::Borrowed))
    }
    fn has_relation(&self, k: &RelKey) -> Result<bool> {
        Ok(self.graph.has_relation(&k.m, &k.l, &k.r))
    }
    fn relations_touching(&self, tag: &str) -> Result<Vec<RelKey>> {
        Ok(self
            .graph
            .relations_touching(tag)
            .iter()
            .map(|(m, l, r)| RelKey::new(m, l, r))
            .collect())
    }
    fn deployed_roots(&self) -> Result<BTreeSet<String>> {
        Ok(self.inventory.keys().cloned().collect())
    }
    fn deployed(&self, root: &str) -> Result<Option<Cow<'_, RootState>>> {
        Ok(self.inventory.get(root).map(Cow::Borrowed))
    }
    fn instance_owners(&self, tag: &str) -> Result<Owners> {
        let ix = self.owners();
        let mut o = Owners::default();
        for root in ix.creators.get(tag).into_iter().flatten() {
            o.creators.insert(root.clone());
        }
        for root in ix.props.get(tag).into_iter().flatten() {
            if let Some(p) = self.inventory[root].props.get(tag) {
                o.props.insert(root.clone(), p.clone());
            }
        }
        Ok(o)
    }
    fn relation_owners(&self, k: &RelKey) -> Result<BTreeSet<String>> {
        Ok(self
            .owners()
            .relations
            .get(k)
            .into_iter()
            .flatten()
            .cloned()
            .collect())
    }
    fn structure_children(&self, tag: &str) -> Result<Vec<String>> {
        Ok(self
            .graph
            .out
            .get(tag)
            .into_iter()
            .flatten()
            .filter(|(m, _)| STRUCTURE_RELATIONS.contains(&m.as_str()))
            .map(|(_, r)| r.clone())
            .collect())
    }
}
