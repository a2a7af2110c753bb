//! The end of a step: its report wrapped in the envelope, redacted, written to the report
//! file and printed (or not) on stdout.

use super::{Outputs, Stdout};
use anyhow::{Context as _, Result};
use serde_json::Value;
use std::io::Write;

impl Outputs {
    /// The one output path of a step: its typed report, wrapped in the envelope
    /// ([`ENVELOPE_FIELDS`](super::ENVELOPE_FIELDS)) by [`Outputs::finish`], redacted,
    /// written to the report file and printed on stdout when `print`.
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
