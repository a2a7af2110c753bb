//! `tag`: arguments → [`Request`] → [`crate::steps::tag::run`] → the report.

use super::{GlobalArgs, Step};
use crate::ci::{Context, Outputs};
use crate::steps::tag::{self, Request};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// The arguments of `tag` (and of `cadkit-tag`): the branch, the commit and the image
/// names.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Branch name (default: the CI's head branch, or the git checkout's).
    #[arg(long, env = "CADKIT_BRANCH")]
    pub branch: Option<String>,
    /// Commit SHA (default: the CI's head commit, or the git checkout's).
    #[arg(long, env = "CADKIT_COMMIT")]
    pub commit: Option<String>,
    /// Characters of the commit kept in the tag (0 = all).
    #[arg(long = "sha-length", env = "CADKIT_SHA_LENGTH", default_value_t = crate::tag::DEFAULT_SHA_LENGTH)]
    pub sha_length: usize,
    /// Lowercase the branch part of the tag.
    #[arg(long, env = "CADKIT_LOWERCASE", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub lowercase: Option<bool>,
    /// Registry host[:port] of the images (default on GitLab: CI_REGISTRY).
    #[arg(long, env = "CADKIT_REGISTRY")]
    pub registry: Option<String>,
    /// Image name (repository path without the registry); images are listed only when set.
    #[arg(long = "image-name", alias = "name", env = "CADKIT_IMAGE_NAME")]
    pub image_name: Option<String>,
    /// Project name used in the default image template (default: the image name's last segment).
    #[arg(long = "project-name", env = "CADKIT_PROJECT_NAME")]
    pub project_name: Option<String>,
    /// Image kinds, comma-separated.
    #[arg(
        long,
        env = "CADKIT_KINDS",
        value_delimiter = ',',
        default_value = "frontend,backend,codeasdata"
    )]
    pub kinds: Vec<String>,
    /// Image reference template: {registry} {name} {project} {kind} {tag} {branch} {commit}.
    #[arg(long = "image-template", env = "CADKIT_IMAGE_TEMPLATE", default_value = crate::tag::DEFAULT_IMAGE_TEMPLATE)]
    pub image_template: String,
    /// Environment rule `<environment>=<regex on the tag>`, repeatable (env: one per line).
    #[arg(
        long = "environment",
        env = "CADKIT_ENVIRONMENTS",
        value_delimiter = '\n'
    )]
    pub environments: Vec<String>,
    /// File of environment rules: JSON object {"production":"^master-"} or name=regex lines.
    #[arg(long = "environments-file", env = "CADKIT_ENVIRONMENTS_FILE")]
    pub environments_file: Option<PathBuf>,
    /// Fail when the tag matches no environment rule.
    #[arg(long = "require-environment", env = "CADKIT_REQUIRE_ENVIRONMENT", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub require_environment: Option<bool>,
    /// Compute and report; set no CI output.
    #[arg(long = "dry-run", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub dry_run: Option<bool>,
}

impl TagArgs {
    /// The request on this run's CI context (registry default: `CI_REGISTRY`; `created`
    /// label: `SOURCE_DATE_EPOCH`).
    pub fn request(self, context: Context) -> Request {
        let registry = self
            .registry
            .or_else(|| crate::ci::inputs::first_env(&["CI_REGISTRY"]).map(|(v, _)| v))
            .unwrap_or_default();
        let created = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        Request {
            branch: self.branch,
            commit: self.commit,
            sha_length: self.sha_length,
            lowercase: self.lowercase.unwrap_or(false),
            registry,
            image_name: self.image_name,
            project_name: self.project_name,
            kinds: self.kinds,
            image_template: self.image_template,
            environments: self.environments,
            environments_file: self.environments_file,
            require_environment: self.require_environment.unwrap_or(false),
            created,
            context,
        }
    }
}

impl Step for TagArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let mut out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
        let report = tag::run(&self.request(Context::detect()), &mut out)?;
        out.finish_report(&report, global.report.as_deref() != Some("none"))?;
        Ok(0)
    }
}
