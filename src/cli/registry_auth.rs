//! `registry-auth`: write (or print) Docker `config.json` credentials for the next steps.

use super::{GlobalArgs, Step};
use crate::ci::{inputs, Outputs, Platform};
use crate::registry_auth::{self as ra, Credential};
use anyhow::{Context as _, Result};
use base64::Engine as _;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RegistryAuthArgs {
    /// Registry host[:port], repeatable or comma-separated (default: CI_REGISTRY on GitLab, else Docker Hub).
    #[arg(long, env = "CADKIT_REGISTRY", value_delimiter = ',')]
    pub registry: Vec<String>,
    /// User name (default on GitLab: CI_REGISTRY_USER). The password comes from
    /// CADKIT_REGISTRY_PASSWORD or standard input (on GitLab also CI_REGISTRY_PASSWORD).
    #[arg(long, env = "CADKIT_USERNAME")]
    pub username: Option<String>,
    /// Folder of config.json (default: DOCKER_CONFIG, else a per-job folder, else ~/.docker).
    #[arg(long = "docker-config", env = "CADKIT_DOCKER_CONFIG")]
    pub docker_config: Option<PathBuf>,
    /// Remove credsStore and the registry's credHelpers entry so the written entry is used.
    #[arg(long = "helper-free", env = "CADKIT_HELPER_FREE", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub helper_free: Option<bool>,
    /// Print {"auths":…} on stdout instead of writing a file (Kaniko, Kubernetes); the report goes to stderr.
    #[arg(long, env = "CADKIT_STDOUT", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub stdout: Option<bool>,
    /// With --stdout: print it base64-encoded (DOCKER_AUTH_CONFIG, Kubernetes secret data).
    #[arg(long, env = "CADKIT_BASE64", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub base64: Option<bool>,
    /// Show the file that would be written (secrets redacted); write nothing.
    #[arg(long = "dry-run", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub dry_run: Option<bool>,
}

impl Step for RegistryAuthArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let platform = Platform::detect();
        let out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
        let gitlab = platform == Platform::GitLab;
        let (username, password) = match &self.username {
            Some(u) => (
                u.clone(),
                inputs::secret("CADKIT_REGISTRY_PASSWORD", "registry password", &[])?,
            ),
            None => match gitlab
                .then(|| inputs::first_env(&["CI_REGISTRY_USER"]))
                .flatten()
            {
                Some((u, _)) => (
                    u,
                    inputs::secret(
                        "CADKIT_REGISTRY_PASSWORD",
                        "registry password",
                        &["CI_REGISTRY_PASSWORD"],
                    )?,
                ),
                None => anyhow::bail!("no username: pass --username or set CADKIT_USERNAME"),
            },
        };
        let mut registries = self.registry.clone();
        if registries.is_empty() {
            if let Some((r, _)) = gitlab
                .then(|| inputs::first_env(&["CI_REGISTRY"]))
                .flatten()
            {
                registries.push(r);
            } else {
                registries.push(ra::DOCKER_HUB_KEY.into());
            }
        }
        let dir = match &self.docker_config {
            Some(d) => Some((d.clone(), "input".to_string())),
            None => ra::default_dir(platform, &|k| std::env::var(k).ok()),
        };
        run(
            &Request {
                registries,
                username,
                password,
                dir,
                helper_free: self.helper_free.unwrap_or(false),
                stdout: self.stdout.unwrap_or(false),
                base64: self.base64.unwrap_or(false),
            },
            out,
            global.report.as_deref() != Some("none"),
        )?;
        Ok(0)
    }
}

/// What to write, resolved from the arguments.
pub struct Request {
    pub registries: Vec<String>,
    pub username: String,
    pub password: String,
    /// Target folder and why it was chosen.
    pub dir: Option<(PathBuf, String)>,
    pub helper_free: bool,
    pub stdout: bool,
    pub base64: bool,
}

/// The step on resolved inputs (used by `demo` and tests); returns the report.
pub fn run(req: &Request, mut out: Outputs, print: bool) -> Result<serde_json::Value> {
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
        if out.platform() == crate::ci::Platform::GitLab && !out.is_dry_run() {
            out.warning(
                "--stdout prints the credentials and GitLab cannot mask them at run time: capture the output (VAR=$(cadkit-registry-auth --stdout)), never let it reach the job log",
                None,
            );
        }
        let generated = ra::generate(&creds);
        let text = serde_json::to_string(&generated)?;
        if req.base64 {
            out.mask(&base64::engine::general_purpose::STANDARD.encode(&text));
        }
        if out.is_dry_run() {
            let report = out.finish(
                json!({"step": "registry-auth", "registries": keys, "config": ra::redacted(&generated)}),
                false,
            )?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(report);
        }
        let report = json!({"step": "registry-auth", "registries": keys, "stdout": true});
        if req.base64 {
            println!(
                "{}",
                base64::engine::general_purpose::STANDARD.encode(&text)
            );
        } else {
            println!("{text}");
        }
        let report = out.finish(report, false)?;
        if print {
            eprintln!("{}", serde_json::to_string_pretty(&report)?);
        }
        return Ok(report);
    }

    let Some((dir, why)) = req.dir.clone() else {
        anyhow::bail!("no folder for config.json: pass --docker-config or set DOCKER_CONFIG (HOME is not set either)");
    };
    let existing = ra::read_existing(&dir)?;
    let had_file = existing.is_some();
    let merged = ra::merge(existing, &creds, req.helper_free)?;
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
                dir.join("config.json").display(),
                s.registry
            )
        };
        out.warning(&msg, None);
    }
    let path = dir.join("config.json");
    if !out.is_dry_run() {
        ra::write(&dir, &merged.config).with_context(|| {
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
    let mut report = json!({
        "step": "registry-auth",
        "platform": out.platform(),
        "registries": keys,
        "dockerConfig": dir_s,
        "dockerConfigSource": why,
        "configPath": path,
        "mergedIntoExisting": had_file,
        "shadows": merged.shadows,
    });
    if out.is_dry_run() {
        report["config"] = ra::redacted(&merged.config);
    }
    out.finish(report, print)
}
