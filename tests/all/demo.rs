//! `cadkit demo`, as a newcomer runs it: the whole pipeline on the bundled sample project
//! with embedded defaults, no server.

use std::process::Command;

#[test]
fn the_demo_runs_every_step_and_reports_it() {
    let work = tempfile::tempdir().unwrap();
    let out = crate::common::cadkit()
        .args(["demo", "--workdir"])
        .arg(work.path())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env_remove("TF_BUILD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = &report["steps"];
    assert_eq!(steps["build"]["patches"], 19);
    assert_eq!(steps["snapshot"]["snapshot"]["written"], 13);
    assert_eq!(steps["git"]["first"]["pushed"], true);
    assert_eq!(
        steps["git"]["second"]["changed"], false,
        "an unchanged environment commits nothing"
    );
    assert_eq!(steps["git"]["rebuiltIdentical"], true);
    assert!(steps["image"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(
        work.path().join("image/index.json").is_file(),
        "OCI layout written"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in ["demo-password", "demo-token", "demo-signing-secret"] {
        assert!(!all.contains(secret), "{secret} printed");
    }
}

/// An installed binary has no source tree: copied alone into an empty folder (and the
/// source tree out of reach), `cadkit demo` still runs, on the sample embedded in it.
#[test]
fn the_demo_runs_from_any_folder_with_only_the_binary() {
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("cadkit");
    std::fs::copy(env!("CARGO_BIN_EXE_cadkit"), &bin).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    // The source tree the binary was built in is hidden under an empty tmpfs, in a private
    // mount namespace (the tests run as root, as CI does).
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs cadkit-hidden "$1" && cd "$2" && exec "$3" demo"#)
        .args(["sh", env!("CARGO_MANIFEST_DIR")])
        .arg(cwd.path())
        .arg(&bin)
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", cwd.path())
        .env("TMPDIR", cwd.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"]["build"]["patches"], 19, "{report}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(env!("CARGO_MANIFEST_DIR")),
        "the demo read the source tree"
    );
}
