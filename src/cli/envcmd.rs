//! The environment commands of the toolkit, on the embedded environment (`--env`) or on
//! an orchestrator (`--bus.*` / `--orchestrator.*`, see [`super::bus`]): arguments →
//! [`EnvRequest`] → [`crate::steps::envcmd::run`] → a JSON report naming the environment
//! used, through the one output path ([`super::emit`]: report file, CI outputs,
//! redaction, `--report`).

use super::bus::RemoteArgs;
use super::{emit, GlobalArgs, Step};
use crate::ci::{Outputs, Stdout};
use crate::env::sqlite::envcmd::parse_switch;
use crate::env::{Secret, Selection};
use crate::steps::envcmd::{self, EnvCommand, EnvRequest};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `--env` or the orchestrator settings, shared by every environment command.
#[derive(Debug, Args)]
pub struct EnvArg {
    /// The embedded environment (an SQLite file; default .cadkit/env.sqlite).
    #[arg(long = "env", env = "CADKIT_ENV")]
    pub env: Option<PathBuf>,
    /// Or an orchestrator (`--bus.*` / `--orchestrator.*`, `RABBITMQ_*` / `ORCHESTRATOR_*`).
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl EnvArg {
    /// The selected environment (chosen once, [`RemoteArgs::selection`]).
    fn selection(&self) -> Result<Selection> {
        self.remote.selection(self.env.clone())
    }

    /// Run `command` on the selected environment through [`envcmd::run`] (under
    /// `CADKIT_DRY_RUN`, a writing command only says what it would do), hand its report
    /// to the one output path, and return its exit code.
    pub fn run(&self, command: EnvCommand, g: &GlobalArgs) -> Result<i32> {
        let req = EnvRequest {
            env: self.selection()?,
            dry_run: super::dry_run_from_env() && command.writes(),
            command,
        };
        let mut out = Outputs::detect().dry_run(req.dry_run);
        let report = envcmd::run(&req, &mut out)?;
        let stdout = match report.toolkit_stdout()? {
            Some(text) => Stdout::Text(text),
            None => Stdout::Report,
        };
        emit(out, &report, g, stdout)?;
        Ok(report.exit_code())
    }
}

/// `maintenance on|off`: switch maintenance mode of the selected environment.
#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// on or off (true/false, 1/0); anything else is an error.
    #[arg(value_parser = parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    /// The environment switched.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for MaintenanceArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::Maintenance(self.activate), g)
    }
}

/// `codeAsDataReadMode on|off`: switch code-as-data read-only mode.
#[derive(Debug, Args)]
pub struct ReadModeArgs {
    /// true or false (on/off, 1/0); anything else is an error.
    #[arg(value_parser = parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    /// The environment switched.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for ReadModeArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::ReadMode(self.activate), g)
    }
}

/// `broadcastRefreshApp`: tell connected clients to reload the application.
#[derive(Debug, Args)]
pub struct BroadcastRefreshArgs {
    /// The environment whose clients reload.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for BroadcastRefreshArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::BroadcastRefresh, g)
    }
}

/// `updateUser`: set a user's login name and password.
#[derive(Debug, Args)]
pub struct UpdateUserArgs {
    /// The environment holding the user.
    #[command(flatten)]
    pub env: EnvArg,
    /// The user's tag.
    #[arg(long = "user.tag", alias = "user-tag", env = "CADKIT_USER_TAG", default_value = crate::patch::tags::ADMIN_USER)]
    pub tag: String,
    /// The login name.
    #[arg(
        long = "user.name",
        alias = "user-name",
        env = "CADKIT_USER_NAME",
        default_value = "admin"
    )]
    pub name: String,
    /// The new password (prefer the environment variable CADKIT_USER_PASSWORD / DRAW_PASSWORD);
    /// the toolkit's default `admin` when neither is set, with a warning.
    #[arg(
        long = "user.password",
        alias = "user-password",
        env = "CADKIT_USER_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
}

impl Step for UpdateUserArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let command = EnvCommand::UpdateUser {
            tag: self.tag,
            name: self.name,
            password: self.password.map(Secret::new),
        };
        self.env.run(command, g)
    }
}

/// `startGC`: checkpoint and compact the environment's database.
#[derive(Debug, Args)]
pub struct StartGcArgs {
    /// The environment compacted.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for StartGcArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::StartGc, g)
    }
}

/// `statsDB`: instance and relation counts of the environment.
#[derive(Debug, Args)]
pub struct StatsDbArgs {
    /// The environment counted.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for StatsDbArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::StatsDb, g)
    }
}

/// `checkDB`: referential integrity of the environment (exit 1 when incoherent).
#[derive(Debug, Args)]
pub struct CheckDbArgs {
    /// The environment checked.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for CheckDbArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::CheckDb, g)
    }
}

/// `isDbInitialized`: whether the environment holds the admin user and Olympe
/// Libraries (the toolkit's `true`/`false` on stdout).
#[derive(Debug, Args)]
pub struct IsDbInitializedArgs {
    /// The environment asked.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for IsDbInitializedArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::IsDbInitialized, g)
    }
}

/// `getUpgradeConfig`: the Draw version deployed vs the one the codeAsData folder
/// requires.
#[derive(Debug, Args)]
pub struct UpgradeConfigArgs {
    /// The environment asked.
    #[command(flatten)]
    pub env: EnvArg,
    /// The built codeAsData folder (holding version.json).
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: PathBuf,
    /// The version file's name in the codeAsData folder (its drawVersion is the version
    /// required).
    #[arg(
        long = "versionFileName",
        alias = "version-file-name",
        default_value = "version.json"
    )]
    pub version_file: String,
}

impl Step for UpgradeConfigArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let command = EnvCommand::UpgradeConfig {
            working_dir: self.working_dir,
            version_file: self.version_file,
        };
        self.env.run(command, g)
    }
}

/// `clearGraphDefCache`: clear the orchestrator's graphDef cache (nothing to clear on
/// the embedded environment).
#[derive(Debug, Args)]
pub struct ClearGraphDefCacheArgs {
    /// The environment whose cache is cleared.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for ClearGraphDefCacheArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::ClearGraphDefCache, g)
    }
}

/// `createPatchesBackup`: zip the orchestrator's patches into its backup area, the
/// rollback point of a later install.
#[derive(Debug, Args)]
pub struct CreatePatchesBackupArgs {
    /// The orchestrator (the embedded environment has no backup area).
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for CreatePatchesBackupArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.env.run(EnvCommand::CreatePatchesBackup, g)
    }
}

/// `restoreUsers` and `restoreBusinessData`: load the backup folder, merging.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The orchestrator (the embedded environment keeps its users and data in place).
    #[command(flatten)]
    pub env: EnvArg,
    /// The backup folders of users and business data.
    #[command(flatten)]
    pub folders: super::bus::BackupFoldersArgs,
    /// Verbose import on the orchestrator.
    #[arg(long = "import.debug", env = "LOAD_PATCHES_DEBUG", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub debug: Option<bool>,
}

impl RestoreArgs {
    /// Run `restoreBusinessData` (`business`) or `restoreUsers`: the orchestrator loads
    /// the backup-area folder, merging; the report names the folder and the environment.
    pub fn run_restore(self, business: bool, g: &GlobalArgs) -> Result<i32> {
        let folder = if business {
            self.folders.business_data_dir
        } else {
            self.folders.users_dir
        };
        let command = EnvCommand::Restore {
            business,
            folder,
            debug: self.debug.unwrap_or(false),
        };
        self.env.run(command, g)
    }
}
