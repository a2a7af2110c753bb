//! The embedded environment: a composition graph in one SQLite file (see the module doc of
//! [`crate::env`] for the schema and the load order).

use super::Environment;
use crate::graph::{Graph, Props};
use crate::patch::{FileKind, Op, Patch, PatchError};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where `--env` points by default.
pub const DEFAULT_ENV_PATH: &str = "./.cadkit/env.sqlite";

/// `PRAGMA user_version` of the schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS instances(
    tag TEXT PRIMARY KEY NOT NULL,
    props TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relations(
    src TEXT NOT NULL,
    rel TEXT NOT NULL,
    dst TEXT NOT NULL,
    PRIMARY KEY(src, rel, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_by_dst ON relations(dst, rel, src);
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// A composition graph stored in SQLite.
pub struct SqliteEnv {
    conn: Connection,
    path: PathBuf,
}

/// What a load did: the JSON report of `install`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub env: PathBuf,
    pub dist: PathBuf,
    pub reset: bool,
    pub modules: Vec<ModuleLoad>,
    /// Patch files applied.
    pub files: usize,
    /// Operations applied (optionalOperations included).
    pub operations: usize,
    /// Instances and relations in the environment after the load.
    pub instances: u64,
    pub relations: u64,
    pub duration_ms: u64,
}

/// One module of `import_order.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleLoad {
    pub name: String,
    pub path: String,
    pub files: usize,
    pub operations: usize,
}

#[derive(Debug, Deserialize)]
struct ImportOrderEntry {
    name: String,
    path: String,
}

/// One module's patches, read and validated, in application order.
struct ModulePatches {
    name: String,
    path: String,
    patches: Vec<(FileKind, PathBuf, Patch)>,
}

impl SqliteEnv {
    /// Open (or create, with its parent folder and schema) the environment at `path`.
    pub fn open(path: &Path) -> Result<SqliteEnv> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the environment folder {}", dir.display())
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the environment {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .with_context(|| format!("{}: cannot switch to WAL mode", path.display()))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!(
                "{}: environment schema version {version} is newer than this cadkit supports ({SCHEMA_VERSION}); upgrade cadkit or use another --env",
                path.display()
            );
        }
        conn.execute_batch(SCHEMA).with_context(|| {
            format!(
                "{}: cannot create the schema (is it an SQLite file?)",
                path.display()
            )
        })?;
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        }
        Ok(SqliteEnv {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// For callers running their own transactions (`conn_mut().transaction()`).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// (instances, relations).
    pub fn counts(&self) -> Result<(u64, u64)> {
        counts(&self.conn)
    }

    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn meta_delete(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Apply already-read patches in application order (all delRel, then delInst, newInst,
    /// updateInst, newRel; the given order within a kind), in one transaction.
    /// With `reset`, the graph (not `meta`) is emptied first in the same transaction.
    pub fn apply_patches<'a>(
        &mut self,
        patches: impl IntoIterator<Item = (FileKind, &'a Patch)>,
        reset: bool,
    ) -> Result<usize> {
        let mut list: Vec<(FileKind, &Patch)> = patches.into_iter().collect();
        list.sort_by_key(|(k, _)| *k);
        let tx = self.conn.transaction()?;
        if reset {
            clear_graph(&tx)?;
        }
        let mut n = 0;
        for (_, p) in list {
            n += p.all_ops().count();
            apply_ops(&tx, p.all_ops())?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Load a built `dist/codeAsData` folder: modules in `import_order.json` order, each
    /// module's files in application order (see [`crate::env`]). Every file is read and
    /// validated before the database is touched; the whole load (and the reset, with
    /// `reset`) is one transaction, so a failure leaves the environment as it was.
    pub fn load_dist(&mut self, dist: &Path, reset: bool) -> Result<LoadReport> {
        let start = Instant::now();
        let modules = read_dist(dist)?;
        let tx = self.conn.transaction()?;
        if reset {
            clear_graph(&tx)?;
        }
        let mut reports = Vec::new();
        let (mut files, mut operations) = (0, 0);
        for m in &modules {
            let mut ops = 0;
            for (_, file, p) in &m.patches {
                ops += p.all_ops().count();
                apply_ops(&tx, p.all_ops())
                    .with_context(|| format!("cannot apply {}", file.display()))?;
            }
            files += m.patches.len();
            operations += ops;
            reports.push(ModuleLoad {
                name: m.name.clone(),
                path: m.path.clone(),
                files: m.patches.len(),
                operations: ops,
            });
        }
        let (instances, relations) = counts(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('lastLoad', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [serde_json::json!({
                "dist": dist,
                "reset": reset,
                "at": chrono::Utc::now().to_rfc3339(),
                "modules": reports.iter().map(|m| &m.name).collect::<Vec<_>>(),
            })
            .to_string()],
        )?;
        tx.commit()
            .with_context(|| format!("cannot commit the load into {}", self.path.display()))?;
        Ok(LoadReport {
            env: self.path.clone(),
            dist: dist.to_path_buf(),
            reset,
            modules: reports,
            files,
            operations,
            instances,
            relations,
            duration_ms: start.elapsed().as_millis() as u64,
        })
    }
}

impl Environment for SqliteEnv {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn graph(&self) -> Result<Graph> {
        read_graph(&self.conn)
            .with_context(|| format!("cannot read the graph of {}", self.path.display()))
    }
}

fn counts(conn: &Connection) -> Result<(u64, u64)> {
    let i: i64 = conn.query_row("SELECT count(*) FROM instances", [], |r| r.get(0))?;
    let r: i64 = conn.query_row("SELECT count(*) FROM relations", [], |r| r.get(0))?;
    Ok((i as u64, r as u64))
}

fn clear_graph(tx: &Transaction) -> Result<()> {
    tx.execute_batch("DELETE FROM relations; DELETE FROM instances;")?;
    Ok(())
}

/// The whole graph held by `conn`.
pub fn read_graph(conn: &Connection) -> Result<Graph> {
    let mut g = Graph::new();
    let mut stmt = conn.prepare("SELECT tag, props FROM instances")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let raw: Vec<(String, String)> = rows.collect::<rusqlite::Result<_>>()?;
    let parsed: Vec<(String, Props)> = raw
        .into_par_iter()
        .map(|(tag, props)| {
            let p: Props = serde_json::from_str(&props).with_context(|| {
                format!("instance {tag}: corrupt properties in the environment")
            })?;
            Ok((tag, p))
        })
        .collect::<Result<_>>()?;
    g.instances.extend(parsed);
    let mut stmt = conn.prepare("SELECT src, rel, dst FROM relations")?;
    let rels: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Both directions at once; rows come in (src, rel, dst) order.
    let (out, inc) = rayon::join(
        || {
            let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
            for (src, rel, dst) in &rels {
                match out.get_mut(src.as_str()) {
                    Some(set) => set.insert((rel.clone(), dst.clone())),
                    None => out
                        .entry(src.clone())
                        .or_default()
                        .insert((rel.clone(), dst.clone())),
                };
            }
            out
        },
        || {
            let mut inc: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
            for (src, rel, dst) in &rels {
                match inc.get_mut(dst.as_str()) {
                    Some(set) => set.insert((rel.clone(), src.clone())),
                    None => inc
                        .entry(dst.clone())
                        .or_default()
                        .insert((rel.clone(), src.clone())),
                };
            }
            inc
        },
    );
    g.out = out;
    g.inc = inc;
    Ok(g)
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

/// Read `import_order.json` and every module's patch files, validated, in application
/// order. Nothing is applied.
fn read_dist(dist: &Path) -> Result<Vec<ModulePatches>> {
    let order_file = dist.join("import_order.json");
    let text = std::fs::read_to_string(&order_file).with_context(|| {
        format!(
            "cannot read {} (is {} a built codeAsData folder? run `cadkit buildCodeAsData` first)",
            order_file.display(),
            dist.display()
        )
    })?;
    let entries: Vec<ImportOrderEntry> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected an array of {{name, rootTag, path}}",
            order_file.display()
        )
    })?;
    let mut modules = Vec::new();
    let mut errors: Vec<PatchError> = Vec::new();
    for e in entries {
        let folder = dist.join(&e.path);
        if e.path.contains("..") || Path::new(&e.path).is_absolute() {
            bail!(
                "{}: module {} has an unsafe path {:?}",
                order_file.display(),
                e.name,
                e.path
            );
        }
        if !folder.is_dir() {
            bail!(
                "{}: module {} points to {}, which is not a folder",
                order_file.display(),
                e.name,
                folder.display()
            );
        }
        let mut files: Vec<(FileKind, PathBuf, PathBuf)> = Vec::new();
        for entry in walkdir::WalkDir::new(&folder).follow_links(true) {
            let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            if let Some(kind) = FileKind::of_path(entry.path()) {
                let rel = entry.path().strip_prefix(&folder)?.to_path_buf();
                files.push((kind, rel, entry.path().to_path_buf()));
            }
        }
        files.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let read: Vec<Result<(FileKind, PathBuf, Patch), PatchError>> = files
            .into_par_iter()
            .map(|(kind, _, path)| Patch::read(&path).map(|p| (kind, path, p)))
            .collect();
        let mut patches = Vec::with_capacity(read.len());
        for r in read {
            match r {
                Ok(p) => patches.push(p),
                Err(e) => errors.push(e),
            }
        }
        modules.push(ModulePatches {
            name: e.name,
            path: e.path,
            patches,
        });
    }
    if let Some(first) = errors.first() {
        bail!(
            "{} invalid patch file(s) in {}; the environment was not touched. First: {first}",
            errors.len(),
            dist.display()
        );
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn an_invalid_file_leaves_the_environment_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(dist.join("m/x")).unwrap();
        std::fs::write(
            dist.join("import_order.json"),
            r#"[{"name":"m","rootTag":"10000000000000000000","path":"m"}]"#,
        )
        .unwrap();
        std::fs::write(
            dist.join("m/x/A.newInst.json"),
            r#"{"rootTag":"a0000000000000000000","operations":[{"o":1,"t":"a0000000000000000000","p":{}}]}"#,
        )
        .unwrap();
        let mut env = SqliteEnv::open(&dir.path().join("env.sqlite")).unwrap();
        let r = env.load_dist(&dist, true).unwrap();
        assert_eq!((r.files, r.instances), (1, 1));
        std::fs::write(dist.join("m/x/B.newRel.json"), "{").unwrap();
        let e = env.load_dist(&dist, true).unwrap_err().to_string();
        assert!(e.contains("B.newRel.json"), "{e}");
        assert_eq!(env.counts().unwrap(), (1, 0));
    }
}
