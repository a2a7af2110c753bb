//! cadkit's client against `cadkit orchestrator` (the reference orchestrator) over a real
//! broker: install of core 2.9.3, snapshot through graphDef byte-identical to the embedded
//! snapshot of the same graph, update to 2.9.1 (plan first: read-only), maintenance,
//! environment commands; the failing-`load` path switches maintenance back off.

use crate::common::orchestrator as orch;
use crate::common::rabbit;
use crate::common::update as h;

use orch::Orchestrator;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::orchestrator_cli::{cadkit, first_core_file, install_without_backups};

fn cadkit_ok(o: &Orchestrator, dir: &Path, args: &[&str]) -> String {
    let out = cadkit(o, dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cadkit {args:?} failed: {}\n{err}\norchestrator: {}",
        String::from_utf8_lossy(&out.stdout),
        o.log_text()
    );
    // The default bus and admin passwords never show, even at the most verbose level.
    assert!(!err.contains("guest:guest"), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fresh_install(dir: &Path, dist: &Path, name: &str) -> PathBuf {
    let env = dir.join(format!("fresh-{name}.sqlite"));
    cadkit::env::sqlite::installer::install(&env, &cadkit::env::InstallSpec::new(dist)).unwrap();
    env
}

fn assert_same_graph(a: &Path, b: &Path, what: &str) {
    let (ga, gb) = (h::graph(a), h::graph(b));
    assert!(ga == gb, "{what}: {}", h::first_difference(&ga, &gb));
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

const CORE: &str = "Home/Olympe_Libraries/Core";

#[test]
fn cadkit_installs_snapshots_and_updates_core_through_the_orchestrator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let d291 = h::core_dist(dir, "2.9.1");
    let broker = rabbit::shared();
    let o = Orchestrator::start(&dir.join("orch"), broker.port, &[]);
    h::copy_dir(&d293, &o.patches);

    // install (patches already in the orchestrator's folder, as in its container)
    let out = cadkit_ok(
        &o,
        dir,
        &[
            "install",
            "--runningInDocker",
            "true",
            "--import.backupUsers",
            "false",
            "--import.backupBusinessData",
            "false",
            "--user.password",
            "adm-PW-42",
        ],
    );
    assert!(!out.contains("adm-PW-42"));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["environment"]["kind"], "orchestrator");
    crate::schema::check("install", &report);
    let fresh293 = fresh_install(dir, &d293, "293");
    assert_same_graph(&o.env, &fresh293, "install 2.9.3");

    // snapshot through graphDef == embedded snapshot of the same graph, byte for byte
    let cfg = dir.join("snapshot-config.json");
    std::fs::write(
        &cfg,
        r#"{"snapshooter": {"name": "home", "rootTags": ["10000000000000000000"], "exclude": []}}"#,
    )
    .unwrap();
    let remote_out = dir.join("snap-remote");
    cadkit_ok(
        &o,
        dir,
        &[
            "snapshot",
            "--snapshot.config",
            cfg.to_str().unwrap(),
            "--snapshot.dir",
            remote_out.to_str().unwrap(),
        ],
    );
    let local_out = dir.join("snap-local");
    let st = crate::common::cadkit()
        .args([
            "snapshot",
            "--env",
            fresh293.to_str().unwrap(),
            "--snapshot.config",
            cfg.to_str().unwrap(),
            "--snapshot.dir",
            local_out.to_str().unwrap(),
        ])
        .env_remove("RABBITMQ_HOST")
        .env_remove("ORCHESTRATOR_HOST")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let remote = files_under(&remote_out);
    let local = files_under(&local_out);
    let core = |m: &BTreeMap<String, Vec<u8>>| m.keys().filter(|k| k.contains(CORE)).count();
    assert_eq!(core(&local), 947);
    assert_eq!(core(&remote), 947);
    let differ: Vec<&String> = local
        .keys()
        .filter(|k| remote.get(*k) != local.get(*k))
        .collect();
    assert!(
        differ.is_empty() && remote.len() == local.len(),
        "{} files differ, e.g. {:?}",
        differ.len(),
        differ.first()
    );

    // update --plan: read-only (no command that writes reaches the orchestrator)
    let before = o.recorded().len();
    let out = cadkit(
        &o,
        dir,
        &[
            "update",
            "--plan",
            "--codeAsData.workingDir",
            d291.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["dryRun"], true, "{plan}");
    crate::schema::check("update", &plan);
    for r in &o.recorded()[before..] {
        let text = r.to_string();
        assert!(
            !text.contains("\"command\":\"load\"")
                && !text.contains("resetDB")
                && !text.contains("gateway_service"),
            "plan sent {text}"
        );
    }
    assert_same_graph(&o.env, &fresh293, "after --plan");

    // Drift detection needs the inventory only the embedded environment keeps: refused up
    // front (it used to be ignored silently), nothing sent.
    let before = o.recorded().len();
    let out = cadkit(
        &o,
        dir,
        &[
            "update",
            "--update.detectDrift",
            "--codeAsData.workingDir",
            d291.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--update.detectDrift") && err.contains("embedded environment"),
        "{err}"
    );
    assert_eq!(o.recorded().len(), before, "no command sent");
    assert_same_graph(&o.env, &fresh293, "after a refused drift detection");

    // update to 2.9.1 (with the build's change log: only the changed roots are read)
    let d291_log = dir.join("d291-with-log");
    h::copy_dir(&d291, &d291_log);
    std::fs::write(d291_log.join("change_log.txt"), h::itemize(&d293, &d291)).unwrap();
    // update to 2.9.1 and back
    cadkit_ok(
        &o,
        dir,
        &[
            "update",
            "--codeAsData.workingDir",
            d291_log.to_str().unwrap(),
        ],
    );
    let fresh291 = fresh_install(dir, &d291, "291");
    assert_same_graph(&o.env, &fresh291, "update 2.9.3 -> 2.9.1");
    let out = cadkit_ok(
        &o,
        dir,
        &["update", "--codeAsData.workingDir", d293.to_str().unwrap()],
    );
    assert_same_graph(&o.env, &fresh293, "update 2.9.1 -> 2.9.3");
    crate::schema::check("update", &serde_json::from_str(&out).unwrap());

    // maintenance and environment commands
    let out = cadkit_ok(&o, dir, &["maintenance", "true"]);
    crate::schema::check("maintenance", &serde_json::from_str(&out).unwrap());
    cadkit_ok(&o, dir, &["maintenance", "false"]);
    assert_eq!(cadkit_ok(&o, dir, &["isDbInitialized"]).trim(), "true");
    for c in [
        "statsDB",
        "checkDB",
        "startGC",
        "clearGraphDefCache",
        "broadcastRefreshApp",
    ] {
        cadkit_ok(&o, dir, &[c]);
    }
}

/// A build whose change log names one changed root changes that root and nothing else.
/// Enumeration values sit under their enumeration with the folder's `item` relation: they
/// are part of the enumeration's root, not roots of their own absent from the build (which
/// the plan used to delete).
#[test]
fn a_one_root_change_log_update_changes_that_root_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let broker = rabbit::shared();
    let o = Orchestrator::start(&dir.join("orch"), broker.port, &[]);
    h::copy_dir(&d293, &o.patches);
    install_without_backups(&o, dir);
    // One item renamed.
    let edited = dir.join("edited");
    h::copy_dir(&d293, &edited);
    let file = first_core_file(&edited, ".newInst.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let renamed = text.replacen(
        "\"ff023000000000000011\": \"",
        "\"ff023000000000000011\": \"renamed ",
        1,
    );
    assert_ne!(text, renamed, "{}", file.display());
    std::fs::write(&file, renamed).unwrap();
    std::fs::write(edited.join("change_log.txt"), h::itemize(&d293, &edited)).unwrap();

    let out = cadkit_ok(
        &o,
        dir,
        &[
            "update",
            "--codeAsData.workingDir",
            edited.to_str().unwrap(),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let roots = report["plan"]["roots"].as_array().unwrap();
    let actions: Vec<String> = roots
        .iter()
        .map(|r| format!("{} {}", r["action"], r["root"]))
        .collect();
    assert_eq!(roots.len(), 1, "{actions:?}");
    assert_eq!(roots[0]["action"], "update");
    let fresh = fresh_install(dir, &edited, "edited");
    assert_same_graph(&o.env, &fresh, "one-root update");
}

#[test]
fn a_failing_load_ends_with_exit_1_and_maintenance_off_then_install_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let broker = rabbit::shared();
    let o = Orchestrator::start(&dir.join("orch"), broker.port, &[]);
    h::copy_dir(&d293, &o.patches);
    // One patch the orchestrator cannot load.
    let victim = walkdir::WalkDir::new(&o.patches)
        .into_iter()
        .map(Result::unwrap)
        .find(|e| e.path().to_string_lossy().ends_with(".newInst.json"))
        .unwrap()
        .into_path();
    let good = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, b"{ not json").unwrap();
    let args = [
        "install",
        "--runningInDocker",
        "true",
        "--import.backupUsers",
        "false",
        "--import.backupBusinessData",
        "false",
        "--user.password",
        "adm-PW-42",
    ];
    let out = cadkit(&o, dir, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("`load` failed"), "{text}");
    assert!(!text.contains("adm-PW-42"), "{text}");
    // The last deployment message switched the gateway back on (maintenance off).
    let deployments: Vec<bool> = o
        .recorded()
        .iter()
        .filter_map(|e| {
            e.pointer("/body/payload/content/gateway_service")
                .and_then(|v| v.as_bool())
        })
        .collect();
    assert_eq!(
        deployments,
        [false, true],
        "maintenance on, then off after the failure"
    );

    // Fixed patches: the same command completes.
    std::fs::write(&victim, good).unwrap();
    cadkit_ok(&o, dir, &args);
    let fresh = fresh_install(dir, &d293, "293");
    assert_same_graph(&o.env, &fresh, "install after a failed one");
}
