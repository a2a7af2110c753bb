//! `install`: reset the embedded environment and load a built `dist/codeAsData` folder.
//!
//! The library entry point is [`install`]; the full install with user and business-data
//! preservation (the update/install issue) wraps it.

use super::{GlobalArgs, Step};
use crate::env::{LoadReport, SqliteEnv};
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The embedded environment (an SQLite file, created if missing).
    #[arg(long = "env", env = "CADKIT_ENV", default_value = crate::env::DEFAULT_ENV_PATH)]
    pub env: PathBuf,
    /// The built codeAsData folder (holding import_order.json).
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: PathBuf,
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
    fn run(self, _global: &GlobalArgs) -> Result<i32> {
        let report = install(&self.env, &self.working_dir)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(0)
    }
}
