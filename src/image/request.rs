//! The request and report types of `cadkit image`: what a caller asks for, and what the
//! JSON report says was written.

use super::registry::{Credentials, Stats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The three images of a code-as-data project, plus a free one. Defaults follow the
/// deployment guide's Dockerfiles, so that the image has the file tree `docker build` of
/// those Dockerfiles gives (paths, owners, modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Static site: `COPY --chown=nginx:root … /usr/share/nginx/html`.
    Frontend,
    /// Node application: a plain `COPY … /home/node/app` (root-owned files).
    Backend,
    /// The patches: `COPY --chown=1000:1000 … /root/patches`, `chmod 775` on the folder.
    #[value(name = "codeasdata", alias = "code-as-data")]
    Codeasdata,
    /// Anything else: --dest (and --base) are required.
    Custom,
}

/// Defaults of a kind: (destination, owner, mode of the destination folder, default source).
pub fn kind_defaults(
    kind: Kind,
) -> (
    Option<&'static str>,
    &'static str,
    Option<u32>,
    Option<&'static str>,
) {
    match kind {
        Kind::Frontend => (Some("/usr/share/nginx/html"), "nginx:root", None, None),
        Kind::Backend => (Some("/home/node/app"), "0:0", None, None),
        Kind::Codeasdata => (
            Some("/root/patches"),
            "1000:1000",
            Some(0o775),
            Some("dist/codeAsData"),
        ),
        Kind::Custom => (None, "0:0", None, None),
    }
}

/// The Olympe base image the deployment guide builds each kind on (`--base` default).
pub fn default_base(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Frontend => Some("olympeio/frontend-base:stable"),
        Kind::Backend => Some("olympeio/backend-base:18-stable"),
        Kind::Codeasdata => Some("olympeio/codeasdata-base:stable"),
        Kind::Custom => None,
    }
}

/// Everything `cadkit image` needs.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// Which image: sets the defaults of destination, owner, mode and source.
    pub kind: Kind,
    /// Folder to copy (default: `dist/codeAsData` for codeasdata; required otherwise).
    pub source: Option<PathBuf>,
    /// `scratch`, `oci:<dir>[:tag]` or a registry reference.
    pub base: String,
    /// `oci:<dir>[:tag]` or a registry reference `host/repo[:tag]`.
    pub output: String,
    /// Extra tags (the output reference's own tag comes first; `latest` when none at all).
    pub tags: Vec<String>,
    /// `key=value` OCI labels.
    pub labels: Vec<String>,
    /// Folder inside the image (default: the kind's).
    pub dest: Option<String>,
    /// `user[:group]` or `uid[:gid]`, resolved in the base image (default: the kind's).
    pub owner: Option<String>,
    /// Octal mode such as `775`.
    pub mode: Option<String>,
    /// `os/arch[/variant]` filter for the base, or the platforms of a `scratch` image.
    pub platforms: Vec<String>,
    /// Plain http for every registry (loopback hosts always use http).
    pub insecure: bool,
    /// Check and report everything; write nothing.
    pub dry_run: bool,
    /// Credentials for pulling the base and pushing the output.
    pub credentials: Credentials,
    /// gzip level of the layer (1: fast, 9: small).
    pub gzip_level: u32,
    /// false: an uncompressed layer (fastest; see `layer::LayerSpec::compress`).
    pub compress: bool,
    /// Show a progress bar (only ever drawn on a terminal).
    pub progress: bool,
    /// Layer mtime (seconds); None reads `SOURCE_DATE_EPOCH` (or 0).
    pub mtime: Option<u64>,
}

impl ImageRequest {
    /// A request with the kind's defaults and no options.
    pub fn new(kind: Kind, base: &str, output: &str) -> ImageRequest {
        ImageRequest {
            kind,
            source: None,
            base: base.into(),
            output: output.into(),
            tags: vec![],
            labels: vec![],
            dest: None,
            owner: None,
            mode: None,
            platforms: vec![],
            insecure: false,
            dry_run: false,
            credentials: Credentials::default(),
            gzip_level: 1,
            compress: true,
            progress: false,
            mtime: None,
        }
    }
}

/// What was (or, with `--dry-run`, would be) written.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
    /// The kind built.
    pub kind: Kind,
    /// Nothing was written. Not serialised: the report envelope's `dryRun` says it.
    #[serde(skip)]
    #[schemars(skip)]
    pub dry_run: bool,
    /// The folder copied.
    pub source: PathBuf,
    /// Where it is in the image.
    pub dest: String,
    /// The base reference, as given.
    pub base: String,
    /// The base's digest (none for `scratch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_digest: Option<String>,
    /// Every reference the image is reachable by: one per tag, plus `name@digest`.
    pub references: Vec<String>,
    /// Digest of the top manifest (the index for a multi-platform image).
    pub digest: String,
    /// The output already held this digest before the run: the image is reproducible, so
    /// nothing changed and no deployment needs triggering (the guide warns that deploying
    /// the code-as-data image causes a brief downtime).
    pub unchanged: bool,
    /// Media type of the top manifest.
    pub media_type: String,
    /// Size of the top manifest.
    pub size: u64,
    /// One entry per platform image.
    pub platforms: Vec<PlatformReport>,
    /// Every blob of the image and what happened to it.
    pub blobs: Vec<BlobAction>,
    /// Counts of uploads, mounts and skips.
    pub stats: Stats,
    /// Wall time of each phase, in milliseconds (base, layer, write).
    pub timings_ms: BTreeMap<String, u64>,
}

/// One platform's image in the report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The config's digest.
    pub config_digest: String,
    /// `uid:gid` of the copied entries.
    pub owner: String,
    /// The layer added.
    pub layer: LayerReport,
    /// Number of base layers below it.
    pub base_layers: usize,
    /// Total compressed size of the image's layers + config.
    pub image_size: u64,
}

/// The layer added to a platform image.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    /// The blob's digest (what the manifest lists).
    pub digest: String,
    /// Digest of the uncompressed tar (what the config lists).
    pub diff_id: String,
    /// Blob size, in bytes.
    pub size: u64,
    /// Tar size, in bytes.
    pub uncompressed_size: u64,
    /// Files, folders and links in the layer.
    pub entries: usize,
}

/// One blob and what happened to it: `upload`, `mount`, `exists` or `copy` (to a layout).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BlobAction {
    /// The blob's digest.
    pub digest: String,
    /// Its size, in bytes.
    pub size: u64,
    /// `upload`, `mount`, `exists` or `copy`.
    pub action: String,
}
