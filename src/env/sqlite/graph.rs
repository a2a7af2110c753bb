//! The graph tables (`instances`, `relations`, `blobs`): reading the whole graph and
//! applying operations with the toolkit's semantics. Every write path of the embedded
//! environment (load, install, update, snapshot synthesis) goes through [`apply_ops`], so
//! they all agree with [`crate::graph::Graph::apply`].

use crate::graph::{Graph, Props};
use crate::patch::Op;
use anyhow::{Context, Result};
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn put_blob(conn: &Connection, tag: &str, data: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO blobs(tag, data) VALUES (?1, ?2) ON CONFLICT(tag) DO UPDATE SET data = excluded.data",
    )?
    .execute(params![tag, data])?;
    Ok(())
}

pub(super) fn counts(conn: &Connection) -> Result<(u64, u64)> {
    let i: i64 = conn.query_row("SELECT count(*) FROM instances", [], |r| r.get(0))?;
    let r: i64 = conn.query_row("SELECT count(*) FROM relations", [], |r| r.get(0))?;
    Ok((i as u64, r as u64))
}

pub(super) fn clear_graph(tx: &Transaction) -> Result<()> {
    tx.execute_batch("DELETE FROM relations; DELETE FROM instances; DELETE FROM blobs;")?;
    Ok(())
}

/// The whole graph held by `conn`.
pub fn read_graph(conn: &Connection) -> Result<Graph> {
    // One read transaction, so instances and relations come from the same state even if
    // another process writes meanwhile (unless the caller already holds a transaction).
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let result = read_graph_in(conn);
    if own {
        let _ = conn.execute_batch("COMMIT");
    }
    result
}

fn read_graph_in(conn: &Connection) -> Result<Graph> {
    let mut stmt = conn.prepare("SELECT tag, props FROM instances")?;
    let raw: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Properties are parsed on other threads while this one reads the relations.
    std::thread::scope(|scope| {
        let parsing = scope.spawn(move || {
            raw.into_par_iter()
                .map(|(tag, props)| {
                    let p: Props = serde_json::from_str(&props).with_context(|| {
                        format!("instance {tag}: corrupt properties in the environment")
                    })?;
                    Ok((tag, p))
                })
                .collect::<Result<BTreeMap<String, Props>>>()
        });
        let mut stmt =
            conn.prepare("SELECT src, rel, dst FROM relations ORDER BY src, rel, dst")?;
        let rels: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        // Both directions at once, each built from sorted runs (bulk B-tree construction,
        // no per-row map lookups).
        let (out, inc) = rayon::join(
            || {
                group_sorted(
                    rels.iter()
                        .map(|(s, r, d)| (s.as_str(), r.as_str(), d.as_str())),
                )
            },
            || {
                let mut by_dst: Vec<(&str, &str, &str)> = rels
                    .iter()
                    .map(|(s, r, d)| (d.as_str(), r.as_str(), s.as_str()))
                    .collect();
                by_dst.sort_unstable();
                group_sorted(by_dst.into_iter())
            },
        );
        let instances = parsing
            .join()
            .map_err(|_| anyhow::anyhow!("reading the properties panicked"))??;
        Ok(Graph {
            instances,
            out,
            inc,
        })
    })
}

type Adjacency = BTreeMap<String, BTreeSet<(String, String)>>;

/// `key → {(a, b)}` from `(key, a, b)` triples sorted by key.
fn group_sorted<'a>(rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> Adjacency {
    let mut entries: Vec<(String, BTreeSet<(String, String)>)> = Vec::new();
    let mut key: Option<&str> = None;
    let mut run: Vec<(String, String)> = Vec::new();
    for (k, a, b) in rows {
        if key != Some(k) {
            if let Some(prev) = key {
                entries.push((
                    prev.to_string(),
                    std::mem::take(&mut run).into_iter().collect(),
                ));
            }
            key = Some(k);
        }
        run.push((a.to_string(), b.to_string()));
    }
    if let Some(prev) = key {
        entries.push((prev.to_string(), run.into_iter().collect()));
    }
    entries.into_iter().collect()
}

/// Apply operations inside `tx` with the toolkit's semantics (as [`Graph::apply`]):
/// CREATE of an existing instance merges its properties, UPDATE sets them (`null`
/// removes; an UPDATE of an unknown instance creates it), DELETE removes the instance and
/// every relation touching it, relation CREATE/DELETE are idempotent.
pub fn apply_ops<'a>(tx: &Transaction, ops: impl IntoIterator<Item = &'a Op>) -> Result<()> {
    let conn: &Connection = tx;
    let mut insert_new = conn.prepare_cached(
        "INSERT INTO instances(tag, props) VALUES (?1, ?2) ON CONFLICT(tag) DO NOTHING",
    )?;
    let mut get = conn.prepare_cached("SELECT props FROM instances WHERE tag = ?1")?;
    let mut set = conn.prepare_cached(
        "INSERT INTO instances(tag, props) VALUES (?1, ?2) ON CONFLICT(tag) DO UPDATE SET props = excluded.props",
    )?;
    let mut del_inst = conn.prepare_cached("DELETE FROM instances WHERE tag = ?1")?;
    let mut del_out = conn.prepare_cached("DELETE FROM relations WHERE src = ?1")?;
    let mut del_in = conn.prepare_cached("DELETE FROM relations WHERE dst = ?1")?;
    let mut add_rel =
        conn.prepare_cached("INSERT OR IGNORE INTO relations(src, rel, dst) VALUES (?1, ?2, ?3)")?;
    let mut rm_rel =
        conn.prepare_cached("DELETE FROM relations WHERE src = ?1 AND rel = ?2 AND dst = ?3")?;
    for op in ops {
        match op {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => {
                let is_create = matches!(op, Op::CreateInstance(_));
                if is_create {
                    let json = serde_json::to_string(&i.props)?;
                    if insert_new.execute(params![i.tag, json])? == 1 {
                        continue;
                    }
                }
                let current: Option<String> = get.query_row([&i.tag], |r| r.get(0)).optional()?;
                let mut props: Props = match current {
                    Some(s) => serde_json::from_str(&s).with_context(|| {
                        format!("instance {}: corrupt properties in the environment", i.tag)
                    })?,
                    None => Props::new(),
                };
                for (k, v) in &i.props {
                    if v.is_null() && !is_create {
                        props.shift_remove(k);
                    } else {
                        props.insert(k.clone(), v.clone());
                    }
                }
                set.execute(params![i.tag, serde_json::to_string(&props)?])?;
            }
            Op::DeleteInstance(d) => {
                del_inst.execute([&d.tag])?;
                del_out.execute([&d.tag])?;
                del_in.execute([&d.tag])?;
            }
            Op::CreateRelation(r, _) => {
                add_rel.execute(params![r.from, r.rel, r.to])?;
            }
            Op::DeleteRelation(r, _) => {
                rm_rel.execute(params![r.from, r.rel, r.to])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Environment, SqliteEnv};
    use crate::patch::InstanceOp;
    use serde_json::json;

    fn inst(create: bool, tag: &str, props: serde_json::Value) -> Op {
        let i = InstanceOp {
            tag: tag.into(),
            props: props.as_object().unwrap().clone(),
            extra: Default::default(),
        };
        if create {
            Op::CreateInstance(i)
        } else {
            Op::UpdateInstance(i)
        }
    }

    #[test]
    fn sqlite_apply_matches_the_in_memory_graph() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = SqliteEnv::open(&dir.path().join("sub/env.sqlite")).unwrap();
        let a = "a0000000000000000000";
        let b = "b0000000000000000000";
        let m = "c0000000000000000000";
        let ops = vec![
            inst(true, a, json!({"x": 1, "y": 2})),
            inst(true, a, json!({"z": 3})),
            inst(false, a, json!({"x": null, "y": 5})),
            inst(true, b, json!({})),
            Op::create_relation(m, a, b),
            Op::create_relation(m, b, a),
            Op::create_relation(m, a, b),
            inst(false, m, json!({"q": true})),
            Op::DeleteInstance(crate::patch::DeleteOp {
                tag: b.into(),
                follow: None,
                extra: Default::default(),
            }),
            Op::create_relation(m, a, a),
        ];
        let tx = env.conn_mut().transaction().unwrap();
        apply_ops(&tx, &ops).unwrap();
        tx.commit().unwrap();
        let mut g = Graph::new();
        for op in &ops {
            g.apply(op);
        }
        assert_eq!(env.graph().unwrap(), g);
        assert_eq!(env.counts().unwrap(), (2, 1));
        assert_eq!(
            g.instances[a],
            json!({"y": 5, "z": 3}).as_object().unwrap().clone()
        );
        env.meta_set("k", "v").unwrap();
        drop(env);
        let env = SqliteEnv::open(&dir.path().join("sub/env.sqlite")).unwrap();
        assert_eq!(env.meta_get("k").unwrap().as_deref(), Some("v"));
        assert_eq!(env.graph().unwrap(), g);
    }
}
