//! The stages of `install` on the embedded environment (see [`super::installer`] for the
//! whole sequence): the *backup* of users and business data with its progress record, and
//! the *reset + load* that restores them and records the inventory. Each stage is one
//! transaction; the progress record (meta `installProgress`) and the backup (table
//! `cadkit_backup`) live in the environment itself, so an install that died after its
//! backup resumes from the load with the same backup.

use super::{apply_ops, inventory, lock, SqliteEnv};
use crate::graph::Props;
use crate::patch::{tags, Op, Patch};
use crate::update::inventory::RootState;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Meta key of the progress record of an install.
pub const PROGRESS: &str = "installProgress";

const BACKUP_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS cadkit_backup(kind TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;";

/// The progress record of an install (written with its backup).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The build folder being installed, as given to the install that wrote the record.
    pub dist: PathBuf,
    /// When the backup was taken (RFC 3339, UTC).
    pub started_at: String,
    /// Users were saved in `cadkit_backup` (kind `users`) and will be merged back.
    pub users_saved: bool,
    /// Business data were saved (kind `data`) and will be merged back.
    pub data_saved: bool,
}

/// Preserved instances and relations: one row of `cadkit_backup`, stored as JSON, the
/// embedded counterpart of the toolkit's users / business-data dumps in the backup area.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Preserved {
    /// Properties of each preserved instance, by tag; recreated after the load.
    pub instances: BTreeMap<String, Props>,
    /// Every relation touching a preserved instance, as `(relation type, origin,
    /// destination)`; those whose ends no longer exist after the load are skipped.
    pub relations: BTreeSet<(String, String, String)>,
}

/// What to preserve across the reset.
#[derive(Debug, Clone, Copy)]
pub struct BackupRequest<'a> {
    /// The build folder being installed (kept in the progress record).
    pub dist: &'a Path,
    /// Save the users (the toolkit's `import.backupUsers`).
    pub users: bool,
    /// Save the business data (`import.backupBusinessData`).
    pub business_data: bool,
    /// Instances the new dist creates: business data never includes them.
    pub code: &'a BTreeSet<&'a String>,
}

/// One patch file of the load, in application order.
pub struct LoadFile<'a> {
    /// Shown in errors (the file's path).
    pub path: PathBuf,
    /// The module the file belongs to (named in errors).
    pub module: &'a str,
    /// The file's parsed content, applied as it is (operations then optional ones).
    pub patch: &'a Patch,
}

/// What the reset + load did.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Operations applied from the patch files (optional operations included).
    pub operations: usize,
    /// Users merged back from the backup.
    pub users_restored: usize,
    /// Business-data instances merged back from the backup.
    pub business_instances_restored: usize,
    /// Preserved relations dropped because one of their ends no longer exists.
    pub relations_skipped: usize,
    /// Instances in the environment after the install.
    pub instances: u64,
    /// Relations in the environment after the install.
    pub relations: u64,
}

impl SqliteEnv {
    /// Create the tables of an install (inventory, lock, backup) if missing.
    pub fn ensure_install_schema(&self) -> Result<()> {
        self.ensure_update_schema()?;
        self.conn.execute_batch(BACKUP_SCHEMA)?;
        Ok(())
    }

    /// Stage 2, one transaction: unless a progress record exists (then `true`: a previous
    /// install died after its backup, which is reused, as the live data may already be
    /// incomplete), save users and business data and write the progress record.
    pub fn install_backup(&mut self, req: BackupRequest<'_>) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let progress: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [PROGRESS], |r| {
                r.get(0)
            })
            .optional()?;
        let resumed = progress.is_some();
        if !resumed {
            // Anything to preserve? (The toolkit asks `isDbInitialized`; an embedded
            // environment holding any instance may hold users and data.)
            let initialised: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM instances)", [], |r| r.get(0))?;
            let mut p = Progress {
                dist: req.dist.to_path_buf(),
                started_at: chrono::Utc::now().to_rfc3339(),
                ..Progress::default()
            };
            tx.execute("DELETE FROM cadkit_backup", [])?;
            if initialised && req.users {
                save_backup(&tx, "users", &snapshot_users(&tx)?)?;
                p.users_saved = true;
            }
            if initialised && req.business_data {
                save_backup(&tx, "data", &snapshot_business_data(&tx, req.code)?)?;
                p.data_saved = true;
            }
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![PROGRESS, serde_json::to_string(&p)?],
            )?;
        }
        tx.commit()?;
        Ok(resumed)
    }

    /// Stage 3, one transaction: empty the graph, apply `files` in the given order, merge
    /// the backup back, record the inventory of `roots` and the deployed versions, delete
    /// the backup and the progress record. A failure leaves the environment as before.
    pub fn install_load(
        &mut self,
        dist: &Path,
        files: &[LoadFile<'_>],
        roots: &BTreeMap<String, &RootState>,
    ) -> Result<Loaded> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch("DELETE FROM relations; DELETE FROM instances;")?;
        let mut done = Loaded::default();
        for f in files {
            done.operations += f.patch.all_ops().count();
            apply_ops(&tx, f.patch.all_ops()).with_context(|| {
                format!(
                    "cannot apply {} (module {}); the environment was left as before",
                    f.path.display(),
                    f.module
                )
            })?;
        }
        restore_backups(&tx, &mut done)?;
        inventory::clear_inventory(&tx)?;
        for (root, state) in roots {
            inventory::write_root(&tx, root, Some(state))?;
        }
        tx.execute("DELETE FROM cadkit_backup", [])?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [PROGRESS])?;
        lock::record_versions(&tx, dist)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('lastInstall', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [serde_json::json!({"dist": dist, "at": chrono::Utc::now().to_rfc3339()}).to_string()],
        )?;
        (done.instances, done.relations) = super::graph::counts(&tx)?;
        tx.commit()
            .with_context(|| format!("cannot commit the install into {}", self.path.display()))?;
        Ok(done)
    }
}

fn save_backup(conn: &Connection, kind: &str, p: &Preserved) -> Result<()> {
    conn.execute(
        "INSERT INTO cadkit_backup(kind, data) VALUES (?1, ?2)",
        params![kind, serde_json::to_string(p)?],
    )?;
    Ok(())
}

/// Merge every saved backup back (users, then business data).
fn restore_backups(conn: &Transaction, done: &mut Loaded) -> Result<()> {
    let backups: Vec<(String, String)> = {
        let mut st = conn.prepare("SELECT kind, data FROM cadkit_backup ORDER BY kind DESC")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (kind, data) in backups {
        let pres: Preserved = serde_json::from_str(&data)
            .with_context(|| format!("corrupt {kind} backup in the environment"))?;
        let (n, skipped) = restore(conn, &pres)?;
        done.relations_skipped += skipped;
        if kind == "users" {
            done.users_restored = n;
        } else {
            done.business_instances_restored = n;
        }
    }
    Ok(())
}

fn read_instance(conn: &Connection, tag: &str) -> Result<Option<Props>> {
    let s: Option<String> = conn
        .prepare_cached("SELECT props FROM instances WHERE tag = ?1")?
        .query_row([tag], |r| r.get(0))
        .optional()?;
    s.map(|s| {
        serde_json::from_str(&s).with_context(|| format!("instance {tag}: corrupt properties"))
    })
    .transpose()
}

fn relations_touching(
    conn: &Connection,
    tag: &str,
    out: &mut BTreeSet<(String, String, String)>,
) -> Result<()> {
    let mut st =
        conn.prepare_cached("SELECT src, rel, dst FROM relations WHERE src = ?1 OR dst = ?1")?;
    let rows = st.query_map([tag], |r| Ok((r.get(1)?, r.get(0)?, r.get(2)?)))?;
    for r in rows {
        out.insert(r?);
    }
    Ok(())
}

/// Users: instances of model User except admin and guest, with every relation touching them.
fn snapshot_users(conn: &Connection) -> Result<Preserved> {
    let mut p = Preserved::default();
    let users: Vec<String> = {
        let mut st = conn.prepare("SELECT src FROM relations WHERE rel = ?1 AND dst = ?2")?;
        let rows = st.query_map(params![tags::rel::MODEL, tags::model::USER], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for u in users {
        if u == tags::ADMIN_USER || u == tags::GUEST_USER {
            continue;
        }
        if let Some(props) = read_instance(conn, &u)? {
            p.instances.insert(u.clone(), props);
            relations_touching(conn, &u, &mut p.relations)?;
        }
    }
    Ok(p)
}

/// Business data: the instances a business container (model `017b3aa8fae1e3d044dc`)
/// points at that no patch of the new dist creates, with every relation touching them.
/// The containers themselves are code (recreated by the load).
fn snapshot_business_data(conn: &Connection, code: &BTreeSet<&String>) -> Result<Preserved> {
    let mut p = Preserved::default();
    let containers: Vec<String> = {
        let mut st = conn.prepare("SELECT src FROM relations WHERE rel = ?1 AND dst = ?2")?;
        let rows = st.query_map(
            params![tags::rel::MODEL, tags::model::BUSINESS_CONTAINER],
            |r| r.get(0),
        )?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for c in containers {
        let targets: Vec<String> = {
            let mut st = conn.prepare_cached("SELECT dst FROM relations WHERE src = ?1")?;
            let rows = st.query_map([&c], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for t in targets {
            if code.contains(&t) || p.instances.contains_key(&t) {
                continue;
            }
            if let Some(props) = read_instance(conn, &t)? {
                p.instances.insert(t.clone(), props);
                relations_touching(conn, &t, &mut p.relations)?;
            }
        }
    }
    Ok(p)
}

/// Merge preserved data back; relations whose ends are missing are skipped.
/// Returns (instances restored, relations skipped).
fn restore(conn: &Transaction, p: &Preserved) -> Result<(usize, usize)> {
    let mut ops: Vec<Op> = Vec::new();
    for (t, props) in &p.instances {
        ops.push(Op::CreateInstance(crate::patch::InstanceOp {
            tag: t.clone(),
            props: props.clone(),
            extra: Default::default(),
        }));
    }
    apply_ops(conn, &ops)?;
    let mut skipped = 0;
    let mut exists = conn.prepare_cached("SELECT 1 FROM instances WHERE tag = ?1")?;
    let mut rel_ops = Vec::new();
    for (m, l, r) in &p.relations {
        if exists.exists([l])? && exists.exists([r])? {
            rel_ops.push(Op::create_relation(m, l, r));
        } else {
            skipped += 1;
        }
    }
    apply_ops(conn, &rel_ops)?;
    Ok((p.instances.len(), skipped))
}
