//! THE PROOF: the patches shipped in `@olympeio/core` 2.9.3 were written by the toolkit's
//! dumper. Install Core with its runtime into an embedded environment, snapshot it, and
//! every Core file must come back byte for byte.
//!
//! Exactly what is compared: the dump (rootTags `[Home]`, `exclude: []`) writes
//! `<out>/10000000000000000000/Home/…`; the Core project's subtree
//! `<out>/10000000000000000000/Home/Olympe_Libraries/Core/` must hold exactly the files of
//! `node_modules/@olympeio/core/codeAsData/olympeio.core/Olympe_Libraries/Core/` (same
//! relative paths, same bytes, no file more or less). The dump also writes the runtime
//! project's roots under `Home/Olympe_Libraries/Internal/` (the runtime's own patches are
//! hand-built, not dumper-made, so they are not compared). A second dump with the Core
//! project tag as root tag must give the same Core files under `<out>/<coreTag>/Home/…`.

use crate::common::snapshot as snapshot_common;

use cadkit::env::{Environment, SqliteEnv};
use cadkit::snapshot::{self, DumpConfig};
use std::collections::BTreeMap;
use std::path::Path;

const CORE_PROJECT: &str = "100000000000000000df";

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn compare(shipped: &BTreeMap<String, Vec<u8>>, dumped: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut diffs = Vec::new();
    for (path, bytes) in shipped {
        match dumped.get(path) {
            None => diffs.push(format!("missing: {path}")),
            Some(b) if b != bytes => {
                let (s, d) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(b));
                let (sl, dl): (Vec<&str>, Vec<&str>) = (s.lines().collect(), d.lines().collect());
                let i = (0..sl.len().max(dl.len()))
                    .find(|&i| sl.get(i) != dl.get(i))
                    .unwrap_or(0);
                diffs.push(format!(
                    "differs: {path} ({} vs {} lines), first at line {}: shipped {:?} dumped {:?}",
                    sl.len(),
                    dl.len(),
                    i + 1,
                    sl.get(i),
                    dl.get(i)
                ))
            }
            Some(_) => {}
        }
    }
    for path in dumped.keys() {
        if !shipped.contains_key(path) {
            diffs.push(format!("extra: {path}"));
        }
    }
    diffs
}

fn assert_same(shipped: &BTreeMap<String, Vec<u8>>, dumped: &BTreeMap<String, Vec<u8>>) {
    let diffs = compare(shipped, dumped);
    assert!(
        diffs.is_empty(),
        "{} of {} Core files differ; first ones:\n{}",
        diffs.len(),
        shipped.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn core_comes_back_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = snapshot_common::build_core_dist(tmp.path());
    let db = tmp.path().join("env.sqlite");
    cadkit::steps::install::load(&db, &dist).unwrap();
    let env = SqliteEnv::open(&db).unwrap();
    let graph = env.graph().unwrap();

    let shipped_dir = snapshot_common::reference_modules()
        .join("@olympeio/core/codeAsData/olympeio.core/Olympe_Libraries/Core");
    let shipped = files_under(&shipped_dir);
    assert_eq!(shipped.len(), 947);

    let out = tmp.path().join("out");
    let config = DumpConfig {
        name: "core".into(),
        root_tags: vec![cadkit::patch::tags::HOME.into()],
        exclude: vec![],
        path_override: vec![],
    };
    let report = snapshot::dump(&graph, &config, &out).unwrap();
    eprintln!(
        "roots {} files {} collisions {}",
        report.roots,
        report.files,
        report.collisions.len()
    );
    let dumped = files_under(&out.join("10000000000000000000/Home/Olympe_Libraries/Core"));
    assert_same(&shipped, &dumped);
    assert!(report.written == report.files && report.unchanged.is_empty());

    // The unchanged environment rewrites nothing.
    let again = snapshot::dump(&graph, &config, &out).unwrap();
    assert_eq!(again.written, 0);
    assert!(!again.has_changes(), "{:?}", again.changed);
    assert_eq!(again.unchanged.len(), report.files);

    // The Core project as root tag (through the environment trait).
    let entry: snapshot::SnapshotEntry = serde_json::from_value(serde_json::json!({
        "snapshooter": {"name": "core-only", "rootTags": [CORE_PROJECT], "exclude": []}
    }))
    .unwrap();
    let out2 = tmp.path().join("out2");
    let r2 = snapshot::run_entry(&env, &entry, &out2, false).unwrap();
    assert_eq!((r2.projects, r2.roots, r2.files), (1, 455, 947));
    assert_eq!(r2.collisions.len(), 12);
    let dumped = files_under(&out2.join(CORE_PROJECT).join("Home/Olympe_Libraries/Core"));
    assert_same(&shipped, &dumped);
}
