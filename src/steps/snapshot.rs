//! The report of `snapshot`: one entry per snapshot config entry, each naming the
//! environment dumped, and the step's CI outputs. The dump lives in [`crate::snapshot`],
//! the git flow in [`crate::git`].
//!
//! Stdout keeps the shape other tools parse (the JSON array of entries); the report file
//! holds the report with its envelope (`{"entries": [...], "dryRun", "outputs"}`).

use super::envcmd::EnvironmentRef;
use crate::ci::Outputs;
use crate::git::SnapshotGitReport;
use crate::snapshot::DumpReport;
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;

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
    #[serde(flatten)]
    pub report: EntryReport,
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
