//! `cadkit install` + `cadkit snapshot` (and `cadkit-snapshot`) as a CI job runs them.

use std::path::Path;
use std::process::Command;

fn run(bin: &str, args: &[&str], cwd: &Path) -> serde_json::Value {
    let out = Command::new(bin)
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
