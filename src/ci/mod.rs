//! The CI platform layer shared by every step: platform detection, run context, inputs
//! and outputs, with one behaviour on GitHub Actions, GitLab CI, Azure Pipelines and a
//! plain shell.
//!
//! # Using it from a step
//!
//! ```no_run
//! use cadkit::ci::{Context, Outputs};
//! # fn main() -> anyhow::Result<()> {
//! let ctx = Context::detect();                 // branch, commit, PR/MR, tag, repo URL
//! let mut out = Outputs::detect().dry_run(false);
//! out.mask("s3cret");                          // before anything could print it
//! out.set("tag", "master-42bd534f")?;          // $GITHUB_OUTPUT / dotenv / ##vso
//! out.export_env("DOCKER_CONFIG", "/tmp/x")?;  // for the next steps of the job
//! out.summary("### Tag\n`master-42bd534f`")?;  // $GITHUB_STEP_SUMMARY / uploadsummary
//! out.finish(serde_json::json!({"tag": "master-42bd534f"}), true)?; // JSON report on stdout
//! # let _ = ctx; Ok(()) }
//! ```
//!
//! - [`Platform`]: GitHub (`GITHUB_ACTIONS`), GitLab (`GITLAB_CI`), Azure (`TF_BUILD`), or none.
//! - [`Context`] ([`context`]): branch/commit read per platform, head branch and head commit
//!   on pull/merge requests (not the merge commit), tags.
//! - [`inputs`]: precedence flag > `CADKIT_<NAME>` > toolkit/CI variable > default; secrets
//!   from a variable or standard input, never echoed.
//! - [`Outputs`] ([`outputs`]): outputs, exported variables, masks, summary, annotations,
//!   the JSON report, and the `--dry-run` convention (nothing written, outputs listed in
//!   the report).
//!
//! Errors are printed once, on stderr, as `error: <cause chain>`; on GitHub and Azure
//! they are also annotated so they show in the run summary. Every secret registered with
//! [`Outputs::mask`] is redacted from them.

pub mod context;
pub mod inputs;
pub mod outputs;

pub use context::{Context, RefKind};
pub use outputs::{Location, OutputPaths, Outputs, Stdout};

use std::sync::Mutex;

/// The CI system running cadkit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// GitHub Actions (`GITHUB_ACTIONS=true`).
    GitHub,
    /// GitLab CI (`GITLAB_CI=true`).
    GitLab,
    /// Azure Pipelines (`TF_BUILD=True`).
    Azure,
    /// A plain shell or an unknown CI: outputs go to the report only.
    None,
}

impl Platform {
    /// Detect the platform from the variables each CI system always sets.
    pub fn detect() -> Platform {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Detect the platform through a variable lookup (empty values count as unset).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Platform {
        let set = |k: &str| get(k).is_some_and(|v| !v.is_empty());
        if set("GITHUB_ACTIONS") {
            Platform::GitHub
        } else if set("GITLAB_CI") {
            Platform::GitLab
        } else if set("TF_BUILD") {
            Platform::Azure
        } else {
            Platform::None
        }
    }
}

/// Secrets registered in this process, redacted from every error message.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Register a value that must never be printed (done by [`Outputs::mask`]).
pub fn register_secret(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|v| v == value) {
        s.push(value.to_string());
    }
}

/// Replace every registered secret in `text` by `***`.
pub fn redact(text: &str) -> String {
    let s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    redact_with(text, &s)
}

fn redact_with(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    // Longest first, so a secret containing another is replaced whole.
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        out = out.replace(s.as_str(), "***");
        // Also in JSON-escaped form (reports are JSON).
        let escaped = serde_json::to_string(s).unwrap_or_default();
        let inner = escaped.trim_matches('"');
        if inner != s.as_str() && !inner.is_empty() {
            out = out.replace(inner, "***");
        }
    }
    out
}

/// An error about a place in a file (a config, a template): annotated on GitHub and Azure
/// with the file, line and column, so it shows on that line in the run summary.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", location_text(.location))]
pub struct FileError {
    /// Where the error is: the file, and the line and column when known.
    pub location: Location,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FileError {
    /// From a serde_json error (which knows its line and column).
    pub fn json(file: &std::path::Path, e: &serde_json::Error) -> FileError {
        FileError {
            location: Location {
                file: file.display().to_string(),
                line: u32::try_from(e.line()).ok().filter(|l| *l > 0),
                col: u32::try_from(e.column()).ok().filter(|c| *c > 0),
            },
            message: format!("invalid JSON: {e}"),
        }
    }
}

fn location_text(l: &Location) -> String {
    match (l.line, l.col) {
        (Some(line), Some(col)) => format!("{}:{line}:{col}", l.file),
        (Some(line), None) => format!("{}:{line}", l.file),
        _ => l.file.clone(),
    }
}

/// Print a failure once, with its cause chain, and annotate it for the CI platform (with
/// the file and line when a [`FileError`] is in the chain).
pub fn report_error(e: &anyhow::Error) {
    let text = redact(&format!("{e:#}"));
    eprintln!("error: {text}");
    let at = e.chain().find_map(|c| c.downcast_ref::<FileError>());
    let mut out = Outputs::new(
        Platform::detect(),
        OutputPaths::default(),
        Box::new(std::io::stdout()),
    );
    out.annotate_only("error", &text, at.map(|f| &f.location));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_detection_order_and_empty_values() {
        let p = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            Platform::from_lookup(&move |k| {
                vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
        };
        assert_eq!(p(&[("GITHUB_ACTIONS", "true")]), Platform::GitHub);
        assert_eq!(p(&[("GITLAB_CI", "true")]), Platform::GitLab);
        assert_eq!(p(&[("TF_BUILD", "True")]), Platform::Azure);
        assert_eq!(p(&[("GITHUB_ACTIONS", "")]), Platform::None);
        assert_eq!(p(&[]), Platform::None);
    }

    #[test]
    fn file_errors_carry_their_location() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        let e = serde_json::from_str::<serde_json::Value>("{\n  \"a\": ,\n}").unwrap_err();
        let fe = FileError::json(&p, &e);
        assert_eq!(fe.location.line, Some(2));
        assert!(fe.to_string().starts_with(&format!("{}:2:", p.display())));
        let any = anyhow::Error::new(fe).context("reading the template");
        assert!(any.chain().any(|c| c.downcast_ref::<FileError>().is_some()));
    }

    #[test]
    fn redaction_covers_json_escaped_forms() {
        let secrets = vec!["a\"b".to_string(), "pass".to_string()];
        let json = serde_json::json!({"p": "a\"b", "q": "xpassx"}).to_string();
        let r = redact_with(&json, &secrets);
        assert!(!r.contains("a\\\"b") && !r.contains("pass"), "{r}");
    }
}
