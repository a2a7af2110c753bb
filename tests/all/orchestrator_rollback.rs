//! `update` against the reference orchestrator whose `load` of the diff fails: cadkit rolls
//! back to the patch backup of the last install (`rollbackVersion.json` → zip), with the
//! toolkit's messages, reports it and exits 1 with maintenance off; without
//! `rollbackVersion.json` it says no rollback was possible.
//!
//! The failure is the server's fault-injection hook (`fault-injection` feature, on in the
//! services tier): the diff folder is applied, then the load answers a failure, as a real
//! orchestrator whose import stops half-way. The reference server's real load failures
//! change nothing (one transaction), which would leave nothing to roll back.

use crate::common::orchestrator as orch;
use crate::common::orchestrator_cli::{cadkit, first_core_file, install_without_backups};
use crate::common::rabbit;
use crate::common::update as h;

use orch::Orchestrator;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const FAIL_AFTER_LOAD: &str = "CADKIT_ORCHESTRATOR_FAIL_AFTER_LOAD";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An orchestrator failing every `load` of backup `diff/` after applying it, with core
/// 2.9.3 installed by cadkit (so its patch backup exists); the dists of 2.9.3 and 2.9.1.
fn installed(dir: &Path) -> (Orchestrator, PathBuf, PathBuf) {
    let d293 = h::core_dist(dir, "2.9.3");
    let d291 = h::core_dist(dir, "2.9.1");
    let broker = rabbit::shared();
    let o = Orchestrator::start_with_env(
        &dir.join("orch"),
        broker.port,
        &[],
        &[(FAIL_AFTER_LOAD, "diff")],
    );
    h::copy_dir(&d293, &o.patches);
    install_without_backups(&o, dir);
    (o, d293, d291)
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}): {}", text(out)))
}

/// The gateway flags of the deployment messages, in order (false = maintenance on).
fn deployments(o: &Orchestrator) -> Vec<bool> {
    o.recorded()
        .iter()
        .filter_map(|e| {
            e.pointer("/body/payload/content/gateway_service")
                .and_then(Value::as_bool)
        })
        .collect()
}

/// The AMQP command contents received since recorded entry `since`, in order.
fn commands(o: &Orchestrator, since: usize) -> Vec<Value> {
    o.recorded()[since..]
        .iter()
        .filter(|e| e["kind"] == "amqp")
        .filter_map(|e| e.pointer("/body/payload/content").cloned())
        .filter(|c| c.get("command").is_some())
        .collect()
}

#[test]
fn a_load_failing_half_way_is_rolled_back_to_the_last_patch_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (o, d293, d291) = installed(dir);
    let rv: Value =
        serde_json::from_slice(&std::fs::read(o.backup.join("rollbackVersion.json")).unwrap())
            .unwrap();
    let zip = rv["rollbackFile"].as_str().unwrap().to_string();
    assert!(o.backup.join(&zip).is_file(), "{zip}");
    let before = o.recorded().len();

    let out = cadkit(
        &o,
        dir,
        &["update", "--codeAsData.workingDir", d291.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("rollback completed"), "{all}");
    let r = report(&out);
    assert_eq!(r["applied"], false);
    let failure = r["failure"].as_str().unwrap();
    assert!(
        failure.contains("Failed to update database, rollback completed")
            && failure.contains("injected fault"),
        "{failure}"
    );
    let rb = &r["rollback"];
    eprintln!(
        "update + rollback: {} ms, rollback diff files: {}",
        r["durationMs"],
        rb["diffFiles"].as_array().map_or(0, Vec::len)
    );
    assert_eq!(rb["completed"], true, "{rb}");
    assert_eq!(rb["modeRestored"], true, "{rb}");
    assert_eq!(rb["rollbackFile"], zip.as_str());
    // The failed load had applied 2.9.1: the rollback had something to undo.
    assert!(!rb["diffFiles"].as_array().unwrap().is_empty(), "{rb}");

    let fresh = dir.join("fresh-293.sqlite");
    cadkit::env::sqlite::installer::install(&fresh, &cadkit::env::InstallSpec::new(&d293)).unwrap();
    let (live, want) = (h::graph(&o.env), h::graph(&fresh));
    assert!(
        live == want,
        "after the rollback: {}",
        h::first_difference(&live, &want)
    );

    // The toolkit's messages, in its order.
    let sent = commands(&o, before);
    let stem = zip.trim_end_matches(".zip");
    let pos = |want: &Value| {
        sent.iter()
            .position(|c| {
                want.as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| c.get(k) == Some(v))
            })
            .unwrap_or_else(|| panic!("{want} not sent: {sent:?}"))
    };
    let failed_load = pos(&serde_json::json!({"command": "load", "pathToRootFolder": "diff"}));
    let unzip_zip = pos(
        &serde_json::json!({"command": "unzipPatches", "useBackupFolder": true, "filePath": zip}),
    );
    let unzip_dir = pos(
        &serde_json::json!({"command": "unzipPatches", "useBackupFolder": true, "folderPath": stem}),
    );
    let tags = pos(
        &serde_json::json!({"command": "getRootTags", "rootFolder": stem, "useBackupFolder": true}),
    );
    let load = pos(
        &serde_json::json!({"command": "load", "pathToRootFolder": "rollback_diff",
        "useBackupFolder": true, "merge": true, "ignoreRelationFail": false}),
    );
    let done = pos(&serde_json::json!({"command": "updateDone"}));
    assert!(
        failed_load < unzip_zip
            && unzip_zip < unzip_dir
            && unzip_dir < tags
            && tags < load
            && load < done,
        "{sent:?}"
    );
    // rollbackVersion.json read from the backup area; the diff uploaded to rollback_diff/.
    let http: Vec<String> = o.recorded()[before..]
        .iter()
        .filter(|e| e["kind"] == "http")
        .map(|e| format!("{} {} {}", e["method"], e["path"], e["query"]))
        .collect();
    assert!(
        http.iter().any(|l| l.contains("GET")
            && l.contains("rollbackVersion.json")
            && l.contains("backup=true")),
        "{http:?}"
    );
    assert!(
        http.iter()
            .any(|l| l.contains("PUT") && l.contains("rollback_diff%2F")),
        "{http:?}"
    );
    // Maintenance on for the update, off after the rollback.
    assert_eq!(deployments(&o).last(), Some(&true));
    assert_eq!(
        deployments(&o).iter().filter(|b| !**b).count(),
        deployments(&o).iter().filter(|b| **b).count()
    );
}

#[test]
fn without_rollback_version_json_the_failed_update_says_no_rollback_was_possible() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (o, _d293, d291) = installed(dir);
    std::fs::remove_file(o.backup.join("rollbackVersion.json")).unwrap();

    let out = cadkit(
        &o,
        dir,
        &["update", "--codeAsData.workingDir", d291.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let r = report(&out);
    assert_eq!(r["applied"], false);
    let rb = &r["rollback"];
    assert_eq!(rb["completed"], false, "{rb}");
    assert_eq!(rb["modeRestored"], true, "{rb}");
    assert!(rb["rollbackFile"].is_null(), "{rb}");
    let err = rb["error"].as_str().unwrap();
    assert!(
        err.contains("no rollback possible") && err.contains("rollbackVersion.json is missing"),
        "{err}"
    );
    assert!(
        r["failure"]
            .as_str()
            .unwrap()
            .contains("failed to rollback"),
        "{r}"
    );
    assert!(!all.contains("rollback completed"), "{all}");
    // Nothing was extracted or loaded for a rollback; maintenance is off.
    assert!(
        !commands(&o, 0)
            .iter()
            .any(|c| c["command"] == "unzipPatches" || c["pathToRootFolder"] == "rollback_diff"),
        "a rollback was attempted"
    );
    assert_eq!(deployments(&o).last(), Some(&true));
}

/// A real failure of the reference server: the build relates an instance to one that
/// exists nowhere, and `load` (without `ignoreRelationFail`) refuses the diff. The load is
/// one transaction, so the rollback finds nothing to undo; the update still ends with the
/// rollback reported, exit 1, the environment as installed and maintenance off.
#[test]
fn a_relation_to_a_missing_instance_fails_the_load_and_the_update_rolls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let o = Orchestrator::start(&dir.join("orch"), rabbit::shared().port, &[]);
    h::copy_dir(&d293, &o.patches);
    install_without_backups(&o, dir);
    // One relation to a tag no patch and no environment holds.
    let broken = dir.join("broken");
    h::copy_dir(&d293, &broken);
    let file = first_core_file(&broken, ".newRel.json");
    let mut patch: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let ops = patch["operations"].as_array_mut().unwrap();
    let from = ops[0]["l"].clone();
    ops.push(serde_json::json!({"l": from, "m": "ff02200000000000000f", "o": 4, "r": "0123456789abcdef0123"}));
    std::fs::write(&file, serde_json::to_vec_pretty(&patch).unwrap()).unwrap();

    let out = cadkit(
        &o,
        dir,
        &[
            "update",
            "--codeAsData.workingDir",
            broken.to_str().unwrap(),
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let r = report(&out);
    let failure = r["failure"].as_str().unwrap();
    assert!(
        failure.contains("rollback completed")
            && failure.contains("instance 0123456789abcdef0123 does not exist"),
        "{failure}"
    );
    assert_eq!(r["rollback"]["completed"], true, "{r}");
    assert_eq!(r["rollback"]["modeRestored"], true, "{r}");
    let fresh = dir.join("fresh-293.sqlite");
    cadkit::env::sqlite::installer::install(&fresh, &cadkit::env::InstallSpec::new(&d293)).unwrap();
    let (live, want) = (h::graph(&o.env), h::graph(&fresh));
    assert!(
        live == want,
        "after the rollback: {}",
        h::first_difference(&live, &want)
    );
    assert_eq!(deployments(&o).last(), Some(&true));
}
