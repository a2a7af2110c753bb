//! `buildCodeAsData`: gather the patches of a project and of its npm dependencies into
//! one deployable folder (`dist/codeAsData` by default), byte-identical to the toolkit.
//!
//! The build is planned first (which module folder goes where), every patch is validated,
//! and only then is the output written — into a staging folder beside the target that is
//! swapped in at the end. A failure or a kill never leaves a half-written output and never
//! destroys the previous one.

pub mod discover;
mod plan;

pub use discover::{discover, Dependency, Discovery, Manifest};
pub use plan::{plan, safe_name, Module, Plan};

use crate::patch::{FileKind, PatchError};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which modules go into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Dependencies then the project: a deployable folder.
    All,
    /// Only the project: a library package.
    Project,
    /// Only the dependencies.
    Dependencies,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "all" => Ok(Mode::All),
            "project" => Ok(Mode::Project),
            "dependencies" => Ok(Mode::Dependencies),
            other => Err(format!(
                "Unknown option for codeAsData mode: {other:?} (expected all, project or dependencies)"
            )),
        }
    }
}

/// Everything `buildCodeAsData` needs; paths are relative to `project_dir`.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The npm project's folder (holding `package.json`).
    pub project_dir: PathBuf,
    /// The output folder, replaced whole by the build (`--workingDir`).
    pub working_dir: PathBuf,
    /// Which modules go into the output.
    pub mode: Mode,
    /// The project's snapshot folder, merged into its module.
    pub snapshot_dir: PathBuf,
    /// The users folder name inside the snapshot folder (backups of users).
    pub users_data_dir: String,
    /// The business-data folder name inside the snapshot folder.
    pub business_data_dir: String,
    /// Name of the import order file in the output.
    pub import_order_file: String,
    /// Name of the version file in the output.
    pub version_file_name: String,
    /// Check and report everything; write nothing.
    pub dry_run: bool,
}

impl BuildRequest {
    /// The toolkit's defaults for a project folder.
    pub fn new(project_dir: impl Into<PathBuf>) -> BuildRequest {
        BuildRequest {
            project_dir: project_dir.into(),
            working_dir: "./dist/codeAsData".into(),
            mode: Mode::All,
            snapshot_dir: "./snapshot".into(),
            users_data_dir: "users".into(),
            business_data_dir: "data".into(),
            import_order_file: "import_order.json".into(),
            version_file_name: "version.json".into(),
            dry_run: false,
        }
    }

    /// `p` resolved against the project folder, without `.` components.
    pub(crate) fn abs(&self, p: &Path) -> PathBuf {
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.project_dir.join(p)
        };
        joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }
}

/// What a build did (or would do with `dry_run`): the JSON report.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    /// The mode built.
    pub mode: Mode,
    /// The output folder, absolute.
    pub working_dir: PathBuf,
    /// Nothing was written. Not serialised: the report envelope's `dryRun` says it.
    #[serde(skip)]
    #[schemars(skip)]
    pub dry_run: bool,
    /// The output modules, in import order.
    pub modules: Vec<ModuleReport>,
    /// Files copied (or to copy).
    pub files: usize,
    /// How many of them are patch files (each validated).
    pub patches: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// Name of the import order file written.
    pub import_order_file: String,
    /// The content of `version.json`, when written (not in `project` mode).
    pub version_file: Option<serde_json::Value>,
    /// Not serialised: the caller hands them to the report envelope's `warnings`
    /// ([`crate::ci::Outputs::report_warning`]).
    #[serde(skip)]
    #[schemars(skip)]
    pub warnings: Vec<String>,
}

/// One output module in the report.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModuleReport {
    /// The package name.
    pub name: String,
    /// Its folder in the output (`safeName` of the package name).
    pub path: String,
    /// The source folders merged into it, in order.
    pub folders: Vec<PathBuf>,
    /// Files it holds in the output.
    pub files: usize,
}

/// Errors a caller may want to branch on; everything else is an `anyhow` context chain.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{first}{}; nothing was written", more(*count))]
    /// Patch files failed validation: the build writes nothing.
    InvalidPatches {
        /// How many files are invalid.
        count: usize,
        /// The first one's error (file, pointer, expectation).
        first: PatchError,
    },
}

/// Run `buildCodeAsData`: plan, report what the plan holds, then (unless a dry run)
/// stage the whole output beside the working dir (`stage`) and swap it in, so a failure
/// leaves the previous output whole.
pub fn build(req: &BuildRequest) -> Result<BuildReport> {
    let started = std::time::Instant::now();
    let plan = plan(req)?;
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    let copies = plan.copies()?;
    tracing::debug!("planned {} files in {:?}", copies.len(), started.elapsed());

    let working_dir = req.abs(&req.working_dir);
    let version = plan.version_json();
    let mut report = BuildReport {
        mode: req.mode,
        working_dir: working_dir.clone(),
        dry_run: req.dry_run,
        modules: module_reports(&plan, &copies),
        files: copies.len(),
        patches: copies
            .iter()
            .filter(|c| FileKind::of_path(&c.src).is_some())
            .count(),
        bytes: 0,
        import_order_file: req.import_order_file.clone(),
        version_file: version.clone(),
        warnings: plan.warnings.clone(),
    };
    if req.dry_run {
        let t = plan::transfer(&copies, None)?;
        invalid_patches(t.invalid)?;
        report.bytes = t.bytes;
        return Ok(report);
    }

    let staged = crate::fsutil::staging_dir(&working_dir)?;
    match stage(req, &plan, &copies, &staged, version.as_ref(), started) {
        Ok(bytes) => report.bytes = bytes,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
    }
    crate::fsutil::swap_dir(&staged, &working_dir)?;
    tracing::debug!(
        "swapped in (previous output removed) at {:?}",
        started.elapsed()
    );
    tracing::info!(
        "Wrote {} files ({} patches) of {} modules to {}",
        report.files,
        report.patches,
        report.modules.len(),
        working_dir.display()
    );
    Ok(report)
}

/// Each module with its folders and the number of files it contributes.
fn module_reports(plan: &Plan, copies: &[plan::Copy]) -> Vec<ModuleReport> {
    let mut per_module: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in copies {
        *per_module.entry(c.module.as_str()).or_default() += 1;
    }
    plan.modules
        .iter()
        .map(|m| ModuleReport {
            name: m.name.clone(),
            path: m.path.clone(),
            folders: m.folders.clone(),
            files: per_module.get(m.path.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

/// Copy and validate every file into `staged`, then write the import order and version
/// files; the bytes copied. Any invalid patch fails the build before the swap.
fn stage(
    req: &BuildRequest,
    plan: &Plan,
    copies: &[plan::Copy],
    staged: &Path,
    version: Option<&serde_json::Value>,
    started: std::time::Instant,
) -> Result<u64> {
    let t = plan::transfer(copies, Some(staged))?;
    tracing::debug!("validated and staged in {:?}", started.elapsed());
    invalid_patches(t.invalid)?;
    write_new(
        &staged.join(&req.import_order_file),
        plan.import_order_json().as_bytes(),
    )?;
    if let Some(v) = version {
        write_new(
            &staged.join(&req.version_file_name),
            crate::json::to_compact(v).as_bytes(),
        )?;
    }
    Ok(t.bytes)
}

fn more(count: usize) -> String {
    if count > 1 {
        format!(" (and {} more invalid patch files)", count - 1)
    } else {
        String::new()
    }
}

/// Fail with every invalid patch counted and the first (by path) shown.
fn invalid_patches(mut invalid: Vec<PatchError>) -> Result<()> {
    if invalid.is_empty() {
        return Ok(());
    }
    invalid.sort_by_key(|e| e.to_string());
    let count = invalid.len();
    for e in invalid.iter().skip(1).take(20) {
        tracing::error!("{e}");
    }
    let first = invalid.swap_remove(0);
    Err(BuildError::InvalidPatches { count, first }.into())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The `dependencies` command: code-as-data packages in dependency order.
pub fn dependencies(project_dir: &Path) -> Result<Vec<Dependency>> {
    let manifest = Manifest::read(project_dir)?;
    let found = discover(&manifest);
    for w in &found.warnings {
        tracing::warn!("{w}");
    }
    Ok(found.dependencies)
}

/// Checks that a library build (`project` mode) will be found by the projects that
/// install it: consumers only see folders that `package.json` declares as `codeAsData`.
pub(crate) fn check_library_manifest(
    req: &BuildRequest,
    manifest: &Manifest,
) -> Result<Vec<String>> {
    let wd = req.working_dir.to_string_lossy();
    let wd = wd.trim_start_matches("./");
    match &manifest.code_as_data {
        None => bail!(
            "{}: a library build (--codeAsData.mode project) needs a \"codeAsData\" entry so that \
             projects installing it find its patches; add \"codeAsData\": \"{wd}\" to package.json",
            req.project_dir.join("package.json").display()
        ),
        Some(decl)
            if decl.trim_start_matches("./").trim_end_matches('/') != wd.trim_end_matches('/') =>
        {
            Ok(vec![format!(
                "package.json declares \"codeAsData\": \"{decl}\" but the build writes to {wd}; \
                 projects installing this library will read {decl}"
            )])
        }
        Some(_) => Ok(vec![]),
    }
}
