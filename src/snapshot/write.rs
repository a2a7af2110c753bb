//! Writing a planned dump: only real changes touch the disk.
//!
//! The planned files are compared in memory with what is on disk (in parallel); only files
//! whose bytes differ are written (atomically: each file by temp file and rename, or a
//! root folder new to the output built whole beside it and moved in), and patch files of the dumped root-tag
//! folders that are no longer planned are deleted, with the folders they leave empty.
//! Nothing else in the output folder is touched (a `.git`, a README, the config…).

use super::dump::PlannedFile;
use crate::fsutil;
use crate::patch::FileKind;
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
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

    sync.written = to_write.len();
    let (fresh, in_place) = by_fresh_root(out_dir, root_dirs, to_write);
    check_target_dirs(out_dir, &in_place)?;
    let files: Vec<(std::path::PathBuf, &[u8])> = in_place
        .iter()
        .map(|f| (out_dir.join(&f.path), f.bytes.as_slice()))
        .collect();
    fsutil::write_all_atomic(out_dir, &files)?;
    write_fresh_roots(out_dir, fresh)?;
    delete(out_dir, root_dirs, &sync.deleted)?;
    Ok(sync)
}

/// The files to write split in two: by root folder absent from the output folder (built
/// whole in a staging folder, then moved into place), and the others (each replaced
/// atomically where it is).
#[allow(clippy::type_complexity)]
fn by_fresh_root<'a>(
    out_dir: &Path,
    root_dirs: &[String],
    to_write: Vec<&'a PlannedFile>,
) -> (
    BTreeMap<&'a str, Vec<&'a PlannedFile>>,
    Vec<&'a PlannedFile>,
) {
    let absent: HashSet<&str> = root_dirs
        .iter()
        .map(String::as_str)
        .filter(|r| !r.is_empty() && !r.contains(['/', '\\']) && *r != "." && *r != "..")
        .filter(|r| std::fs::symlink_metadata(out_dir.join(r)).is_err())
        .collect();
    let mut fresh: BTreeMap<&str, Vec<&PlannedFile>> = BTreeMap::new();
    let mut in_place = Vec::new();
    for f in to_write {
        match f.path.split_once('/') {
            Some((root, _)) if absent.contains(root) => fresh.entry(root).or_default().push(f),
            _ => in_place.push(f),
        }
    }
    (fresh, in_place)
}

/// Build each new root folder in a staging folder beside it, flush, and move it into
/// place: a failure or a kill leaves either no folder or the whole one (a stale staging
/// folder is removed by the next run), and no file needs a rename of its own.
fn write_fresh_roots(out_dir: &Path, fresh: BTreeMap<&str, Vec<&PlannedFile>>) -> Result<()> {
    if fresh.is_empty() {
        return Ok(());
    }
    let mut staged = Vec::new();
    let mut files: Vec<(PathBuf, &[u8])> = Vec::new();
    for (root, list) in &fresh {
        let target = out_dir.join(root);
        let stage = fsutil::staging_dir(&target)?;
        for f in list {
            let rel = f.path.strip_prefix(&format!("{root}/")).unwrap_or(&f.path);
            files.push((stage.join(rel), f.bytes.as_slice()));
        }
        staged.push((stage, target));
    }
    let written = fsutil::write_all_staged(out_dir, &files);
    for (stage, target) in staged {
        if written.is_ok() {
            fsutil::swap_dir(&stage, &target)?;
        } else {
            fsutil::remove_tree(&stage);
        }
    }
    written
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
                // A file where a folder is planned: the write step names it.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    Ok(State::Added)
                }
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            }
        })
        .collect()
}

/// No write may leave the output folder, not even through a symlinked folder planted
/// inside it: every target folder is created and must resolve under the output folder.
/// Each folder on the way is looked at once (a symlink is resolved, a missing folder
/// created): resolving every target folder in full cost one call per path component.
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
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for d in &dirs {
        let rel = d.strip_prefix(out_dir).unwrap_or(d);
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            // `..` and the like: resolved in full below.
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            inside(d, &root)?;
            continue;
        }
        let mut cur = out_dir.to_path_buf();
        for c in rel.components() {
            cur.push(c);
            if seen.contains(&cur) {
                continue;
            }
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => inside(&cur, &root)?,
                Ok(m) if !m.is_dir() => anyhow::bail!(
                    "cannot write below {}: it is a file, not a folder (move it away)",
                    cur.display()
                ),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&cur)
                        .or_else(|e| match e.kind() {
                            std::io::ErrorKind::AlreadyExists => inside(&cur, &root),
                            _ => Err(e.into()),
                        })
                        .with_context(|| format!("cannot create {}", cur.display()))?;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", cur.display()))
                }
            }
            seen.insert(cur.clone());
        }
    }
    Ok(())
}

/// `d` must resolve under `root`.
fn inside(d: &Path, root: &Path) -> Result<()> {
    let real = d
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", d.display()))?;
    if !real.starts_with(root) {
        anyhow::bail!(
            "{} resolves to {}, outside the output folder {}: refusing to write (remove the symlink)",
            d.display(),
            real.display(),
            root.display()
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "10000000000000000000";

    fn planned(path: &str, text: &str) -> PlannedFile {
        PlannedFile {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A root folder new to the output is built beside it and moved in whole (a stale
    /// staging folder of a killed run is removed); a later run changes files in place.
    #[test]
    fn a_new_root_folder_arrives_whole_and_later_runs_change_it_in_place() {
        let out = tempfile::tempdir().unwrap();
        let stale = out.path().join(format!(".{ROOT}.cadkit-new-killed"));
        std::fs::create_dir_all(stale.join("Home")).unwrap();
        std::fs::write(out.path().join("README.md"), "kept").unwrap();
        let roots = vec![ROOT.to_string()];
        let a = format!("{ROOT}/Home/A.newInst.json");
        let b = format!("{ROOT}/Home/Sub/B.newRel.json");
        let files = vec![planned(&a, "a1"), planned(&b, "b1")];
        let s = sync(out.path(), &roots, &files, &HashSet::new(), false).unwrap();
        assert_eq!((s.added.len(), s.written), (2, 2));
        assert_eq!(names(out.path()), vec!["10000000000000000000", "README.md"]);
        assert_eq!(std::fs::read_to_string(out.path().join(&b)).unwrap(), "b1");

        let files = vec![planned(&a, "a2"), planned(&b, "b1")];
        let s = sync(out.path(), &roots, &files, &HashSet::new(), false).unwrap();
        assert_eq!((s.changed.len(), s.unchanged.len(), s.written), (1, 1, 1));
        assert_eq!(std::fs::read_to_string(out.path().join(&a)).unwrap(), "a2");
        assert_eq!(names(out.path()), vec!["10000000000000000000", "README.md"]);
        assert_eq!(
            names(&out.path().join(ROOT).join("Home")),
            vec!["A.newInst.json", "Sub"]
        );
    }

    /// A file where a folder must go is a clear error, and nothing is written.
    #[test]
    fn a_file_in_the_way_of_a_folder_is_refused() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join(ROOT)).unwrap();
        std::fs::write(out.path().join(ROOT).join("Home"), "a file").unwrap();
        let files = vec![planned(&format!("{ROOT}/Home/A.newInst.json"), "a")];
        let err = sync(out.path(), &[ROOT.into()], &files, &HashSet::new(), false).unwrap_err();
        assert!(
            err.to_string().contains("it is a file, not a folder"),
            "{err}"
        );
        assert_eq!(names(&out.path().join(ROOT)), vec!["Home"]);
    }
}
