//! The one new layer: a deterministic tar of a folder, gzip-compressed.
//!
//! Same folder content + same options = same bytes, whatever the machine: entries are
//! sorted by name, every entry carries the same mtime (`SOURCE_DATE_EPOCH` or 0), explicit
//! numeric owner and mode, no user/group names, no access times, no extended attributes.
//! The destination's parent folders are included (owned by root, mode 0755) so the layer
//! applies on any base, `scratch` included. Symbolic links are kept when they point inside
//! the folder; one that points outside it (absolute target, or `..` escaping the folder)
//! is an error, as are sockets, FIFOs and devices.

use super::blob::sha256_hex;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// Who owns the copied entries and with which permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// User id of every entry (resolved from the base's /etc/passwd when given by name).
    pub uid: u64,
    /// Group id of every entry.
    pub gid: u64,
    /// Mode applied to every copied file and folder; `None` keeps 0755 for folders and
    /// executable files and 0644 for the other files (the umask of the machine never leaks).
    pub mode: Option<u32>,
    /// Mode of the destination folder itself (wins over `mode` there): the guide's
    /// code-as-data Dockerfile runs `chmod 775 ~/patches` on the folder only.
    pub dest_mode: Option<u32>,
}

/// What to put in the layer.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// The folder whose content is copied.
    pub source: PathBuf,
    /// Absolute destination folder inside the image (`/usr/share/nginx/html`).
    pub dest: String,
    /// Owner and modes of the copied entries.
    pub owner: Ownership,
    /// Modification time of every entry (seconds since the epoch).
    pub mtime: u64,
    /// gzip level 0–9.
    pub gzip_level: u32,
    /// false: an uncompressed tar layer (`…layer.v1.tar`): fastest to build and push,
    /// largest to store and pull.
    pub compress: bool,
    /// Owner and mode of the destination's parent folders that exist in the base image
    /// (relative paths such as `home/node`); the others are created root-owned, 0755.
    pub parents: std::collections::BTreeMap<String, super::blob::DirMeta>,
}

/// One built layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The blob (gzip, or the tar itself when uncompressed); cheap to clone for retries.
    pub blob: bytes::Bytes,
    /// OCI media type of the blob.
    pub media_type: &'static str,
    /// `sha256:` of the compressed blob (the manifest's layer digest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// Number of entries (folders, files, links) in the tar.
    pub entries: usize,
    /// Bytes of file content copied.
    pub content_bytes: u64,
}

/// Errors callers may want to branch on.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The source folder does not exist (usually: the build step did not run).
    #[error("source folder {0} does not exist (build it first, or pass --source)")]
    MissingSource(PathBuf),
    /// The source is a file, not a folder.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// A symbolic link leads out of the source folder: the image would not hold what
    /// the folder shows.
    #[error("symbolic link {link} points outside the source folder (target {target:?}); copy the file instead or make the link relative and inside the folder")]
    SymlinkEscapes {
        /// The link, in the source folder.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A socket, FIFO or device: a tar entry cannot carry it portably.
    #[error("{0} is a socket, FIFO or device; only files, folders and links can go in an image")]
    SpecialFile(PathBuf),
}

/// The modification time every entry gets: `SOURCE_DATE_EPOCH` when set, else 0.
pub fn mtime_from_env() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")
        }),
        _ => Ok(0),
    }
}

/// Normalise an image path: absolute, no `.`/`..`, no trailing slash. `/` stays `/`.
pub fn normalise_dest(dest: &str) -> Result<String> {
    if !dest.starts_with('/') {
        bail!("destination {dest:?} must be an absolute path inside the image (e.g. /app)");
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in dest.split('/') {
        match p {
            "" | "." => {}
            ".." => bail!("destination {dest:?} must not contain '..'"),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Receives an uncompressed layer's bytes while it is being built (to upload them at the
/// same time); it is given consecutive pieces, then `&[]` once at the end.
pub type Sink<'a> = &'a mut dyn FnMut(&[u8]);

/// Size of the pieces handed to a sink.
const SINK_PIECE: usize = 1 << 20;

/// Writer that hashes what goes through it: the tar is hashed while it is written, so the
/// diff_id costs no extra pass over the data. With a sink, every full piece is also handed
/// over as soon as it is written.
struct Hashing<'a> {
    inner: Vec<u8>,
    hash: Sha256,
    sink: Option<Sink<'a>>,
    sent: usize,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.extend_from_slice(buf);
        self.hash.update(buf);
        if let Some(sink) = self.sink.as_mut() {
            while self.inner.len() - self.sent >= SINK_PIECE {
                sink(&self.inner[self.sent..self.sent + SINK_PIECE]);
                self.sent += SINK_PIECE;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub use super::blob::{digest_of, gzip, open_blob, read_entries, ReadEntry};

/// One entry found in the source folder, in tar order.
struct Entry {
    /// Path relative to the source folder ('/'-separated).
    rel: String,
    path: PathBuf,
    kind: EntryKind,
}

enum EntryKind {
    Dir,
    File { executable: bool, len: u64 },
    Link(PathBuf),
}

/// Walk the folder in a stable order and check every entry.
fn scan(source: &Path) -> Result<Vec<Entry>> {
    let meta = match std::fs::symlink_metadata(source) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LayerError::MissingSource(source.to_path_buf()).into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", source.display())),
    };
    if !meta.is_dir() && !std::fs::metadata(source).is_ok_and(|m| m.is_dir()) {
        return Err(LayerError::NotAFolder(source.to_path_buf()).into());
    }
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(source)
        .min_depth(1)
        .follow_links(false)
        .sort_by(|a, b| {
            a.file_name()
                .as_encoded_bytes()
                .cmp(b.file_name().as_encoded_bytes())
        });
    for entry in walker {
        let entry = entry.with_context(|| format!("cannot read folder {}", source.display()))?;
        let rel_path = entry.path().strip_prefix(source)?;
        let rel = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let ft = entry.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .with_context(|| format!("cannot read link {}", entry.path().display()))?;
            if !link_stays_inside(rel_path, &target) {
                return Err(LayerError::SymlinkEscapes {
                    link: entry.path().to_path_buf(),
                    target,
                }
                .into());
            }
            EntryKind::Link(target)
        } else if ft.is_file() {
            let m = entry
                .metadata()
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            EntryKind::File {
                executable: is_executable(&m),
                len: m.len(),
            }
        } else {
            return Err(LayerError::SpecialFile(entry.path().to_path_buf()).into());
        };
        out.push(Entry {
            rel,
            path: entry.path().to_path_buf(),
            kind,
        });
    }
    Ok(out)
}

#[cfg(unix)]
fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_m: &std::fs::Metadata) -> bool {
    false
}

/// A link at `rel` (relative to the folder) with `target` stays inside the folder when its
/// target is relative and resolving it lexically never climbs above the folder.
pub(crate) fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn header(
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// Check a source folder (exists, only files/folders/links, no link out of it) without
/// building anything: lets callers fail before any network access.
pub fn check_source(source: &Path) -> Result<()> {
    scan(source).map(|_| ())
}

/// Build the layer. The tar is written once, hashed as it goes (diff_id), then compressed.
pub fn build(spec: &LayerSpec) -> Result<Layer> {
    build_with_sink(spec, None)
}

/// [`build`], handing the bytes of an uncompressed layer to `sink` while they are written
/// (a gzip layer is handed over whole at the end). Stages: scan the source, write the
/// destination's parent folders, the folder's entries, then hash and compress.
pub fn build_with_sink(spec: &LayerSpec, sink: Option<Sink>) -> Result<Layer> {
    let dest = normalise_dest(&spec.dest)?;
    let entries = scan(&spec.source)?;
    let streaming = !spec.compress;
    let mut tar = tar::Builder::new(Hashing {
        inner: Vec::with_capacity(tar_capacity(&entries) as usize),
        hash: Sha256::new(),
        sink: if streaming { sink } else { None },
        sent: 0,
    });
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let dest_parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    let mut count = append_dest_folders(&mut tar, spec, &dest_parts)?;
    let prefix = dest_parts.join("/");
    let mut content_bytes = 0u64;
    for e in &entries {
        let name = if prefix.is_empty() {
            e.rel.clone()
        } else if e.rel.is_empty() {
            prefix.clone()
        } else {
            format!("{prefix}/{}", e.rel)
        };
        content_bytes += append_entry(&mut tar, spec, e, &name)?;
        count += 1;
    }
    finish(tar.into_inner()?, spec, count, content_bytes)
}

/// The tar's size, known from the walk: the buffer is allocated once.
fn tar_capacity(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .map(|e| match e.kind {
            EntryKind::File { len, .. } => len.div_ceil(512) * 512 + 512,
            _ => 512,
        })
        .sum::<u64>()
        + 4096
}

/// The destination's parent folders, with the base's metadata (root-owned 755 when the
/// base lacks them, like `docker build` creates them), then the destination folder itself
/// with the layer's owner. Returns the number of entries written.
fn append_dest_folders(
    tar: &mut tar::Builder<Hashing>,
    spec: &LayerSpec,
    dest_parts: &[&str],
) -> Result<usize> {
    let mut count = 0;
    for i in 1..dest_parts.len() {
        let rel = dest_parts[..i].join("/");
        let meta = spec
            .parents
            .get(&rel)
            .copied()
            .unwrap_or(super::blob::DirMeta {
                uid: 0,
                gid: 0,
                mode: 0o755,
            });
        let mut h = header(
            tar::EntryType::Directory,
            meta.mode,
            meta.uid,
            meta.gid,
            spec.mtime,
            0,
        );
        tar.append_data(&mut h, format!("{rel}/"), io::empty())?;
        count += 1;
    }
    if !dest_parts.is_empty() {
        let own = spec.owner;
        let mut h = header(
            tar::EntryType::Directory,
            own.dest_mode.or(own.mode).unwrap_or(0o755),
            own.uid,
            own.gid,
            spec.mtime,
            0,
        );
        tar.append_data(&mut h, format!("{}/", dest_parts.join("/")), io::empty())?;
        count += 1;
    }
    Ok(count)
}

/// One entry of the source folder under its name in the image, with the layer's owner
/// and mode. Returns the file content's size (0 for folders and links).
fn append_entry(
    tar: &mut tar::Builder<Hashing>,
    spec: &LayerSpec,
    e: &Entry,
    name: &str,
) -> Result<u64> {
    let own = spec.owner;
    match &e.kind {
        EntryKind::Dir => {
            let mut h = header(
                tar::EntryType::Directory,
                own.mode.unwrap_or(0o755),
                own.uid,
                own.gid,
                spec.mtime,
                0,
            );
            tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            Ok(0)
        }
        EntryKind::File { executable, len } => {
            let mode = own.mode.unwrap_or(if *executable { 0o755 } else { 0o644 });
            // Read the whole file (one piece per file through the hasher and the upload
            // sink); a file that changed size since the walk is an error, since the tar
            // header already holds the size.
            let content = std::fs::read(&e.path)
                .with_context(|| format!("cannot read {}", e.path.display()))?;
            if content.len() as u64 != *len {
                bail!("{} changed while being read", e.path.display());
            }
            let mut h = header(
                tar::EntryType::Regular,
                mode,
                own.uid,
                own.gid,
                spec.mtime,
                *len,
            );
            tar.append_data(&mut h, name, &content[..])
                .with_context(|| format!("cannot add {} to the layer", e.path.display()))?;
            Ok(*len)
        }
        EntryKind::Link(target) => {
            let mut h = header(
                tar::EntryType::Symlink,
                0o777,
                own.uid,
                own.gid,
                spec.mtime,
                0,
            );
            tar.append_link(&mut h, name, target)
                .with_context(|| format!("cannot add link {} to the layer", e.path.display()))?;
            Ok(0)
        }
    }
}

/// The written tar: its last bytes and the end mark to the sink, its digest (the
/// diff_id), and the blob (the tar itself, or its gzip).
fn finish(
    mut hashing: Hashing,
    spec: &LayerSpec,
    count: usize,
    content_bytes: u64,
) -> Result<Layer> {
    if let Some(sink) = hashing.sink.as_mut() {
        if hashing.inner.len() > hashing.sent {
            sink(&hashing.inner[hashing.sent..]);
        }
        sink(&[]);
    }
    let diff_id = sha256_hex(hashing.hash);
    let tar_bytes = hashing.inner;
    let tar_size = tar_bytes.len() as u64;
    if !spec.compress {
        return Ok(Layer {
            digest: diff_id.clone(),
            blob: tar_bytes.into(),
            media_type: super::blob::OCI_LAYER_TAR,
            diff_id,
            tar_size,
            entries: count,
            content_bytes,
        });
    }
    let blob = gzip(&tar_bytes, spec.gzip_level)?;
    drop(tar_bytes);
    Ok(Layer {
        digest: digest_of(&blob),
        blob: blob.into(),
        media_type: super::blob::OCI_LAYER_GZIP,
        diff_id,
        tar_size,
        entries: count,
        content_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::blob::GZIP_PIECE;

    fn spec(dir: &Path) -> LayerSpec {
        LayerSpec {
            source: dir.to_path_buf(),
            dest: "/usr/share/nginx/html".into(),
            owner: Ownership {
                uid: 101,
                gid: 0,
                mode: None,
                dest_mode: None,
            },
            mtime: 0,
            gzip_level: 6,
            compress: true,
            parents: Default::default(),
        }
    }

    fn sample(dir: &Path) {
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(dir.join("b/c/z.js"), "z").unwrap();
        std::fs::write(dir.join("a.css"), "a").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o700))
                .unwrap();
            std::os::unix::fs::symlink("b/c/z.js", dir.join("link.js")).unwrap();
        }
    }

    #[test]
    fn entries_are_sorted_owned_and_parents_included() {
        let t = tempfile::tempdir().unwrap();
        sample(t.path());
        let layer = build(&spec(t.path())).unwrap();
        let entries = read_entries(&layer.blob).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr/",
                "usr/share/",
                "usr/share/nginx/",
                "usr/share/nginx/html/",
                "usr/share/nginx/html/a.css",
                "usr/share/nginx/html/b/",
                "usr/share/nginx/html/b/c/",
                "usr/share/nginx/html/b/c/z.js",
                "usr/share/nginx/html/index.html",
                "usr/share/nginx/html/link.js",
                "usr/share/nginx/html/run.sh",
            ]
        );
        assert_eq!(
            (entries[0].uid, entries[0].gid, entries[0].mode),
            (0, 0, 0o755)
        );
        let idx = entries
            .iter()
            .find(|e| e.path.ends_with("index.html"))
            .unwrap();
        assert_eq!((idx.uid, idx.gid, idx.mode), (101, 0, 0o644));
        assert_eq!(idx.content, b"<h1>hi</h1>");
        let sh = entries.iter().find(|e| e.path.ends_with("run.sh")).unwrap();
        assert_eq!(sh.mode, 0o755);
        let link = entries
            .iter()
            .find(|e| e.path.ends_with("link.js"))
            .unwrap();
        assert_eq!((link.kind, link.link.as_deref()), ('l', Some("b/c/z.js")));
        assert_eq!(layer.entries, entries.len());
    }

    #[test]
    fn same_inputs_same_digest_and_mode_override() {
        let t1 = tempfile::tempdir().unwrap();
        let t2 = tempfile::tempdir().unwrap();
        sample(t1.path());
        sample(t2.path());
        let a = build(&spec(t1.path())).unwrap();
        let b = build(&spec(t2.path())).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        assert_eq!(a.blob, b.blob);
        let mut plain = spec(t1.path());
        plain.compress = false;
        let p = build(&plain).unwrap();
        assert_eq!(
            (p.digest.as_str(), p.media_type),
            (a.diff_id.as_str(), crate::image::blob::OCI_LAYER_TAR)
        );
        assert_eq!(
            read_entries(&p.blob).unwrap(),
            read_entries(&a.blob).unwrap()
        );
        let mut s = spec(t1.path());
        s.mtime = 1_700_000_000;
        assert_ne!(build(&s).unwrap().digest, a.digest);
        s.owner = Ownership {
            uid: 1000,
            gid: 1000,
            mode: Some(0o775),
            dest_mode: None,
        };
        let c = build(&s).unwrap();
        for e in read_entries(&c.blob).unwrap() {
            if e.path.starts_with("usr/share/nginx/html/") && e.kind != 'l' {
                assert_eq!((e.uid, e.gid, e.mode), (1000, 1000, 0o775), "{}", e.path);
            }
        }
    }

    #[test]
    fn symlink_out_of_the_folder_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        sample(t.path());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("../../etc/passwd", t.path().join("b/out")).unwrap();
            let err = build(&spec(t.path())).unwrap_err();
            assert!(matches!(
                err.downcast_ref::<LayerError>(),
                Some(LayerError::SymlinkEscapes { .. })
            ));
            std::fs::remove_file(t.path().join("b/out")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", t.path().join("abs")).unwrap();
            assert!(build(&spec(t.path())).is_err());
        }
    }

    #[test]
    fn link_check_is_lexical() {
        assert!(link_stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!link_stays_inside(Path::new("a/b"), Path::new("../../c")));
        assert!(!link_stays_inside(Path::new("b"), Path::new("../b")));
        assert!(link_stays_inside(
            Path::new("x/y/z"),
            Path::new("./../../k")
        ));
        assert!(!link_stays_inside(Path::new("x"), Path::new("/abs")));
    }

    #[test]
    fn missing_source_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let err = build(&spec(&t.path().join("nope"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn big_data_compresses_in_deterministic_members() {
        let data: Vec<u8> = (0..(GZIP_PIECE * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        let a = gzip(&data, 1).unwrap();
        assert_eq!(a, gzip(&data, 1).unwrap());
        let mut back = Vec::new();
        io::Read::read_to_end(&mut open_blob(&a), &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn dest_normalisation() {
        assert_eq!(normalise_dest("/root//patches/").unwrap(), "/root/patches");
        assert_eq!(normalise_dest("/").unwrap(), "/");
        assert!(normalise_dest("rel").is_err());
        assert!(normalise_dest("/a/../b").is_err());
    }
}
