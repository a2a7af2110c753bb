//! The patch backup: `copyPatches` with `zip` archives the whole patches folder into the
//! backup area (25,000 files for a 100k-instance environment, at every install and
//! update).
//!
//! Two things keep it short. The files are compressed in parts on every core, at the
//! fast deflate level (patch JSON compresses almost as well), and the parts are merged in
//! name order without being recompressed: the archive lists the files in the same order
//! as a one-pass zip. And a file already in the previous backup is copied from it
//! compressed: an update changes a few files of the folder, and compressing the rest
//! again was most of a backup's time. Whether a file is already there is decided by its
//! content (same name, size and CRC-32), or, for a file this server archived itself
//! and that was not touched since (same size, modification time and inode, as `rsync`
//! and `make` decide), without reading it: reading 25,000 files was most of what was
//! left.

use anyhow::Result;
use rustc_hash::FxHashMap as HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Files per part when zipping a folder.
const FILES_PER_PART: usize = 512;

/// A file as listed: size, modification time, inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: SystemTime,
    inode: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            size: m.len(),
            modified: m.modified().ok()?,
            inode: m.ino(),
        })
    }
}

/// What the last backup made by this server listed: its archive, when the listing
/// started, and each file's stamp then. Kept in memory only: after a restart, the first
/// backup reads every file.
#[derive(Debug, Default)]
pub struct BackupStamps(Mutex<Option<Listing>>);

#[derive(Debug)]
struct Listing {
    zip: PathBuf,
    started: SystemTime,
    files: HashMap<String, Stamp>,
}

/// Trust a stamp only for a file last modified this long before its listing started: a
/// file written again within the file system's time granularity can keep its
/// modification time, but not across this margin.
const SETTLED: Duration = Duration::from_secs(1);

/// A previous backup, read once into memory and shared by the parts.
type Previous = zip::ZipArchive<std::io::Cursor<bytes::Bytes>>;

/// One file to archive: path, name in the archive, and whether its stamp says it is
/// unchanged since the previous backup.
struct Item {
    path: PathBuf,
    name: String,
    unchanged: bool,
}

/// Zip `dir` into `dst` (temp file + rename), reusing the newest other `import_*.zip`
/// beside `dst` (see the module doc).
pub fn zip_dir(dir: &Path, dst: &Path, stamps: &BackupStamps) -> Result<()> {
    use rayon::prelude::*;
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p)?;
    }
    let started = SystemTime::now();
    let mut listed: Vec<(PathBuf, String, Option<Stamp>)> = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() {
            let stamp = e.metadata().ok().and_then(|m| Stamp::of(&m));
            let name = crate::update::desired::rel_path(dir, e.path());
            listed.push((e.into_path(), name, stamp));
        }
    }
    let previous = previous_backup(dst);
    let items: Vec<Item> = {
        let last = stamps.0.lock().unwrap_or_else(|p| p.into_inner());
        let same_archive = match (&*last, &previous) {
            (Some(l), Some((path, _))) => (path == &l.zip).then_some(l),
            _ => None,
        };
        listed
            .iter()
            .map(|(path, name, stamp)| Item {
                path: path.clone(),
                name: name.clone(),
                unchanged: same_archive.is_some_and(|l| {
                    stamp.is_some_and(|s| {
                        l.files.get(name) == Some(&s)
                            && s.modified
                                .checked_add(SETTLED)
                                .is_some_and(|t| t < l.started)
                    })
                }),
            })
            .collect()
    };
    let archive = previous.map(|(_, a)| a);
    let parts: Vec<Vec<u8>> = items
        .par_chunks(FILES_PER_PART)
        .map(|chunk| zip_part(chunk, archive.clone()))
        .collect::<Result<_>>()?;
    let tmp = dst.with_extension("zip.tmp");
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(std::fs::File::create(&tmp)?));
    for part in parts {
        w.merge_archive(zip::ZipArchive::new(std::io::Cursor::new(part))?)?;
    }
    w.finish()?.flush()?;
    std::fs::rename(&tmp, dst)?;
    let files = listed
        .into_iter()
        .filter_map(|(_, name, stamp)| Some((name, stamp?)))
        .collect();
    *stamps.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Listing {
        zip: dst.to_path_buf(),
        started,
        files,
    });
    Ok(())
}

/// The newest `import_*.zip` beside `dst` other than `dst` (names carry the time, so
/// the greatest name is the newest), with its path; `None` when there is none or it
/// cannot be read (the backup is then compressed in full).
fn previous_backup(dst: &Path) -> Option<(PathBuf, Previous)> {
    let folder = dst.parent()?;
    let newest = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.as_path() != dst)
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("import_") && name.ends_with(".zip")
        })
        .max()?;
    let bytes = bytes::Bytes::from(std::fs::read(&newest).ok()?);
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    Some((newest, archive))
}

/// One part of the archive: the files of `chunk`, each copied from `previous` when it is
/// there already (by stamp, or by content once read), compressed otherwise.
fn zip_part(chunk: &[Item], mut previous: Option<Previous>) -> Result<Vec<u8>> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in chunk {
        if let Some(prev) = previous.as_mut() {
            if let Some(i) = prev.index_for_name(&f.name) {
                let entry = prev.by_index_raw(i)?;
                if f.unchanged && entry.compression() == zip::CompressionMethod::Deflated {
                    w.raw_copy_file(entry)?;
                    continue;
                }
            }
        }
        let content = std::fs::read(&f.path)?;
        if let Some(prev) = previous.as_mut() {
            if let Some(i) = prev.index_for_name(&f.name) {
                let entry = prev.by_index_raw(i)?;
                if entry.compression() == zip::CompressionMethod::Deflated
                    && entry.size() == content.len() as u64
                    && entry.crc32() == crc32fast::hash(&content)
                {
                    w.raw_copy_file(entry)?;
                    continue;
                }
            }
        }
        w.start_file(f.name.as_str(), opts)?;
        w.write_all(&content)?;
    }
    Ok(w.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_entry(zip: &Path, name: &str) -> String {
        let mut a = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut a.by_name(name).unwrap(), &mut text).unwrap();
        text
    }

    /// Rewrite `path` in place (same inode) and give it back its modification time.
    fn rewrite_keeping_time(path: &Path, text: &str) {
        let before = std::fs::metadata(path).unwrap().modified().unwrap();
        std::fs::write(path, text).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(before).unwrap();
    }

    /// A file this server archived and nobody touched since is copied from the previous
    /// backup without being read; a file whose size, time or inode moved is read again,
    /// and so is a file modified too shortly before the last listing to be trusted.
    #[test]
    fn untouched_files_come_from_the_previous_backup_by_their_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (patches, backup) = (dir.path().join("patches"), dir.path().join("backup"));
        std::fs::create_dir_all(patches.join("m")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        for (name, text) in [("m/a.json", "{\"a\":1}"), ("m/b.json", "{\"b\":1}")] {
            std::fs::write(patches.join(name), text).unwrap();
            let f = std::fs::File::options()
                .write(true)
                .open(patches.join(name))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        // Written just now: not settled when listed.
        std::fs::write(patches.join("m/c.json"), "{\"c\":1}").unwrap();
        let stamps = BackupStamps::default();
        zip_dir(&patches, &backup.join("import_1.zip"), &stamps).unwrap();

        // Same size and time, new content: by its stamp, untouched (as `rsync` would
        // judge it), so the archive shows the earlier content: it was not read.
        rewrite_keeping_time(&patches.join("m/a.json"), "{\"a\":2}");
        std::fs::write(patches.join("m/b.json"), "{\"b\":2}").unwrap();
        rewrite_keeping_time(&patches.join("m/c.json"), "{\"c\":2}");
        zip_dir(&patches, &backup.join("import_2.zip"), &stamps).unwrap();
        let second = backup.join("import_2.zip");
        assert_eq!(read_entry(&second, "m/a.json"), "{\"a\":1}");
        assert_eq!(read_entry(&second, "m/b.json"), "{\"b\":2}");
        assert_eq!(read_entry(&second, "m/c.json"), "{\"c\":2}");

        // Without this server's last listing (a restart), every file is read.
        zip_dir(
            &patches,
            &backup.join("import_3.zip"),
            &BackupStamps::default(),
        )
        .unwrap();
        assert_eq!(
            read_entry(&backup.join("import_3.zip"), "m/a.json"),
            "{\"a\":2}"
        );
    }
}
