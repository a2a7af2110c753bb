//! Writing a planned dump: only real changes touch the disk.
//!
//! The planned files are compared in memory with what is on disk (in parallel); only files
//! whose bytes differ are written (atomically), and patch files of the dumped root-tag
//! folders that are no longer planned are deleted, with the folders they leave empty.
//! Nothing else in the output folder is touched (a `.git`, a README, the config…).

use super::dump::PlannedFile;
use crate::fsutil;
use crate::patch::FileKind;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// What changed on disk (or would, in a dry run); paths relative to the output folder.
#[derive(Debug, Default)]
pub struct Sync {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
    /// Files actually written.
    pub written: usize,
}

enum State {
    Added,
    Changed,
    Unchanged,
}

/// Bring `out_dir/<root_dirs…>` in line with `files`.
pub fn sync(
    out_dir: &Path,
    root_dirs: &[String],
    files: &[PlannedFile],
    dry_run: bool,
) -> Result<Sync> {
    let planned: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();

    // What is on disk.
    let mut existing = Vec::new();
    for dir in root_dirs {
        let top = out_dir.join(dir);
        if !top.is_dir() {
            continue;
        }
        for e in walkdir::WalkDir::new(&top) {
            let e = e.with_context(|| format!("cannot list {}", top.display()))?;
            if e.file_type().is_file() && FileKind::of_path(e.path()).is_some() {
                let rel = e.path().strip_prefix(out_dir)?;
                if let Some(s) = rel.to_str() {
                    existing.push(s.replace(std::path::MAIN_SEPARATOR, "/"));
                }
            }
        }
    }

    let states: Vec<State> = files
        .par_iter()
        .map(|f| {
            let path = out_dir.join(&f.path);
            match std::fs::metadata(&path) {
                Ok(m) if m.len() != f.bytes.len() as u64 => Ok(State::Changed),
                Ok(_) => match std::fs::read(&path) {
                    Ok(b) if b == f.bytes => Ok(State::Unchanged),
                    Ok(_) => Ok(State::Changed),
                    Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::Added),
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        })
        .collect::<Result<_>>()?;

    let mut sync = Sync::default();
    let mut to_write = Vec::new();
    for (f, s) in files.iter().zip(states) {
        match s {
            State::Added => {
                sync.added.push(f.path.clone());
                to_write.push(f);
            }
            State::Changed => {
                sync.changed.push(f.path.clone());
                to_write.push(f);
            }
            State::Unchanged => sync.unchanged.push(f.path.clone()),
        }
    }
    sync.deleted = existing
        .into_iter()
        .filter(|p| !planned.contains(p.as_str()))
        .collect();
    for v in [
        &mut sync.added,
        &mut sync.changed,
        &mut sync.deleted,
        &mut sync.unchanged,
    ] {
        v.sort();
    }
    if dry_run {
        return Ok(sync);
    }

    to_write
        .par_iter()
        .map(|f| fsutil::write_atomic(&out_dir.join(&f.path), &f.bytes, None))
        .collect::<Result<Vec<()>>>()?;
    sync.written = to_write.len();

    let mut parents = BTreeSet::new();
    for p in &sync.deleted {
        let path = out_dir.join(p);
        std::fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
        if let Some(parent) = path.parent() {
            parents.insert(parent.to_path_buf());
        }
    }
    let tops: HashSet<PathBuf> = root_dirs.iter().map(|d| out_dir.join(d)).collect();
    // Deepest first, so a folder emptied by its children's removal goes too.
    let mut parents: Vec<PathBuf> = parents.into_iter().collect();
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in parents {
        let mut d = dir;
        while !tops.contains(&d) && d.starts_with(out_dir) && d != out_dir {
            // Fails (and stops) when not empty.
            if std::fs::remove_dir(&d).is_err() {
                break;
            }
            match d.parent() {
                Some(p) => d = p.to_path_buf(),
                None => break,
            }
        }
    }
    Ok(sync)
}
