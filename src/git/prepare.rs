//! Getting a clone ready at the branch tip: one run at a time per clone folder, a fresh
//! clone or the reused one of an earlier run, and the branch created when asked to.

use super::clone::{clear_work_tree, Clone, CLONE_MARKER};
use super::remote::Remote;
use super::report::GitError;
use super::SnapshotGitOptions;
use anyhow::{anyhow, bail, Context, Result};
use git2::{Oid, Repository, RepositoryInitOptions};
use std::path::Path;

/// An exclusive lock on `<repositoriesDir>/.<name>.lock`, held while the clone is used;
/// released when dropped (the file is closed). Another run waits for it.
pub(crate) fn lock_clone(repositories_dir: &Path, name: &str) -> Result<std::fs::File> {
    let path = repositories_dir.join(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(
                "waiting for another cadkit run using {}",
                repositories_dir.join(name).display()
            );
            // Blocks until the other run closes its lock file.
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    Ok(file)
}

pub(crate) struct Prepared<'r> {
    pub(crate) clone: Clone<'r>,
    pub(crate) base: Option<Oid>,
    pub(crate) created_branch: bool,
}

/// A clone made by cadkit for the same remote URL: it can be fetched and reset instead of
/// being deleted and cloned again.
pub(crate) fn is_reusable(work_tree: &Path, remote: &Remote) -> bool {
    if !work_tree.join(".git").join(CLONE_MARKER).is_file() {
        return false;
    }
    let Ok(repo) = Repository::open(work_tree) else {
        return false;
    };
    let same_url = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(|u| u == remote.url))
        .unwrap_or(false);
    same_url
}

/// Make `work_tree` a clone of the branch tip: a fresh one (`fresh`: delete and init), or
/// the existing cadkit clone fetched and hard-reset (untracked and ignored files removed,
/// so nothing from an earlier run survives). A reused clone needs the branch on the remote.
pub(crate) fn prepare<'r>(
    opts: &SnapshotGitOptions,
    remote: &'r Remote,
    branch: &str,
    work_tree: &Path,
    fresh: bool,
) -> Result<Prepared<'r>> {
    let repo = if fresh {
        clear_work_tree(work_tree)?;
        tracing::info!(
            "cloning {} (branch {branch}) into {}",
            remote.shown,
            work_tree.display()
        );
        let mut init = RepositoryInitOptions::new();
        init.initial_head(branch).no_reinit(true);
        let repo = Repository::init_opts(work_tree, &init)
            .with_context(|| format!("creating the clone {}", work_tree.display()))?;
        std::fs::write(
            repo.path().join(CLONE_MARKER),
            "Made by cadkit snapshot; reused (fetch + hard reset) or re-cloned on each run.\n",
        )?;
        repo.remote("origin", &remote.url)
            .map_err(|e| anyhow!("adding remote {}: {}", remote.shown, e.message()))?;
        repo
    } else {
        let repo = Repository::open(work_tree)?;
        // An interrupted run may have left a lock behind; nothing else writes this clone.
        let _ = std::fs::remove_file(repo.path().join("index.lock"));
        repo
    };
    let clone = Clone {
        repo,
        remote,
        branch: branch.to_string(),
        depth: opts.depth,
    };
    let (tip, default) = clone.ls_remote()?;
    if tip.is_none() && !fresh {
        bail!("branch {branch} is not on the remote");
    }
    let mut created_branch = false;
    let base = match (tip, default) {
        (Some(_), _) => Some(clone.fetch(branch)?),
        (None, _) if !opts.create_branch => {
            return Err(GitError::BranchMissing {
                repo: remote.shown.clone(),
                branch: branch.to_string(),
            }
            .into())
        }
        (None, Some((default_ref, _))) => {
            let src = default_ref.trim_start_matches("refs/heads/").to_string();
            tracing::info!("branch {branch} does not exist on the remote: creating it from {src}");
            created_branch = true;
            Some(clone.fetch(&src)?)
        }
        (None, None) => {
            tracing::info!("the remote is empty: branch {branch} starts with this snapshot");
            created_branch = true;
            None
        }
    };
    if let Some(b) = base {
        clone.reset_to(b)?;
    }
    Ok(Prepared {
        clone,
        base,
        created_branch,
    })
}
