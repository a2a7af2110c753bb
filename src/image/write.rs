//! Where the image goes: the `--output` parsed into a layout or a registry target, and
//! the blobs then manifests then tags written there (tags last, so a failure never
//! leaves a half image under a tag).

use super::compose::{Built, LayerKey, Output};
use super::oci::{self, Assembled, Descriptor, Layout};
use super::registry::{Registry, Stats};
use super::{layer, BaseSource, BlobAction, Blobs, ImageRequest};
use anyhow::{bail, Context, Result};
use oci_client::Reference;
use std::collections::BTreeMap;

pub(super) fn parse_output(req: &ImageRequest, reg: &Registry) -> Result<Output> {
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

/// Write the image to its output; the references it is reachable by.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_output(
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

/// Push every blob (base layers mounted or copied, the new layer, the configs), then the
/// manifests and tags. Each blob's action goes to the report and the counters.
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
    let mut push = BlobPush {
        target,
        mount_from: mount_source(base_source, target),
        dry_run: req.dry_run,
        blobs,
        reg,
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
        let action = match streamed.get(&digest) {
            // Uploaded (or found) while the layer was being built.
            Some(action) => action,
            None => push.one(&digest, data)?,
        };
        count(stats, action, size, req.dry_run);
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
    push_manifests(push.reg, target, tags, assembled, top)
}

/// The base's repository, when base layers can be mounted from it instead of uploaded:
/// same registry, another repository.
fn mount_source(base_source: &BaseSource, target: &Reference) -> Option<Reference> {
    match base_source {
        BaseSource::Registry(r)
            if r.resolve_registry() == target.resolve_registry()
                && r.repository() != target.repository() =>
        {
            Some(r.clone())
        }
        _ => None,
    }
}

/// Adds one blob's action to the counters: a dry run counts only what already exists.
fn count(stats: &mut Stats, action: &str, size: u64, dry_run: bool) {
    match action {
        "upload" if !dry_run => {
            stats.uploaded += 1;
            stats.uploaded_bytes += size;
        }
        "mount" if !dry_run => stats.mounted += 1,
        "upload" | "mount" => {}
        _ => stats.skipped += 1,
    }
}

/// One blob's way to the target registry: already there, mounted from the base's
/// repository, or uploaded (base layers fetched only then, with `data` = None).
struct BlobPush<'r, 'b, 'c> {
    target: &'r Reference,
    mount_from: Option<Reference>,
    dry_run: bool,
    blobs: &'b mut Blobs<'c>,
    reg: &'b mut Registry,
}

impl BlobPush<'_, '_, '_> {
    /// Push one blob unless the target has it; the action taken (`exists`, `mount` or
    /// `upload`; with a dry run, the action that would be taken).
    fn one(&mut self, digest: &str, data: Option<bytes::Bytes>) -> Result<&'static str> {
        if self.reg.blob_exists(self.target, digest)? {
            return Ok("exists");
        }
        if self.dry_run {
            return Ok(if data.is_none() && self.mount_from.is_some() {
                "mount"
            } else {
                "upload"
            });
        }
        if data.is_none()
            && self
                .mount_from
                .as_ref()
                .is_some_and(|from| self.reg.mount(self.target, from, digest).unwrap_or(false))
        {
            return Ok("mount");
        }
        let data = match data {
            Some(d) => d,
            None => self.blobs.take(self.reg, digest)?.into(),
        };
        self.reg.push_blob(self.target, digest, data)?;
        Ok("upload")
    }
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
