//! `update`: converge an environment (embedded or orchestrator) to a built
//! `dist/codeAsData` folder, or only plan it. [`run`] picks the engine from the request's
//! [`Selection`]: [`crate::update::run`] on the embedded file, [`crate::update::remote`]
//! on an orchestrator (where a plan only reads, through graphDef queries). The report
//! names its shape for the one output path and the committed schemas, and says the exit
//! code ([`UpdateStepReport::exit_code`]).

use crate::ci::Outputs;
use crate::env::Selection;
use crate::update::drift::Policies;
use crate::update::exclude::ExcludeConfig;
use crate::update::remote::{RemoteUpdate, RemoteUpdateReport};
use crate::update::run::{UpdateOptions, UpdateReport};
use crate::update::Plan;
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// What to converge, and how, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The environment to converge.
    pub env: Selection,
    /// The built codeAsData folder (the desired state, holding `import_order.json`).
    pub dist: PathBuf,
    /// Compute and report the plan only, write nothing (`--plan` or `--dry-run`).
    pub plan_only: bool,
    /// Instance-managed roots never touched, and the subtrees inside them that still
    /// follow code-as-data.
    pub exclude: ExcludeConfig,
    /// Keep readers on the previous state until the commit (read-only mode) instead of
    /// maintenance mode.
    pub no_downtime: bool,
    /// Report edits made outside cadkit since the last deployment, per root, first
    /// (embedded environment only).
    pub detect_drift: bool,
    /// What to do with drift, per root (embedded environment only).
    pub drift_policies: Policies,
    /// Compare only the roots named in the folder's change log, when it has one.
    pub use_change_log: bool,
    /// The change log's file name in the codeAsData folder.
    pub change_log_name: String,
    /// Age after which the embedded environment's lock expires even if its holder seems
    /// alive.
    pub lock_ttl: Duration,
}

/// Run `update`: plan (and unless `plan_only`, apply) on the selected environment, print
/// the plan table on stderr (when stderr is a terminal, or after changes were applied),
/// set the CI outputs on `out`. A failed load on an orchestrator is in the report, not an
/// error (see [`UpdateStepReport::failure`]).
pub fn run(req: &UpdateRequest, out: &mut Outputs) -> Result<UpdateStepReport> {
    let report = match &req.env {
        Selection::Embedded(path) => {
            let mut o = UpdateOptions::new(path, &req.dist);
            o.plan_only = req.plan_only;
            o.exclude = req.exclude.clone();
            o.no_downtime = req.no_downtime;
            o.detect_drift = req.detect_drift;
            o.drift_policies = req.drift_policies.clone();
            o.use_change_log = req.use_change_log;
            o.change_log_name = req.change_log_name.clone();
            o.lock_ttl = req.lock_ttl;
            UpdateStepReport::Embedded(crate::update::run::update(&o)?)
        }
        Selection::Orchestrator(cfg) => {
            let remote = RemoteUpdate {
                dist: req.dist.clone(),
                plan_only: req.plan_only,
                no_downtime: req.no_downtime,
                exclude: req.exclude.clone(),
                version_file: "version.json".into(),
                use_change_log: req.use_change_log,
                change_log_name: req.change_log_name.clone(),
                user: None,
            };
            let mut o = crate::env::connect(cfg)?;
            UpdateStepReport::Orchestrator(crate::update::remote::update(&mut o, &remote)?)
        }
    };
    let table = crate::update::render::table(report.plan());
    if std::io::stderr().is_terminal() || !req.plan_only {
        eprint!("{table}");
    }
    report.outputs(out)?;
    Ok(report)
}

/// The report of `update` (also with `--plan` and `--dry-run`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum UpdateStepReport {
    /// On the embedded environment.
    Embedded(UpdateReport),
    /// On an orchestrator.
    Orchestrator(RemoteUpdateReport),
}

impl UpdateStepReport {
    /// The plan computed (and applied, unless a plan only or a dry run was asked).
    pub fn plan(&self) -> &Plan {
        match self {
            UpdateStepReport::Embedded(r) => &r.plan,
            UpdateStepReport::Orchestrator(r) => &r.plan,
        }
    }

    /// Why an applied update failed (a failed load, rolled back or not); `None` on success.
    pub fn failure(&self) -> Option<&str> {
        match self {
            UpdateStepReport::Embedded(_) => None,
            UpdateStepReport::Orchestrator(r) => r.failure.as_deref(),
        }
    }

    /// The process exit code for this report: 1 for a failed load (rolled back or not),
    /// 2 with `--plan` (`plan`) when changes are pending (as `terraform plan
    /// -detailed-exitcode`), else 0. A `--dry-run` alone exits 0 so a pipeline's dry run
    /// passes.
    pub fn exit_code(&self, plan: bool) -> i32 {
        if self.failure().is_some() {
            1
        } else if plan && !self.plan().is_empty() {
            2
        } else {
            0
        }
    }

    fn applied(&self) -> bool {
        match self {
            UpdateStepReport::Embedded(r) => r.applied,
            UpdateStepReport::Orchestrator(r) => r.applied,
        }
    }

    /// CI outputs: `changed` (the plan changes the graph), `applied`, `roots` (roots with
    /// changes) and a summary of the totals.
    pub fn outputs(&self, out: &mut Outputs) -> Result<()> {
        let plan = self.plan();
        out.set("changed", &(!plan.is_empty()).to_string())?;
        out.set("applied", &self.applied().to_string())?;
        out.set("roots", &plan.totals.roots.to_string())?;
        let t = &plan.totals;
        out.summary(&format!(
            "### Update\n\n| roots | instances +/~/- | relations +/- | applied |\n|---|---|---|---|\n| {} | {}/{}/{} | {}/{} | {} |\n",
            t.roots,
            t.created_instances,
            t.updated_instances,
            t.deleted_instances,
            t.created_relations,
            t.deleted_relations,
            self.applied()
        ))
    }
}
