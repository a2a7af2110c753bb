//! `snapshot`: dump the environment's projects as patch files, one config entry at a time.
//!
//! `cadkit snapshot --env <db> --snapshot.config <file or folder>`: for each entry, dump
//! into its `outputDir` (default `--snapshot.dir`) and print a JSON report (an array, one
//! object per entry). `--dry-run` shows what would be written and deleted, writes nothing.
//! The git flow (clone, commit, push) wraps [`crate::snapshot::run_entry`].

use super::bus::{select, RemoteArgs};
use super::{GlobalArgs, Step};
use crate::ci::Stdout;
use crate::snapshot;
use crate::steps::envcmd::{typed, EnvironmentRef};
use crate::steps::snapshot::{Entry, EntryReport, Report};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

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
    /// Dump every config entry; one report per entry. Entries with a `git` object are
    /// dumped into a clone, committed and pushed ([`super::GitArgs::snapshot_entry`]).
    pub fn dump_all(&self) -> Result<Report> {
        let entries = snapshot::config::load(&self.config)?;
        if entries.is_empty() {
            bail!("{}: no snapshot config entry", self.config.display());
        }
        let env = select(self.env.clone(), &self.remote)?.open_existing()?;
        let environment: EnvironmentRef = typed(serde_json::to_value(env.info())?)?;
        let env = env.as_ref();
        let mut reports = Vec::new();
        for entry in &entries {
            let report = if entry.git.is_some() {
                EntryReport::Git(Box::new(self.git.snapshot_entry(
                    env,
                    entry,
                    &self.snapshot_dir,
                    self.dry_run,
                )?))
            } else {
                let out = entry.output_dir(&self.snapshot_dir);
                let report = snapshot::run_entry(env, entry, &out, self.dry_run)?;
                if self.dry_run {
                    show_dry_run(&report, &out);
                }
                EntryReport::Dump(Box::new(report))
            };
            reports.push(Entry {
                report,
                environment: environment.clone(),
            });
        }
        Ok(Report { entries: reports })
    }
}

/// What a dry run would write and delete, on stderr.
fn show_dry_run(report: &snapshot::DumpReport, out: &std::path::Path) {
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

impl Step for SnapshotArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let mut out = crate::ci::Outputs::detect().dry_run(self.dry_run);
        if let Some(token) = self.git.token() {
            // Redacted from errors and reports; no `::add-mask::` line (CI secrets are masked
            // by the runner already, and the line itself would show the token in raw logs).
            crate::ci::register_secret(&token);
        }
        let report = self.dump_all()?;
        // Azure's output commands share stdout with the report, which the Azure template
        // captures and reads itself: set step outputs only where they have their own file.
        if out.platform() != crate::ci::Platform::Azure {
            report.outputs(&mut out)?;
        }
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
