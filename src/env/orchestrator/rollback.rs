//! Rollback of a failed `update` against an orchestrator, to the last patch backup.
//!
//! Every successful `install`/`update` leaves a patch backup in the orchestrator's backup
//! area: `import_YYYYMMDD_HHMMSS.zip` (its patches folder) and `rollbackVersion.json`
//! naming it. When loading the update's diff fails (the toolkit's *ImportPatchesError*),
//! the toolkit rolls back with the same messages cadkit sends here (olympe-formats §9.6):
//! `GET` backup `rollbackVersion.json`; `unzipPatches{useBackupFolder:true, filePath}` of
//! that zip (into backup `<zip name without .zip>/`); the diff computed again with that
//! folder as the desired state (`unzipPatches{folderPath}`, `getRootTags{rootFolder}`,
//! each patch downloaded from the backup area), its files uploaded to backup
//! `rollback_diff/` and loaded; password, versions; then the "after" steps with the mode
//! switched back.
//!
//! Beyond the toolkit: the report (stdout) says the update failed and whether the rollback
//! completed (exit 1 either way); the mode is switched back on every path, also when the
//! rollback fails; a missing or unreadable `rollbackVersion.json`, a zip that cannot be
//! extracted or holds no patches, or a patch that cannot be downloaded stop the rollback
//! with a clear error instead of computing a diff against an empty or partial state (the
//! toolkit only warns there, and would then delete what it did not find).

use super::diff;
use super::{obj, Orchestrator, Secret};
use crate::env::UpdateSpec;
use crate::update::Plan;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};
use std::time::{Duration, Instant};

/// The backup-area file naming the last patch backup.
pub const ROLLBACK_VERSION_FILE: &str = "rollbackVersion.json";
/// Backup sub-folder the rollback diff files are uploaded to and loaded from.
pub const ROLLBACK_DIFF_FOLDER: &str = "rollback_diff";
/// Local folder (under the download folder) the backed-up patches are downloaded to.
const LOCAL_PATCHES: &str = "rollback_patches";
/// The toolkit's timeout for `unzipPatches` of one file.
const UNZIP_ONE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Parallel downloads (the toolkit's).
const DOWNLOADS: usize = 20;

/// Why no rollback could be made or completed.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The backup area has no `rollbackVersion.json`: no patch backup was ever taken.
    #[error("no rollback possible: {ROLLBACK_VERSION_FILE} is missing from the orchestrator's backup area (no install or update has left a patch backup there: restore the environment from a snapshot or fix the build and update again)")]
    NoRollbackVersion,
    /// `rollbackVersion.json` is not `{"rollbackFile": "import_….zip"}` (the reason).
    #[error("no rollback possible: {ROLLBACK_VERSION_FILE} of the orchestrator's backup area is unreadable ({0}); expected {{\"rollbackFile\": \"import_YYYYMMDD_HHMMSS.zip\"}}")]
    Unreadable(String),
    /// The patch backup it names cannot be rolled back to.
    #[error("no rollback possible: the patch backup {file} holds {what}")]
    BadBackup {
        /// The backup zip (`import_YYYYMMDD_HHMMSS.zip`).
        file: String,
        /// What is wrong with its content (no patch file, no `import_order.json`).
        what: String,
    },
}

/// What the rollback did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    /// The rollback diff was loaded and the "after" steps ran.
    pub completed: bool,
    /// The patch backup rolled back to (from `rollbackVersion.json`).
    pub rollback_file: Option<String>,
    /// Why the rollback did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Maintenance / read mode switched back to normal.
    pub mode_restored: bool,
    /// Names of the rollback diff files uploaded to backup `rollback_diff/`.
    pub diff_files: Vec<String>,
    /// The plan back to the backup's patches (absent when the rollback stopped before
    /// planning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

/// The rollback proper (see the module doc); fills `rb` as it goes.
pub fn roll_back(o: &Orchestrator, req: &UpdateSpec, rb: &mut RollbackReport) -> Result<()> {
    let token = o.fresh_token()?;
    let file = rollback_file(o, &token)?;
    rb.rollback_file = Some(file.clone());
    let stem = file.trim_end_matches(".zip").to_string();
    tracing::info!("rolling back to the patch backup {file}");
    let unzipped = o
        .command(
            obj(&[
                ("command", "unzipPatches".into()),
                ("useBackupFolder", true.into()),
                ("filePath", file.clone().into()),
            ]),
            Some(UNZIP_ONE_TIMEOUT),
        )
        .with_context(|| format!("cannot extract the patch backup {file}"))?;
    let n: usize = unzipped
        .first()
        .and_then(|l| serde_json::from_str::<Vec<Value>>(l).ok())
        .map_or(0, |v| v.len());
    if n == 0 {
        return Err(RollbackError::BadBackup {
            file,
            what: "no patch file".into(),
        }
        .into());
    }
    // As the toolkit's diff does: zips inside the extracted folder, then its root tags.
    o.command(
        obj(&[
            ("command", "unzipPatches".into()),
            ("useBackupFolder", true.into()),
            ("folderPath", stem.clone().into()),
        ]),
        None,
    )?;
    let paths = root_tag_paths(o, &stem)?;
    let local = o.cfg.download_folder.join(LOCAL_PATCHES);
    download_backup(o, &token, &file, &stem, &paths, &local)?;
    let rreq = UpdateSpec {
        dist: local,
        use_change_log: false,
        plan_only: false,
        ..req.clone()
    };
    let plan = diff::compute(o, &rreq)?;
    let files = diff::diff_files(&plan);
    tracing::info!("rollback diff: {} files", files.len());
    rb.diff_files = files.iter().map(|(n, _)| n.clone()).collect();
    rb.plan = Some(plan);
    diff::write_local(&o.cfg.download_folder, ROLLBACK_DIFF_FOLDER, &files)?;
    // The binaries of the backup are not in the patches folder, where `loadBinaryFiles`
    // reads: the rollback restores the graph only.
    diff::apply(o, &rreq, &files, ROLLBACK_DIFF_FOLDER, &[])
        .with_context(|| format!("cannot load the rollback diff of {file}"))
}

/// The zip named by backup `rollbackVersion.json`.
fn rollback_file(o: &Orchestrator, token: &Secret) -> Result<String> {
    let bytes = o
        .block_on(o.http().download(ROLLBACK_VERSION_FILE, true, token))
        .map_err(|e| RollbackError::Unreadable(e.to_string()))?
        .ok_or(RollbackError::NoRollbackVersion)?;
    Ok(parse_rollback_version(&bytes)?)
}

/// `{"rollbackFile": "<name>.zip"}`: the name must be a plain `*.zip` file name of the
/// backup area (no folder, no `..`).
pub fn parse_rollback_version(bytes: &[u8]) -> Result<String, RollbackError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| RollbackError::Unreadable(e.to_string()))?;
    let file = v
        .get("rollbackFile")
        .and_then(Value::as_str)
        .ok_or_else(|| RollbackError::Unreadable("no string \"rollbackFile\"".into()))?;
    let mut parts = Path::new(file).components();
    let plain = matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none();
    if !plain || !file.ends_with(".zip") || file.len() <= 4 {
        return Err(RollbackError::Unreadable(format!(
            "\"rollbackFile\" {file:?} is not the file name of a zip in the backup area"
        )));
    }
    Ok(file.to_string())
}

/// `getRootTags{rootFolder, useBackupFolder:true}`: every patch path of the folder
/// (relative to it), merged over the reply lines.
fn root_tag_paths(o: &Orchestrator, stem: &str) -> Result<BTreeSet<String>> {
    let lines = o.command(
        obj(&[
            ("command", "getRootTags".into()),
            ("rootFolder", stem.into()),
            ("useBackupFolder", true.into()),
        ]),
        None,
    )?;
    let mut paths = BTreeSet::new();
    for l in &lines {
        let m: BTreeMap<String, Vec<String>> = serde_json::from_str(l)
            .with_context(|| format!("getRootTags answered {l:?}, not {{rootTag: [paths]}}"))?;
        paths.extend(m.into_values().flatten());
    }
    Ok(paths)
}

/// Download the backed-up build (`import_order.json`, `version.json`, every patch) from
/// backup `<stem>/` into `local` (emptied first), `DOWNLOADS` at a time.
fn download_backup(
    o: &Orchestrator,
    token: &Secret,
    file: &str,
    stem: &str,
    paths: &BTreeSet<String>,
    local: &Path,
) -> Result<()> {
    if local.exists() {
        std::fs::remove_dir_all(local)
            .with_context(|| format!("cannot empty {}", local.display()))?;
    }
    std::fs::create_dir_all(local).with_context(|| format!("cannot create {}", local.display()))?;
    for p in paths {
        let ok = Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !ok {
            anyhow::bail!("getRootTags answered the path {p:?}, which leaves the folder {stem}");
        }
    }
    let order = format!("{stem}/import_order.json");
    let Some(bytes) = o.block_on(o.http().download(&order, true, token))? else {
        return Err(RollbackError::BadBackup {
            file: file.into(),
            what: "no import_order.json (not a built codeAsData folder)".into(),
        }
        .into());
    };
    std::fs::write(local.join("import_order.json"), bytes)?;
    if let Some(v) = o.block_on(
        o.http()
            .download(&format!("{stem}/version.json"), true, token),
    )? {
        std::fs::write(local.join("version.json"), v)?;
    }
    let t = Instant::now();
    o.block_on(async {
        use futures_util::{stream, TryStreamExt};
        stream::iter(paths.iter().map(Ok::<_, anyhow::Error>))
            .try_for_each_concurrent(DOWNLOADS, |p| async move {
                let remote_path = format!("{stem}/{p}");
                let bytes = o
                    .http()
                    .download(&remote_path, true, token)
                    .await?
                    .with_context(|| format!("the patch backup {file} lost {p}"))?;
                let dest = local.join(p);
                if let Some(d) = dest.parent() {
                    tokio::fs::create_dir_all(d).await?;
                }
                tokio::fs::write(&dest, bytes)
                    .await
                    .with_context(|| format!("cannot write {}", dest.display()))
            })
            .await
    })?;
    tracing::info!(
        "{} backed-up patches downloaded in {} ms",
        paths.len(),
        t.elapsed().as_millis()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_version_names_a_zip_of_the_backup_area() {
        let ok = br#"{"rollbackFile":"import_20250101_120000.zip"}"#;
        assert_eq!(
            parse_rollback_version(ok).unwrap(),
            "import_20250101_120000.zip"
        );
        for bad in [
            &br#"{"rollbackFile":"../import_1.zip"}"#[..],
            br#"{"rollbackFile":"sub/import_1.zip"}"#,
            br#"{"rollbackFile":"/etc/import_1.zip"}"#,
            br#"{"rollbackFile":"import_1.tar"}"#,
            br#"{"rollbackFile":".zip"}"#,
            br#"{"rollbackFile":42}"#,
            br#"{}"#,
            b"not json",
        ] {
            let e = parse_rollback_version(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("no rollback possible: rollbackVersion.json"),
                "{}: {e}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
