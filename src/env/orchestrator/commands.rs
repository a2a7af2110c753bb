//! The toolkit's environment commands against an orchestrator, each returning the JSON
//! report cadkit prints (with `environment`: which one was used, never credentials).

use super::{obj, Orchestrator, OrchestratorError};
use crate::patch::tags;
use serde_json::{json, Value};

type Result<T> = std::result::Result<T, OrchestratorError>;

fn report(o: &Orchestrator, command: &str, mut extra: Value) -> Value {
    let mut v = json!({ "command": command, "environment": o.info() });
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object_mut()) {
        m.append(e);
    }
    v
}

/// `maintenance <on|off>`: the deployment message, then the gateway probe.
pub fn maintenance(o: &Orchestrator, on: bool) -> Result<Value> {
    o.maintenance(on)?;
    Ok(report(o, "maintenance", json!({ "maintenance": on })))
}

/// `codeAsDataReadMode <on|off>`.
pub fn read_mode(o: &Orchestrator, on: bool) -> Result<Value> {
    let lines = o.read_mode(on)?;
    Ok(report(
        o,
        "codeAsDataReadMode",
        json!({ "readMode": on, "lines": lines }),
    ))
}

/// A command without fields; its result lines go into the report.
pub fn simple(o: &Orchestrator, command: &str) -> Result<Value> {
    let lines = o.command(obj(&[("command", command.into())]), None)?;
    Ok(report(o, command, json!({ "lines": lines })))
}

/// `updateUser`: `setPassword` (the password never appears in the report or logs).
pub fn update_user(o: &Orchestrator, tag: &str, name: &str, password: &str) -> Result<Value> {
    o.command(set_password(tag, name, password), None)?;
    Ok(report(
        o,
        "updateUser",
        json!({ "userTag": tag, "userName": name }),
    ))
}

/// The `setPassword` command body (`userName`, `userTag`, `userPassword`, in the
/// toolkit's order): how `install`, `update` and `updateUser` give a user its credentials.
pub fn set_password(tag: &str, name: &str, password: &str) -> serde_json::Map<String, Value> {
    obj(&[
        ("command", "setPassword".into()),
        ("userName", name.into()),
        ("userTag", tag.into()),
        ("userPassword", password.into()),
    ])
}

/// The `startGC` fields, in the toolkit's order.
pub fn gc(
    files: bool,
    zips: bool,
    backup_folder: bool,
    graphdef_cache: bool,
) -> serde_json::Map<String, Value> {
    obj(&[
        ("command", "startGC".into()),
        ("fileSvc", files.into()),
        ("backupSvc", zips.into()),
        ("backupFolder", backup_folder.into()),
        ("sessions", false.into()),
        ("jvm", false.into()),
        ("subscriptions", false.into()),
        ("graphDefCache", graphdef_cache.into()),
    ])
}

/// `startGC` (files and zip files, as the toolkit's command).
pub fn start_gc(o: &Orchestrator) -> Result<Value> {
    let lines = o.command(gc(true, true, false, false), None)?;
    Ok(report(o, "startGC", json!({ "lines": lines })))
}

/// `clearGraphDefCache`: `startGC` with only the graphDef cache.
pub fn clear_graphdef_cache(o: &Orchestrator) -> Result<Value> {
    let lines = o.command(gc(false, false, false, true), None)?;
    Ok(report(o, "clearGraphDefCache", json!({ "lines": lines })))
}

/// `checkDB`: ok unless the orchestrator reports a failure (then exit 1, the reason in
/// the report; the toolkit's inverted error mapping is not reproduced).
pub fn check(o: &Orchestrator) -> Result<Value> {
    match o.command(obj(&[("command", "checkDB".into())]), None) {
        Ok(lines) => Ok(report(o, "checkDB", json!({ "ok": true, "lines": lines }))),
        Err(OrchestratorError::CommandFailed { status, lines, .. }) => Ok(report(
            o,
            "checkDB",
            json!({ "ok": false, "status": status, "lines": lines }),
        )),
        Err(e) => Err(e),
    }
}

/// `isDbInitialized`: admin user and Olympe Libraries both exist.
pub fn is_initialised(o: &Orchestrator) -> Result<bool> {
    let tags = json!([tags::ADMIN_USER, "10000000000000000001"]).to_string();
    let lines = o.command(
        obj(&[
            ("command", "checkIfNodesExist".into()),
            ("nodeTagsArray", tags.into()),
        ]),
        None,
    )?;
    let first = lines
        .first()
        .ok_or_else(|| OrchestratorError::Invalid("checkIfNodesExist answered nothing".into()))?;
    let v: Value = serde_json::from_str(first)
        .map_err(|e| OrchestratorError::Invalid(format!("checkIfNodesExist answer: {e}")))?;
    Ok(v.as_object()
        .is_some_and(|m| m.values().all(|b| b == &Value::Bool(true))))
}

/// `getUpgradeConfig`: deployed Draw version (`rest/database`) vs required (`version.json`
/// of the patches folder): the toolkit's stdout array.
pub fn upgrade_config(o: &Orchestrator, version_file: &str) -> Result<Value> {
    let token = o.token()?;
    let db = o.block_on(o.http().database())?;
    let file = o.block_on(o.http().download(version_file, false, &token))?;
    let required: Value = match file {
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| OrchestratorError::Invalid(format!("{version_file}: {e}")))?,
        None => Value::Null,
    };
    let from = db.get("draw_version").filter(|v| !v.is_null());
    let to = required.get("drawVersion").filter(|v| !v.is_null());
    Ok(match (from, to) {
        (Some(f), Some(t)) => json!([{ "project": "@olympeio/draw", "from": f, "to": t }]),
        _ => json!([{}]),
    })
}

/// `createPatchesBackup`: zip the patches folder into the backup area and record it in
/// `rollbackVersion.json` (the toolkit's order: a fresh token, the zip, the record).
pub fn create_patches_backup(o: &Orchestrator) -> Result<Value> {
    o.fresh_token()?;
    let name = zip_patches(o)?;
    record_rollback_version(o, &name)
}

/// The zip half of a patch backup: `copyPatches` of the whole patches folder into
/// `import_YYYYMMDD_HHMMSS.zip` (local time) of the backup area; returns the zip's name.
/// Nothing refers to the zip until [`record_rollback_version`] names it, so a zip made
/// ahead of an update that then fails is never rolled back to.
pub fn zip_patches(o: &Orchestrator) -> Result<String> {
    let name = chrono::Local::now()
        .format("import_%Y%m%d_%H%M%S.zip")
        .to_string();
    let sources = json!([{ "destinationFilePath": name, "zip": true }]).to_string();
    o.command(
        obj(&[
            ("command", "copyPatches".into()),
            ("sources", sources.into()),
            ("backup", false.into()),
            ("destinationFolder", "".into()),
        ]),
        None,
    )?;
    Ok(name)
}

/// The record half of a patch backup: `rollbackVersion.json` of the backup area names
/// the zip a failed update rolls back to. Uploaded with the token of the moment (`load`
/// may have cleared an earlier one).
pub fn record_rollback_version(o: &Orchestrator, name: &str) -> Result<Value> {
    let token = o.token()?;
    let body = json!({ "rollbackFile": name }).to_string().into_bytes();
    o.block_on(o.http().upload("rollbackVersion.json", body, true, &token))?;
    Ok(report(
        o,
        "createPatchesBackup",
        json!({ "rollbackFile": name }),
    ))
}

/// A `load` command (the toolkit's `loadPatchesFrom`).
pub fn load(
    folder: Option<&str>,
    debug: bool,
    ignore_relation_fail: bool,
    backup: bool,
    merge: bool,
) -> serde_json::Map<String, Value> {
    let mut m = obj(&[("command", "load".into())]);
    if let Some(f) = folder {
        m.insert("pathToRootFolder".into(), f.into());
    }
    m.insert("verbose".into(), debug.into());
    m.insert("debug".into(), (debug && !ignore_relation_fail).into());
    m.insert("ignoreRelationFail".into(), ignore_relation_fail.into());
    m.insert("useBackupFolder".into(), backup.into());
    m.insert("merge".into(), merge.into());
    m
}

/// `restoreUsers` / `restoreBusinessData`: load a backup folder, merging.
pub fn restore(o: &Orchestrator, command: &str, folder: &str, debug: bool) -> Result<Value> {
    let lines = o.command(
        load(Some(folder), debug, true, true, true),
        Some(o.cfg.import_timeout),
    )?;
    Ok(report(
        o,
        command,
        json!({ "folder": folder, "lines": lines }),
    ))
}
