//! `buildCodeAsData` and `dependencies`: arguments to a `BuildRequest`, one library call.

use super::{GlobalArgs, Step};
use crate::build::{self, BuildRequest, Mode};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

/// The arguments of `buildCodeAsData` (and of `cadkit-build`), with the toolkit's option
/// names.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Output folder (emptied and rebuilt).
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: PathBuf,
    /// all (dependencies then project), project (a library) or dependencies.
    #[arg(
        long = "codeAsData.mode",
        alias = "mode",
        env = "CADKIT_MODE",
        default_value = "all"
    )]
    pub mode: String,
    /// Folder holding the project's snapshots (<rootTag>/Home/…).
    #[arg(
        long = "snapshot.dir",
        alias = "snapshot-dir",
        env = "CADKIT_SNAPSHOT_DIR",
        default_value = "./snapshot"
    )]
    pub snapshot_dir: PathBuf,
    /// Sub-folder of the snapshot dir holding users (skipped by the build).
    #[arg(
        long = "snapshot.usersDataDir",
        alias = "users-data-dir",
        env = "CADKIT_SNAPSHOT_USERS_DATA_DIR",
        default_value = "users"
    )]
    pub users_data_dir: String,
    /// Sub-folder of the snapshot dir holding business data (skipped by the build).
    #[arg(
        long = "snapshot.businessDataDir",
        alias = "business-data-dir",
        env = "CADKIT_SNAPSHOT_BUSINESS_DATA_DIR",
        default_value = "data"
    )]
    pub business_data_dir: String,
    /// Name of the import-order file written in the working dir.
    #[arg(
        long = "orchestrator.importOrderFile",
        alias = "import-order-file",
        env = "CADKIT_IMPORT_ORDER_FILE",
        default_value = "import_order.json"
    )]
    pub import_order_file: String,
    /// Name of the version file written in the working dir (not in project mode).
    #[arg(
        long = "versionFileName",
        alias = "version-file-name",
        env = "CADKIT_VERSION_FILE_NAME",
        default_value = "version.json"
    )]
    pub version_file_name: String,
    /// The npm project folder (default: the current folder).
    #[arg(long = "project", env = "CADKIT_PROJECT", default_value = ".")]
    pub project: PathBuf,
    /// Validate and show what would be written; write nothing.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = super::parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
}

impl BuildArgs {
    /// The library request: the project folder made absolute, `--codeAsData.mode` checked.
    pub fn request(&self) -> Result<BuildRequest> {
        let mode: Mode = self.mode.parse().map_err(anyhow::Error::msg)?;
        Ok(BuildRequest {
            project_dir: absolute(&self.project)?,
            working_dir: self.working_dir.clone(),
            mode,
            snapshot_dir: self.snapshot_dir.clone(),
            users_data_dir: self.users_data_dir.clone(),
            business_data_dir: self.business_data_dir.clone(),
            import_order_file: self.import_order_file.clone(),
            version_file_name: self.version_file_name.clone(),
            dry_run: self.dry_run,
        })
    }
}

impl Step for BuildArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        if global.running_in_docker == Some(true) {
            tracing::error!("buildCodeAsData is not available when running in docker");
            return Ok(0);
        }
        let req = self.request()?;
        let mut out = crate::ci::Outputs::detect().dry_run(req.dry_run);
        let report = crate::steps::build::run(&req, &mut out)?;
        // By default stdout stays empty, as with the toolkit: the JSON report with
        // `--report json` or `--dry-run`.
        out.finish_report(&report, global.json_report() || req.dry_run)?;
        Ok(0)
    }
}

/// `dependencies`: list the code-as-data dependencies as JSON on stdout.
#[derive(Debug, Args)]
pub struct DependenciesArgs {
    /// Print compact JSON.
    #[arg(long = "depsMinifyJSON", alias = "minify", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub minify: Option<bool>,
    /// The npm project folder (default: the current folder).
    #[arg(long = "project", env = "CADKIT_PROJECT", default_value = ".")]
    pub project: PathBuf,
}

impl Step for DependenciesArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        if global.running_in_docker == Some(true) {
            bail!("dependencies is not available when running in docker");
        }
        let deps = build::dependencies(&absolute(&self.project)?)?;
        let value = serde_json::to_value(&deps)?;
        // Always on stdout, whatever the log level (the toolkit prints it through its logger).
        if self.minify.unwrap_or(false) {
            println!("{}", crate::json::to_compact(&value));
        } else {
            println!("{}", crate::json::to_pretty(&value, 4));
        }
        Ok(0)
    }
}

/// An absolute path without resolving symlinks (Node's `path.resolve`).
pub(crate) fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    // Normalise `.` components so reports show clean paths.
    Ok(abs.components().collect())
}

/// `cleanCodeAsData`: empty the working dir.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The folder to empty.
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: PathBuf,
    /// Show what would be removed; remove nothing.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = super::parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
}

impl Step for CleanArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        if global.running_in_docker == Some(true) {
            tracing::error!("cleanCodeAsData is not available when running in docker");
            return Ok(0);
        }
        let req = crate::steps::clean::Request {
            working_dir: self.working_dir,
            dry_run: self.dry_run,
        };
        let mut out = crate::ci::Outputs::detect().dry_run(req.dry_run);
        let report = crate::steps::clean::run(&req, &mut out)?;
        // Silent by default, as the toolkit; the report with `--report json` or a dry run.
        let default = if req.dry_run {
            crate::ci::Stdout::Report
        } else {
            crate::ci::Stdout::Nothing
        };
        super::emit(out, &report, global, default)?;
        Ok(0)
    }
}
