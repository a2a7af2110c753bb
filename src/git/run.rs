//! The attempt loop of one snapshot-and-push, as named stages: check the request, get the
//! clone ready at the tip, then produce → stage → commit → push until the push lands, and on
//! a rejection wait, fetch the new tip and produce again.

use super::clone::{Clone, PushOutcome, STALE_TIP_REFETCHES};
use super::prepare::{is_reusable, lock_clone, prepare, Prepared};
use super::remote::Remote;
use super::report::{GitError, GitReport};
use super::{message, SnapshotGitOptions};
use anyhow::{anyhow, bail, Context, Result};
use git2::Oid;
use std::path::{Component, Path, PathBuf};

/// The checked request: where the clone and the snapshot folder are, which branch.
struct Target {
    folder: String,
    branch: String,
    max_attempts: u32,
    work_tree: PathBuf,
}

/// One run: the request, the remote and the checked target.
struct Job<'a> {
    opts: &'a SnapshotGitOptions,
    remote: &'a Remote,
    target: Target,
}

/// Where the loop stands: the tip the next commit goes on, and whether this run creates
/// the branch.
struct Tip {
    base: Option<Oid>,
    created_branch: bool,
}

pub(super) fn run<F>(
    opts: &SnapshotGitOptions,
    remote: &Remote,
    produce: &mut F,
) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    let job = Job {
        opts,
        remote,
        target: check(opts)?,
    };
    let target = &job.target;
    // One run at a time per clone folder (CI jobs sharing a runner and repositoriesDir).
    let _lock = lock_clone(&opts.repositories_dir, &opts.name)?;
    let Prepared {
        clone,
        base,
        created_branch,
    } = ready_clone(opts, remote, target)?;
    let mut tip = Tip {
        base,
        created_branch,
    };
    let abs_folder = target.work_tree.join(&target.folder);
    let mut attempts = 0u32;
    loop {
        let (tree, mut report) =
            produce_and_stage(&job, &clone, &tip, &abs_folder, attempts, produce)?;
        if report.files.is_empty() {
            tracing::info!("no change in {}: nothing to commit", target.folder);
            return Ok(report);
        }
        let msg = message::render(
            &opts.commit_message,
            message::Values {
                // The guide: `{folder}` is the outputDir value from the configuration.
                folder: &opts.output_dir,
                branch: &target.branch,
                count: report.files.total(),
            },
        );
        report.message = Some(msg);
        if opts.dry_run {
            log_dry_run(&report);
            return Ok(report);
        }
        attempts += 1;
        let last_rejection = match commit_and_push(&job, &clone, &tip, tree, &report, attempts)? {
            Ok(commit) => {
                report.pushed = true;
                report.commit = Some(commit.to_string());
                report.attempts = attempts;
                report.created_branch = tip.created_branch;
                return Ok(report);
            }
            Err(reason) => reason,
        };
        if attempts >= target.max_attempts {
            return Err(GitError::RetriesExhausted {
                repo: remote.shown.clone(),
                branch: target.branch.clone(),
                attempts,
                last: last_rejection,
            }
            .into());
        }
        let new_tip = wait_for_new_tip(&job, &clone, &tip, attempts, &last_rejection)?;
        clone.reset_to(new_tip)?;
        tip.base = Some(new_tip);
        // The branch exists now (someone else's push created it if we meant to).
        tip.created_branch = false;
    }
}

/// Validate the entry name, the snapshot folder and the branch; create the clones' folder.
fn check(opts: &SnapshotGitOptions) -> Result<Target> {
    check_name(&opts.name)?;
    let folder = normalize_folder(&opts.output_dir)?;
    let branch = opts.branch.trim().to_string();
    if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        bail!("git branch {:?} is not a valid branch name", opts.branch);
    }
    std::fs::create_dir_all(&opts.repositories_dir).with_context(|| {
        format!(
            "creating --snapshot.repositoriesDir {}",
            opts.repositories_dir.display()
        )
    })?;
    Ok(Target {
        folder,
        branch,
        max_attempts: opts.max_attempts.max(1),
        work_tree: opts.repositories_dir.join(&opts.name),
    })
}

/// The clone at the branch tip: the reused one of an earlier run when allowed and
/// possible (a failure other than a [`GitError`] falls back to a fresh clone), else fresh.
fn ready_clone<'r>(
    opts: &SnapshotGitOptions,
    remote: &'r Remote,
    target: &Target,
) -> Result<Prepared<'r>> {
    let (branch, work_tree) = (&target.branch, &target.work_tree);
    let prepared = if opts.reuse_clone && is_reusable(work_tree, remote) {
        tracing::info!(
            "updating the clone {} of {} (branch {branch})",
            work_tree.display(),
            remote.shown
        );
        match prepare(opts, remote, branch, work_tree, false) {
            Ok(p) => p,
            Err(e) if e.chain().any(|c| c.downcast_ref::<GitError>().is_some()) => return Err(e),
            Err(e) => {
                tracing::info!("cloning afresh: {e:#}");
                prepare(opts, remote, branch, work_tree, true)?
            }
        }
    } else {
        prepare(opts, remote, branch, work_tree, true)?
    };
    tracing::debug!(
        "clone ready at {} (shallow: {})",
        prepared
            .base
            .map(|b| b.to_string())
            .unwrap_or_else(|| "an empty branch".into()),
        prepared.clone.repo.is_shallow()
    );
    Ok(prepared)
}

/// Let the producer fill the snapshot folder, stage what changed in it, and report it.
fn produce_and_stage<F>(
    job: &Job<'_>,
    clone: &Clone<'_>,
    tip: &Tip,
    abs_folder: &Path,
    attempts: u32,
    produce: &mut F,
) -> Result<(Oid, GitReport)>
where
    F: FnMut(&Path) -> Result<()>,
{
    let (opts, target) = (job.opts, &job.target);
    std::fs::create_dir_all(abs_folder)
        .with_context(|| format!("creating the snapshot folder {}", abs_folder.display()))?;
    produce(abs_folder)
        .with_context(|| format!("producing the snapshot into {}", abs_folder.display()))?;
    let (tree, files) = clone.stage(&target.folder, tip.base)?;
    let report = GitReport {
        name: opts.name.clone(),
        repo: job.remote.shown.clone(),
        branch: target.branch.clone(),
        folder: target.folder.clone(),
        work_tree: target.work_tree.clone(),
        dry_run: opts.dry_run,
        changed: !files.is_empty(),
        pushed: false,
        commit: None,
        base: tip.base.map(|b| b.to_string()),
        message: None,
        attempts,
        files,
        created_branch: false,
    };
    Ok((tree, report))
}

/// What a dry run would have committed, one log line per file.
fn log_dry_run(report: &GitReport) {
    tracing::info!(
        "dry run: would commit {} added, {} changed, {} deleted in {} to {}",
        report.files.added.len(),
        report.files.changed.len(),
        report.files.deleted.len(),
        report.folder,
        report.branch
    );
    for (mark, list) in [
        ("A", &report.files.added),
        ("M", &report.files.changed),
        ("D", &report.files.deleted),
    ] {
        for p in list {
            tracing::info!("  {mark} {p}");
        }
    }
}

/// Commit the staged tree on the tip and push it: `Ok(commit)` when it landed,
/// `Err(reason)` when the push was rejected (a retry may succeed).
fn commit_and_push(
    job: &Job<'_>,
    clone: &Clone<'_>,
    tip: &Tip,
    tree: Oid,
    report: &GitReport,
    attempts: u32,
) -> Result<std::result::Result<Oid, String>> {
    let target = &job.target;
    let msg = report.message.as_deref().unwrap_or_default();
    let commit = clone.commit(tree, tip.base, &job.opts.author, msg)?;
    tracing::info!(
        "committed {} ({} added, {} changed, {} deleted); pushing to {} (attempt {attempts}/{})",
        &commit.to_string()[..8],
        report.files.added.len(),
        report.files.changed.len(),
        report.files.deleted.len(),
        job.remote.shown,
        target.max_attempts
    );
    Ok(match clone.push()? {
        PushOutcome::Pushed => {
            tracing::info!("pushed {commit} to {}", target.branch);
            Ok(commit)
        }
        PushOutcome::Rejected(reason) => Err(reason),
    })
}

/// After a rejected push: wait (backoff), fetch the branch's new tip. A push refused while
/// another one was still updating the ref ("failed to update ref") can be followed by a
/// fetch that still sees the old tip: wait for the new one a little (bounded) rather than
/// spend an attempt on a push that must fail again.
fn wait_for_new_tip(
    job: &Job<'_>,
    clone: &Clone<'_>,
    tip: &Tip,
    attempts: u32,
    last_rejection: &str,
) -> Result<Oid> {
    let (opts, target) = (job.opts, &job.target);
    let branch = &target.branch;
    let wait = opts.backoff.delay(attempts);
    tracing::warn!(
        "push rejected ({last_rejection}); regenerating on the new tip in {} ms (attempt {}/{} next)",
        wait.as_millis(),
        attempts + 1,
        target.max_attempts
    );
    std::thread::sleep(wait);
    let mut new_tip = clone.fetch(branch)?;
    for n in 1..=STALE_TIP_REFETCHES {
        if Some(new_tip) != tip.base {
            break;
        }
        let wait = opts.backoff.base.saturating_mul(n);
        tracing::debug!(
            "the tip of {branch} has not moved yet; fetching again in {} ms ({n}/{STALE_TIP_REFETCHES})",
            wait.as_millis()
        );
        std::thread::sleep(wait);
        new_tip = clone.fetch(branch)?;
    }
    tracing::debug!("new tip of {branch}: {new_tip}");
    Ok(new_tip)
}

/// The snapshot folder as a clean relative path inside the clone (`./a/b/` → `a/b`).
pub fn normalize_folder(output_dir: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in Path::new(output_dir).components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| anyhow!("outputDir {output_dir:?} is not valid UTF-8"))?
                    .to_string(),
            ),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => bail!(
                "outputDir {output_dir:?} leaves the repository (`..`): use a folder inside the repository"
            ),
        }
    }
    if parts.is_empty() {
        bail!("outputDir {output_dir:?} is the repository root: use a sub-folder (e.g. ./snapshot); only the snapshot folder is committed");
    }
    if parts[0] == ".git" {
        bail!("outputDir {output_dir:?} is inside .git");
    }
    Ok(parts.join("/"))
}

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.contains('\0')
    {
        bail!("snapshot entry name {name:?} cannot be a folder name under --snapshot.repositoriesDir: use a plain name such as my-project");
    }
    Ok(())
}
