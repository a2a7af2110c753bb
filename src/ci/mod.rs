//! The CI platform layer shared by every step: platform detection, inputs, outputs.
//!
//! Errors are printed once, on stderr, as `error: <cause chain>`; on GitHub and Azure
//! they are also annotated so they show in the run summary.

/// The CI system running cadkit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    GitHub,
    GitLab,
    Azure,
    None,
}

impl Platform {
    /// Detect the platform from the variables each CI system always sets.
    pub fn detect() -> Platform {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
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

/// Print a failure once, with its cause chain, and annotate it for the CI platform.
pub fn report_error(e: &anyhow::Error) {
    let text = format!("{e:#}");
    eprintln!("error: {text}");
    match Platform::detect() {
        Platform::GitHub => println!("::error::{}", escape_github(&text)),
        Platform::Azure => println!(
            "##vso[task.logissue type=error]{}",
            text.replace(['\r', '\n'], " ")
        ),
        _ => {}
    }
}

fn escape_github(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
