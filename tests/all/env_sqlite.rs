//! The embedded environment loads `@olympeio/core` with its runtime.

use crate::common::snapshot as snapshot_common;

use cadkit::env::{Environment, SqliteEnv};
use cadkit::graph::Graph;
use cadkit::patch::{FileKind, Patch};

#[test]
fn core_with_its_runtime_loads_into_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = snapshot_common::build_core_dist(tmp.path());
    let order = std::fs::read_to_string(dist.join("import_order.json")).unwrap();
    eprintln!("import order: {order}");
    let report = cadkit::steps::install::load(&tmp.path().join("env/env.sqlite"), &dist).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    let names: Vec<&str> = report.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["@olympeio/runtime", "@olympeio/core"]);

    // Per module (what install does) and global kind ordering give the same graph.
    let env = SqliteEnv::open(&tmp.path().join("env/env.sqlite")).unwrap();
    let g = env.graph().unwrap();
    let mut files = Vec::new();
    for m in &report.modules {
        for e in walkdir::WalkDir::new(dist.join(&m.path)).sort_by_file_name() {
            let e = e.unwrap();
            if let Some(k) = FileKind::of_path(e.path()) {
                files.push((k, Patch::read(e.path()).unwrap()));
            }
        }
    }
    let mut global = Graph::new();
    global.apply_patches(files.iter().map(|(k, p)| (*k, p)));
    assert_eq!(g, global, "per-module and global kind ordering differ");
    assert_eq!(
        (report.instances, report.relations),
        (g.instances.len() as u64, g.relation_count() as u64)
    );

    // The runtime module holds runtime-web and runtime-node (their `import/` folders
    // differ only in the admin/guest credentials and in runtime-web's extra olympe.sc.ui),
    // so the figures match dumper-rules §0 (runtime-web + core): 7250 / 28032.
    assert_eq!(report.instances, 7250);
    assert_eq!(report.relations, 28032);

    // Reinstalling resets: same counts.
    let again = cadkit::steps::install::load(&tmp.path().join("env/env.sqlite"), &dist).unwrap();
    assert_eq!((again.instances, again.relations), (7250, 28032));
}
