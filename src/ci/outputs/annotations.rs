//! Summaries and annotations: the platform's way of showing a message beside the code
//! (GitHub's `::error file=…::`, Azure's `##vso[task.logissue]`) and the run's summary page.

use super::syntax::{append, escape_azure, escape_azure_property, escape_data, escape_property};
use super::{Location, Outputs};
use crate::ci::Platform;
use anyhow::{Context as _, Result};
use std::io::Write;

impl Outputs {
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

    /// A warning of the platform layer itself (an unwritable output, an oversized dotenv
    /// file), annotated once per run however many outputs hit it.
    pub(super) fn warn_once(&mut self, message: &str) {
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
}
