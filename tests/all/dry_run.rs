//! Dry runs never write: `--dry-run` and `CADKIT_DRY_RUN` (what the root action's
//! `dry-run: true` sets) leave files, environments, registries, git remotes and webhook
//! receivers exactly as they were.

use crate::common::update as h;

use cadkit::env::sqlite::installer::install;
use cadkit::env::InstallSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `root` with its bytes (a snapshot to compare before/after).
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn update_honours_cadkit_dry_run_and_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env_dir = tmp.path().join("env");
    std::fs::create_dir(&env_dir).unwrap();
    let env = env_dir.join("env.sqlite");
    install(&env, &InstallSpec::new(&a)).unwrap();
    let before = files(&env_dir);
    for (vars, flag) in [
        (&[("CADKIT_DRY_RUN", "true")][..], None),
        (&[], Some("--dry-run")),
    ] {
        let mut cmd = crate::common::cadkit();
        cmd.args(["update", "--env"])
            .arg(&env)
            .arg("--codeAsData.workingDir")
            .arg(&b)
            .envs(vars.iter().copied())
            .env_remove("CADKIT_ENV");
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{vars:?} {flag:?}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["dryRun"], true, "{report}");
        assert_eq!(report["applied"], false, "{report}");
        assert!(
            report["plan"]["roots"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
                || report["plan"].to_string().len() > 20,
            "the dry run still plans: {report}"
        );
        assert_eq!(
            files(&env_dir),
            before,
            "{vars:?} {flag:?} wrote to the environment"
        );
    }
}

#[test]
fn a_dry_run_update_on_a_missing_environment_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("absent/env.sqlite");
    std::fs::create_dir(tmp.path().join("absent")).unwrap();
    let out = crate::common::cadkit()
        .args(["update", "--dry-run", "--env"])
        .arg(&env)
        .arg("--codeAsData.workingDir")
        .arg(&b)
        .env_remove("CADKIT_ENV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("absent"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn install_honours_cadkit_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env_dir = tmp.path().join("env");
    std::fs::create_dir(&env_dir).unwrap();
    let env = env_dir.join("env.sqlite");
    install(&env, &InstallSpec::new(&a)).unwrap();
    let before = files(&env_dir);
    let out = crate::common::cadkit()
        .args(["install", "--env"])
        .arg(&env)
        .arg("--codeAsData.workingDir")
        .arg(&b)
        .env("CADKIT_DRY_RUN", "true")
        .env_remove("CADKIT_ENV")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dryRun"], true, "{report}");
    assert!(report["files"].as_u64().unwrap() > 5, "{report}");
    assert_eq!(
        files(&env_dir),
        before,
        "a dry-run install wrote to the environment"
    );
    // A dry run validates: a broken patch is still an error.
    std::fs::write(b.join("import_order.json"), "not json").unwrap();
    let out = crate::common::cadkit()
        .args(["install", "--dry-run", "--env"])
        .arg(&env)
        .arg("--codeAsData.workingDir")
        .arg(&b)
        .env_remove("CADKIT_ENV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(files(&env_dir), before);
}

/// The environment commands that write (maintenance, read mode, refresh notice, user
/// password, GC, clean) honour `CADKIT_DRY_RUN` too: they report and change nothing.
#[test]
fn environment_commands_honour_cadkit_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(tmp.path());
    let env_dir = tmp.path().join("env");
    std::fs::create_dir(&env_dir).unwrap();
    let env = env_dir.join("env.sqlite");
    install(&env, &InstallSpec::new(&a)).unwrap();
    let before = files(&env_dir);
    let e = env.to_str().unwrap();
    for args in [
        &["maintenance", "on", "--env", e][..],
        &["codeAsDataReadMode", "true", "--env", e],
        &["broadcastRefreshApp", "--env", e],
        &["updateUser", "--env", e, "--user.password", "new-password"],
        &["startGC", "--env", e],
    ] {
        let out = crate::common::cadkit()
            .args(args)
            .env("CADKIT_DRY_RUN", "true")
            .env_remove("CADKIT_ENV")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["dryRun"], true, "{args:?}: {report}");
        assert!(!report.to_string().contains("new-password"), "{report}");
        assert_eq!(files(&env_dir), before, "{args:?} wrote");
    }
    let out_dir = tmp.path().join("a/dist/codeAsData");
    let listing = files(&out_dir);
    let out = crate::common::cadkit()
        .args(["cleanCodeAsData", "--codeAsData.workingDir"])
        .arg(&out_dir)
        .env("CADKIT_DRY_RUN", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        files(&out_dir),
        listing,
        "clean emptied the folder in a dry run"
    );
}
