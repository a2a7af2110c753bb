//! `install` against an orchestrator (olympe-formats §8), with the toolkit's messages.
//!
//! Beyond the toolkit: maintenance is switched back off on every failure path (the
//! toolkit leaves it on); when not running in the orchestrator's container, the built
//! folder is uploaded through the file service instead of `docker cp` into a container
//! literally named `orchestrator`; the execution log is uploaded on failure so a rerun
//! resumes (as the toolkit does), and also right after each snapshot (so even a killed
//! run resumes without re-dumping a half-reset environment).
//!
//! Users and business data are dumped and uploaded to the backup area before `resetDB`
//! (steps 5–7, [`super::backup`]) and reloaded after the load (step 12).

use super::commands::{gc, load, set_password};
use super::{obj, Orchestrator, OrchestratorError};
use crate::env::InstallSpec;
use crate::patch::tags;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

type Result<T> = std::result::Result<T, OrchestratorError>;

/// What `install` did on an orchestrator (the JSON printed by `cadkit install`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteInstallReport {
    /// The orchestrator installed into.
    pub environment: super::EnvironmentInfo,
    /// Files of the build uploaded into the patches folder (0 with `runningInDocker`).
    pub uploaded_files: usize,
    /// Whether the environment held the admin user and "Olympe Libraries" before the
    /// reset (`isDbInitialized`): only then are users and data snapshotted.
    pub was_initialised: bool,
    /// Users dumped and uploaded before the reset (`None`: not dumped in this run).
    pub users_snapshot: Option<super::backup::SnapshotReport>,
    /// Business data dumped and uploaded before the reset.
    pub business_data_snapshot: Option<super::backup::SnapshotReport>,
    /// The `version.json` applied to the projects (`null` when the patches have none).
    pub versions: Value,
    /// The patch backup taken after the install (`import_YYYYMMDD_HHMMSS.zip` in the
    /// backup area), the one a failed `update` rolls back to.
    pub rollback_file: String,
    /// Wall-clock time of the whole install, in milliseconds.
    pub duration_ms: u64,
}

/// `sv` of `rest/version` must be at least 7.4.0. `install` and `update` switch modes over
/// the bus next, so the bus connection opens meanwhile: its handful of broker round trips
/// overlap the version query. An HTTP failure is reported at once; a bus failure is the
/// error the first command would have given.
pub fn check_version(o: &Orchestrator) -> Result<()> {
    let (v, _) = o.block_on(futures_util::future::try_join(o.http().version(), o.bus()))?;
    check_sv(&v)
}

fn check_sv(v: &Value) -> Result<()> {
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
    /// Switch the mode on: `codeAsDataReadMode true` when `read_mode` (an update with
    /// `noDowntime`), otherwise maintenance (deployment message + gateway wait).
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

/// The toolkit's `execution_log.json` (backup area): which snapshots this install still
/// has to take. Written after each snapshot, so a rerun after a failure never re-dumps an
/// environment that the failed run may have half reset.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionLog {
    /// The users still have to be dumped (`snapshotUsers`).
    pub snapshot_users: bool,
    /// The business data still have to be dumped (`snapshotData`).
    pub snapshot_data: bool,
}

/// Where the execution log lives in the backup area.
pub const EXECUTION_LOG: &str = "execution_log.json";

/// §8 step 5: both flags true when initialised (unless a previous failed run left a log
/// saying otherwise), false on an empty environment.
fn read_execution_log(o: &Orchestrator, initialised: bool) -> Result<(ExecutionLog, bool)> {
    let mut log = ExecutionLog {
        snapshot_users: initialised,
        snapshot_data: initialised,
    };
    if initialised {
        let token = o.token()?;
        if let Some(b) = o.block_on(o.http().download(EXECUTION_LOG, true, &token))? {
            let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
            log.snapshot_users = v["snapshotUsers"].as_bool().unwrap_or(true);
            log.snapshot_data = v["snapshotData"].as_bool().unwrap_or(true);
            tracing::info!("execution log of a previous run: {log:?}");
            return Ok((log, true));
        }
    }
    Ok((log, false))
}

fn write_execution_log(o: &Orchestrator, log: &ExecutionLog) -> Result<()> {
    let token = o.token()?;
    let body = serde_json::to_vec(log)
        .map_err(|e| OrchestratorError::Invalid(format!("{EXECUTION_LOG}: {e}")))?;
    o.block_on(o.http().upload(EXECUTION_LOG, body, true, &token))
}

/// Snapshots taken by one install.
type Snapshots = (
    Option<super::backup::SnapshotReport>,
    Option<super::backup::SnapshotReport>,
);

/// §8 steps 6–7: dump and upload users, then business data, each when asked for and not
/// already done by a previous failed run; the log is updated after each one.
fn backup_steps(
    o: &Orchestrator,
    req: &InstallSpec,
    initialised: bool,
    log: &mut ExecutionLog,
) -> Result<Snapshots> {
    let mut users = None;
    let mut data = None;
    if initialised && log.snapshot_users && req.backup_users {
        tracing::info!("snapshot of the users before the reset");
        users = Some(super::backup::snapshot_users(
            o,
            &req.orchestrator.snapshot,
        )?);
        log.snapshot_users = false;
        write_execution_log(o, log)?;
    }
    if initialised && log.snapshot_data && req.backup_business_data {
        tracing::info!("snapshot of the business data before the reset");
        data = Some(super::backup::snapshot_business_data(
            o,
            &req.orchestrator.snapshot,
        )?);
        log.snapshot_data = false;
        write_execution_log(o, log)?;
    }
    Ok((users, data))
}

/// `install` (see the module doc).
pub fn install(o: &Orchestrator, req: &InstallSpec) -> Result<RemoteInstallReport> {
    let started = Instant::now();
    check_version(o)?;
    let mode = ModeGuard::enter(o, false)?;
    o.token()?;
    let initialised = super::commands::is_initialised(o)?;
    let (mut log, found) = read_execution_log(o, initialised)?;
    let r = backup_steps(o, req, initialised, &mut log)
        .and_then(|snaps| install_steps(o, req).map(|rest| (snaps, rest)));
    if r.is_err() {
        // As the toolkit: leave the execution log so a rerun resumes where it stopped
        // (with a fresh token: the failed step may have cleared the previous one).
        let saved = o.fresh_token().and_then(|_| write_execution_log(o, &log));
        if let Err(e) = saved {
            tracing::warn!("could not save the execution log: {e}");
        }
    }
    let ((users_snapshot, business_data_snapshot), (uploaded, versions, rollback)) = r?;
    // Done: the next install snapshots again (the toolkit relies on the backup-folder GC
    // deleting the log; cadkit does not depend on what that GC removes). Only when a log
    // exists or was written: otherwise the requests are exactly the toolkit's.
    if found || users_snapshot.is_some() || business_data_snapshot.is_some() {
        let done = ExecutionLog {
            snapshot_users: true,
            snapshot_data: true,
        };
        o.fresh_token()
            .and_then(|_| write_execution_log(o, &done))?;
    }
    cleanup_local(&users_snapshot, &business_data_snapshot);
    mode.leave()?;
    Ok(RemoteInstallReport {
        environment: o.info(),
        uploaded_files: uploaded,
        was_initialised: initialised,
        users_snapshot,
        business_data_snapshot,
        versions,
        rollback_file: rollback,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// §8 step 13: the local snapshot folders taken in this run are deleted once reloaded.
fn cleanup_local(
    users: &Option<super::backup::SnapshotReport>,
    data: &Option<super::backup::SnapshotReport>,
) {
    for s in [users, data].into_iter().flatten() {
        if let Err(e) = std::fs::remove_dir_all(&s.local_dir) {
            tracing::debug!("{}: {e}", s.local_dir.display());
        }
    }
}

fn install_steps(o: &Orchestrator, req: &InstallSpec) -> Result<(usize, Value, String)> {
    let uploaded = if req.orchestrator.running_in_docker {
        0
    } else {
        upload_dist(o, &req.dist)?
    };
    let import = Some(o.cfg.import_timeout);
    o.command(
        obj(&[("command", "resetDB".into()), ("force", true.into())]),
        import,
    )?;
    o.command(
        load(
            None,
            req.orchestrator.debug,
            req.orchestrator.ignore_relation_fail,
            false,
            false,
        ),
        import,
    )?;
    o.command(
        set_password(
            &req.orchestrator.user_tag,
            &req.orchestrator.user_name,
            req.orchestrator.user_password.expose(),
        ),
        None,
    )?;
    let token = o.token()?;
    o.block_on(
        o.http()
            .upload(&req.change_log_name, Vec::new(), false, &token),
    )?;
    let versions = update_versions(o, &req.orchestrator.version_file)?;
    if req.backup_users {
        o.command(
            load(
                Some(&req.orchestrator.snapshot.users_dir),
                req.orchestrator.debug,
                true,
                true,
                true,
            ),
            import,
        )?;
    }
    if req.backup_business_data {
        o.command(
            load(
                Some(&req.orchestrator.snapshot.business_data_dir),
                req.orchestrator.debug,
                true,
                true,
                true,
            ),
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
