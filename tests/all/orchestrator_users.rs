//! Users survive an `install` through an orchestrator: cadkit dumps them through graphDef
//! and uploads them to the backup area before `resetDB`, then reloads them (the toolkit's
//! install steps 5–7 and 12). Against `cadkit orchestrator` over a real broker, with core
//! 2.9.3 installed: a user created after the last backup is still there after a second
//! install; `snapshotUsers` uploads files that `restoreUsers` loads back; an unchanged
//! environment uploads identical bytes; a rerun after a failure trusts `execution_log.json`.

use crate::common::orchestrator::Orchestrator;
use crate::common::orchestrator_cli::{cadkit, first_core_file, with_core_293};
use crate::common::update as h;

use serde_json::Value;
use std::path::Path;

const USER: &str = "0190aaaaaaaaaaaa0001";
const LOGIN_PROP: &str = "ff023000000000000001";
const SECRETS: &[&str] = &["adm-PW-42", "alice-PW-7"];

/// Run, require success, check that no secret reached stdout or stderr; the report.
fn ok(o: &Orchestrator, dir: &Path, args: &[&str]) -> Value {
    let out = cadkit(o, dir, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "cadkit {args:?} failed: {stdout}\n{stderr}\norchestrator: {}",
        o.log_text()
    );
    for s in SECRETS.iter().chain(&["guest:guest"]) {
        assert!(!stderr.contains(s), "{s} in the logs of {args:?}");
        assert!(!stdout.contains(s), "{s} in the report of {args:?}");
    }
    serde_json::from_str(&stdout).unwrap_or(Value::Null)
}

/// `install` of the patches in the orchestrator's folder, with the admin password and
/// the users and business-data backups on unless `extra` turns them off.
fn install_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "install",
        "--runningInDocker",
        "true",
        "--user.password",
        "adm-PW-42",
    ];
    args.extend_from_slice(extra);
    args
}

fn install(o: &Orchestrator, dir: &Path, extra: &[&str]) -> Value {
    ok(o, dir, &install_args(extra))
}

/// The login of `USER` in the orchestrator's environment, `None` when absent.
fn login(o: &Orchestrator) -> Option<String> {
    let g = h::graph(&o.env);
    let props = g.instances.get(USER)?;
    assert!(
        g.has_relation("ff022000000000000000", USER, "ff021000000000000003"),
        "the user lost its model relation"
    );
    Some(props.get(LOGIN_PROP)?.as_str()?.to_string())
}

/// A user patch in the backup area (`seed/`), loaded with `restoreUsers`.
fn seed_user(o: &Orchestrator, dir: &Path) {
    let seed = o.backup.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    let inst = serde_json::json!({"rootTag": USER, "operations": [
        {"o": 1, "t": USER, "p": {"ff023000000000000011": "Alice", LOGIN_PROP: "alice0"}}]});
    let rel = serde_json::json!({"rootTag": USER, "operations": [
        {"o": 4, "m": "ff022000000000000000", "l": USER, "r": "ff021000000000000003"}]});
    std::fs::write(seed.join("alice.newInst.json"), inst.to_string()).unwrap();
    std::fs::write(seed.join("alice.newRel.json"), rel.to_string()).unwrap();
    ok(o, dir, &["restoreUsers", "--snapshot.usersDataDir", "seed"]);
}

fn backup_file(o: &Orchestrator, rel: &str) -> Vec<u8> {
    std::fs::read(o.backup.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn users_added_after_the_last_backup_survive_an_orchestrator_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (o, _) = with_core_293(dir);

    // First install: nothing to back up yet.
    let first = install(&o, dir, &[]);
    assert_eq!(first["wasInitialised"], false);
    assert!(first["usersSnapshot"].is_null());

    // A user appears, and gets a login and a password.
    seed_user(&o, dir);
    ok(
        &o,
        dir,
        &[
            "updateUser",
            "--user.tag",
            USER,
            "--user.name",
            "alice",
            "--user.password",
            "alice-PW-7",
        ],
    );
    assert_eq!(login(&o).as_deref(), Some("alice"));

    // The install dumps it before the reset and reloads it after.
    let second = install(&o, dir, &[]);
    assert_eq!(second["wasInitialised"], true);
    assert_eq!(second["usersSnapshot"]["instances"], 1, "{second}");
    let files: Vec<&str> = second["usersSnapshot"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "users/users.newInst.json",
            "users/users.updateInst.json",
            "users/users.newRel.json"
        ]
    );
    assert_eq!(login(&o).as_deref(), Some("alice"), "the user was lost");
    // The local snapshot taken by the install is removed once reloaded (toolkit step 13);
    // the execution log asks the next install to snapshot again.
    assert!(!dir.join("snapshot/users").exists());
    let log: Value = serde_json::from_slice(&backup_file(&o, "execution_log.json")).unwrap();
    assert_eq!(
        log,
        serde_json::json!({"snapshotUsers": true, "snapshotData": true})
    );
    let newinst = String::from_utf8(backup_file(&o, "users/users.newInst.json")).unwrap();
    assert!(newinst.contains(USER) && newinst.contains("\"alice\""));
    assert!(
        !newinst.contains("014831d95fd7d12b8568"),
        "admin is not dumped"
    );

    // An install failing after its snapshot (a patch the orchestrator cannot load, after
    // resetDB) records the snapshots as taken; the rerun reloads them, re-dumps nothing.
    let victim = first_core_file(&o.patches, ".newInst.json");
    let good = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, b"{ not json").unwrap();
    let failed = cadkit(&o, dir, &install_args(&[]));
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!stderr.contains("adm-PW-42") && !stderr.contains("alice-PW-7"));
    let log: Value = serde_json::from_slice(&backup_file(&o, "execution_log.json")).unwrap();
    assert_eq!(
        log,
        serde_json::json!({"snapshotUsers": false, "snapshotData": false})
    );
    std::fs::write(&victim, good).unwrap();
    let rerun = install(&o, dir, &[]);
    assert!(rerun["usersSnapshot"].is_null(), "{rerun}");
    assert_eq!(
        login(&o).as_deref(),
        Some("alice"),
        "lost by a failed install"
    );
}

#[test]
fn snapshot_users_uploads_what_restore_users_loads_back_with_stable_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (o, _) = with_core_293(dir);
    install(&o, dir, &[]);
    seed_user(&o, dir);

    let a = ok(&o, dir, &["snapshotUsers", "-sd", "snapA"]);
    assert_eq!(a["command"], "snapshotUsers");
    assert_eq!(a["instances"], 1);
    let names = [
        "users.newInst.json",
        "users.updateInst.json",
        "users.newRel.json",
    ];
    let first: Vec<Vec<u8>> = names
        .iter()
        .map(|n| backup_file(&o, &format!("users/{n}")))
        .collect();
    for (n, bytes) in names.iter().zip(&first) {
        let local = std::fs::read(dir.join("snapA/users").join(n)).unwrap();
        assert_eq!(
            &local, bytes,
            "{n}: uploaded bytes differ from the local file"
        );
    }
    // Unchanged data: identical bytes.
    ok(&o, dir, &["snapshotUsers", "--snapshot.dir", "snapB"]);
    for (n, bytes) in names.iter().zip(&first) {
        assert_eq!(
            &backup_file(&o, &format!("users/{n}")),
            bytes,
            "{n} changed"
        );
    }

    // Business data: core holds no business container, so nothing is dumped, and the
    // toolkit's short flags are accepted.
    let data = ok(
        &o,
        dir,
        &["snapshotBusinessData", "-sd", "snapA", "-seu", "true"],
    );
    assert_eq!(data["command"], "snapshotBusinessData");
    assert_eq!(data["instances"], 0, "{data}");

    // An install without user backup drops the user; restoreUsers loads the snapshot back.
    install(&o, dir, &["--import.backupUsers", "false"]);
    assert_eq!(login(&o), None, "the user should be gone without backup");
    ok(&o, dir, &["restoreUsers"]);
    assert_eq!(login(&o).as_deref(), Some("alice0"));

    // A rerun after a failure trusts execution_log.json: no new snapshot of what may be
    // a half-reset environment, the saved users are reloaded.
    std::fs::write(
        o.backup.join("execution_log.json"),
        r#"{"snapshotUsers":false,"snapshotData":false}"#,
    )
    .unwrap();
    let resumed = install(&o, dir, &[]);
    assert!(resumed["usersSnapshot"].is_null(), "{resumed}");
    assert_eq!(login(&o).as_deref(), Some("alice0"));
}
