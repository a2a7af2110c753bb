//! The base image: a registry image, an OCI layout's or `scratch`, read into one
//! [`BasePlatform`] per platform kept (its config, manifest type and layers), which
//! `assemble` then extends.

use super::{is_index, media_type_of, Descriptor, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use crate::image::blob::digest_of;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// One platform of the base image.
#[derive(Debug, Clone)]
pub struct BasePlatform {
    /// The `platform` object of the base index entry (None for a single-platform base).
    pub platform: Option<Value>,
    /// OCI or Docker family of the base manifest.
    pub manifest_media_type: String,
    /// The base image config (Value, unknown fields kept).
    pub config: Value,
    /// Base layers, bottom first, descriptors kept byte for byte.
    pub layers: Vec<Value>,
}

impl BasePlatform {
    /// `os/arch[/variant]` for reports.
    pub fn name(&self) -> String {
        let p = self.platform.as_ref().unwrap_or(&self.config);
        let mut s = format!(
            "{}/{}",
            p["os"].as_str().unwrap_or("unknown"),
            p["architecture"].as_str().unwrap_or("unknown")
        );
        if let Some(v) = p["variant"].as_str() {
            s.push('/');
            s.push_str(v);
        }
        s
    }
}

/// A resolved base image.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// `scratch`, a registry reference, or `oci:<dir>:<tag>`.
    pub reference: String,
    /// The base manifest digest (index digest for a multi-platform base); None for scratch.
    pub digest: Option<String>,
    /// Index media type when the base is multi-platform.
    pub index_media_type: Option<String>,
    /// The platforms kept (all, or those matching `--platform`), one image each.
    pub platforms: Vec<BasePlatform>,
}

/// `scratch` for the given `os/arch[/variant]` platforms.
pub fn scratch(platforms: &[String]) -> Result<BaseImage> {
    let list: Vec<String> = if platforms.is_empty() {
        vec!["linux/amd64".into()]
    } else {
        platforms.to_vec()
    };
    let mut out = Vec::new();
    for p in &list {
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
            bail!("platform {p:?} is not os/arch[/variant] (e.g. linux/amd64)");
        }
        let mut platform = json!({"architecture": parts[1], "os": parts[0]});
        if let Some(v) = parts.get(2) {
            platform["variant"] = json!(v);
        }
        let mut config = platform.clone();
        config["config"] = json!({});
        config["rootfs"] = json!({"type": "layers", "diff_ids": []});
        config["history"] = json!([]);
        out.push(BasePlatform {
            platform: (list.len() > 1).then_some(platform),
            manifest_media_type: OCI_MANIFEST.into(),
            config,
            layers: vec![],
        });
    }
    Ok(BaseImage {
        reference: "scratch".into(),
        digest: None,
        index_media_type: (list.len() > 1).then(|| OCI_INDEX.into()),
        platforms: out,
    })
}

/// Keep only the platforms asked for (all when the filter is empty); index entries that are
/// not images (`unknown/unknown` attestations) are dropped by the caller.
pub fn platform_matches(p: &Value, filter: &[String]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let name = {
        let mut s = format!(
            "{}/{}",
            p["os"].as_str().unwrap_or(""),
            p["architecture"].as_str().unwrap_or("")
        );
        if let Some(v) = p["variant"].as_str() {
            s = format!("{s}/{v}");
        }
        s
    };
    filter
        .iter()
        .any(|f| *f == name || name.starts_with(&format!("{f}/")))
}

/// Read a base image from documents fetched by `fetch` (manifest or blob by digest).
/// `top` is the raw top-level manifest and its digest.
pub fn read_base(
    reference: &str,
    top: (Vec<u8>, String),
    platforms: &[String],
    fetch_manifest: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
    fetch_blob: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<BaseImage> {
    let (raw, digest) = top;
    let mt = media_type_of(&raw)?;
    let mut out = Vec::new();
    let mut index_media_type = None;
    if is_index(&mt) {
        index_media_type = Some(mt.clone());
        let v: Value = serde_json::from_slice(&raw)?;
        for m in v["manifests"].as_array().cloned().unwrap_or_default() {
            let p = m.get("platform").cloned().unwrap_or(Value::Null);
            let os = p["os"].as_str().unwrap_or("unknown");
            if os == "unknown" || !platform_matches(&p, platforms) {
                continue;
            }
            let d = Descriptor::from_json(&m)?;
            let body = fetch_manifest(&d.digest)?;
            out.push(read_platform(&body, Some(p), fetch_blob)?);
        }
        if out.is_empty() {
            bail!(
                "the base image {reference} has no image for platform(s) {}",
                if platforms.is_empty() {
                    "any".into()
                } else {
                    platforms.join(", ")
                }
            );
        }
    } else {
        let p = read_platform(&raw, None, fetch_blob)?;
        if !platforms.is_empty() && !platform_matches(&p.config, platforms) {
            bail!(
                "the base image {reference} is {} only, not {}",
                p.name(),
                platforms.join(", ")
            );
        }
        out.push(p);
    }
    Ok(BaseImage {
        reference: reference.into(),
        digest: Some(digest),
        index_media_type,
        platforms: out,
    })
}

fn read_platform(
    raw: &[u8],
    platform: Option<Value>,
    fetch_blob: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<BasePlatform> {
    let mt = media_type_of(raw)?;
    if mt != OCI_MANIFEST && mt != DOCKER_MANIFEST {
        bail!("unsupported base manifest type {mt}");
    }
    let v: Value = serde_json::from_slice(raw)?;
    let cfg = Descriptor::from_json(&v["config"])?;
    let config_bytes = fetch_blob(&cfg.digest)?;
    if digest_of(&config_bytes) != cfg.digest {
        bail!(
            "the base config blob does not match its digest {}",
            cfg.digest
        );
    }
    let config: Value = serde_json::from_slice(&config_bytes).context("base config is not JSON")?;
    let layers = v["layers"].as_array().cloned().unwrap_or_default();
    for l in &layers {
        let d = Descriptor::from_json(l)?;
        if d.media_type.contains("zstd") {
            bail!(
                "base layer {} is zstd-compressed; only gzip and plain tar layers are supported",
                d.digest
            );
        }
    }
    Ok(BasePlatform {
        platform,
        manifest_media_type: mt,
        config,
        layers,
    })
}
