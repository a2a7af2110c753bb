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

mod compose;
mod request;
mod write;

pub use request::{
    default_base, kind_defaults, BlobAction, ImageReport, ImageRequest, Kind, LayerReport,
    PlatformReport,
};

use anyhow::{anyhow, bail, Context, Result};
use compose::{Built, Output};
use oci::{BaseImage, Layout};
use oci_client::Reference;
use registry::{Registry, Stats};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Build the image and write it; the report lists references and digests. Stages:
/// `plan`, base, `build_layers`, `top_manifest`,
/// `write_output`, then the report.
pub fn run(req: &ImageRequest) -> Result<ImageReport> {
    let plan = plan(req)?;
    let mut reg = open_registry(req)?;
    let output = write::parse_output(req, &reg)?;

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
    let built = compose::build_layers(req, &plan, &base, &output, &mut blobs, &mut reg)?;
    lap("layer", &mut timings_ms);
    let top = compose::top_manifest(&base, &built.assembled)?;
    let mut actions = Vec::new();
    let mut stats = Stats::default();
    let unchanged = match &output {
        Output::Layout { layout, .. } => layout.has_blob(&top.1.digest),
        Output::Registry { reference, .. } => reg.manifest_exists(reference, &top.1.digest),
    };
    let references = write::write_output(
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
