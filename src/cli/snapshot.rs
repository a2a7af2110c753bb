//! `snapshot`: arguments → [`Request`] → [`crate::steps::snapshot::run`] → the report.
//!
//! `cadkit snapshot --env <db> --snapshot.config <file or folder>`: for each entry, dump
//! into its `outputDir` (default `--snapshot.dir`) and print a JSON report (an array, one
//! object per entry). `--dry-run` shows what would be written and deleted, writes nothing.

use super::bus::RemoteArgs;
use super::{GlobalArgs, Step};
use crate::ci::Stdout;
use crate::steps::snapshot::{self, Request};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// The arguments of `snapshot` (and of `cadkit-snapshot`): the environment, the snapshot
/// config and the git flow.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The embedded environment (an SQLite file; default .cadkit/env.sqlite).
    #[arg(long = "env", env = "CADKIT_ENV")]
    pub env: Option<PathBuf>,
    /// Or an orchestrator (read through graphDef queries only).
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Snapshot config: a JSON file, or a folder of *.json files (searched recursively).
    #[arg(
        long = "snapshot.config",
        alias = "snapshot-config",
        env = "CADKIT_SNAPSHOT_CONFIG",
        default_value = "./snapshot/snapshot-config.json"
    )]
    pub config: PathBuf,
    /// Output folder of entries without outputDir.
    #[arg(
        long = "snapshot.dir",
        alias = "snapshot-dir",
        env = "CADKIT_SNAPSHOT_DIR",
        default_value = "./snapshot"
    )]
    pub snapshot_dir: PathBuf,
    /// Show what would be written and deleted; write nothing.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = super::parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
    /// Options of entries with a `git` object (clone, commit, push).
    #[command(flatten)]
    pub git: super::GitArgs,
}

impl SnapshotArgs {
    /// The library request: `--env` or the orchestrator options select the environment
    /// (both is an error); the git options become the defaults of entries with a `git`
    /// object.
    pub fn request(&self) -> Result<Request> {
        Ok(Request {
            env: self.remote.selection(self.env.clone())?,
            config: self.config.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
            dry_run: self.dry_run,
            git: self.git.defaults(),
        })
    }
}

impl Step for SnapshotArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let mut out = crate::ci::Outputs::detect().dry_run(self.dry_run);
        let report = snapshot::run(&self.request()?, &mut out)?;
        // Stdout stays the JSON array of entries (other tools parse it, with or without
        // `--report json`); the report file holds the report with its envelope.
        let stdout = match global.report.as_deref() {
            Some("none") => Stdout::Nothing,
            _ => Stdout::Text(serde_json::to_string_pretty(&report.entries)?),
        };
        out.finish_report_as(&report, stdout)?;
        Ok(0)
    }
}
