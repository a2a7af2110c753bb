//! The environment commands of the toolkit, on the embedded environment (`--env`) or on
//! an orchestrator (`--bus.*` / `--orchestrator.*`, see [`super::bus`]); each prints a
//! JSON report naming the environment used, through the one output path
//! ([`super::emit`]: report file, CI outputs, redaction, `--report`).

use super::bus::RemoteArgs;
use super::{emit, GlobalArgs, Step};
use crate::ci::{Outputs, Stdout};
use crate::env::orchestrator::{commands as remote, Orchestrator};
use crate::env::sqlite::envcmd;
use crate::env::Environment;
use crate::steps::envcmd::{self as reports, EnvReport};
use anyhow::Result;
use clap::Args;
use serde::{de::DeserializeOwned, Serialize};
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
    /// The selected environment (chosen once, [`RemoteArgs::selection`]); its results
    /// name it (never with credentials).
    pub fn environment(&self) -> Result<Box<dyn Environment>> {
        self.remote.selection(self.env.clone())?.open()
    }

    /// The orchestrator, for a command only an orchestrator has (the embedded environment
    /// is not touched).
    pub fn orchestrator(&self, command: &str, why: &str) -> Result<Box<Orchestrator>> {
        self.remote
            .selection(self.env.clone())?
            .orchestrator_only(command, why)
    }

    /// Run `command` on the selected environment: its typed report, in the embedded or the
    /// orchestrator shape (both name the environment, never with credentials).
    fn run<E, O>(
        &self,
        command: impl FnOnce(&dyn Environment) -> Result<serde_json::Value>,
    ) -> Result<EnvReport<E, O>>
    where
        E: Serialize + DeserializeOwned,
        O: Serialize + DeserializeOwned,
    {
        let env = self.environment()?;
        let value = command(env.as_ref())?;
        if env.info().kind == "embedded" {
            Ok(EnvReport::Embedded(reports::typed(value)?))
        } else {
            reports::remote(value)
        }
    }
}

/// Azure's output commands go to stdout: commands whose stdout is a value pipelines read
/// (`isDbInitialized`, `getUpgradeConfig`) set no output there.
fn shares_stdout(out: &Outputs) -> bool {
    out.platform() == crate::ci::Platform::Azure
}

/// The report of an environment command, printed unless `--report none`.
fn print<R: Serialize>(out: Outputs, report: &R, g: &GlobalArgs) -> Result<()> {
    emit(out, report, g, Stdout::Report)
}

/// `maintenance on|off`: switch maintenance mode of the selected environment.
#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// on or off (true/false, 1/0); anything else is an error.
    #[arg(value_parser = envcmd::parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    /// The environment switched.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for MaintenanceArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let on = self.activate;
        let report: reports::ModesReport = self.env.run(|e| e.maintenance(on))?;
        let mut out = Outputs::detect();
        out.set("maintenance", if on { "on" } else { "off" })?;
        print(out, &report, g)?;
        Ok(0)
    }
}

/// `codeAsDataReadMode on|off`: switch code-as-data read-only mode.
#[derive(Debug, Args)]
pub struct ReadModeArgs {
    /// true or false (on/off, 1/0); anything else is an error.
    #[arg(value_parser = envcmd::parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    /// The environment switched.
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for ReadModeArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let on = self.activate;
        let report: reports::ModesReport = self.env.run(|e| e.read_mode(on))?;
        let mut out = Outputs::detect();
        out.set("read-mode", &on.to_string())?;
        print(out, &report, g)?;
        Ok(0)
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
        let report: reports::BroadcastRefreshReport = self.env.run(|e| e.broadcast_refresh())?;
        print(Outputs::detect(), &report, g)?;
        Ok(0)
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

/// The toolkit's default of `--user.password` (`DRAW_PASSWORD`).
const DEFAULT_USER_PASSWORD: &str = "admin";

impl Step for UpdateUserArgs {
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let password = self.password.clone().unwrap_or_else(|| {
            tracing::warn!(
                "no --user.password, CADKIT_USER_PASSWORD or DRAW_PASSWORD: setting the toolkit's default password (admin)"
            );
            DEFAULT_USER_PASSWORD.to_string()
        });
        // Redacted from everything printed (no `::add-mask::` line: the line itself would
        // show the password in raw logs; CI secrets are masked by the runner already).
        // The toolkit's default `admin` is no secret (and redacting it would garble the
        // user name).
        if password != DEFAULT_USER_PASSWORD {
            crate::ci::register_secret(&password);
        }
        let (t, n, p) = (&self.tag, &self.name, &password);
        let report: reports::UpdateUserReport = self.env.run(|e| e.update_user(t, n, p))?;
        print(Outputs::detect(), &report, g)?;
        Ok(0)
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
        let report: reports::StartGcReport = self.env.run(|e| e.start_gc())?;
        print(Outputs::detect(), &report, g)?;
        Ok(0)
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
        let report: reports::StatsDbReport = self.env.run(|e| e.stats_db())?;
        let mut out = Outputs::detect();
        if let EnvReport::Embedded(e) = &report {
            out.set("instances", &e.result.instances.to_string())?;
            out.set("relations", &e.result.relations.to_string())?;
        }
        print(out, &report, g)?;
        Ok(0)
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
    /// Exit 1 when the environment is incoherent (the JSON says why).
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let report: reports::CheckDbReport = self.env.run(|e| e.check_db())?;
        let mut out = Outputs::detect();
        out.set("ok", &report.ok().to_string())?;
        print(out, &report, g)?;
        Ok(if report.ok() { 0 } else { 1 })
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
    /// The toolkit's `true`/`false` on stdout; cadkit's report only with `--report json`.
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let env = self.env.environment()?;
        let report = reports::IsDbInitializedReport {
            initialized: env.is_initialised()?,
            environment: reports::typed(serde_json::to_value(env.info())?)?,
        };
        let mut out = Outputs::detect();
        if !shares_stdout(&out) {
            out.set("initialized", &report.initialized.to_string())?;
        }
        let toolkit = Stdout::Text(report.initialized.to_string());
        emit(out, &report, g, toolkit)?;
        Ok(0)
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
    /// The toolkit's bytes on stdout (one compact JSON line, for the pipeline to read);
    /// cadkit's report only with `--report json`.
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        let (w, f) = (&self.working_dir, &self.version_file);
        let config = self.env.environment()?.upgrade_config(w, f)?;
        let compact = serde_json::to_string(&config)?;
        let report: reports::UpgradeConfigReport =
            reports::typed(serde_json::json!({ "upgradeConfig": config }))?;
        let mut out = Outputs::detect();
        if !shares_stdout(&out) {
            out.set("upgrade-config", &compact)?;
        }
        emit(out, &report, g, Stdout::Text(compact))?;
        Ok(0)
    }
}

impl EnvArg {
    /// Run a command that exists for orchestrators only (an embedded environment has no
    /// backup area): a clear error on an embedded environment, which is not touched.
    fn run_remote<R: Serialize + DeserializeOwned>(
        &self,
        command: &str,
        orchestrator: impl FnOnce(&Orchestrator) -> Result<serde_json::Value>,
    ) -> Result<R> {
        let o = self.orchestrator(command, "")?;
        reports::typed(orchestrator(&o)?)
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
        let report: reports::ClearGraphDefCacheReport =
            self.env.run(|e| e.clear_graphdef_cache())?;
        print(Outputs::detect(), &report, g)?;
        Ok(0)
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
        let report: reports::CreatePatchesBackupReport =
            self.env.run_remote("createPatchesBackup", |o| {
                // The toolkit's command asks for a token, then its backup for another.
                o.token()?;
                Ok(remote::create_patches_backup(o)?)
            })?;
        let mut out = Outputs::detect();
        out.set("rollback-file", &report.rollback_file)?;
        print(out, &report, g)?;
        Ok(0)
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
        let (command, folder) = if business {
            (
                "restoreBusinessData",
                self.folders.business_data_dir.clone(),
            )
        } else {
            ("restoreUsers", self.folders.users_dir.clone())
        };
        let debug = self.debug.unwrap_or(false);
        let report: reports::RestoreReport = self.env.run_remote(command, |o| {
            Ok(remote::restore(o, command, &folder, debug)?)
        })?;
        print(Outputs::detect(), &report, g)?;
        Ok(0)
    }
}
