//! Step outputs on every platform: one small API, the right commands underneath.
//!
//! | call | GitHub Actions | GitLab CI | Azure Pipelines | plain shell |
//! |---|---|---|---|---|
//! | [`Outputs::set`] | `$GITHUB_OUTPUT` (`name<<DELIM`, random delimiter never found in the value) | `CADKIT_<NAME>=value` in the dotenv file | `##vso[task.setvariable variable=name;isOutput=true]` | report only |
//! | [`Outputs::export_env`] | `$GITHUB_ENV` + output | `NAME=value` in the dotenv file | `##vso[task.setvariable variable=NAME]` + output | report only |
//! | [`Outputs::mask`] | `::add-mask::` | nothing exists at run time: never printed | `##vso[task.setsecret]` | redacted from cadkit's own output |
//! | [`Outputs::summary`] | appended to `$GITHUB_STEP_SUMMARY` | – | `##vso[task.uploadsummary]<file>` | – |
//! | [`Outputs::error`] / [`Outputs::warning`] | `::error file=…,line=…::` | stderr | `##vso[task.logissue type=error;sourcepath=…]` | stderr |
//! | [`Outputs::finish`] | JSON report on stdout | same | same | same |
//!
//! The dotenv file is `$CADKIT_DOTENV` when set (on any platform, so a plain shell can use
//! it too), else `cadkit.env` in the current folder on GitLab; declare it as
//! `artifacts: reports: dotenv: cadkit.env`. Values holding a newline cannot be written
//! there (GitLab's dotenv has no multi-line form): they are left out with a warning.
//!
//! `CADKIT_REPORT_FILE` also writes the report to a file (handy on GitHub and Azure, where
//! stdout carries platform commands too).
//!
//! Dry run ([`Outputs::dry_run`]): nothing is written to output files and no output
//! command is printed; masks still are. The report lists the outputs that would have been
//! set, under `outputs`, and carries `"dryRun": true`.

use super::Platform;

mod syntax;
use anyhow::{bail, Context as _, Result};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::PathBuf;
use syntax::{append, check_name, dotenv_key};
pub use syntax::{
    escape_azure, escape_azure_property, escape_data, escape_property, github_heredoc,
};

/// The fields [`Outputs::finish`] adds around every step's report: a step's own report
/// never uses these names (checked by a test over every step's schema).
pub const ENVELOPE_FIELDS: [&str; 3] = ["dryRun", "outputs", "warnings"];

/// What [`Outputs::finish_report_as`] prints on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdout {
    /// The report with its envelope, as pretty JSON.
    Report,
    /// Nothing (`--report none`, or commands silent by default as with the toolkit).
    Nothing,
    /// This text (redacted) instead of the report: a toolkit-defined value
    /// (`isDbInitialized`'s `true`) or a shape other tools parse (`snapshot`'s array).
    Text(String),
}

/// Where each platform's output files live (from the environment by default).
#[derive(Debug, Clone, Default)]
pub struct OutputPaths {
    /// `$GITHUB_OUTPUT`: step outputs (`name<<DELIM` heredocs).
    pub github_output: Option<PathBuf>,
    /// `$GITHUB_ENV`: variables for the job's later steps.
    pub github_env: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`: markdown shown on the run's page.
    pub github_step_summary: Option<PathBuf>,
    /// The dotenv file (`$CADKIT_DOTENV`, or `cadkit.env` on GitLab), GitLab's only way to pass
    /// values to later jobs.
    pub dotenv: Option<PathBuf>,
    /// Folder for Azure's summary file (`AGENT_TEMPDIRECTORY`).
    pub azure_temp: Option<PathBuf>,
    /// Also write the JSON report here (`CADKIT_REPORT_FILE`), on any platform.
    pub report_file: Option<PathBuf>,
}

impl OutputPaths {
    /// The paths from CI variables read through `get` (tests pass a map instead of the process
    /// environment); empty values count as unset.
    pub fn from_lookup(platform: Platform, get: &dyn Fn(&str) -> Option<String>) -> OutputPaths {
        let var = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dotenv = var("CADKIT_DOTENV").or_else(|| {
            (platform == Platform::GitLab).then(|| {
                var("CI_PROJECT_DIR")
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("cadkit.env")
            })
        });
        OutputPaths {
            github_output: var("GITHUB_OUTPUT"),
            github_env: var("GITHUB_ENV"),
            github_step_summary: var("GITHUB_STEP_SUMMARY"),
            dotenv,
            azure_temp: var("AGENT_TEMPDIRECTORY"),
            report_file: var("CADKIT_REPORT_FILE"),
        }
    }
}

/// A source location for annotations.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// The file, as the platform shows it (relative to the repository root).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub col: Option<u32>,
}

/// The outputs of one step. See the module documentation.
pub struct Outputs {
    platform: Platform,
    paths: OutputPaths,
    dry_run: bool,
    out: Box<dyn Write + Send>,
    secrets: Vec<String>,
    values: Map<String, Value>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs")
            .field("platform", &self.platform)
            .field("dry_run", &self.dry_run)
            .field("outputs", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Outputs {
    /// Outputs for the platform running this process, commands on stdout.
    pub fn detect() -> Outputs {
        let get = |k: &str| std::env::var(k).ok();
        let platform = Platform::from_lookup(&|k| get(k).filter(|v| !v.is_empty()));
        Outputs::new(
            platform,
            OutputPaths::from_lookup(platform, &get),
            Box::new(std::io::stdout()),
        )
    }

    /// Outputs with explicit paths and command stream (tests, embedding).
    pub fn new(platform: Platform, paths: OutputPaths, out: Box<dyn Write + Send>) -> Outputs {
        Outputs {
            platform,
            paths,
            dry_run: false,
            out,
            secrets: Vec::new(),
            values: Map::new(),
            warnings: Vec::new(),
        }
    }

    /// Turn dry-run on or off (see the module documentation).
    pub fn dry_run(mut self, on: bool) -> Outputs {
        self.dry_run = on;
        self
    }

    /// Whether this run writes nothing (steps check it before any side effect of their own).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The platform the outputs are written for.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The outputs set so far.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Register a secret: masked by the platform from now on, and replaced by `***` in
    /// everything cadkit prints (reports, errors, summaries). Call it before anything
    /// that could show the value.
    pub fn mask(&mut self, value: &str) {
        if value.is_empty() || self.secrets.iter().any(|s| s == value) {
            return;
        }
        self.secrets.push(value.to_string());
        super::register_secret(value);
        // Masks are per line on GitHub and Azure.
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            let cmd = match self.platform {
                Platform::GitHub => format!("::add-mask::{}\n", escape_data(line)),
                Platform::Azure => format!("##vso[task.setsecret]{}\n", escape_azure(line)),
                _ => continue,
            };
            let _ = self.out.write_all(cmd.as_bytes());
        }
        let _ = self.out.flush();
    }

    /// Replace every registered secret in `text` by `***`: this step's
    /// ([`Outputs::mask`]) and the process's ([`super::register_secret`]).
    pub fn redact(&self, text: &str) -> String {
        super::redact(&super::redact_with(text, &self.secrets))
    }

    /// Set the step output `name` (letters, digits, `_` and `-`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        self.set_inner(name, value, false)
    }

    /// Set an output that holds a secret: masked first; on Azure marked `issecret`; never
    /// written to GitLab's dotenv file (artifacts are readable by anyone with job access).
    pub fn secret(&mut self, name: &str, value: &str) -> Result<()> {
        self.mask(value);
        self.set_inner(name, value, true)
    }

    fn set_inner(&mut self, name: &str, value: &str, secret: bool) -> Result<()> {
        check_name(name)?;
        self.values.insert(
            name.to_string(),
            Value::String(if secret {
                "***".into()
            } else {
                value.to_string()
            }),
        );
        if self.dry_run {
            return Ok(());
        }
        match self.platform {
            Platform::GitHub => {
                if let Some(p) = self.paths.github_output.clone() {
                    append(&p, &github_heredoc(name, value))?;
                } else {
                    self.warn_once("GITHUB_OUTPUT is not set: step outputs are only in the report");
                }
            }
            Platform::Azure => {
                let cmd = format!(
                    "##vso[task.setvariable variable={};isOutput=true{}]{}\n",
                    escape_azure_property(name),
                    if secret { ";issecret=true" } else { "" },
                    escape_azure(value)
                );
                self.out.write_all(cmd.as_bytes())?;
                self.out.flush()?;
            }
            _ => {}
        }
        if !secret {
            let key = format!("CADKIT_{}", dotenv_key(name));
            self.dotenv(&key, value)?;
        } else if self.paths.dotenv.is_some() {
            let msg = format!("output {name} holds a secret: not written to the dotenv file");
            self.warn_once(&msg);
        }
        Ok(())
    }

    /// Export an environment variable to the next steps of the job (and, on GitLab, to the
    /// jobs that read the dotenv report); also set as an output of the same name.
    pub fn export_env(&mut self, name: &str, value: &str) -> Result<()> {
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            bail!("invalid environment variable name {name:?}");
        }
        self.values
            .insert(name.to_string(), Value::String(value.to_string()));
        if self.dry_run {
            return Ok(());
        }
        match self.platform {
            Platform::GitHub => {
                if let Some(p) = self.paths.github_env.clone() {
                    append(&p, &github_heredoc(name, value))?;
                }
                if let Some(p) = self.paths.github_output.clone() {
                    append(&p, &github_heredoc(name, value))?;
                }
            }
            Platform::Azure => {
                let v = escape_azure(value);
                let cmd = format!(
                    "##vso[task.setvariable variable={name}]{v}\n##vso[task.setvariable variable={name};isOutput=true]{v}\n"
                );
                self.out.write_all(cmd.as_bytes())?;
                self.out.flush()?;
            }
            _ => {}
        }
        self.dotenv(name, value)
    }

    fn dotenv(&mut self, key: &str, value: &str) -> Result<()> {
        let Some(path) = self.paths.dotenv.clone() else {
            return Ok(());
        };
        if value.contains(['\n', '\r']) {
            let msg = format!(
                "{key} holds several lines: left out of the dotenv file {}",
                path.display()
            );
            self.warn_once(&msg);
            return Ok(());
        }
        let existing = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let prefix = format!("{key}=");
        let mut text: String = existing
            .lines()
            .filter(|l| !l.starts_with(&prefix) && !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&format!("{key}={value}\n"));
        if text.len() > 5 * 1024 {
            self.warn_once("the dotenv file is over GitLab's 5 KiB limit");
        }
        crate::fsutil::write_atomic(&path, text.as_bytes(), None)
    }

    /// Add Markdown to the step summary (GitHub) or upload it as a summary (Azure).
    pub fn summary(&mut self, markdown: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let md = self.redact(markdown);
        match self.platform {
            Platform::GitHub => {
                if let Some(p) = self.paths.github_step_summary.clone() {
                    append(&p, &format!("{}\n", md.trim_end()))?;
                }
            }
            Platform::Azure => {
                let dir = self
                    .paths
                    .azure_temp
                    .clone()
                    .unwrap_or_else(std::env::temp_dir);
                let file = tempfile::Builder::new()
                    .prefix("cadkit-summary-")
                    .suffix(".md")
                    .tempfile_in(&dir)
                    .with_context(|| {
                        format!("cannot create a summary file in {}", dir.display())
                    })?;
                let (mut f, path) = file.keep().map_err(|e| e.error)?;
                f.write_all(md.as_bytes())?;
                let cmd = format!(
                    "##vso[task.uploadsummary]{}\n",
                    escape_azure(&path.to_string_lossy())
                );
                self.out.write_all(cmd.as_bytes())?;
                self.out.flush()?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Report an error, annotated with a file location where there is one.
    pub fn error(&mut self, message: &str, at: Option<&Location>) {
        self.annotate("error", message, at);
    }

    /// Report a warning, annotated with a file location where there is one.
    pub fn warning(&mut self, message: &str, at: Option<&Location>) {
        self.annotate("warning", message, at);
    }

    /// Add a warning to the report's `warnings` only (no annotation, no log line): for
    /// warnings a step has already logged, such as the build's.
    pub fn report_warning(&mut self, message: &str) {
        if !self.warnings.iter().any(|w| w == message) {
            self.warnings.push(message.to_string());
        }
    }

    fn warn_once(&mut self, message: &str) {
        if !self.warnings.iter().any(|w| w == message) {
            self.warning(message, None);
        }
    }

    fn annotate(&mut self, level: &str, message: &str, at: Option<&Location>) {
        let msg = self.redact(message);
        if level == "warning" {
            self.warnings.push(message.to_string());
            tracing::warn!("{msg}");
        } else {
            eprintln!("error: {msg}");
        }
        self.annotate_only(level, &msg, at);
    }

    /// The platform annotation alone (nothing on stderr).
    pub(crate) fn annotate_only(&mut self, level: &str, message: &str, at: Option<&Location>) {
        let msg = self.redact(message);
        let cmd = match self.platform {
            Platform::GitHub => {
                let mut props = Vec::new();
                if let Some(at) = at {
                    props.push(format!("file={}", escape_property(&at.file)));
                    if let Some(l) = at.line {
                        props.push(format!("line={l}"));
                    }
                    if let Some(c) = at.col {
                        props.push(format!("col={c}"));
                    }
                }
                let props = if props.is_empty() {
                    String::new()
                } else {
                    format!(" {}", props.join(","))
                };
                format!("::{level}{props}::{}\n", escape_data(&msg))
            }
            Platform::Azure => {
                let mut props = format!("type={level}");
                if let Some(at) = at {
                    props.push_str(&format!(";sourcepath={}", escape_azure_property(&at.file)));
                    if let Some(l) = at.line {
                        props.push_str(&format!(";linenumber={l}"));
                    }
                    if let Some(c) = at.col {
                        props.push_str(&format!(";columnnumber={c}"));
                    }
                }
                format!("##vso[task.logissue {props}]{}\n", escape_azure(&msg))
            }
            _ => return,
        };
        let _ = self.out.write_all(cmd.as_bytes());
        let _ = self.out.flush();
    }

    /// The one output path of a step: its typed report, wrapped in the envelope
    /// ([`ENVELOPE_FIELDS`]) by [`Outputs::finish`], redacted, written to the report file
    /// and printed on stdout when `print`.
    pub fn finish_report<R: serde::Serialize>(self, report: &R, print: bool) -> Result<Value> {
        let stdout = if print {
            Stdout::Report
        } else {
            Stdout::Nothing
        };
        self.finish_report_as(report, stdout)
    }

    /// [`Outputs::finish_report`] for commands whose stdout is not the report itself (a
    /// toolkit-defined value, or a legacy shape other tools parse): the report, with its
    /// envelope, still goes to the report file; `stdout` says what is printed (redacted).
    pub fn finish_report_as<R: serde::Serialize>(
        self,
        report: &R,
        stdout: Stdout,
    ) -> Result<Value> {
        self.finish_as(serde_json::to_value(report)?, stdout)
    }

    /// Complete the step: add `outputs`, the platform layer's `warnings` and `dryRun` to
    /// `report` (an object) and print it, redacted, as pretty JSON on stdout (unless `print`
    /// is false). The step's own fields win: its `dryRun` is kept, and its `warnings` come
    /// first, followed by the platform layer's (one report shape per step).
    pub fn finish(self, report: Value, print: bool) -> Result<Value> {
        let stdout = if print {
            Stdout::Report
        } else {
            Stdout::Nothing
        };
        self.finish_as(report, stdout)
    }

    fn finish_as(mut self, mut report: Value, stdout: Stdout) -> Result<Value> {
        if let Value::Object(map) = &mut report {
            map.entry("dryRun").or_insert(Value::Bool(self.dry_run));
            map.insert("outputs".into(), Value::Object(self.values.clone()));
            if !self.warnings.is_empty() {
                let ours: Vec<Value> = self
                    .warnings
                    .iter()
                    .map(|w| Value::String(self.redact(w)))
                    .collect();
                let all = map
                    .entry("warnings")
                    .or_insert_with(|| Value::Array(Vec::new()));
                match all {
                    Value::Array(list) => {
                        for w in ours {
                            if !list.contains(&w) {
                                list.push(w);
                            }
                        }
                    }
                    other => *other = Value::Array(ours),
                }
            }
        }
        let text = self.redact(&serde_json::to_string_pretty(&report)?);
        if let Some(p) = self.paths.report_file.clone() {
            crate::fsutil::write_atomic(&p, format!("{text}\n").as_bytes(), None)
                .with_context(|| format!("cannot write the report file {}", p.display()))?;
        }
        let printed = match stdout {
            Stdout::Report => Some(text.clone()),
            Stdout::Nothing => None,
            Stdout::Text(other) => Some(self.redact(&other)),
        };
        if let Some(printed) = printed {
            self.out.write_all(printed.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.out.flush()?;
        }
        Ok(serde_json::from_str(&text)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
        let parsed =
            parse_github_file(&std::fs::read_to_string(dir.path().join("output")).unwrap());
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
}
