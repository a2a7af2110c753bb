//! `install`: reset an environment (embedded or orchestrator) and load a built
//! `dist/codeAsData` folder into it. [`run`] opens the request's [`Selection`] and calls
//! [`Environment::install`](crate::env::Environment::install): on the embedded file the
//! full install of [`crate::env::sqlite::installer`] (lock, maintenance, preserved users
//! and business data, resumable, inventory for later updates; see docs/update.md), on an
//! orchestrator the toolkit's sequence of [`crate::env::orchestrator::deploy`]. A dry run only validates the folder ([`plan`]). [`load`] is the plain
//! load (reset + load in one transaction) that tests and fixtures use.

use crate::ci::Outputs;
use crate::env::orchestrator::deploy::RemoteInstallReport;
use crate::env::sqlite::installer::InstallReport;
use crate::env::{InstallOutcome, InstallSpec, LoadReport, Selection, SqliteEnv};
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to install, and how, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The environment to reset and load.
    pub env: Selection,
    /// Validate the folder and report what would be loaded; write nothing (nothing is
    /// sent to an orchestrator, no embedded environment is created).
    pub dry_run: bool,
    /// The folder and the options, the same for both kinds of environment.
    pub spec: InstallSpec,
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

/// Run `install` on the selected environment through
/// [`Environment::install`](crate::env::Environment::install) (or only validate the
/// folder under a dry run) and set the CI outputs on `out`. The orchestrator's admin
/// password is registered as a secret first, so no report or log shows it (the toolkit's
/// default `admin` excepted: it is no secret, and redacting it would garble every `admin`
/// in the report).
pub fn run(req: &InstallRequest, out: &mut Outputs) -> Result<InstallStepReport> {
    let report = if req.dry_run {
        let name = match &req.env {
            Selection::Embedded(path) => path.clone(),
            Selection::Orchestrator(_) => PathBuf::from(req.env.describe()),
        };
        InstallStepReport::Planned(plan(&name, &req.spec.dist)?)
    } else {
        super::register_user_password(req.spec.orchestrator.user_password.expose());
        match req.env.open()?.install(&req.spec)? {
            InstallOutcome::Embedded(r) => InstallStepReport::Embedded(r),
            InstallOutcome::Orchestrator(r) => InstallStepReport::Orchestrator(r),
        }
    };
    report.outputs(out)?;
    Ok(report)
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
