//! `tag`: branch-commit image tag, image references, environments, OCI labels.

use crate::ci::context::RefKind;
use crate::ci::{Context, Outputs, Platform};
use crate::tag::{self, ImageRef, ImageVars, LabelInputs, TagOptions};
use anyhow::{bail, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// What to compute, resolved from the arguments and the CI context.
#[derive(Debug, Clone)]
pub struct Request {
    /// Branch given explicitly (else the context's).
    pub branch: Option<String>,
    /// Commit given explicitly (else the context's).
    pub commit: Option<String>,
    /// Characters of the commit kept in the tag (0 = all).
    pub sha_length: usize,
    /// Lowercase the branch part of the tag.
    pub lowercase: bool,
    /// Registry `host[:port]` of the images (may be empty).
    pub registry: String,
    /// Image name; images are listed only when set.
    pub image_name: Option<String>,
    /// Project name of the default template (default: the image name's last segment).
    pub project_name: Option<String>,
    /// Image kinds.
    pub kinds: Vec<String>,
    /// Image reference template.
    pub image_template: String,
    /// Environment rules `<environment>=<regex on the tag>`.
    pub environments: Vec<String>,
    /// File of more environment rules.
    pub environments_file: Option<PathBuf>,
    /// Fail when the tag matches no rule.
    pub require_environment: bool,
    /// `SOURCE_DATE_EPOCH`, for a reproducible `created` label.
    pub created: Option<i64>,
    /// The CI run (platform, branch, commit, PR, repository URL).
    pub context: Context,
}

/// What `tag` computed (the JSON report, before the envelope).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always `tag`.
    pub step: String,
    /// The CI platform detected.
    pub platform: Platform,
    /// `<branch>-<commit>`, sanitised.
    pub tag: String,
    /// The branch the tag was made from.
    pub branch: String,
    /// Where the branch came from (`input` or a variable name).
    pub branch_source: String,
    /// The commit the tag was made from.
    pub commit: String,
    /// Where the commit came from.
    pub commit_source: String,
    /// The kind of ref built (null when the branch was given explicitly).
    pub ref_kind: Option<RefKind>,
    /// Pull/merge request number.
    pub pull_request: Option<String>,
    /// One reference per image kind (empty without an image name).
    pub images: Vec<ImageRef>,
    /// Environments the tag deploys to, in rule order.
    pub environments: Vec<String>,
    /// `org.opencontainers.image.*` labels.
    pub labels: Map<String, Value>,
}

/// Run `tag`: compute, set the CI outputs and the summary, return the report.
pub fn run(req: &Request, out: &mut Outputs) -> Result<Report> {
    let ctx = &req.context;
    let (branch, branch_source) = match (&req.branch, &ctx.branch) {
        (Some(b), _) => (b.clone(), "input".to_string()),
        (None, Some(b)) => (b.clone(), ctx.branch_source.clone().unwrap_or_default()),
        (None, None) => bail!("no branch: pass --branch or set CADKIT_BRANCH (no CI branch variable or git checkout found)"),
    };
    let (commit, commit_source) = match (&req.commit, &ctx.commit) {
        (Some(c), _) => (c.clone(), "input".to_string()),
        (None, Some(c)) => (c.clone(), ctx.commit_source.clone().unwrap_or_default()),
        (None, None) => bail!("no commit: pass --commit or set CADKIT_COMMIT (no CI commit variable or git checkout found)"),
    };
    if commit.is_empty() || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        out.warning(&format!("commit {commit:?} is not a hexadecimal SHA"), None);
    }
    let opts = TagOptions {
        sha_length: req.sha_length,
        lowercase: req.lowercase,
    };
    let tag = tag::make_tag(&branch, &commit, opts);
    let envs = environments(req, &tag)?;
    let images = images(req, &tag, &branch, &commit)?;
    let labels = tag::oci_labels(&LabelInputs {
        commit: &commit,
        tag: &tag,
        source: ctx.repository_url.as_deref(),
        created: req.created,
    });
    let report = Report {
        step: "tag".into(),
        platform: ctx.platform,
        tag,
        branch,
        branch_source,
        commit,
        commit_source,
        ref_kind: if req.branch.is_some() {
            None
        } else {
            Some(ctx.ref_kind)
        },
        pull_request: ctx.pull_request.clone(),
        images,
        environments: envs,
        labels,
    };
    set_outputs(&report, out)?;
    out.summary(&summary(&report))?;
    Ok(report)
}

/// The environments the tag deploys to; an error when one is required and none matches.
fn environments(req: &Request, tag: &str) -> Result<Vec<String>> {
    let mut routes = tag::parse_routes(req.environments.iter().map(String::as_str))?;
    if let Some(f) = &req.environments_file {
        routes.extend(tag::read_routes_file(f)?);
    }
    let envs = tag::environments(tag, &routes);
    if req.require_environment && envs.is_empty() {
        bail!(
            "tag {tag} matches none of the {} environment rules and --require-environment is set",
            routes.len()
        );
    }
    Ok(envs)
}

/// One image reference per kind, when an image name is given.
fn images(req: &Request, tag: &str, branch: &str, commit: &str) -> Result<Vec<ImageRef>> {
    let Some(name) = &req.image_name else {
        return Ok(Vec::new());
    };
    tag::image_refs(
        &req.image_template,
        &ImageVars {
            registry: &req.registry,
            name,
            project: req
                .project_name
                .as_deref()
                .unwrap_or_else(|| name.rsplit('/').next().unwrap_or(name)),
            tag,
            branch: &tag::sanitize(branch, true),
            commit,
        },
        &req.kinds,
    )
}

fn set_outputs(r: &Report, out: &mut Outputs) -> Result<()> {
    out.set("tag", &r.tag)?;
    out.set("branch", &r.branch)?;
    out.set("commit", &r.commit)?;
    for img in &r.images {
        out.set(&format!("image-{}", img.kind), &img.image)?;
    }
    out.set(
        "images",
        &serde_json::to_string(&r.images.iter().map(|i| &i.image).collect::<Vec<_>>())?,
    )?;
    out.set("deploy-environments", &r.environments.join(","))?;
    out.set(
        "deploy",
        if r.environments.is_empty() {
            "false"
        } else {
            "true"
        },
    )?;
    out.set("labels", &serde_json::to_string(&r.labels)?)
}

fn summary(r: &Report) -> String {
    let mut md = format!(
        "### cadkit tag\n\n`{}` (branch `{}`, commit `{}`)\n",
        r.tag, r.branch, r.commit
    );
    if !r.images.is_empty() {
        md.push_str("\n| kind | image |\n|---|---|\n");
        for i in &r.images {
            md.push_str(&format!("| {} | `{}` |\n", i.kind, i.image));
        }
    }
    md.push_str(&format!(
        "\nEnvironments: {}\n",
        if r.environments.is_empty() {
            "none".to_string()
        } else {
            r.environments.join(", ")
        }
    ));
    md
}
