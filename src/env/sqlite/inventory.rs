//! `update`'s state inside the embedded SQLite environment: the inventory (what each
//! root deployed last), the file → root map of the last deployment, and the planner's
//! view of the live graph ([`SqlCurrent`]).
//!
//! | table | purpose |
//! |---|---|
//! | `cadkit_root(root, digest, deployed_at)` | one row per deployed root |
//! | `cadkit_owner(item, root, created, props)` | per root: instances (`item` = tag, `created` 1 if the root creates it, 0 if it only sets properties, `props` = the properties it sets) and relations (`item` = `m|l|r`, `created` = 2) |
//! | `cadkit_file(path, root)` | patch files of the last deployment (maps deleted files of a change log to their root) |
//!
//! The inventory is written in the same transaction as the graph changes, so it always
//! describes the graph it sits beside.

use super::SqliteEnv;
use crate::graph::Props;
use crate::update::inventory::{Current, Owners, RelKey, RootState, STRUCTURE_RELATIONS};
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cadkit_root(
    root TEXT PRIMARY KEY NOT NULL,
    digest TEXT NOT NULL,
    deployed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cadkit_owner(
    item TEXT NOT NULL,
    root TEXT NOT NULL,
    created INTEGER NOT NULL,
    props TEXT,
    PRIMARY KEY(item, root)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cadkit_owner_by_root ON cadkit_owner(root);
CREATE TABLE IF NOT EXISTS cadkit_file(
    path TEXT PRIMARY KEY NOT NULL,
    root TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cadkit_file_by_root ON cadkit_file(root);
CREATE TABLE IF NOT EXISTS cadkit_lock(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    nonce TEXT NOT NULL,
    command TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    restore TEXT NOT NULL
);
";

const RELATION: i64 = 2;

/// Create the update's tables if missing.
pub(super) fn ensure_schema(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)
        .context("cannot create the update tables in the environment")
}

impl SqliteEnv {
    /// Create the tables of `update`, `install` and the lock if missing (every command that
    /// deploys or reads the inventory calls it first; older files gain them on first use).
    pub fn ensure_update_schema(&self) -> Result<()> {
        ensure_schema(&self.conn)
    }

    /// The planner's view of this environment, queried item by item (for plans that
    /// touch few roots).
    pub fn current(&self) -> SqlCurrent<'_> {
        SqlCurrent { conn: &self.conn }
    }

    /// The whole graph and inventory read at once (for plans comparing every root).
    pub fn preload(&self) -> Result<Preloaded> {
        Preloaded::read(&self.conn)
    }
}

/// The planner's view of an SQLite environment (a connection or a transaction), queried
/// item by item.
pub struct SqlCurrent<'a> {
    pub(super) conn: &'a Connection,
}

fn parse_props(tag: &str, s: &str) -> Result<Props> {
    serde_json::from_str(s)
        .with_context(|| format!("instance {tag}: corrupt properties in the environment"))
}

impl Current for SqlCurrent<'_> {
    fn props(&self, tag: &str) -> Result<Option<Cow<'_, Props>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT props FROM instances WHERE tag = ?1")?;
        let s: Option<String> = st.query_row([tag], |r| r.get(0)).optional()?;
        Ok(s.map(|s| parse_props(tag, &s)).transpose()?.map(Cow::Owned))
    }

    fn has_relation(&self, k: &RelKey) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM relations WHERE src = ?1 AND rel = ?2 AND dst = ?3")?;
        Ok(st.exists(params![k.l, k.m, k.r])?)
    }

    fn relations_touching(&self, tag: &str) -> Result<Vec<RelKey>> {
        let mut v = Vec::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT rel, dst FROM relations WHERE src = ?1")?;
        let rows = st.query_map([tag], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (m, d) = row?;
            v.push(RelKey::new(&m, tag, &d));
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT rel, src FROM relations WHERE dst = ?1")?;
        let rows = st.query_map([tag], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (m, s) = row?;
            v.push(RelKey::new(&m, &s, tag));
        }
        v.sort();
        v.dedup();
        Ok(v)
    }

    fn deployed_roots(&self) -> Result<BTreeSet<String>> {
        let mut st = self.conn.prepare_cached("SELECT root FROM cadkit_root")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn deployed(&self, root: &str) -> Result<Option<Cow<'_, RootState>>> {
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM cadkit_root WHERE root = ?1")?
            .exists([root])?;
        if !exists {
            return Ok(None);
        }
        let mut s = RootState::default();
        let mut st = self
            .conn
            .prepare_cached("SELECT item, created, props FROM cadkit_owner WHERE root = ?1")?;
        let mut rows = st.query([root])?;
        while let Some(r) = rows.next()? {
            let item: String = r.get(0)?;
            let created: i64 = r.get(1)?;
            if created == RELATION {
                let mut parts = item.splitn(3, '|');
                let (m, l, rr) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                s.relations.insert(RelKey::new(m, l, rr));
                continue;
            }
            if created == 1 {
                s.created.insert(item.clone());
            }
            let props: Option<String> = r.get(2)?;
            if let Some(p) = props {
                s.props.insert(item.clone(), parse_props(&item, &p)?);
            }
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT path FROM cadkit_file WHERE root = ?1 ORDER BY path")?;
        let rows = st.query_map([root], |r| r.get::<_, String>(0))?;
        s.files = rows.collect::<rusqlite::Result<_>>()?;
        Ok(Some(Cow::Owned(s)))
    }

    fn instance_owners(&self, tag: &str) -> Result<Owners<'_>> {
        let mut o = Owners::default();
        let mut st = self.conn.prepare_cached(
            "SELECT root, created, props FROM cadkit_owner WHERE item = ?1 AND created < 2",
        )?;
        let mut rows = st.query([tag])?;
        while let Some(r) = rows.next()? {
            let root: String = r.get(0)?;
            let created: i64 = r.get(1)?;
            if created == 1 {
                o.creators.insert(Cow::Owned(root.clone()));
            }
            if let Some(p) = r.get::<_, Option<String>>(2)? {
                o.props
                    .insert(Cow::Owned(root), Cow::Owned(parse_props(tag, &p)?));
            }
        }
        Ok(o)
    }

    fn relation_owners(&self, k: &RelKey) -> Result<BTreeSet<Cow<'_, str>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT root FROM cadkit_owner WHERE item = ?1 AND created = 2")?;
        let rows = st.query_map([k.item()], |r| r.get::<_, String>(0).map(Cow::Owned))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn structure_children(&self, tag: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT rel, dst FROM relations WHERE src = ?1")?;
        let rows = st.query_map([tag], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut v = Vec::new();
        for row in rows {
            let (m, d) = row?;
            if STRUCTURE_RELATIONS.contains(&m.as_str()) {
                v.push(d);
            }
        }
        Ok(v)
    }
}

/// The root that deployed a patch file (path relative to the dist folder).
pub(super) fn root_of_file(conn: &Connection, path: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT root FROM cadkit_file WHERE path = ?1")?
        .query_row([path], |r| r.get(0))
        .optional()?)
}

/// Replace (or with `None`, remove) the inventory record of a root.
pub(super) fn write_root(conn: &Connection, root: &str, state: Option<&RootState>) -> Result<()> {
    conn.prepare_cached("DELETE FROM cadkit_owner WHERE root = ?1")?
        .execute([root])?;
    conn.prepare_cached("DELETE FROM cadkit_file WHERE root = ?1")?
        .execute([root])?;
    conn.prepare_cached("DELETE FROM cadkit_root WHERE root = ?1")?
        .execute([root])?;
    let Some(s) = state else {
        return Ok(());
    };
    let mut ins = conn.prepare_cached(
        "INSERT INTO cadkit_owner(item, root, created, props) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for t in s.instances() {
        let props = s.props.get(t).map(serde_json::to_string).transpose()?;
        ins.execute(params![t, root, s.created.contains(t) as i64, props])?;
    }
    for k in &s.relations {
        ins.execute(params![k.item(), root, RELATION, Option::<String>::None])?;
    }
    let mut file = conn.prepare_cached(
        "INSERT INTO cadkit_file(path, root) VALUES (?1, ?2) ON CONFLICT(path) DO UPDATE SET root = excluded.root",
    )?;
    for f in &s.files {
        file.execute(params![f, root])?;
    }
    conn.prepare_cached("INSERT INTO cadkit_root(root, digest, deployed_at) VALUES (?1, ?2, ?3)")?
        .execute(params![root, s.digest(), chrono::Utc::now().to_rfc3339()])?;
    Ok(())
}

/// Remove the whole inventory (before an install records a new one).
pub(super) fn clear_inventory(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM cadkit_owner; DELETE FROM cadkit_file; DELETE FROM cadkit_root;",
    )?;
    Ok(())
}

/// Write inventory records.
pub(super) fn write_inventory(
    conn: &Connection,
    records: &BTreeMap<String, Option<RootState>>,
) -> Result<()> {
    for (root, state) in records {
        write_root(conn, root, state.as_ref())
            .with_context(|| format!("cannot record the inventory of root {root}"))?;
    }
    Ok(())
}

/// The whole environment read at once (graph and inventory, indexed), for plans that
/// compare every root or check every root for drift: one scan instead of one query per
/// item. Plans exactly as [`SqlCurrent`] (tested).
pub struct Preloaded {
    /// The live graph, every instance and relation.
    pub graph: crate::graph::Graph,
    /// The inventory record of every deployed root, by root tag.
    pub inventory: BTreeMap<String, RootState>,
    inst_owners: std::collections::HashMap<String, Vec<String>>,
    rel_owners: std::collections::HashMap<RelKey, Vec<String>>,
}

impl Preloaded {
    pub(super) fn read(conn: &Connection) -> Result<Preloaded> {
        let graph = super::read_graph(conn)?;
        let mut inventory: BTreeMap<String, RootState> = BTreeMap::new();
        {
            let mut st = conn.prepare("SELECT root FROM cadkit_root")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                inventory.insert(r?, RootState::default());
            }
        }
        let mut raw: Vec<(String, String, i64, Option<String>)> = Vec::new();
        {
            let mut st = conn.prepare("SELECT item, root, created, props FROM cadkit_owner")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            for r in rows {
                raw.push(r?);
            }
        }
        use rayon::prelude::*;
        let parsed: Vec<Option<Props>> = raw
            .par_iter()
            .map(|(item, _, _, p)| p.as_deref().map(|s| parse_props(item, s)).transpose())
            .collect::<Result<_>>()?;
        let mut inst_owners: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut rel_owners: std::collections::HashMap<RelKey, Vec<String>> = Default::default();
        for ((item, root, created, _), props) in raw.into_iter().zip(parsed) {
            let Some(s) = inventory.get_mut(&root) else {
                continue;
            };
            if created == RELATION {
                let mut parts = item.splitn(3, '|');
                let k = RelKey::new(
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                rel_owners.entry(k.clone()).or_default().push(root);
                s.relations.insert(k);
                continue;
            }
            if created == 1 {
                s.created.insert(item.clone());
            }
            if let Some(p) = props {
                s.props.insert(item.clone(), p);
            }
            inst_owners.entry(item).or_default().push(root);
        }
        {
            let mut st = conn.prepare("SELECT path, root FROM cadkit_file ORDER BY path")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for r in rows {
                let (path, root) = r?;
                if let Some(s) = inventory.get_mut(&root) {
                    s.files.push(path);
                }
            }
        }
        Ok(Preloaded {
            graph,
            inventory,
            inst_owners,
            rel_owners,
        })
    }
}

impl Current for Preloaded {
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
        let mut o = Owners::default();
        for root in self.inst_owners.get(tag).into_iter().flatten() {
            let s = &self.inventory[root];
            if s.created.contains(tag) {
                o.creators.insert(Cow::Borrowed(root.as_str()));
            }
            if let Some(p) = s.props.get(tag) {
                o.props
                    .insert(Cow::Borrowed(root.as_str()), Cow::Borrowed(p));
            }
        }
        Ok(o)
    }
    fn relation_owners(&self, k: &RelKey) -> Result<BTreeSet<Cow<'_, str>>> {
        Ok(self
            .rel_owners
            .get(k)
            .into_iter()
            .flatten()
            .map(|r| Cow::Borrowed(r.as_str()))
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
