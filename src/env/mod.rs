//! Code-as-data environments: where a composition graph lives.
//!
//! One boundary (issue 9): `snapshot`, `update`, `install` and every environment command
//! talk to an environment only through [`Environment`], implemented by the embedded SQLite
//! file ([`SqliteEnv`], `sqlite/`) and by the orchestrator client
//! ([`orchestrator::Orchestrator`], the toolkit's AMQP + HTTP protocol). The CLI selects
//! one of them once ([`Selection`], carried in each step's request). No SQL exists
//! outside this folder (`boundary_tests` checks it).
//!
//! Each environment converges itself: [`Environment::update`] and
//! [`Environment::install`] take the same request for both ([`UpdateSpec`],
//! [`InstallSpec`]); the embedded engine is `sqlite/update.rs` and `sqlite/installer.rs`
//! (lock, modes, one transaction), the orchestrator's `orchestrator/update.rs` and
//! `orchestrator/deploy.rs` (the toolkit's command sequences). Both plan with the one
//! planner of [`crate::update`], which knows nothing of environments.
//!
//! # The embedded environment ([`SqliteEnv`])
//!
//! One SQLite file (default [`DEFAULT_ENV_PATH`]) holding the graph:
//!
//! | table | columns | purpose |
//! |---|---|---|
//! | `instances` | `tag TEXT PRIMARY KEY, props TEXT` (`WITHOUT ROWID`) | one row per instance; `props` is the compact JSON object of its properties |
//! | `relations` | `src, rel, dst` (`PRIMARY KEY(src, rel, dst)`, `WITHOUT ROWID`) + index `relations_by_dst(dst, rel, src)` | `src -rel-> dst`; both directions are index lookups |
//! | `blobs` | `tag TEXT PRIMARY KEY, data BLOB` | binary content of File instances (loaded from `<base>/<fileTag>` files beside the patches; written back by the dumper) |
//! | `meta` | `key TEXT PRIMARY KEY, value TEXT` | environment state (free-form keys; `update` adds locks/maintenance keys) |
//!
//! The schema version is `PRAGMA user_version` ([`sqlite::SCHEMA_VERSION`]); the file is in
//! WAL mode with a busy timeout, so readers never block the writer.
//!
//! `update` adds its tables (`cadkit_root`, `cadkit_owner`, `cadkit_file`, `cadkit_lock`,
//! `cadkit_backup`, `cadkit_credentials`: see [`sqlite::inventory`], [`sqlite::install`],
//! [`sqlite::lock`]).
//!
//! Public API (stable, used by `snapshot` and `update`):
//! - [`SqliteEnv::open`] (creates the folder and the schema), [`SqliteEnv::path`],
//!   [`SqliteEnv::counts`], [`SqliteEnv::apply`], [`SqliteEnv::has_instance`],
//!   [`SqliteEnv::meta_get`] / [`SqliteEnv::meta_set`] / [`SqliteEnv::meta_delete`],
//!   [`SqliteEnv::blob`] / [`SqliteEnv::put_blob`];
//! - [`SqliteEnv::load_dist`]: reset (optionally) and load a built `dist/codeAsData`
//!   folder in `import_order.json` order, in ONE transaction, every file validated first;
//! - [`SqliteEnv::apply_patches`]: apply already-read patches in application order in one
//!   transaction;
//! - [`apply_ops`]: apply operations inside a caller's transaction with the toolkit's
//!   semantics (the same as [`crate::graph::Graph::apply`]);
//! - [`SqliteEnv::begin_update`], [`SqliteEnv::current`], [`SqliteEnv::preload`]: the
//!   update's transaction and the planner's views;
//! - [`SqliteEnv::install_backup`] / [`SqliteEnv::install_load`]: the stages of `install`;
//! - [`SqliteEnv::modes`] / [`SqliteEnv::set_modes`] and the environment commands
//!   ([`SqliteEnv::stats`], [`SqliteEnv::check`], [`SqliteEnv::start_gc`], …);
//! - [`Environment`] for `SqliteEnv`;
//! - [`SqliteEnv::conn`] / [`SqliteEnv::conn_mut`]: the raw connection, for integration
//!   tests and benchmarks only.
//!
//! # Load order
//!
//! Kinds are ordered **per module**: module by module in `import_order.json` order, and
//! within a module all `delRel` files, then `delInst`, `newInst`, `updateInst`, `newRel`
//! (files sorted by their path relative to the module folder within a kind). That is what
//! the orchestrator does (it imports the modules one after the other). Operations and
//! `optionalOperations` of a file are applied together (the latter carry the hierarchy
//! relations that exist nowhere else). Loading the runtime then Core gives the same graph
//! with per-module or global kind ordering (tested).

#[cfg(test)]
mod boundary_tests;
mod deployment;
pub mod orchestrator;
mod selection;
pub mod sqlite;

pub use deployment::{
    InstallOutcome, InstallSpec, OrchestratorInstall, UpdateOutcome, UpdateSpec,
    DEFAULT_USER_PASSWORD,
};
pub use selection::{connect, Selection};

pub use sqlite::{apply_ops, LoadReport, ModuleLoad, SqliteEnv, DEFAULT_ENV_PATH};

pub use orchestrator::{EnvironmentInfo, Secret};

use crate::graph::Graph;
use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// Errors of the environment boundary that callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A command only an orchestrator has (its cache, backup area or backup folders),
    /// asked of the embedded environment.
    #[error("`{command}` needs an orchestrator (--bus.* / --orchestrator.* or RABBITMQ_* / ORCHESTRATOR_* variables); {location} is an embedded environment{why}")]
    OrchestratorOnly {
        /// The environment command as the user typed it (e.g. `clearGraphDefCache`).
        command: String,
        /// Where the embedded environment lives (its SQLite file path), so the message
        /// says which file was selected instead of an orchestrator.
        location: String,
        /// Why the embedded environment does not need it (may be empty), `, …`.
        why: String,
    },
    /// Both an embedded file and orchestrator settings were given: cadkit never guesses
    /// which one a pipeline meant.
    #[error("both an embedded environment (--env / CADKIT_ENV = {location}) and orchestrator settings (--bus.* / --orchestrator.* or RABBITMQ_* / ORCHESTRATOR_* variables) were given: keep only one")]
    BothSelected {
        /// The embedded file given.
        location: String,
    },
}

/// A place holding a composition graph: the embedded SQLite file ([`SqliteEnv`]) or an
/// orchestrator ([`orchestrator::Orchestrator`]). `snapshot` and the toolkit's environment
/// commands only see this trait, so the CLI selects the environment once and every command
/// runs the same code on both.
///
/// The command methods return the JSON result cadkit prints, with `environment` naming
/// the environment used ([`Environment::info`], never credentials).
pub trait Environment {
    /// A human-readable name for logs and reports (never containing credentials).
    fn describe(&self) -> String;
    /// Which environment, for reports: its kind and location, never credentials.
    fn info(&self) -> EnvironmentInfo;
    /// The whole graph, as the dumper and the diff read it.
    fn graph(&self) -> Result<Graph>;
    /// The binary content of a File instance (what the dumper writes beside its item),
    /// `None` when the environment does not hold it.
    fn blob(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        let _ = tag;
        Ok(None)
    }
    /// The contents of many File instances (those the environment holds); remote
    /// environments fetch them in parallel.
    fn blobs(&self, tags: &[String]) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
        let mut out = std::collections::BTreeMap::new();
        for t in tags {
            if let Some(b) = self.blob(t)? {
                out.insert(t.clone(), b);
            }
        }
        Ok(out)
    }
    /// `maintenance on|off`: an orchestrator gets the deployment message and is waited for
    /// until its (maintenance) gateway answers; the embedded environment records the mode
    /// in `meta` and reports it before and after.
    fn maintenance(&self, on: bool) -> Result<Value>;
    /// `codeAsDataReadMode true|false`: the mode a `noDowntime` update runs in instead of
    /// maintenance, the environment staying up (sent without the role suffix, as in the
    /// toolkit; the embedded environment records the mode in `meta`).
    fn read_mode(&self, on: bool) -> Result<Value>;
    /// `broadcastRefreshApp`: connected clients reload the application.
    fn broadcast_refresh(&self) -> Result<Value>;
    /// `updateUser`: a user's login name and password (the password is never reported).
    fn update_user(&self, tag: &str, name: &str, password: &str) -> Result<Value>;
    /// `startGC`: an orchestrator gets it with the `fileSvc` and `backupSvc` flags, as the
    /// toolkit's command sends it; the embedded environment checkpoints its WAL and
    /// compacts the file when a tenth of its pages are free.
    fn start_gc(&self) -> Result<Value>;
    /// `statsDB`: the orchestrator's result lines, or the embedded counts per model and
    /// relation type, deployed roots and file size.
    fn stats_db(&self) -> Result<Value>;
    /// `checkDB`: `ok` false when the environment is incoherent (the command exits 1).
    fn check_db(&self) -> Result<Value>;
    /// `isDbInitialized`: the admin user and "Olympe Libraries" exist.
    fn is_initialised(&self) -> Result<bool>;
    /// `getUpgradeConfig`: the toolkit's array (deployed vs required Draw version). The
    /// required version is read from `version_file` in the patches the environment deploys
    /// from: `working_dir` for the embedded one, its own patches folder for an orchestrator.
    fn upgrade_config(&self, working_dir: &Path, version_file: &str) -> Result<Value>;
    /// `clearGraphDefCache`: `startGC` with only its `graphDefCache` flag set (the
    /// embedded environment has no such cache and reports nothing cleared).
    fn clear_graphdef_cache(&self) -> Result<Value>;
    /// `update`: converge the environment to `spec.dist` with the minimal change (or only
    /// plan it), all or nothing, its mode switched back on every path. The embedded
    /// environment applies the plan in one transaction under its lock; an orchestrator
    /// gets the toolkit's diff files and commands, rolled back to the last patch backup
    /// when the load fails (reported in [`UpdateOutcome::failure`], not an error).
    fn update(&mut self, spec: &UpdateSpec) -> Result<UpdateOutcome>;
    /// `install`: reset the environment and load `spec.dist`, preserving users and
    /// business data when asked. The embedded install resumes after a crash from its
    /// recorded backup; an orchestrator's follows the toolkit's sequence.
    fn install(&mut self, spec: &InstallSpec) -> Result<InstallOutcome>;
}

/// `v` with `environment` set to `info` (the embedded results are computed without it).
pub fn with_info(mut v: Value, info: &EnvironmentInfo) -> Result<Value> {
    if let Some(m) = v.as_object_mut() {
        m.insert("environment".into(), serde_json::to_value(info)?);
    }
    Ok(v)
}
