//! The diff half of `update` against an orchestrator, shared by the update and its
//! rollback: read the live graph through graphDef (structure and roots: read-only, all
//! `--plan` does), plan it against a desired folder with the one planner of
//! [`crate::update`] (the deployed state of each live root is its live content: the
//! orchestrator keeps no inventory, as with the toolkit), turn the plan into the
//! toolkit's diff files, and apply them (upload to the backup area, `load`,
//! `loadBinaryFiles`, password, versions) and the "after" steps.

use super::commands::{gc, load, set_password};
use super::deploy::{set_versions, update_versions};
use super::{obj, Orchestrator, OrchestratorError};
use crate::env::UpdateSpec;
use crate::patch::{FileKind, Op};
use crate::update::changelog::{self, ChangeLog};
use crate::update::desired::DesiredState;
use crate::update::exclude;
use crate::update::memory::MemEnv;
use crate::update::{plan, Current, Plan, PlanRequest, RootState};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

/// Operations per diff file (the toolkit's limit).
const OPS_PER_FILE: usize = 500;

/// Loading the update's diff failed: the update is rolled back.
#[derive(Debug, thiserror::Error)]
#[error("Failed to import patches: {0}")]
pub struct ImportPatchesError(#[source] pub OrchestratorError);

/// The deployed state of a live root: its live content (the orchestrator keeps no
/// inventory, as with the toolkit).
fn live_state(ops: &[Op]) -> RootState {
    RootState::from_ops(ops.iter().map(|o| (FileKind::of_op(o), o)))
}

/// The desired state and, with a change log in the folder, the roots it designates
/// (`None`: every root is compared).
fn load_desired(req: &UpdateSpec) -> Result<(DesiredState, Option<BTreeSet<String>>)> {
    let log_path = req.dist.join(&req.change_log_name);
    if !req.use_change_log || !log_path.is_file() {
        return Ok((DesiredState::load(&req.dist)?, None));
    }
    let log = ChangeLog::parse(&std::fs::read_to_string(&log_path)?);
    let files = crate::update::desired::list_files(&req.dist)?;
    let known: BTreeSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    let changed_files: BTreeSet<String> = log
        .patches
        .iter()
        .filter_map(|p| changelog::relativize(p, &|x| known.contains(x)))
        .collect();
    let d = DesiredState::from_files(files, Some((&changed_files, &BTreeSet::new())))?;
    let changed = changed_files
        .iter()
        .filter_map(|f| d.file_roots.get(f).cloned())
        .collect();
    Ok((d, Some(changed)))
}

/// What the plan is computed from: the build, the roots its change log designates
/// (`None`: every root), the live roots absent from the build, the live graph (the
/// structure and the content of every root read) and the deployed state of each root
/// to compare.
struct LiveRead {
    desired: DesiredState,
    changed: Option<BTreeSet<String>>,
    gone: BTreeSet<String>,
    graph: crate::graph::Graph,
    inventory: BTreeMap<String, RootState>,
}

/// The build's change log, when it is used and readable (`None`: every root and binary
/// folder counts as changed).
fn read_change_log(req: &UpdateSpec) -> Option<ChangeLog> {
    if !req.use_change_log {
        return None;
    }
    let text = std::fs::read_to_string(req.dist.join(&req.change_log_name)).ok()?;
    Some(ChangeLog::parse(&text))
}

/// The roots of the files the change log names, from those files alone (a guess made
/// before the whole build is read: [`load_desired`] has the final word).
fn change_log_roots(req: &UpdateSpec) -> BTreeSet<String> {
    let Some(log) = read_change_log(req) else {
        return BTreeSet::new();
    };
    use rayon::prelude::*;
    // On every core: a Core update's change log names most of its 950 files.
    log.patches
        .par_iter()
        .filter_map(|p| changelog::relativize(p, &|x| req.dist.join(x).is_file()))
        .filter_map(|f| crate::update::desired::scan_root_tag(&req.dist.join(f)).ok())
        .collect()
}

/// Read the build and the orchestrator side by side: the build from disk while the
/// orchestrator answers the structure query and then the roots of the change log's files;
/// once the build is read, the other roots to compare (those absent from it). Each root's
/// answer is turned into its deployed state and added to the live graph as it arrives.
fn read_live(o: &Orchestrator, req: &UpdateSpec) -> Result<LiveRead> {
    let parallel = o.cfg.graphdef_rate_limit.max(1);
    std::thread::scope(|s| {
        let build = s.spawn(|| {
            let t = Instant::now();
            let r = load_desired(req);
            tracing::debug!("build read in {} ms", t.elapsed().as_millis());
            r
        });
        let early = s.spawn(|| change_log_roots(req));
        let t = Instant::now();
        let mut graph = o.structure()?;
        tracing::debug!("structure read in {} ms", t.elapsed().as_millis());
        let live = crate::env::orchestrator::graph::roots_of(&graph);
        let early = early
            .join()
            .map_err(|_| anyhow::anyhow!("reading the change log panicked"))?;
        let t = Instant::now();
        let of = |keep: &dyn Fn(&str) -> bool| -> BTreeMap<String, &'static str> {
            live.iter()
                .filter(|(r, _)| keep(r))
                .map(|(r, f)| (r.clone(), *f))
                .collect()
        };
        let mut inventory = BTreeMap::new();
        // A root read early that the build then does not designate (it should not
        // happen: both come from the change log) stays in the live graph, which it
        // describes truly, but is not compared.
        let mut take = |(root, state, ops): (String, RootState, Vec<Op>)| {
            inventory.insert(root, state);
            ops.into_iter().for_each(|op| graph.apply_owned(op));
        };
        let state = |root: String, ops: Vec<Op>| (root, live_state(&ops), ops);
        let first = of(&|r| early.contains(r));
        o.roots_each(&first, parallel, state, &mut take)?;
        let (desired, changed) = build
            .join()
            .map_err(|_| anyhow::anyhow!("reading the build panicked"))??;
        // Roots removed from the build: live roots no patch holds (the toolkit's rule;
        // their content is read so the plan can delete it).
        let gone: BTreeSet<String> = live
            .keys()
            .filter(|r| !desired.all_roots.contains(*r))
            .cloned()
            .collect();
        let wanted = |r: &str| {
            changed
                .as_ref()
                .is_none_or(|c| c.contains(r) || gone.contains(r))
        };
        let rest = of(&|r| wanted(r) && !first.contains_key(r));
        o.roots_each(&rest, parallel, state, &mut take)?;
        inventory.retain(|r, _| wanted(r));
        tracing::info!(
            "{} live roots, {} changed, {} absent from the build",
            live.len(),
            changed.as_ref().map_or(live.len(), BTreeSet::len),
            gone.len()
        );
        tracing::debug!(
            "absent from the build: {:?}",
            gone.iter().take(20).collect::<Vec<_>>()
        );
        tracing::info!(
            "{} roots read through graphDef and built in {} ms",
            inventory.len(),
            t.elapsed().as_millis()
        );
        Ok(LiveRead {
            desired,
            changed,
            gone,
            graph,
            inventory,
        })
    })
}

/// Read the orchestrator (read-only graphDef queries) and compute the plan. With a
/// change log only the changed roots and the roots absent from the build are read.
pub fn compute(o: &Orchestrator, req: &UpdateSpec) -> Result<Plan> {
    let LiveRead {
        desired,
        changed,
        gone,
        graph,
        mut inventory,
    } = read_live(o, req)?;
    // Repositories nobody deploys are not owned.
    inventory.retain(|r, _| desired.all_roots.contains(r) || !is_repository(&graph, r));
    let mem = MemEnv::new(graph, inventory);
    let children = |n: &str| -> Result<BTreeSet<String>> {
        let mut c: BTreeSet<String> = mem.structure_children(n)?.into_iter().collect();
        if let Some(d) = desired.structure.get(n) {
            c.extend(d.iter().cloned());
        }
        Ok(c)
    };
    let t = Instant::now();
    let excluded = exclude::closure(&req.exclude, &children)?;
    tracing::debug!("excluded roots in {} ms", t.elapsed().as_millis());
    let preq = PlanRequest {
        changed: changed.map(|c| c.union(&gone).cloned().collect()),
        excluded,
        no_inventory: true,
        ..PlanRequest::default()
    };
    let t = Instant::now();
    let p = plan(&desired, &mem, &preq);
    tracing::debug!("planned in {} ms", t.elapsed().as_millis());
    // The build and the live graph (hundreds of thousands of small allocations for a
    // large environment) are freed beside the steps that apply the plan, not before them.
    crate::graph::free_in_background((desired, mem));
    p
}

fn is_repository(graph: &crate::graph::Graph, tag: &str) -> bool {
    graph
        .targets(tag, crate::patch::tags::rel::MODEL)
        .any(|m| m == crate::patch::tags::model::REPOSITORY)
}

/// The toolkit's diff files: ≤ 500 operations each, `{"rootTag": "null", …}`.
pub fn diff_files(plan: &Plan) -> Vec<(String, Vec<u8>)> {
    let mut groups: BTreeMap<u8, Vec<Value>> = BTreeMap::new();
    for op in plan.ops() {
        groups.entry(op.code()).or_default().push(op.to_value());
    }
    let names = [
        (1, "createInstances", "newInst"),
        (2, "updateInstances", "updateInst"),
        (3, "deleteInstances", "delInst"),
        (4, "createRelations", "newRel"),
        (5, "deleteRelations", "delRel"),
    ];
    let mut out = Vec::new();
    for (code, stem, kind) in names {
        let Some(ops) = groups.get(&code) else {
            continue;
        };
        for (i, chunk) in ops.chunks(OPS_PER_FILE).enumerate() {
            let body = json!({ "rootTag": "null", "operations": chunk });
            let name = format!("{stem}_{}.{kind}.json", i + 1);
            out.push((name, serde_json::to_vec(&body).expect("JSON")));
        }
    }
    out
}

/// Write the diff files to `<folder>/<sub>` (emptied first), as the toolkit keeps them.
pub fn write_local(folder: &Path, sub: &str, files: &[(String, Vec<u8>)]) -> Result<()> {
    let diff = folder.join(sub);
    if diff.exists() {
        std::fs::remove_dir_all(&diff)
            .with_context(|| format!("cannot empty {}", diff.display()))?;
    }
    std::fs::create_dir_all(&diff).with_context(|| format!("cannot create {}", diff.display()))?;
    for (name, bytes) in files {
        std::fs::write(diff.join(name), bytes)?;
    }
    Ok(())
}

/// The toolkit's "after" steps before the mode goes back: `startGC`, `updateDone`,
/// subscription cache.
pub fn housekeeping(o: &Orchestrator, no_downtime: bool) -> Result<()> {
    o.command(gc(true, true, false, false), None)?;
    o.command(
        obj(&[
            ("command", "updateDone".into()),
            ("noDownTime", no_downtime.into()),
        ]),
        None,
    )?;
    if no_downtime {
        o.command(obj(&[("command", "refreshSubscriptionCache".into())]), None)?;
    }
    Ok(())
}

/// The folders of the orchestrator's patches folder whose binary files (File contents,
/// named by their instance's tag) an update loads with `loadBinaryFiles`: with a change
/// log, the folders of the binary files it names; without, the whole patches folder
/// (`None`), as the toolkit does.
pub fn binary_folders(req: &UpdateSpec) -> Vec<Option<String>> {
    let Some(log) = read_change_log(req) else {
        return vec![None];
    };
    let folders: BTreeSet<String> = log
        .binaries
        .iter()
        .filter_map(|p| changelog::relativize(p, &|x| req.dist.join(x).is_file()))
        .filter_map(|f| Some(Path::new(&f).parent()?.to_string_lossy().into_owned()))
        .collect();
    folders.into_iter().map(Some).collect()
}

/// Upload the diff files to backup `<folder>/`, load them (a failing `load` is an
/// [`ImportPatchesError`]), the binary files of
/// `binaries` (see [`binary_folders`]), password, versions.
pub fn apply(
    o: &Orchestrator,
    req: &UpdateSpec,
    files: &[(String, Vec<u8>)],
    folder: &str,
    binaries: &[Option<String>],
) -> Result<()> {
    let token = o.token()?;
    if !files.is_empty() {
        for (name, bytes) in files {
            o.block_on(
                o.http()
                    .upload(&format!("{folder}/{name}"), bytes.clone(), true, &token),
            )?;
        }
        o.command(
            load(Some(folder), false, false, true, true),
            Some(o.cfg.import_timeout),
        )
        .map_err(ImportPatchesError)?;
    }
    for b in binaries {
        let mut c = obj(&[("command", "loadBinaryFiles".into())]);
        if let Some(f) = b {
            c.insert("folderPath".into(), f.as_str().into());
        }
        o.command(c, Some(o.cfg.import_timeout))
            .map_err(ImportPatchesError)?;
    }
    if let Some((tag, name, password)) = &req.user {
        o.command(set_password(tag, name, password.expose()), None)?;
    }
    // The versions of the folder deployed (the toolkit reads the same file from the
    // orchestrator's patches folder, which cadkit does not need to fill).
    let local = req.dist.join(&req.version_file);
    if local.is_file() {
        let v: Value = serde_json::from_slice(&std::fs::read(&local)?)
            .with_context(|| format!("{}", local.display()))?;
        set_versions(o, &v)?;
    } else {
        update_versions(o, &req.version_file)?;
    }
    Ok(())
}
