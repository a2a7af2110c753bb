//! `cleanCodeAsData`: empty the working dir (the folder itself stays), as the toolkit;
//! the report says what was (or, in a dry run, would be) removed.

use crate::ci::Outputs;
use anyhow::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;

/// What to empty.
#[derive(Debug, Clone)]
pub struct Request {
    /// The folder emptied (it stays; a missing folder is nothing to do).
    pub working_dir: PathBuf,
    /// List what would be removed; remove nothing.
    pub dry_run: bool,
}

/// The report of `cleanCodeAsData`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The folder emptied (it stays).
    pub working_dir: PathBuf,
    /// What was removed from it, sorted.
    pub removed: Vec<PathBuf>,
}

/// Empty the working dir (unless `dry_run`) and set the `removed` output on `out`.
pub fn run(req: &Request, out: &mut Outputs) -> Result<Report> {
    let mut removed = Vec::new();
    if req.working_dir.is_dir() {
        for entry in std::fs::read_dir(&req.working_dir)? {
            let path = entry?.path();
            if !req.dry_run {
                if path.is_dir() {
                    crate::fsutil::remove_tree(&path);
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
            removed.push(path);
        }
    }
    removed.sort();
    out.set("removed", &removed.len().to_string())?;
    Ok(Report {
        working_dir: req.working_dir.clone(),
        removed,
    })
}
