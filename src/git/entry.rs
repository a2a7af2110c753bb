//! The git flow of one snapshot config entry: the dumper ([`crate::snapshot::run_entry`])
//! as the producer of [`snapshot_and_push`].

use super::{snapshot_and_push, GitReport, SnapshotGitOptions};
use crate::env::Environment;
use crate::snapshot::{self, DumpReport, SnapshotEntry};
use anyhow::Result;
use serde::Serialize;

/// Report of an entry with a `git` object: the dump of the last attempt (its fields at the
/// top level, as for entries without git) and what git did under `git`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotGitReport {
    /// The dump of the last attempt, its fields at the top level of the report.
    #[serde(flatten)]
    pub dump: DumpReport,
    /// What git did: clone, commit, push attempts.
    pub git: GitReport,
}

/// Clone, dump `entry` of `env` into the snapshot folder of the clone (again after each
/// rejected push), commit and push (see [`snapshot_and_push`]). The dump always writes into
/// the clone; `opts.dry_run` only keeps git from committing and pushing.
pub fn snapshot_entry(
    env: &dyn Environment,
    entry: &SnapshotEntry,
    opts: &SnapshotGitOptions,
) -> Result<SnapshotGitReport> {
    let mut last: Option<DumpReport> = None;
    let git = snapshot_and_push(opts, |dir| {
        last = Some(snapshot::run_entry(env, entry, dir, false)?);
        Ok(())
    })?;
    let mut dump = last.expect("the producer runs at least once before a report");
    dump.dry_run = opts.dry_run;
    Ok(SnapshotGitReport { dump, git })
}
