//! `cadkit image`: copy a folder onto a base image as one deterministic layer and write
//! the result to a registry or an OCI image layout, with no container engine.
//!
//! - [`layer`]: the deterministic tar+gzip layer builder;
//! - [`users`]: owner names resolved from the base's `/etc/passwd` and `/etc/group`;
//! - [`oci`]: base image model, config/manifest/index assembly, OCI layouts;
//! - [`registry`]: pulls and pushes (oci-client), credentials, retries.
//!
//! The flow: resolve the base (scratch, `oci:<dir>[:tag]` or a registry reference, every
//! platform of a multi-platform base), resolve the owner per platform, build the layer,
//! assemble config + manifest per platform (+ an index when there are several), then
//! write blobs first and the tags last, so a failure never leaves a half image under a tag.

pub mod blob;
pub mod layer;
pub mod oci;
pub mod registry;
pub mod users;

use anyhow::{anyhow, bail, Context, Result};
use oci::{Assembled, BaseImage, Descriptor, Layout};
use oci_client::Reference;
use registry::{Credentials, Registry, Stats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    pub dest: Option<String>,
    pub owner: Option<String>,
    /// Octal mode such as `775`.
    pub mode: Option<String>,
    /// `os/arch[/variant]` filter for the base, or the platforms of a `scratch` image.
    pub platforms: Vec<String>,
    /// Plain http for every registry (loopback hosts always use http).
    pub insecure: bool,
    pub dry_run: bool,
    pub credentials: Credentials,
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
    pub kind: Kind,
    /// Nothing was written. Not serialised: the report envelope's `dryRun` says it.
    #[serde(skip)]
    #[schemars(skip)]
    pub dry_run: bool,
    pub source: PathBuf,
    pub dest: String,
    pub base: String,
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
    pub media_type: String,
    /// Size of the top manifest.
    pub size: u64,
    pub platforms: Vec<PlatformReport>,
    pub blobs: Vec<BlobAction>,
    pub stats: Stats,
    /// Wall time of each phase, in milliseconds (base, layer, write).
    pub timings_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    pub platform: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub owner: String,
    pub layer: LayerReport,
    pub base_layers: usize,
    /// Total compressed size of the image's layers + config.
    pub image_size: u64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub entries: usize,
}

/// One blob and what happened to it: `upload`, `mount`, `exists` or `copy` (to a layout).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BlobAction {
    pub digest: String,
    pub size: u64,
    pub action: String,
}

/// Where the result goes.
enum Output {
    Layout {
        layout: Layout,
        tags: Vec<String>,
    },
    Registry {
        reference: Reference,
        tags: Vec<String>,
    },
}

fn parse_output(req: &ImageRequest, reg: &Registry) -> Result<Output> {
    let mut tags = Vec::new();
    let out = if let Some((dir, tag)) = oci::parse_layout_ref(&req.output) {
        tags.extend(tag);
        tags.extend(req.tags.iter().cloned());
        Output::Layout {
            layout: Layout::new(&dir),
            tags,
        }
    } else {
        let r = reg.parse(&req.output)?;
        if r.digest().is_some() {
            bail!("--output {} has a digest; give a tag instead", req.output);
        }
        // oci-client fills in `latest` for a reference without tag: only keep it when the
        // user wrote it or gave no other tag.
        let explicit = req
            .output
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
        if explicit {
            tags.extend(r.tag().map(String::from));
        }
        tags.extend(req.tags.iter().cloned());
        Output::Registry { reference: r, tags }
    };
    let tags = match &out {
        Output::Layout { tags, .. } | Output::Registry { tags, .. } => tags,
    };
    for t in tags {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !t.starts_with(['.', '-']);
        if !ok {
            bail!("tag {t:?} is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})");
        }
    }
    Ok(match out {
        Output::Layout { layout, mut tags } => {
            if tags.is_empty() {
                tags.push("latest".into());
            }
            dedup(&mut tags);
            Output::Layout { layout, tags }
        }
        Output::Registry {
            reference,
            mut tags,
        } => {
            if tags.is_empty() {
                tags.push("latest".into());
            }
            dedup(&mut tags);
            Output::Registry { reference, tags }
        }
    })
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|t| seen.insert(t.clone()));
}

/// Where base blobs come from.
enum BaseSource {
    Scratch,
    Layout(Layout),
    Registry(Reference),
}

struct Blobs<'a> {
    source: &'a BaseSource,
    cache: BTreeMap<String, Vec<u8>>,
}

impl Blobs<'_> {
    fn get(&mut self, reg: &mut Registry, digest: &str) -> Result<&[u8]> {
        if !self.cache.contains_key(digest) {
            let bytes = match self.source {
                BaseSource::Scratch => bail!("scratch has no blob {digest}"),
                BaseSource::Layout(l) => l.read_blob(digest)?,
                BaseSource::Registry(r) => reg.blob(r, digest)?,
            };
            self.cache.insert(digest.to_string(), bytes);
        }
        Ok(&self.cache[digest])
    }

    /// A blob for a one-time copy: taken out of the cache if there, else fetched uncached.
    fn take(&mut self, reg: &mut Registry, digest: &str) -> Result<Vec<u8>> {
        if let Some(b) = self.cache.remove(digest) {
            return Ok(b);
        }
        match self.source {
            BaseSource::Scratch => bail!("scratch has no blob {digest}"),
            BaseSource::Layout(l) => l.read_blob(digest),
            BaseSource::Registry(r) => reg.blob(r, digest),
        }
    }
}

fn resolve_base(req: &ImageRequest, reg: &mut Registry) -> Result<(BaseImage, BaseSource)> {
    if req.base == "scratch" {
        return Ok((oci::scratch(&req.platforms)?, BaseSource::Scratch));
    }
    if let Some((dir, tag)) = oci::parse_layout_ref(&req.base) {
        let layout = Layout::new(&dir);
        let top = layout.resolve(tag.as_deref())?;
        let raw = layout.read_blob(&top.digest)?;
        let base = oci::read_base(
            &req.base,
            (raw, top.digest.clone()),
            &req.platforms,
            &mut |d| layout.read_blob(d),
            &mut |d| layout.read_blob(d),
        )?;
        return Ok((base, BaseSource::Layout(layout)));
    }
    let r = reg.parse(&req.base)?;
    let top = reg
        .manifest(&r)
        .with_context(|| format!("cannot read the base image {}", req.base))?;
    let base = {
        let reg_cell = std::cell::RefCell::new(&mut *reg);
        oci::read_base(
            &req.base,
            top,
            &req.platforms,
            &mut |d| {
                let by_digest = Reference::with_digest(
                    r.registry().to_string(),
                    r.repository().to_string(),
                    d.to_string(),
                );
                reg_cell.borrow_mut().manifest(&by_digest).map(|(b, _)| b)
            },
            &mut |d| reg_cell.borrow_mut().blob(&r, d),
        )?
    };
    Ok((base, BaseSource::Registry(r)))
}

fn parse_mode(s: &str) -> Result<u32> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| anyhow!("mode {s:?} is not an octal number such as 775"))?;
    if m > 0o7777 {
        bail!("mode {s:?} is larger than 7777");
    }
    Ok(m)
}

/// The request, checked and resolved before any network access.
struct Plan {
    dest: String,
    owner_spec: String,
    /// An explicit `--mode` applies to everything; the kind's mode to its folder only.
    mode: Option<u32>,
    dest_mode: Option<u32>,
    source: PathBuf,
    labels: BTreeMap<String, String>,
    mtime: u64,
}

/// The layers built and the images assembled, one per base platform.
struct Built {
    layers: BTreeMap<LayerKey, layer::Layer>,
    assembled: Vec<(Assembled, LayerKey)>,
    /// Layers already uploaded while built, with the registry's action.
    streamed: BTreeMap<String, &'static str>,
}

/// Build the image and write it; the report lists references and digests. Stages:
/// `plan`, base, `build_layers`, `top_manifest`,
/// `write_output`, then the report.
pub fn run(req: &ImageRequest) -> Result<ImageReport> {
    let plan = plan(req)?;
    let mut reg = open_registry(req)?;
    let output = parse_output(req, &reg)?;

    let started = std::time::Instant::now();
    let mut timings_ms = BTreeMap::new();
    let mut lap = {
        let mut last = started;
        move |name: &str, t: &mut BTreeMap<String, u64>| {
            let now = std::time::Instant::now();
            t.insert(name.to_string(), (now - last).as_millis() as u64);
            last = now;
        }
    };
    let (base, base_source) = resolve_base(req, &mut reg)?;
    lap("base", &mut timings_ms);
    tracing::info!(
        "base {} ({} platform{})",
        base.reference,
        base.platforms.len(),
        if base.platforms.len() == 1 { "" } else { "s" }
    );
    let mut blobs = Blobs {
        source: &base_source,
        cache: BTreeMap::new(),
    };
    let built = build_layers(req, &plan, &base, &output, &mut blobs, &mut reg)?;
    lap("layer", &mut timings_ms);
    let top = top_manifest(&base, &built.assembled)?;
    let mut actions = Vec::new();
    let mut stats = Stats::default();
    let unchanged = match &output {
        Output::Layout { layout, .. } => layout.has_blob(&top.1.digest),
        Output::Registry { reference, .. } => reg.manifest_exists(reference, &top.1.digest),
    };
    let references = write_output(
        req,
        &output,
        &built,
        &top,
        &base_source,
        &mut blobs,
        &mut reg,
        &mut actions,
        &mut stats,
    )?;
    lap("write", &mut timings_ms);
    Ok(ImageReport {
        kind: req.kind,
        dry_run: req.dry_run,
        platforms: platform_reports(&built),
        source: plan.source,
        dest: plan.dest,
        base: base.reference.clone(),
        base_digest: base.digest.clone(),
        references,
        digest: top.1.digest.clone(),
        unchanged,
        media_type: top.1.media_type.clone(),
        size: top.1.size,
        blobs: actions,
        stats,
        timings_ms,
    })
}

/// Check and resolve the request (kind defaults, source folder, labels, mtime).
fn plan(req: &ImageRequest) -> Result<Plan> {
    let (default_dest, default_owner, dest_mode, default_source) = kind_defaults(req.kind);
    if req.base.is_empty() {
        bail!("--kind custom needs --base (a registry reference, oci:<dir>[:tag] or scratch)");
    }
    let dest = match (&req.dest, default_dest) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => bail!("--kind custom needs --dest (the folder inside the image)"),
    };
    let dest = layer::normalise_dest(&dest)?;
    let owner_spec = req
        .owner
        .clone()
        .unwrap_or_else(|| default_owner.to_string());
    let mode = req.mode.as_deref().map(parse_mode).transpose()?;
    let source = match (&req.source, default_source) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => PathBuf::from(s),
        (None, None) => bail!("--source is required for --kind {:?}", req.kind),
    };
    // A missing or wrong folder fails before any network access.
    layer::check_source(&source)?;
    let labels = oci::parse_labels(&req.labels)?;
    let mtime = match req.mtime {
        Some(m) => m,
        None => layer::mtime_from_env()?,
    };
    Ok(Plan {
        dest,
        owner_spec,
        mode,
        dest_mode,
        source,
        labels,
        mtime,
    })
}

/// The registry client, with the output's registry as the one credentials go to.
fn open_registry(req: &ImageRequest) -> Result<Registry> {
    let output_host = if oci::parse_layout_ref(&req.output).is_none() {
        req.output
            .parse::<Reference>()
            .ok()
            .map(|r| r.resolve_registry().to_string())
    } else {
        None
    };
    Registry::new(req.credentials.clone(), output_host, req.insecure)
}

/// Owner and parent folders per platform, then one layer per distinct result (usually
/// one for all platforms), and each platform's image assembled on it.
fn build_layers(
    req: &ImageRequest,
    plan: &Plan,
    base: &BaseImage,
    output: &Output,
    blobs: &mut Blobs,
    reg: &mut Registry,
) -> Result<Built> {
    let parent_dirs: Vec<String> = {
        let parts: Vec<&str> = plan.dest.split('/').filter(|p| !p.is_empty()).collect();
        (1..parts.len()).map(|i| parts[..i].join("/")).collect()
    };
    // An uncompressed layer pushed to a registry is uploaded while it is built.
    let stream_to = match output {
        Output::Registry { reference, .. }
            if !req.dry_run && !req.compress && base.platforms.len() == 1 =>
        {
            Some(reference.clone())
        }
        _ => None,
    };
    let mut built = Built {
        layers: BTreeMap::new(),
        assembled: Vec::new(),
        streamed: BTreeMap::new(),
    };
    for p in &base.platforms {
        let mut scanner =
            users::BaseScanner::new(users::needs_accounts(&plan.owner_spec), &parent_dirs);
        for l in p.layers.iter().rev() {
            if scanner.done() {
                break;
            }
            let d = Descriptor::from_json(l)?;
            let blob = blobs.get(reg, &d.digest)?;
            scanner
                .feed(blob)
                .with_context(|| format!("cannot read base layer {}", d.digest))?;
        }
        let ids = users::resolve(&plan.owner_spec, &scanner.accounts()).with_context(|| {
            format!(
                "cannot resolve owner {:?} in base {} ({})",
                plan.owner_spec,
                base.reference,
                p.name()
            )
        })?;
        let parents = scanner.dirs();
        let key: LayerKey = (ids, parents.clone().into_iter().collect());
        if !built.layers.contains_key(&key) {
            let spec = layer_spec(req, plan, ids, parents);
            let l = build_layer(&spec, stream_to.as_ref(), reg, &mut built.streamed)?;
            built.layers.insert(key.clone(), l);
        }
        let add = addition(req, plan, &built.layers[&key])?;
        built.assembled.push((oci::assemble(p, &add)?, key));
    }
    Ok(built)
}

fn layer_spec(
    req: &ImageRequest,
    plan: &Plan,
    ids: (u64, u64),
    parents: BTreeMap<String, users::DirMeta>,
) -> layer::LayerSpec {
    layer::LayerSpec {
        source: plan.source.clone(),
        dest: plan.dest.clone(),
        owner: layer::Ownership {
            uid: ids.0,
            gid: ids.1,
            mode: plan.mode,
            dest_mode: plan.dest_mode,
        },
        mtime: plan.mtime,
        gzip_level: req.gzip_level,
        compress: req.compress,
        parents,
    }
}

/// Build one layer, uploading it while it is built when `stream_to` is set (falling back
/// to an upload afterwards when the registry refuses a streamed upload).
fn build_layer(
    spec: &layer::LayerSpec,
    stream_to: Option<&Reference>,
    reg: &mut Registry,
    streamed: &mut BTreeMap<String, &'static str>,
) -> Result<layer::Layer> {
    let upload = match stream_to {
        Some(target) => match reg.start_streamed_upload(target) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!("{e:#}; the layer will be uploaded after it is built");
                None
            }
        },
        None => None,
    };
    let built = match upload {
        Some(mut up) => {
            let built = {
                let mut sink = |piece: &[u8]| up.send(piece);
                layer::build_with_sink(spec, Some(&mut sink))?
            };
            if let Some(action) = reg.finish_streamed_upload(up, &built.digest)? {
                streamed.insert(built.digest.clone(), action);
            }
            built
        }
        None => layer::build(spec)?,
    };
    tracing::info!(
        "layer {} ({} entries, {} bytes compressed)",
        built.digest,
        built.entries,
        built.blob.len()
    );
    Ok(built)
}

/// The layer as added to a base image's config (history entry included).
fn addition(req: &ImageRequest, plan: &Plan, l: &layer::Layer) -> Result<oci::Addition> {
    Ok(oci::Addition {
        layer: Descriptor {
            media_type: l.media_type.into(),
            digest: l.digest.clone(),
            size: l.blob.len() as u64,
        },
        diff_id: l.diff_id.clone(),
        labels: plan.labels.clone(),
        created: oci::rfc3339(plan.mtime),
        created_by: format!(
            "cadkit image --kind {} (COPY --chown={}{} {} {})",
            serde_json::to_value(req.kind)?.as_str().unwrap_or("custom"),
            plan.owner_spec,
            plan.mode
                .map(|m| format!(" --chmod={m:o}"))
                .unwrap_or_default(),
            plan.source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| ".".into()),
            plan.dest,
        ),
    })
}

/// The top manifest: an index for several platforms (or an index base), else the image's.
fn top_manifest(
    base: &BaseImage,
    assembled: &[(Assembled, LayerKey)],
) -> Result<(Vec<u8>, Descriptor)> {
    if assembled.len() > 1 || base.index_media_type.is_some() {
        let mt = base
            .index_media_type
            .clone()
            .unwrap_or_else(|| oci::OCI_INDEX.into());
        let imgs: Vec<Assembled> = assembled.iter().map(|(a, _)| a.clone()).collect();
        oci::index(&imgs, &mt)
    } else {
        let a = &assembled[0].0;
        Ok((a.manifest.clone(), a.manifest_desc.clone()))
    }
}

/// Write the image to its output; the references it is reachable by.
#[allow(clippy::too_many_arguments)]
fn write_output(
    req: &ImageRequest,
    output: &Output,
    built: &Built,
    top: &(Vec<u8>, Descriptor),
    base_source: &BaseSource,
    blobs: &mut Blobs,
    reg: &mut Registry,
    actions: &mut Vec<BlobAction>,
    stats: &mut Stats,
) -> Result<Vec<String>> {
    Ok(match output {
        Output::Layout { layout, tags } => {
            write_layout(
                req,
                layout,
                tags,
                &built.assembled,
                &built.layers,
                top,
                blobs,
                reg,
                actions,
            )?;
            let mut refs: Vec<String> = tags
                .iter()
                .map(|t| format!("oci:{}:{t}", layout.dir.display()))
                .collect();
            refs.push(format!("oci:{}@{}", layout.dir.display(), top.1.digest));
            refs
        }
        Output::Registry { reference, tags } => {
            push_registry(
                req,
                reference,
                tags,
                &built.streamed,
                base_source,
                &built.assembled,
                &built.layers,
                top,
                blobs,
                reg,
                actions,
                stats,
            )?;
            let name = format!("{}/{}", reference.registry(), reference.repository());
            let mut refs: Vec<String> = tags.iter().map(|t| format!("{name}:{t}")).collect();
            refs.push(format!("{name}@{}", top.1.digest));
            refs
        }
    })
}

/// One report entry per platform image.
fn platform_reports(built: &Built) -> Vec<PlatformReport> {
    built
        .assembled
        .iter()
        .map(|(a, ids)| {
            let l = &built.layers[ids];
            PlatformReport {
                platform: a.platform_name.clone(),
                manifest_digest: a.manifest_desc.digest.clone(),
                config_digest: a.config_desc.digest.clone(),
                owner: format!("{}:{}", ids.0 .0, ids.0 .1),
                layer: LayerReport {
                    digest: l.digest.clone(),
                    diff_id: l.diff_id.clone(),
                    size: l.blob.len() as u64,
                    uncompressed_size: l.tar_size,
                    entries: l.entries,
                },
                base_layers: a.base_layers.len(),
                image_size: a.base_layers.iter().map(|d| d.size).sum::<u64>()
                    + l.blob.len() as u64
                    + a.config_desc.size,
            }
        })
        .collect()
}

/// Layers are built once per (owner ids, metadata of the parent folders found in the base).
type LayerKey = ((u64, u64), Vec<(String, users::DirMeta)>);

/// Every blob of the result: (digest, size, is a base layer).
fn all_blobs(
    assembled: &[(Assembled, LayerKey)],
    layers: &BTreeMap<LayerKey, layer::Layer>,
) -> Vec<(String, u64, Option<bytes::Bytes>)> {
    let mut out: Vec<(String, u64, Option<bytes::Bytes>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (a, ids) in assembled {
        for d in &a.base_layers {
            if seen.insert(d.digest.clone()) {
                out.push((d.digest.clone(), d.size, None));
            }
        }
        let l = &layers[ids];
        if seen.insert(l.digest.clone()) {
            out.push((l.digest.clone(), l.blob.len() as u64, Some(l.blob.clone())));
        }
        if seen.insert(a.config_desc.digest.clone()) {
            out.push((
                a.config_desc.digest.clone(),
                a.config_desc.size,
                Some(bytes::Bytes::from(a.config.clone())),
            ));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn write_layout(
    req: &ImageRequest,
    layout: &Layout,
    tags: &[String],
    assembled: &[(Assembled, LayerKey)],
    layers: &BTreeMap<LayerKey, layer::Layer>,
    top: &(Vec<u8>, Descriptor),
    blobs: &mut Blobs,
    reg: &mut Registry,
    actions: &mut Vec<BlobAction>,
) -> Result<()> {
    for (digest, size, data) in all_blobs(assembled, layers) {
        let present = layout.has_blob(&digest);
        actions.push(BlobAction {
            digest: digest.clone(),
            size,
            action: if present { "exists" } else { "copy" }.into(),
        });
        if req.dry_run || present {
            continue;
        }
        match data {
            Some(d) => layout.write_blob(&digest, &d)?,
            None => {
                let bytes = blobs.take(reg, &digest)?;
                layout.write_blob(&digest, &bytes)?
            }
        };
    }
    if req.dry_run {
        return Ok(());
    }
    if assembled.len() > 1 || top.1.media_type != assembled[0].0.manifest_desc.media_type {
        for (a, _) in assembled {
            layout.write_blob(&a.manifest_desc.digest, &a.manifest)?;
        }
    }
    layout.write_blob(&top.1.digest, &top.0)?;
    layout
        .tag(&top.1, tags)
        .with_context(|| format!("cannot tag the OCI layout {}", layout.dir.display()))
}

#[allow(clippy::too_many_arguments)]
fn push_registry(
    req: &ImageRequest,
    target: &Reference,
    tags: &[String],
    streamed: &BTreeMap<String, &'static str>,
    base_source: &BaseSource,
    assembled: &[(Assembled, LayerKey)],
    layers: &BTreeMap<LayerKey, layer::Layer>,
    top: &(Vec<u8>, Descriptor),
    blobs: &mut Blobs,
    reg: &mut Registry,
    actions: &mut Vec<BlobAction>,
    stats: &mut Stats,
) -> Result<()> {
    reg.login(target)
        .with_context(|| format!("cannot push to {}", target.registry()))?;
    let mount_from = match base_source {
        BaseSource::Registry(r)
            if r.resolve_registry() == target.resolve_registry()
                && r.repository() != target.repository() =>
        {
            Some(r.clone())
        }
        _ => None,
    };
    let list = all_blobs(assembled, layers);
    let total: u64 = list.iter().map(|(_, s, _)| s).sum();
    let bar = progress_bar(req.progress && !req.dry_run, total);
    for (digest, size, data) in list {
        bar.set_message(format!(
            "{} ({:.1} MiB)",
            &digest[..digest.len().min(19)],
            size as f64 / 1048576.0
        ));
        if let Some(action) = streamed.get(&digest) {
            // Uploaded (or found) while the layer was being built.
            if *action == "upload" {
                stats.uploaded += 1;
                stats.uploaded_bytes += size;
            } else {
                stats.skipped += 1;
            }
            bar.inc(size);
            actions.push(BlobAction {
                digest,
                size,
                action: action.to_string(),
            });
            continue;
        }
        let exists = reg.blob_exists(target, &digest)?;
        let action = if exists {
            stats.skipped += 1;
            "exists"
        } else if req.dry_run {
            if data.is_none() && mount_from.is_some() {
                "mount"
            } else {
                "upload"
            }
        } else if data.is_none()
            && mount_from
                .as_ref()
                .is_some_and(|from| reg.mount(target, from, &digest).unwrap_or(false))
        {
            stats.mounted += 1;
            "mount"
        } else {
            match data {
                Some(d) => reg.push_blob(target, &digest, d)?,
                None => {
                    let bytes = blobs.take(reg, &digest)?;
                    reg.push_blob(target, &digest, bytes.into())?
                }
            }
            stats.uploaded += 1;
            stats.uploaded_bytes += size;
            "upload"
        };
        bar.inc(size);
        actions.push(BlobAction {
            digest,
            size,
            action: action.into(),
        });
    }
    bar.finish_and_clear();
    if req.dry_run {
        return Ok(());
    }
    push_manifests(reg, target, tags, assembled, top)
}

/// The platform manifests (under an index) by digest, then the top manifest under each
/// tag: until the tags, nothing is visible under any tag.
fn push_manifests(
    reg: &mut Registry,
    target: &Reference,
    tags: &[String],
    assembled: &[(Assembled, LayerKey)],
    top: &(Vec<u8>, Descriptor),
) -> Result<()> {
    let is_index = oci::is_index(&top.1.media_type);
    if is_index {
        for (a, _) in assembled {
            let by_digest = Reference::with_digest(
                target.registry().to_string(),
                target.repository().to_string(),
                a.manifest_desc.digest.clone(),
            );
            reg.push_manifest(&by_digest, &a.manifest_desc.media_type, &a.manifest)?;
        }
    }
    // The tags last: until here nothing is visible under any tag.
    for t in tags {
        let tagged = Reference::with_tag(
            target.registry().to_string(),
            target.repository().to_string(),
            t.clone(),
        );
        reg.push_manifest(&tagged, &top.1.media_type, &top.0)?;
        tracing::info!("pushed {tagged} ({})", top.1.digest);
    }
    Ok(())
}

fn progress_bar(wanted: bool, total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !wanted || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} pushing [{bar:30}] {bytes}/{total_bytes} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    // The spinner keeps moving during a long single-blob upload.
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The code-as-data image of a built project, written to an OCI layout on `scratch`
/// (used by `cadkit demo`; needs no registry).
pub fn codeasdata_to_layout(
    working_dir: &Path,
    layout_dir: &Path,
    tag: &str,
) -> Result<ImageReport> {
    let mut req = ImageRequest::new(
        Kind::Codeasdata,
        "scratch",
        &format!("oci:{}:{tag}", layout_dir.display()),
    );
    req.source = Some(working_dir.to_path_buf());
    run(&req)
}

#[cfg(test)]
mod guide_tests {
    use super::*;

    #[test]
    fn kinds_default_to_the_guides_base_images() {
        assert_eq!(
            default_base(Kind::Frontend),
            Some("olympeio/frontend-base:stable")
        );
        assert_eq!(
            default_base(Kind::Backend),
            Some("olympeio/backend-base:18-stable")
        );
        assert_eq!(
            default_base(Kind::Codeasdata),
            Some("olympeio/codeasdata-base:stable")
        );
        assert_eq!(default_base(Kind::Custom), None);
    }
}
