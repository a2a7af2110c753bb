//! Running `cadkit` against a test orchestrator: its connection options, a download folder
//! of the test's own and debug logs (so tests can check that no secret reaches them).

use super::orchestrator::Orchestrator;
use std::path::Path;
use std::process::Output;

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
