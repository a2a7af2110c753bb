//! Loading a built `dist/codeAsData` folder (the embedded `install --reset` path and the
//! demo) and applying already-read patches, each in ONE transaction after every file was
//! read and validated, so a bad file never leaves a half-loaded environment.

use super::graph::{apply_ops, clear_graph, counts, put_blob};
use super::SqliteEnv;
use crate::patch::{FileKind, Patch, PatchError};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a load did: the JSON report of `install`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    /// The SQLite file loaded into.
    pub env: PathBuf,
    /// The built codeAsData folder that was loaded.
    pub dist: PathBuf,
    /// Whether the graph was emptied first (in the same transaction).
    pub reset: bool,
    /// Each module of `import_order.json`, in load order.
    pub modules: Vec<ModuleLoad>,
    /// Patch files applied.
    pub files: usize,
    /// Operations applied (optionalOperations included).
    pub operations: usize,
    /// Binary contents stored (`<base>/<fileTag>` files beside the patches).
    pub binaries: usize,
    /// Instances and relations in the environment after the load.
    pub instances: u64,
    /// Relations in the environment after the load.
    pub relations: u64,
    /// Wall-clock time of the read, validation and load, in milliseconds.
    pub duration_ms: u64,
}

/// One module of `import_order.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleLoad {
    /// The module's `name` in `import_order.json`.
    pub name: String,
    /// Its folder, relative to the dist folder (`path` in `import_order.json`).
    pub path: String,
    /// Patch files of the module applied.
    pub files: usize,
    /// Operations of those files applied (optionalOperations included).
    pub operations: usize,
}

#[derive(Debug, Deserialize)]
struct ImportOrderEntry {
    name: String,
    path: String,
}

/// One module's patches, read and validated, in application order.
struct ModulePatches {
    name: String,
    path: String,
    patches: Vec<(FileKind, PathBuf, Patch)>,
    /// Binaries found beside the patches: `<base>/<fileTag>` (file tag, content).
    binaries: Vec<(String, Vec<u8>)>,
}

impl SqliteEnv {
    /// Apply already-read patches in application order (all delRel, then delInst, newInst,
    /// updateInst, newRel; the given order within a kind), in one transaction.
    /// With `reset`, the graph (not `meta`) is emptied first in the same transaction.
    pub fn apply_patches<'a>(
        &mut self,
        patches: impl IntoIterator<Item = (FileKind, &'a Patch)>,
        reset: bool,
    ) -> Result<usize> {
        let mut list: Vec<(FileKind, &Patch)> = patches.into_iter().collect();
        list.sort_by_key(|(k, _)| *k);
        let tx = self.conn.transaction()?;
        if reset {
            clear_graph(&tx)?;
        }
        let mut n = 0;
        for (_, p) in list {
            n += p.all_ops().count();
            apply_ops(&tx, p.all_ops())?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Load a built `dist/codeAsData` folder: modules in `import_order.json` order, each
    /// module's files in application order (see [`crate::env`]). Every file is read and
    /// validated before the database is touched; the whole load (and the reset, with
    /// `reset`) is one transaction, so a failure leaves the environment as it was.
    pub fn load_dist(&mut self, dist: &Path, reset: bool) -> Result<LoadReport> {
        let start = Instant::now();
        let modules = read_dist(dist)?;
        let tx = self.conn.transaction()?;
        if reset {
            clear_graph(&tx)?;
        }
        let mut reports = Vec::new();
        let (mut files, mut operations, mut binaries) = (0, 0, 0);
        for m in &modules {
            for (tag, data) in &m.binaries {
                put_blob(&tx, tag, data)?;
            }
            binaries += m.binaries.len();
            let mut ops = 0;
            for (_, file, p) in &m.patches {
                ops += p.all_ops().count();
                apply_ops(&tx, p.all_ops())
                    .with_context(|| format!("cannot apply {}", file.display()))?;
            }
            files += m.patches.len();
            operations += ops;
            reports.push(ModuleLoad {
                name: m.name.clone(),
                path: m.path.clone(),
                files: m.patches.len(),
                operations: ops,
            });
        }
        let (instances, relations) = counts(&tx)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('lastLoad', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [serde_json::json!({
                "dist": dist,
                "reset": reset,
                "at": chrono::Utc::now().to_rfc3339(),
                "modules": reports.iter().map(|m| &m.name).collect::<Vec<_>>(),
            })
            .to_string()],
        )?;
        tx.commit()
            .with_context(|| format!("cannot commit the load into {}", self.path.display()))?;
        Ok(LoadReport {
            env: self.path.clone(),
            dist: dist.to_path_buf(),
            reset,
            modules: reports,
            files,
            operations,
            binaries,
            instances,
            relations,
            duration_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// Read `import_order.json` and every module's patch files, validated, in application
/// order. Nothing is applied.
fn read_dist(dist: &Path) -> Result<Vec<ModulePatches>> {
    let order_file = dist.join("import_order.json");
    let text = std::fs::read_to_string(&order_file).with_context(|| {
        format!(
            "cannot read {} (is {} a built codeAsData folder? run `cadkit buildCodeAsData` first)",
            order_file.display(),
            dist.display()
        )
    })?;
    let entries: Vec<ImportOrderEntry> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected an array of {{name, rootTag, path}}",
            order_file.display()
        )
    })?;
    let mut modules = Vec::new();
    let mut errors: Vec<PatchError> = Vec::new();
    for e in entries {
        let folder = dist.join(&e.path);
        if e.path.contains("..") || Path::new(&e.path).is_absolute() {
            bail!(
                "{}: module {} has an unsafe path {:?}",
                order_file.display(),
                e.name,
                e.path
            );
        }
        if !folder.is_dir() {
            bail!(
                "{}: module {} points to {}, which is not a folder",
                order_file.display(),
                e.name,
                folder.display()
            );
        }
        let mut files: Vec<(FileKind, PathBuf, PathBuf)> = Vec::new();
        for entry in walkdir::WalkDir::new(&folder).follow_links(true) {
            let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            if let Some(kind) = FileKind::of_path(entry.path()) {
                let rel = entry.path().strip_prefix(&folder)?.to_path_buf();
                files.push((kind, rel, entry.path().to_path_buf()));
            }
        }
        files.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let read: Vec<Result<(FileKind, PathBuf, Patch), PatchError>> = files
            .into_par_iter()
            .map(|(kind, _, path)| Patch::read(&path).map(|p| (kind, path, p)))
            .collect();
        let mut patches = Vec::with_capacity(read.len());
        for r in read {
            match r {
                Ok(p) => patches.push(p),
                Err(e) => errors.push(e),
            }
        }
        let binaries = read_binaries(patches.iter().map(|(_, p, _)| p.as_path()))?;
        modules.push(ModulePatches {
            name: e.name,
            path: e.path,
            patches,
            binaries,
        });
    }
    if let Some(first) = errors.first() {
        bail!(
            "{} invalid patch file(s) in {}; the environment was not touched. First: {first}",
            errors.len(),
            dist.display()
        );
    }
    Ok(modules)
}

/// Binaries beside patch files: for `<dir>/<base>.<kind>.json`, every file of the folder
/// `<dir>/<base>/` named by a 20-hex tag is that File instance's content (the dumper's
/// layout).
fn read_binaries<'a>(
    patch_files: impl Iterator<Item = &'a Path>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut bases = std::collections::BTreeSet::new();
    for f in patch_files {
        let (Some(dir), Some(name)) = (f.parent(), f.file_name().and_then(|n| n.to_str())) else {
            continue;
        };
        if let Some(kind) = FileKind::ALL
            .into_iter()
            .find(|k| name.ends_with(k.suffix()))
        {
            bases.insert(dir.join(&name[..name.len() - kind.suffix().len()]));
        }
    }
    let mut out = Vec::new();
    for base in bases {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries {
            let e = e.with_context(|| format!("cannot list {}", base.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::patch::is_tag(&name) && e.file_type()?.is_file() {
                let data = std::fs::read(e.path())
                    .with_context(|| format!("cannot read {}", e.path().display()))?;
                out.push((name, data));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_file_leaves_the_environment_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("dist");
        std::fs::create_dir_all(dist.join("m/x")).unwrap();
        std::fs::write(
            dist.join("import_order.json"),
            r#"[{"name":"m","rootTag":"10000000000000000000","path":"m"}]"#,
        )
        .unwrap();
        std::fs::write(
            dist.join("m/x/A.newInst.json"),
            r#"{"rootTag":"a0000000000000000000","operations":[{"o":1,"t":"a0000000000000000000","p":{}}]}"#,
        )
        .unwrap();
        let mut env = SqliteEnv::open(&dir.path().join("env.sqlite")).unwrap();
        let r = env.load_dist(&dist, true).unwrap();
        assert_eq!((r.files, r.instances), (1, 1));
        std::fs::write(dist.join("m/x/B.newRel.json"), "{").unwrap();
        let e = env.load_dist(&dist, true).unwrap_err().to_string();
        assert!(e.contains("B.newRel.json"), "{e}");
        assert_eq!(env.counts().unwrap(), (1, 0));
    }
}
