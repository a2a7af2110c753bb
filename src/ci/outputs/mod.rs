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

mod annotations;
mod report;
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
}

#[cfg(test)]
pub(crate) mod tests;
