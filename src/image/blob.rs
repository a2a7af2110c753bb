//! The vocabulary shared by every part of the image step that touches a layer blob:
//! digests, the two layer media types, decompression, and the metadata of a folder.
//! It depends on nothing else in `image`, so the writer (`layer`), the layout and
//! manifests (`oci`) and the owner lookup (`users`) can all use it without depending on
//! each other.

use sha2::{Digest, Sha256};
use std::io;

/// Media type of a gzip-compressed OCI layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of an uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// `sha256:<hex>` of a finished hasher.
pub(crate) fn sha256_hex(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// `sha256:<hex>` of some bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    sha256_hex(h)
}

/// A reader of a layer blob's tar stream: gzip (possibly multi-member) is decompressed,
/// a plain tar is read as is.
pub fn open_blob(blob: &[u8]) -> Box<dyn io::Read + '_> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(blob))
    } else {
        Box::new(blob)
    }
}

/// Metadata of a folder found in the base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirMeta {
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
}
