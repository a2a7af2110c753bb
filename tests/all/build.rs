//! buildCodeAsData rules on small fixtures: errors, atomic output, dry run, library checks.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn cadkit(dir: &Path, args: &[&str]) -> Output {
    crate::common::cadkit()
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("TF_BUILD")
        .env_remove("GITLAB_CI")
        .output()
        .unwrap()
}

fn sample(tmp: &Path) -> PathBuf {
    let dir = tmp.join("sample");
    common::reference::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project"),
        &dir,
    );
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn builds_the_sample_with_import_order_and_version_files() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    let o = cadkit(&p, &["build", "--report", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = p.join("dist/codeAsData");
    assert_eq!(
        std::fs::read_to_string(out.join("import_order.json")).unwrap(),
        r#"[{"name":"@acme/widgets","rootTag":"10000000000000000000","path":"acme.widgets"},{"name":"@Acme/Sample.Project","rootTag":"10000000000000000000","path":"acme.sample.project"}]"#
    );
    assert_eq!(
        std::fs::read_to_string(out.join("version.json")).unwrap(),
        r#"{"drawVersion":"N/A","runtimeVersion":"N/A"}"#
    );
    assert!(out
        .join("acme.sample.project/Acme/Sample_Project/Functions/Greeting.newInst.json")
        .is_file());
    assert!(
        !out.join("acme.sample.project/users").exists(),
        "users are never built"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["patches"], 19);
    assert_eq!(report["modules"][1]["name"], "@Acme/Sample.Project");
}

#[test]
fn an_invalid_patch_fails_naming_file_and_pointer_and_keeps_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    assert!(cadkit(&p, &["build"]).status.success());
    let before = common::reference::tree(&p.join("dist/codeAsData"));
    let bad = p.join(
        "snapshot/0190aaaa000000000002/Home/Acme/Sample_Project/Functions/Greeting.newRel.json",
    );
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replacen("\"ff021000000000000001\"", "42", 1);
    std::fs::write(&bad, text).unwrap();
    let o = cadkit(&p, &["build"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("Greeting.newRel.json: /operations/0/r: expected a 20-hex tag, found 42"),
        "{err}"
    );
    assert_eq!(
        common::reference::tree(&p.join("dist/codeAsData")),
        before,
        "previous output kept intact"
    );
    let leftovers: Vec<_> = std::fs::read_dir(p.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("codeAsData")],
        "no staging folder left"
    );
}

#[test]
fn a_snapshot_folder_without_home_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    std::fs::create_dir_all(p.join("snapshot/0190dddd000000000001/Acme")).unwrap();
    let o = cadkit(&p, &["build"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("0190dddd000000000001: snapshot folder has no Home sub-folder"),
        "{err}"
    );
    assert!(
        !err.contains("ENOENT") && !err.contains("os error"),
        "{err}"
    );
    assert!(!p.join("dist").exists(), "nothing written");
}

#[test]
fn a_library_build_requires_a_code_as_data_declaration() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    let o = cadkit(&p, &["buildCodeAsData", "--codeAsData.mode", "project"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(r#"add "codeAsData": "dist/codeAsData" to package.json"#),
        "{}",
        stderr(&o)
    );
    let o = cadkit(&p, &["build", "--mode", "banana"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Unknown option for codeAsData mode"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    let o = cadkit(&p, &["build", "--dry-run", "-pwd", "out/cad"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["files"], 19);
    assert!(!p.join("out").exists());
}

#[test]
fn dependencies_print_json_whatever_the_log_level() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    let o = cadkit(&p, &["dependencies", "--logLevel", "error"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["name"], "@acme/widgets");
    assert_eq!(v[0]["version"], "1.0.0");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\n    {\n        \"name\""),
        "4-space pretty JSON"
    );
    let o = cadkit(&p, &["deps", "--depsMinifyJSON"]);
    assert!(!String::from_utf8_lossy(&o.stdout).trim_end().contains('\n'));
}

#[test]
fn the_single_step_binary_behaves_like_the_front_door() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    let o = crate::common::cadkit_bin("cadkit-build")
        .args(["--codeAsData.workingDir", "build-out", "--report", "json"])
        .current_dir(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(p.join("build-out/import_order.json").is_file());
}

#[test]
fn env_vars_supply_defaults_and_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    std::fs::rename(p.join("snapshot"), p.join("snaps")).unwrap();
    let o = crate::common::cadkit()
        .args(["build", "--report", "json"])
        .env("SNAPSHOT_DATA_FOLDER", "snaps")
        .current_dir(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["patches"], 19, "toolkit variable honoured");
    let o = crate::common::cadkit()
        .args(["build", "--report", "json", "--snapshot.dir", "nowhere"])
        .env("CADKIT_SNAPSHOT_DIR", "snaps")
        .current_dir(&p)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["patches"], 6, "the flag wins over the variable");
}

#[test]
fn clean_code_as_data_empties_the_working_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample(tmp.path());
    assert!(cadkit(&p, &["build"]).status.success());
    let o = cadkit(&p, &["cleanCodeAsData", "--dry-run"]);
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["removed"].as_array().unwrap().len(),
        4,
        "two modules and two files"
    );
    assert!(
        p.join("dist/codeAsData/import_order.json").is_file(),
        "dry run removes nothing"
    );
    assert!(cadkit(&p, &["cleanCodeAsData"]).status.success());
    assert_eq!(
        std::fs::read_dir(p.join("dist/codeAsData"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_missing_dependency_location_is_an_error_and_a_project_without_folders_gets_no_module() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("edge");
    let lib = |name: &str, cad: &str| {
        let d = p.join("node_modules").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("package.json"),
            format!(r#"{{"name":"{name}","version":"1.0.0","codeAsData":"{cad}"}}"#),
        )
        .unwrap();
        d
    };
    std::fs::create_dir_all(lib("empty-lib", "cad").join("cad")).unwrap();
    std::fs::write(
        p.join("package.json"),
        r#"{"name":"edge","dependencies":{"empty-lib":"1"}}"#,
    )
    .unwrap();
    let o = cadkit(&p, &["build"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(p.join("dist/codeAsData/import_order.json")).unwrap(),
        r#"[{"name":"empty-lib","rootTag":"10000000000000000000","path":"empty-lib"}]"#,
        "same as the toolkit: the empty dependency is listed, the folderless project is not"
    );
    lib("file-lib", "nothing-here");
    std::fs::write(
        p.join("package.json"),
        r#"{"name":"edge","dependencies":{"empty-lib":"1","file-lib":"1"}}"#,
    )
    .unwrap();
    let o = cadkit(&p, &["build"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "nothing-here: missing, but package file-lib 1.0.0 declares it as its codeAsData"
        ),
        "{}",
        stderr(&o)
    );
}
