//! `update` against an orchestrator: the plan of the embedded update (same planner),
//! computed over the graph read through graphDef, shipped as the toolkit's diff files.
//!
//! Steps (olympe-formats §9.1–§9.2, same messages as the toolkit): version check and role
//! (`rest/version`); read the structure and every root (`fullStructureQuery`,
//! `getRootData`: read-only, all `--plan` does); the deployed state of each live root is
//! its live content (the orchestrator keeps no inventory, as with the toolkit); plan. To
//! apply: `startGC{backupFolder}`, then the plan and the patch backup's zip side by side
//! (`copyPatches`: the patches folder does not change during an update, so zipping it
//! first gives the toolkit's zip), maintenance (or read mode with `noDowntime`), diff
//! files uploaded to backup `diff/`, `load{pathToRootFolder:"diff",useBackupFolder:true,
//! merge:true}`, `setPassword`, versions, `startGC`, `updateDone`, mode back, and last
//! `rollbackVersion.json` naming the zip. The mode is switched back on every failure
//! path. A failing `load` rolls back to the last recorded patch backup
//! ([`super::rollback`]); the zip of the failed update is left unrecorded. Reading,
//! planning and applying a diff are [`super::diff`]'s, shared with the rollback.

use super::deploy::{check_version, ModeGuard};
use super::diff::{self, ImportPatchesError};
use super::rollback::{self, RollbackReport};
use super::{EnvironmentInfo, Orchestrator};
use crate::env::UpdateSpec;
use crate::update::Plan;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// What `update` did on an orchestrator (the JSON printed by `cadkit update`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteUpdateReport {
    /// The orchestrator updated.
    pub environment: EnvironmentInfo,
    /// The built codeAsData folder the plan was computed from.
    pub dist: PathBuf,
    /// Only the plan was computed (`--plan`).
    pub plan_only: bool,
    /// The diff was loaded and the "after" steps ran.
    pub applied: bool,
    /// The mode the update ran under, `maintenance` or `noDowntime` (`None` when
    /// nothing was applied).
    pub mode: Option<String>,
    /// Names of the diff files uploaded to backup `diff/` (`createInstances_1.newInst.json`,
    /// …), in load order.
    pub diff_files: Vec<String>,
    /// The changes, per root.
    pub plan: Plan,
    /// Wall-clock time of the whole update, in milliseconds.
    pub duration_ms: u64,
    /// Why the update failed (set only when it failed and a rollback was attempted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What the rollback to the last patch backup did, after a failed load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

/// `update` (see the module doc).
pub fn update(o: &mut Orchestrator, req: &UpdateSpec) -> Result<RemoteUpdateReport> {
    let started = Instant::now();
    if req.detect_drift {
        anyhow::bail!(
            "--update.detectDrift needs the deployment inventory only the embedded environment keeps; an orchestrator keeps none (its live content is the deployed state): remove the option for {}",
            o.info().location
        );
    }
    check_version(o)?;
    o.learn_role()?;
    let o = &*o;
    if req.plan_only {
        let plan = diff::compute(o, req)?;
        tracing::info!("plan ready after {} ms", started.elapsed().as_millis());
        let mut report = RemoteUpdateReport::new(o, req, plan);
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    // The toolkit's order: the backup folder's GC before the diff. The token too, now:
    // commands queue behind the zip below, and the plan's queries need it.
    o.command(super::commands::gc(false, false, true, false), None)?;
    o.token()?;
    // The patch backup zips the orchestrator's patches folder, which the update does not
    // change: the orchestrator builds the zip while the plan is computed (the longest
    // stages of an update, run side by side). The zip is finished before the mode
    // switches, so maintenance lasts no longer than before, and becomes the rollback
    // version only once the update succeeded.
    let (plan, zip) = std::thread::scope(|s| {
        let zip = s.spawn(|| crate::env::orchestrator::commands::zip_patches(o));
        let plan = diff::compute(o, req);
        (plan, zip.join())
    });
    let zip = zip.map_err(|_| anyhow::anyhow!("the patch backup panicked"))?;
    let plan = plan?;
    let zip = zip.context("patch backup (copyPatches)")?;
    tracing::info!("plan ready after {} ms", started.elapsed().as_millis());
    let mut report = RemoteUpdateReport::new(o, req, plan);
    let files = diff::diff_files(&report.plan);
    diff::write_local(&o.cfg.download_folder, "diff", &files)?;
    let mode = ModeGuard::enter(o, req.no_downtime)?;
    tracing::info!("mode switched after {} ms", started.elapsed().as_millis());
    if let Err(e) = diff::apply(o, req, &files, "diff", &diff::binary_folders(req)) {
        report.diff_files = files.into_iter().map(|(n, _)| n).collect();
        return after_failed_apply(o, req, report, mode, e, started);
    }
    tracing::info!("diff loaded after {} ms", started.elapsed().as_millis());
    after_steps(o, req.no_downtime, mode)?;
    tracing::info!("mode back after {} ms", started.elapsed().as_millis());
    // A fresh token, as the toolkit asks before its backup (the import may clear tokens).
    o.fresh_token()?;
    crate::env::orchestrator::commands::record_rollback_version(o, &zip)?;
    report.applied = true;
    report.mode = Some(
        if req.no_downtime {
            "noDowntime"
        } else {
            "maintenance"
        }
        .into(),
    );
    report.diff_files = files.into_iter().map(|(n, _)| n).collect();
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

impl RemoteUpdateReport {
    /// The report of a planned, not yet applied, update.
    fn new(o: &Orchestrator, req: &UpdateSpec, plan: Plan) -> RemoteUpdateReport {
        RemoteUpdateReport {
            environment: o.info(),
            dist: req.dist.clone(),
            plan_only: req.plan_only,
            applied: false,
            mode: None,
            diff_files: Vec::new(),
            plan,
            duration_ms: 0,
            failure: None,
            rollback: None,
        }
    }
}

/// The toolkit's "after" steps, then the mode back.
fn after_steps(o: &Orchestrator, no_downtime: bool, mode: ModeGuard<'_>) -> Result<()> {
    diff::housekeeping(o, no_downtime)?;
    Ok(mode.leave()?)
}

/// After `apply` failed: anything but an [`ImportPatchesError`] is returned as is (the mode
/// guard switches the mode back); a failed load is rolled back, and the report says so.
pub fn after_failed_apply(
    o: &Orchestrator,
    req: &UpdateSpec,
    mut report: RemoteUpdateReport,
    mode: ModeGuard<'_>,
    err: anyhow::Error,
    started: Instant,
) -> Result<RemoteUpdateReport> {
    if err.downcast_ref::<ImportPatchesError>().is_none() {
        return Err(err);
    }
    tracing::warn!("{err:#}");
    tracing::info!("Error detected during importing diff patches, going to rollback");
    let mut rb = RollbackReport {
        completed: false,
        rollback_file: None,
        error: None,
        mode_restored: false,
        diff_files: Vec::new(),
        plan: None,
    };
    let rolled = rollback::roll_back(o, req, &mut rb);
    // The "after" steps only after a rollback that loaded; the mode goes back in any case.
    let after = rolled.and_then(|()| {
        diff::housekeeping(o, req.no_downtime).context("the steps after the rollback failed")
    });
    let back = mode.leave();
    rb.mode_restored = back.is_ok();
    match (after, back) {
        (Ok(()), Ok(())) => rb.completed = true,
        (Err(e), _) => rb.error = Some(format!("{e:#}")),
        (Ok(()), Err(e)) => rb.error = Some(format!("the mode could not be switched back: {e:#}")),
    }
    let failure = if rb.completed {
        format!("Failed to update database, rollback completed, reason: {err:#}")
    } else {
        format!(
            "Failed to update database, then failed to rollback patches, reason: {}; update failure: {err:#}",
            rb.error.as_deref().unwrap_or("unknown")
        )
    };
    tracing::error!("{failure}");
    report.failure = Some(failure);
    report.rollback = Some(rb);
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}
