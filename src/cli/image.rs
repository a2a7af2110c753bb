//! `cadkit image`: arguments to an `ImageRequest`, one library call, a JSON report.

use super::{GlobalArgs, Step};
use crate::image::registry::Credentials;
use crate::image::{self, ImageRequest, Kind};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// The arguments of `image` (and of `cadkit-image`): the folder, the base image and where
/// the image goes.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// As the deployment guide's Dockerfiles: frontend (→ /usr/share/nginx/html, nginx:root),
    /// backend (→ /home/node/app, root-owned as a plain COPY), codeasdata (dist/codeAsData →
    /// /root/patches, 1000:1000, the folder mode 775) or custom (--dest, --base).
    #[arg(long = "kind", env = "CADKIT_IMAGE_KIND", value_enum)]
    pub kind: Kind,
    /// The folder copied into the image (default for codeasdata: dist/codeAsData).
    #[arg(long = "source", env = "CADKIT_IMAGE_SOURCE")]
    pub source: Option<PathBuf>,
    /// Base image: a registry reference, `oci:<dir>[:tag]`, or `scratch` (default: the
    /// guide's olympeio/frontend-base:stable, olympeio/backend-base:18-stable,
    /// olympeio/codeasdata-base:stable).
    #[arg(long = "base", env = "CADKIT_IMAGE_BASE")]
    pub base: Option<String>,
    /// Where the image goes: `host/repo[:tag]` (a registry) or `oci:<dir>[:tag]` (an OCI
    /// image layout folder, no registry needed).
    #[arg(long = "output", env = "CADKIT_IMAGE_OUTPUT")]
    pub output: String,
    /// More tags for the same image (repeatable, or comma-separated).
    #[arg(long = "tag", env = "CADKIT_IMAGE_TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// OCI label `key=value` added to the image config (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Destination folder inside the image (overrides the kind's).
    #[arg(long = "dest", env = "CADKIT_IMAGE_DEST")]
    pub dest: Option<String>,
    /// Owner `user[:group]`, names (resolved in the base's /etc/passwd, /etc/group) or ids.
    #[arg(long = "owner", env = "CADKIT_IMAGE_OWNER")]
    pub owner: Option<String>,
    /// Octal mode for every copied file and folder (e.g. 775); default: the source's
    /// (0755 for folders and executables, 0644 otherwise), the kind's on its folder.
    #[arg(long = "mode", env = "CADKIT_IMAGE_MODE")]
    pub mode: Option<String>,
    /// Platform `os/arch[/variant]`: filters a multi-platform base; the platform(s) of a
    /// `scratch` image (default linux/amd64). Repeatable.
    #[arg(
        long = "platform",
        env = "CADKIT_IMAGE_PLATFORMS",
        value_delimiter = ','
    )]
    pub platforms: Vec<String>,
    /// Plain http for every registry (127.0.0.1, localhost and ::1 always use http).
    #[arg(long = "insecure", env = "CADKIT_IMAGE_INSECURE")]
    pub insecure: bool,
    /// User for the output registry; the password comes from CADKIT_REGISTRY_PASSWORD.
    /// Without it, credentials come from $DOCKER_CONFIG/config.json (~/.docker).
    #[arg(long = "username", env = "CADKIT_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// gzip level of the new layer (0–9). Default 1: on JSON patches it is 12 % larger than
    /// level 6 and about 4× faster, which decides the push time on a fast link.
    #[arg(long = "gzip-level", env = "CADKIT_IMAGE_GZIP_LEVEL", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub gzip_level: u32,
    /// Layer compression: gzip (default) or none (an uncompressed tar layer: fastest to
    /// build and push, largest to store and pull).
    #[arg(long = "compression", env = "CADKIT_IMAGE_COMPRESSION", default_value = "gzip", value_parser = ["gzip", "none"])]
    pub compression: String,
    /// Build and plan only: report what would be written; write nothing.
    #[arg(long = "dry-run", alias = "dryRun", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = super::parse_bool, action = clap::ArgAction::Set)]
    pub dry_run: bool,
}

impl ImageArgs {
    /// The library request (base image, folder, target and registry settings).
    pub fn request(&self) -> ImageRequest {
        ImageRequest {
            kind: self.kind,
            source: self.source.clone(),
            base: self
                .base
                .clone()
                .filter(|b| !b.is_empty())
                .or_else(|| image::default_base(self.kind).map(str::to_string))
                .unwrap_or_default(),
            output: self.output.clone(),
            tags: self
                .tags
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            labels: self.labels.clone(),
            dest: self.dest.clone(),
            owner: self.owner.clone(),
            mode: self.mode.clone(),
            platforms: self
                .platforms
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
            insecure: self.insecure,
            dry_run: self.dry_run,
            credentials: Credentials::from_env(self.username.clone()),
            gzip_level: self.gzip_level,
            compress: self.compression != "none",
            progress: true,
            mtime: None,
        }
    }
}

impl Step for ImageArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let req = self.request();
        let mut out = crate::ci::Outputs::detect().dry_run(req.dry_run);
        if let Ok(password) = std::env::var("CADKIT_REGISTRY_PASSWORD") {
            crate::ci::inputs::check_secret(
                "registry password",
                "CADKIT_REGISTRY_PASSWORD",
                &password,
            )?;
            out.mask(&password);
        }
        let report = crate::steps::image::run(&req, &mut out)?;
        out.finish_report(&report, global.report.as_deref() != Some("none"))?;
        Ok(0)
    }
}
