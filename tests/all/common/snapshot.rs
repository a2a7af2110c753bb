//! Shared harness for the environment and snapshot tests: the reference packages.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `$CADKIT_REFERENCE_DIR/node_modules`, falling back to `$HOME/.cache/cadkit/reference`.
pub fn reference_modules() -> PathBuf {
    let nm = super::reference::base_dir().join("node_modules");
    assert!(
        nm.join("@olympeio/core/codeAsData").is_dir(),
        "reference packages missing under {} (run scripts/setup)",
        nm.display()
    );
    nm
}

/// A temporary npm project depending on `@olympeio/core` whose node_modules is the
/// reference one; built with `cadkit::build::build` into `<tmp>/dist/codeAsData`.
pub fn build_core_dist(tmp: &Path) -> PathBuf {
    let project = tmp.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"core-env-test","version":"1.0.0","dependencies":{"@olympeio/core":"2.9.3"}}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(reference_modules(), project.join("node_modules")).unwrap();
    let mut req = cadkit::build::BuildRequest::new(&project);
    req.working_dir = tmp.join("dist/codeAsData");
    req.mode = cadkit::build::Mode::Dependencies;
    let report = cadkit::build::build(&req).expect("build of the reference project");
    report.working_dir
}
