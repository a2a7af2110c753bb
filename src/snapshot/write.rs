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
    /// Files to create.
    pub added: Vec<String>,
    /// Files whose content changes.
    pub changed: Vec<String>,
    /// Owned files no longer planned: deleted.
    pub deleted: Vec<String>,
    /// Files already holding the right bytes.
    pub unchanged: Vec<String>,
    /// Files actually written.
    pub written: usize,
}

enum State {
    Added,
    Changed,
    Unchanged,
}

/// Bring `out_dir/<root_dirs…>` in line with `files`. Owned files (patch files, and
/// binaries: files named by a 20-hex tag) that are not planned are deleted, except those
/// in `keep` (binaries whose content the environment does not hold). Stages: compare
/// (nothing written, all a dry run needs), check the target folders, write, delete.
pub fn sync(
    out_dir: &Path,
    root_dirs: &[String],
    files: &[PlannedFile],
    keep: &HashSet<String>,
    dry_run: bool,
) -> Result<Sync> {
    let planned: HashSet<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .chain(keep.iter().map(String::as_str))
        .collect();
    let existing = owned_files(out_dir, root_dirs)?;
    let states = compare(out_dir, files)?;

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

    check_target_dirs(out_dir, &to_write)?;
    let files: Vec<(std::path::PathBuf, &[u8])> = to_write
        .iter()
        .map(|f| (out_dir.join(&f.path), f.bytes.as_slice()))
        .collect();
    fsutil::write_all_atomic(out_dir, &files)?;
    sync.written = to_write.len();
    delete(out_dir, root_dirs, &sync.deleted)?;
    Ok(sync)
}

/// The files on disk the dumper owns (patch files and binaries) under the root folders,
/// `/`-separated and relative to `out_dir`: the candidates for deletion.
fn owned_files(out_dir: &Path, root_dirs: &[String]) -> Result<Vec<String>> {
    let mut existing = Vec::new();
    for dir in root_dirs {
        let top = out_dir.join(dir);
        if !top.is_dir() {
            continue;
        }
        for e in walkdir::WalkDir::new(&top) {
            let e = e.with_context(|| format!("cannot list {}", top.display()))?;
            let owned = FileKind::of_path(e.path()).is_some()
                || e.file_name().to_str().is_some_and(crate::patch::is_tag);
            if e.file_type().is_file() && owned {
                let rel = e.path().strip_prefix(out_dir)?;
                if let Some(s) = rel.to_str() {
                    existing.push(s.replace(std::path::MAIN_SEPARATOR, "/"));
                }
            }
        }
    }
    Ok(existing)
}

/// Each planned file against the disk, in parallel.
fn compare(out_dir: &Path, files: &[PlannedFile]) -> Result<Vec<State>> {
    files
        .par_iter()
        .map(|f| {
            let path = out_dir.join(&f.path);
            // One read per file (no separate stat): most files are unchanged.
            match std::fs::read(&path) {
                Ok(b) if b == f.bytes => Ok(State::Unchanged),
                Ok(_) => Ok(State::Changed),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::Added),
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        })
        .collect()
}

/// No write may leave the output folder, not even through a symlinked folder planted
/// inside it: every target folder is created and must resolve under the output folder.
fn check_target_dirs(out_dir: &Path, to_write: &[&PlannedFile]) -> Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let root = out_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out_dir.display()))?;
    let dirs: BTreeSet<PathBuf> = to_write
        .iter()
        .filter_map(|f| out_dir.join(&f.path).parent().map(Path::to_path_buf))
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        let real = d
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", d.display()))?;
        if !real.starts_with(&root) {
            anyhow::bail!(
                "{} resolves to {}, outside the output folder {}: refusing to write (remove the symlink)",
                d.display(),
                real.display(),
                root.display()
            );
        }
    }
    Ok(())
}

/// Delete the files no longer planned, then the folders they leave empty (below the
/// root folders, which stay).
fn delete(out_dir: &Path, root_dirs: &[String], deleted: &[String]) -> Result<()> {
    let mut parents = BTreeSet::new();
    for p in deleted {
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
    Ok(())
}
