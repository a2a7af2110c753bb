//! `snapshot`: dump the environment's projects as patch files, one config entry at a time.
//!
//! `cadkit snapshot --env <db> --snapshot.config <file or folder>`: for each entry, dump
//! into its `outputDir` (default `--snapshot.dir`) and print a JSON report (an array, one
//! object per entry). `--dry-run` shows what would be written and deleted, writes nothing.
//! The git flow (clone, commit, push) wraps [`crate::snapshot::run_entry`].

use super::bus::{select, RemoteArgs};
use super::{GlobalArgs, Step};
use crate::snapshot;
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
    pub fn dump_all(&self) -> Result<Vec<serde_json::Value>> {
        let entries = snapshot::config::load(&self.config)?;
        if entries.is_empty() {
            bail!("{}: no snapshot config entry", self.config.display());
        }
        let env = select(self.env.clone(), &self.remote)?.open_existing()?;
        let info = serde_json::to_value(env.info())?;
        let env = env.as_ref();
        let mut reports = Vec::new();
        for entry in &entries {
            if entry.git.is_some() {
                let report =
                    self.git
                        .snapshot_entry(env, entry, &self.snapshot_dir, self.dry_run)?;
                reports.push(serde_json::to_value(&report)?);
                continue;
            }
            let out = entry.output_dir(&self.snapshot_dir);
            let report = snapshot::run_entry(env, entry, &out, self.dry_run)?;
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
            reports.push(serde_json::to_value(&report)?);
        }
        for r in reports.iter_mut().filter_map(|r| r.as_object_mut()) {
            r.insert("environment".into(), info.clone());
        }
        Ok(reports)
    }
}

impl Step for SnapshotArgs {
    fn run(self, _global: &GlobalArgs) -> Result<i32> {
        let mut out = crate::ci::Outputs::detect().dry_run(self.dry_run);
        if let Some(token) = self.git.token() {
            // Redacted from errors and reports; no `::add-mask::` line (CI secrets are masked
            // by the runner already, and the line itself would show the token in raw logs).
            crate::ci::register_secret(&token);
        }
        let reports = self.dump_all()?;
        // Azure's output commands share stdout with the report, which the Azure template
        // captures and reads itself: set step outputs only where they have their own file.
        if out.platform() != crate::ci::Platform::Azure {
            ci_outputs(&mut out, &reports)?;
        }
        // The report stays a JSON array (one object per entry) on stdout; the CI layer
        // adds outputs and writes the report file.
        let text = out.redact(&serde_json::to_string_pretty(&reports)?);
        println!("{text}");
        out.finish(serde_json::json!({ "entries": reports }), false)?;
        Ok(0)
    }
}

/// Step outputs over all entries: `changed`, `commit` (the last one pushed),
/// `files-added/changed/deleted`, and a summary table per entry.
fn ci_outputs(out: &mut crate::ci::Outputs, reports: &[serde_json::Value]) -> Result<()> {
    let count = |r: &serde_json::Value, kind: &str| {
        r.get("files")
            .filter(|f| f.is_object())
            .unwrap_or(r)
            .get(kind)
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len)
    };
    let (mut added, mut changed, mut deleted) = (0, 0, 0);
    let mut commit = String::new();
    let mut md = String::new();
    for r in reports {
        added += count(r, "added");
        changed += count(r, "changed");
        deleted += count(r, "deleted");
        if let Ok(git) = serde_json::from_value::<crate::git::GitReport>(r.clone()) {
            if let Some(c) = &git.commit {
                commit = c.clone();
            }
            md.push_str(&crate::git::step_summary(&git, 20));
        } else {
            md.push_str(&format!(
                "### Snapshot `{}`\n\n| added | changed | deleted |\n|---|---|---|\n| {} | {} | {} |\n\n",
                r.get("name").and_then(|v| v.as_str()).unwrap_or(""),
                count(r, "added"),
                count(r, "changed"),
                count(r, "deleted")
            ));
        }
    }
    out.set("changed", &(added + changed + deleted > 0).to_string())?;
    out.set("commit", &commit)?;
    out.set("files-added", &added.to_string())?;
    out.set("files-changed", &changed.to_string())?;
    out.set("files-deleted", &deleted.to_string())?;
    out.summary(&md)?;
    Ok(())
}
