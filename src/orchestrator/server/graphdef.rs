//! Evaluating graphDef queries on the graph (see [`crate::orchestrator::protocol::graphdef`]).
//!
//! - With a follow rule `f` (DUMP or SNAPSHOT), each base contributes what the dumper's
//!   closure reaches: one CREATE per instance (complex-property values in a separate
//!   UPDATE, like the dumper's files), one CREATE_RELATION per kept relation. That is what
//!   `update` compares a root's merged patches with.
//! - Without, each base (when `v`) and every node reached by the steps gives a CREATE and
//!   its `model` relations; every walked relation gives a CREATE_RELATION. Recursive steps
//!   repeat from the nodes they reach; sub-steps run from every node their step reached.
//!
//! Operations are de-duplicated and returned in the order found.

use crate::graph::Graph;
use crate::orchestrator::protocol::{Direction, GraphDefQuery, GraphDefStep};
use crate::patch::tags::{follow, rel};
use crate::snapshot::FollowBits;
use anyhow::{bail, Result};
use serde_json::Value;
// Tags and relation keys are hashed hundreds of thousands of times per structure query:
// the fast non-keyed hash (the inputs come from the environment itself, not from a peer
// that could choose colliding keys).
use rustc_hash::FxHashSet as HashSet;

/// The answer being written: one compact JSON operation per line, straight from the
/// graph (a structure query over 100k instances built a `Value` per operation and then
/// serialised it: most of its time went to allocating). Tags and relation types are
/// borrowed from the graph and the query for de-duplication.
struct Out<'a> {
    g: &'a Graph,
    ndjson: Vec<u8>,
    instances: HashSet<&'a str>,
    relations: HashSet<(&'a str, &'a str, &'a str)>,
}

fn is_complex(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| o.get("c"))
        .and_then(Value::as_u64)
        == Some(8)
}

/// `s` as a JSON string (the escaping of `serde_json`, so the bytes are those of a
/// serialised `Value`).
fn push_str(buf: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *buf, s).expect("writing to memory");
}

impl<'a> Out<'a> {
    fn new(g: &'a Graph) -> Out<'a> {
        Out {
            g,
            ndjson: Vec::new(),
            instances: HashSet::default(),
            relations: HashSet::default(),
        }
    }

    /// `{"o":<code>,"t":<tag>,"p":{…}}` with the instance's simple properties (or, with
    /// `complex`, its complex-property values), in their order.
    fn instance_op(&mut self, code: u8, tag: &str, props: &crate::graph::Props, complex: bool) {
        let b = &mut self.ndjson;
        b.extend_from_slice(format!("{{\"o\":{code},\"t\":").as_bytes());
        push_str(b, tag);
        b.extend_from_slice(b",\"p\":{");
        let mut first = true;
        for (k, v) in props.iter().filter(|(_, v)| is_complex(v) == complex) {
            if !first {
                b.push(b',');
            }
            first = false;
            push_str(b, k);
            b.push(b':');
            serde_json::to_writer(&mut *b, v).expect("writing to memory");
        }
        b.extend_from_slice(b"}}\n");
    }

    fn instance(&mut self, tag: &str, with_model: bool) {
        let Some((tag, props)) = self.g.instances.get_key_value(tag) else {
            return;
        };
        if !self.instances.insert(tag.as_str()) {
            return;
        }
        self.instance_op(1, tag, props, false);
        if props.values().any(is_complex) {
            self.instance_op(2, tag, props, true);
        }
        if with_model {
            let g = self.g;
            for m in g.targets(tag, rel::MODEL) {
                self.relation(tag, rel::MODEL, m);
            }
        }
    }

    fn relation(&mut self, l: &'a str, m: &'a str, r: &'a str) {
        if self.relations.insert((l, m, r)) {
            let b = &mut self.ndjson;
            b.extend_from_slice(b"{\"o\":4,\"m\":");
            push_str(b, m);
            b.extend_from_slice(b",\"l\":");
            push_str(b, l);
            b.extend_from_slice(b",\"r\":");
            push_str(b, r);
            b.extend_from_slice(b"}\n");
        }
    }

    fn step(&mut self, from: &[&'a str], s: &'a GraphDefStep) {
        let g = self.g;
        let mut reached: Vec<&'a str> = Vec::new();
        let mut seen: HashSet<&'a str> = HashSet::default();
        let mut frontier: Vec<&'a str> = from.to_vec();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for &x in &frontier {
                let found: Vec<&'a str> = match s.d {
                    Direction::ToDestination => g.targets(x, &s.t).collect(),
                    Direction::ToOrigin => g.sources(x, &s.t).collect(),
                };
                for y in found {
                    match s.d {
                        Direction::ToDestination => self.relation(x, &s.t, y),
                        Direction::ToOrigin => self.relation(y, &s.t, x),
                    }
                    if s.v {
                        self.instance(y, true);
                    }
                    if seen.insert(y) {
                        reached.push(y);
                        next.push(y);
                    }
                }
            }
            if !s.r {
                break;
            }
            frontier = next;
        }
        for sub in &s.q {
            self.step(&reached, sub);
        }
    }
}

/// The operations answering `q` on `g`.
pub fn evaluate(g: &Graph, q: &GraphDefQuery) -> Result<Vec<Value>> {
    let ndjson = evaluate_ndjson(g, &FollowBits::of(g), q)?;
    ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Ok(serde_json::from_slice(l)?))
        .collect()
}

/// The answer to `q` on `g` as the HTTP face sends it: one operation per line, with the
/// follow-rule bits of `g` resolved beforehand.
pub fn evaluate_ndjson(g: &Graph, bits: &FollowBits, q: &GraphDefQuery) -> Result<Vec<u8>> {
    // Closures are computed first: the answer borrows their tags.
    let mut closures = Vec::new();
    if let Some(rule) = &q.f {
        let snapshot = match rule.as_str() {
            follow::DUMP => false,
            follow::SNAPSHOT => true,
            other => bail!(
                "follow rule {other} is not supported by the reference orchestrator (DUMP {} and SNAPSHOT {} are)",
                follow::DUMP,
                follow::SNAPSHOT
            ),
        };
        for base in &q.b {
            closures.push(crate::snapshot::follow_rule_closure_with(
                g, bits, base, snapshot,
            ));
        }
    }
    let mut out = Out::new(g);
    if q.f.is_some() {
        for (instances, relations) in &closures {
            for t in instances {
                out.instance(t, false);
            }
            for (l, m, r) in relations {
                out.relation(l, m, r);
            }
        }
    } else if q.v.unwrap_or(true) {
        for base in &q.b {
            out.instance(base, true);
        }
    }
    let bases: Vec<&str> =
        q.b.iter()
            .filter(|b| g.instances.contains_key(*b))
            .map(String::as_str)
            .collect();
    for s in q.q.iter().flatten() {
        out.step(&bases, s);
    }
    Ok(out.ndjson)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::Op;
    use serde_json::json;

    fn graph() -> Graph {
        let mut g = Graph::new();
        let home = "10000000000000000000";
        for (t, name) in [
            (home, "Home"),
            ("a0000000000000000000", "repo"),
            ("b0000000000000000000", "sub"),
            ("c0000000000000000000", "deep"),
        ] {
            g.instances
                .entry(t.into())
                .or_default()
                .insert("ff023000000000000011".into(), json!(name));
        }
        g.apply(&Op::create_relation(
            rel::HOME_FOLDER,
            home,
            "a0000000000000000000",
        ));
        g.apply(&Op::create_relation(
            rel::SUB_REPOSITORY,
            "a0000000000000000000",
            "b0000000000000000000",
        ));
        g.apply(&Op::create_relation(
            rel::SUB_REPOSITORY,
            "b0000000000000000000",
            "c0000000000000000000",
        ));
        g.apply(&Op::create_relation(
            rel::CONTAINS,
            "b0000000000000000000",
            "c0000000000000000000",
        ));
        g.apply(&Op::create_relation(
            rel::MODEL,
            "c0000000000000000000",
            "ff021000000000000020",
        ));
        g
    }

    #[test]
    fn structure_query_walks_recursively_and_collects_incoming_contains() {
        let ops = evaluate(&graph(), &GraphDefQuery::structure()).unwrap();
        let rels: Vec<(String, String, String)> = ops
            .iter()
            .filter(|o| o["o"] == 4)
            .map(|o| {
                (
                    o["l"].as_str().unwrap().into(),
                    o["m"].as_str().unwrap().into(),
                    o["r"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(rels.contains(&(
            "a0000000000000000000".into(),
            rel::SUB_REPOSITORY.into(),
            "b0000000000000000000".into()
        )));
        assert!(
            rels.contains(&(
                "b0000000000000000000".into(),
                rel::SUB_REPOSITORY.into(),
                "c0000000000000000000".into()
            )),
            "recursive"
        );
        assert!(
            rels.contains(&(
                "b0000000000000000000".into(),
                rel::CONTAINS.into(),
                "c0000000000000000000".into()
            )),
            "incoming contains of a reached node"
        );
        assert!(
            rels.contains(&(
                "c0000000000000000000".into(),
                rel::MODEL.into(),
                "ff021000000000000020".into()
            )),
            "model of reached nodes"
        );
        let creates = ops.iter().filter(|o| o["o"] == 1).count();
        assert_eq!(creates, 4);
        assert!(evaluate(
            &graph(),
            &GraphDefQuery::root_data("a0000000000000000000", "ff023000000000000137")
        )
        .is_err());
    }
}
