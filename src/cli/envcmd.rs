//! The environment commands of the toolkit on the embedded environment; each prints a
//! JSON result on stdout.

use super::{GlobalArgs, Step};
use crate::update::envcmd;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `--env` shared by every environment command.
#[derive(Debug, Args)]
pub struct EnvArg {
    /// The embedded environment (an SQLite file).
    #[arg(long = "env", env = "CADKIT_ENV", default_value = crate::env::DEFAULT_ENV_PATH)]
    pub env: PathBuf,
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
        print(&envcmd::maintenance(&self.env.env, self.activate)?)?;
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
        print(&envcmd::read_mode(&self.env.env, self.activate)?)?;
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
        print(&envcmd::broadcast_refresh(&self.env.env)?)?;
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
        let password = self.password.unwrap_or_else(|| {
            tracing::warn!(
                "no --user.password, CADKIT_USER_PASSWORD or DRAW_PASSWORD: setting the toolkit's default password (admin)"
            );
            DEFAULT_USER_PASSWORD.to_string()
        });
        print(&envcmd::update_user(
            &self.env.env,
            &self.tag,
            &self.name,
            &password,
        )?)?;
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
        print(&envcmd::start_gc(&self.env.env)?)?;
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
        print(&envcmd::stats(&self.env.env)?)?;
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
        let v = envcmd::check(&self.env.env)?;
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
        println!("{}", envcmd::is_initialised(&self.env.env)?);
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
        let config = envcmd::upgrade_config(&self.env.env, &self.working_dir, &self.version_file)?;
        if g.json_report() {
            print(&serde_json::json!({ "upgradeConfig": config }))?;
        } else {
            println!("{}", serde_json::to_string(&config)?);
        }
        Ok(0)
    }
}
