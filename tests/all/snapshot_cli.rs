//! `cadkit install` + `cadkit snapshot` (and `cadkit-snapshot`) as a CI job runs them.

use std::path::Path;

fn run(bin: &str, args: &[&str], cwd: &Path) -> serde_json::Value {
    let out = crate::common::command(bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn install_then_snapshot_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project");
    let mut req = cadkit::build::BuildRequest::new(&sample);
    req.working_dir = tmp.path().join("dist");
    cadkit::build::build(&req).unwrap();
    let cadkit = env!("CARGO_BIN_EXE_cadkit");
    let r = run(
        cadkit,
        &[
            "install",
            "--env",
            "db/env.sqlite",
            "--codeAsData.workingDir",
            "dist",
        ],
        tmp.path(),
    );
    assert_eq!(r["files"], 19);
    assert_eq!(r["instances"], 12);
    assert!(tmp.path().join("db/env.sqlite").is_file());

    // The sample has no runtime: without relation types every follow rule is 0, so each
    // root holds itself only — still a valid dump of the hierarchy.
    std::fs::create_dir_all(tmp.path().join("conf/sub")).unwrap();
    std::fs::write(
        tmp.path().join("conf/sub/a.json"),
        r#"[{"snapshooter":{"name":"sample","rootTags":["0190aaaa000000000002"],"exclude":[],"outputDir":"snap"}}]"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("conf/b.json"),
        r#"{"snapshooter":{"name":"widgets","rootTags":["0190bbbb000000000002"]}}"#,
    )
    .unwrap();
    let args = [
        "snapshot",
        "--env",
        "db/env.sqlite",
        "--snapshot.config",
        "conf",
        "--snapshot.dir",
        "default-dir",
    ];
    let dry = run(cadkit, &[&args[..], &["--dry-run"]].concat(), tmp.path());
    assert_eq!(dry.as_array().unwrap().len(), 2);
    assert_eq!(dry[0]["name"], "widgets");
    assert_eq!(dry[1]["name"], "sample");
    assert_eq!(dry[1]["written"], 0);
    assert!(!tmp.path().join("snap").exists() && !tmp.path().join("default-dir").exists());
    let n = dry[1]["added"].as_array().unwrap().len();
    assert!(n >= 9, "{dry}");

    let real = run(
        env!("CARGO_BIN_EXE_cadkit-snapshot"),
        &args[1..],
        tmp.path(),
    );
    assert_eq!(real[1]["written"], n);
    assert!(tmp
        .path()
        .join("snap/0190aaaa000000000002/Home/Acme/Sample_Project/Functions/Farewell58_Bye.newInst.json")
        .is_file());
    assert!(tmp
        .path()
        .join("default-dir/0190bbbb000000000002/Home/Acme/Widgets/.Widgets.newInst.json")
        .is_file());
    let again = run(cadkit, &args, tmp.path());
    assert_eq!(again[0]["written"], 0);
    assert_eq!(again[1]["written"], 0);
}

#[test]
fn snapshot_sets_step_outputs_and_a_summary_on_github() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project");
    let mut req = cadkit::build::BuildRequest::new(&sample);
    req.working_dir = tmp.path().join("dist");
    cadkit::build::build(&req).unwrap();
    let cadkit = env!("CARGO_BIN_EXE_cadkit");
    run(
        cadkit,
        &[
            "install",
            "--env",
            "env.sqlite",
            "--codeAsData.workingDir",
            "dist",
        ],
        tmp.path(),
    );
    std::fs::write(
        tmp.path().join("conf.json"),
        r#"{"snapshooter":{"name":"widgets","rootTags":["0190bbbb000000000002"],"outputDir":"out"}}"#,
    )
    .unwrap();
    let snapshot = |outputs: &Path| {
        let o = crate::common::command(cadkit)
            .args([
                "snapshot",
                "--env",
                "env.sqlite",
                "--snapshot.config",
                "conf.json",
            ])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", outputs)
            .env("GITHUB_STEP_SUMMARY", tmp.path().join("summary.md"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            report[0]["name"], "widgets",
            "the report stays an array of entries"
        );
        std::fs::read_to_string(outputs).unwrap()
    };
    let first = snapshot(&tmp.path().join("out1.txt"));
    assert!(
        first.contains("changed<<") && first.contains("\ntrue\n"),
        "{first}"
    );
    assert!(
        first.contains("files-added<<") && first.contains("\n6\n"),
        "{first}"
    );
    let summary = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    assert!(summary.contains("Snapshot `widgets`"), "{summary}");
    let second = snapshot(&tmp.path().join("out2.txt"));
    assert!(
        second.contains("\nfalse\n"),
        "an unchanged environment reports no change: {second}"
    );
}
