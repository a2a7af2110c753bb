//! The toolkit's command line as a drop-in sees it: command output with the toolkit's
//! bytes, cadkit's own reports behind `--report json`, the toolkit's defaults.

use crate::common::update as h;

use cadkit::env::sqlite::installer::install;
use cadkit::env::InstallSpec;
use std::path::Path;
use std::process::Output;

fn cadkit(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = crate::common::cadkit();
    for (k, _) in std::env::vars() {
        if k.starts_with("CADKIT_") || k.starts_with("DRAW_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(vars.iter().copied()).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn get_upgrade_config_prints_the_toolkits_one_line_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    std::fs::write(
        a.join("version.json"),
        r#"{"drawVersion":"2.9.2","runtimeVersion":"9.9.2"}"#,
    )
    .unwrap();
    std::fs::write(
        b.join("version.json"),
        r#"{"drawVersion":"2.10.0","runtimeVersion":"9.10.0"}"#,
    )
    .unwrap();
    let env = tmp.path().join("env.sqlite");
    install(&env, &InstallSpec::new(&a)).unwrap();
    let args = [
        "getUpgradeConfig",
        "--env",
        s(&env),
        "--codeAsData.workingDir",
        s(&b),
    ];
    let out = cadkit(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "[{\"project\":\"@olympeio/draw\",\"from\":\"2.9.2\",\"to\":\"2.10.0\"}]\n"
    );
    // The toolkit only checks that both versions are set: "N/A" is a version to it.
    std::fs::write(b.join("version.json"), r#"{"drawVersion":"N/A"}"#).unwrap();
    let out = cadkit(&args, &[]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "[{\"project\":\"@olympeio/draw\",\"from\":\"2.9.2\",\"to\":\"N/A\"}]\n"
    );
    // cadkit's report, on request.
    let mut with_report = args.to_vec();
    with_report.extend(["--report", "json"]);
    let out = cadkit(&with_report, &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["upgradeConfig"][0]["to"], "N/A", "{v}");
}

#[test]
fn update_user_defaults_the_password_to_the_toolkits_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    install(&env, &InstallSpec::new(&a)).unwrap();
    let args = [
        "updateUser",
        "--env",
        s(&env),
        "--user.tag",
        cadkit::demo::update::GREETING,
    ];
    let out = cadkit(&args, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("DRAW_PASSWORD") && err.contains("default"),
        "{err}"
    );
    // DRAW_PASSWORD, the toolkit's variable, is taken without a warning.
    let out = cadkit(&args, &[("DRAW_PASSWORD", "from-the-env")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("default"), "{err}");
    assert!(!err.contains("from-the-env"), "{err}");
}

#[test]
fn toolkit_options_without_effect_are_accepted_and_a_changed_value_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    cadkit::demo::write_sample(tmp.path()).unwrap();
    let out = crate::common::cadkit()
        .args([
            "-rd",
            "buildCodeAsData",
            "-sdb",
            "true",
            "--snapshot.excludeUsers",
            "false",
            "-pmd",
            "project",
        ])
        .current_dir(tmp.path())
        .env_remove("RUNNING_IN_DOCKER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // -rd took no word: the build ran (and, in docker, refused as the toolkit does).
    assert!(
        err.contains("not available when running in docker"),
        "{err}"
    );
    let out = crate::common::cadkit()
        .args([
            "buildCodeAsData",
            "-sdb",
            "true",
            "--snapshot.excludeUsers",
            "false",
        ])
        .current_dir(tmp.path())
        .env_remove("RUNNING_IN_DOCKER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--snapshot.dumpBinaries true has no effect"),
        "{err}"
    );
    assert!(
        !err.contains("excludeUsers"),
        "a default value is not warned about: {err}"
    );
    assert!(tmp
        .path()
        .join("dist/codeAsData/import_order.json")
        .is_file());
    // The toolkit's variables of such options are warned about the same way.
    let out = crate::common::cadkit()
        .args(["buildCodeAsData"])
        .current_dir(tmp.path())
        .env("DUMP_BINARY_FILES", "true")
        .env("SNAPSHOTER_EXCLUDE_USERS", "false")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("DUMP_BINARY_FILES=true"), "{err}");
    assert!(!err.contains("SNAPSHOTER_EXCLUDE_USERS"), "{err}");
}

/// A one-step binary describes itself as `cadkit <command>` does (its help once opened with
/// the doc of a flattened option group: "Options every command accepts").
#[test]
fn one_step_binaries_open_their_help_with_their_commands_description() {
    let first_line = |mut c: std::process::Command| -> String {
        let out = c.arg("--help").output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    for (bin, command) in [
        ("cadkit-build", "buildCodeAsData"),
        ("cadkit-image", "image"),
        ("cadkit-registry-auth", "registry-auth"),
        ("cadkit-snapshot", "snapshot"),
        ("cadkit-tag", "tag"),
        ("cadkit-update", "update"),
        ("cadkit-webhook", "webhook"),
    ] {
        let mut front = crate::common::cadkit();
        front.arg(command);
        let expected = first_line(front);
        assert!(!expected.is_empty(), "cadkit {command} --help");
        assert_eq!(
            first_line(crate::common::cadkit_bin(bin)),
            expected,
            "{bin} --help"
        );
    }
}
