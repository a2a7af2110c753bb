//! Planning a dump: which roots, what each holds, where each file goes, its exact bytes.
//! The rules are those of `docs/dumper-rules.md` (proven on `@olympeio/core`).

use super::format::{relation_order, tag_order, RootContent};
use super::names::sanitize;
use crate::graph::{Graph, Props};
use crate::patch::tags::{self, follow, model, prop, rel};
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

mod roots;
#[cfg(test)]
pub(crate) use roots::contents_for_tests;
pub use roots::plan;

/// File instances with this flag `true` have their content outside the graph; the dumper
/// writes it beside the root as `<base>/<fileTag>`.
const BINARY_FLAG: &str = "ff023000000000000054";

/// The three kinds of dumped roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootKind {
    /// A project: dumped with its own folder `.<name>` holding its content.
    Project,
    /// A folder of a project: dumped like a project, inside its parent's folder.
    Folder,
    /// Anything else a folder holds (a function, a data type…): one set of patch files.
    Item,
}

/// One file to have on disk.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative to the output folder, `/`-separated: `<rootTag>/Home/…/<Item>.newInst.json`.
    pub path: String,
    /// The exact bytes to have in the file.
    pub bytes: Vec<u8>,
}

/// A base path that was taken and got a suffix.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Collision {
    /// The root whose path collided.
    pub tag: String,
    /// The base path it asked for.
    pub wanted: String,
    /// The base path it got, with the suffix that makes it unique.
    pub used: String,
}

/// Everything a dump would write.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every patch file to write, in dump order.
    pub files: Vec<PlannedFile>,
    /// Binary contents to write beside their root: (path, File instance tag).
    pub binaries: Vec<(String, String)>,
    /// Projects found under the root tags.
    pub projects: usize,
    /// Roots dumped (projects, folders and items).
    pub roots: usize,
    /// Base paths that were taken and got a suffix.
    pub collisions: Vec<Collision>,
    /// Things the user should know that do not stop the dump (an empty root tag, a dangling root).
    pub warnings: Vec<String>,
}

struct Root<'g> {
    tag: &'g str,
    kind: RootKind,
    /// The configured root tag it was found under (its top output folder).
    dump_root: &'g str,
}

/// Read-only views on the graph the dumper needs, with the follow rules resolved.
struct Model<'g> {
    g: &'g Graph,
    /// Relation type → (DUMP bits, SNAPSHOT bits).
    bits: HashMap<&'g str, (u8, u8)>,
}

fn as_bits(v: Option<&Value>) -> Option<u8> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f as u64))
        .map(|n| (n & 0xff) as u8)
}

impl<'g> Model<'g> {
    fn new(g: &'g Graph) -> Model<'g> {
        let defaults = g.instances.get(model::RELATION);
        let default = |rule: &str| {
            defaults
                .and_then(|p| as_bits(p.get(&format!("fd{rule}"))))
                .unwrap_or(0)
        };
        let (dd, ds) = (default(follow::DUMP), default(follow::SNAPSHOT));
        let mut bits = HashMap::new();
        let types = g
            .out
            .values()
            .flat_map(|s| s.iter().map(|(r, _)| r.as_str()));
        for t in types {
            bits.entry(t).or_insert_with(|| {
                let p = g.instances.get(t);
                let get = |rule: &str, d: u8| p.and_then(|p| as_bits(p.get(rule))).unwrap_or(d);
                (get(follow::DUMP, dd), get(follow::SNAPSHOT, ds))
            });
        }
        Model { g, bits }
    }

    fn targets(&self, tag: &str, r: &'g str) -> impl Iterator<Item = &'g str> + '_ {
        self.g.targets(tag, r)
    }

    fn sources(&self, tag: &str, r: &'g str) -> impl Iterator<Item = &'g str> + '_ {
        self.g.sources(tag, r)
    }

    fn has_model(&self, tag: &str, m: &str) -> bool {
        self.targets(tag, rel::MODEL).any(|x| x == m)
    }

    /// `tag`'s model is `m` or extends it (through `extends`, any depth).
    fn is_a(&self, tag: &str, m: &str) -> bool {
        let mut seen = HashSet::new();
        let mut todo: Vec<&str> = self.targets(tag, rel::MODEL).collect();
        while let Some(x) = todo.pop() {
            if x == m {
                return true;
            }
            if seen.insert(x) {
                todo.extend(self.targets(x, rel::EXTENDS));
            }
        }
        false
    }

    /// The model extends Folder (Folder itself included).
    fn is_folder_like(&self, tag: &str) -> bool {
        self.is_a(tag, model::FOLDER)
    }

    fn name(&self, tag: &str) -> String {
        match self.g.instances.get(tag).and_then(|p| p.get(prop::NAME)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => {
                if tag == tags::HOME {
                    "Home".into()
                } else {
                    tag.into()
                }
            }
            Some(other) => crate::json::to_compact(other),
        }
    }

    /// The structural parent of a root (§5): incoming sub-folder, subRepository,
    /// homeFolder, item, then contains.
    fn parent(&self, tag: &str) -> Option<&'g str> {
        [
            rel::SUB_FOLDER,
            rel::SUB_REPOSITORY,
            rel::HOME_FOLDER,
            rel::ITEM,
            rel::CONTAINS,
        ]
        .into_iter()
        .find_map(|r| self.sources(tag, r).next())
    }

    /// The parent in the path chain (§4): item, sub-folder, subRepository, homeFolder.
    fn path_parent(&self, tag: &str) -> Option<&'g str> {
        [
            rel::ITEM,
            rel::SUB_FOLDER,
            rel::SUB_REPOSITORY,
            rel::HOME_FOLDER,
        ]
        .into_iter()
        .find_map(|r| self.sources(tag, r).next())
    }

    /// Sanitised names from the top of the hierarchy (Home) down to `tag`.
    fn chain(&self, tag: &'g str) -> Vec<String> {
        let mut names = vec![sanitize(&self.name(tag))];
        let mut seen = HashSet::from([tag]);
        let mut cur = tag;
        while cur != tags::HOME {
            match self.path_parent(cur) {
                Some(p) if seen.insert(p) => {
                    names.push(sanitize(&self.name(p)));
                    cur = p;
                }
                _ => break,
            }
        }
        names.reverse();
        names
    }

    /// The structure relation from a parent to `x`, chosen from x's model (§5).
    fn structure_rel(&self, parent: &str, x: &str) -> &'static str {
        if parent == tags::HOME {
            rel::HOME_FOLDER
        } else if self.has_model(x, model::REPOSITORY) || self.has_model(x, model::PROJECT) {
            rel::SUB_REPOSITORY
        } else if self.is_folder_like(x) {
            rel::SUB_FOLDER
        } else {
            rel::ITEM
        }
    }

    /// Projects under a configured root tag (§3), in walk order.
    fn projects(&self, root: &'g str, exclude: &HashSet<&str>) -> Vec<&'g str> {
        if self.is_a(root, model::PROJECT) {
            return vec![root];
        }
        let mut out = Vec::new();
        let mut seen = HashSet::from([root]);
        // Depth-first, children in tag order.
        fn walk<'g>(
            m: &Model<'g>,
            x: &'g str,
            exclude: &HashSet<&str>,
            seen: &mut HashSet<&'g str>,
            out: &mut Vec<&'g str>,
        ) {
            let children: BTreeSet<&str> = m
                .targets(x, rel::HOME_FOLDER)
                .chain(m.targets(x, rel::SUB_REPOSITORY))
                .collect();
            for c in children {
                if exclude.contains(c) || !seen.insert(c) {
                    continue;
                }
                if m.is_a(c, model::PROJECT) {
                    out.push(c);
                } else {
                    walk(m, c, exclude, seen, out);
                }
            }
        }
        walk(self, root, exclude, &mut seen, &mut out);
        out
    }

    /// A project's roots in dump order: the project, its folders, its items (§3).
    fn project_roots(&self, project: &'g str, dump_root: &'g str, out: &mut Vec<Root<'g>>) {
        out.push(Root {
            tag: project,
            kind: RootKind::Project,
            dump_root,
        });
        let mut folders = BTreeSet::new();
        let mut seen = HashSet::from([project]);
        let mut todo = vec![project];
        while let Some(x) = todo.pop() {
            for c in self.targets(x, rel::SUB_FOLDER) {
                if seen.insert(c) {
                    if self.has_model(c, model::FOLDER) {
                        folders.insert(c);
                    }
                    todo.push(c);
                }
            }
        }
        for &f in &folders {
            out.push(Root {
                tag: f,
                kind: RootKind::Folder,
                dump_root,
            });
        }
        for container in folders.iter().copied().chain([project]) {
            let items: BTreeSet<&str> = self
                .targets(container, rel::ITEM)
                .chain(
                    self.targets(container, rel::SUB_FOLDER)
                        .filter(|c| !self.has_model(c, model::FOLDER)),
                )
                .collect();
            for i in items {
                out.push(Root {
                    tag: i,
                    kind: RootKind::Item,
                    dump_root,
                });
            }
        }
    }

    /// The content of a root (§1): instances and kept relations `(from, rel, to)`.
    fn closure(
        &self,
        root: &'g str,
        snapshot_rule: bool,
    ) -> (HashSet<&'g str>, HashSet<(&'g str, &'g str, &'g str)>) {
        // Hash sets: the operations are fully sorted afterwards.
        let mut set = HashSet::from([root]);
        let mut rels = HashSet::new();
        let mut todo = vec![root];
        let bits = |m: &str| {
            self.bits
                .get(m)
                .map(|b| if snapshot_rule { b.1 } else { b.0 })
                .unwrap_or(0)
        };
        while let Some(x) = todo.pop() {
            if let Some(props) = self.g.instances.get(x) {
                for v in props.values() {
                    if let Some(t) = complex_target(v) {
                        if let Some((k, _)) = self.g.instances.get_key_value(t) {
                            if set.insert(k.as_str()) {
                                todo.push(k.as_str());
                            }
                        }
                    }
                }
            }
            for (m, r) in self.g.out.get(x).into_iter().flatten() {
                let b = bits(m);
                if b & 3 != 0 {
                    rels.insert((x, m.as_str(), r.as_str()));
                }
                if b & 2 != 0 && set.insert(r.as_str()) {
                    todo.push(r.as_str());
                }
            }
            for (m, l) in self.g.inc.get(x).into_iter().flatten() {
                let b = bits(m);
                if b & 12 != 0 {
                    rels.insert((l.as_str(), m.as_str(), x));
                }
                if b & 8 != 0 && set.insert(l.as_str()) {
                    todo.push(l.as_str());
                }
            }
        }
        (set, rels)
    }

    /// What a root's files hold (§1, §2, §5), without paths.
    fn root_content(&self, root: &Root<'g>) -> Result<RootContent<'g>> {
        let (set, rels) = self.closure(root.tag, root.kind != RootKind::Item);
        let mut instances: Vec<(&'g str, Option<&'g Props>)> = set
            .into_iter()
            .filter_map(|x| self.g.instances.get_key_value(x))
            .map(|(k, p)| (k.as_str(), Some(p)))
            .collect();
        instances.sort_by(|a, b| tag_order(a.0, b.0));
        let mut relations: Vec<_> = rels.into_iter().collect();
        relations.sort_by(relation_order);

        // Structure (§5).
        let Some(parent) = self.parent(root.tag) else {
            bail!(
                "{} {} ({:?}) has no parent folder, repository or container: cannot place it in the hierarchy",
                match root.kind {
                    RootKind::Project => "project",
                    RootKind::Folder => "folder",
                    RootKind::Item => "item",
                },
                root.tag,
                self.name(root.tag)
            );
        };
        let mut ancestors = Vec::new();
        let mut structure = Vec::new();
        let mut child = root.tag;
        let mut p = parent;
        let mut seen = HashSet::from([root.tag]);
        loop {
            structure.push((p, rel::CONTAINS, child));
            structure.push((p, self.structure_rel(p, child), child));
            if root.kind != RootKind::Project || p == tags::HOME || !seen.insert(p) {
                break;
            }
            ancestors.push((p, self.g.instances.get(p)));
            for m in self.targets(p, rel::MODEL) {
                structure.push((p, rel::MODEL, m));
            }
            match self.parent(p) {
                Some(pp) => {
                    child = p;
                    p = pp;
                }
                None => break,
            }
        }
        ancestors.sort_by(|a, b| tag_order(a.0, b.0));
        structure.sort_by(relation_order);
        let binaries = instances
            .iter()
            .filter(|(t, p)| {
                p.and_then(|p| p.get(BINARY_FLAG)) == Some(&Value::Bool(true))
                    && self.is_a(t, model::FILE)
            })
            .map(|(t, _)| *t)
            .collect();
        Ok(RootContent {
            tag: root.tag,
            instances,
            relations,
            ancestors,
            structure,
            binaries,
        })
    }
}

/// The dumper's follow-rule closure (`docs/dumper-rules.md` §1) for other readers of the
/// graph (the reference orchestrator's graphDef): what rule DUMP (`snapshot_rule` false) or
/// SNAPSHOT (true) reaches from `root`: the instances (sorted by tag, `root` first when it
/// exists) and the kept relations `(from, rel, to)` in the dumper's order.
pub fn follow_rule_closure(
    graph: &Graph,
    root: &str,
    snapshot_rule: bool,
) -> (Vec<String>, Vec<(String, String, String)>) {
    follow_rule_closure_with(graph, &FollowBits::of(graph), root, snapshot_rule)
}

/// The follow-rule bits of every relation type of a graph, resolved once (reading them
/// scans every relation; a server answering many closures on one graph keeps them).
#[derive(Debug, Clone, Default)]
pub struct FollowBits(HashMap<String, (u8, u8)>);

impl FollowBits {
    /// Read the follow-rule bits of every relation type of `graph`.
    pub fn of(graph: &Graph) -> FollowBits {
        let model = Model::new(graph);
        FollowBits(
            model
                .bits
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        )
    }
}

/// [`follow_rule_closure`] with bits resolved beforehand by [`FollowBits::of`] on `graph`.
pub fn follow_rule_closure_with(
    graph: &Graph,
    bits: &FollowBits,
    root: &str,
    snapshot_rule: bool,
) -> (Vec<String>, Vec<(String, String, String)>) {
    let Some((root, _)) = graph.instances.get_key_value(root) else {
        return (Vec::new(), Vec::new());
    };
    let model = Model {
        g: graph,
        bits: bits.0.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
    };
    let (set, rels) = model.closure(root.as_str(), snapshot_rule);
    let mut instances: Vec<&str> = set
        .into_iter()
        .filter(|x| graph.instances.contains_key(*x))
        .collect();
    instances.sort_by(|a, b| tag_order(a, b));
    let mut relations: Vec<_> = rels.into_iter().collect();
    relations.sort_by(relation_order);
    (
        instances.into_iter().map(str::to_string).collect(),
        relations
            .into_iter()
            .map(|(l, m, r)| (l.to_string(), m.to_string(), r.to_string()))
            .collect(),
    )
}

fn complex_target(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) if o.get("c").and_then(Value::as_u64) == Some(8) => {
            o.get("t").and_then(Value::as_str)
        }
        _ => None,
    }
}
