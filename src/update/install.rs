//! `install`: full reset and load in import order, preserving users and business data,
//! resumable after a crash, never leaving maintenance on.
//!
//! Stages (the progress record is the meta row `installProgress`, the preserved data the
//! table `cadkit_backup`, both in the environment itself, like the toolkit's
//! `execution_log.json` in its backup area):
//! 1. lock + maintenance on;
//! 2. *backup* (one transaction): if no progress record exists, snapshot the users (User
//!    instances except admin and guest, their properties and every relation touching them)
//!    and the business data (the instances business containers point at that no patch
//!    creates, with their relations) into `cadkit_backup`, and write the progress record.
//!    If a record exists, a previous install died after its backup: the backup is reused
//!    (the live data may already be incomplete, never the backup);
//! 3. *load* (one transaction): empty the graph, apply every module in import order, each
//!    module's files in kind order; restore users and business data (merge; relations whose
//!    ends are missing are skipped, as the toolkit's `ignoreRelationFail`); record the
//!    inventory; delete the backup and the progress record;
//! 4. maintenance restored, lock released (also after a failure).
//!
//! A crash in stage 2 leaves nothing; in stage 3 it leaves the old graph, the backup and the
//! progress record, and the next install resumes from stage 3.

use super::desired::list_files;
use super::lock::{LockGuard, ModeGuard};
use super::store;
use super::DesiredState;
use crate::env::{apply_ops, SqliteEnv};
use crate::graph::Props;
use crate::patch::{tags, FileKind, Op, Patch};
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const PROGRESS: &str = "installProgress";

/// Relation from a project to its business-data container.
pub const BUSINESS_CONTAINER_REL: &str = "017b3aa8fd1659291b92";

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub env: PathBuf,
    pub dist: PathBuf,
    pub backup_users: bool,
    pub backup_business_data: bool,
    pub lock_ttl: Duration,
    pub change_log_name: String,
}

impl InstallOptions {
    pub fn new(env: impl Into<PathBuf>, dist: impl Into<PathBuf>) -> InstallOptions {
        InstallOptions {
            env: env.into(),
            dist: dist.into(),
            backup_users: true,
            backup_business_data: true,
            lock_ttl: super::lock::DEFAULT_TTL,
            change_log_name: "change_log.txt".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub dist: PathBuf,
    pub started_at: String,
    pub users_saved: bool,
    pub data_saved: bool,
}

/// Preserved instances and relations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Preserved {
    pub instances: BTreeMap<String, Props>,
    pub relations: BTreeSet<(String, String, String)>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    pub env: PathBuf,
    pub dist: PathBuf,
    /// True when a previous install's backup was reused.
    pub resumed: bool,
    pub files: usize,
    pub operations: usize,
    pub roots: usize,
    pub users_restored: usize,
    pub business_instances_restored: usize,
    pub relations_skipped: usize,
    pub instances: u64,
    pub relations: u64,
    pub duration_ms: u64,
}

const BACKUP_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS cadkit_backup(kind TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;";

/// Test hook (feature `fault-injection` only): stop (exit the process) after the backup
/// stage, to test the resume path.
pub const CRASH_AFTER_BACKUP_ENV: &str = "CADKIT_TEST_CRASH_AFTER_BACKUP";

pub fn install(opts: &InstallOptions) -> Result<InstallReport> {
    let start = Instant::now();
    {
        let env = SqliteEnv::open(&opts.env)?;
        store::ensure_schema(env.conn())?;
        env.conn().execute_batch(BACKUP_SCHEMA)?;
    }
    let lock = LockGuard::acquire(&opts.env, "install", opts.lock_ttl)?;
    let mut modes = ModeGuard::enter(&opts.env, false)?;
    let mut env = SqliteEnv::open(&opts.env)?;

    // Read and validate everything before touching the environment.
    let files = list_files(&opts.dist)?;
    let mut patches: Vec<(String, FileKind, Patch, String)> = Vec::with_capacity(files.len());
    for f in &files {
        let p = Patch::read(&f.path)?;
        patches.push((f.rel.clone(), f.kind, p, f.module.clone()));
    }
    let desired = DesiredState::from_patches(patches.iter().map(|(r, _, p, _)| (r.as_str(), p)));
    let code: BTreeSet<&String> = desired
        .roots
        .values()
        .flat_map(|r| r.state.created.iter())
        .collect();

    // Stage 2: backup.
    let conn = env.conn_mut();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
            dist: opts.dist.clone(),
            started_at: chrono::Utc::now().to_rfc3339(),
            ..Progress::default()
        };
        tx.execute("DELETE FROM cadkit_backup", [])?;
        if initialised && opts.backup_users {
            let u = snapshot_users(&tx)?;
            tx.execute(
                "INSERT INTO cadkit_backup(kind, data) VALUES ('users', ?1)",
                [serde_json::to_string(&u)?],
            )?;
            p.users_saved = true;
        }
        if initialised && opts.backup_business_data {
            let d = snapshot_business_data(&tx, &code)?;
            tx.execute(
                "INSERT INTO cadkit_backup(kind, data) VALUES ('data', ?1)",
                [serde_json::to_string(&d)?],
            )?;
            p.data_saved = true;
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![PROGRESS, serde_json::to_string(&p)?],
        )?;
    } else {
        tracing::warn!(
            "resuming an interrupted install of {}: its preserved users and business data are reused",
            opts.env.display()
        );
    }
    tx.commit()?;
    #[cfg(feature = "fault-injection")]
    if std::env::var_os(CRASH_AFTER_BACKUP_ENV).is_some() {
        // Simulated crash: no destructor runs (like kill -9).
        std::process::exit(137);
    }

    // Stage 3: load, restore, inventory; one transaction.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("DELETE FROM relations; DELETE FROM instances;")?;
    let mut operations = 0;
    let mut modules: Vec<String> = Vec::new();
    for (_, _, _, m) in &patches {
        if modules.last() != Some(m) {
            modules.push(m.clone());
        }
    }
    for m in &modules {
        let mut of_module: Vec<&(String, FileKind, Patch, String)> =
            patches.iter().filter(|x| &x.3 == m).collect();
        of_module.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        for (rel, _, p, _) in of_module {
            operations += p.all_ops().count();
            apply_ops(&tx, p.all_ops()).with_context(|| {
                format!(
                    "cannot apply {} (module {m}); the environment was left as before",
                    opts.dist.join(rel).display()
                )
            })?;
        }
    }
    let mut users_restored = 0;
    let mut business_instances_restored = 0;
    let mut relations_skipped = 0;
    let backups: Vec<(String, String)> = {
        let mut st = tx.prepare("SELECT kind, data FROM cadkit_backup ORDER BY kind DESC")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (kind, data) in backups {
        let pres: Preserved = serde_json::from_str(&data)
            .with_context(|| format!("corrupt {kind} backup in the environment"))?;
        let (n, skipped) = restore(&tx, &pres)?;
        relations_skipped += skipped;
        if kind == "users" {
            users_restored = n;
        } else {
            business_instances_restored = n;
        }
    }
    store::clear_inventory(&tx)?;
    for (root, d) in &desired.roots {
        store::write_root(&tx, root, Some(&d.state))?;
    }
    tx.execute("DELETE FROM cadkit_backup", [])?;
    tx.execute("DELETE FROM meta WHERE key = ?1", [PROGRESS])?;
    super::lock::record_versions(&tx, &opts.dist)?;
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('lastInstall', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [serde_json::json!({"dist": opts.dist, "at": chrono::Utc::now().to_rfc3339()}).to_string()],
    )?;
    let (instances, relations) = {
        let i: i64 = tx.query_row("SELECT count(*) FROM instances", [], |r| r.get(0))?;
        let r: i64 = tx.query_row("SELECT count(*) FROM relations", [], |r| r.get(0))?;
        (i as u64, r as u64)
    };
    tx.commit()
        .with_context(|| format!("cannot commit the install into {}", opts.env.display()))?;
    modes.committed();
    // The change log describes changes since the last deployment: now empty.
    let log = opts.dist.join(&opts.change_log_name);
    if log.is_file() {
        crate::fsutil::write_atomic(&log, b"", None)?;
    }
    drop(modes);
    drop(lock);
    Ok(InstallReport {
        env: opts.env.clone(),
        dist: opts.dist.clone(),
        resumed,
        files: patches.len(),
        operations,
        roots: desired.roots.len(),
        users_restored,
        business_instances_restored,
        relations_skipped,
        instances,
        relations,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

/// The toolkit's `isDbInitialized`: the admin user and "Olympe Libraries" exist.
pub fn is_initialised(conn: &Connection) -> Result<bool> {
    let mut st = conn.prepare_cached("SELECT 1 FROM instances WHERE tag = ?1")?;
    Ok(st.exists([tags::ADMIN_USER])? && st.exists([tags::OLYMPE_LIBRARIES])?)
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
pub fn snapshot_users(conn: &Connection) -> Result<Preserved> {
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
pub fn snapshot_business_data(conn: &Connection, code: &BTreeSet<&String>) -> Result<Preserved> {
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
fn restore(conn: &rusqlite::Transaction, p: &Preserved) -> Result<(usize, usize)> {
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
