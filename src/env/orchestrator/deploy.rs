//! `install` against an orchestrator (olympe-formats §8), with the toolkit's messages.
//!
//! Beyond the toolkit: maintenance is switched back off on every failure path (the
//! toolkit leaves it on); when not running in the orchestrator's container, the built
//! folder is uploaded through the file service instead of `docker cp` into a container
//! literally named `orchestrator`; the execution log is uploaded on failure so a rerun
//! resumes (as the toolkit does).

use super::commands::{gc, load, set_password};
use super::{obj, Orchestrator, OrchestratorError};
use crate::patch::tags;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, OrchestratorError>;

/// The options of `install` that matter to an orchestrator.
#[derive(Debug, Clone)]
pub struct RemoteInstall {
    /// The built codeAsData folder (uploaded unless `running_in_docker`).
    pub working_dir: PathBuf,
    pub running_in_docker: bool,
    pub ignore_relation_fail: bool,
    pub debug: bool,
    pub backup_users: bool,
    pub backup_business_data: bool,
    pub users_dir: String,
    pub business_data_dir: String,
    pub change_log_name: String,
    pub version_file: String,
    pub user_tag: String,
    pub user_name: String,
    pub user_password: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteInstallReport {
    pub environment: super::EnvironmentInfo,
    pub uploaded_files: usize,
    pub was_initialised: bool,
    pub versions: Value,
    pub rollback_file: String,
    pub duration_ms: u64,
}

/// `sv` of `rest/version` must be at least 7.4.0.
pub fn check_version(o: &Orchestrator) -> Result<()> {
    let v = o.block_on(o.http().version())?;
    let sv = v.get("sv").and_then(Value::as_str).unwrap_or("0.0.0");
    let parse = |s: &str| -> Vec<u64> {
        s.split(['.', '-'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    if parse(sv) < vec![7, 4, 0] {
        return Err(OrchestratorError::Invalid(format!(
            "orchestrator version {sv} is too old: install and update need 7.4.0 or later"
        )));
    }
    Ok(())
}

/// Maintenance (or read mode) that is switched back when dropped without `done()`.
pub struct ModeGuard<'a> {
    o: &'a Orchestrator,
    read_mode: bool,
    armed: bool,
}

impl<'a> ModeGuard<'a> {
    pub fn enter(o: &'a Orchestrator, read_mode: bool) -> Result<ModeGuard<'a>> {
        let g = ModeGuard {
            o,
            read_mode,
            armed: true,
        };
        if read_mode {
            o.read_mode(true)?;
        } else {
            o.maintenance(true)?;
        }
        Ok(g)
    }

    /// Leave the mode normally (errors reported).
    pub fn leave(mut self) -> Result<()> {
        self.armed = false;
        if self.read_mode {
            self.o.read_mode(false).map(|_| ())
        } else {
            self.o.maintenance(false)
        }
    }
}

impl Drop for ModeGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let r = if self.read_mode {
            self.o.read_mode(false).map(|_| ())
        } else {
            self.o.maintenance(false)
        };
        match r {
            Ok(()) => tracing::warn!("failure: the orchestrator was switched back to normal mode"),
            Err(e) => tracing::error!("failure, and the mode could not be switched back: {e}"),
        }
    }
}

fn files_of(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.map_err(|e| OrchestratorError::Invalid(format!("{}: {e}", dir.display())))?;
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).expect("inside");
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, e.path().to_path_buf()));
        }
    }
    Ok(out)
}

/// Upload the built folder into the patches folder (cadkit's `docker cp`).
fn upload_dist(o: &Orchestrator, dir: &Path) -> Result<usize> {
    if !dir.join("import_order.json").is_file() {
        return Err(OrchestratorError::Invalid(format!(
            "{}: no import_order.json (run `cadkit buildCodeAsData` first, or pass --runningInDocker true when the patches are already in the orchestrator's folder)",
            dir.display()
        )));
    }
    let token = o.token()?;
    let files = files_of(dir)?;
    for (rel, path) in &files {
        let body = std::fs::read(path)
            .map_err(|e| OrchestratorError::Invalid(format!("{}: {e}", path.display())))?;
        o.block_on(o.http().upload(rel, body, false, &token))?;
    }
    Ok(files.len())
}

/// Set the Draw and runtime project versions from `version.json` of the patches folder.
pub fn update_versions(o: &Orchestrator, version_file: &str) -> Result<Value> {
    let token = o.token()?;
    let Some(bytes) = o.block_on(o.http().download(version_file, false, &token))? else {
        return Ok(Value::Null);
    };
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| OrchestratorError::Invalid(format!("{version_file}: {e}")))?;
    set_versions(o, &v)?;
    Ok(v)
}

/// `updateNode` of the Draw and runtime projects with the versions of a `version.json`.
pub fn set_versions(o: &Orchestrator, v: &Value) -> Result<()> {
    for (key, tag) in [
        ("drawVersion", tags::DRAW_PROJECT),
        ("runtimeVersion", tags::RUNTIME_PROJECT),
    ] {
        if let Some(ver) = v
            .get(key)
            .filter(|x| !x.is_null() && x.as_str() != Some("N/A"))
        {
            let props = json!({ tags::prop::PROJECT_VERSION: ver }).to_string();
            o.command(
                obj(&[
                    ("command", "updateNode".into()),
                    ("tag", tag.into()),
                    ("nodePropertiesJson", props.into()),
                ]),
                None,
            )?;
        }
    }
    Ok(())
}

/// `install` (see the module doc).
pub fn install(o: &Orchestrator, req: &RemoteInstall) -> Result<RemoteInstallReport> {
    let started = Instant::now();
    check_version(o)?;
    let mode = ModeGuard::enter(o, false)?;
    let token = o.token()?;
    let initialised = super::commands::is_initialised(o)?;
    let mut log = json!({ "snapshotUsers": false, "snapshotData": false });
    if initialised {
        if let Some(b) = o.block_on(o.http().download("execution_log.json", true, &token))? {
            log = serde_json::from_slice(&b).unwrap_or(log);
        }
    }
    let r = install_steps(o, req, initialised);
    if r.is_err() {
        // As the toolkit: leave the execution log so a rerun resumes where it stopped.
        let body = log.to_string().into_bytes();
        if let Err(e) = o.block_on(o.http().upload("execution_log.json", body, true, &token)) {
            tracing::warn!("could not save the execution log: {e}");
        }
    }
    let (uploaded, versions, rollback) = r?;
    mode.leave()?;
    Ok(RemoteInstallReport {
        environment: o.info(),
        uploaded_files: uploaded,
        was_initialised: initialised,
        versions,
        rollback_file: rollback,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn install_steps(
    o: &Orchestrator,
    req: &RemoteInstall,
    initialised: bool,
) -> Result<(usize, Value, String)> {
    if initialised && (req.backup_users || req.backup_business_data) {
        tracing::warn!(
            "users and business data are reloaded from the orchestrator's backup area ({} / {}); cadkit does not dump them before an orchestrator install (use `cadkit snapshotUsers` / `snapshotBusinessData` first)",
            req.users_dir,
            req.business_data_dir
        );
    }
    let uploaded = if req.running_in_docker {
        0
    } else {
        upload_dist(o, &req.working_dir)?
    };
    let import = Some(o.cfg.import_timeout);
    o.command(
        obj(&[("command", "resetDB".into()), ("force", true.into())]),
        import,
    )?;
    o.command(
        load(None, req.debug, req.ignore_relation_fail, false, false),
        import,
    )?;
    o.command(
        set_password(&req.user_tag, &req.user_name, &req.user_password),
        None,
    )?;
    let token = o.token()?;
    o.block_on(
        o.http()
            .upload(&req.change_log_name, Vec::new(), false, &token),
    )?;
    let versions = update_versions(o, &req.version_file)?;
    if req.backup_users {
        o.command(
            load(Some(&req.users_dir), req.debug, true, true, true),
            import,
        )?;
    }
    if req.backup_business_data {
        o.command(
            load(Some(&req.business_data_dir), req.debug, true, true, true),
            import,
        )?;
    }
    o.command(
        obj(&[
            ("command", "updateDone".into()),
            ("noDownTime", false.into()),
        ]),
        None,
    )?;
    let backup = super::commands::create_patches_backup(o)?;
    o.command(gc(true, true, true, false), None)?;
    let rollback = backup["rollbackFile"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((uploaded, versions, rollback))
}
