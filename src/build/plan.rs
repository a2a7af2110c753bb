//! The build plan: which folder of which module lands where in the output.

use super::discover::{discover, Manifest};
use super::{BuildRequest, Mode};
use crate::patch::{tags, FileKind, PatchError};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One output module: a folder `<workingDir>/<path>` and one import-order entry.
#[derive(Debug, Clone)]
pub struct Module {
    /// The package name (runtime packages merged as `@olympeio/runtime`).
    pub name: String,
    /// `safeName(name)`: the folder name in the output.
    pub path: String,
    /// Source folders, in order; basenames are unique within a module.
    pub folders: Vec<PathBuf>,
}

/// What a build will produce: the modules with their folders, before anything is copied; `copies`
/// turns it into files.
#[derive(Debug)]
pub struct Plan {
    /// The output modules, in import order.
    pub modules: Vec<Module>,
    /// Things the user should know that do not stop the build.
    pub warnings: Vec<String>,
    draw_version: Option<String>,
    runtime_version: Option<String>,
    write_version: bool,
}

/// One file to copy.
#[derive(Debug)]
pub(crate) struct Copy {
    pub src: PathBuf,
    /// Relative to the output root.
    pub dst: PathBuf,
    pub module: String,
}

/// The toolkit's `safeName`: drop `@`, `/` becomes `.`, lowercase.
pub fn safe_name(name: &str) -> String {
    name.replace('@', "").replace('/', ".").to_lowercase()
}

/// Runtime packages are merged into one module, as the toolkit does.
fn module_name(package: &str) -> &str {
    match package {
        "@olympeio/runtime-web" | "@olympeio/runtime-node" => "@olympeio/runtime",
        other => other,
    }
}

/// Plan a build: discover modules and their folders; check what can be checked. The
/// dependencies' modules come first (`dependency_modules`), then the project's own
/// (`project_modules`), as in the toolkit's import order.
pub fn plan(req: &BuildRequest) -> Result<Plan> {
    let manifest = Manifest::read(&req.project_dir).with_context(|| {
        format!(
            "{} is not an npm project (run cadkit in the folder holding package.json)",
            req.project_dir.display()
        )
    })?;
    let mut warnings = Vec::new();
    let mut modules: Vec<Module> = Vec::new();
    if req.mode != Mode::Project {
        dependency_modules(&manifest, &mut modules, &mut warnings)?;
    }
    if req.mode != Mode::Dependencies {
        if req.mode == Mode::Project {
            warnings.extend(super::check_library_manifest(req, &manifest)?);
        }
        project_modules(req, &manifest, &mut modules)?;
    }

    let version_of = |name: &str| {
        super::discover::resolve(name, &req.project_dir)
            .and_then(|d| Manifest::read(&d).ok())
            .map(|m| m.version)
    };
    let draw_version = if manifest.name == "olympe-composer" {
        Some(manifest.version.clone())
    } else {
        version_of("@olympeio/draw")
    };
    Ok(Plan {
        modules,
        warnings,
        draw_version,
        runtime_version: version_of("@olympeio/runtime-web"),
        write_version: req.mode != Mode::Project,
    })
}

/// Add `folders` to the module `name` (runtime packages merged into one), creating it
/// at the end of the import order when new.
fn add(name: &str, folders: Vec<PathBuf>, modules: &mut Vec<Module>) {
    let name = module_name(name);
    match modules.iter_mut().find(|m| m.name == name) {
        Some(m) => {
            // First wins: a folder whose basename the module already has is dropped
            // (compared with the folders present before this call, as the toolkit does).
            let known: HashSet<_> = m
                .folders
                .iter()
                .filter_map(|f| f.file_name().map(|b| b.to_owned()))
                .collect();
            m.folders.extend(
                folders
                    .into_iter()
                    .filter(|f| f.file_name().is_none_or(|b| !known.contains(b))),
            );
        }
        None => modules.push(Module {
            name: name.to_string(),
            path: safe_name(name),
            folders,
        }),
    }
}

/// One module per dependency providing code as data; a declared but missing folder is
/// an error naming the package and the fix.
fn dependency_modules(
    manifest: &Manifest,
    modules: &mut Vec<Module>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let found = discover(manifest);
    warnings.extend(found.warnings);
    tracing::info!(
        "Found {} dependencies providing code as data amongst the project dependencies",
        found.dependencies.len()
    );
    for dep in &found.dependencies {
        if !dep.code_as_data_dir.exists() {
            bail!(
                "{}: missing, but package {} {} declares it as its codeAsData; \
                 reinstall the package (npm ci) or fix its package.json",
                dep.code_as_data_dir.display(),
                dep.name,
                dep.version
            );
        }
        add(
            &dep.name,
            code_as_data_folders(&dep.code_as_data_dir)?,
            modules,
        );
    }
    Ok(())
}

/// The project's module: its own `codeAsData` folders first, then its snapshot folders
/// merged in like a repeated module (first basename wins).
fn project_modules(
    req: &BuildRequest,
    manifest: &Manifest,
    modules: &mut Vec<Module>,
) -> Result<()> {
    let mut own = Vec::new();
    if let Some(cad) = &manifest.code_as_data {
        let dir = req.project_dir.join(cad);
        // The toolkit empties the working dir before reading: a project whose
        // `codeAsData` is its own output contributes nothing from it.
        if same_path(&dir, &req.abs(&req.working_dir)) {
            // nothing to read
        } else if dir.exists() {
            own = code_as_data_folders(&dir)?;
        } else {
            tracing::warn!(
                "package.json declares codeAsData {cad:?} but {} does not exist",
                dir.display()
            );
        }
    }
    let snapshots = snapshot_folders(req)?;
    tracing::info!(
        "Found {} folders for project's code as data",
        own.len() + snapshots.len()
    );
    // A project without any folder gets no module (no import-order entry), as with
    // the toolkit; a dependency without folders keeps its entry.
    if !own.is_empty() {
        add(&manifest.name, own, modules);
    }
    if !snapshots.is_empty() {
        add(&manifest.name, snapshots, modules);
    }
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The folders a `codeAsData` entry designates: every immediate sub-folder of a folder,
/// or, for the legacy file form, `<dir>/<safeName(entry.name)>` for each listed entry.
fn code_as_data_folders(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        return sorted_subdirs(path);
    }
    if path.is_file() {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let list: Vec<Value> = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{}: expected an import-order list like [{{\"name\": …}}]",
                path.display()
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        return Ok(list
            .iter()
            .filter_map(|e| e.get("name").and_then(Value::as_str))
            .map(|n| dir.join(safe_name(n)))
            .collect());
    }
    tracing::warn!("code-as-data location {} does not exist", path.display());
    Ok(Vec::new())
}

fn sorted_subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// The project's snapshot folders: `<snapshot.dir>/<X>/Home` for every visible
/// sub-folder X except the users and business-data folders.
fn snapshot_folders(req: &BuildRequest) -> Result<Vec<PathBuf>> {
    let snap = req.abs(&req.snapshot_dir);
    if !snap.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for sub in sorted_subdirs(&snap)? {
        let name = sub
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') || name == req.users_data_dir || name == req.business_data_dir {
            continue;
        }
        let home = if name == "Home" {
            sub.clone()
        } else {
            sub.join("Home")
        };
        if !home.is_dir() {
            bail!(
                "{}: snapshot folder has no Home sub-folder. Each folder of --snapshot.dir holds one \
                 snapshot root as <rootTag>/Home/<Repository>/<Project>/…; move the files under \
                 {}, or remove the folder (users and business data belong in --snapshot.usersDataDir \
                 and --snapshot.businessDataDir)",
                sub.display(),
                home.display()
            );
        }
        out.push(home);
    }
    Ok(out)
}

impl Plan {
    /// Files to copy, with the toolkit's copy rules: a module with one folder gets that
    /// folder's content; with several, each goes to `<module>/<basename>` except `Home`
    /// folders, whose content is merged into the module folder. Later files win.
    pub(crate) fn copies(&self) -> Result<Vec<Copy>> {
        let mut jobs: Vec<(PathBuf, PathBuf, String)> = Vec::new();
        for m in &self.modules {
            let single = m.folders.len() == 1;
            for folder in &m.folders {
                let base = folder.file_name().unwrap_or_default();
                let dst = if single || base == "Home" {
                    PathBuf::from(&m.path)
                } else {
                    Path::new(&m.path).join(base)
                };
                jobs.push((folder.clone(), dst, m.path.clone()));
            }
        }
        let lists: Vec<Result<Vec<Copy>>> = crate::fsutil::io_pool().install(|| {
            jobs.par_iter()
                .map(|(folder, dst, module)| list_files(folder, dst, module))
                .collect()
        });
        let mut copies = Vec::new();
        for l in lists {
            copies.extend(l?);
        }
        // Later copies overwrite earlier ones: keep the last of each destination.
        let mut seen = HashSet::new();
        let mut dedup: Vec<Copy> = copies
            .into_iter()
            .rev()
            .filter(|c| seen.insert(c.dst.clone()))
            .collect();
        dedup.reverse();
        Ok(dedup)
    }

    /// `import_order.json`: one entry per module, in order, with the module's folder; compact, as
    /// the toolkit writes it.
    pub fn import_order_json(&self) -> String {
        let list: Vec<Value> = self
            .modules
            .iter()
            .map(|m| json!({"name": m.name, "rootTag": tags::HOME, "path": m.path}))
            .collect();
        crate::json::to_compact(&Value::Array(list))
    }

    /// `version.json` (not in `project` mode); missing versions are `"N/A"`.
    pub fn version_json(&self) -> Option<Value> {
        if !self.write_version {
            return None;
        }
        let or_na = |v: &Option<String>, what: &str| {
            v.clone().unwrap_or_else(|| {
                tracing::warn!("{what} is not installed: version.json records N/A");
                "N/A".into()
            })
        };
        Some(json!({
            "drawVersion": or_na(&self.draw_version, "@olympeio/draw"),
            "runtimeVersion": or_na(&self.runtime_version, "@olympeio/runtime-web"),
        }))
    }
}

fn list_files(folder: &Path, dst: &Path, module: &str) -> Result<Vec<Copy>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(folder)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.with_context(|| format!("cannot read {}", folder.display()))?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(folder).unwrap_or(entry.path());
            out.push(Copy {
                src: entry.path().to_path_buf(),
                dst: dst.join(rel),
                module: module.to_string(),
            });
        }
    }
    Ok(out)
}

/// What one pass over the files found.
pub(crate) struct Transfer {
    pub bytes: u64,
    /// Invalid patches, sorted by source path.
    pub invalid: Vec<PatchError>,
}

/// Read every file once, validate it when it is a patch, and write it under `root` (or
/// only validate when `root` is `None`). Runs in parallel. Writing goes to a staging folder
/// that nobody sees until it is swapped in, so validating and copying in one pass keeps
/// the guarantee that an invalid patch never reaches the output, at the cost of one read.
pub(crate) fn transfer(copies: &[Copy], root: Option<&Path>) -> Result<Transfer> {
    if let Some(root) = root {
        let mut dirs: Vec<PathBuf> = copies
            .iter()
            .filter_map(|c| c.dst.parent().map(|p| root.join(p)))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
    }
    let progress = progress_bar(copies.len() as u64);
    let results: Vec<Result<(u64, Option<PatchError>)>> = crate::fsutil::io_pool().install(|| {
        copies
            .par_iter()
            .map(|c| {
                progress.inc(1);
                let bytes = std::fs::read(&c.src)
                    .with_context(|| format!("cannot read {}", c.src.display()))?;
                let invalid = if FileKind::of_path(&c.src).is_some() {
                    crate::patch::validate(&bytes, &c.src).err()
                } else {
                    None
                };
                if let (Some(root), None) = (root, &invalid) {
                    let to = root.join(&c.dst);
                    std::fs::write(&to, &bytes)
                        .with_context(|| format!("cannot write {}", to.display()))?;
                }
                Ok((bytes.len() as u64, invalid))
            })
            .collect()
    });
    progress.finish_and_clear();
    let mut out = Transfer {
        bytes: 0,
        invalid: Vec::new(),
    };
    for r in results {
        let (n, invalid) = r?;
        out.bytes += n;
        out.invalid.extend(invalid);
    }
    Ok(out)
}

/// A progress bar on a terminal for large builds; hidden otherwise (CI logs stay clean).
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if total < 5_000 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files, {eta} left")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_name_follows_the_toolkit() {
        assert_eq!(safe_name("@acme/My-Project"), "acme.my-project");
        assert_eq!(safe_name("@olympeio/runtime"), "olympeio.runtime");
    }
}
