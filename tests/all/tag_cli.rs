//! `cadkit-tag` run as a CI would run it: a clean environment holding only the platform's
//! variables, outputs read back the way each platform reads them.

use std::path::Path;
use std::process::Output;

const SHA: &str = "42bd534f0123456789abcdef0123456789abcdef";

fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    crate::common::cadkit_bin("cadkit-tag")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

fn report(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let start = text.find("\n{").map(|i| i + 1).unwrap_or(0);
    serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn github_pull_request_uses_head_branch_and_head_sha_and_writes_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        format!(r#"{{"pull_request":{{"number":3,"head":{{"sha":"{SHA}"}}}}}}"#),
    )
    .unwrap();
    let output = dir.path().join("gh_output");
    let summary = dir.path().join("summary.md");
    let o = run(
        dir.path(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/3/merge"),
            ("GITHUB_HEAD_REF", "feature/New_UI"),
            ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("CADKIT_IMAGE_NAME", "client/shop"),
            ("CADKIT_REGISTRY", "registry.example"),
            (
                "CADKIT_ENVIRONMENTS",
                "production=^master-\nreview=^feature-",
            ),
        ],
        &["--lowercase"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&o);
    assert_eq!(r["tag"], "feature-new_ui-42bd534f");
    assert_eq!(r["pullRequest"], "3");
    assert_eq!(r["environments"], serde_json::json!(["review"]));
    let out = std::fs::read_to_string(&output).unwrap();
    assert!(out.contains("tag<<ghadelimiter_"), "{out}");
    assert!(out.contains("\nfeature-new_ui-42bd534f\n"), "{out}");
    assert!(
        out.contains("\nregistry.example/client/shop-backend:feature-new_ui-42bd534f\n"),
        "{out}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("`feature-new_ui-42bd534f`"));
}

#[test]
fn gitlab_merge_request_writes_the_dotenv_report() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_DIR", dir.path().to_str().unwrap()),
            ("CI_COMMIT_REF_NAME", "refs/merge-requests/5/head"),
            ("CI_MERGE_REQUEST_IID", "5"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "develop"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_REGISTRY", "registry.gitlab.example"),
            ("CADKIT_IMAGE_NAME", "g/p"),
        ],
        &["--environment", "codev=^develop-", "--require-environment"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = std::fs::read_to_string(dir.path().join("cadkit.env")).unwrap();
    assert!(
        env.lines().any(|l| l == "CADKIT_TAG=develop-42bd534f"),
        "{env}"
    );
    assert!(
        env.lines().any(|l| l == "CADKIT_DEPLOY_ENVIRONMENTS=codev"),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|l| l
                == "CADKIT_IMAGE_FRONTEND=registry.gitlab.example/g/p-frontend:develop-42bd534f"),
        "{env}"
    );
    assert!(env.lines().all(|l| l
        .split_once('=')
        .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))));
}

#[test]
fn azure_full_branch_and_output_variables() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/heads/release/2.0"),
            ("BUILD_SOURCEBRANCHNAME", "2.0"),
            ("BUILD_SOURCEVERSION", SHA),
            ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("##vso[task.setvariable variable=tag;isOutput=true]release-2.0-42bd534f\n"),
        "{text}"
    );
    assert!(text.contains("##vso[task.uploadsummary]"), "{text}");
}

#[test]
fn plain_shell_with_env_vars_only_and_require_environment_failure() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run(
        dir.path(),
        &[("CADKIT_BRANCH", "master"), ("CADKIT_COMMIT", SHA)],
        &["--sha-length", "12"],
    );
    assert!(ok.status.success());
    let text = String::from_utf8_lossy(&ok.stdout);
    let r: serde_json::Value =
        serde_json::from_str(&text).expect("plain shell stdout is pure JSON");
    assert_eq!(r["tag"], "master-42bd534f0123");
    // Flag beats CADKIT_*.
    let flag = run(
        dir.path(),
        &[("CADKIT_BRANCH", "master"), ("CADKIT_COMMIT", SHA)],
        &["--branch", "other"],
    );
    assert_eq!(report(&flag)["tag"], "other-42bd534f");

    let fail = run(
        dir.path(),
        &[("CADKIT_BRANCH", "feature/x"), ("CADKIT_COMMIT", SHA)],
        &[
            "--environment",
            "production=^master-",
            "--require-environment",
        ],
    );
    assert_eq!(fail.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&fail.stderr).contains("matches none of the 1 environment rules")
    );

    // Outside a git checkout and without variables: a clear error.
    let none = run(dir.path(), &[], &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr)
        .contains("no branch: pass --branch or set CADKIT_BRANCH"));
}

#[test]
fn a_bad_environments_file_is_annotated_at_its_line_on_github() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("envs.txt");
    std::fs::write(&rules, "production=^master-\n# codev\nnot a rule\n").unwrap();
    let o = run(
        dir.path(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("CADKIT_BRANCH", "master"),
            ("CADKIT_COMMIT", SHA),
        ],
        &["--environments-file", rules.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let file = rules
        .display()
        .to_string()
        .replace(':', "%3A")
        .replace(',', "%2C");
    assert!(
        stdout.contains(&format!("::error file={file},line=3::")),
        "{stdout}"
    );
}
