//! The one git wrapper of cadkit (libgit2 through `git2`): snapshot into a clone, commit what
//! changed in the snapshot folder, push, and on a rejected push regenerate on the new tip.
//!
//! Flow of [`snapshot_and_push`]:
//! 1. `<repositoriesDir>/<name>` is deleted (only if cadkit made it, or it is empty) and a
//!    fresh clone of `branch` is made there, shallow (depth 1) unless the remote is a local
//!    path (libgit2's local transport has no shallow fetch) or `depth` is 0. Fresh each run:
//!    nothing from an earlier, possibly interrupted run can leak into the commit.
//! 2. The producer closure fills `<clone>/<outputDir>` (it must leave the folder in its
//!    final state: files it no longer produces must be gone).
//! 3. Additions, changes and deletions *inside the snapshot folder only* are staged; when the
//!    tree equals the tip's, nothing is committed or pushed (`changed: false`).
//! 4. Commit with the message template and the configured author, push `HEAD:refs/heads/<branch>`.
//! 5. Rejected (someone pushed meanwhile): wait (exponential backoff with jitter), fetch the new
//!    tip at depth 1, hard-reset onto it (untracked files removed), call the producer again
//!    and go to 3. Snapshot files are derived data: they are regenerated, never merged.
//!
//! Credentials come from the URL (`https://user:token@host/…`) or from a token (basic-auth
//! password, user from the URL or `x-access-token`). They are handed to libgit2 through the
//! credentials callback only: the URL given to libgit2 (and stored in the clone's config)
//! has no user-info, and every error, log line and report goes through a [`Redactor`].
//!
//! Where each stage lives: `options` (what a run needs), `remote` (URL, credentials,
//! libgit2 callbacks), `prepare` (lock, fresh or reused clone at the tip), `clone` (fetch,
//! reset, stage, commit, push on one clone), `run` (the attempt loop), `report` (report,
//! failures, step summary), `local` (local bare repositories for the demo and tests).

mod clone;
mod entry;
mod local;
pub mod message;
mod options;
mod prepare;
pub mod redact;
mod remote;
mod report;
mod run;
#[cfg(test)]
mod tests;

pub use crate::retry::Backoff;
pub use entry::{snapshot_entry, SnapshotGitReport};
pub use local::{ensure_local_bare_repo, snapshot_to_local_repo};
pub use options::{Author, SnapshotGitOptions};
pub use redact::{redact_url, Redactor};
pub use remote::Remote;
pub use report::{step_summary, Failure, FailureKind, FileChanges, GitReport};
pub use run::normalize_folder;

use anyhow::Result;
use remote::set_network_timeouts;
use report::GitError;
use std::path::Path;

/// The toolkit's default branch.
pub const DEFAULT_BRANCH: &str = "develop";
/// Default number of push attempts.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// User name sent with a token when the URL names none (GitHub's convention; others accept any).
pub const TOKEN_USER: &str = "x-access-token";

/// Snapshot into a clone of `opts.branch`, commit the snapshot folder when it changed, push;
/// on a rejected push regenerate on the new tip and retry. `produce` gets the absolute
/// snapshot folder (created, holding the tip's files) and must leave it in its final state;
/// it is called once per attempt.
pub fn snapshot_and_push<F>(opts: &SnapshotGitOptions, mut produce: F) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    set_network_timeouts();
    let remote = Remote::parse(&opts.repo, opts.token.as_deref()).map_err(|e| {
        // The message is redacted already; mask the token again in case it was pasted in.
        let r = Redactor::new(opts.token.iter());
        anyhow::Error::new(Failure {
            kind: FailureKind::Other,
            message: r.redact(&format!("{e:#}")),
        })
    })?;
    run::run(opts, &remote, &mut produce).map_err(|e| {
        let kind = e
            .chain()
            .find_map(|c| c.downcast_ref::<GitError>())
            .map(GitError::kind)
            .unwrap_or(FailureKind::Other);
        anyhow::Error::new(Failure {
            kind,
            message: remote.redactor.redact(&format!("{e:#}")),
        })
    })
}
