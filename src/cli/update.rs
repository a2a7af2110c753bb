//! `update`: arguments → [`UpdateRequest`] → [`crate::steps::update::run`] → the report.
//!
//! Exit codes ([`crate::steps::update::UpdateStepReport::exit_code`]): 0 success (with
//! `--plan`: no changes), 2 with `--plan` when changes are pending (as `terraform plan
//! -detailed-exitcode`), 1 failure.

use super::{emit, parse_bool, GlobalArgs, Step};
use crate::ci::{Outputs, Stdout};
use crate::env::UpdateSpec;
use crate::steps::update::{self, UpdateRequest};
use crate::update::drift::Policies;
use crate::update::exclude::ExcludeConfig;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `update` (and of `cadkit-update`): the environment, the build and the
/// plan options.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The environment and the built codeAsData folder.
    #[command(flatten)]
    pub target: super::EnvTarget,
    /// Only print the plan (table on stderr when it is a terminal, JSON on stdout); exit
    /// 0 without changes, 2 with changes.
    #[arg(long = "plan")]
    pub plan: bool,
    /// Plan and report only, write nothing (exit 0 even with changes pending, so that a
    /// pipeline's dry run passes); `CADKIT_DRY_RUN` is what the root action's `dry-run` sets.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
    /// Instance-managed roots never touched: a JSON array of tags.
    #[arg(
        long = "update.excludeTags",
        alias = "update-exclude-tags",
        env = "CADKIT_UPDATE_EXCLUDED_TAGS",
        default_value = "[]"
    )]
    pub exclude_tags: String,
    /// Subtrees inside excluded ones that still follow code-as-data: a JSON array of tags.
    #[arg(
        long = "update.includeTags",
        alias = "update-include-tags",
        env = "CADKIT_UPDATE_INCLUDED_TAGS",
        default_value = "[]"
    )]
    pub include_tags: String,
    /// Snapshot config (file or folder): its `rootTags` are excluded, its `exclude` included.
    /// Ignored when missing.
    #[arg(
        long = "snapshot.config",
        alias = "snapshot-config",
        env = "CADKIT_SNAPSHOT_CONFIG",
        default_value = "./snapshot/snapshot-config.json"
    )]
    pub snapshot_config: PathBuf,
    /// Keep readers on the previous state until the commit (code-as-data read-only
    /// meanwhile) instead of maintenance mode.
    #[arg(long = "update.noDowntime", alias = "update-no-downtime", env = "CADKIT_UPDATE_NO_DOWNTIME", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub no_downtime: Option<bool>,
    /// Use the change log to compare only the changed roots.
    #[arg(long = "update.useChangeLog", alias = "update-use-change-log", env = "CADKIT_UPDATE_USE_CHANGE_LOG", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub use_change_log: Option<bool>,
    /// Do not use the change log (compare every root).
    #[arg(long = "no-update.useChangeLog")]
    pub no_change_log: bool,
    /// The change log's file name in the codeAsData folder.
    #[arg(
        long = "update.changeLogName",
        alias = "update-change-log-name",
        default_value = "change_log.txt"
    )]
    pub change_log_name: String,
    /// Report edits made outside cadkit since the last deployment, per root, first.
    #[arg(long = "update.detectDrift", alias = "update-detect-drift", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub detect_drift: Option<bool>,
    /// What to do with drift: revert (default), keep, fail, or a JSON object
    /// {"default": "revert", "<root tag>": "keep"}.
    #[arg(long = "update.driftPolicy", alias = "update-drift-policy", default_value = "revert", value_parser = Policies::parse)]
    pub drift_policy: Policies,
    /// Seconds after which a lock expires even if its holder seems alive.
    #[arg(
        long = "update.lockTtl",
        alias = "update-lock-ttl",
        default_value_t = 3600
    )]
    pub lock_ttl: u64,
}

impl UpdateArgs {
    /// The library request: `--env` or the orchestrator options select the environment
    /// (both is an error, reported first), then the exclusions (`--update.excludeTags`,
    /// `--update.includeTags`, the snapshot config when it exists) are read.
    pub fn request(&self) -> Result<UpdateRequest> {
        let env = self.target.remote.selection(self.target.env.clone())?;
        let mut exclude = ExcludeConfig {
            exclude_tags: ExcludeConfig::parse_tags("--update.excludeTags", &self.exclude_tags)?,
            include_tags: ExcludeConfig::parse_tags("--update.includeTags", &self.include_tags)?,
        };
        if self.snapshot_config.exists() {
            exclude.add_snapshot_config(&self.snapshot_config)?;
        }
        let mut spec = UpdateSpec::new(&self.target.working_dir);
        spec.plan_only = self.plan || self.dry_run;
        spec.exclude = exclude;
        spec.no_downtime = self.no_downtime.unwrap_or(false);
        spec.detect_drift = self.detect_drift.unwrap_or(false);
        spec.drift_policies = self.drift_policy.clone();
        spec.use_change_log = self.use_change_log.unwrap_or(true) && !self.no_change_log;
        spec.change_log_name = self.change_log_name.clone();
        spec.lock_ttl = Duration::from_secs(self.lock_ttl);
        Ok(UpdateRequest { env, spec })
    }
}

impl Step for UpdateArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let req = self.request()?;
        let mut out = Outputs::detect().dry_run(req.spec.plan_only);
        let report = update::run(&req, &mut out)?;
        emit(out, &report, global, Stdout::Report)?;
        Ok(report.exit_code(self.plan))
    }
}
