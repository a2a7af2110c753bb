//! `install`: reset the embedded environment and load a built `dist/codeAsData` folder.
//!
//! [`install`] is the plain load (reset + load in one transaction). The command runs the
//! full install of [`crate::update::install`]: lock, maintenance, preserved users and
//! business data, resumable, inventory for later updates (see docs/update.md).

use super::{parse_bool, GlobalArgs, Step};
use crate::env::{LoadReport, SqliteEnv};
use anyhow::Result;
use clap::Args;
use std::path::Path;

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
}

/// A dry-run install: read and validate every patch of `dist`, touch nothing.
fn plan_install(env: &Path, dist: &Path) -> Result<serde_json::Value> {
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
    Ok(serde_json::json!({
        "env": env,
        "dist": dist,
        "dryRun": true,
        "files": files.len(),
        "relations": relations,
    }))
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
    fn run(self, _global: &GlobalArgs) -> Result<i32> {
        if self.dry_run {
            let report = plan_install(&self.target.env, &self.target.working_dir)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(0);
        }
        let mut opts =
            crate::update::install::InstallOptions::new(&self.target.env, &self.target.working_dir);
        opts.backup_users = self.backup_users;
        opts.backup_business_data = self.backup_business_data;
        opts.change_log_name = self.change_log_name;
        opts.lock_ttl = std::time::Duration::from_secs(self.lock_ttl);
        let report = crate::update::install::install(&opts)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(0)
    }
}
