//! The report of `cleanCodeAsData`: what was (or, in a dry run, would be) removed from
//! the working dir. The command itself is small enough to live in the CLI.

use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;

/// The report of `cleanCodeAsData`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The folder emptied (it stays).
    pub working_dir: PathBuf,
    /// What was removed from it, sorted.
    pub removed: Vec<PathBuf>,
}
