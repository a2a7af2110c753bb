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
    // The agent's predefined variables, as `$(Name)` macros and as environment variables.
    let mut vars: Vec<(String, String)> = vec![
        (
            "AGENT_TEMPDIRECTORY".into(),
            work.path().display().to_string(),
        ),
        (
            "BUILD_ARTIFACTSTAGINGDIRECTORY".into(),
            work.path().display().to_string(),
        ),
    ];
    vars.extend(agent.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for step in t["steps"].as_array().unwrap() {
        // `task:` steps (publishing artifacts…) are the agent's own; only scripts run here.
        let Some(script) = step.get("bash").and_then(Value::as_str) else {
            continue;
        };
        let script = macros(script, &vars);
        let mut cmd = crate::common::command("bash");
        cmd.args(["--noprofile", "--norc", "-e", "-c", &script])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bins.display()),
            )
            .env("HOME", work.path())
            .env("TF_BUILD", "True")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(work.path());
        for (k, v) in step["env"].as_object().unwrap() {
            let mut text = v.as_str().unwrap().to_string();
            for (pn, pv) in &params {
                text = text.replace(&format!("${{{{ parameters.{pn} }}}}"), &render(pv));
                text = text.replace(
                    &format!("${{{{ lower(parameters.{pn}) }}}}"),
                    &render(pv).to_lowercase(),
                );
            }
            let text = macros(&text, &vars);
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

/// The agent's macro expansion: `$(Build.SourceVersion)` → the variable `BUILD_SOURCEVERSION`;
/// an undefined macro is left as written (as the agent does).
fn macros(text: &str, vars: &[(String, String)]) -> String {
    let re = regex::Regex::new(r"\$\(([A-Za-z][A-Za-z0-9_.]*)\)").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        let name = c[1].to_uppercase().replace('.', "_");
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| c[0].to_string())
    })
    .into_owned()
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

/// build, install and update, one after the other as steps of one job (absolute paths: each
/// step runs in its own folder here).
#[test]
fn build_install_and_update_templates_run_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    cadkit::demo::write_sample(&project).unwrap();
    let dist = tmp.path().join("dist");
    let env = tmp.path().join("env/env.sqlite");
    let (p, d, e) = (
        project.to_str().unwrap(),
        dist.to_str().unwrap(),
        env.to_str().unwrap(),
    );
    let out = run_template("build.yml", &[("project", p), ("workingDir", d)], &[]);
    assert!(
        out.contains("##vso[task.setvariable variable=patches;isOutput=true]19\n"),
        "{out}"
    );
    assert!(dist.join("import_order.json").is_file());
    let out = run_template("install.yml", &[("env", e), ("workingDir", d)], &[]);
    assert!(env.is_file(), "{out}");
    cadkit::demo::update::edit_sample_dist(&dist).unwrap();
    let before = std::fs::read(&env).unwrap();
    let out = run_template(
        "update.yml",
        &[("env", e), ("workingDir", d), ("dryRun", "true")],
        &[],
    );
    assert!(out.contains("\"dryRun\": true"), "{out}");
    assert_eq!(std::fs::read(&env).unwrap(), before, "a dry run wrote");
    let out = run_template("update.yml", &[("env", e), ("workingDir", d)], &[]);
    assert!(out.contains("\"applied\": true"), "{out}");
}

#[test]
fn image_template_writes_the_image_and_sets_digest_and_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(dist.join("m")).unwrap();
    std::fs::write(dist.join("import_order.json"), "[]").unwrap();
    std::fs::write(dist.join("m/a.newInst.json"), "{}").unwrap();
    let layout = format!("oci:{}", tmp.path().join("layout").display());
    let given = [
        ("kind", "codeasdata"),
        ("source", dist.to_str().unwrap()),
        ("base", "scratch"),
        ("output", layout.as_str()),
        ("username", ""),
    ];
    let agent = [("BUILD_SOURCEVERSION", SHA), ("SOURCE_DATE_EPOCH", "0")];
    let first = run_template("image.yml", &given, &agent);
    assert!(
        first.contains("##vso[task.setvariable variable=digest;isOutput=true]sha256:"),
        "{first}"
    );
    assert!(
        first.contains("##vso[task.setvariable variable=unchanged;isOutput=true]false\n"),
        "{first}"
    );
    let second = run_template("image.yml", &given, &agent);
    assert!(
        second.contains("##vso[task.setvariable variable=unchanged;isOutput=true]true\n"),
        "{second}"
    );
}

#[test]
fn snapshot_template_dumps_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    cadkit::demo::write_sample(&project).unwrap();
    let mut req = cadkit::build::BuildRequest::new(&project);
    req.working_dir = tmp.path().join("dist");
    let dist = cadkit::build::build(&req).unwrap().working_dir;
    let env = tmp.path().join("env.sqlite");
    cadkit::env::sqlite::installer::install(&env, &cadkit::env::InstallSpec::new(&dist)).unwrap();
    let out_dir = tmp.path().join("snap");
    let config = tmp.path().join("snapshot-config.json");
    std::fs::write(
        &config,
        serde_json::json!([{
            "snapshooter": {"name": "app", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": out_dir}
        }])
        .to_string(),
    )
    .unwrap();
    let out = run_template(
        "snapshot.yml",
        &[
            ("config", config.to_str().unwrap()),
            ("environment", env.to_str().unwrap()),
        ],
        &[("SYSTEM_ACCESSTOKEN", "az-access-token")],
    );
    assert!(
        out.contains("##vso[task.setvariable variable=reportFile;isOutput=true]"),
        "{out}"
    );
    assert!(
        walkdir::WalkDir::new(&out_dir)
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e
                .path()
                .to_string_lossy()
                .ends_with("Greeting.newInst.json")),
        "nothing dumped into {}",
        out_dir.display()
    );
}
