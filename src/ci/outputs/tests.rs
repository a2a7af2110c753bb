use super::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A clonable in-memory writer standing in for stdout.
#[derive(Clone, Default)]
pub(crate) struct Buf(pub(crate) Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl Buf {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn outputs(platform: Platform, dir: &Path) -> (Outputs, Buf) {
    let buf = Buf::default();
    let paths = OutputPaths {
        github_output: Some(dir.join("output")),
        github_env: Some(dir.join("env")),
        github_step_summary: Some(dir.join("summary.md")),
        dotenv: (platform == Platform::GitLab).then(|| dir.join("cadkit.env")),
        azure_temp: Some(dir.to_path_buf()),
        report_file: Some(dir.join("report.json")),
    };
    (Outputs::new(platform, paths, Box::new(buf.clone())), buf)
}

/// Parse a `$GITHUB_OUTPUT` file the way the runner does.
pub(crate) fn parse_github_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_string(), value.join("\n")));
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

#[test]
fn github_outputs_survive_values_that_look_like_delimiters() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, buf) = outputs(Platform::GitHub, dir.path());
    let evil = "line1\nEOF\nghadelimiter_0\ninjected=1\n";
    o.set("tag", "master-42bd534f").unwrap();
    o.set("body", evil).unwrap();
    o.export_env("DOCKER_CONFIG", "/tmp/x").unwrap();
    let parsed = parse_github_file(&std::fs::read_to_string(dir.path().join("output")).unwrap());
    assert_eq!(
        parsed,
        vec![
            ("tag".into(), "master-42bd534f".into()),
            ("body".into(), evil.to_string()),
            ("DOCKER_CONFIG".into(), "/tmp/x".into()),
        ]
    );
    let env = parse_github_file(&std::fs::read_to_string(dir.path().join("env")).unwrap());
    assert_eq!(env, vec![("DOCKER_CONFIG".into(), "/tmp/x".into())]);
    assert_eq!(buf.text(), "", "no stdout command for GitHub outputs");
    assert!(o.set("bad name", "x").is_err());
}

#[test]
fn github_masks_summary_and_error_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, buf) = outputs(Platform::GitHub, dir.path());
    o.mask("s3cr%t\nline2");
    o.summary("## Tag\nmaster-1 with s3cr%t\nline2").unwrap();
    o.error(
        "bad: thing\nnext",
        Some(&Location {
            file: "a,b:c.yml".into(),
            line: Some(3),
            col: None,
        }),
    );
    let report = o
        .finish(serde_json::json!({"x": "s3cr%t\nline2"}), true)
        .unwrap();
    let text = buf.text();
    assert!(
        text.starts_with("::add-mask::s3cr%25t\n::add-mask::line2\n"),
        "{text}"
    );
    assert!(
        text.contains("::error file=a%2Cb%3Ac.yml,line=3::bad: thing%0Anext\n"),
        "{text}"
    );
    assert_eq!(report["x"], "***");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(file, report);
    assert!(!text.contains("s3cr%t\nline2"));
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert_eq!(summary, "## Tag\nmaster-1 with ***\n");
}

#[test]
fn gitlab_writes_a_dotenv_file_and_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, buf) = outputs(Platform::GitLab, dir.path());
    o.set("tag", "one").unwrap();
    o.set("tag", "master-42bd534f").unwrap();
    o.set("image-frontend", "r/n:p-frontend").unwrap();
    o.set("multi", "a\nb").unwrap();
    o.secret("password", "hunter22").unwrap();
    o.export_env("DOCKER_CONFIG", "/builds/x").unwrap();
    let env = std::fs::read_to_string(dir.path().join("cadkit.env")).unwrap();
    assert_eq!(
        env,
        "CADKIT_TAG=master-42bd534f\nCADKIT_IMAGE_FRONTEND=r/n:p-frontend\nDOCKER_CONFIG=/builds/x\n"
    );
    let report = o.finish(serde_json::json!({}), false).unwrap();
    assert_eq!(report["outputs"]["password"], "***");
    assert_eq!(report["warnings"].as_array().unwrap().len(), 2);
    assert!(!buf.text().contains("hunter22"));
}

#[test]
fn azure_logging_commands_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, buf) = outputs(Platform::Azure, dir.path());
    o.set("tag", "a%b\nc").unwrap();
    o.secret("token", "tok;en]").unwrap();
    o.export_env("DOCKER_CONFIG", "/a").unwrap();
    o.warning(
        "careful",
        Some(&Location {
            file: "x;y.yml".into(),
            line: Some(2),
            col: Some(5),
        }),
    );
    o.summary("# hi").unwrap();
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "##vso[task.setvariable variable=tag;isOutput=true]a%AZP25b%0Ac"
    );
    assert_eq!(lines[1], "##vso[task.setsecret]tok;en]");
    assert_eq!(
        lines[2],
        "##vso[task.setvariable variable=token;isOutput=true;issecret=true]tok;en]"
    );
    assert_eq!(lines[3], "##vso[task.setvariable variable=DOCKER_CONFIG]/a");
    assert_eq!(
        lines[4],
        "##vso[task.setvariable variable=DOCKER_CONFIG;isOutput=true]/a"
    );
    assert_eq!(
        lines[5],
        "##vso[task.logissue type=warning;sourcepath=x%3By.yml;linenumber=2;columnnumber=5]careful"
    );
    let path = lines[6].strip_prefix("##vso[task.uploadsummary]").unwrap();
    assert_eq!(std::fs::read_to_string(path).unwrap(), "# hi");
}

#[test]
fn finish_keeps_the_steps_own_fields_and_one_dry_run_key() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = outputs(Platform::GitHub, dir.path());
    let mut o = o.dry_run(true);
    o.warning("from the platform layer", None);
    let r = o
        .finish(
            serde_json::json!({"dryRun": true, "warnings": ["the step's own"]}),
            false,
        )
        .unwrap();
    assert!(r.get("dry_run").is_none(), "{r}");
    assert_eq!(r["dryRun"], true);
    assert_eq!(
        r["warnings"],
        serde_json::json!(["the step's own", "from the platform layer"])
    );
}

#[test]
fn dry_run_writes_nothing_but_reports_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (o, buf) = outputs(Platform::GitHub, dir.path());
    let mut o = o.dry_run(true);
    o.set("tag", "x").unwrap();
    o.summary("s").unwrap();
    let r = o.finish(serde_json::json!({"step": "tag"}), true).unwrap();
    assert!(!dir.path().join("output").exists());
    assert!(!dir.path().join("summary.md").exists());
    assert_eq!(r["dryRun"], true);
    assert_eq!(r["outputs"]["tag"], "x");
    assert!(buf.text().contains("\"step\": \"tag\""));
}

#[test]
fn plain_shell_only_reports_unless_a_dotenv_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.env");
    let env = [("CADKIT_DOTENV", p.to_str().unwrap())];
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let paths = OutputPaths::from_lookup(Platform::None, &get);
    let buf = Buf::default();
    let mut o = Outputs::new(Platform::None, paths, Box::new(buf.clone()));
    o.mask("pw");
    o.set("tag", "t").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "CADKIT_TAG=t\n");
    assert_eq!(buf.text(), "");
}
