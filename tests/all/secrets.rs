//! Secrets shorter than 4 characters are refused with a clear error: masking such a value
//! (`***` for every `ab` in every log line and report) would garble everything cadkit and
//! the CI print.

use std::process::Command;

fn clean(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("CADKIT_") || k.starts_with("GITHUB_") || k.starts_with("GITLAB") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn a_short_registry_password_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean(&mut crate::common::cadkit())
        .args([
            "registry-auth",
            "--registry",
            "registry.example",
            "--username",
            "ci",
        ])
        .arg("--docker-config")
        .arg(dir.path())
        .env("CADKIT_REGISTRY_PASSWORD", "abc")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("shorter than 4 characters"), "{err}");
    assert!(err.contains("CADKIT_REGISTRY_PASSWORD"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_short_webhook_token_or_secret_is_refused() {
    for var in ["CADKIT_WEBHOOK_TOKEN", "CADKIT_WEBHOOK_SECRET"] {
        let out = clean(&mut crate::common::cadkit())
            .args([
                "webhook",
                "--url",
                "http://127.0.0.1:9/hook",
                "--image",
                "registry.example/a/b-frontend:master-42bd534f",
            ])
            .env(var, "xy")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("shorter than 4 characters"), "{var}: {err}");
        assert!(err.contains(var), "{err}");
    }
}
