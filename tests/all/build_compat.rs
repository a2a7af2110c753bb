//! cadkit's `buildCodeAsData` against the real Olympe toolkit 1.2.3: the same fixture
//! projects (with the real @olympeio/core, draw and runtime packages) are built by both
//! tools in the three modes, and the output trees must be byte-identical.

use crate::common;

use common::reference;
use std::path::Path;

fn compare(fixture: &str, mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/compat")
        .join(fixture);
    let (tk, ck) = (tmp.path().join("toolkit"), tmp.path().join("cadkit"));
    reference::project_from_fixture(&fixture, &tk);
    reference::project_from_fixture(&fixture, &ck);
    reference::toolkit(&tk, &["buildCodeAsData", "--codeAsData.mode", mode]);
    let out = crate::common::cadkit()
        .args(["buildCodeAsData", "--codeAsData.mode", mode])
        .current_dir(&ck)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cadkit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (tk.join("dist/codeAsData"), ck.join("dist/codeAsData"));
    let files = reference::tree(&a).len();
    assert!(
        files > 3,
        "the toolkit produced almost nothing ({files} files)"
    );
    let diffs = reference::diff_trees(&a, &b);
    assert!(
        diffs.is_empty(),
        "{fixture:?} mode {mode}: outputs differ:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn shadowed_project_all() {
    compare("shadowed", "all");
}

#[test]
fn shadowed_project_project() {
    compare("shadowed", "project");
}

#[test]
fn shadowed_project_dependencies() {
    compare("shadowed", "dependencies");
}

#[test]
fn library_all() {
    compare("library", "all");
}

#[test]
fn library_project() {
    compare("library", "project");
}

#[test]
fn library_dependencies() {
    compare("library", "dependencies");
}

#[test]
fn dependencies_json_matches_the_toolkit() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat/library");
    let dir = tmp.path().join("p");
    reference::project_from_fixture(&fixture, &dir);
    let tk = reference::toolkit(&dir, &["dependencies", "-dm"]);
    // The toolkit prints through its logger: take the JSON line out of its log line.
    let tk_out = String::from_utf8(tk.stdout).unwrap();
    let tk_json = tk_out
        .lines()
        .find_map(|l| l.find("[{").map(|i| &l[i..]))
        .expect("toolkit printed a JSON array");
    let out = crate::common::cadkit()
        .args(["dependencies", "-dm", "-l", "error"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        tk_json.trim_end()
    );
}
