//! `update`: converge an environment (embedded or orchestrator) to a built
//! `dist/codeAsData` folder, or only plan it. [`run`] opens the request's [`Selection`]
//! and calls [`Environment::update`](crate::env::Environment::update): each environment
//! converges itself (an orchestrator's plan only reads, through graphDef queries). The report
//! names its shape for the one output path and the committed schemas, and says the exit
//! code ([`UpdateStepReport::exit_code`]).

use crate::ci::Outputs;
use crate::env::{Selection, UpdateSpec};
use anyhow::Result;
use std::io::IsTerminal;

/// The report of `update` (also with `--plan` and `--dry-run`): what the environment's
/// [`Environment::update`](crate::env::Environment::update) returned.
pub use crate::env::UpdateOutcome as UpdateStepReport;

/// What to converge, and how, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The environment to converge.
    pub env: Selection,
    /// The desired state and the options, the same for both kinds of environment.
    pub spec: UpdateSpec,
}

/// Run `update`: plan (and unless `plan_only`, apply) on the selected environment, print
/// the plan table on stderr (when stderr is a terminal, or after changes were applied),
/// set the CI outputs on `out`. A failed load on an orchestrator is in the report, not an
/// error (see [`UpdateStepReport::failure`]). A plan never creates an embedded file.
pub fn run(req: &UpdateRequest, out: &mut Outputs) -> Result<UpdateStepReport> {
    let mut env = if req.spec.plan_only {
        req.env.open_existing()?
    } else {
        req.env.open()?
    };
    let report = env.update(&req.spec)?;
    let table = crate::update::render::table(report.plan());
    if std::io::stderr().is_terminal() || !req.spec.plan_only {
        eprint!("{table}");
    }
    report.outputs(out)?;
    Ok(report)
}

impl UpdateStepReport {
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
