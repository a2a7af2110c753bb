//! The reports of `update` and `install`, on the embedded environment or an orchestrator,
//! and their CI outputs. The commands live in [`crate::update`] and
//! [`crate::env::orchestrator::deploy`]; these types name their report shapes for the one
//! output path and the committed schemas.

use crate::ci::Outputs;
use crate::env::orchestrator::deploy::RemoteInstallReport;
use crate::update::install::InstallReport;
use crate::update::remote::RemoteUpdateReport;
use crate::update::run::UpdateReport;
use crate::update::Plan;
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;

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

/// What a dry-run install would load (nothing is written, no environment created).
#[derive(Debug, Serialize, JsonSchema)]
pub struct InstallPlan {
    /// The environment that would be reset (a file, or an orchestrator's description).
    pub env: PathBuf,
    /// The codeAsData folder validated.
    pub dist: PathBuf,
    /// Patch files that would be loaded.
    pub files: usize,
    /// Relations they hold.
    pub relations: usize,
}

/// The report of `install`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum InstallStepReport {
    /// Installed into the embedded environment.
    Embedded(InstallReport),
    /// A dry run: what would be loaded.
    Planned(InstallPlan),
    /// Installed on an orchestrator.
    Orchestrator(Box<RemoteInstallReport>),
}

impl InstallStepReport {
    /// CI outputs: `files` loaded (or that would be).
    pub fn outputs(&self, out: &mut Outputs) -> Result<()> {
        let files = match self {
            InstallStepReport::Embedded(r) => r.files,
            InstallStepReport::Planned(p) => p.files,
            InstallStepReport::Orchestrator(r) => r.uploaded_files,
        };
        out.set("files", &files.to_string())
    }
}
