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
use serde_json::{json, Map, Value};
use std::collections::HashSet;

struct Out<'g> {
    g: &'g Graph,
    ops: Vec<Value>,
    instances: HashSet<String>,
    relations: HashSet<(String, String, String)>,
}

fn is_complex(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| o.get("c"))
        .and_then(Value::as_u64)
        == Some(8)
}

impl<'g> Out<'g> {
    fn instance(&mut self, tag: &str, with_model: bool) {
        let Some(props) = self.g.instances.get(tag) else {
            return;
        };
        if !self.instances.insert(tag.to_string()) {
            return;
        }
        let (complex, simple): (Map<String, Value>, Map<String, Value>) = props
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(_, v)| is_complex(v));
        self.ops.push(json!({"o": 1, "t": tag, "p": simple}));
        if !complex.is_empty() {
            self.ops.push(json!({"o": 2, "t": tag, "p": complex}));
        }
        if with_model {
            let models: Vec<String> = self
                .g
                .targets(tag, rel::MODEL)
                .map(str::to_string)
                .collect();
            for m in models {
                self.relation(tag, rel::MODEL, &m);
            }
        }
    }

    fn relation(&mut self, l: &str, m: &str, r: &str) {
        if self
            .relations
            .insert((l.to_string(), m.to_string(), r.to_string()))
        {
            self.ops.push(json!({"o": 4, "m": m, "l": l, "r": r}));
        }
    }

    fn step(&mut self, from: &[String], s: &GraphDefStep) {
        let mut reached: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut frontier: Vec<String> = from.to_vec();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for x in &frontier {
                let found: Vec<String> = match s.d {
                    Direction::ToDestination => {
                        self.g.targets(x, &s.t).map(str::to_string).collect()
                    }
                    Direction::ToOrigin => self.g.sources(x, &s.t).map(str::to_string).collect(),
                };
                for y in found {
                    match s.d {
                        Direction::ToDestination => self.relation(x, &s.t, &y),
                        Direction::ToOrigin => self.relation(&y, &s.t, x),
                    }
                    if s.v {
                        self.instance(&y, true);
                    }
                    if seen.insert(y.clone()) {
                        reached.push(y.clone());
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
    evaluate_with(g, &FollowBits::of(g), q)
}

/// [`evaluate`] with the follow-rule bits of `g` resolved beforehand.
pub fn evaluate_with(g: &Graph, bits: &FollowBits, q: &GraphDefQuery) -> Result<Vec<Value>> {
    let mut out = Out {
        g,
        ops: Vec::new(),
        instances: HashSet::new(),
        relations: HashSet::new(),
    };
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
            let (instances, relations) =
                crate::snapshot::follow_rule_closure_with(g, bits, base, snapshot);
            for t in instances {
                out.instance(&t, false);
            }
            for (l, m, r) in relations {
                out.relation(&l, &m, &r);
            }
        }
    } else if q.v.unwrap_or(true) {
        for base in &q.b {
            out.instance(base, true);
        }
    }
    let bases: Vec<String> =
        q.b.iter()
            .filter(|b| g.instances.contains_key(*b))
            .cloned()
            .collect();
    for s in q.q.iter().flatten() {
        out.step(&bases, s);
    }
    Ok(out.ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::Op;

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
