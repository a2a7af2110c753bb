//! `install`: reset the embedded environment and load a built `dist/codeAsData` folder.
//!
//! [`install`] is the plain load (reset + load in one transaction). The command runs the
//! full install of [`crate::update::install`]: lock, maintenance, preserved users and
//! business data, resumable, inventory for later updates (see docs/update.md).

use super::bus::{select, Target};
use super::{emit, parse_bool, GlobalArgs, Step};
use crate::ci::{Outputs, Stdout};
use crate::env::orchestrator::{deploy, Orchestrator};
use crate::env::{LoadReport, SqliteEnv};
use crate::steps::update::{InstallPlan, InstallStepReport};
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The environment and the built codeAsData folder.
    #[command(flatten)]
    pub target: super::EnvTarget,
    /// Preserve the users (User instances except admin and guest) across the reset.
    #[arg(long = "import.backupUsers", alias = "import-backup-users", env = "CADKIT_IMPORT_BACKUP_USERS", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub backup_users: bool,
    /// Preserve the business data across the reset.
    #[arg(long = "import.backupBusinessData", alias = "import-backup-business-data", env = "CADKIT_IMPORT_BACKUP_BUSINESS_DATA", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub backup_business_data: bool,
    /// The change log's file name in the codeAsData folder (emptied after the install).
    #[arg(
        long = "update.changeLogName",
        alias = "update-change-log-name",
        default_value = "change_log.txt"
    )]
    pub change_log_name: String,
    /// Seconds after which a lock expires even if its holder seems alive.
    #[arg(
        long = "update.lockTtl",
        alias = "update-lock-ttl",
        default_value_t = 3600
    )]
    pub lock_ttl: u64,
    /// Validate the codeAsData folder and report what would be loaded; write nothing (the
    /// environment is not even created). `CADKIT_DRY_RUN` is what a pipeline's dry run sets.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
    /// Options used against an orchestrator.
    #[command(flatten)]
    pub remote_opts: RemoteInstallArgs,
}

/// A dry-run install: read and validate every patch of `dist`, touch nothing.
fn plan_install(env: &Path, dist: &Path) -> Result<InstallPlan> {
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

/// `install` options that only an orchestrator uses (the embedded install keeps its
/// users and business data in place and needs no admin password).
#[derive(Debug, Args)]
pub struct RemoteInstallArgs {
    /// Do not fail the orchestrator's load on relations to missing instances.
    #[arg(long = "import.ignoreRelationFail", env = "CADKIT_IMPORT_IGNORE_RELATION_FAIL", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub ignore_relation_fail: Option<bool>,
    /// Verbose import on the orchestrator.
    #[arg(long = "import.debug", env = "LOAD_PATCHES_DEBUG", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub debug: Option<bool>,
    /// Where users and business data are dumped before the reset, and the backup-area
    /// folders they are reloaded from.
    #[command(flatten)]
    pub snapshot: super::backup::SnapshotDataArgs,
    #[arg(long = "versionFileName", default_value = "version.json")]
    pub version_file: String,
    /// The user whose password install sets.
    #[arg(long = "user.tag", env = "CADKIT_USER_TAG", default_value = crate::patch::tags::ADMIN_USER)]
    pub user_tag: String,
    #[arg(long = "user.name", env = "CADKIT_USER_NAME", default_value = "admin")]
    pub user_name: String,
    #[arg(
        long = "user.password",
        env = "CADKIT_USER_PASSWORD",
        hide_env_values = true,
        default_value = "admin"
    )]
    pub user_password: String,
}

/// Reset the environment at `env` and load `dist` into it (one transaction).
pub fn install(env: &Path, dist: &Path) -> Result<LoadReport> {
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

impl Step for InstallArgs {
    /// The full install: lock, maintenance, preserved users and business data, resumable
    /// (see [`crate::update::install`]).
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let target = select(self.target.env.clone(), &self.target.remote)?;
        if self.dry_run {
            // Validate the codeAsData folder only: nothing is sent to an orchestrator and
            // no embedded environment is created.
            let name = match &target {
                Target::Embedded(p) => p.clone(),
                Target::Orchestrator(o) => {
                    use crate::env::Environment;
                    PathBuf::from(o.describe())
                }
            };
            let report = plan_install(&name, &self.target.working_dir)?;
            return finish(&InstallStepReport::Planned(report), true, global);
        }
        let env = match target {
            Target::Embedded(p) => p,
            Target::Orchestrator(o) => return self.run_remote(&o, global),
        };
        let mut opts = crate::update::install::InstallOptions::new(&env, &self.target.working_dir);
        opts.backup_users = self.backup_users;
        opts.backup_business_data = self.backup_business_data;
        opts.change_log_name = self.change_log_name;
        opts.lock_ttl = std::time::Duration::from_secs(self.lock_ttl);
        let report = crate::update::install::install(&opts)?;
        finish(&InstallStepReport::Embedded(report), false, global)
    }
}

impl InstallArgs {
    fn run_remote(&self, o: &Orchestrator, global: &GlobalArgs) -> Result<i32> {
        let r = &self.remote_opts;
        let req = deploy::RemoteInstall {
            working_dir: self.target.working_dir.clone(),
            running_in_docker: global.running_in_docker.unwrap_or(false),
            ignore_relation_fail: r.ignore_relation_fail.unwrap_or(false),
            debug: r.debug.unwrap_or(false),
            backup_users: self.backup_users,
            backup_business_data: self.backup_business_data,
            snapshot: r.snapshot.request(),
            change_log_name: self.change_log_name.clone(),
            version_file: r.version_file.clone(),
            user_tag: r.user_tag.clone(),
            user_name: r.user_name.clone(),
            user_password: r.user_password.clone(),
        };
        // Redacted from everything printed (the toolkit's default `admin` excepted: it is
        // no secret, and redacting it would garble every `admin` in the report).
        if req.user_password != "admin" {
            crate::ci::register_secret(&req.user_password);
        }
        let report = deploy::install(o, &req)?;
        finish(
            &InstallStepReport::Orchestrator(Box::new(report)),
            false,
            global,
        )
    }
}

/// The report through the one output path (CI outputs, report file, `--report`).
fn finish(report: &InstallStepReport, dry_run: bool, global: &GlobalArgs) -> Result<i32> {
    let mut out = Outputs::detect().dry_run(dry_run);
    report.outputs(&mut out)?;
    emit(out, report, global, Stdout::Report)?;
    Ok(0)
}
