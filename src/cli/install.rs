//! `install`: arguments → [`InstallRequest`] → [`crate::steps::install::run`] → the
//! report (exit 0; every failure is an error, exit 1).

use super::{emit, parse_bool, GlobalArgs, Step};
use crate::ci::{Outputs, Stdout};
use crate::env::{InstallSpec, OrchestratorInstall, Secret};
use crate::steps::install::{self, InstallRequest};
use anyhow::Result;
use clap::Args;
use std::time::Duration;

/// `install`: reset an environment and load a built codeAsData folder.
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
    /// The version file's name in the codeAsData folder.
    #[arg(long = "versionFileName", default_value = "version.json")]
    pub version_file: String,
    /// The user whose password install sets.
    #[arg(long = "user.tag", env = "CADKIT_USER_TAG", default_value = crate::patch::tags::ADMIN_USER)]
    pub user_tag: String,
    /// That user's login name.
    #[arg(long = "user.name", env = "CADKIT_USER_NAME", default_value = "admin")]
    pub user_name: String,
    /// That user's password; prefer the variable.
    #[arg(
        long = "user.password",
        env = "CADKIT_USER_PASSWORD",
        hide_env_values = true,
        default_value = "admin"
    )]
    pub user_password: String,
}

impl InstallArgs {
    /// The library request: `--env` or the orchestrator options select the environment
    /// (both is an error); the `install` options only an orchestrator uses ride along.
    pub fn request(&self, global: &GlobalArgs) -> Result<InstallRequest> {
        let r = &self.remote_opts;
        Ok(InstallRequest {
            env: self.target.remote.selection(self.target.env.clone())?,
            dry_run: self.dry_run,
            spec: InstallSpec {
                dist: self.target.working_dir.clone(),
                backup_users: self.backup_users,
                backup_business_data: self.backup_business_data,
                change_log_name: self.change_log_name.clone(),
                lock_ttl: Duration::from_secs(self.lock_ttl),
                orchestrator: OrchestratorInstall {
                    running_in_docker: global.running_in_docker.unwrap_or(false),
                    ignore_relation_fail: r.ignore_relation_fail.unwrap_or(false),
                    debug: r.debug.unwrap_or(false),
                    snapshot: r.snapshot.request(),
                    version_file: r.version_file.clone(),
                    user_tag: r.user_tag.clone(),
                    user_name: r.user_name.clone(),
                    user_password: Secret::new(r.user_password.clone()),
                },
            },
        })
    }
}

impl Step for InstallArgs {
    /// The full install (see [`crate::steps::install`]); a dry run only validates the
    /// codeAsData folder.
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let req = self.request(global)?;
        let mut out = Outputs::detect().dry_run(req.dry_run);
        let report = install::run(&req, &mut out)?;
        emit(out, &report, global, Stdout::Report)?;
        Ok(0)
    }
}
