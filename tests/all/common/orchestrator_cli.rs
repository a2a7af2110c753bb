//! Running `cadkit` against a test orchestrator: its connection options, a download folder
//! of the test's own and debug logs (so tests can check that no secret reaches them).

use super::orchestrator::Orchestrator;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A test orchestrator in `<dir>/orch` on the shared broker, whose patches folder holds a
/// build of `@olympeio/core` 2.9.3 (as in its container: ready for `install
/// --runningInDocker true`); the build itself (`<dir>/dist-2.9.3/codeAsData`) is returned
/// too, for tests that edit a copy of it.
pub fn with_core_293(dir: &Path) -> (Orchestrator, PathBuf) {
    let d293 = super::update::core_dist(dir, "2.9.3");
    let o = Orchestrator::start(&dir.join("orch"), super::rabbit::shared().port, &[]);
    super::update::copy_dir(&d293, &o.patches);
    (o, d293)
}

/// `cadkit <args>` pointed at `o` (the builder already clears the caller's CI, toolkit,
/// `RABBITMQ_*` and `ORCHESTRATOR_*` variables), run in `dir`.
pub fn cadkit(o: &Orchestrator, dir: &Path, args: &[&str]) -> Output {
    super::cadkit()
        .args(args)
        .args(o.args())
        .arg("--downloadFolder")
        .arg(dir.join("download"))
        .args(["-l", "debug"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `install` of the patches already in the orchestrator's folder, without the users and
/// business-data backups (the reference orchestrator's graph has none to keep).
pub const INSTALL_WITHOUT_BACKUPS: [&str; 7] = [
    "install",
    "--runningInDocker",
    "true",
    "--import.backupUsers",
    "false",
    "--import.backupBusinessData",
    "false",
];

/// Run [`INSTALL_WITHOUT_BACKUPS`] on `o`; panics with cadkit's and the orchestrator's
/// output when it fails.
pub fn install_without_backups(o: &Orchestrator, dir: &Path) -> Output {
    let out = cadkit(o, dir, &INSTALL_WITHOUT_BACKUPS);
    assert!(
        out.status.success(),
        "install failed: {}{}\norchestrator: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        o.log_text()
    );
    out
}

/// The Core patch files of `dist` (name order) ending with `suffix`, project and folder
/// files left out: files a test can edit to make a one-root change.
pub fn core_files(dist: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dist)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.to_string_lossy().contains("Olympe_Libraries/Core/")
                && p.to_string_lossy().ends_with(suffix)
                && !p.file_name().unwrap().to_string_lossy().starts_with('.')
        })
        .collect()
}

/// The first of [`core_files`].
pub fn first_core_file(dist: &Path, suffix: &str) -> std::path::PathBuf {
    core_files(dist, suffix).remove(0)
}
