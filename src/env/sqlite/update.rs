//! `update` on the embedded environment: lock, modes, change log, exclusion, drift, plan,
//! and the all-or-nothing apply (the planner is [`crate::update`]'s).

use super::lock::{Holder, LockGuard, ModeGuard};
use super::tx::UpdateTx;
use super::SqliteEnv;
use crate::env::UpdateSpec;
use crate::patch::Op;
use crate::update::changelog::{self, ChangeLog};
use crate::update::drift::{self, DriftReport};
use crate::update::exclude::{self, ExcludeConfig};
use crate::update::{plan, Current, DesiredState, Plan, PlanRequest};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The JSON report of `update`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReport {
    /// The SQLite environment file updated.
    pub env: PathBuf,
    /// The built codeAsData folder the plan was computed from.
    pub dist: PathBuf,
    /// Only the plan was computed (`--plan`).
    pub plan_only: bool,
    /// Nothing was written (a plan or a dry run). Not serialised: the report envelope's
    /// `dryRun` says it.
    #[serde(skip)]
    pub dry_run: bool,
    /// True when the plan was committed.
    pub applied: bool,
    /// `maintenance` or `noDowntime` (null for a plan).
    pub mode: Option<String>,
    /// The change log used (null: every root compared).
    pub change_log: Option<PathBuf>,
    /// The changes, per root.
    pub plan: Plan,
    /// The drift found (null unless drift detection was asked for).
    pub drift: Option<DriftReport>,
    /// An expired lock taken over (its holder).
    pub recovered_lock: Option<Holder>,
    /// Wall-clock time of the whole update, in milliseconds.
    pub duration_ms: u64,
}

/// Why an update failed while applying: the operation and its root.
#[derive(Debug, thiserror::Error)]
#[error("operation {index} of {total} ({op}) for root {root} failed; the environment was left exactly as before (rolled back)")]
pub struct ApplyError {
    /// 1-based position of the failing operation in application order.
    pub index: usize,
    /// Operations in the plan.
    pub total: usize,
    /// The operation, as compact patch JSON.
    pub op: String,
    /// The root whose plan holds the operation.
    pub root: String,
}

/// Update the embedded environment at `path` to `opts.dist`: lock and mode (not for a
/// plan), change log, exclusion, drift, plan, then the whole plan and its inventory
/// records in one transaction. A failure leaves the environment as it was; the mode is
/// restored and the lock released in every case. (What
/// [`Environment::update`](crate::env::Environment::update) runs on a [`SqliteEnv`].)
pub fn update(path: &Path, opts: &UpdateSpec) -> Result<UpdateReport> {
    let start = Instant::now();
    if opts.plan_only && !path.exists() {
        anyhow::bail!(
            "environment {} does not exist; a plan or dry run creates nothing (run `cadkit install` first, or check --env)",
            path.display()
        );
    }
    SqliteEnv::open(path)?.ensure_update_schema()?;
    let lock = if opts.plan_only {
        None
    } else {
        Some(LockGuard::acquire(path, "update", opts.lock_ttl)?)
    };
    let mut modes = if opts.plan_only {
        None
    } else {
        Some(ModeGuard::enter(path, opts.no_downtime)?)
    };
    let mut env = SqliteEnv::open(path)?;

    let (log_path, log) = read_change_log(opts)?;

    let tx = env.begin_update(!opts.plan_only)?;
    let (mut plan, drift) = compute(&tx, opts, log.as_ref())?;
    plan.change_log = log.is_some();
    let mut applied = false;
    if !opts.plan_only && !plan.is_noop() {
        apply(&tx, &plan)?;
        tx.record_versions(&opts.dist)?;
        tx.meta_set(
            "lastUpdate",
            &serde_json::json!({
                "dist": opts.dist,
                "at": chrono::Utc::now().to_rfc3339(),
                "totals": plan.totals,
            })
            .to_string(),
        )?;
        tx.commit()
            .with_context(|| format!("cannot commit the update of {}", path.display()))?;
        applied = true;
        if !plan.is_empty() {
            if let Some(m) = modes.as_mut() {
                m.committed();
            }
        }
    } else {
        drop(tx);
    }
    if !opts.plan_only && log.is_some() {
        // Consumed (the toolkit empties it after a successful update).
        crate::fsutil::write_atomic(&log_path, b"", None)
            .with_context(|| format!("cannot empty the change log {}", log_path.display()))?;
    }
    let mode = modes.as_ref().map(|m| {
        if m.no_downtime() {
            "noDowntime".to_string()
        } else {
            "maintenance".to_string()
        }
    });
    drop(modes);
    let recovered_lock = lock.as_ref().and_then(|l| l.recovered.clone());
    drop(lock);
    Ok(UpdateReport {
        env: path.to_path_buf(),
        dist: opts.dist.clone(),
        plan_only: opts.plan_only,
        dry_run: opts.plan_only,
        applied,
        mode,
        change_log: log.is_some().then_some(log_path),
        plan,
        drift,
        recovered_lock,
        duration_ms: start.elapsed().as_millis() as u64,
    })
}

/// The change log of the folder (it narrows the work to the changed roots), if used and
/// present, and its path.
fn read_change_log(opts: &UpdateSpec) -> Result<(PathBuf, Option<ChangeLog>)> {
    let log_path = opts.dist.join(&opts.change_log_name);
    if !(opts.use_change_log && log_path.is_file()) {
        return Ok((log_path, None));
    }
    let text = std::fs::read_to_string(&log_path)
        .with_context(|| format!("cannot read the change log {}", log_path.display()))?;
    Ok((log_path, Some(ChangeLog::parse(&text))))
}

/// The roots a change log designates, and the desired state with those roots parsed.
fn load_desired(
    tx: &UpdateTx<'_>,
    dist: &Path,
    log: Option<&ChangeLog>,
    extra_roots: &BTreeSet<String>,
) -> Result<(DesiredState, Option<BTreeSet<String>>)> {
    let Some(log) = log else {
        return Ok((DesiredState::load(dist)?, None));
    };
    let files = crate::update::desired::list_files(dist)?;
    let known: BTreeSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    let is_known = |p: &str| known.contains(p);
    let mut changed_files: BTreeSet<String> = BTreeSet::new();
    for p in &log.patches {
        if let Some(r) = changelog::relativize(p, &is_known) {
            changed_files.insert(r);
        }
    }
    for b in &log.binaries {
        // `<item base>/<file tag>`: the item's patches are `<item base>.<kind>.json`.
        if let Some((base, _)) = b.rsplit_once('/') {
            for f in &files {
                let stem = f.rel.strip_suffix(f.kind.suffix()).unwrap_or(&f.rel);
                if base == stem || base.ends_with(&format!("/{stem}")) {
                    changed_files.insert(f.rel.clone());
                }
            }
        }
    }
    for z in &log.zip_folders {
        for f in &files {
            if f.rel.starts_with(&format!("{z}/")) || f.rel.contains(&format!("/{z}/")) {
                changed_files.insert(f.rel.clone());
            }
        }
    }
    let mut roots = extra_roots.clone();
    for p in &log.deleted {
        let rel = p.trim_start_matches("./");
        let mut candidate = rel;
        loop {
            if let Some(r) = tx.root_of_file(candidate)? {
                roots.insert(r);
                break;
            }
            match candidate.split_once('/') {
                Some((_, rest)) => candidate = rest,
                None => break,
            }
        }
    }
    let d = DesiredState::from_files(files, Some((&changed_files, &roots)))?;
    let mut changed: BTreeSet<String> = roots;
    for f in &changed_files {
        if let Some(r) = d.file_roots.get(f) {
            changed.insert(r.clone());
        }
    }
    Ok((d, Some(changed)))
}

/// Compute the plan (and drift report) inside a transaction.
pub fn compute(
    tx: &UpdateTx<'_>,
    opts: &UpdateSpec,
    log: Option<&ChangeLog>,
) -> Result<(Plan, Option<DriftReport>)> {
    let t = Instant::now();
    let (mut desired, mut changed) = load_desired(tx, &opts.dist, log, &BTreeSet::new())?;
    tracing::debug!(
        "desired state: {} roots ({} parsed) in {} ms",
        desired.all_roots.len(),
        desired.roots.len(),
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    // Comparing every root (or checking every root for drift): read the environment at
    // once; otherwise query only the items of the changed roots.
    let sql = tx.current();
    let preloaded;
    let cur: &dyn Current = if changed.is_none() || opts.detect_drift {
        preloaded = tx.preload()?;
        &preloaded
    } else {
        &sql
    };
    tracing::debug!("environment view ready in {} ms", t.elapsed().as_millis());
    let t = Instant::now();
    let excluded = exclusion(cur, &desired, &opts.exclude)?;
    tracing::debug!(
        "{} excluded nodes in {} ms",
        excluded.len(),
        t.elapsed().as_millis()
    );
    let mut req = PlanRequest {
        changed: changed.clone(),
        excluded: excluded.clone(),
        ..PlanRequest::default()
    };
    let mut drift_report = None;
    if opts.detect_drift {
        let mut report = drift::detect(cur, &excluded)?;
        drift::apply_policies(&mut report, &opts.drift_policies, &mut req)?;
        // Roots to revert must be parsed even if their patches did not change.
        if let Some(c) = &changed {
            let missing: BTreeSet<String> = req
                .revert
                .iter()
                .filter(|r| !desired.roots.contains_key(*r) && desired.all_roots.contains(*r))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let mut extra = missing;
                extra.extend(c.iter().cloned());
                let (d, c2) = load_desired(tx, &opts.dist, log, &extra)?;
                desired = d;
                changed = c2.map(|mut c2| {
                    c2.retain(|r| c.contains(r));
                    c2
                });
                req.changed = changed.clone();
            }
        }
        drift_report = Some(report);
    }
    let t = Instant::now();
    let p = plan(&desired, cur, &req)?;
    tracing::debug!("plan in {} ms", t.elapsed().as_millis());
    Ok((p, drift_report))
}

fn exclusion(
    cur: &dyn Current,
    desired: &DesiredState,
    cfg: &ExcludeConfig,
) -> Result<BTreeSet<String>> {
    let children = |n: &str| -> Result<BTreeSet<String>> {
        let mut c: BTreeSet<String> = cur.structure_children(n)?.into_iter().collect();
        if let Some(d) = desired.structure.get(n) {
            c.extend(d.iter().cloned());
        }
        Ok(c)
    };
    exclude::closure(cfg, &children)
}

/// Apply a plan inside a transaction: every operation, then the inventory records. The
/// first failing operation aborts with [`ApplyError`] (the caller's transaction is then
/// rolled back when dropped).
pub fn apply(tx: &UpdateTx<'_>, plan: &Plan) -> Result<()> {
    let ops = plan_ops_with_roots(plan);
    let total = ops.len();
    for (i, (root, op)) in ops.iter().enumerate() {
        tx.apply_ops(std::iter::once(op)).map_err(|e| {
            e.context(ApplyError {
                index: i + 1,
                total,
                op: crate::json::to_compact(&op.to_value()),
                root: root.clone(),
            })
        })?;
    }
    tx.write_inventory(&plan.inventory)?;
    Ok(())
}

/// The plan's operations in application order, each with its root.
pub fn plan_ops_with_roots(plan: &Plan) -> Vec<(String, Op)> {
    let mut by_code: BTreeMap<u8, Vec<(String, Op)>> = BTreeMap::new();
    for r in &plan.roots {
        let single = Plan {
            roots: vec![r.clone()],
            ..Plan::default()
        };
        for op in single.ops() {
            let rank = match op.code() {
                5 => 0,
                3 => 1,
                1 => 2,
                2 => 3,
                _ => 4,
            };
            by_code.entry(rank).or_default().push((r.root.clone(), op));
        }
    }
    by_code.into_values().flatten().collect()
}
