//! The environment commands of the toolkit, on the embedded environment (`--env`) or on
//! an orchestrator (`--bus.*` / `--orchestrator.*`, see [`super::bus`]); each prints a
//! JSON result on stdout naming the environment used.

use super::bus::{select, RemoteArgs};
use super::{GlobalArgs, Step};
use crate::env::orchestrator::{commands as remote, Orchestrator};
use crate::env::Environment;
use crate::update::envcmd;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `--env` or the orchestrator settings, shared by every environment command.
#[derive(Debug, Args)]
pub struct EnvArg {
    /// The embedded environment (an SQLite file; default .cadkit/env.sqlite).
    #[arg(long = "env", env = "CADKIT_ENV")]
    pub env: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

impl EnvArg {
    /// The selected environment (chosen once, [`select`]); its results name it (never
    /// with credentials).
    pub fn environment(&self) -> Result<Box<dyn Environment>> {
        select(self.env.clone(), &self.remote)?.open()
    }

    /// The orchestrator, for a command only an orchestrator has (the embedded environment
    /// is not touched).
    pub fn orchestrator(&self, command: &str, why: &str) -> Result<Box<Orchestrator>> {
        select(self.env.clone(), &self.remote)?.orchestrator_only(command, why)
    }
}

fn print(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    /// on or off (true/false, 1/0); anything else is an error.
    #[arg(value_parser = envcmd::parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for MaintenanceArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let on = self.activate;
        print(&self.env.environment()?.maintenance(on)?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct ReadModeArgs {
    /// true or false (on/off, 1/0); anything else is an error.
    #[arg(value_parser = envcmd::parse_switch, action = clap::ArgAction::Set)]
    pub activate: bool,
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for ReadModeArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let on = self.activate;
        print(&self.env.environment()?.read_mode(on)?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct BroadcastRefreshArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for BroadcastRefreshArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        print(&self.env.environment()?.broadcast_refresh()?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct UpdateUserArgs {
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
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let password = self.password.clone().unwrap_or_else(|| {
            tracing::warn!(
                "no --user.password, CADKIT_USER_PASSWORD or DRAW_PASSWORD: setting the toolkit's default password (admin)"
            );
            DEFAULT_USER_PASSWORD.to_string()
        });
        let (t, n, p) = (&self.tag, &self.name, &password);
        print(&self.env.environment()?.update_user(t, n, p)?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct StartGcArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for StartGcArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        print(&self.env.environment()?.start_gc()?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct StatsDbArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for StatsDbArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        print(&self.env.environment()?.stats_db()?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct CheckDbArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for CheckDbArgs {
    /// Exit 1 when the environment is incoherent (the JSON says why).
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let v = self.env.environment()?.check_db()?;
        print(&v)?;
        Ok(if v["ok"] == serde_json::Value::Bool(true) {
            0
        } else {
            1
        })
    }
}

#[derive(Debug, Args)]
pub struct IsDbInitializedArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for IsDbInitializedArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let v = self.env.environment()?.is_initialised()?;
        println!("{v}");
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct UpgradeConfigArgs {
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
        if g.json_report() {
            print(&serde_json::json!({ "upgradeConfig": config }))?;
        } else {
            println!("{}", serde_json::to_string(&config)?);
        }
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct ClearGraphDefCacheArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for ClearGraphDefCacheArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        print(&self.env.environment()?.clear_graphdef_cache()?)?;
        Ok(0)
    }
}

#[derive(Debug, Args)]
pub struct CreatePatchesBackupArgs {
    #[command(flatten)]
    pub env: EnvArg,
}

impl Step for CreatePatchesBackupArgs {
    fn run(self, _g: &GlobalArgs) -> Result<i32> {
        let o = self.env.orchestrator("createPatchesBackup", "")?;
        // The toolkit's command asks for a token, then its backup for another.
        o.token()?;
        print(&remote::create_patches_backup(&o)?)?;
        Ok(0)
    }
}

/// `restoreUsers` and `restoreBusinessData`: load the backup folder, merging.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// The backup folders of users and business data.
    #[command(flatten)]
    pub folders: super::backup::BackupFoldersArgs,
    /// Verbose import on the orchestrator.
    #[arg(long = "import.debug", env = "LOAD_PATCHES_DEBUG", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub debug: Option<bool>,
}

impl RestoreArgs {
    pub fn run_restore(self, business: bool) -> Result<i32> {
        let (command, folder) = if business {
            (
                "restoreBusinessData",
                self.folders.business_data_dir.clone(),
            )
        } else {
            ("restoreUsers", self.folders.users_dir.clone())
        };
        let debug = self.debug.unwrap_or(false);
        let o = self.env.orchestrator(command, "")?;
        print(&remote::restore(&o, command, &folder, debug)?)?;
        Ok(0)
    }
}
