//! Building the layer and assembling each platform's image on it, in memory: nothing is
//! written here, so `write` gets a finished image or nothing.

use super::oci::{self, Assembled, BaseImage, Descriptor, Layout};
use super::registry::Registry;
use super::{layer, users, Blobs, ImageRequest, Plan};
use anyhow::{Context, Result};
use oci_client::Reference;
use std::collections::BTreeMap;

/// Where the result goes (parsed from the request by `write::parse_output`).
pub(super) enum Output {
    Layout {
        layout: Layout,
        tags: Vec<String>,
    },
    Registry {
        reference: Reference,
        tags: Vec<String>,
    },
}

/// The layers built and the images assembled, one per base platform.
pub(super) struct Built {
    pub(super) layers: BTreeMap<LayerKey, layer::Layer>,
    pub(super) assembled: Vec<(Assembled, LayerKey)>,
    /// Layers already uploaded while built, with the registry's action.
    pub(super) streamed: BTreeMap<String, &'static str>,
}

/// Layers are built once per (owner ids, metadata of the parent folders found in the base).
pub(super) type LayerKey = ((u64, u64), Vec<(String, users::DirMeta)>);

/// Owner and parent folders per platform, then one layer per distinct result (usually
/// one for all platforms), and each platform's image assembled on it.
pub(super) fn build_layers(
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
pub(super) fn top_manifest(
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
