//! The snapshot dumper: an environment's projects written as patch files, byte-identical
//! to the toolkit's dumper (proven on `@olympeio/core`: `tests/all/snapshot_core.rs`).
//!
//! Entry points:
//! - [`run_entry`]: one snapshot config entry against an [`Environment`], into a folder
//!   (the single call the git flow wraps);
//! - [`dump`]: a graph, a [`DumpConfig`] and an output folder;
//! - [`plan`]: what a dump would write, in memory (no disk access).
//!
//! Rules (see `docs/dumper-rules.md`): projects under each configured root tag (through
//! `homeFolder`/`subRepository`, skipping `exclude`), then per project its folders
//! (model exactly Folder, by tag) and items (by tag, per folder, then the project's own);
//! each root's content is the follow-rule closure (SNAPSHOT rule for the project and
//! folders, DUMP rule for items, plus `{c:8}` targets); CREATE ops hold the plain
//! properties, complex ones go to an UPDATE (`updateInst`); `optionalOperations` link the
//! root into the hierarchy; files are `<outputDir>/<rootTag>/Home/<Repo>/<Project>/…`
//! with sanitised names and case-insensitive collision suffixes (in dump order); operations
//! are sorted and serialised deterministically.
//!
//! Only real changes are written ([`write::sync`]): unchanged files are not rewritten,
//! patch files of roots that disappeared are deleted (inside the dumped root-tag folders
//! only). Names from the graph can never escape the output folder ([`names::sanitize`]).
//!
//! Binaries: File instances (model File or a subtype) whose flag `ff023000000000000054`
//! is `true` have their content written beside their root as `<base>/<fileTag>` (no
//! extension), from [`Environment::blobs`] (the embedded environment stores the binaries
//! found beside the patches it loads; an orchestrator serves them from its file service,
//! fetched a few at a time). A content the environment does not hold is not
//! written, and an existing file for it is kept (a warning says so); graph-only dumps
//! ([`dump`]) write no binaries.

pub mod config;
mod dump;
pub(crate) mod format;
pub mod names;
pub mod synth;
pub mod write;

pub use config::{DumpConfig, GitConfig, SnapshooterConfig, SnapshotEntry};
pub use dump::{
    follow_rule_closure, follow_rule_closure_with, plan, Collision, FollowBits, Plan, PlannedFile,
    RootKind,
};

use crate::env::Environment;
use crate::graph::Graph;
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a dump did (or would do, in a dry run): the JSON report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DumpReport {
    /// The entry's name.
    pub name: String,
    /// The folder the patch files are written to.
    pub output_dir: PathBuf,
    /// The root tags dumped.
    pub root_tags: Vec<String>,
    /// Nothing was written: the lists say what would have changed.
    pub dry_run: bool,
    /// Projects found under the root tags.
    pub projects: usize,
    /// Roots dumped (projects, folders and items).
    pub roots: usize,
    /// Files of the dump (added + changed + unchanged).
    pub files: usize,
    /// Files actually written (0 in a dry run and for an unchanged environment).
    pub written: usize,
    /// Files the dump adds.
    pub added: Vec<String>,
    /// Files whose content changed.
    pub changed: Vec<String>,
    /// Files deleted: their root is no longer in the environment.
    pub deleted: Vec<String>,
    /// Files already holding the right bytes.
    pub unchanged: Vec<String>,
    /// Base paths that were taken and got a suffix.
    pub collisions: Vec<Collision>,
    /// Things the user should know that did not stop the dump.
    pub warnings: Vec<String>,
    /// Wall time of the dump, in milliseconds.
    pub duration_ms: u64,
}

impl DumpReport {
    /// True when the dump changed (or would change) something on disk.
    pub fn has_changes(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.deleted.is_empty())
    }
}

/// Dump `graph` into `out_dir` (see the module doc); writes only what changed.
pub fn dump(graph: &Graph, config: &DumpConfig, out_dir: &Path) -> Result<DumpReport> {
    dump_with(graph, config, out_dir, false)
}

/// [`dump`], or with `dry_run` only what it would write and delete.
pub fn dump_with(
    graph: &Graph,
    config: &DumpConfig,
    out_dir: &Path,
    dry_run: bool,
) -> Result<DumpReport> {
    dump_inner(graph, None, config, out_dir, dry_run)
}

fn dump_inner(
    graph: &Graph,
    blobs: Option<&dyn Environment>,
    config: &DumpConfig,
    out_dir: &Path,
    dry_run: bool,
) -> Result<DumpReport> {
    let start = Instant::now();
    let mut plan = plan(graph, config)?;
    let mut keep = std::collections::HashSet::new();
    let binaries = std::mem::take(&mut plan.binaries);
    let tags: Vec<String> = binaries.iter().map(|(_, t)| t.clone()).collect();
    let mut contents = match blobs {
        Some(env) if !tags.is_empty() => env.blobs(&tags)?,
        _ => Default::default(),
    };
    for (path, tag) in binaries {
        match contents.remove(&tag) {
            Some(bytes) => plan.files.push(PlannedFile { path, bytes }),
            None => {
                plan.warnings.push(format!(
                    "binary content of File {tag} is not in the environment: {path} not written (an existing copy is kept)"
                ));
                keep.insert(path);
            }
        }
    }
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    let sync = write::sync(out_dir, &config.root_tags, &plan.files, &keep, dry_run)?;
    let report = DumpReport {
        name: config.name.clone(),
        output_dir: out_dir.to_path_buf(),
        root_tags: config.root_tags.clone(),
        dry_run,
        projects: plan.projects,
        roots: plan.roots,
        files: plan.files.len(),
        written: sync.written,
        added: sync.added,
        changed: sync.changed,
        deleted: sync.deleted,
        unchanged: sync.unchanged,
        collisions: plan.collisions,
        warnings: plan.warnings,
        duration_ms: start.elapsed().as_millis() as u64,
    };
    tracing::info!(
        "snapshot {}: {} roots, {} files: {} added, {} changed, {} deleted, {} unchanged{}",
        if report.name.is_empty() {
            "(unnamed)"
        } else {
            &report.name
        },
        report.roots,
        report.files,
        report.added.len(),
        report.changed.len(),
        report.deleted.len(),
        report.unchanged.len(),
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    Ok(report)
}

/// Dump one config entry of `env` into `out_dir` (already resolved by the caller:
/// `outputDir`, or the git clone's folder joined with it).
pub fn run_entry(
    env: &dyn Environment,
    entry: &SnapshotEntry,
    out_dir: &Path,
    dry_run: bool,
) -> Result<DumpReport> {
    let config = entry.snapshooter.dump_config()?;
    tracing::info!("snapshot {:?}: reading {}", config.name, env.describe());
    let graph = env.graph()?;
    let report = dump_inner(&graph, Some(env), &config, out_dir, dry_run);
    graph.free_in_background();
    report
}

/// The demo's snapshot step: install the built sample (`dist`) into an embedded
/// environment under `work/.cadkit/`, add the runtime data model the sample does not
/// bring itself ([`synth::data_model`]), and snapshot the projects whose tags name the
/// sample's snapshot folders (`<project>/snapshot/<tag>/`) into `work/snapshot-out`.
pub fn demo_step(work: &Path, project: &Path, dist: &Path) -> Result<serde_json::Value> {
    let env_path = work.join(".cadkit/env.sqlite");
    let mut env = crate::env::SqliteEnv::open(&env_path)?;
    let load = env.load_dist(dist, true)?;
    env.apply(&synth::data_model())?;
    let entry = demo_entry(project)?;
    let out = work.join("snapshot-out");
    let report = run_entry(&env, &entry, &out, false)?;
    eprintln!(
        "demo: installed {} instances into {}, snapshot wrote {} files to {}",
        load.instances,
        env_path.display(),
        report.written,
        out.display()
    );
    Ok(serde_json::json!({ "install": load, "snapshot": report }))
}

/// The demo's snapshot config entry: every root tag folder of the project's `snapshot/`.
pub fn demo_entry(project: &Path) -> Result<SnapshotEntry> {
    use anyhow::Context;
    let snapshot_dir = project.join("snapshot");
    let mut root_tags = Vec::new();
    for e in std::fs::read_dir(&snapshot_dir)
        .with_context(|| format!("cannot list {}", snapshot_dir.display()))?
    {
        let name = e?.file_name().to_string_lossy().into_owned();
        if crate::patch::is_tag(&name) {
            root_tags.push(name);
        }
    }
    root_tags.sort();
    Ok(serde_json::from_value(serde_json::json!({
        "snapshooter": { "name": "demo", "rootTags": root_tags, "exclude": [] }
    }))?)
}
