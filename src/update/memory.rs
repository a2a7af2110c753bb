//! An in-memory environment: a [`Graph`] plus the inventory. Used by the property tests
//! and as the reference semantics for the SQLite environment.

use super::{Current, DesiredState, Owners, Plan, RelKey, RootState, STRUCTURE_RELATIONS};
use crate::graph::{Graph, Props};
use anyhow::Result;
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
/// them). Items are keyed by a hash of their tag (or relation), not by a copy of it: a
/// Core update indexes every instance and relation of 480 roots, and copying their tags
/// took a quarter of its plan.
/// A hash only points at candidate roots; each is checked against the root's record.
#[derive(Debug, Clone, Default)]
struct OwnerIndex {
    /// The inventory's roots, in its order (what the entries' indices designate).
    roots: Vec<String>,
    /// `(hash of the tag, root index)`, sorted.
    creators: Vec<(u64, u32)>,
    props: Vec<(u64, u32)>,
    /// `(hash of the relation, root index)`, sorted.
    relations: Vec<(u64, u32)>,
}

fn hash_of<T: std::hash::Hash + ?Sized>(item: &T) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(item)
}

/// The root indices an index lists under `h`.
fn under(entries: &[(u64, u32)], h: u64) -> impl Iterator<Item = usize> + '_ {
    let start = entries.partition_point(|(x, _)| *x < h);
    entries[start..]
        .iter()
        .take_while(move |(x, _)| *x == h)
        .map(|(_, i)| *i as usize)
}

impl OwnerIndex {
    fn of(inventory: &BTreeMap<String, RootState>) -> OwnerIndex {
        // Sized first: growing vectors of this size meant copying them and faulting in
        // fresh pages, most of the index's time.
        let mut ix = OwnerIndex {
            roots: Vec::with_capacity(inventory.len()),
            creators: Vec::with_capacity(inventory.values().map(|s| s.created.len()).sum()),
            props: Vec::with_capacity(inventory.values().map(|s| s.props.len()).sum()),
            relations: Vec::with_capacity(inventory.values().map(|s| s.relations.len()).sum()),
        };
        for (i, (root, s)) in inventory.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 4 billion roots");
            ix.roots.push(root.clone());
            ix.creators
                .extend(s.created.iter().map(|t| (hash_of(t.as_str()), i)));
            ix.props
                .extend(s.props.keys().map(|t| (hash_of(t.as_str()), i)));
            ix.relations
                .extend(s.relations.iter().map(|k| (hash_of(k), i)));
        }
        // Whole pairs: under one hash, roots stay in root order.
        ix.creators.sort_unstable();
        ix.props.sort_unstable();
        ix.relations.sort_unstable();
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

    /// The root the owner index numbers `i`, with its inventory record.
    fn record(&self, i: usize) -> (&str, &RootState) {
        let (root, s) = self
            .inventory
            .get_key_value(&self.owners().roots[i])
            .expect("the owner index is reset whenever the inventory changes");
        (root.as_str(), s)
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
    fn instance_owners(&self, tag: &str) -> Result<Owners<'_>> {
        let ix = self.owners();
        let h = hash_of(tag);
        let mut o = Owners::default();
        for i in under(&ix.creators, h) {
            let (root, s) = self.record(i);
            if s.created.contains(tag) {
                o.creators.insert(Cow::Borrowed(root));
            }
        }
        for i in under(&ix.props, h) {
            let (root, s) = self.record(i);
            if let Some(p) = s.props.get(tag) {
                o.props.insert(Cow::Borrowed(root), Cow::Borrowed(p));
            }
        }
        Ok(o)
    }
    fn relation_owners(&self, k: &RelKey) -> Result<BTreeSet<Cow<'_, str>>> {
        let ix = self.owners();
        Ok(under(&ix.relations, hash_of(k))
            .map(|i| self.record(i))
            .filter(|(_, s)| s.relations.contains(k))
            .map(|(root, _)| Cow::Borrowed(root))
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
