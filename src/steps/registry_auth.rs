//! `registry-auth`: write (or print) Docker `config.json` credentials for the next steps.

use crate::ci::{Outputs, Platform};
use crate::registry_auth::{self as ra, Credential, Shadow};
use anyhow::{Context as _, Result};
use base64::Engine as _;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What to write, resolved from the arguments.
#[derive(Debug, Clone)]
pub struct Request {
    /// Registry hosts (`host[:port]`, or Docker Hub's key).
    pub registries: Vec<String>,
    /// User name of every credential.
    pub username: String,
    /// The password (a secret: masked before anything is shown).
    pub password: String,
    /// Target folder and why it was chosen.
    pub dir: Option<(PathBuf, String)>,
    /// Remove `credsStore` / the registry's `credHelpers` entry so the written one is used.
    pub helper_free: bool,
    /// Hand the `{"auths":…}` text to the caller instead of writing a file.
    pub stdout: bool,
    /// With `stdout`: base64-encode it.
    pub base64: bool,
}

/// What `registry-auth` did. Three shapes: written to a file (`dockerConfig`…), printed
/// (`stdout: true`), or a dry run of printing (`config`, redacted).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always `registry-auth`.
    pub step: String,
    /// The CI platform (file mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The `auths` keys written.
    pub registries: Vec<String>,
    /// The credentials went to stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<bool>,
    /// The folder of `config.json` (`DOCKER_CONFIG` for the next steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<String>,
    /// Why that folder (`input`, a variable name, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_config_source: Option<String>,
    /// The file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<PathBuf>,
    /// An existing file was merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into_existing: Option<bool>,
    /// Helpers that would be asked instead of the written entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadows: Option<Vec<Shadow>>,
    /// Dry run: the file that would be written, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Stdout mode (not a dry run): the text the caller prints on stdout, never in the
    /// report (it holds the credentials).
    #[serde(skip)]
    #[schemars(skip)]
    pub printed: Option<String>,
}

impl Report {
    fn new(keys: &[&str]) -> Report {
        Report {
            step: "registry-auth".into(),
            platform: None,
            registries: keys.iter().map(|k| k.to_string()).collect(),
            stdout: None,
            docker_config: None,
            docker_config_source: None,
            config_path: None,
            merged_into_existing: None,
            shadows: None,
            config: None,
            printed: None,
        }
    }
}

/// Run `registry-auth`: mask the secrets, then write `config.json` (or prepare the text to
/// print), set the CI outputs and the summary, return the report.
pub fn run(req: &Request, out: &mut Outputs) -> Result<Report> {
    // Mask first: nothing below may show them.
    crate::ci::inputs::check_secret(
        "registry password",
        "CADKIT_REGISTRY_PASSWORD or standard input",
        &req.password,
    )?;
    out.mask(&req.password);
    let creds = req
        .registries
        .iter()
        .map(|r| Credential::new(r, &req.username, &req.password))
        .collect::<Result<Vec<_>>>()?;
    for c in &creds {
        out.mask(&c.auth());
    }
    let keys: Vec<&str> = creds.iter().map(|c| c.registry.as_str()).collect();
    if req.stdout {
        return to_stdout(req, &creds, &keys, out);
    }
    let Some((dir, why)) = req.dir.clone() else {
        anyhow::bail!("no folder for config.json: pass --docker-config or set DOCKER_CONFIG (HOME is not set either)");
    };
    to_file(req, &creds, &keys, &dir, why, out)
}

/// Stdout mode: the text to print (or, in a dry run, the redacted file in the report).
fn to_stdout(
    req: &Request,
    creds: &[Credential],
    keys: &[&str],
    out: &mut Outputs,
) -> Result<Report> {
    if out.platform() == Platform::GitLab && !out.is_dry_run() {
        out.warning(
            "--stdout prints the credentials and GitLab cannot mask them at run time: capture the output (VAR=$(cadkit-registry-auth --stdout)), never let it reach the job log",
            None,
        );
    }
    let generated = ra::generate(creds);
    let text = serde_json::to_string(&generated)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&text);
    if req.base64 {
        out.mask(&encoded);
    }
    let mut report = Report::new(keys);
    if out.is_dry_run() {
        report.config = Some(ra::redacted(&generated));
    } else {
        report.stdout = Some(true);
        report.printed = Some(if req.base64 { encoded } else { text });
    }
    Ok(report)
}

/// File mode: merge into `<dir>/config.json` (unless a dry run), export `DOCKER_CONFIG`.
fn to_file(
    req: &Request,
    creds: &[Credential],
    keys: &[&str],
    dir: &Path,
    why: String,
    out: &mut Outputs,
) -> Result<Report> {
    let existing = ra::read_existing(dir)?;
    let had_file = existing.is_some();
    let merged = ra::merge(existing, creds, req.helper_free)?;
    let path = dir.join("config.json");
    for s in &merged.shadows {
        let msg = if s.removed {
            format!(
                "removed {} {:?} for {} so the written entry is used",
                s.via, s.helper, s.registry
            )
        } else {
            format!(
                "{} {:?} in {} will be asked for {} instead of the written entry; use --helper-free or a separate DOCKER_CONFIG",
                s.via,
                s.helper,
                path.display(),
                s.registry
            )
        };
        out.warning(&msg, None);
    }
    if !out.is_dry_run() {
        ra::write(dir, &merged.config).with_context(|| {
            format!(
                "cannot write the registry credentials to {}",
                path.display()
            )
        })?;
        tracing::info!(
            "wrote credentials for {} to {}",
            keys.join(", "),
            path.display()
        );
    }
    let dir_s = dir.to_string_lossy().into_owned();
    out.export_env("DOCKER_CONFIG", &dir_s)?;
    out.set("docker-config", &dir_s)?;
    out.set("config-path", &path.to_string_lossy())?;
    out.set("registries", &keys.join(","))?;
    out.summary(&format!(
        "### cadkit registry-auth\n\nCredentials for {} written to `{}` (DOCKER_CONFIG for the next steps).\n",
        keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
        path.display()
    ))?;
    let mut report = Report::new(keys);
    report.platform = Some(out.platform());
    report.docker_config = Some(dir_s);
    report.docker_config_source = Some(why);
    report.config_path = Some(path);
    report.merged_into_existing = Some(had_file);
    report.shadows = Some(merged.shadows);
    if out.is_dry_run() {
        report.config = Some(ra::redacted(&merged.config));
    }
    Ok(report)
}
