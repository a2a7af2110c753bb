//! The dump's roots: found under the configured root tags, their content built in
//! parallel, their paths assigned in dump order, then serialised into the files to write.

use super::{Collision, Model, Plan, PlannedFile, Root, RootKind};
use crate::graph::Graph;
use crate::snapshot::config::DumpConfig;
use crate::snapshot::format::RootContent;
use crate::snapshot::names::{is_safe_relative, Registry};
use anyhow::{bail, Result};
use rayon::prelude::*;
use std::collections::HashSet;

/// Plan the dump of `graph` with `config`: every file with its relative path and bytes.
pub fn plan(graph: &Graph, config: &DumpConfig) -> Result<Plan> {
    let start = std::time::Instant::now();
    let (jobs, mut plan) = plan_patches(graph, config)?;
    let planned = start.elapsed();
    plan.binaries = jobs
        .iter()
        .flat_map(|(base, c)| {
            c.binaries
                .iter()
                .map(move |t| (format!("{base}/{t}"), t.to_string()))
        })
        .collect();
    plan.files = jobs
        .into_par_iter()
        .flat_map_iter(|(base, content)| {
            content
                .files()
                .into_iter()
                .map(move |(kind, p)| PlannedFile {
                    path: format!("{base}{}", kind.suffix()),
                    bytes: p.into_bytes(),
                })
        })
        .collect();
    tracing::debug!(
        "plan: {} roots planned in {planned:?}, {} files serialised in {:?}",
        plan.roots,
        plan.files.len(),
        start.elapsed() - planned
    );
    Ok(plan)
}

/// Every root's content with its base path, in dump order.
type Jobs<'g> = Vec<(String, RootContent<'g>)>;

/// Every root's content, for the writer's tests.
#[cfg(test)]
pub(crate) fn contents_for_tests<'g>(
    graph: &'g Graph,
    config: &'g DumpConfig,
) -> Vec<RootContent<'g>> {
    let (jobs, _) = plan_patches(graph, config).unwrap();
    jobs.into_iter().map(|(_, c)| c).collect()
}

/// Every root with its content and final path, in dump order, and the plan's counters.
/// Stages: find the roots (`find_roots`), their content in parallel (`root_contents`),
/// then their paths (`place`), in dump order since collision suffixes depend on it.
fn plan_patches<'g>(graph: &'g Graph, config: &'g DumpConfig) -> Result<(Jobs<'g>, Plan)> {
    let start = std::time::Instant::now();
    let m = Model::new(graph);
    let mut warnings = Vec::new();
    let (roots, projects) = find_roots(graph, &m, config, &mut warnings)?;
    let found = start.elapsed();
    let contents = root_contents(&m, &roots);
    let content = start.elapsed();
    let (jobs, collisions) = place(&roots, contents, config)?;
    tracing::debug!(
        "plan: model and roots {found:?}, content {:?}, paths {:?}",
        content - found,
        start.elapsed() - content
    );
    for c in &collisions {
        tracing::info!("name collision: {} written as {}", c.wanted, c.used);
    }

    Ok((
        jobs,
        Plan {
            files: Vec::new(),
            binaries: Vec::new(),
            projects,
            roots: roots.len(),
            collisions,
            warnings,
        },
    ))
}

/// The roots under each configured root tag (a root tag absent from the environment is an
/// error; one with no project, or a root the hierarchy names but the environment lacks, a
/// warning), and the number of projects found.
fn find_roots<'g>(
    graph: &'g Graph,
    m: &Model<'g>,
    config: &'g DumpConfig,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Root<'g>>, usize)> {
    let exclude: HashSet<&str> = config.exclude.iter().map(String::as_str).collect();
    let mut roots = Vec::new();
    let mut projects = 0;
    for dump_root in &config.root_tags {
        let known = graph.instances.contains_key(dump_root.as_str())
            || graph
                .out
                .get(dump_root.as_str())
                .is_some_and(|s| !s.is_empty());
        if !known {
            bail!(
                "root tag {dump_root} is not in the environment (check rootTags in the snapshot config)"
            );
        }
        let list = m.projects(dump_root, &exclude);
        if list.is_empty() {
            warnings.push(format!("no project found under root tag {dump_root}"));
        }
        projects += list.len();
        for p in list {
            m.project_roots(p, dump_root, &mut roots);
        }
    }

    roots.retain(|r| {
        let known = graph.instances.contains_key(r.tag);
        if !known {
            warnings.push(format!(
                "{:?} {} is referenced by the hierarchy but not in the environment: skipped",
                r.kind, r.tag
            ));
        }
        known
    });
    Ok((roots, projects))
}

/// Each root's content and the base path it asks for (`<dumpRoot>/<chain>`, a project or
/// folder inside its own `.<name>` folder), computed in parallel.
fn root_contents<'g>(m: &Model<'g>, roots: &[Root<'g>]) -> Vec<Result<(RootContent<'g>, String)>> {
    roots
        .par_iter()
        .map(|r| {
            let content = m.root_content(r)?;
            let mut chain = m.chain(r.tag);
            let base = match r.kind {
                RootKind::Project | RootKind::Folder => {
                    let last = chain.last().cloned().unwrap_or_default();
                    chain.push(format!(".{last}"));
                    chain.join("/")
                }
                RootKind::Item => chain.join("/"),
            };
            Ok((content, format!("{}/{base}", r.dump_root)))
        })
        .collect()
}

/// The final path of each root, in dump order: a taken path gets a suffix (a collision),
/// then `pathOverride` applies; two roots on one path, or a path leaving the output
/// folder, is an error naming the fix.
fn place<'g>(
    roots: &[Root<'g>],
    contents: Vec<Result<(RootContent<'g>, String)>>,
    config: &DumpConfig,
) -> Result<(Jobs<'g>, Vec<Collision>)> {
    let mut registry = Registry::new();
    let mut collisions = Vec::new();
    let mut final_paths = HashSet::new();
    let mut jobs: Jobs<'g> = Vec::with_capacity(roots.len());
    for (root, content) in roots.iter().zip(contents) {
        let (content, wanted) = content?;
        let used = registry.register(&wanted);
        if used != wanted {
            collisions.push(Collision {
                tag: root.tag.to_string(),
                wanted: wanted.clone(),
                used: used.clone(),
            });
        }
        let mut path = format!("/{}", &used[root.dump_root.len() + 1..]);
        for (from, to) in &config.path_override {
            path = path.replacen(from.as_str(), to, 1);
        }
        let rel = format!("{}/{}", root.dump_root, path.trim_start_matches('/'));
        if !final_paths.insert(rel.to_lowercase()) {
            bail!(
                "pathOverride maps two roots onto {rel:?} (second: {}); fix pathOverride",
                root.tag
            );
        }
        if !is_safe_relative(&rel) {
            bail!(
                "the path {rel:?} of {} is not a safe relative path (check pathOverride)",
                root.tag
            );
        }
        jobs.push((rel, content));
    }
    Ok((jobs, collisions))
}
