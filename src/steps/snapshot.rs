//! `snapshot`: dump the environment's projects as patch files, one snapshot config entry
//! at a time, into the entry's `outputDir` or, for an entry with a `git` object, into a
//! clone that is committed and pushed. [`run`] returns one report entry per config entry,
//! each naming the environment dumped. The dump lives in [`crate::snapshot`], the git flow
//! in [`crate::git`].
//!
//! Stdout keeps the shape other tools parse (the JSON array of entries); the report file
//! holds the report with its envelope (`{"entries": [...], "dryRun", "outputs"}`).

use super::envcmd::{typed, EnvironmentRef};
use crate::ci::Outputs;
use crate::env::{Environment, Selection};
use crate::git::{self, Author, Backoff, SnapshotGitOptions, SnapshotGitReport};
use crate::snapshot::{self as dump, DumpReport, GitConfig, SnapshotEntry};
use anyhow::{anyhow, bail, Result};
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to dump, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct Request {
    /// The environment to read (an embedded one must exist: it is never created).
    pub env: Selection,
    /// The snapshot config: a JSON file, or a folder of `*.json` files.
    pub config: PathBuf,
    /// Output folder of entries without `outputDir`.
    pub snapshot_dir: PathBuf,
    /// Show what would be written and deleted (and committed); write nothing.
    pub dry_run: bool,
    /// The git settings of entries with a `git` object.
    pub git: GitDefaults,
}

/// The git settings every entry with a `git` object shares; an entry's own `branch` and
/// `commitMessage` win over them ([`GitDefaults::options`]).
#[derive(Clone)]
pub struct GitDefaults {
    /// Folder holding the clones (`<dir>/<entry name>`), reused between runs.
    pub repositories_dir: PathBuf,
    /// Commit message template (`{date}`, `{folder}`, `{branch}`, `{count}`).
    pub commit_message: String,
    /// Author and committer of the snapshot commits.
    pub author: Author,
    /// Token used as the basic-auth password when a repository URL holds none (never
    /// printed: redacted in `Debug`, registered as a secret by [`run`]).
    pub token: Option<String>,
    /// Push attempts before giving up when others keep pushing to the branch.
    pub max_attempts: u32,
    /// Create the branch on the first push when the remote lacks it.
    pub create_branch: bool,
    /// Clone depth (0 = full history).
    pub depth: u32,
    /// Reuse the clone of an earlier run (fetch + hard reset) instead of cloning afresh.
    pub reuse_clone: bool,
}

impl std::fmt::Debug for GitDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitDefaults")
            .field("repositories_dir", &self.repositories_dir)
            .field("commit_message", &self.commit_message)
            .field("author", &self.author)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_attempts", &self.max_attempts)
            .field("create_branch", &self.create_branch)
            .field("depth", &self.depth)
            .field("reuse_clone", &self.reuse_clone)
            .finish()
    }
}

impl GitDefaults {
    /// The git flow's options for one config entry. `output_dir` is the entry's
    /// `outputDir` (the snapshot folder inside the clone); `branch` and `commitMessage` of
    /// the entry win over the defaults when not blank.
    pub fn options(
        &self,
        name: &str,
        git: &GitConfig,
        output_dir: &str,
        dry_run: bool,
    ) -> SnapshotGitOptions {
        SnapshotGitOptions {
            name: name.to_string(),
            repo: git.repo.clone(),
            branch: git
                .branch
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| git::DEFAULT_BRANCH.to_string()),
            output_dir: output_dir.to_string(),
            repositories_dir: self.repositories_dir.clone(),
            commit_message: git
                .commit_message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| self.commit_message.clone()),
            author: self.author.clone(),
            token: self.token.clone(),
            max_attempts: self.max_attempts,
            backoff: Backoff::default(),
            dry_run,
            create_branch: self.create_branch,
            depth: self.depth,
            reuse_clone: self.reuse_clone,
        }
    }
}

/// Run `snapshot`: dump every config entry (what a dry run would write, delete or commit
/// goes to stderr) and set the CI outputs on `out`, except on Azure, whose output commands
/// share stdout with the report the Azure template reads itself.
pub fn run(req: &Request, out: &mut Outputs) -> Result<Report> {
    if let Some(token) = &req.git.token {
        // Redacted from errors and reports; no `::add-mask::` line (CI secrets are masked
        // by the runner already, and the line itself would show the token in raw logs).
        crate::ci::register_secret(token);
    }
    let report = dump_all(req)?;
    if out.platform() != crate::ci::Platform::Azure {
        report.outputs(out)?;
    }
    Ok(report)
}

/// Dump every config entry, one report per entry, in config order.
fn dump_all(req: &Request) -> Result<Report> {
    let entries = dump::config::load(&req.config)?;
    if entries.is_empty() {
        bail!("{}: no snapshot config entry", req.config.display());
    }
    let env = req.env.open_existing()?;
    let environment: EnvironmentRef = typed(serde_json::to_value(env.info())?)?;
    let env = env.as_ref();
    let mut reports = Vec::new();
    for entry in &entries {
        let report = if entry.git.is_some() {
            EntryReport::Git(Box::new(git_entry(
                env,
                entry,
                &req.git,
                &req.snapshot_dir,
                req.dry_run,
            )?))
        } else {
            let out = entry.output_dir(&req.snapshot_dir);
            let report = dump::run_entry(env, entry, &out, req.dry_run)?;
            if req.dry_run {
                show_dry_run(&report, &out);
            }
            EntryReport::Dump(Box::new(report))
        };
        reports.push(Entry {
            report,
            environment: environment.clone(),
        });
    }
    Ok(Report { entries: reports })
}

/// What a dry run would write and delete, on stderr.
fn show_dry_run(report: &DumpReport, out: &Path) {
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

/// The git flow of one entry with a `git` object: clone into
/// `<repositoriesDir>/<name>`, dump into `<clone>/<outputDir>` (`outputDir` defaults to
/// `default_dir`, the `--snapshot.dir` option), commit and push; a dry run lists what it
/// would commit on stderr.
fn git_entry(
    env: &dyn Environment,
    entry: &SnapshotEntry,
    defaults: &GitDefaults,
    default_dir: &Path,
    dry_run: bool,
) -> Result<SnapshotGitReport> {
    let Some(git) = &entry.git else {
        bail!(
            "snapshot config entry {:?} has no git object",
            entry.snapshooter.name
        );
    };
    let name = &entry.snapshooter.name;
    if name.is_empty() {
        bail!("a snapshot config entry with a git object needs snapshooter.name (the clone goes to <--snapshot.repositoriesDir>/<name>)");
    }
    let out = entry.output_dir(default_dir);
    let out = out
        .to_str()
        .ok_or_else(|| anyhow!("outputDir {} is not valid UTF-8", out.display()))?;
    let opts = defaults.options(name, git, out, dry_run);
    let report = git::snapshot_entry(env, entry, &opts)?;
    let g = &report.git;
    if g.dry_run && g.changed {
        eprintln!("dry run: would commit to {} of {}:", g.branch, g.repo);
        for (mark, list) in [
            ("A", &g.files.added),
            ("M", &g.files.changed),
            ("D", &g.files.deleted),
        ] {
            for p in list {
                eprintln!("  {mark} {p}");
            }
        }
    }
    Ok(report)
}

/// What one config entry did.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum EntryReport {
    /// An entry with a `git` object: dumped into a clone, committed and pushed.
    Git(Box<SnapshotGitReport>),
    /// A plain dump into the entry's output folder.
    Dump(Box<DumpReport>),
}

/// An entry's report and the environment it dumped.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Entry {
    /// What the entry did (its fields are the entry object's own).
    #[serde(flatten)]
    pub report: EntryReport,
    /// The environment dumped (kind and location, never credentials).
    pub environment: EnvironmentRef,
}

/// The report of `snapshot`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Report {
    /// One per config entry, in config order.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Step outputs over all entries: `changed`, `commit` (the last one pushed),
    /// `files-added/changed/deleted`, and a summary table per entry.
    pub fn outputs(&self, out: &mut Outputs) -> Result<()> {
        let (mut added, mut changed, mut deleted) = (0, 0, 0);
        let mut commit = String::new();
        let mut md = String::new();
        for e in &self.entries {
            let dump = match &e.report {
                EntryReport::Git(g) => {
                    if let Some(c) = &g.git.commit {
                        commit = c.clone();
                    }
                    md.push_str(&crate::git::step_summary(&g.git, 20));
                    &g.dump
                }
                EntryReport::Dump(d) => {
                    md.push_str(&format!(
                        "### Snapshot `{}`\n\n| added | changed | deleted |\n|---|---|---|\n| {} | {} | {} |\n\n",
                        d.name,
                        d.added.len(),
                        d.changed.len(),
                        d.deleted.len()
                    ));
                    d
                }
            };
            added += dump.added.len();
            changed += dump.changed.len();
            deleted += dump.deleted.len();
        }
        out.set("changed", &(added + changed + deleted > 0).to_string())?;
        out.set("commit", &commit)?;
        out.set("files-added", &added.to_string())?;
        out.set("files-changed", &changed.to_string())?;
        out.set("files-deleted", &deleted.to_string())?;
        out.summary(&md)?;
        Ok(())
    }
}
