//! What one snapshot-and-push needs: the entry, the remote, the author and the retry policy.

use super::{message, redact, Redactor, DEFAULT_BRANCH, DEFAULT_MAX_ATTEMPTS};
use crate::retry::Backoff;
use std::path::{Path, PathBuf};

/// Commit author (also used as committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Author name.
    pub name: String,
    /// Author e-mail.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "cadkit".into(),
            email: "cadkit@localhost".into(),
        }
    }
}

/// Everything one snapshot-and-push needs. `Debug` masks the URL's credentials and the token.
#[derive(Clone)]
pub struct SnapshotGitOptions {
    /// Entry name: the clone goes to `<repositories_dir>/<name>`.
    pub name: String,
    /// Remote URL (may hold credentials; never logged as is).
    pub repo: String,
    /// Branch to commit to (created on the remote when missing and allowed).
    pub branch: String,
    /// The snapshot folder inside the clone (`outputDir` of the entry, e.g. `./snapshot`).
    pub output_dir: String,
    /// Folder holding the clones, one per entry, reused between runs.
    pub repositories_dir: PathBuf,
    /// Message template (`{date}`, `{folder}`, `{branch}`, `{count}`).
    pub commit_message: String,
    /// Author and committer of the snapshot commit.
    pub author: Author,
    /// Token used as basic-auth password when the URL holds no password.
    pub token: Option<String>,
    /// Push attempts before giving up when others keep pushing (at least 1).
    pub max_attempts: u32,
    /// Waits between push attempts.
    pub backoff: Backoff,
    /// Clone, produce and report what would be committed; commit and push nothing.
    pub dry_run: bool,
    /// When the remote has no `branch`: create it from the remote's default branch (or as a
    /// first commit in an empty repository) instead of failing.
    pub create_branch: bool,
    /// Clone depth; 0 = full history. Local remotes are always cloned in full.
    pub depth: u32,
    /// Reuse the clone of an earlier run (fetch + hard reset) instead of cloning afresh.
    pub reuse_clone: bool,
}

impl std::fmt::Debug for SnapshotGitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotGitOptions")
            .field("name", &self.name)
            .field("repo", &Redactor::new(self.token.iter()).redact(&self.repo))
            .field("branch", &self.branch)
            .field("output_dir", &self.output_dir)
            .field("repositories_dir", &self.repositories_dir)
            .field("commit_message", &self.commit_message)
            .field("author", &self.author)
            .field("token", &self.token.as_ref().map(|_| redact::MASK))
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("dry_run", &self.dry_run)
            .field("create_branch", &self.create_branch)
            .field("depth", &self.depth)
            .field("reuse_clone", &self.reuse_clone)
            .finish()
    }
}

impl SnapshotGitOptions {
    /// Options with the defaults for everything but the entry's own values.
    pub fn new(name: &str, repo: &str, output_dir: &str, repositories_dir: &Path) -> Self {
        SnapshotGitOptions {
            name: name.into(),
            repo: repo.into(),
            branch: DEFAULT_BRANCH.into(),
            output_dir: output_dir.into(),
            repositories_dir: repositories_dir.into(),
            commit_message: message::DEFAULT_TEMPLATE.into(),
            author: Author::default(),
            token: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            dry_run: false,
            create_branch: false,
            depth: 1,
            reuse_clone: true,
        }
    }
}
