//! What a run reports, the errors callers branch on, and the Markdown step summary.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Paths (relative to the repository root, `/`-separated) per kind of change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileChanges {
    /// Files the snapshot adds.
    pub added: Vec<String>,
    /// Files whose content changed.
    pub changed: Vec<String>,
    /// Files the snapshot no longer has.
    pub deleted: Vec<String>,
}

impl FileChanges {
    /// Nothing changed: no commit is needed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }
    /// Number of files touched.
    pub fn total(&self) -> usize {
        self.added.len() + self.changed.len() + self.deleted.len()
    }
}

/// What a snapshot-and-push did. Serialised as the step's JSON report; no field ever holds
/// a credential (`repo` is redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitReport {
    /// The entry's name.
    pub name: String,
    /// Remote URL, credentials masked.
    pub repo: String,
    /// The branch committed to.
    pub branch: String,
    /// Snapshot folder, relative to the repository root.
    pub folder: String,
    /// Where the clone is.
    pub work_tree: PathBuf,
    /// Nothing was committed or pushed (the report says what would have been).
    pub dry_run: bool,
    /// The snapshot differs from the branch tip (a commit was, or in dry run would be, made).
    pub changed: bool,
    /// A commit reached the remote.
    pub pushed: bool,
    /// The commit pushed (full id), if any.
    pub commit: Option<String>,
    /// The tip the snapshot was compared with (None for an empty remote).
    pub base: Option<String>,
    /// The rendered commit message, if a commit was made or would be made.
    pub message: Option<String>,
    /// Push attempts (1 when the first push went through; 0 when nothing was pushed).
    pub attempts: u32,
    /// The files the commit adds, changes and deletes.
    pub files: FileChanges,
    /// The branch did not exist on the remote and was created by this push.
    pub created_branch: bool,
}

impl GitReport {
    /// Step outputs for the CI layer (`$GITHUB_OUTPUT`, GitLab dotenv, Azure variables):
    /// `changed`, `pushed`, `commit` (empty when none), `branch`, `files-added`,
    /// `files-changed`, `files-deleted` (counts) and `attempts`.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("changed", self.changed.to_string()),
            ("pushed", self.pushed.to_string()),
            ("commit", self.commit.clone().unwrap_or_default()),
            ("branch", self.branch.clone()),
            ("files-added", self.files.added.len().to_string()),
            ("files-changed", self.files.changed.len().to_string()),
            ("files-deleted", self.files.deleted.len().to_string()),
            ("attempts", self.attempts.to_string()),
        ]
    }
}

/// Failures callers may branch on. Messages never hold credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// Credentials missing or refused.
    Auth,
    /// The branch does not exist on the remote (and `create_branch` is off).
    BranchMissing,
    /// Every push attempt was rejected because others kept pushing.
    RetriesExhausted,
    /// The server refused the push for a reason a retry cannot fix (hook, protection).
    PushRefused,
    /// Anything else (network, file system, producer).
    Other,
}

/// The error returned by this module: a redacted message and its kind.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What kind of failure, for callers that branch on it.
    pub kind: FailureKind,
    /// What happened, credentials redacted.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("{op} {repo}: authentication failed ({detail}). Fix: put a valid user and token in the URL (user:token before the host, URL-encoded) or set the token variable (CADKIT_GIT_TOKEN by default)")]
    Auth {
        op: String,
        repo: String,
        detail: String,
    },
    #[error("the remote {repo} has no branch {branch:?}. Fix: create it (from a clone: `git push origin HEAD:{branch}`), set \"branch\" in the git entry of the snapshot config to an existing branch, or pass --git.createBranch to create it on the first push")]
    BranchMissing { repo: String, branch: String },
    #[error("push to {repo} branch {branch:?} still rejected after {attempts} attempts (others kept pushing); last rejection: {last}. Fix: retry later or raise --git.maxAttempts")]
    RetriesExhausted {
        repo: String,
        branch: String,
        attempts: u32,
        last: String,
    },
    #[error("push to {repo} branch {branch:?} refused by the server: {reason}. Fix: allow this author to push to the branch (branch protection, hooks) or snapshot to another branch")]
    PushRefused {
        repo: String,
        branch: String,
        reason: String,
    },
}

impl GitError {
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            GitError::Auth { .. } => FailureKind::Auth,
            GitError::BranchMissing { .. } => FailureKind::BranchMissing,
            GitError::RetriesExhausted { .. } => FailureKind::RetriesExhausted,
            GitError::PushRefused { .. } => FailureKind::PushRefused,
        }
    }
}

/// A Markdown step summary: counts and the first `max_paths` paths of each kind.
pub fn step_summary(report: &GitReport, max_paths: usize) -> String {
    let mut s = String::new();
    let title = if report.dry_run {
        "Snapshot (dry run)"
    } else {
        "Snapshot"
    };
    s.push_str(&format!(
        "### {title}: `{}` → `{}`\n\n",
        report.folder, report.branch
    ));
    let outcome = match (&report.commit, report.changed, report.dry_run) {
        (Some(c), _, _) => format!(
            "Committed `{}` in {} attempt(s).",
            &c[..c.len().min(12)],
            report.attempts
        ),
        (None, true, true) => "Changes found; nothing committed (dry run).".to_string(),
        (None, false, _) => "No change: nothing committed.".to_string(),
        (None, true, false) => "Changes found but not pushed.".to_string(),
    };
    s.push_str(&outcome);
    s.push_str("\n\n| | Files | First paths |\n|---|---:|---|\n");
    for (label, list) in [
        ("Added", &report.files.added),
        ("Changed", &report.files.changed),
        ("Deleted", &report.files.deleted),
    ] {
        let mut shown: Vec<String> = list
            .iter()
            .take(max_paths)
            .map(|p| format!("`{}`", p.replace('|', "\\|").replace('`', "'")))
            .collect();
        if list.len() > max_paths {
            shown.push(format!("… {} more", list.len() - max_paths));
        }
        s.push_str(&format!(
            "| {label} | {} | {} |\n",
            list.len(),
            shown.join("<br>")
        ));
    }
    s
}
