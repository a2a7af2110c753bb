//! Safe extraction of untrusted archives (bundle zips, image layers) into a fresh folder.
//!
//! Every entry is checked before it is written: a relative path made of normal components
//! only (no absolute path, no `..`, no drive prefix), a regular file or a folder (symbolic
//! and hard links, devices and fifos are refused), at most [`Limits::max_entries`] entries
//! and [`Limits::max_bytes`] bytes once uncompressed, counted while reading (a zip's
//! declared sizes are not trusted).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Caps on what an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries (files and folders).
    pub max_entries: usize,
    /// Total uncompressed bytes.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 100_000,
            max_bytes: 1 << 30,
        }
    }
}

/// Why an archive was refused (callers answer 400 with it).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The bytes are not an archive of that format (truncated, or another format).
    #[error("not a readable {kind} archive: {detail}")]
    Corrupt {
        /// `zip` or `tar`: the format the bytes were read as.
        kind: &'static str,
        /// The reader's own message.
        detail: String,
    },
    /// An entry names an absolute path: unpacking it would write outside the folder.
    #[error("entry {0:?}: absolute paths are not allowed")]
    Absolute(String),
    /// An entry climbs out of the folder with `..` (zip slip).
    #[error("entry {0:?}: paths leaving the archive (`..`, zip slip) are not allowed")]
    Escape(String),
    /// A link or special file: a bundle holds plain files and folders only, so nothing
    /// unpacked can point outside it.
    #[error("entry {0:?}: symbolic links, hard links and special files are not allowed")]
    Link(String),
    /// More entries than the limit allows (the limit is in the error).
    #[error("more than {0} entries (cap on entries: a zip bomb?)")]
    TooManyEntries(usize),
    /// More uncompressed bytes than the limit allows (the limit is in the error).
    #[error("more than {0} bytes once uncompressed (cap on the uncompressed size: a zip bomb?)")]
    TooLarge(u64),
    /// Writing the unpacked files failed (disk full, permissions).
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A checked relative path for an entry name.
pub fn safe_path(name: &str) -> Result<PathBuf, UnpackError> {
    if name.starts_with('/') || name.starts_with('\\') || name.contains(":\\") {
        return Err(UnpackError::Absolute(name.into()));
    }
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnpackError::Escape(name.into())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Absolute(name.into()))
            }
        }
    }
    if name.contains('\0') || name.contains('\\') {
        return Err(UnpackError::Escape(name.into()));
    }
    Ok(out)
}

/// Counts entries and bytes against the limits, and holds what to write: files are read
/// into memory (bounded by the byte cap) and written at the end, in parallel (small-file
/// writes are latency-bound), the last entry of a path winning as in a layer.
struct Budget {
    limits: Limits,
    entries: usize,
    bytes: u64,
    dirs: std::collections::BTreeSet<PathBuf>,
    files: std::collections::BTreeMap<PathBuf, Vec<u8>>,
}

impl Budget {
    fn new(limits: &Limits) -> Budget {
        Budget {
            limits: *limits,
            entries: 0,
            bytes: 0,
            dirs: Default::default(),
            files: Default::default(),
        }
    }

    fn entry(&mut self) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries(self.limits.max_entries));
        }
        Ok(())
    }

    /// Read `r` for `path`, stopping as soon as the byte cap is passed.
    fn write(&mut self, r: &mut dyn Read, path: &Path) -> Result<(), UnpackError> {
        let left = self.limits.max_bytes.saturating_sub(self.bytes);
        let mut data = Vec::new();
        r.take(left + 1)
            .read_to_end(&mut data)
            .map_err(|e| UnpackError::Corrupt {
                kind: "compressed",
                detail: e.to_string(),
            })?;
        self.bytes += data.len() as u64;
        if self.bytes > self.limits.max_bytes {
            return Err(UnpackError::TooLarge(self.limits.max_bytes));
        }
        if let Some(parent) = path.parent() {
            self.dirs.insert(parent.to_path_buf());
        }
        self.files.insert(path.to_path_buf(), data);
        Ok(())
    }

    fn dir(&mut self, path: &Path) {
        self.dirs.insert(path.to_path_buf());
    }

    /// Create the folders, then write the files on the I/O pool.
    fn flush(self) -> Result<usize, UnpackError> {
        use rayon::prelude::*;
        for d in &self.dirs {
            std::fs::create_dir_all(d).map_err(|source| UnpackError::Io {
                path: d.clone(),
                source,
            })?;
        }
        crate::fsutil::io_pool().install(|| {
            self.files.par_iter().try_for_each(|(p, data)| {
                std::fs::write(p, data).map_err(|source| UnpackError::Io {
                    path: p.clone(),
                    source,
                })
            })
        })?;
        Ok(self.entries)
    }
}

/// Extract a zip into `dest` (an empty folder) after checking every entry name first.
pub fn unpack_zip(bytes: &[u8], dest: &Path, limits: &Limits) -> Result<usize, UnpackError> {
    let corrupt = |e: zip::result::ZipError| UnpackError::Corrupt {
        kind: "zip",
        detail: e.to_string(),
    };
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(corrupt)?;
    if z.len() > limits.max_entries {
        return Err(UnpackError::TooManyEntries(limits.max_entries));
    }
    // Names and types first: nothing is written for an archive with one bad entry.
    let mut declared: u64 = 0;
    for i in 0..z.len() {
        let f = z.by_index_raw(i).map_err(corrupt)?;
        let name = f.name().map_err(corrupt)?.to_string();
        safe_path(&name)?;
        let mode = f.unix_mode().unwrap_or(0);
        let kind = mode & 0o170000;
        if f.is_symlink() || (kind != 0 && kind != 0o100000 && kind != 0o040000) {
            return Err(UnpackError::Link(name));
        }
        declared = declared.saturating_add(f.size());
        if declared > limits.max_bytes {
            return Err(UnpackError::TooLarge(limits.max_bytes));
        }
    }
    let mut budget = Budget::new(limits);
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(corrupt)?;
        budget.entry()?;
        let rel = safe_path(&f.name().map_err(corrupt)?)?;
        let path = dest.join(&rel);
        if f.is_dir() {
            budget.dir(&path);
        } else {
            budget.write(&mut f, &path)?;
        }
    }
    budget.flush()
}

/// Extract the entries of a (gzip) tar layer found under `prefix` (e.g. `root/patches`)
/// into `dest`, relative to the prefix. Entries elsewhere are skipped; links and special
/// files under the prefix are refused. The limits apply to this layer.
pub fn unpack_layer(
    blob: &[u8],
    prefix: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<usize, UnpackError> {
    let corrupt = |e: std::io::Error| UnpackError::Corrupt {
        kind: "tar",
        detail: e.to_string(),
    };
    let gz = blob.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(blob))
    } else {
        Box::new(blob)
    };
    let prefix = safe_path(prefix.trim_start_matches('/'))?;
    let mut ar = tar::Archive::new(reader);
    let mut budget = Budget::new(limits);
    for e in ar.entries().map_err(corrupt)? {
        let mut e = e.map_err(corrupt)?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let rel = safe_path(&raw)?;
        let Ok(inner) = rel.strip_prefix(&prefix) else {
            continue;
        };
        let inner = inner.to_path_buf();
        let name = inner.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_some_and(|n| n.starts_with(".wh.")) {
            continue; // whiteouts: nothing to delete in a fresh folder
        }
        budget.entry()?;
        let path = dest.join(&inner);
        match e.header().entry_type() {
            tar::EntryType::Directory => budget.dir(&path),
            tar::EntryType::Regular | tar::EntryType::Continuous => budget.write(&mut e, &path)?,
            _ => return Err(UnpackError::Link(raw)),
        }
    }
    budget.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert!(safe_path("a/b.json").is_ok());
        assert!(matches!(
            safe_path("/etc/passwd"),
            Err(UnpackError::Absolute(_))
        ));
        assert!(matches!(
            safe_path("a/../../x"),
            Err(UnpackError::Escape(_))
        ));
        assert!(matches!(safe_path("..\\x"), Err(UnpackError::Escape(_))));
        assert_eq!(safe_path("./a/./b").unwrap(), PathBuf::from("a/b"));
    }
}
