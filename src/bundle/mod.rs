//! `cadkit bundle`: a built `dist/codeAsData` plus its `project.json` metadata packed into
//! one zip, the code-as-data counterpart of Agama's `.gama` archive, and the safe reading
//! side shared with `cadkit receiver`.
//!
//! Layout of a bundle (zip, deflate):
//! - `project.json`: `{"name", "version", "description", "author"}` (strings; `name` and
//!   `version` required);
//! - `codeAsData/import_order.json` and `codeAsData/<module>/…`: the built folder as is.
//!
//! Reading never trusts the archive: entries are checked before anything is written
//! ([`Limits`]: entry count, declared and actual uncompressed size, no absolute path, no
//! `..`, no symlink or special file), files are written under a fresh folder only, and
//! every patch is parsed ([`validate_dist`]) so an invalid file is reported by path before
//! any environment is touched.

pub mod unpack;

pub use unpack::{unpack_zip, Limits, UnpackError};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of the built patches inside a bundle.
pub const DIST_DIR: &str = "codeAsData";
/// The metadata file at the top of a bundle.
pub const PROJECT_FILE: &str = "project.json";

/// Project metadata carried by a bundle (and shown in deployment records).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectMeta {
    /// Project name (required).
    pub name: String,
    /// Project version (required).
    pub version: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Who made the bundle.
    #[serde(default)]
    pub author: String,
}

impl ProjectMeta {
    /// Parse and check `project.json` (name and version must not be empty).
    pub fn parse(bytes: &[u8]) -> Result<ProjectMeta> {
        let m: ProjectMeta = serde_json::from_slice(bytes).context(
            "project.json: expected {\"name\", \"version\", \"description\", \"author\"} (strings)",
        )?;
        if m.name.trim().is_empty() || m.version.trim().is_empty() {
            bail!("project.json: \"name\" and \"version\" must not be empty");
        }
        Ok(m)
    }
}

/// Per-file validation errors: path relative to the dist folder → message.
pub type FileErrors = BTreeMap<String, String>;

/// Why a dist folder is not deployable.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The folder is not a built codeAsData folder (message says what is missing).
    #[error("{0}")]
    Layout(String),
    /// Patch files that do not parse or validate (path → message).
    #[error("{} invalid patch file(s): {}", .0.len(), first_error(.0))]
    Files(FileErrors),
}

fn first_error(m: &FileErrors) -> String {
    m.iter()
        .next()
        .map(|(k, v)| format!("{k}: {v}"))
        .unwrap_or_default()
}

/// What a validated dist folder holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DistSummary {
    /// Modules of `import_order.json`.
    pub modules: usize,
    /// Patch files.
    pub files: usize,
}

/// Check a built folder: `import_order.json` present and well-formed, every module folder
/// present, every patch file parses and validates. All files are checked (not only the
/// first failure), so the caller gets the whole per-file error map.
pub fn validate_dist(dist: &Path) -> Result<DistSummary, DistError> {
    if !dist.join("import_order.json").is_file() {
        return Err(DistError::Layout(format!(
            "missing {DIST_DIR}/import_order.json: the bundle or image does not hold a built codeAsData folder (run `cadkit buildCodeAsData`)"
        )));
    }
    let files = crate::update::desired::list_files(dist)
        .map_err(|e| DistError::Layout(format!("{e:#}")))?;
    let modules: std::collections::BTreeSet<&str> =
        files.iter().map(|f| f.module.as_str()).collect();
    let errors: FileErrors = {
        use rayon::prelude::*;
        files
            .par_iter()
            .filter_map(|f| {
                crate::patch::Patch::read(&f.path)
                    .err()
                    .map(|e| (f.rel.clone(), e.to_string()))
            })
            .collect()
    };
    if !errors.is_empty() {
        return Err(DistError::Files(errors));
    }
    Ok(DistSummary {
        modules: modules.len(),
        files: files.len(),
    })
}

/// What `cadkit bundle` needs.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// The built folder (holding `import_order.json`).
    pub dist: PathBuf,
    /// Metadata; when `None`, read from `project_file`.
    pub project: Option<ProjectMeta>,
    /// A `project.json` to read the metadata from (or a `package.json`: name, version,
    /// description, author are taken from it).
    pub project_file: Option<PathBuf>,
    /// The zip to write (temp file + rename).
    pub output: PathBuf,
}

/// The report of `cadkit bundle`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    /// The zip written.
    pub output: PathBuf,
    /// Its metadata.
    pub project: ProjectMeta,
    /// Files of the built folder packed.
    pub files: usize,
    /// Size of the zip.
    pub bytes: u64,
    /// `sha256:<hex>` of the zip (what the receiver records).
    pub sha256: String,
}

/// Read the metadata from a `project.json`, or the matching fields of a `package.json`.
pub fn read_project(path: &Path) -> Result<ProjectMeta> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let s = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => o
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let m = ProjectMeta {
        name: s("name"),
        version: s("version"),
        description: s("description"),
        author: s("author"),
    };
    if m.name.is_empty() || m.version.is_empty() {
        bail!(
            "{}: \"name\" and \"version\" are required (strings)",
            path.display()
        );
    }
    Ok(m)
}

/// Pack and check a bundle: the folder is validated first, the zip is written to a temp
/// file, read back with the receiver's checks, then renamed into place.
pub fn bundle(req: &BundleRequest) -> Result<BundleReport> {
    let summary = validate_dist(&req.dist)
        .with_context(|| format!("{} is not deployable", req.dist.display()))?;
    let project = match (&req.project, &req.project_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => read_project(f)?,
        (None, None) => bail!("no project metadata: pass --project <project.json|package.json>"),
    };
    let parent = req
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("cannot write into {}", parent.display()))?;
    let files = write_zip(tmp.as_file_mut(), &req.dist, &project)?;
    tmp.as_file_mut().flush()?;
    let bytes = std::fs::read(tmp.path())?;
    // Read it back exactly as the receiver will.
    let check = tempfile::tempdir()?;
    unpack_zip(&bytes, check.path(), &Limits::default())
        .context("the written bundle does not pass the receiver's checks")?;
    validate_dist(&check.path().join(DIST_DIR))?;
    tmp.persist(&req.output)
        .with_context(|| format!("cannot write {}", req.output.display()))?;
    tracing::info!(
        "bundle {} written: {} files of {} modules",
        req.output.display(),
        summary.files,
        summary.modules
    );
    Ok(BundleReport {
        output: req.output.clone(),
        project,
        files,
        bytes: bytes.len() as u64,
        sha256: crate::image::layer::digest_of(&bytes),
    })
}

/// Write the zip: `project.json` then the folder's files in sorted order (deterministic).
fn write_zip(out: &mut std::fs::File, dist: &Path, project: &ProjectMeta) -> Result<usize> {
    use zip::write::SimpleFileOptions;
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut z = zip::ZipWriter::new(out);
    z.start_file(PROJECT_FILE, opts)?;
    z.write_all(&serde_json::to_vec_pretty(project)?)?;
    let mut files = 0;
    for e in walkdir::WalkDir::new(dist).sort_by_file_name() {
        let e = e.with_context(|| format!("cannot list {}", dist.display()))?;
        if !e.file_type().is_file() {
            if e.file_type().is_symlink() {
                bail!(
                    "{} is a symbolic link: bundles hold regular files only",
                    e.path().display()
                );
            }
            continue;
        }
        let rel = crate::update::desired::rel_path(dist, e.path());
        z.start_file(format!("{DIST_DIR}/{rel}"), opts)?;
        let data = std::fs::read(e.path())
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        z.write_all(&data)?;
        files += 1;
    }
    z.finish()?;
    Ok(files)
}
