//! One report shape per step: camelCase keys everywhere (payload bodies excepted: they are
//! the registries' formats), one `dryRun` key, the step's own fields kept.

use serde_json::Value;

/// Keys that are not camelCase, with their JSON path. Values under `outputs` (CI output
/// names), `labels` (OCI label names), `request` (the HTTP request as sent) and `env`
/// (variable names) are data, not report keys.
fn bad_keys(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k.contains('_') || k.contains('-') || k.starts_with(char::is_uppercase) {
                    out.push(format!("{path}/{k}"));
                }
                if !matches!(k.as_str(), "outputs" | "labels" | "request" | "env") {
                    bad_keys(child, &format!("{path}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                bad_keys(item, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn report(args: &[&str], vars: &[(&str, &str)], cwd: &std::path::Path) -> Value {
    let mut cmd = crate::common::cadkit();
    for (k, _) in std::env::vars() {
        if k.starts_with("CADKIT_") || k.starts_with("GITHUB_") || k.starts_with("GITLAB") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("CI").env_remove("TF_BUILD");
    let out = cmd
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(cwd)
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
fn every_ci_step_reports_camel_case_keys_and_one_dry_run_key() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "42bd534f0123456789abcdef0123456789abcdef";
    let reports = [
        (
            "tag",
            report(
                &[
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
                    "--dry-run",
                ],
                &[],
                dir.path(),
            ),
        ),
        (
            "registry-auth",
            report(
                &[
                    "registry-auth",
                    "--registry",
                    "ghcr.io",
                    "--username",
                    "ci",
                    "--dry-run",
                ],
                &[("CADKIT_REGISTRY_PASSWORD", "long-enough")],
                dir.path(),
            ),
        ),
        (
            "webhook",
            report(
                &[
                    "webhook",
                    "--url",
                    "http://127.0.0.1:9/hook",
                    "--image",
                    "ghcr.io/acme/shop-frontend:master-42bd534f",
                    "--dry-run",
                ],
                &[("CADKIT_WEBHOOK_TOKEN", "a-long-token")],
                dir.path(),
            ),
        ),
    ];
    // A delivery that fails: attempts with their waits, in the report.
    let delivery = {
        let mut cmd = crate::common::cadkit();
        for (k, _) in std::env::vars() {
            if k.starts_with("CADKIT_") || k.starts_with("GITHUB_") || k.starts_with("GITLAB") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args([
                "webhook",
                "--url",
                "http://127.0.0.1:9/hook",
                "--image",
                "ghcr.io/acme/shop-frontend:master-42bd534f",
            ])
            .env("CADKIT_WEBHOOK_MAX_ATTEMPTS", "2")
            .env("CADKIT_WEBHOOK_BACKOFF", "1ms")
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    assert!(
        delivery["deliveries"][0]["attempts"]
            .as_array()
            .is_some_and(|a| a.len() == 2),
        "{delivery}"
    );
    let mut bad = Vec::new();
    bad_keys(&delivery, "", &mut bad);
    assert!(bad.is_empty(), "webhook delivery: {bad:?}\n{delivery}");
    for (step, r) in &reports {
        let mut bad = Vec::new();
        bad_keys(r, "", &mut bad);
        assert!(
            bad.is_empty(),
            "{step}: keys not in camelCase: {bad:?}\n{r}"
        );
        assert_eq!(r["dryRun"], true, "{step}: {r}");
    }
}
