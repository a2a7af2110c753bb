//! The deployment inventory's data model, shared by every environment: what each root
//! deployed last ([`RootState`]), who owns a deployed item ([`Owners`]) and the planner's
//! view of an environment ([`Current`]).
//!
//! These types live here, below both `update` (the planner) and the environments (which
//! store and read them), so that `env` never depends on `update` (no module cycle); `update`
//! re-exports them under their historical paths (`crate::update::RootState`, …).

use crate::graph::Props;
use crate::patch::{FileKind, Op, RelationOp};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// A relation key `(m, l, r)`: relation type, origin, destination.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct RelKey {
    /// The relation type's tag (the patch operations' `m`).
    pub m: String,
    /// The origin instance's tag (`l`, the "left" end).
    pub l: String,
    /// The destination instance's tag (`r`, the "right" end).
    pub r: String,
}

impl RelKey {
    /// The key of the relation `l -m-> r`, arguments in the toolkit's `m`, `l`, `r` order.
    pub fn new(m: &str, l: &str, r: &str) -> RelKey {
        RelKey {
            m: m.into(),
            l: l.into(),
            r: r.into(),
        }
    }
    /// The key of a patch's relation operation (its `m`/`l`/`r`, ignoring any
    /// properties), so patch relations and live relations compare on the same key.
    pub fn of(r: &RelationOp) -> RelKey {
        RelKey::new(&r.rel, &r.from, &r.to)
    }
    /// The inventory key of the relation: `m|l|r`.
    pub fn item(&self) -> String {
        format!("{}|{}|{}", self.m, self.l, self.r)
    }
    /// The patch operation that creates (`create`) or deletes the relation, with no
    /// relation properties: what the planner writes into `newRel` / `delRel` files.
    pub fn to_op(&self, create: bool) -> Op {
        let r = RelationOp {
            rel: self.m.clone(),
            from: self.l.clone(),
            to: self.r.clone(),
        };
        if create {
            Op::CreateRelation(r, Map::new())
        } else {
            Op::DeleteRelation(r, Map::new())
        }
    }
}

/// What one root holds: the desired content of a root read from its patches, or the
/// content it deployed last (the inventory record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootState {
    /// Instances the root creates (existence ownership).
    pub created: BTreeSet<String>,
    /// Properties the root sets, per instance (created or only updated by it); `null`
    /// values are not kept.
    pub props: BTreeMap<String, Props>,
    /// Relations the root holds.
    pub relations: BTreeSet<RelKey>,
    /// Patch files of the root, relative to the dist folder (to map deleted files of a
    /// change log to their root).
    #[serde(default)]
    pub files: Vec<String>,
}

impl RootState {
    /// The root's content from its operations, applied in kind order on an empty graph.
    pub fn from_ops<'a>(ops: impl IntoIterator<Item = (FileKind, &'a Op)>) -> RootState {
        let mut by_kind: BTreeMap<FileKind, Vec<&Op>> = BTreeMap::new();
        for (k, op) in ops {
            by_kind.entry(k).or_default().push(op);
        }
        let mut s = RootState::default();
        for op in by_kind.into_values().flatten() {
            match op {
                Op::CreateInstance(i) => {
                    s.created.insert(i.tag.clone());
                    let p = s.props.entry(i.tag.clone()).or_default();
                    for (k, v) in &i.props {
                        if v.is_null() {
                            p.shift_remove(k);
                        } else {
                            p.insert(k.clone(), v.clone());
                        }
                    }
                }
                Op::UpdateInstance(i) => {
                    let p = s.props.entry(i.tag.clone()).or_default();
                    for (k, v) in &i.props {
                        if v.is_null() {
                            p.shift_remove(k);
                        } else {
                            p.insert(k.clone(), v.clone());
                        }
                    }
                }
                Op::DeleteInstance(d) => {
                    s.created.remove(&d.tag);
                    s.props.remove(&d.tag);
                    s.relations.retain(|r| r.l != d.tag && r.r != d.tag);
                }
                Op::CreateRelation(r, _) => {
                    s.relations.insert(RelKey::of(r));
                }
                Op::DeleteRelation(r, _) => {
                    s.relations.remove(&RelKey::of(r));
                }
            }
        }
        for p in s.props.values_mut() {
            sort_props(p);
        }
        s
    }

    /// Every instance the root touches.
    pub fn instances(&self) -> impl Iterator<Item = &String> {
        self.created
            .iter()
            .chain(self.props.keys().filter(|t| !self.created.contains(*t)))
    }

    /// A stable digest of the content (sha256 of its canonical JSON, files excluded).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let v = serde_json::json!({
            "created": self.created,
            "props": self.props,
            "relations": self.relations.iter().map(RelKey::item).collect::<Vec<_>>(),
        });
        hex::encode(Sha256::digest(crate::json::to_compact(&v).as_bytes()))
    }
}

fn sort_props(p: &mut Props) {
    p.sort_keys();
}

/// How a deployed item is owned: who else holds it. (Borrowed from an environment held in
/// memory: the planner asks for every instance it compares and mostly finds roots of the
/// plan itself, whose values it does not need.)
#[derive(Debug, Clone, Default)]
pub struct Owners<'a> {
    /// Roots that create the instance.
    pub creators: BTreeSet<Cow<'a, str>>,
    /// Roots that set properties on it, with their values.
    pub props: BTreeMap<Cow<'a, str>, Cow<'a, Props>>,
}

/// The environment as the planner sees it: the live graph (read per item) and the
/// inventory of what each root deployed last.
pub trait Current {
    /// Properties of a live instance, `None` if it does not exist.
    /// (Borrowed when the graph is in memory: the planner reads every instance it compares.)
    fn props(&self, tag: &str) -> Result<Option<Cow<'_, Props>>>;
    /// Whether the live graph holds exactly the relation `k`.
    fn has_relation(&self, k: &RelKey) -> Result<bool>;
    /// Every live relation with `tag` as origin or destination.
    fn relations_touching(&self, tag: &str) -> Result<Vec<RelKey>>;
    /// Roots with an inventory record.
    fn deployed_roots(&self) -> Result<BTreeSet<String>>;
    /// The inventory record of a root (borrowed when the environment holds it in memory:
    /// the planner reads the record of every root it compares).
    fn deployed(&self, root: &str) -> Result<Option<Cow<'_, RootState>>>;
    /// Inventory owners of an instance.
    fn instance_owners(&self, tag: &str) -> Result<Owners<'_>>;
    /// Inventory roots holding a relation.
    fn relation_owners(&self, k: &RelKey) -> Result<BTreeSet<Cow<'_, str>>>;
    /// Children of a node in the live folder structure (homeFolder, subRepository,
    /// subfolder, item relations).
    fn structure_children(&self, tag: &str) -> Result<Vec<String>>;
}

/// Relations that make up the folder structure (parent → child).
pub const STRUCTURE_RELATIONS: [&str; 4] = [
    crate::patch::tags::rel::HOME_FOLDER,
    crate::patch::tags::rel::SUB_REPOSITORY,
    crate::patch::tags::rel::SUB_FOLDER,
    crate::patch::tags::rel::ITEM,
];
