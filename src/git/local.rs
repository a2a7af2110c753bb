//! Local bare repositories as snapshot remotes (the demo, tests).

use super::{snapshot_and_push, GitReport, SnapshotGitOptions};
use anyhow::{anyhow, Context, Result};
use git2::{Repository, RepositoryInitOptions, Signature};
use std::path::Path;

/// Create a bare repository at `path` with one commit on `branch` (a README), unless a
/// repository is already there. For local use (the demo, tests): the snapshot can then be
/// pushed to it with `repo` = the path.
pub fn ensure_local_bare_repo(path: &Path, branch: &str) -> Result<()> {
    if Repository::open_bare(path).is_ok() {
        return Ok(());
    }
    let mut init = RepositoryInitOptions::new();
    init.bare(true).initial_head(branch);
    let repo = Repository::init_opts(path, &init)
        .with_context(|| format!("creating the bare repository {}", path.display()))?;
    let blob = repo.blob(b"Snapshots written by cadkit.\n")?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("README.md", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    let sig = Signature::now("cadkit", "cadkit@localhost")?;
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        "Initial commit",
        &tree,
        &[],
    )?;
    Ok(())
}

/// Snapshot into a local bare repository (created when absent), for the demo: same flow as
/// [`snapshot_and_push`] with a path as the remote and a full (non-shallow) clone.
pub fn snapshot_to_local_repo<F>(
    bare: &Path,
    branch: &str,
    output_dir: &str,
    repositories_dir: &Path,
    produce: F,
) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    ensure_local_bare_repo(bare, branch)?;
    let abs = std::path::absolute(bare)?;
    let name = abs
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("snapshot")
        .to_string();
    let mut opts = SnapshotGitOptions::new(
        &name,
        abs.to_str()
            .ok_or_else(|| anyhow!("{} is not valid UTF-8", abs.display()))?,
        output_dir,
        repositories_dir,
    );
    opts.branch = branch.into();
    opts.depth = 0;
    snapshot_and_push(&opts, produce)
}
