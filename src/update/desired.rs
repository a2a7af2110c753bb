//! The desired state: a built `dist/codeAsData` folder (`import_order.json`, one folder
//! per module, patch files), grouped by root.

use super::{RelKey, RootState, STRUCTURE_RELATIONS};
use crate::patch::{FileKind, Op, Patch};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One root of the desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredRoot {
    /// What the root's patch files create, set and relate, applied in kind order.
    pub state: RootState,
    /// The module (import_order entry name) the root first appears in.
    pub module: String,
}

/// The desired state read from a dist folder.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Root tags in import order (module order, then file order within a module).
    pub order: Vec<String>,
    /// Parsed roots (all of them, or only the selected ones).
    pub roots: BTreeMap<String, DesiredRoot>,
    /// Every root tag present in the folder, parsed or not.
    pub all_roots: BTreeSet<String>,
    /// Root of each patch file (path relative to the dist folder, `/`-separated).
    pub file_roots: BTreeMap<String, String>,
    /// Folder structure held by the parsed patches: parent → children.
    pub structure: BTreeMap<String, BTreeSet<String>>,
}

/// A patch file of the dist folder.
#[derive(Debug, Clone)]
pub struct PatchFile {
    /// Path relative to the dist folder, `/`-separated.
    pub rel: String,
    /// The file on disk (the dist folder joined with `rel`).
    pub path: PathBuf,
    /// Its kind, from the file-name suffix (`.newInst.json`, …).
    pub kind: FileKind,
    /// The `import_order.json` module whose folder holds the file.
    pub module: String,
}

#[derive(serde::Deserialize)]
struct OrderEntry {
    name: String,
    path: String,
}

/// The patch files of a dist folder in import order: modules as listed in
/// `import_order.json`, files sorted by path within a module.
pub fn list_files(dist: &Path) -> Result<Vec<PatchFile>> {
    let order_file = dist.join("import_order.json");
    let text = std::fs::read_to_string(&order_file).with_context(|| {
        format!(
            "cannot read {}: is {} a built codeAsData folder? (run `cadkit buildCodeAsData` first)",
            order_file.display(),
            dist.display()
        )
    })?;
    let order: Vec<OrderEntry> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected [{{\"name\",\"rootTag\",\"path\"}}, …]",
            order_file.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in order {
        let dir = dist.join(&entry.path);
        if !dir.is_dir() {
            bail!(
                "{}: module {:?} points at {}, which is not a folder",
                order_file.display(),
                entry.name,
                dir.display()
            );
        }
        let mut module_files = Vec::new();
        for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
            let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
            if !e.file_type().is_file() {
                continue;
            }
            let Some(kind) = FileKind::of_path(e.path()) else {
                continue;
            };
            let rel = rel_path(dist, e.path());
            module_files.push(PatchFile {
                rel,
                path: e.path().to_path_buf(),
                kind,
                module: entry.name.clone(),
            });
        }
        files.extend(module_files);
    }
    Ok(files)
}

pub(crate) fn rel_path(base: &Path, p: &Path) -> String {
    // A listing's paths are `base` + `/` + plain UTF-8 names: cut the prefix off as text
    // (parsing the components of 25,000 paths was a tenth of reading a build's root tags).
    if let (Some(b), Some(s)) = (base.to_str(), p.to_str()) {
        if let Some(rest) = s.strip_prefix(b).and_then(|r| r.strip_prefix('/')) {
            if !rest
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            {
                return rest.to_string();
            }
        }
    }
    let mut rel = String::new();
    for c in p.strip_prefix(base).unwrap_or(p).components() {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(&c.as_os_str().to_string_lossy());
    }
    rel
}

/// The `rootTag` of a patch file without parsing it fully: the value following the
/// top-level key `"rootTag"` (property keys are tags, so the key cannot appear elsewhere
/// as a key). Falls back to a full parse when the quick scan finds nothing.
pub fn scan_root_tag(path: &Path) -> Result<String> {
    use std::io::Read;
    // An update reads the root tag of every file of the build (25,000 for a 100k-instance
    // environment): open and read into a buffer kept per thread, without the size query
    // and the allocation of `fs::read`.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(64 * 1024));
    }
    BUF.with(|buf| {
        let mut bytes = buf.borrow_mut();
        bytes.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let tag = match quick_root_tag(&bytes).filter(|t| crate::patch::is_tag(t)) {
            Some(t) => t,
            None => Patch::parse(&bytes, path)?.root_tag,
        };
        // A large file (a zipped or binary patch) does not keep its buffer for good.
        if bytes.capacity() > 1024 * 1024 {
            *bytes = Vec::with_capacity(64 * 1024);
        }
        Ok(tag)
    })
}

fn quick_root_tag(bytes: &[u8]) -> Option<String> {
    // Dumper files sort their keys: `rootTag` comes last; look at the tail first.
    let tail = bytes.len().saturating_sub(64);
    if let Some(t) = scan_from(bytes, tail) {
        return Some(t);
    }
    scan_from(bytes, 0)
}

fn scan_from(bytes: &[u8], start: usize) -> Option<String> {
    let needle = b"\"rootTag\"";
    let mut from = start;
    while let Some(pos) = find(&bytes[from..], needle) {
        let mut i = from + pos + needle.len();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b':') {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b'"') {
                return None;
            }
            let start = i + 1;
            let end = start + bytes[start..].iter().position(|&b| b == b'"')?;
            return std::str::from_utf8(&bytes[start..end])
                .ok()
                .map(str::to_string);
        }
        from = from + pos + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse every file, on every core; the first unreadable file (in file order) is the error.
fn read_all(files: Vec<PatchFile>) -> Result<Vec<(PatchFile, Patch)>> {
    use rayon::prelude::*;
    let read: Vec<Result<Patch, crate::patch::PatchError>> =
        files.par_iter().map(|f| Patch::read(&f.path)).collect();
    let mut parsed = Vec::with_capacity(files.len());
    for (f, p) in files.into_iter().zip(read) {
        parsed.push((f, p?));
    }
    Ok(parsed)
}

impl DesiredState {
    /// Read every patch of the folder.
    pub fn load(dist: &Path) -> Result<DesiredState> {
        DesiredState::load_selected(dist, None)
    }

    /// Read the folder; with `changed` (paths relative to the folder) only the roots
    /// owning one of those files (or listed in `extra_roots` of the returned selection)
    /// are parsed, the other files are only scanned for their root tag.
    pub fn load_selected(
        dist: &Path,
        changed: Option<(&BTreeSet<String>, &BTreeSet<String>)>,
    ) -> Result<DesiredState> {
        DesiredState::from_files(list_files(dist)?, changed)
    }

    /// [`DesiredState::load_selected`] of files already listed by [`list_files`].
    pub fn from_files(
        files: Vec<PatchFile>,
        changed: Option<(&BTreeSet<String>, &BTreeSet<String>)>,
    ) -> Result<DesiredState> {
        let mut d = DesiredState::default();
        let parsed = match changed {
            None => read_all(files)?,
            Some((changed_files, extra_roots)) => {
                d.read_selected(files, changed_files, extra_roots)?
            }
        };
        d.absorb(parsed)?;
        Ok(d)
    }

    /// Scan every file's root tag (import order and "absent from the build" need them all)
    /// and parse only the files of the roots that own a changed file or are in
    /// `extra_roots`. Every root is noted in import order, parsed or not.
    fn read_selected(
        &mut self,
        files: Vec<PatchFile>,
        changed_files: &BTreeSet<String>,
        extra_roots: &BTreeSet<String>,
    ) -> Result<Vec<(PatchFile, Patch)>> {
        // One read per file, on every core.
        use rayon::prelude::*;
        let tags: Vec<Result<String>> = files.par_iter().map(|f| scan_root_tag(&f.path)).collect();
        let mut roots_of: Vec<(PatchFile, String)> = Vec::with_capacity(files.len());
        for (f, r) in files.into_iter().zip(tags) {
            roots_of.push((f, r?));
        }
        let mut selected: BTreeSet<String> = extra_roots.clone();
        for (f, r) in &roots_of {
            if changed_files.contains(&f.rel) {
                selected.insert(r.clone());
            }
        }
        let mut chosen = Vec::new();
        for (f, r) in roots_of {
            self.note_root(&r, &f.rel);
            if selected.contains(&r) {
                chosen.push(f);
            }
        }
        // On every core, as a whole read: a Core update parses nearly all of its 950 files.
        read_all(chosen)
    }

    /// Fold the parsed patches into per-root states: each root's operations in file order,
    /// its files (sorted) and its module, and the structure relations of every root.
    fn absorb(&mut self, parsed: Vec<(PatchFile, Patch)>) -> Result<()> {
        let mut ops: BTreeMap<String, Vec<(FileKind, Op)>> = BTreeMap::new();
        let mut files_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut module_of: BTreeMap<String, String> = BTreeMap::new();
        for (f, p) in parsed {
            if p.root_tag == "null" {
                bail!(
                    "{}: rootTag \"null\" is an update-diff file, not a patch of a built codeAsData folder",
                    f.path.display()
                );
            }
            self.note_root(&p.root_tag, &f.rel);
            files_of
                .entry(p.root_tag.clone())
                .or_default()
                .push(f.rel.clone());
            module_of
                .entry(p.root_tag.clone())
                .or_insert_with(|| f.module.clone());
            let list = ops.entry(p.root_tag.clone()).or_default();
            // The parsed operations are moved, not copied (a Core update reads 30,000).
            let all = p
                .operations
                .into_iter()
                .chain(p.optional_operations.into_iter().flatten());
            for op in all {
                if let Op::CreateRelation(r, _) = &op {
                    if STRUCTURE_RELATIONS.contains(&r.rel.as_str()) {
                        self.structure
                            .entry(r.from.clone())
                            .or_default()
                            .insert(r.to.clone());
                    }
                }
                list.push((f.kind, op));
            }
        }
        for (root, list) in ops {
            let mut state = RootState::from_ops(list.iter().map(|(k, o)| (*k, o)));
            state.files = files_of.remove(&root).unwrap_or_default();
            state.files.sort();
            let module = module_of.remove(&root).unwrap_or_default();
            self.roots.insert(root, DesiredRoot { state, module });
        }
        Ok(())
    }

    fn note_root(&mut self, root: &str, rel: &str) {
        if self.all_roots.insert(root.to_string()) {
            self.order.push(root.to_string());
        }
        self.file_roots.insert(rel.to_string(), root.to_string());
    }

    /// Build a desired state from patches in memory (tests, demo). Each entry is
    /// (relative path, module, patch); the kind comes from the path.
    pub fn from_patches<'a>(
        patches: impl IntoIterator<Item = (&'a str, &'a Patch)>,
    ) -> DesiredState {
        let mut d = DesiredState::default();
        let mut ops: BTreeMap<String, Vec<(FileKind, Op)>> = BTreeMap::new();
        let mut files_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (rel, p) in patches {
            let kind = FileKind::of_path(Path::new(rel)).unwrap_or(FileKind::NewInst);
            d.note_root(&p.root_tag, rel);
            files_of
                .entry(p.root_tag.clone())
                .or_default()
                .push(rel.to_string());
            let list = ops.entry(p.root_tag.clone()).or_default();
            for op in p.all_ops() {
                if let Op::CreateRelation(r, _) = op {
                    if STRUCTURE_RELATIONS.contains(&r.rel.as_str()) {
                        d.structure
                            .entry(r.from.clone())
                            .or_default()
                            .insert(r.to.clone());
                    }
                }
                list.push((kind, op.clone()));
            }
        }
        for (root, list) in ops {
            let mut state = RootState::from_ops(list.iter().map(|(k, o)| (*k, o)));
            state.files = files_of.remove(&root).unwrap_or_default();
            state.files.sort();
            d.roots.insert(
                root,
                DesiredRoot {
                    state,
                    module: String::new(),
                },
            );
        }
        d
    }

    /// Every relation key held by the parsed roots.
    pub fn relations(&self) -> BTreeSet<RelKey> {
        self.roots
            .values()
            .flat_map(|r| r.state.relations.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_scan_finds_the_root_tag_in_both_layouts() {
        let pretty = b"{\n \"operations\": [\n ],\n \"rootTag\": \"0123456789abcdef0123\"\n}\n";
        assert_eq!(
            quick_root_tag(pretty).as_deref(),
            Some("0123456789abcdef0123")
        );
        let compact = br#"{"rootTag":"0123456789abcdef0124","operations":[]}"#;
        assert_eq!(
            quick_root_tag(compact).as_deref(),
            Some("0123456789abcdef0124")
        );
        let tricky = br#"{"operations":[{"o":1,"t":"0123456789abcdef0125","p":{"ff023000000000000011":"\"rootTag\""}}],"rootTag":"0123456789abcdef0126"}"#;
        assert_eq!(
            quick_root_tag(tricky).as_deref(),
            Some("0123456789abcdef0126")
        );
    }
}
