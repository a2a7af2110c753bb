//! Running the built binaries. Every command made here starts WITHOUT the CI variables of
//! the caller (`GITHUB_*`, `GITLAB_CI`, `CI_*`, `TF_BUILD`, `SYSTEM_*`, `AGENT_*`,
//! `BUILD_*`, `CADKIT_*`, the toolkit's variables…): a test run inside a real CI job must
//! never write to that job's `$GITHUB_OUTPUT` or pick up its branch. A test that wants a CI
//! variable sets it explicitly on the command.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Variable name prefixes cleared from every command.
const CLEARED_PREFIXES: &[&str] = &[
    "GITHUB_",
    "RUNNER_",
    "ACTIONS_",
    "CI_",
    "GITLAB_",
    "SYSTEM_",
    "AGENT_",
    "BUILD_",
    "CADKIT_",
    "SNAPSHOT_",
    "UPDATE_",
    "BACKUP_",
    "DRAW_",
    // The toolkit's orchestrator variables: they select an orchestrator.
    "RABBITMQ_",
    "ORCHESTRATOR_",
];

/// Variable names cleared from every command (CI markers and the toolkit's variables).
const CLEARED_NAMES: &[&str] = &[
    "CI",
    "TF_BUILD",
    "LOG_LEVEL",
    "SAVE_LOGS",
    "RUNNING_IN_DOCKER",
    "IGNORE_RELATION_FAIL",
    "DOCKER_CONFIG",
    "SOURCE_DATE_EPOCH",
];

/// Whether `name` is a variable [`clear_ci_env`] removes.
pub fn is_ci_variable(name: &str) -> bool {
    CLEARED_NAMES.contains(&name) || CLEARED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Remove every CI and toolkit variable of this process's environment from `cmd`.
pub fn clear_ci_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_ci_variable) {
            cmd.env_remove(&name);
        }
    }
    cmd
}

/// Any program, with the CI variables cleared (for `bash` running an action's script,
/// `gitlab-ci-local`…).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    clear_ci_env(&mut cmd);
    cmd
}

/// The front door `cadkit`, with the CI variables cleared.
pub fn cadkit() -> Command {
    command(bin("cadkit"))
}

/// One of the built binaries by name (`cadkit`, `cadkit-tag`, …), with the CI variables
/// cleared.
pub fn cadkit_bin(name: &str) -> Command {
    command(bin(name))
}

/// Path of the built binary `name`.
pub fn bin(name: &str) -> &'static str {
    match name {
        "cadkit" => env!("CARGO_BIN_EXE_cadkit"),
        "cadkit-build" => env!("CARGO_BIN_EXE_cadkit-build"),
        "cadkit-image" => env!("CARGO_BIN_EXE_cadkit-image"),
        "cadkit-registry-auth" => env!("CARGO_BIN_EXE_cadkit-registry-auth"),
        "cadkit-snapshot" => env!("CARGO_BIN_EXE_cadkit-snapshot"),
        "cadkit-tag" => env!("CARGO_BIN_EXE_cadkit-tag"),
        "cadkit-update" => env!("CARGO_BIN_EXE_cadkit-update"),
        "cadkit-webhook" => env!("CARGO_BIN_EXE_cadkit-webhook"),
        other => panic!("no binary named {other} in Cargo.toml"),
    }
}

/// The folder holding the built binaries (to put on `PATH` for the action scripts).
pub fn bin_dir() -> &'static Path {
    Path::new(bin("cadkit")).parent().expect("binary folder")
}

#[test]
fn ci_variables_never_reach_a_command() {
    for name in [
        "GITHUB_OUTPUT",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "CI_COMMIT_SHA",
        "TF_BUILD",
        "SYSTEM_PULLREQUEST_SOURCEBRANCH",
        "BUILD_SOURCEBRANCH",
        "CADKIT_ENV",
        "LOG_LEVEL",
    ] {
        assert!(is_ci_variable(name), "{name} must be cleared");
    }
    for name in ["PATH", "HOME", "TMPDIR", "LANG"] {
        assert!(!is_ci_variable(name), "{name} must be kept");
    }
    // Whatever CI this suite runs in, a command made here sees none of its variables.
    let out = command("env").output().expect("env");
    let seen = String::from_utf8_lossy(&out.stdout);
    let leaked: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| is_ci_variable(k))
        .collect();
    assert!(leaked.is_empty(), "leaked into a command: {leaked:?}");
    assert!(seen.lines().any(|l| l.starts_with("PATH=")), "PATH is kept");
}
