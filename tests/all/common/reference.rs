//! The reference npm packages (Olympe toolkit 1.2.3, @olympeio/core, draw, runtime)
//! installed by `scripts/setup` outside the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$CADKIT_REFERENCE_DIR` (set by scripts/test), falling back to
/// `$HOME/.cache/cadkit/reference`; not checked.
pub fn base_dir() -> PathBuf {
    std::env::var_os("CADKIT_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/cadkit/reference")
        })
}

/// Folder holding `node_modules` with the reference packages. Fails loudly when missing:
/// these tests must never be skipped silently.
pub fn dir() -> PathBuf {
    let dir = base_dir();
    assert!(
        dir.join("node_modules/@olympeio/toolkit/main.js").is_file(),
        "reference packages missing in {}: run scripts/setup (or scripts/test)",
        dir.display()
    );
    dir
}

pub fn node_modules() -> PathBuf {
    dir().join("node_modules")
}

/// Copy a fixture project into `dest` and link every reference package into its
/// `node_modules` (packages the fixture ships itself are kept).
pub fn project_from_fixture(fixture: &Path, dest: &Path) {
    copy_tree(fixture, dest);
    let nm = dest.join("node_modules");
    std::fs::create_dir_all(&nm).unwrap();
    let reference = node_modules();
    for entry in std::fs::read_dir(&reference).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('@') {
            std::fs::create_dir_all(nm.join(&name)).unwrap();
            for sub in std::fs::read_dir(entry.path()).unwrap() {
                let sub = sub.unwrap();
                let target = nm.join(&name).join(sub.file_name());
                if !target.exists() {
                    std::os::unix::fs::symlink(sub.path(), target).unwrap();
                }
            }
        } else if !nm.join(&name).exists() && !name.to_string_lossy().starts_with('.') {
            std::os::unix::fs::symlink(entry.path(), nm.join(&name)).unwrap();
        }
    }
}

/// `cadkit::fsutil::copy_tree`, panicking on failure.
pub fn copy_tree(from: &Path, to: &Path) {
    cadkit::fsutil::copy_tree(from, to).unwrap();
}

/// Run the reference toolkit (`npx olympe <args>`) in `dir`.
pub fn toolkit(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("node")
        .arg(node_modules().join("@olympeio/toolkit/main.js"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("node must be installed");
    assert!(
        out.status.success(),
        "toolkit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file under `root` (relative path → bytes), sorted.
pub fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Compare two trees; returns a readable list of the first differences.
pub fn diff_trees(a: &Path, b: &Path) -> Vec<String> {
    let (ta, tb) = (tree(a), tree(b));
    let mut out = Vec::new();
    for (p, bytes) in &ta {
        match tb.get(p) {
            None => out.push(format!("only in {}: {}", a.display(), p.display())),
            Some(other) if other != bytes => out.push(format!("content differs: {}", p.display())),
            _ => {}
        }
    }
    for p in tb.keys().filter(|p| !ta.contains_key(*p)) {
        out.push(format!("only in {}: {}", b.display(), p.display()));
    }
    out.truncate(20);
    out
}
