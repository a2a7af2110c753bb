//! Reading an orchestrator's graph through graphDef (read-only queries only).
//!
//! The toolkit's own dumper logs in through the runtime's websocket; cadkit reads the
//! same data with the queries `update` already uses: the `fullStructureQuery` (every
//! repository, project, folder and item under the root of roots) and one `getRootData`
//! per root (SNAPSHOT follow rule for projects, folders and repositories, DUMP for items
//! and for the runtime and Draw projects, as in the toolkit). The union of their
//! operations is the graph the embedded dumper and the update planner read, so a
//! snapshot through the orchestrator writes the same bytes as an embedded one.

use super::{Orchestrator, OrchestratorError};
use crate::graph::Graph;
use crate::patch::tags::{self, follow, model, rel};
use crate::patch::{Op, Patch};
use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A File instance's tag and content (`None`: the file service holds none).
type FileContent = (String, Option<Vec<u8>>);

/// File contents downloaded at a time by a snapshot.
pub const FILE_DOWNLOADS: usize = 8;

/// Roots per `getRootData` query when reading the whole graph.
pub const ROOTS_PER_QUERY: usize = 200;

fn step(t: &str, d: u8, r: bool, q: Vec<Value>) -> Value {
    json!({ "t": t, "d": d, "v": true, "r": r, "q": q })
}

fn contains_in() -> Value {
    step(rel::CONTAINS, 1, false, vec![])
}

fn item() -> Value {
    step(rel::ITEM, 2, false, vec![contains_in()])
}

fn subfolder() -> Value {
    step(rel::SUB_FOLDER, 2, true, vec![item(), contains_in()])
}

/// The toolkit's `fullStructureQuery` (same bytes on the wire).
pub fn full_structure_query() -> Value {
    let sub_repo = step(
        rel::SUB_REPOSITORY,
        2,
        true,
        vec![subfolder(), item(), contains_in()],
    );
    let home = step(
        rel::HOME_FOLDER,
        2,
        false,
        vec![sub_repo, subfolder(), item(), contains_in()],
    );
    json!({ "i": "fullStructureQuery", "b": [tags::HOME], "v": true, "f": null,
            "q": [home, contains_in()] })
}

/// `getRootData` of one root.
pub fn root_data_query(root: &str, rule: &str) -> Value {
    json!({ "i": "getRootData", "b": [root], "f": rule })
}

/// Parse graphDef operations (the patch operation format).
pub fn parse_ops(ops: Vec<Value>) -> Result<Vec<Op>, OrchestratorError> {
    let doc = json!({ "rootTag": "null", "operations": ops });
    Patch::from_value(doc, Path::new("graphDef answer"))
        .map(|p| p.operations)
        .map_err(|e| OrchestratorError::Invalid(format!("graphDef answer: {e}")))
}

/// A graphDef answer as received: what was asked, and the NDJSON bytes.
type Answer = (String, bytes::Bytes);

/// Parse and validate one answer.
fn parse_answer((what, bytes): Answer) -> Result<Vec<Op>, OrchestratorError> {
    if let Some(ops) = crate::patch::ndjson_ops(&bytes) {
        return Ok(ops);
    }
    let values = super::http::parse_ndjson(&bytes)
        .map_err(|reason| OrchestratorError::Http { what, reason })?;
    parse_ops(values)
}

/// Cut one answer at line ends into at most `n` parts (none empty), in order.
fn cut((what, bytes): Answer, n: usize) -> Vec<Answer> {
    let n = n.max(1);
    let mut cuts = vec![0];
    for i in 1..n {
        let mut at = (bytes.len() * i / n).max(*cuts.last().unwrap_or(&0));
        while at < bytes.len() && at > 0 && bytes[at - 1] != b'\n' {
            at += 1;
        }
        cuts.push(at);
    }
    cuts.push(bytes.len());
    cuts.dedup();
    cuts.windows(2)
        .map(|w| (what.clone(), bytes.slice(w[0]..w[1])))
        .collect()
}

/// Parse one large answer (the structure of a whole environment) in parts on every core
/// and apply its operations to `g` in answer order, each part as soon as it and the parts
/// before it are parsed: building the graph overlaps parsing. The first failing part (in
/// answer order) gives the error.
fn apply_in_parts(answer: Answer, g: &mut Graph) -> Result<(), OrchestratorError> {
    let parts = cut(answer, rayon::current_num_threads().max(1) * 4);
    let (sender, received) = std::sync::mpsc::channel::<(usize, Result<Vec<Op>, _>)>();
    std::thread::scope(|s| {
        s.spawn(move || {
            parts
                .into_par_iter()
                .enumerate()
                .for_each_with(sender, |sender, (i, part)| {
                    let _ = sender.send((i, parse_answer(part)));
                });
        });
        let mut pending = BTreeMap::new();
        let mut next = 0;
        let mut failed = None;
        for (i, parsed) in received {
            pending.insert(i, parsed);
            while let Some(parsed) = pending.remove(&next) {
                next += 1;
                match parsed {
                    Ok(ops) if failed.is_none() => ops.into_iter().for_each(|op| g.apply_owned(op)),
                    Ok(_) => {}
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
        }
        failed.map_or(Ok(()), Err)
    })
}

/// The roots of the structure with their follow rule, as the toolkit's root map has them:
/// every node reached from the root of roots through the structure relations (home
/// folder, sub-repository, subfolder, item). A subfolder that is not a Folder (an
/// enumeration, a folder extension) is a root, but what hangs below it belongs to its own
/// root (an enumeration's values), so the walk stops there. Folders, projects and
/// repositories get SNAPSHOT (except the runtime and Draw projects), everything else DUMP.
pub fn roots_of(structure: &Graph) -> BTreeMap<String, &'static str> {
    let has_model = |n: &str, m: &str| structure.targets(n, rel::MODEL).any(|x| x == m);
    let rule_of = |n: &str| {
        let container = [model::FOLDER, model::PROJECT, model::REPOSITORY]
            .iter()
            .any(|m| has_model(n, m));
        if container && n != tags::RUNTIME_PROJECT && n != tags::DRAW_PROJECT {
            follow::SNAPSHOT
        } else {
            follow::DUMP
        }
    };
    let mut roots = BTreeMap::new();
    let mut frontier = vec![tags::HOME.to_string()];
    while let Some(n) = frontier.pop() {
        for r in [
            rel::HOME_FOLDER,
            rel::SUB_REPOSITORY,
            rel::SUB_FOLDER,
            rel::ITEM,
        ] {
            for to in structure.targets(&n, r) {
                if roots.contains_key(to) {
                    continue;
                }
                roots.insert(to.to_string(), rule_of(to));
                let extension = r == rel::SUB_FOLDER && !has_model(to, model::FOLDER);
                if r != rel::ITEM && !extension {
                    frontier.push(to.to_string());
                }
            }
        }
    }
    roots
}

impl Orchestrator {
    /// One graphDef query (maintenance endpoint while maintenance is on), parsed.
    pub fn graphdef_ops(&self, body: &Value) -> Result<Vec<Op>, OrchestratorError> {
        let token = self.token()?;
        let raw = self.block_on(self.http().graphdef(body, &token, self.in_maintenance()))?;
        parse_ops(raw)
    }

    /// The structure graph (`fullStructureQuery`).
    pub fn structure(&self) -> Result<Graph, OrchestratorError> {
        let t = std::time::Instant::now();
        let token = self.token()?;
        tracing::debug!("token in {} ms", t.elapsed().as_millis());
        let answer = self.block_on(self.http().graphdef_bytes(
            &full_structure_query(),
            &token,
            self.in_maintenance(),
        ))?;
        tracing::debug!(
            "structure answered in {} ms ({} bytes)",
            t.elapsed().as_millis(),
            answer.1.len()
        );
        let mut g = Graph::new();
        apply_in_parts(answer, &mut g)?;
        tracing::debug!(
            "structure parsed and built in {} ms",
            t.elapsed().as_millis()
        );
        Ok(g)
    }

    /// graphDef's answers to `bodies`, `parallel` queries at a time. Each answer is parsed
    /// (and `map`ped) on every core as soon as it arrives, and handed to `take` on this
    /// thread in arrival order, while the next ones download and parse: building from
    /// them overlaps the wait for the orchestrator. A failed request is the error (the
    /// first of them); otherwise the first answer that does not parse.
    fn fetch_each<K: Send, T: Send>(
        &self,
        bodies: Vec<(K, Value)>,
        parallel: usize,
        map: impl Fn(K, Vec<Op>) -> T + Sync,
        mut take: impl FnMut(T),
    ) -> Result<(), OrchestratorError> {
        let token = self.token()?;
        let maintenance = self.in_maintenance();
        let http = self.http();
        let (answers, arrived) = std::sync::mpsc::channel::<(K, Answer)>();
        let (results, parsed) = std::sync::mpsc::channel::<Result<T, OrchestratorError>>();
        let map = &map;
        std::thread::scope(|s| {
            let fetcher = s.spawn(move || -> Result<(), OrchestratorError> {
                self.block_on(
                    stream::iter(bodies)
                        .map(|(k, body)| {
                            let token = token.clone();
                            async move {
                                let a = http.graphdef_bytes(&body, &token, maintenance).await?;
                                Ok::<_, OrchestratorError>((k, a))
                            }
                        })
                        .buffer_unordered(parallel.max(1))
                        .map(|answer| answer.map(|ka| answers.send(ka).unwrap_or(())))
                        .collect::<Vec<_>>()
                        .map(|all| all.into_iter().collect()),
                )
            });
            s.spawn(move || {
                arrived
                    .into_iter()
                    .par_bridge()
                    .for_each_with(results, |results, (k, answer)| {
                        let _ = results.send(parse_answer(answer).map(|ops| map(k, ops)));
                    });
            });
            let mut failed = None;
            for r in parsed {
                match r {
                    Ok(t) if failed.is_none() => take(t),
                    Ok(_) => {}
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            fetcher
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            failed.map_or(Ok(()), Err)
        })
    }

    /// `getRootData` of each of `roots` (one query per root, with its follow rule),
    /// `parallel` at a time, through `fetch_each` (`map` gets the root and its
    /// operations).
    pub fn roots_each<T: Send>(
        &self,
        roots: &BTreeMap<String, &'static str>,
        parallel: usize,
        map: impl Fn(String, Vec<Op>) -> T + Sync,
        take: impl FnMut(T),
    ) -> Result<(), OrchestratorError> {
        let bodies = roots
            .iter()
            .map(|(root, rule)| (root.clone(), root_data_query(root, rule)))
            .collect();
        self.fetch_each(bodies, parallel, map, take)
    }

    /// The whole graph as the dumper reads it (see the module doc): the structure, then
    /// `getRootData` with many roots per query (`b` is a list), one query per follow rule
    /// and batch of [`ROOTS_PER_QUERY`] roots, a few queries at a time. Answers are
    /// applied as they arrive: the live graph gives every root the same values of a
    /// node two roots reach, so the order does not change the graph.
    pub fn read_graph(&self) -> Result<Graph, OrchestratorError> {
        let started = std::time::Instant::now();
        let mut g = self.structure()?;
        let roots = roots_of(&g);
        let mut bodies = Vec::new();
        for rule in [follow::SNAPSHOT, follow::DUMP] {
            let of_rule: Vec<&String> = roots
                .iter()
                .filter(|(_, f)| **f == rule)
                .map(|(r, _)| r)
                .collect();
            for chunk in of_rule.chunks(ROOTS_PER_QUERY) {
                bodies.push(((), json!({ "i": "getRootData", "b": chunk, "f": rule })));
            }
        }
        let queries = bodies.len() + 1;
        self.fetch_each(
            bodies,
            self.cfg.graphdef_rate_limit,
            |(), ops| ops,
            |ops| ops.into_iter().for_each(|op| g.apply_owned(op)),
        )?;
        tracing::info!(
            "read {} roots, {} instances through graphDef ({queries} queries) in {} ms",
            roots.len(),
            g.instances.len(),
            started.elapsed().as_millis()
        );
        Ok(g)
    }
}

impl Orchestrator {
    /// The contents of File instances (those the file service holds): `GET
    /// rest/filesvc/<tag>` per File instance (the toolkit snapshooter's file service),
    /// [`FILE_DOWNLOADS`] at a time.
    pub fn file_contents(
        &self,
        tags: &[String],
    ) -> Result<BTreeMap<String, Vec<u8>>, OrchestratorError> {
        let token = self.token()?;
        let maintenance = self.in_maintenance();
        let http = self.http();
        let started = std::time::Instant::now();
        let answers: Vec<Result<FileContent, OrchestratorError>> = self.block_on(
            stream::iter(tags.iter())
                .map(|t| {
                    let token = &token;
                    async move {
                        let b = http.file_content(t, maintenance, token).await?;
                        Ok((t.clone(), b))
                    }
                })
                .buffer_unordered(FILE_DOWNLOADS)
                .collect(),
        );
        let mut out = BTreeMap::new();
        for a in answers {
            if let (t, Some(b)) = a? {
                out.insert(t, b);
            }
        }
        tracing::info!(
            "{} of {} file contents read from the file service in {} ms",
            out.len(),
            tags.len(),
            started.elapsed().as_millis()
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut anywhere, the parts give the operations of the whole answer, in order.
    #[test]
    fn an_answer_cut_in_parts_gives_every_operation_in_order() {
        let mut ndjson = String::new();
        for i in 0..50 {
            ndjson.push_str(&format!(
                "{{\"o\":1,\"t\":\"{i:020}\",\"p\":{{\"ff023000000000000011\":\"n{i}\"}}}}\n"
            ));
            ndjson.push_str(&format!(
                "{{\"o\":4,\"m\":\"ff021000000000000001\",\"l\":\"{i:020}\",\"r\":\"{:020}\"}}\n",
                i + 1
            ));
        }
        let answer = || ("structure".to_string(), bytes::Bytes::from(ndjson.clone()));
        let whole = parse_answer(answer()).unwrap();
        assert_eq!(whole.len(), 100);
        for n in [1, 3, 7, 500] {
            let parts: Vec<Op> = cut(answer(), n)
                .into_iter()
                .flat_map(|p| parse_answer(p).unwrap())
                .collect();
            assert_eq!(parts, whole, "{n} parts");
        }
        let mut built = Graph::new();
        apply_in_parts(answer(), &mut built).unwrap();
        let mut one_by_one = Graph::new();
        whole.into_iter().for_each(|op| one_by_one.apply_owned(op));
        assert_eq!(built, one_by_one);
        assert!(cut(("structure".into(), bytes::Bytes::new()), 4).len() <= 1);
        let mut empty = Graph::new();
        apply_in_parts(("structure".into(), bytes::Bytes::new()), &mut empty).unwrap();
        assert_eq!(empty, Graph::new());
    }

    /// A broken line fails the whole answer, whatever part it falls in.
    #[test]
    fn a_broken_line_in_a_part_fails_the_structure() {
        let mut ndjson = String::new();
        for i in 0..40 {
            ndjson.push_str(&format!("{{\"o\":1,\"t\":\"{i:020}\",\"p\":{{}}}}\n"));
        }
        ndjson.push_str("{\"o\":1,\"t\":\n");
        let mut g = Graph::new();
        let answer = ("structure".to_string(), bytes::Bytes::from(ndjson));
        assert!(apply_in_parts(answer, &mut g).is_err());
    }
}
