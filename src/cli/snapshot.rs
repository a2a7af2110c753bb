//! `snapshot`: dump the environment's projects as patch files, one config entry at a time.
//!
//! `cadkit snapshot --env <db> --snapshot.config <file or folder>`: for each entry, dump
//! into its `outputDir` (default `--snapshot.dir`) and print a JSON report (an array, one
//! object per entry). `--dry-run` shows what would be written and deleted, writes nothing.
//! The git flow (clone, commit, push) wraps [`crate::snapshot::run_entry`].

use super::{GlobalArgs, Step};
use crate::env::SqliteEnv;
use crate::snapshot::{self, DumpReport};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The embedded environment (an SQLite file).
    #[arg(long = "env", env = "CADKIT_ENV", default_value = crate::env::DEFAULT_ENV_PATH)]
    pub env: PathBuf,
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
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN")]
    pub dry_run: bool,
}

impl SnapshotArgs {
    /// Dump every config entry (no git); one report per entry.
    pub fn dump_all(&self) -> Result<Vec<DumpReport>> {
        if !self.env.is_file() {
            bail!(
                "no environment at {} (run `cadkit install --env {}` first)",
                self.env.display(),
                self.env.display()
            );
        }
        let entries = snapshot::config::load(&self.config)?;
        if entries.is_empty() {
            bail!("{}: no snapshot config entry", self.config.display());
        }
        let env = SqliteEnv::open(&self.env)?;
        let mut reports = Vec::new();
        for entry in &entries {
            let out = entry.output_dir(&self.snapshot_dir);
            let report = snapshot::run_entry(&env, entry, &out, self.dry_run)?;
            if self.dry_run {
                for p in report.added.iter() {
                    eprintln!("would add {}", out.join(p).display());
                }
                for p in report.changed.iter() {
                    eprintln!("would change {}", out.join(p).display());
                }
                for p in report.deleted.iter() {
                    eprintln!("would delete {}", out.join(p).display());
                }
            }
            reports.push(report);
        }
        Ok(reports)
    }
}

impl Step for SnapshotArgs {
    fn run(self, _global: &GlobalArgs) -> Result<i32> {
        let reports = self.dump_all()?;
        println!("{}", serde_json::to_string_pretty(&reports)?);
        Ok(0)
    }
}
