//! File-side commands: loading a folder of patches, root tags, zips, copies, binaries.

use super::state::{rel_path, safe_join, State};
use crate::orchestrator::protocol::CopySource;
use crate::patch::{is_tag, FileKind, Patch};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Patch files under `dir` (recursively, sorted by path), with their kind.
fn patch_files(dir: &Path) -> Result<Vec<(PathBuf, FileKind)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        if e.file_type().is_file() {
            if let Some(kind) = FileKind::of_path(e.path()) {
                out.push((e.path().to_path_buf(), kind));
            }
        }
    }
    Ok(out)
}

/// Load a folder in ONE transaction: a built dist (it has `import_order.json`) module by
/// module, any other folder (diff, users, data) all files in kind order. Every file is
/// read and validated first, so a bad file leaves the environment untouched. Without
/// `ignore_relation_fail`, a relation created between instances that will not exist
/// fails the load (as on a real orchestrator, which cannot create a dangling relation).
pub fn load_folder(state: &State, dir: &Path, ignore_relation_fail: bool) -> Result<Vec<String>> {
    let mut env = state.env()?;
    if dir.join("import_order.json").is_file() {
        let report = env.load_dist(dir, false)?;
        env.record_versions(dir)?;
        state.changed();
        let mut lines: Vec<String> = report
            .modules
            .iter()
            .map(|m| {
                format!(
                    "Loaded module {}: {} files, {} operations",
                    m.name, m.files, m.operations
                )
            })
            .collect();
        lines.push(format!(
            "Load done: {} files, {} operations, {} binaries",
            report.files, report.operations, report.binaries
        ));
        return Ok(lines);
    }
    let files = patch_files(dir)?;
    let mut patches = Vec::with_capacity(files.len());
    let mut dropped = 0;
    for (path, kind) in &files {
        let (patch, n) = read_lenient(path)?;
        dropped += n;
        patches.push((*kind, patch));
    }
    if !ignore_relation_fail {
        check_relations(&env, &patches)?;
    }
    let ops = env.apply_patches(patches.iter().map(|(k, p)| (*k, p)), false)?;
    state.changed();
    let mut lines = vec![format!(
        "Load done: {} files, {} operations from {}",
        files.len(),
        ops,
        rel_path(state.area(dir.starts_with(&state.opts.backup_dir)), dir)
    )];
    if dropped > 0 {
        lines.push(format!(
            "Ignored {dropped} relation deletions naming no valid tag (nothing to delete)"
        ));
    }
    Ok(lines)
}

/// Every relation the patches create joins instances that exist after the load (in the
/// environment and not deleted, or created by the patches).
fn check_relations(env: &crate::env::SqliteEnv, patches: &[(FileKind, Patch)]) -> Result<()> {
    use crate::patch::Op;
    use std::collections::BTreeSet;
    let mut created = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for op in patches.iter().flat_map(|(_, p)| p.all_ops()) {
        match op {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => {
                created.insert(i.tag.as_str());
            }
            Op::DeleteInstance(d) => {
                deleted.insert(d.tag.as_str());
            }
            _ => {}
        }
    }
    for (_, p) in patches {
        for op in p.all_ops() {
            let Op::CreateRelation(r, _) = op else {
                continue;
            };
            for end in [&r.from, &r.to] {
                let ok = created.contains(end.as_str())
                    || (!deleted.contains(end.as_str()) && env.has_instance(end)?);
                if !ok {
                    bail!(
                        "Relation {} -[{}]-> {} of patch {} fails: instance {end} does not exist (load with ignoreRelationFail to skip it)",
                        r.from, r.rel, r.to, p.root_tag
                    );
                }
            }
        }
    }
    Ok(())
}

/// Read a patch, dropping relation deletions (`o` 5) whose `m`, `l` or `r` is not a tag:
/// the toolkit's diff emits them for complex-property values (`m` = the property key, e.g.
/// `fd…`), and deleting a relation that cannot exist is a no-op on a real orchestrator.
/// Everything else is validated strictly.
fn read_lenient(path: &Path) -> Result<(Patch, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    match Patch::parse(&bytes, path) {
        Ok(p) => Ok((p, 0)),
        Err(e) => {
            let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                return Err(e.into());
            };
            let mut dropped = 0;
            for key in ["operations", "optionalOperations"] {
                if let Some(ops) = v.get_mut(key).and_then(|o| o.as_array_mut()) {
                    let before = ops.len();
                    ops.retain(|op| {
                        op.get("o").and_then(|o| o.as_u64()) != Some(5)
                            || ["m", "l", "r"]
                                .iter()
                                .all(|k| op.get(*k).and_then(|t| t.as_str()).is_some_and(is_tag))
                    });
                    dropped += before - ops.len();
                }
            }
            if dropped == 0 {
                return Err(e.into());
            }
            let p = Patch::parse(&serde_json::to_vec(&v)?, path)?;
            Ok((p, dropped))
        }
    }
}

/// `getRootTags`: `{rootTag: [patch paths relative to the area]}` of the patches under
/// `folder` (the whole area when absent).
pub fn root_tags(
    state: &State,
    folder: Option<&str>,
    backup: bool,
) -> Result<BTreeMap<String, Vec<String>>> {
    let area = state.area(backup);
    let dir = match folder {
        Some(f) if !f.is_empty() => safe_join(area, f)?,
        _ => area.to_path_buf(),
    };
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, _) in patch_files(&dir)? {
        let p = Patch::read(&path)?;
        // Relative to the folder asked for: the toolkit downloads `<rootFolder>/<path>`.
        map.entry(p.root_tag)
            .or_default()
            .push(rel_path(&dir, &path));
    }
    Ok(map)
}

/// `unzipPatches`: extract `file` (or every `*.zip` under `folder`/the area) into a folder
/// named like the zip without `.zip`; the paths of the extracted patch files.
pub fn unzip(
    state: &State,
    backup: bool,
    file: Option<&str>,
    folder: Option<&str>,
) -> Result<Vec<String>> {
    let area = state.area(backup);
    // Paths are answered relative to the folder asked for (the area for one file).
    let base = match (file, folder) {
        (None, Some(f)) if !f.is_empty() => safe_join(area, f)?,
        _ => area.to_path_buf(),
    };
    let zips: Vec<PathBuf> = match file {
        Some(f) => vec![safe_join(area, f)?],
        None => {
            let dir = base.clone();
            if !dir.exists() {
                return Ok(vec![]);
            }
            walkdir::WalkDir::new(&dir)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "zip")
                })
                .map(|e| e.into_path())
                .collect()
        }
    };
    let mut out = Vec::new();
    for z in zips {
        let target = z.with_extension("");
        let f = std::fs::File::open(&z).with_context(|| format!("cannot open {}", z.display()))?;
        let mut archive =
            zip::ZipArchive::new(f).with_context(|| format!("{} is not a zip", z.display()))?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i)?;
            let Some(name) = entry.enclosed_name() else {
                bail!(
                    "{}: entry {:?} leaves the folder",
                    z.display(),
                    entry.name()
                );
            };
            let dest = target.join(name);
            if entry.is_dir() {
                std::fs::create_dir_all(&dest)?;
                continue;
            }
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p)?;
            }
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            std::fs::write(&dest, data)?;
            if FileKind::of_path(&dest).is_some() {
                out.push(rel_path(&base, &dest));
            }
        }
    }
    Ok(out)
}

/// `copyPatches`: copy files of the patches folder (or of the backup area with `backup`)
/// into `destination` of the backup area, keeping their relative path; the zip form
/// archives the whole patches folder into the backup area (the patch backup).
pub fn copy(
    state: &State,
    sources: &[CopySource],
    backup: bool,
    destination: &str,
) -> Result<Vec<String>> {
    let from_area = state.area(backup).to_path_buf();
    let to = safe_join(&state.opts.backup_dir, destination)?;
    let mut lines = Vec::new();
    for s in sources {
        match s {
            CopySource::File {
                file_path,
                recursive,
            } => {
                let src = safe_join(&from_area, file_path)?;
                let dst = safe_join(&to, file_path)?;
                if src.is_dir() {
                    if !recursive {
                        bail!("{file_path} is a folder: copy it with recursive: true");
                    }
                    crate::fsutil::copy_tree(&src, &dst)?;
                } else {
                    if let Some(p) = dst.parent() {
                        std::fs::create_dir_all(p)?;
                    }
                    std::fs::copy(&src, &dst)
                        .with_context(|| format!("cannot copy {file_path}"))?;
                }
                lines.push(format!("Copied {file_path}"));
            }
            CopySource::Zip {
                destination_file_path,
                ..
            } => {
                let dst = safe_join(&to, destination_file_path)?;
                super::backup::zip_dir(&state.opts.patches_dir, &dst, &state.backup_stamps)?;
                lines.push(format!("Patches archived into {destination_file_path}"));
            }
        }
    }
    Ok(lines)
}

/// `loadBinaryFiles`: every file named by a tag under `folder` (the whole patches folder
/// when absent) is the content of that File instance.
pub fn load_binaries(state: &State, folder: Option<&str>) -> Result<usize> {
    let area = &state.opts.patches_dir;
    let dir = match folder {
        Some(f) if !f.is_empty() => safe_join(area, f)?,
        _ => area.to_path_buf(),
    };
    if !dir.exists() {
        return Ok(0);
    }
    let env = state.env()?;
    let mut n = 0;
    for e in walkdir::WalkDir::new(&dir) {
        let e = e?;
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && is_tag(&name) {
            env.put_blob(&name, &std::fs::read(e.path())?)?;
            n += 1;
        }
    }
    if n > 0 {
        state.changed();
    }
    Ok(n)
}
