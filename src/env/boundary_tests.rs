//! The environment boundary holds: no SQL outside `src/env/` (issue 9, "One environment
//! boundary"). `update`, `install`, `snapshot`, the CLI and the reference orchestrator talk
//! to an environment through [`super::Environment`] and the typed methods of
//! [`super::SqliteEnv`]; a statement appearing anywhere else fails this test.
//!
//! Allowed outside `src/env/`:
//! - `src/receiver/` and `src/webhook/`: the receiver's own record store (deliveries,
//!   idempotency keys), a private SQLite file of that service, not a code-as-data
//!   environment;
//! - this test itself (it spells the patterns it looks for).

use std::path::{Path, PathBuf};

/// What SQL (or a way around the typed methods) looks like in Rust source.
const PATTERNS: [&str; 10] = [
    "rusqlite",
    ".conn()",
    ".conn_mut()",
    "SELECT ",
    "INSERT INTO",
    "INSERT OR ",
    "DELETE FROM",
    "CREATE TABLE",
    "PRAGMA ",
    "execute_batch(",
];

const ALLOWED: [&str; 3] = ["env/", "receiver/", "webhook/"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src is readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `file:line: text` of every line outside the allowed folders matching a pattern.
fn offenders(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable source");
        for (i, line) in text.lines().enumerate() {
            if PATTERNS.iter().any(|p| line.contains(p)) {
                found.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_sql_outside_the_environment_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = offenders(&src);
    assert!(
        found.is_empty(),
        "SQL outside src/env/ (move it behind a typed method of SqliteEnv or the Environment trait):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_sql_where_it_is() {
    // The scan is not vacuous: it finds the statements of the embedded environment when
    // that folder is not allowed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("update")).unwrap();
    std::fs::write(
        dir.path().join("update/x.rs"),
        "fn f(c: &rusqlite::Connection) { c.execute(\"DELETE FROM meta\", []); }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("update/y.rs"), "fn g() {}\n").unwrap();
    let found = offenders(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/update/x.rs:1:"), "{found:?}");
}
