//! `registry-auth`: arguments (and the password from the environment or stdin) →
//! [`Request`] → [`crate::steps::registry_auth::run`] → the report.

use super::{GlobalArgs, Step};
use crate::ci::{inputs, Outputs, Platform};
use crate::registry_auth as ra;
use crate::steps::registry_auth::{self, Report, Request};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// The arguments of `registry-auth` (and of `cadkit-registry-auth`): registries and
/// credentials.
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
        let mut out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
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
        let report = registry_auth::run(
            &Request {
                registries,
                username,
                password,
                dir,
                helper_free: self.helper_free.unwrap_or(false),
                stdout: self.stdout.unwrap_or(false),
                base64: self.base64.unwrap_or(false),
            },
            &mut out,
        )?;
        emit(&report, out, global.report.as_deref() != Some("none"))?;
        Ok(0)
    }
}

/// The one output path of `registry-auth`. Stdout mode prints the credentials on
/// stdout and the report on stderr; its dry run prints the report (file redacted) on
/// stdout whatever `--report` says.
fn emit(report: &Report, out: Outputs, print: bool) -> Result<()> {
    if let Some(text) = &report.printed {
        println!("{text}");
        let shown = out.finish_report(report, false)?;
        if print {
            eprintln!("{}", serde_json::to_string_pretty(&shown)?);
        }
    } else if report.config.is_some() && report.docker_config.is_none() {
        let shown = out.finish_report(report, false)?;
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        out.finish_report(report, print)?;
    }
    Ok(())
}
