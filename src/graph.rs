//! An in-memory composition graph: instances with properties, relations `from -rel-> to`.
//!
//! This is the shape every environment can hand out (`env::Environment::graph`), the input
//! of the snapshot dumper and of the update diff. Applying patch operations here follows
//! the toolkit's semantics, so a graph built from a `dist/codeAsData` folder equals what an
//! orchestrator holds after loading it.

use crate::patch::{FileKind, Op, Patch};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Property tag → value.
pub type Props = Map<String, Value>;

/// The composition graph of an environment: instances with their properties, and typed relations
/// indexed both ways (from origin and from destination), so the dumper and the update planner walk
/// it in either direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Tag → properties.
    pub instances: BTreeMap<String, Props>,
    /// Origin → {(relation type, destination)}.
    pub out: BTreeMap<String, BTreeSet<(String, String)>>,
    /// Destination → {(relation type, origin)}.
    pub inc: BTreeMap<String, BTreeSet<(String, String)>>,
}

/// The value of `tag` in `map`, created empty when absent (the key is only copied then:
/// most operations touch a tag already there).
fn entry_of<'a, V: Default>(map: &'a mut BTreeMap<String, V>, tag: &str) -> &'a mut V {
    if !map.contains_key(tag) {
        map.insert(tag.to_string(), V::default());
    }
    map.get_mut(tag).expect("inserted above")
}

/// Drop `value` on a thread of its own (see [`Graph::free_in_background`]); dropped here
/// when no thread can be started.
pub fn free_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("cadkit-free".into())
        .spawn(move || drop(value));
}

impl Graph {
    /// An empty graph (an environment holding nothing yet).
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Apply one operation with the toolkit's semantics: CREATE of an existing instance
    /// merges its properties, UPDATE sets them (`null` removes), DELETE removes the
    /// instance with every relation touching it.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::CreateInstance(i) => {
                let props = entry_of(&mut self.instances, &i.tag);
                for (k, v) in &i.props {
                    props.insert(k.clone(), v.clone());
                }
            }
            Op::UpdateInstance(i) => {
                let props = entry_of(&mut self.instances, &i.tag);
                for (k, v) in &i.props {
                    if v.is_null() {
                        props.shift_remove(k);
                    } else {
                        props.insert(k.clone(), v.clone());
                    }
                }
            }
            Op::DeleteInstance(d) => self.remove_instance(&d.tag),
            Op::CreateRelation(r, _) => self.relate(&r.rel, &r.from, &r.to),
            Op::DeleteRelation(r, _) => self.unrelate(&r.rel, &r.from, &r.to),
        }
    }

    /// Add the relation `from -rel-> to` (a no-op when present): relations are a set.
    pub fn relate(&mut self, rel: &str, from: &str, to: &str) {
        entry_of(&mut self.out, from).insert((rel.to_string(), to.to_string()));
        entry_of(&mut self.inc, to).insert((rel.to_string(), from.to_string()));
    }

    /// [`Graph::apply`] of an operation the caller gives up: property values are moved,
    /// not copied (reading a whole environment applies hundreds of thousands).
    pub fn apply_owned(&mut self, op: Op) {
        match op {
            Op::CreateInstance(i) => match self.instances.get_mut(&i.tag) {
                Some(props) => props.extend(i.props),
                None => {
                    self.instances.insert(i.tag, i.props);
                }
            },
            Op::CreateRelation(r, _) => {
                // One lookup per side with the owned tags as keys (no copy of a key that
                // is already there).
                self.out
                    .entry(r.from.clone())
                    .or_default()
                    .insert((r.rel.clone(), r.to.clone()));
                self.inc.entry(r.to).or_default().insert((r.rel, r.from));
            }
            other => self.apply(&other),
        }
    }

    /// Free the graph on a thread of its own. A whole environment's graph (100k
    /// instances) takes a few hundred milliseconds to free: a command about to report
    /// and exit need not wait for it.
    pub fn free_in_background(self) {
        free_in_background(self);
    }

    /// Remove the relation `from -rel-> to`, when present.
    pub fn unrelate(&mut self, rel: &str, from: &str, to: &str) {
        if let Some(s) = self.out.get_mut(from) {
            s.remove(&(rel.to_string(), to.to_string()));
        }
        if let Some(s) = self.inc.get_mut(to) {
            s.remove(&(rel.to_string(), from.to_string()));
        }
    }

    /// Remove an instance with every relation touching it, as a DELETE operation does.
    pub fn remove_instance(&mut self, tag: &str) {
        self.instances.remove(tag);
        for (rel, to) in self.out.remove(tag).unwrap_or_default() {
            if let Some(s) = self.inc.get_mut(&to) {
                s.remove(&(rel, tag.to_string()));
            }
        }
        for (rel, from) in self.inc.remove(tag).unwrap_or_default() {
            if let Some(s) = self.out.get_mut(&from) {
                s.remove(&(rel, tag.to_string()));
            }
        }
    }

    /// Apply a set of patches in application order: all delRel files, then delInst,
    /// newInst, updateInst, newRel; within a kind, in the given order. Structure
    /// operations (`optionalOperations`) are applied with the others: they carry the
    /// hierarchy relations that exist nowhere else.
    pub fn apply_patches<'a>(&mut self, patches: impl IntoIterator<Item = (FileKind, &'a Patch)>) {
        let mut by_kind: BTreeMap<FileKind, Vec<&Patch>> = BTreeMap::new();
        for (kind, p) in patches {
            by_kind.entry(kind).or_default().push(p);
        }
        for (_, list) in by_kind {
            for p in list {
                for op in p.all_ops() {
                    self.apply(op);
                }
            }
        }
    }

    /// Outgoing relations of `tag` of type `rel`.
    pub fn targets<'a>(&'a self, tag: &str, rel: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.out
            .get(tag)
            .into_iter()
            .flatten()
            .filter(move |(r, _)| r == rel)
            .map(|(_, t)| t.as_str())
    }

    /// Incoming relations of `tag` of type `rel`.
    pub fn sources<'a>(&'a self, tag: &str, rel: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.inc
            .get(tag)
            .into_iter()
            .flatten()
            .filter(move |(r, _)| r == rel)
            .map(|(_, f)| f.as_str())
    }

    /// Whether the relation `from -rel-> to` exists.
    pub fn has_relation(&self, rel: &str, from: &str, to: &str) -> bool {
        // A few relations leave most instances: looked through without building a key.
        // Large sets (a folder's items) are searched by key.
        self.out.get(from).is_some_and(|s| {
            if s.len() <= 16 {
                s.iter().any(|(r, t)| r == rel && t == to)
            } else {
                s.contains(&(rel.to_string(), to.to_string()))
            }
        })
    }

    /// Every relation with `tag` at either end, as sorted `(rel, from, to)` triples.
    pub fn relations_touching(&self, tag: &str) -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = Vec::new();
        for (m, r) in self.out.get(tag).into_iter().flatten() {
            v.push((m.clone(), tag.to_string(), r.clone()));
        }
        for (m, l) in self.inc.get(tag).into_iter().flatten() {
            v.push((m.clone(), l.clone(), tag.to_string()));
        }
        v.sort();
        v.dedup();
        v
    }

    /// How many relations the graph holds (for reports and logs).
    pub fn relation_count(&self) -> usize {
        self.out.values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::InstanceOp;

    #[test]
    fn delete_removes_the_instance_and_its_relations() {
        let mut g = Graph::new();
        let create = |t: &str| {
            Op::CreateInstance(InstanceOp {
                tag: t.into(),
                props: Map::new(),
                extra: Map::new(),
            })
        };
        g.apply(&create("a"));
        g.apply(&create("b"));
        g.apply(&Op::create_relation("m", "a", "b"));
        g.remove_instance("b");
        assert_eq!(g.relation_count(), 0);
        assert!(g.instances.contains_key("a"));
    }
}
