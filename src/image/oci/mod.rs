//! Image documents: base image model, config/manifest/index assembly, OCI image layouts.
//!
//! Documents are handled as JSON values so that everything the base carries (fields this
//! code does not know included) is kept as is; only labels, `rootfs.diff_ids`, `history`
//! and `created` change. Serialisation is compact and order-preserving, so the same inputs
//! give the same bytes and digests.

use super::blob::digest_of;
pub use super::blob::{OCI_LAYER_GZIP, OCI_LAYER_TAR};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

mod base;
mod layout;
pub use base::{platform_matches, read_base, scratch, BaseImage, BasePlatform};
pub use layout::{parse_layout_ref, Layout};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index (a multi-platform image).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list (Docker's multi-platform index).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Media type of a Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Media type of a Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Every manifest kind this code reads.
pub const ACCEPTED: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// What the content is.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Size of the content, in bytes.
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of `bytes`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
        }
    }
    /// The descriptor as it appears in manifests and indexes.
    pub fn to_json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
    /// Read a descriptor from a manifest or index entry; an error names the missing field.
    pub fn from_json(v: &Value) -> Result<Descriptor> {
        Ok(Descriptor {
            media_type: v["mediaType"].as_str().unwrap_or(OCI_LAYER_GZIP).into(),
            digest: v["digest"]
                .as_str()
                .ok_or_else(|| anyhow!("descriptor without digest: {v}"))?
                .into(),
            size: v["size"]
                .as_u64()
                .ok_or_else(|| anyhow!("descriptor without size: {v}"))?,
        })
    }
}

/// Kind of a raw manifest document.
pub fn media_type_of(raw: &[u8]) -> Result<String> {
    let v: Value = serde_json::from_slice(raw).context("manifest is not JSON")?;
    if let Some(m) = v["mediaType"].as_str() {
        return Ok(m.into());
    }
    Ok(if v.get("manifests").is_some() {
        OCI_INDEX.into()
    } else {
        OCI_MANIFEST.into()
    })
}

/// Whether a manifest of this media type lists other manifests (OCI index or Docker list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// What the new image adds on top of the base.
#[derive(Debug, Clone)]
pub struct Addition {
    /// The new layer.
    pub layer: Descriptor,
    /// `sha256` of the uncompressed layer, appended to the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// Labels added to (or replacing in) the config's `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `created` of the config and history entry (RFC 3339).
    pub created: String,
    /// The history entry's `created_by`, saying how the layer was made.
    pub created_by: String,
}

/// The documents of one assembled platform image.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The platform object for an index entry (from the base's index), if any.
    pub platform: Option<Value>,
    /// `os/arch[/variant]`, for reports and logs.
    pub platform_name: String,
    /// The config's bytes.
    pub config: Vec<u8>,
    /// The config's descriptor.
    pub config_desc: Descriptor,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The manifest's descriptor.
    pub manifest_desc: Descriptor,
    /// Base layers (descriptors), bottom first.
    pub base_layers: Vec<Descriptor>,
}

/// RFC 3339 time of a Unix timestamp.
pub fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Build config + manifest of one platform: the base's config extended with the layer
/// (`extend_config`), and a manifest listing the base layers then the new one.
pub fn assemble(base: &BasePlatform, add: &Addition) -> Result<Assembled> {
    // Docker schema 2 has no uncompressed layer type: such an image becomes OCI, its base
    // layers' descriptors mapped to the OCI equivalents (same bytes, same digests).
    let docker =
        base.manifest_media_type == DOCKER_MANIFEST && add.layer.media_type != OCI_LAYER_TAR;
    let base_layers: Vec<Value> = if docker {
        base.layers.clone()
    } else {
        base.layers.iter().map(oci_layer_descriptor).collect()
    };
    let config = extend_config(base, add)?;
    let config_bytes = serde_json::to_vec(&config)?;
    let config_desc = Descriptor::of(
        if docker { DOCKER_CONFIG } else { OCI_CONFIG },
        &config_bytes,
    );
    let mut layer = add.layer.clone();
    if docker {
        layer.media_type = DOCKER_LAYER_GZIP.into();
    }
    let mut layers = base_layers;
    layers.push(layer.to_json());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": if docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
        "config": config_desc.to_json(),
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_desc = Descriptor::of(
        if docker {
            DOCKER_MANIFEST
        } else {
            OCI_MANIFEST
        },
        &manifest_bytes,
    );
    Ok(Assembled {
        platform: base.platform.clone(),
        platform_name: base.name(),
        config: config_bytes,
        config_desc,
        manifest: manifest_bytes,
        manifest_desc,
        base_layers: base
            .layers
            .iter()
            .map(Descriptor::from_json)
            .collect::<Result<_>>()?,
    })
}

/// A Docker layer descriptor as its OCI equivalent (same bytes, same digest), for an OCI
/// manifest on a Docker base; other descriptors unchanged.
fn oci_layer_descriptor(l: &Value) -> Value {
    let mut l = l.clone();
    let mapped = match l["mediaType"].as_str() {
        Some(DOCKER_LAYER_GZIP) => Some(OCI_LAYER_GZIP),
        Some("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") => {
            Some("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
        }
        _ => None,
    };
    if let Some(m) = mapped {
        l["mediaType"] = json!(m);
    }
    l
}

/// The base's config with everything else kept: the new `created`, the labels, the
/// layer's diff_id, and a history entry when the base's history is consistent.
fn extend_config(base: &BasePlatform, add: &Addition) -> Result<Value> {
    let mut config = base.config.clone();
    let obj = config
        .as_object_mut()
        .ok_or_else(|| anyhow!("the base image config is not a JSON object"))?;
    obj.insert("created".into(), json!(add.created));
    let inner = obj.entry("config").or_insert_with(|| json!({}));
    if inner.is_null() {
        *inner = json!({});
    }
    if !add.labels.is_empty() {
        add_labels(inner, &add.labels)?;
    }
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let diff_ids = rootfs
        .get_mut("diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow!("the base config has no rootfs.diff_ids"))?;
    if diff_ids.len() != base.layers.len() {
        bail!(
            "the base image is inconsistent: {} layers but {} diff_ids",
            base.layers.len(),
            diff_ids.len()
        );
    }
    diff_ids.push(json!(add.diff_id));
    let history = obj.entry("history").or_insert_with(|| json!([]));
    // Runtimes pair non-empty history entries with layers: add ours only when the base's
    // history is consistent (a base without history stays without).
    if let Some(h) = history.as_array_mut().filter(|h| {
        h.iter().filter(|e| e["empty_layer"] != json!(true)).count() == base.layers.len()
    }) {
        h.push(json!({"created": add.created, "created_by": add.created_by, "comment": "cadkit image"}));
    }
    Ok(config)
}

/// The labels merged into the config's `config.Labels` (ours win over the base's).
fn add_labels(inner: &mut Value, labels: &BTreeMap<String, String>) -> Result<()> {
    let existing = inner
        .as_object_mut()
        .ok_or_else(|| anyhow!("the base config's `config` is not an object"))?
        .entry("Labels")
        .or_insert_with(|| json!({}));
    if existing.is_null() {
        *existing = json!({});
    }
    let existing = existing
        .as_object_mut()
        .ok_or_else(|| anyhow!("the base config's Labels is not an object"))?;
    for (k, v) in labels {
        existing.insert(k.clone(), json!(v));
    }
    Ok(())
}

/// An image index over several assembled platform images.
pub fn index(images: &[Assembled], media_type: &str) -> Result<(Vec<u8>, Descriptor)> {
    let docker = media_type == DOCKER_LIST
        && images
            .iter()
            .all(|a| a.manifest_desc.media_type == DOCKER_MANIFEST);
    let manifests: Vec<Value> = images
        .iter()
        .map(|a| {
            let mut d = a.manifest_desc.to_json();
            if let Some(p) = &a.platform {
                d["platform"] = p.clone();
            }
            d
        })
        .collect();
    let mt = if docker { DOCKER_LIST } else { OCI_INDEX };
    let doc = json!({"schemaVersion": 2, "mediaType": mt, "manifests": manifests});
    let bytes = serde_json::to_vec(&doc)?;
    let desc = Descriptor::of(mt, &bytes);
    Ok((bytes, desc))
}

/// Merge `k=v` labels.
pub fn parse_labels(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for it in items {
        let (k, v) = it
            .split_once('=')
            .ok_or_else(|| anyhow!("label {it:?} is not key=value"))?;
        if k.is_empty() {
            bail!("label {it:?} has an empty key");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn add() -> Addition {
        Addition {
            layer: Descriptor {
                media_type: OCI_LAYER_GZIP.into(),
                digest: "sha256:aa".into(),
                size: 3,
            },
            diff_id: "sha256:bb".into(),
            labels: parse_labels(&["org.opencontainers.image.version=1.2".into()]).unwrap(),
            created: rfc3339(0),
            created_by: "cadkit image --kind frontend".into(),
        }
    }

    #[test]
    fn base_config_is_kept_and_extended() {
        let base = BasePlatform {
            platform: None,
            manifest_media_type: OCI_MANIFEST.into(),
            config: json!({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/e"],"Cmd":["c"],"Env":["A=1"],"WorkingDir":"/w","User":"node","Labels":{"x":"1"}},"rootfs":{"type":"layers","diff_ids":["sha256:d0"]},"history":[{"created_by":"base"}]}),
            layers: vec![json!({"mediaType":OCI_LAYER_GZIP,"digest":"sha256:l0","size":10})],
        };
        let a = assemble(&base, &add()).unwrap();
        let c: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(c["config"]["Entrypoint"], json!(["/e"]));
        assert_eq!(c["config"]["User"], "node");
        assert_eq!(
            c["config"]["Labels"],
            json!({"x":"1","org.opencontainers.image.version":"1.2"})
        );
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:d0", "sha256:bb"]));
        assert_eq!(c["history"].as_array().unwrap().len(), 2);
        assert_eq!(c["created"], "1970-01-01T00:00:00Z");
        let m: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], "sha256:l0");
        assert_eq!(m["layers"][1]["digest"], "sha256:aa");
        assert_eq!(m["config"]["digest"], json!(a.config_desc.digest));
        // deterministic
        assert_eq!(assemble(&base, &add()).unwrap().manifest, a.manifest);
    }

    #[test]
    fn scratch_platforms_and_layout_refs() {
        let s = scratch(&["linux/amd64".into(), "linux/arm64/v8".into()]).unwrap();
        assert_eq!(s.platforms.len(), 2);
        assert_eq!(s.platforms[1].name(), "linux/arm64/v8");
        assert!(scratch(&["linux".into()]).is_err());
        assert_eq!(
            parse_layout_ref("oci:/tmp/x:v1"),
            Some((PathBuf::from("/tmp/x"), Some("v1".into())))
        );
        assert_eq!(
            parse_layout_ref("oci:out/img"),
            Some((PathBuf::from("out/img"), None))
        );
        assert_eq!(parse_layout_ref("docker://x"), None);
    }

    #[test]
    fn layout_tags_replace_and_resolve() {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::new(t.path());
        let d1 = Descriptor::of(OCI_MANIFEST, b"{}");
        l.write_blob(&d1.digest, b"{}").unwrap();
        l.tag(&d1, &["a".into(), "b".into()]).unwrap();
        let d2 = Descriptor::of(OCI_MANIFEST, b"{\"x\":1}");
        l.tag(&d2, &["b".into()]).unwrap();
        assert_eq!(l.resolve(Some("a")).unwrap(), d1);
        assert_eq!(l.resolve(Some("b")).unwrap(), d2);
        assert!(l.resolve(None).is_err());
        assert_eq!(l.read_blob(&d1.digest).unwrap(), b"{}");
    }
}
