//! OCI image layouts (`oci:<dir>[:tag]`): a folder any OCI tool reads, used as a base or
//! an output when there is no registry. Blobs are written by digest (temp file + rename),
//! `index.json` last, so a reader never sees a tag pointing at a missing blob.

use super::{Descriptor, OCI_INDEX};
use crate::image::blob::digest_of;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// An OCI image layout folder (`oci-layout`, `index.json`, `blobs/sha256/…`).
pub struct Layout {
    /// The layout's folder.
    pub dir: PathBuf,
}

/// Split `oci:<dir>[:<tag>]` into folder and tag.
pub fn parse_layout_ref(s: &str) -> Option<(PathBuf, Option<String>)> {
    let rest = s.strip_prefix("oci:")?;
    // The tag is what follows the last ':' when it has no '/' (paths may hold ':').
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
            Some((PathBuf::from(dir), Some(tag.to_string())))
        }
        _ => Some((PathBuf::from(rest), None)),
    }
}

impl Layout {
    /// The layout at `dir` (nothing is read or created until used).
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| anyhow!("bad digest {digest:?}"))?;
        if alg.is_empty() || hex.is_empty() || hex.contains('/') || alg.contains('/') {
            bail!("bad digest {digest:?}");
        }
        Ok(self.dir.join("blobs").join(alg).join(hex))
    }

    /// Whether the layout holds the blob (a write can then be skipped).
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// A blob's bytes, checked against its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        let bytes = std::fs::read(&p).with_context(|| {
            format!(
                "blob {digest} is missing from the OCI layout {}",
                self.dir.display()
            )
        })?;
        if digest_of(&bytes) != digest {
            bail!(
                "blob {} in {} does not match its digest",
                digest,
                self.dir.display()
            );
        }
        Ok(bytes)
    }

    /// Write a blob (skipped when present); returns true when written.
    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<bool> {
        let p = self.blob_path(digest)?;
        if p.is_file() {
            return Ok(false);
        }
        crate::fsutil::write_atomic(&p, bytes, Some(0o644))?;
        Ok(true)
    }

    fn index_json(&self) -> Result<Value> {
        let p = self.dir.join("index.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{} is not valid JSON", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    /// Point `tags` at `desc` in index.json (replacing earlier entries of the same tags);
    /// written last and atomically, so a failure leaves the layout's tags as they were.
    pub fn tag(&self, desc: &Descriptor, tags: &[String]) -> Result<()> {
        crate::fsutil::write_atomic(
            &self.dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
            Some(0o644),
        )?;
        let mut idx = self.index_json()?;
        let list = idx["manifests"]
            .as_array_mut()
            .ok_or_else(|| anyhow!("index.json of {} has no manifests list", self.dir.display()))?;
        list.retain(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str();
            !name.is_some_and(|n| tags.iter().any(|t| t == n))
        });
        for t in tags {
            let mut d = desc.to_json();
            d["annotations"] = json!({"org.opencontainers.image.ref.name": t});
            list.push(d);
        }
        let bytes = serde_json::to_vec_pretty(&idx)?;
        crate::fsutil::write_atomic(&self.dir.join("index.json"), &bytes, Some(0o644))
    }

    /// Find the manifest tagged `tag` (or the only one when `tag` is None).
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor> {
        if !self.dir.join("index.json").is_file() {
            bail!(
                "{} is not an OCI image layout (no index.json)",
                self.dir.display()
            );
        }
        let idx = self.index_json()?;
        let list = idx["manifests"].as_array().cloned().unwrap_or_default();
        let found: Vec<&Value> = list
            .iter()
            .filter(|m| match tag {
                Some(t) => {
                    m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(t)
                }
                None => true,
            })
            .collect();
        match (found.as_slice(), tag) {
            ([one], _) => Descriptor::from_json(one),
            ([], Some(t)) => bail!("tag {t:?} is not in the OCI layout {}", self.dir.display()),
            (_, _) => bail!(
                "the OCI layout {} holds {} images; name one with oci:<dir>:<tag>",
                self.dir.display(),
                found.len()
            ),
        }
    }
}
