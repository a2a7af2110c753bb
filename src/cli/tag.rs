//! `tag`: branch-commit image tag, image references, environments, OCI labels.

use super::{GlobalArgs, Step};
use crate::ci::{Context, Outputs};
use crate::tag::{self, ImageVars, LabelInputs, TagOptions};
use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Branch name (default: the CI's head branch, or the git checkout's).
    #[arg(long, env = "CADKIT_BRANCH")]
    pub branch: Option<String>,
    /// Commit SHA (default: the CI's head commit, or the git checkout's).
    #[arg(long, env = "CADKIT_COMMIT")]
    pub commit: Option<String>,
    /// Characters of the commit kept in the tag (0 = all).
    #[arg(long = "sha-length", env = "CADKIT_SHA_LENGTH", default_value_t = tag::DEFAULT_SHA_LENGTH)]
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
    #[arg(long = "image-template", env = "CADKIT_IMAGE_TEMPLATE", default_value = tag::DEFAULT_IMAGE_TEMPLATE)]
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

impl Step for TagArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let ctx = Context::detect();
        let out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
        run(self, ctx, out, global.report.as_deref() != Some("none"))?;
        Ok(0)
    }
}

/// The step on an explicit context and outputs (used by `demo` and tests); returns the report.
pub fn run(a: TagArgs, ctx: Context, mut out: Outputs, print: bool) -> Result<Value> {
    let (branch, branch_source) = match (&a.branch, &ctx.branch) {
        (Some(b), _) => (b.clone(), "input".to_string()),
        (None, Some(b)) => (b.clone(), ctx.branch_source.clone().unwrap_or_default()),
        (None, None) => bail!("no branch: pass --branch or set CADKIT_BRANCH (no CI branch variable or git checkout found)"),
    };
    let (commit, commit_source) = match (&a.commit, &ctx.commit) {
        (Some(c), _) => (c.clone(), "input".to_string()),
        (None, Some(c)) => (c.clone(), ctx.commit_source.clone().unwrap_or_default()),
        (None, None) => bail!("no commit: pass --commit or set CADKIT_COMMIT (no CI commit variable or git checkout found)"),
    };
    if commit.is_empty() || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        out.warning(&format!("commit {commit:?} is not a hexadecimal SHA"), None);
    }
    let opts = TagOptions {
        sha_length: a.sha_length,
        lowercase: a.lowercase.unwrap_or(false),
    };
    let tag = tag::make_tag(&branch, &commit, opts);

    let mut routes = tag::parse_routes(a.environments.iter().map(String::as_str))?;
    if let Some(f) = &a.environments_file {
        routes.extend(tag::read_routes_file(f)?);
    }
    let envs = tag::environments(&tag, &routes);
    if a.require_environment.unwrap_or(false) && envs.is_empty() {
        bail!(
            "tag {tag} matches none of the {} environment rules and --require-environment is set",
            routes.len()
        );
    }

    let registry = a
        .registry
        .clone()
        .or_else(|| crate::ci::inputs::first_env(&["CI_REGISTRY"]).map(|(v, _)| v))
        .unwrap_or_default();
    let images = match &a.image_name {
        Some(name) => tag::image_refs(
            &a.image_template,
            &ImageVars {
                registry: &registry,
                name,
                project: a
                    .project_name
                    .as_deref()
                    .unwrap_or_else(|| name.rsplit('/').next().unwrap_or(name)),
                tag: &tag,
                branch: &tag::sanitize(&branch, true),
                commit: &commit,
            },
            &a.kinds,
        )?,
        None => Vec::new(),
    };
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let labels = tag::oci_labels(&LabelInputs {
        commit: &commit,
        tag: &tag,
        source: ctx.repository_url.as_deref(),
        created,
    });

    out.set("tag", &tag)?;
    out.set("branch", &branch)?;
    out.set("commit", &commit)?;
    for img in &images {
        out.set(&format!("image-{}", img.kind), &img.image)?;
    }
    out.set(
        "images",
        &serde_json::to_string(&images.iter().map(|i| &i.image).collect::<Vec<_>>())?,
    )?;
    out.set("deploy-environments", &envs.join(","))?;
    out.set("deploy", if envs.is_empty() { "false" } else { "true" })?;
    out.set("labels", &serde_json::to_string(&labels)?)?;

    let mut md = format!("### cadkit tag\n\n`{tag}` (branch `{branch}`, commit `{commit}`)\n");
    if !images.is_empty() {
        md.push_str("\n| kind | image |\n|---|---|\n");
        for i in &images {
            md.push_str(&format!("| {} | `{}` |\n", i.kind, i.image));
        }
    }
    md.push_str(&format!(
        "\nEnvironments: {}\n",
        if envs.is_empty() {
            "none".to_string()
        } else {
            envs.join(", ")
        }
    ));
    out.summary(&md)?;

    let report = json!({
        "step": "tag",
        "platform": ctx.platform,
        "tag": tag,
        "branch": branch,
        "branchSource": branch_source,
        "commit": commit,
        "commitSource": commit_source,
        "refKind": if a.branch.is_some() { Value::Null } else { serde_json::to_value(ctx.ref_kind)? },
        "pullRequest": ctx.pull_request,
        "images": images,
        "environments": envs,
        "labels": labels,
    });
    out.finish(report, print)
}
