//! cadkit's `buildCodeAsData` against the real Olympe toolkit 1.2.3: the same fixture
//! projects (with the real @olympeio/core, draw and runtime packages) are built by both
//! tools in the three modes, and the output trees must be byte-identical.

use crate::common;

use common::reference;
use std::path::Path;

fn compare(fixture: &str, mode: &str) {
    compare_with(fixture, mode, |_| {});
}

/// Build `fixture` with both tools after `layout` adjusted each copy's `node_modules`.
fn compare_with(fixture: &str, mode: &str, layout: impl Fn(&Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/compat")
        .join(fixture);
    let (tk, ck) = (tmp.path().join("toolkit"), tmp.path().join("cadkit"));
    reference::project_from_fixture(&fixture, &tk);
    reference::project_from_fixture(&fixture, &ck);
    layout(&tk);
    layout(&ck);
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

/// The version conflict of issue 10: the project depends on @olympeio/core 2.9.1 directly
/// (the flat copy) while @olympeio/draw carries a nested @olympeio/core 2.9.3. The toolkit
/// deploys the flat 2.9.1; so must cadkit.
fn conflict_layout(project: &Path) {
    use std::os::unix::fs::symlink;
    let reference = reference::dir();
    let core_291 = reference.join("packs/olympeio-core-2.9.1");
    assert!(
        core_291.join("package.json").is_file(),
        "packed @olympeio/core 2.9.1 missing in {}: run scripts/setup",
        core_291.display()
    );
    let scope = project.join("node_modules/@olympeio");
    std::fs::remove_file(scope.join("core")).unwrap();
    symlink(&core_291, scope.join("core")).unwrap();
    // draw as a real copy so that it can hold a nested core 2.9.3.
    std::fs::remove_file(scope.join("draw")).unwrap();
    reference::copy_tree(
        &reference.join("node_modules/@olympeio/draw"),
        &scope.join("draw"),
    );
    let nested = scope.join("draw/node_modules/@olympeio");
    std::fs::create_dir_all(&nested).unwrap();
    symlink(
        reference.join("node_modules/@olympeio/core"),
        nested.join("core"),
    )
    .unwrap();
}

#[test]
fn version_conflict_takes_the_flat_copy_all() {
    compare_with("conflict", "all", conflict_layout);
}

#[test]
fn version_conflict_takes_the_flat_copy_dependencies() {
    compare_with("conflict", "dependencies", conflict_layout);
}
