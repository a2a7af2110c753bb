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

/// Validate `report` against the committed schema of `step`; the errors, if any.
fn check(step: &str, report: &Value) {
    let text = std::fs::read_to_string(schema_dir().join(format!("{step}.json"))).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{step}: {errors:?}\n{report:#}");
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Value {
    let out = crate::common::cadkit()
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
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
