//! `cadkit demo`, as a newcomer runs it: the whole pipeline on the bundled sample project
//! with embedded defaults, no server.

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
