//! The script of the GitHub action `actions/snapshot` run as the runner runs it (bash, inputs
//! in the environment, `$GITHUB_OUTPUT`, `$RUNNER_TEMP`), with the built `cadkit` on PATH and
//! the lighttpd git server: outputs `changed`, `commits` and `report-file` are right, a second
//! run reports no change, and the token never reaches the log.

use crate::common::gitserver;

use gitserver::GitServer;
use std::path::Path;

/// The `run: |` block of the step named `name`, unindented.
fn step_script(action: &str, name: &str) -> String {
    let start = action
        .find(&format!("    - name: {name}\n"))
        .unwrap_or_else(|| panic!("no step {name}"));
    let rest = &action[start..];
    let run = rest.find("      run: |").expect("a run block");
    let mut out = String::new();
    for line in rest[run..].lines().skip(1) {
        if !line.trim().is_empty() && !line.starts_with("        ") {
            break;
        }
        out.push_str(line.get(8..).unwrap_or(""));
        out.push('\n');
    }
    out
}

fn outputs(file: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn action_script_snapshots_and_sets_outputs() {
    const TOKEN: &str = "ghs_t0ken/with:chars@1";
    let server = GitServer::start("x-access-token", TOKEN);
    server.create_repo("app", "develop");
    let work = tempfile::tempdir().unwrap();
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
    std::fs::write(
        work.path().join("snapshot-config.json"),
        serde_json::json!([{
            "snapshooter": {"name": "app", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "snapshot"},
            "git": {"repo": server.url("app"), "branch": "develop"}
        }])
        .to_string(),
    )
    .unwrap();

    let action = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("actions/snapshot/action.yml"),
    )
    .unwrap();
    let script = step_script(&action, "Snapshot and push");
    assert!(script.contains("cadkit snapshot --report json"), "{script}");
    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let path = format!(
        "{}:{}",
        cadkit.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |n: usize| {
        let output_file = work.path().join(format!("github-output-{n}"));
        std::fs::write(&output_file, "").unwrap();
        let o = crate::common::command("bash")
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                &script,
            ])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("RUNNER_TEMP", &runner_temp)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_ACTIONS", "true")
            // The inputs, as action.yml maps them (defaults of the action).
            .env("CADKIT_SNAPSHOT_CONFIG", "./snapshot-config.json")
            .env("INPUT_ENVIRONMENT", "db/env.sqlite")
            .env("CADKIT_GIT_TOKEN", TOKEN)
            .env("INPUT_REPOSITORIES_DIR", "")
            .env(
                "CADKIT_SNAPSHOT_COMMIT_MESSAGE",
                "Snapshot at {date} in {folder}",
            )
            .env("CADKIT_GIT_AUTHOR_NAME", "github-actions[bot]")
            .env(
                "CADKIT_GIT_AUTHOR_EMAIL",
                "41898282+github-actions[bot]@users.noreply.github.com",
            )
            .env("CADKIT_GIT_MAX_ATTEMPTS", "8")
            .env("CADKIT_GIT_CREATE_BRANCH", "false")
            .env("CADKIT_DRY_RUN", "false")
            .env("LOG_LEVEL", "debug")
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "action script failed:\n{log}");
        assert!(
            !log.contains(TOKEN) && !log.contains("t0ken"),
            "token in the log:\n{log}"
        );
        outputs(&output_file)
    };

    let first = run(1);
    let tip = server.tip("app", "develop").unwrap();
    assert_eq!(first["changed"], "true", "{first:?}");
    assert_eq!(first["commits"], tip);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&first["report-file"]).unwrap()).unwrap();
    assert_eq!(report[0]["git"]["commit"], tip.as_str());
    assert!(runner_temp.join("cadkit-repositories/app/.git").is_dir());

    let second = run(2);
    assert_eq!(second["changed"], "false", "{second:?}");
    assert_eq!(second["commits"], "");
    assert_eq!(server.tip("app", "develop").unwrap(), tip);

    // The Azure template's bash step, with its env: mapping, on an agent that has cadkit.
    let azure =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("azure/snapshot.yml"))
            .unwrap();
    let start = azure.find("  - bash: |\n").expect("bash step") + "  - bash: |\n".len();
    let mut script = String::new();
    for line in azure[start..].lines() {
        if !line.trim().is_empty() && !line.starts_with("      ") {
            break;
        }
        script.push_str(line.get(6..).unwrap_or(""));
        script.push('\n');
    }
    std::fs::write(
        work.path().join("snapshot-config.json"),
        serde_json::json!([{
            "snapshooter": {"name": "app", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "azure-snapshot"},
            "git": {"repo": server.url("app"), "branch": "develop"}
        }])
        .to_string(),
    )
    .unwrap();
    let agent_temp = work.path().join("agent-temp");
    let staging = work.path().join("staging");
    std::fs::create_dir_all(&agent_temp).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let o = crate::common::command("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .current_dir(work.path())
        .env("PATH", &path)
        .env("TF_BUILD", "True")
        .env("AGENT_TEMPDIRECTORY", &agent_temp)
        .env("BUILD_ARTIFACTSTAGINGDIRECTORY", &staging)
        .env("CADKIT_SNAPSHOT_CONFIG", "./snapshot-config.json")
        .env("CADKIT_INPUT_ENVIRONMENT", "db/env.sqlite")
        .env("CADKIT_GIT_TOKEN", TOKEN)
        .env(
            "CADKIT_SNAPSHOT_COMMIT_MESSAGE",
            "Snapshot at {date} in {folder}",
        )
        .env("CADKIT_GIT_AUTHOR_NAME", "cadkit")
        .env("CADKIT_GIT_AUTHOR_EMAIL", "cadkit@localhost")
        .env("CADKIT_GIT_MAX_ATTEMPTS", "8")
        // `${{ lower(parameters.x) }}` of the booleans (Azure renders them as True/False).
        .env("CADKIT_GIT_CREATE_BRANCH", "false")
        .env("CADKIT_DRY_RUN", "false")
        .env("CADKIT_SOURCE_URL", "")
        .env("CADKIT_SOURCE_REF", "")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "azure step failed:\n{log}");
    assert!(
        !log.contains(TOKEN) && !log.contains("t0ken"),
        "token in the log:\n{log}"
    );
    let report = staging.join("cadkit-snapshot-report.json");
    assert!(
        log.contains(&format!(
            "##vso[task.setvariable variable=reportFile;isOutput=true]{}",
            report.display()
        )),
        "{log}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let azure_tip = server.tip("app", "develop").unwrap();
    assert_ne!(azure_tip, tip);
    assert_eq!(v[0]["git"]["commit"], azure_tip.as_str());
    assert!(agent_temp.join("cadkit-repositories/app/.git").is_dir());
}
