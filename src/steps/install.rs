//! `install`: reset an environment (embedded or orchestrator) and load a built
//! `dist/codeAsData` folder into it. [`run`] picks the engine from the request's
//! [`Selection`]: the full install of [`crate::update::install`] on the embedded file
//! (lock, maintenance, preserved users and business data, resumable, inventory for later
//! updates; see docs/update.md) or [`crate::env::orchestrator::deploy::install`] on an
//! orchestrator. A dry run only validates the folder ([`plan`]). [`load`] is the plain
//! load (reset + load in one transaction) that tests and fixtures use.

use crate::ci::Outputs;
use crate::env::orchestrator::backup::SnapshotRequest;
use crate::env::orchestrator::deploy::{self, RemoteInstall, RemoteInstallReport};
use crate::env::{LoadReport, Selection, SqliteEnv};
use crate::update::install::{InstallOptions, InstallReport};
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to install, and how, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The environment to reset and load.
    pub env: Selection,
    /// The built codeAsData folder (holding `import_order.json`).
    pub dist: PathBuf,
    /// Validate the folder and report what would be loaded; write nothing (nothing is
    /// sent to an orchestrator, no embedded environment is created).
    pub dry_run: bool,
    /// Preserve the users (User instances except admin and guest) across the reset.
    pub backup_users: bool,
    /// Preserve the business data across the reset.
    pub backup_business_data: bool,
    /// The change log's file name in the codeAsData folder (emptied after the install).
    pub change_log_name: String,
    /// Age after which the embedded environment's lock expires even if its holder seems
    /// alive.
    pub lock_ttl: Duration,
    /// What only an orchestrator uses.
    pub orchestrator: OrchestratorInstall,
}

/// The `install` options only an orchestrator uses: the embedded install keeps its users
/// and business data in place and needs no admin password.
#[derive(Debug, Clone)]
pub struct OrchestratorInstall {
    /// Running inside the orchestrator's container: the folder is already in place, it is
    /// not uploaded.
    pub running_in_docker: bool,
    /// Do not fail the orchestrator's load on relations to missing instances.
    pub ignore_relation_fail: bool,
    /// Verbose import on the orchestrator.
    pub debug: bool,
    /// Where users and business data are dumped before the reset, and the backup-area
    /// folders they are reloaded from.
    pub snapshot: SnapshotRequest,
    /// The version file's name in the codeAsData folder.
    pub version_file: String,
    /// The user whose password install sets.
    pub user_tag: String,
    /// That user's login name.
    pub user_name: String,
    /// That user's password (redacted from everything printed unless it is the toolkit's
    /// default `admin`).
    pub user_password: String,
}

/// What a dry-run install would load (nothing is written, no environment created).
#[derive(Debug, Serialize, JsonSchema)]
pub struct InstallPlan {
    /// The environment that would be reset (a file, or an orchestrator's description).
    pub env: PathBuf,
    /// The codeAsData folder validated.
    pub dist: PathBuf,
    /// Patch files that would be loaded.
    pub files: usize,
    /// Relations they hold.
    pub relations: usize,
}

/// The report of `install`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum InstallStepReport {
    /// Installed into the embedded environment.
    Embedded(InstallReport),
    /// A dry run: what would be loaded.
    Planned(InstallPlan),
    /// Installed on an orchestrator.
    Orchestrator(Box<RemoteInstallReport>),
}

impl InstallStepReport {
    /// CI outputs: `files` loaded (or that would be).
    pub fn outputs(&self, out: &mut Outputs) -> Result<()> {
        let files = match self {
            InstallStepReport::Embedded(r) => r.files,
            InstallStepReport::Planned(p) => p.files,
            InstallStepReport::Orchestrator(r) => r.uploaded_files,
        };
        out.set("files", &files.to_string())
    }
}

/// Run `install` on the selected environment (or only validate the folder under a dry
/// run) and set the CI outputs on `out`.
pub fn run(req: &InstallRequest, out: &mut Outputs) -> Result<InstallStepReport> {
    let report = if req.dry_run {
        let name = match &req.env {
            Selection::Embedded(path) => path.clone(),
            Selection::Orchestrator(_) => PathBuf::from(req.env.describe()),
        };
        InstallStepReport::Planned(plan(&name, &req.dist)?)
    } else {
        match &req.env {
            Selection::Embedded(path) => {
                let mut opts = InstallOptions::new(path, &req.dist);
                opts.backup_users = req.backup_users;
                opts.backup_business_data = req.backup_business_data;
                opts.change_log_name = req.change_log_name.clone();
                opts.lock_ttl = req.lock_ttl;
                InstallStepReport::Embedded(crate::update::install::install(&opts)?)
            }
            Selection::Orchestrator(cfg) => {
                let o = crate::env::connect(cfg)?;
                let report = deploy::install(&o, &remote_install(req))?;
                InstallStepReport::Orchestrator(Box::new(report))
            }
        }
    };
    report.outputs(out)?;
    Ok(report)
}

/// The orchestrator's install request. Its admin password is registered as a secret
/// first, so no report or log shows it (the toolkit's default `admin` excepted: it is no
/// secret, and redacting it would garble every `admin` in the report).
fn remote_install(req: &InstallRequest) -> RemoteInstall {
    let r = &req.orchestrator;
    if r.user_password != "admin" {
        crate::ci::register_secret(&r.user_password);
    }
    RemoteInstall {
        working_dir: req.dist.clone(),
        running_in_docker: r.running_in_docker,
        ignore_relation_fail: r.ignore_relation_fail,
        debug: r.debug,
        backup_users: req.backup_users,
        backup_business_data: req.backup_business_data,
        snapshot: r.snapshot.clone(),
        change_log_name: req.change_log_name.clone(),
        version_file: r.version_file.clone(),
        user_tag: r.user_tag.clone(),
        user_name: r.user_name.clone(),
        user_password: r.user_password.clone(),
    }
}

/// A dry-run install: read and validate every patch of `dist`, touch nothing. `env`
/// only names the environment that would be reset.
pub fn plan(env: &Path, dist: &Path) -> Result<InstallPlan> {
    let order = dist.join("import_order.json");
    let text = std::fs::read(&order)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", order.display()))?;
    serde_json::from_slice::<serde_json::Value>(&text)
        .map_err(|e| crate::ci::FileError::json(&order, &e))?;
    let files = crate::update::desired::list_files(dist)?;
    let desired = crate::update::desired::DesiredState::load(dist)?;
    let relations = desired.relations().len();
    tracing::info!(
        "dry run: would reset {} and load {} files of {}",
        env.display(),
        files.len(),
        dist.display()
    );
    Ok(InstallPlan {
        env: env.to_path_buf(),
        dist: dist.to_path_buf(),
        files: files.len(),
        relations,
    })
}

/// Reset the embedded environment at `env` and load `dist` into it (one transaction),
/// without the install's lock, backups or inventory: the plain load fixtures use.
pub fn load(env: &Path, dist: &Path) -> Result<LoadReport> {
    let mut e = SqliteEnv::open(env)?;
    let report = e.load_dist(dist, true)?;
    tracing::info!(
        "installed {} files ({} operations) of {} modules into {}: {} instances, {} relations in {} ms",
        report.files,
        report.operations,
        report.modules.len(),
        env.display(),
        report.instances,
        report.relations,
        report.duration_ms
    );
    Ok(report)
}
