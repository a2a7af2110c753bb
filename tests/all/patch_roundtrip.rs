//! Every real patch file shipped by Olympe (runtime, core, draw) parses, validates and is
//! written back byte for byte: dumper-made files in the deterministic layout, hand-built
//! runtime files in their compact layout.

use crate::common;

use cadkit::patch::{FileKind, Patch};

#[test]
fn every_real_patch_file_round_trips_byte_for_byte() {
    let root = common::reference::node_modules().join("@olympeio");
    let mut checked = 0;
    let mut failures = Vec::new();
    for pkg in ["runtime-web", "runtime-node", "core", "draw"] {
        for entry in walkdir::WalkDir::new(root.join(pkg)).follow_links(true) {
            let entry = entry.unwrap();
            if FileKind::of_path(entry.path()).is_none() {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let patch = Patch::parse(&bytes, entry.path()).unwrap_or_else(|e| panic!("{e}"));
            cadkit::patch::validate(&bytes, entry.path()).unwrap_or_else(|e| panic!("{e}"));
            if patch.to_json_string().as_bytes() != bytes.as_slice() {
                failures.push(entry.path().display().to_string());
            }
            checked += 1;
        }
    }
    assert!(
        checked > 1000,
        "expected the real packages' patches, found {checked}"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} files differ, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
