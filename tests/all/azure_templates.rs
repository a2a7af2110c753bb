//! The Azure Pipelines step templates run the way the agent runs a `bash:` step: template
//! parameters (given or default) expanded into `env:`, `TF_BUILD` and the agent variables
//! set, logging commands read from stdout. (No local Azure agent exists; YAML is read with
//! the ruamel.yaml that scripts/setup installs.)

use crate::common::tools;
use tools::yaml;

use cadkit::webhook::receiver::Receiver;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

const SHA: &str = "42bd534f0123456789abcdef0123456789abcdef";

/// Azure renders template expressions as text; booleans become `True`/`False`.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn run_template(name: &str, given: &[(&str, &str)], agent: &[(&str, &str)]) -> String {
    let t = yaml(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("azure")
            .join(name),
    );
    let mut params = Map::new();
    for p in t["parameters"].as_array().unwrap() {
        let n = p["name"].as_str().unwrap();
        let v = given
            .iter()
            .find(|(g, _)| *g == n)
            .map(|(_, v)| Value::String(v.to_string()))
            .or_else(|| p.get("default").cloned())
            .unwrap_or_else(|| panic!("parameter {n} of {name} has no default and was not given"));
        if let Some(values) = p.get("values").and_then(Value::as_array) {
            assert!(values.contains(&v), "{n}={v} not in {values:?}");
        }
        params.insert(n.to_string(), v);
    }
    let work = tempfile::tempdir().unwrap();
    let bins = Path::new(env!("CARGO_BIN_EXE_cadkit-tag"))
        .parent()
        .unwrap();
    let mut stdout = String::new();
    for step in t["steps"].as_array().unwrap() {
        let script = step["bash"].as_str().unwrap();
        let mut cmd = crate::common::command("bash");
        cmd.args(["--noprofile", "--norc", "-e", "-c", script])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bins.display()),
            )
            .env("HOME", work.path())
            .env("TF_BUILD", "True")
            .env("AGENT_TEMPDIRECTORY", work.path())
            .envs(agent.iter().copied())
            .current_dir(work.path());
        for (k, v) in step["env"].as_object().unwrap() {
            let mut text = v.as_str().unwrap().to_string();
            for (pn, pv) in &params {
                text = text.replace(&format!("${{{{ parameters.{pn} }}}}"), &render(pv));
            }
            assert!(
                !text.contains("${{"),
                "unexpanded expression in {k}: {text}"
            );
            cmd.env(k, text);
        }
        let o = cmd.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{name} failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout.push_str(&out);
    }
    stdout
}

#[test]
fn tag_template_sets_output_variables() {
    let out = run_template(
        "tag.yml",
        &[
            ("imageName", "client/shop"),
            ("environments", "production=^master-"),
        ],
        &[
            ("BUILD_SOURCEBRANCH", "refs/heads/master"),
            ("BUILD_SOURCEBRANCHNAME", "master"),
            ("BUILD_SOURCEVERSION", SHA),
        ],
    );
    assert!(
        out.contains("##vso[task.setvariable variable=tag;isOutput=true]master-42bd534f\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "##vso[task.setvariable variable=deploy-environments;isOutput=true]production\n"
        ),
        "{out}"
    );
    assert!(out.contains("##vso[task.uploadsummary]"), "{out}");
}

#[test]
fn registry_auth_template_registers_the_secret_first() {
    let out = run_template(
        "registry-auth.yml",
        &[
            ("registry", "registry.example"),
            ("username", "ci"),
            ("password", "az-secret-pw"),
        ],
        &[],
    );
    let secret = out
        .find("##vso[task.setsecret]az-secret-pw\n")
        .expect("password registered as a secret");
    assert!(secret < out.find('{').unwrap(), "{out}");
    assert_eq!(out.matches("az-secret-pw").count(), 1, "{out}");
    assert!(
        out.contains("##vso[task.setvariable variable=DOCKER_CONFIG]"),
        "{out}"
    );
}

#[test]
fn webhook_template_delivers() {
    let rx = Receiver::start().unwrap();
    let out = run_template(
        "webhook.yml",
        &[
            ("url", &rx.url("/p/i")),
            (
                "image",
                "registry.example/client/shop-frontend:master-42bd534f",
            ),
            ("token", "az-token-12345"),
            ("format", "acr"),
        ],
        &[],
    );
    assert!(
        out.contains("##vso[task.setvariable variable=status;isOutput=true]200\n"),
        "{out}"
    );
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer az-token-12345")
    );
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["action"], "push");
}
