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

use super::install::{BackupRequest, LoadFile};
use super::lock::{LockGuard, ModeGuard};
use super::SqliteEnv;
use crate::env::InstallSpec;
use crate::patch::{FileKind, Patch};
use crate::update::desired::list_files;
use crate::update::DesiredState;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use super::install::{Preserved, Progress, PROGRESS};

/// Relation from a project to its business-data container.
pub const BUSINESS_CONTAINER_REL: &str = "017b3aa8fd1659291b92";

/// What an embedded `install` did (the JSON printed by `cadkit install`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// The SQLite environment file installed into.
    pub env: PathBuf,
    /// The built codeAsData folder installed.
    pub dist: PathBuf,
    /// True when a previous install's backup was reused.
    pub resumed: bool,
    /// Patch files loaded.
    pub files: usize,
    /// Operations applied (optionalOperations included).
    pub operations: usize,
    /// Roots recorded in the inventory (every root of the dist).
    pub roots: usize,
    /// Users merged back after the load.
    pub users_restored: usize,
    /// Business-data instances merged back after the load.
    pub business_instances_restored: usize,
    /// Preserved relations dropped because an end no longer exists (the toolkit's
    /// `ignoreRelationFail` on the restore).
    pub relations_skipped: usize,
    /// Instances in the environment after the install.
    pub instances: u64,
    /// Relations in the environment after the install.
    pub relations: u64,
    /// Wall-clock time of the whole install, in milliseconds.
    pub duration_ms: u64,
}

/// Test hook (feature `fault-injection` only): stop (exit the process) after the backup
/// stage, to test the resume path.
pub const CRASH_AFTER_BACKUP_ENV: &str = "CADKIT_TEST_CRASH_AFTER_BACKUP";

/// Install `opts.dist` into the embedded environment at `path` (stages in the module
/// doc). Fails without touching the graph when a patch file is unreadable, when another
/// process holds the lock ([`super::lock::LockError`]) or when the load fails (the
/// transaction is rolled back and the backup kept for the next run).
pub fn install(path: &Path, opts: &InstallSpec) -> Result<InstallReport> {
    let start = Instant::now();
    SqliteEnv::open(path)?.ensure_install_schema()?;
    let lock = LockGuard::acquire(path, "install", opts.lock_ttl)?;
    let mut modes = ModeGuard::enter(path, false)?;
    let mut env = SqliteEnv::open(path)?;

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
    let resumed = env.install_backup(BackupRequest {
        dist: &opts.dist,
        users: opts.backup_users,
        business_data: opts.backup_business_data,
        code: &code,
    })?;
    if resumed {
        tracing::warn!(
            "resuming an interrupted install of {}: its preserved users and business data are reused",
            path.display()
        );
    }
    #[cfg(feature = "fault-injection")]
    if std::env::var_os(CRASH_AFTER_BACKUP_ENV).is_some() {
        // Simulated crash: no destructor runs (like kill -9).
        std::process::exit(137);
    }

    // Stage 3: load, restore, inventory; one transaction.
    let order = load_order(opts, &patches);
    let roots = desired
        .roots
        .iter()
        .map(|(r, d)| (r.clone(), &d.state))
        .collect();
    let loaded = env.install_load(&opts.dist, &order, &roots)?;
    modes.committed();
    // The change log describes changes since the last deployment: now empty.
    let log = opts.dist.join(&opts.change_log_name);
    if log.is_file() {
        crate::fsutil::write_atomic(&log, b"", None)?;
    }
    drop(modes);
    drop(lock);
    Ok(InstallReport {
        env: path.to_path_buf(),
        dist: opts.dist.clone(),
        resumed,
        files: patches.len(),
        operations: loaded.operations,
        roots: desired.roots.len(),
        users_restored: loaded.users_restored,
        business_instances_restored: loaded.business_instances_restored,
        relations_skipped: loaded.relations_skipped,
        instances: loaded.instances,
        relations: loaded.relations,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

/// The files in application order: modules in import order, each module's files in kind
/// order, then by path.
fn load_order<'a>(
    opts: &InstallSpec,
    patches: &'a [(String, FileKind, Patch, String)],
) -> Vec<LoadFile<'a>> {
    let mut modules: Vec<&String> = Vec::new();
    for (_, _, _, m) in patches {
        if modules.last() != Some(&m) {
            modules.push(m);
        }
    }
    let mut order = Vec::with_capacity(patches.len());
    for m in modules {
        let mut of_module: Vec<&(String, FileKind, Patch, String)> =
            patches.iter().filter(|x| &x.3 == m).collect();
        of_module.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        order.extend(of_module.into_iter().map(|(rel, _, p, _)| LoadFile {
            path: opts.dist.join(rel),
            module: m,
            patch: p,
        }));
    }
    order
}
