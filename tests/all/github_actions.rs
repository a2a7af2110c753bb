//! The composite actions run the way the GitHub runner runs them: each `run:` step in
//! `bash --noprofile --norc -eo pipefail`, with its `env:` evaluated from the inputs (given
//! or default), `GITHUB_ACTION_PATH`, `GITHUB_OUTPUT`, `GITHUB_ENV`; the binaries of this
//! build are on PATH, so the install step takes them. Every output an action declares must
//! be set by its binary. (YAML is read with the ruamel.yaml that scripts/setup installs.)

use crate::common::gitserver;
use crate::common::image as image_registry;
use crate::common::tools;
use tools::yaml;

use cadkit::webhook::receiver::Receiver;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SHA: &str = "42bd534f0123456789abcdef0123456789abcdef";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `${{ inputs.x }}` → the input's value; any other expression is unsupported here.
fn eval(template: &str, inputs: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find("}}").expect("closed expression") + i;
        let expr = rest[i + 3..j].trim();
        let name = expr
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("unsupported expression {expr:?}"));
        out.push_str(
            inputs
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("unknown input {name}")),
        );
        rest = &rest[j + 2..];
    }
    out.push_str(rest);
    out
}

fn parse_output_file(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut v = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                v.push(l);
            }
            out.insert(name.into(), Value::String(v.join("\n")));
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(k.into(), Value::String(v.into()));
        }
    }
    out
}

struct Ran {
    _work: tempfile::TempDir,
    outputs: Map<String, Value>,
    env_file: String,
    stdout: String,
}

/// Run the action at `dir` with `given` inputs and extra environment.
/// With `all_outputs`, every output the action declares must have been set.
fn run_action(dir: &Path, given: &[(&str, &str)], all_outputs: bool) -> Ran {
    let action = yaml(&dir.join("action.yml"));
    let mut inputs = Map::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        let v = given
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| {
                spec.get("default")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_default();
        if spec.get("required").and_then(Value::as_bool) == Some(true) && v.is_empty() {
            panic!("required input {name} not given");
        }
        inputs.insert(name.clone(), Value::String(v));
    }
    for (n, _) in given {
        assert!(
            inputs.contains_key(*n),
            "{n} is not an input of {}",
            dir.display()
        );
    }
    let work = tempfile::tempdir().unwrap();
    let bins = Path::new(env!("CARGO_BIN_EXE_cadkit-tag"))
        .parent()
        .unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bins.display());
    let env_file = work.path().join("github_env");
    let mut outputs = Map::new();
    let mut stdout = String::new();
    assert_eq!(action["runs"]["using"], "composite");
    for step in action["runs"]["steps"].as_array().unwrap() {
        assert_eq!(step["shell"], "bash");
        let out_file = work.path().join(format!("output-{}", outputs.len()));
        let mut cmd = crate::common::command("bash");
        cmd.args([
            "--noprofile",
            "--norc",
            "-eo",
            "pipefail",
            "-c",
            step["run"].as_str().unwrap(),
        ])
        .env_clear()
        .env("PATH", &path)
        .env("HOME", work.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTION_PATH", dir)
        .env("GITHUB_OUTPUT", &out_file)
        .env("GITHUB_ENV", &env_file)
        .env("GITHUB_PATH", work.path().join("github_path"))
        .env("GITHUB_STEP_SUMMARY", work.path().join("summary.md"))
        .env("RUNNER_TEMP", work.path())
        .current_dir(work.path());
        if let Some(env) = step.get("env").and_then(Value::as_object) {
            for (k, v) in env {
                cmd.env(k, eval(v.as_str().unwrap(), &inputs));
            }
        }
        let o = cmd.output().unwrap();
        stdout.push_str(&String::from_utf8_lossy(&o.stdout));
        assert!(
            o.status.success(),
            "step {:?} of {} failed:\n{}\n{}",
            step.get("name"),
            dir.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if step.get("id").and_then(Value::as_str) == Some("run") {
            outputs = parse_output_file(&std::fs::read_to_string(&out_file).unwrap_or_default());
        }
    }
    // Every declared output must come from the step.
    for (name, spec) in action["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|_| all_outputs)
    {
        let value = spec["value"].as_str().unwrap();
        let key = value
            .trim_start_matches("${{")
            .trim_end_matches("}}")
            .trim();
        let key = key
            .strip_prefix("steps.run.outputs.")
            .unwrap_or_else(|| panic!("output {name}: {value}"));
        assert!(
            outputs.contains_key(key),
            "{}: output {name} ({key}) was not set; set: {:?}",
            dir.display(),
            outputs.keys().collect::<Vec<_>>()
        );
    }
    let env_text = std::fs::read_to_string(&env_file).unwrap_or_default();
    Ran {
        _work: work,
        outputs,
        env_file: env_text,
        stdout,
    }
}

#[test]
fn tag_action_with_defaults_sets_every_output() {
    let r = run_action(
        &root().join("actions/tag"),
        &[
            ("branch", "feature/New"),
            ("commit", SHA),
            ("image-name", "client/shop"),
            ("registry", "registry.example"),
            ("environments", "production=^master-\nreview=^feature-"),
        ],
        true,
    );
    assert_eq!(r.outputs["tag"], "feature-New-42bd534f");
    assert_eq!(r.outputs["deploy-environments"], "review");
    assert_eq!(
        r.outputs["image-backend"],
        "registry.example/client/shop-backend:feature-New-42bd534f"
    );
}

#[test]
fn registry_auth_action_exports_docker_config_and_masks() {
    let r = run_action(
        &root().join("actions/registry-auth"),
        &[
            ("registry", "registry.example:5000"),
            ("username", "ci"),
            ("password", "p4ss-w0rd"),
        ],
        true,
    );
    let mask = r
        .stdout
        .find("::add-mask::p4ss-w0rd\n")
        .expect("password masked");
    assert!(mask < r.stdout.find('{').unwrap(), "{}", r.stdout);
    assert_eq!(r.stdout.matches("p4ss-w0rd").count(), 1, "{}", r.stdout);
    let env = parse_output_file(&r.env_file);
    let dir = env["DOCKER_CONFIG"].as_str().unwrap();
    assert!(dir.ends_with("cadkit-docker-config"));
    let cfg = std::fs::read_to_string(Path::new(dir).join("config.json")).unwrap();
    assert!(cfg.contains("registry.example:5000"));
    assert_eq!(r.outputs["docker-config"], dir);
}

#[test]
fn webhook_action_delivers() {
    let rx = Receiver::start().unwrap();
    let url = rx.url("/shop/prod");
    let r = run_action(
        &root().join("actions/webhook"),
        &[
            ("url", &url),
            (
                "image",
                r#"["registry.example/client/shop-frontend:master-42bd534f"]"#,
            ),
            ("token", "tok-123456789"),
            ("secret", "s3cret-key"),
        ],
        true,
    );
    assert_eq!(r.outputs["status"], "200");
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer tok-123456789")
    );
    assert!(reqs[0].header("x-cadkit-signature-256").is_some());
}

#[test]
fn root_action_runs_a_step_with_line_separated_args() {
    let r = run_action(
        &root(),
        &[
            ("step", "tag"),
            (
                "args",
                &format!("--branch\nrelease/1 x\n--commit\n{SHA}\n--lowercase"),
            ),
        ],
        false,
    );
    assert_eq!(r.outputs["tag"], "release-1-x-42bd534f");
}

#[test]
fn image_action_writes_an_oci_layout_and_sets_its_outputs() {
    let data = tempfile::tempdir().unwrap();
    let source = data.path().join("codeAsData");
    std::fs::create_dir_all(source.join("acme.app")).unwrap();
    std::fs::write(source.join("import_order.json"), "[]").unwrap();
    std::fs::write(source.join("acme.app/a.newInst.json"), "{}").unwrap();
    let layout = data.path().join("layout");
    let r = run_action(
        &root().join("actions/image"),
        &[
            ("kind", "codeasdata"),
            ("source", source.to_str().unwrap()),
            ("base", "scratch"),
            ("output", &format!("oci:{}:demo", layout.display())),
            ("labels", "org.opencontainers.image.revision=42bd534f"),
        ],
        true,
    );
    assert!(r.outputs["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(layout.join("index.json").is_file());
    let report = std::fs::read_to_string(r.outputs["report"].as_str().unwrap()).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["digest"], r.outputs["digest"]);
}

/// Every file under `root` with its bytes.
fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// `dry-run: true` on the root action (what sets `CADKIT_DRY_RUN`) for every step it runs:
/// no file changes (project, environment, Docker config), no step output or exported
/// variable, nothing pushed to the registry or the git remote, no request to the webhook
/// receiver. (A snapshot with a `git` entry still clones into its repositories folder, a
/// read of the remote, kept outside the checked tree.)
#[test]
fn root_action_dry_run_changes_nothing_in_any_step() {
    let base = tempfile::tempdir().unwrap();
    let b = base.path();
    let project = b.join("project");
    cadkit::demo::write_sample(&project).unwrap();
    let mut req = cadkit::build::BuildRequest::new(&project);
    req.working_dir = b.join("dist");
    let dist = cadkit::build::build(&req).unwrap().working_dir;
    let edited = b.join("edited");
    tools_copy(&dist, &edited);
    cadkit::demo::update::edit_sample_dist(&edited).unwrap();
    let env = b.join("env.sqlite");
    cadkit::env::sqlite::installer::install(&env, &cadkit::env::InstallSpec::new(&dist)).unwrap();
    std::fs::create_dir(b.join("docker")).unwrap();
    const TOKEN: &str = "git-t0ken-dry";
    let server = gitserver::GitServer::start("x-access-token", TOKEN);
    server.create_repo("app", "develop");
    let tip = server.tip("app", "develop");
    std::fs::write(
        b.join("snapshot-config.json"),
        serde_json::json!([{
            "snapshooter": {"name": "app", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "snapshot"},
            "git": {"repo": server.url("app"), "branch": "develop"}
        }])
        .to_string(),
    )
    .unwrap();
    let repos = tempfile::tempdir().unwrap();
    let reg = image_registry::TestRegistry::start();
    let rx = Receiver::start().unwrap();
    let before = tree(b);
    let s = |p: &Path| p.display().to_string();
    type Secrets<'a> = Vec<(&'a str, &'a str)>;
    let steps: Vec<(&str, Vec<String>, Secrets)> = vec![
        ("build", vec!["--project".into(), s(&project)], vec![]),
        (
            "snapshot",
            vec![
                "--env".into(),
                s(&env),
                "--snapshot.config".into(),
                s(&b.join("snapshot-config.json")),
                "--snapshot.repositoriesDir".into(),
                s(repos.path()),
            ],
            vec![("token", TOKEN)],
        ),
        (
            "image",
            vec![
                "--kind".into(),
                "codeasdata".into(),
                "--source".into(),
                s(&dist),
                "--base".into(),
                "scratch".into(),
                "--output".into(),
                format!("{}/app/patches:1", reg.host),
                "--username".into(),
                image_registry::USER.into(),
            ],
            vec![("password", image_registry::PASS)],
        ),
        (
            "update",
            vec![
                "--env".into(),
                s(&env),
                "--codeAsData.workingDir".into(),
                s(&edited),
            ],
            vec![],
        ),
        (
            "tag",
            [
                "--branch",
                "master",
                "--commit",
                SHA,
                "--image-name",
                "acme/shop",
                "--registry",
                "ghcr.io",
            ]
            .map(String::from)
            .to_vec(),
            vec![],
        ),
        (
            "registry-auth",
            vec![
                "--registry".into(),
                "ghcr.io".into(),
                "--username".into(),
                "ci".into(),
                "--docker-config".into(),
                s(&b.join("docker")),
            ],
            vec![("password", "registry-pw")],
        ),
        (
            "webhook",
            vec![
                "--url".into(),
                rx.url("/shop/prod"),
                "--image".into(),
                "ghcr.io/acme/shop-codeasdata:master-42bd534f".into(),
            ],
            vec![("token", "webhook-token")],
        ),
    ];
    for (step, args, secrets) in &steps {
        let args = args.join("\n");
        let mut given = vec![
            ("step", *step),
            ("args", args.as_str()),
            ("dry-run", "true"),
        ];
        given.extend(secrets.iter().copied());
        let r = run_action(&root(), &given, false);
        assert!(
            r.outputs.is_empty(),
            "{step}: outputs set in a dry run: {:?}",
            r.outputs
        );
        assert!(
            r.env_file.is_empty(),
            "{step}: variables exported: {}",
            r.env_file
        );
        assert!(
            r.stdout.contains("\"dryRun\": true"),
            "{step}: {}",
            r.stdout
        );
        assert_eq!(tree(b), before, "{step} changed files");
    }
    assert_eq!(reg.manifest_status("app/patches", "1"), 404, "image pushed");
    assert_eq!(server.tip("app", "develop"), tip, "snapshot pushed");
    assert!(rx.requests().is_empty(), "webhook sent");
}

fn tools_copy(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}
