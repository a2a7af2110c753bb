//! The vocabulary shared by every part of the image step that touches a layer blob:
//! digests, the two layer media types, (de)compression, reading a layer back, and the metadata of a folder.
//! It depends on nothing else in `image`, so the writer (`layer`), the layout and
//! manifests (`oci`) and the owner lookup (`users`) can all use it without depending on
//! each other.

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::io::{self, Write};

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
    /// Owner user id.
    pub uid: u64,
    /// Owner group id.
    pub gid: u64,
    /// Permission bits.
    pub mode: u32,
}

/// Size of the pieces compressed in parallel. Each piece is a complete gzip member; the
/// members are concatenated, which is a valid gzip stream (RFC 1952 §2.2) that every gzip
/// reader used by container runtimes (Go's compress/gzip, zlib, GNU gzip) reads whole.
/// The split points depend only on the data, so the output stays deterministic.
pub(crate) const GZIP_PIECE: usize = 8 << 20;

/// gzip with a zeroed header (no name, no mtime, OS byte 255) so the bytes never depend on
/// the machine or the clock.
pub fn gzip(data: &[u8], level: u32) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    let compress = |piece: &[u8]| -> io::Result<Vec<u8>> {
        let mut enc = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(
                Vec::with_capacity(piece.len() / 2 + 64),
                flate2::Compression::new(level.min(9)),
            );
        enc.write_all(piece)?;
        enc.finish()
    };
    if data.len() <= GZIP_PIECE {
        return Ok(compress(data)?);
    }
    let pieces: Vec<Vec<u8>> = data
        .par_chunks(GZIP_PIECE)
        .map(compress)
        .collect::<io::Result<_>>()?;
    let mut out = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for p in pieces {
        out.extend_from_slice(&p);
    }
    Ok(out)
}

/// One tar entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    /// The entry's path in the tar.
    pub path: String,
    /// Owner user id.
    pub uid: u64,
    /// Owner group id.
    pub gid: u64,
    /// Permission bits.
    pub mode: u32,
    /// `d` folder, `l` symbolic link, `h` hard link, `f` anything else.
    pub kind: char,
    /// A link's target.
    pub link: Option<String>,
    /// A file's content.
    pub content: Vec<u8>,
}

/// Read every entry of a layer blob (content included: for tests and small layers).
pub fn read_entries(blob: &[u8]) -> Result<Vec<ReadEntry>> {
    let mut ar = tar::Archive::new(open_blob(blob));
    let mut out = Vec::new();
    for e in ar.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut content = Vec::new();
        io::Read::read_to_end(&mut e, &mut content)?;
        out.push(ReadEntry {
            path,
            uid: h.uid()?,
            gid: h.gid()?,
            mode: h.mode()?,
            kind: match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            },
            link,
            content,
        });
    }
    Ok(out)
}
