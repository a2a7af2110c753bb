//! The output contract: the committed schemas (`schema/<step>.json`) equal the ones the
//! report types generate, and each step's REAL output (the binary, run through
//! `crate::common::cadkit()`) validates against its schema. Refresh the files with
//! `CADKIT_WRITE_SCHEMAS=1 cargo test --test all schema::` (see `schema/README.md`).

use serde_json::Value;
use std::path::{Path, PathBuf};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

fn generated() -> Vec<(&'static str, String)> {
    cadkit::steps::schema::all()
        .into_iter()
        .map(|(step, s)| {
            let text = serde_json::to_string_pretty(&s).unwrap();
            (step, format!("{text}\n"))
        })
        .collect()
}

#[test]
fn committed_schemas_match_the_report_types() {
    let write = std::env::var("CADKIT_WRITE_SCHEMAS").is_ok_and(|v| v == "1");
    let mut drift = Vec::new();
    for (step, text) in generated() {
        let path = schema_dir().join(format!("{step}.json"));
        if write {
            std::fs::write(&path, &text).unwrap();
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drift.push(path.display().to_string());
        }
    }
    assert!(
        drift.is_empty(),
        "{drift:?} differ from the report types: run CADKIT_WRITE_SCHEMAS=1 cargo test --test all schema:: and commit them"
    );
}

#[test]
fn no_step_report_field_is_an_envelope_field() {
    assert_eq!(
        cadkit::steps::schema::all_envelope_clashes(),
        Vec::<String>::new()
    );
}

/// Validate `report` against the committed schema of `step` (panics with the errors).
pub(crate) fn check(step: &str, report: &Value) {
    let text = std::fs::read_to_string(schema_dir().join(format!("{step}.json"))).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{step}: {errors:?}\n{report:#}");
}

/// Run cadkit, expecting success; its report (stdout) as JSON.
fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Value {
    json(&run_code(dir, args, vars, 0))
}

#[test]
fn tag_registry_auth_and_webhook_reports_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "42bd534f0123456789abcdef0123456789abcdef";
    let tag = [
        "tag",
        "--branch",
        "master",
        "--commit",
        sha,
        "--image-name",
        "acme/shop",
        "--registry",
        "ghcr.io",
        "--environment",
        "production=^master-",
    ];
    check("tag", &run(dir.path(), &tag, &[]));
    let mut dry = tag.to_vec();
    dry.push("--dry-run");
    let r = run(dir.path(), &dry, &[]);
    assert_eq!(r["dryRun"], true);
    check("tag", &r);

    let cfg = dir.path().join("docker");
    let auth = [
        "registry-auth",
        "--registry",
        "ghcr.io",
        "--username",
        "ci",
        "--docker-config",
        cfg.to_str().unwrap(),
    ];
    let pass = [("CADKIT_REGISTRY_PASSWORD", "long-enough")];
    let r = run(dir.path(), &auth, &pass);
    assert!(cfg.join("config.json").is_file());
    check("registry-auth", &r);
    let mut dry = auth.to_vec();
    dry.push("--dry-run");
    check("registry-auth", &run(dir.path(), &dry, &pass));
    let r = run(
        dir.path(),
        &["registry-auth", "--username", "ci", "--stdout", "--dry-run"],
        &pass,
    );
    check("registry-auth", &r);

    let r = run(
        dir.path(),
        &[
            "webhook",
            "--url",
            "http://127.0.0.1:9/hook",
            "--image",
            "ghcr.io/acme/shop-frontend:master-42bd534f,ghcr.io/acme/shop-codeasdata:master-42bd534f",
            "--codeasdata-unchanged",
            "--dry-run",
        ],
        &[("CADKIT_WEBHOOK_TOKEN", "a-long-token")],
    );
    assert_eq!(r["deliveries"].as_array().map(Vec::len), Some(2), "{r}");
    check("webhook", &r);
}

#[test]
fn a_delivered_webhook_report_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = cadkit::webhook::receiver::Receiver::start().unwrap();
    let r = run(
        dir.path(),
        &[
            "webhook",
            "--url",
            &receiver.url("/acme/shop/production"),
            "--image",
            "ghcr.io/acme/shop-frontend:master-42bd534f",
        ],
        &[("CADKIT_WEBHOOK_TOKEN", "a-long-token")],
    );
    assert!(r["deliveries"][0]["status"].is_u64(), "{r}");
    check("webhook", &r);
}

#[test]
fn build_and_image_reports_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sample");
    crate::common::reference::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project"),
        &project,
    );
    let r = run(&project, &["build", "--report", "json"], &[]);
    assert!(r["files"].as_u64().is_some_and(|n| n > 0), "{r}");
    check("build", &r);
    check("build", &run(&project, &["build", "--dry-run"], &[]));

    let zip = dir.path().join("b.zip");
    let r = run(&project, &["bundle", "-o", zip.to_str().unwrap()], &[]);
    assert!(
        zip.is_file() && r["outputs"]["sha256"] == r["sha256"],
        "{r}"
    );
    check("bundle", &r);
    let r = run(&project, &["cleanCodeAsData", "--dry-run"], &[]);
    assert!(
        r["removed"].as_array().is_some_and(|a| !a.is_empty()),
        "{r}"
    );
    check("cleanCodeAsData", &r);

    let layout = format!("oci:{}:1", dir.path().join("layout").display());
    let image = [
        "image",
        "--kind",
        "codeasdata",
        "--source",
        "dist/codeAsData",
        "--base",
        "scratch",
        "--output",
        &layout,
    ];
    let r = run(&project, &image, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert!(
        r["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{r}"
    );
    check("image", &r);
}

/// Run cadkit, expecting exit `code`; stdout as text.
fn run_code(dir: &Path, args: &[&str], vars: &[(&str, &str)], code: i32) -> String {
    let out = crate::common::cadkit()
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn update_and_install_reports_match_their_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = crate::common::update::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    let (e, a, b) = (
        env.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    );
    let dir = tmp.path();

    let r = run(
        dir,
        &[
            "install",
            "--dry-run",
            "--env",
            e,
            "--codeAsData.workingDir",
            a,
        ],
        &[],
    );
    assert_eq!(r["dryRun"], true, "{r}");
    check("install", &r);
    let r = run(
        dir,
        &["install", "--env", e, "--codeAsData.workingDir", a],
        &[],
    );
    assert!(r["files"].as_u64().is_some_and(|n| n > 0), "{r}");
    assert_eq!(r["outputs"]["files"], r["files"].to_string(), "{r}");
    check("install", &r);

    // --plan with changes pending: exit 2, the plan in the report, nothing written.
    let update = ["update", "--env", e, "--codeAsData.workingDir", b];
    let r = json(&run_code(dir, &[&update[..], &["--plan"]].concat(), &[], 2));
    assert_eq!(
        (r["dryRun"].clone(), r["applied"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(r["outputs"]["changed"], "true", "{r}");
    check("update", &r);
    let r = json(&run_code(
        dir,
        &[&update[..], &["--dry-run"]].concat(),
        &[],
        0,
    ));
    check("update", &r);
    let r = run(dir, &update, &[]);
    assert_eq!(r["applied"], true, "{r}");
    assert_eq!(r["dryRun"], false, "{r}");
    check("update", &r);
    // Converged: --plan exits 0.
    let r = json(&run_code(dir, &[&update[..], &["--plan"]].concat(), &[], 0));
    assert_eq!(r["outputs"]["changed"], "false", "{r}");
    check("update", &r);
}

#[test]
fn environment_command_reports_match_their_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let (env, a, _) = crate::common::update::installed_sample(tmp.path());
    let (e, a) = (env.to_str().unwrap(), a.to_str().unwrap());
    let dir = tmp.path();
    for (command, args) in [
        ("maintenance", &["maintenance", "on"][..]),
        ("maintenance", &["maintenance", "off"]),
        ("codeAsDataReadMode", &["codeAsDataReadMode", "true"]),
        ("broadcastRefreshApp", &["broadcastRefreshApp"]),
        ("startGC", &["startGC"]),
        ("statsDB", &["statsDB"]),
        ("clearGraphDefCache", &["clearGraphDefCache"]),
        ("isDbInitialized", &["isDbInitialized", "--report", "json"]),
        (
            "getUpgradeConfig",
            &[
                "getUpgradeConfig",
                "--report",
                "json",
                "--codeAsData.workingDir",
                a,
            ],
        ),
        (
            "updateUser",
            &[
                "updateUser",
                "--user.tag",
                cadkit::demo::update::GREETING,
                "--user.password",
                "pw-in-no-report",
            ],
        ),
    ] {
        let r = run(dir, &[args, &["--env", e]].concat(), &[]);
        if command != "getUpgradeConfig" {
            assert_eq!(r["environment"]["kind"], "embedded", "{args:?}: {r}");
        }
        assert!(!r.to_string().contains("pw-in-no-report"), "{r}");
        check(command, &r);
    }
    // checkDB: exit 1 when incoherent, the report says why either way.
    let out = crate::common::cadkit()
        .args(["checkDB", "--env", e])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.success(), r["ok"] == true, "{r}");
    assert_eq!(r["outputs"]["ok"], r["ok"].to_string(), "{r}");
    check("checkDB", &r);

    let r = run(
        dir,
        &["maintenance", "on", "--env", e],
        &[("CADKIT_DRY_RUN", "true")],
    );
    assert_eq!(
        (r["command"].clone(), r["dryRun"].clone()),
        ("maintenance".into(), true.into())
    );
    check("environment-dry-run", &r);

    // The toolkit's bytes by default; nothing with --report none; the report file always.
    let file = dir.join("report.json");
    let f = [("CADKIT_REPORT_FILE", file.to_str().unwrap())];
    let stdout = run_code(dir, &["isDbInitialized", "--env", e], &f, 0);
    let r = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(stdout, format!("{}\n", r["initialized"]), "{r}");
    check("isDbInitialized", &r);
    assert_eq!(
        run_code(dir, &["statsDB", "--report", "none", "--env", e], &f, 0),
        ""
    );
    let r = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(r["outputs"]["instances"], r["instances"].to_string(), "{r}");
    check("statsDB", &r);
}

#[test]
fn a_snapshot_report_matches_its_schema_and_stdout_stays_the_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (env, _, _) = crate::common::update::installed_sample(dir);
    std::fs::write(
        dir.join("conf.json"),
        r#"[{"snapshooter":{"name":"sample","rootTags":["0190aaaa000000000002"],"exclude":[],"outputDir":"snap"}}]"#,
    )
    .unwrap();
    let file = dir.join("report.json");
    let vars = [("CADKIT_REPORT_FILE", file.to_str().unwrap())];
    let args = [
        "snapshot",
        "--env",
        env.to_str().unwrap(),
        "--snapshot.config",
        "conf.json",
    ];
    for extra in [&["--dry-run"][..], &[], &["--report", "json"]] {
        let stdout = json(&run_code(dir, &[&args[..], extra].concat(), &vars, 0));
        let report = json(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(stdout, report["entries"], "{extra:?}");
        assert_eq!(report["dryRun"], extra == ["--dry-run"], "{report}");
        assert_eq!(report["entries"][0]["environment"]["kind"], "embedded");
        check("snapshot", &report);
    }
}

/// The commands that used to print their own JSON now set CI outputs like every step:
/// `$GITHUB_OUTPUT` on GitHub, the dotenv file on GitLab; a plan (a dry run) sets none.
#[test]
fn environment_update_and_install_commands_set_ci_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = crate::common::update::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    let (e, a, b) = (
        env.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    );
    let dir = tmp.path();
    let gh_out = dir.join("github_output");
    let out = gh_out.to_str().unwrap();
    let github = [("GITHUB_ACTIONS", "true"), ("GITHUB_OUTPUT", out)];
    run(
        dir,
        &["install", "--env", e, "--codeAsData.workingDir", a],
        &github,
    );
    let text = std::fs::read_to_string(&gh_out).unwrap();
    assert!(text.starts_with("files<<ghadelimiter_"), "{text}");

    std::fs::remove_file(&gh_out).unwrap();
    let plan = ["update", "--plan", "--env", e, "--codeAsData.workingDir", b];
    let r = json(&run_code(dir, &plan, &github, 2));
    assert_eq!(r["outputs"]["changed"], "true", "{r}");
    assert!(!gh_out.exists(), "a plan wrote step outputs");

    let dotenv = dir.join("cadkit.env");
    let gitlab = [
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_DIR", dir.to_str().unwrap()),
    ];
    run(dir, &["statsDB", "--env", e], &gitlab);
    let text = std::fs::read_to_string(&dotenv).unwrap();
    assert!(
        text.contains("CADKIT_INSTANCES=") && text.contains("CADKIT_RELATIONS="),
        "{text}"
    );
    run(
        dir,
        &["update", "--env", e, "--codeAsData.workingDir", b],
        &gitlab,
    );
    let text = std::fs::read_to_string(&dotenv).unwrap();
    assert!(
        text.contains("CADKIT_APPLIED=true") && text.contains("CADKIT_CHANGED=true"),
        "{text}"
    );
}
