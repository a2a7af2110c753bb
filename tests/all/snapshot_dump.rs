//! The dumper on synthetic environments and on the bundled sample project.

use cadkit::graph::Graph;
use cadkit::patch::tags::{model, prop, rel, HOME};
use cadkit::patch::{InstanceOp, Op};
use cadkit::snapshot::{self, synth, DumpConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn graph_of(ops: &[Op]) -> Graph {
    let mut g = Graph::new();
    for op in ops {
        g.apply(op);
    }
    g
}

fn files(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
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
            let mtime = e.metadata().unwrap().modified().unwrap();
            out.insert(rel, (std::fs::read(e.path()).unwrap(), mtime));
        }
    }
    out
}

fn home_config() -> DumpConfig {
    DumpConfig {
        name: "t".into(),
        root_tags: vec![HOME.into()],
        exclude: vec![],
        path_override: vec![],
    }
}

fn small() -> synth::Spec {
    synth::Spec {
        repositories: 2,
        projects_per_repository: 2,
        folders_per_project: 2,
        items_per_folder: 10,
        parts_per_item: 4,
    }
}

#[test]
fn only_real_changes_are_written_and_vanished_roots_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let ops = synth::operations(&small());
    let mut g = graph_of(&ops);
    let first = snapshot::dump(&g, &home_config(), &out).unwrap();
    // 4 projects, 8 folders, 80 items; every 10th item collides with its neighbour.
    assert_eq!((first.projects, first.roots), (4, 92));
    assert_eq!(first.collisions.len(), 8);
    assert!(
        first.collisions[0].used.ends_with("/ITEM_8_2"),
        "{:?}",
        first.collisions[0]
    );
    assert_eq!(first.written, first.files);
    // Files the dumper does not own are left alone.
    std::fs::write(out.join("README.md"), "keep").unwrap();
    std::fs::write(out.join(format!("{HOME}/notes.txt")), "keep").unwrap();
    let before = files(&out);

    let again = snapshot::dump(&g, &home_config(), &out).unwrap();
    assert_eq!(again.written, 0);
    assert!(!again.has_changes());
    assert_eq!(
        files(&out),
        before,
        "an unchanged environment rewrote files"
    );

    // One item renamed, one project gone.
    let item = first
        .added
        .iter()
        .rev()
        .find(|p| p.ends_with("Item_0.newInst.json"))
        .unwrap()
        .clone();
    let content: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(&item)).unwrap()).unwrap();
    let item_tag = content["rootTag"].as_str().unwrap().to_string();
    g.apply(&Op::UpdateInstance(InstanceOp {
        tag: item_tag,
        props: json!({ prop::NAME: "Item 0", "v": 4 })
            .as_object()
            .unwrap()
            .clone(),
        extra: Default::default(),
    }));
    let project = g
        .targets("01900000000000000001", rel::SUB_REPOSITORY)
        .next()
        .unwrap()
        .to_string();
    g.remove_instance(&project);

    let dry = snapshot::dump_with(&g, &home_config(), &out, true).unwrap();
    assert!(dry.dry_run && dry.written == 0);
    assert_eq!(dry.changed, vec![item.clone()]);
    assert!(dry.added.is_empty());
    assert_eq!(dry.deleted.len(), 2 + 2 * 2 + 20 * 2 + 8);
    assert_eq!(files(&out), before, "a dry run wrote something");

    let real = snapshot::dump(&g, &home_config(), &out).unwrap();
    assert_eq!(real.changed, dry.changed);
    assert_eq!(real.deleted, dry.deleted);
    assert_eq!(real.written, 1);
    for d in &real.deleted {
        assert!(!out.join(d).exists(), "{d}");
    }
    let gone_dir = Path::new(&real.deleted[0]).parent().unwrap();
    assert!(
        !out.join(gone_dir).exists(),
        "emptied folder {} kept",
        gone_dir.display()
    );
    assert!(out.join("README.md").exists() && out.join(format!("{HOME}/notes.txt")).exists());
    assert!(out.join(HOME).is_dir());
}

#[test]
fn hostile_names_never_escape_the_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a/out");
    let mut ops = synth::data_model();
    let repo = "01900000000000000001";
    let project = "01910000000000000002";
    let folder = "01920000000000000003";
    let c = |t: &str, name: &str| {
        Op::CreateInstance(InstanceOp {
            tag: t.into(),
            props: json!({ prop::NAME: name }).as_object().unwrap().clone(),
            extra: Default::default(),
        })
    };
    ops.push(c(repo, "/"));
    ops.push(Op::create_relation(rel::MODEL, repo, model::REPOSITORY));
    ops.push(Op::create_relation(rel::HOME_FOLDER, HOME, repo));
    ops.push(c(project, ".."));
    ops.push(Op::create_relation(rel::MODEL, project, model::PROJECT));
    ops.push(Op::create_relation(rel::SUB_REPOSITORY, repo, project));
    ops.push(c(folder, "../../../etc"));
    ops.push(Op::create_relation(rel::MODEL, folder, model::FOLDER));
    ops.push(Op::create_relation(rel::SUB_FOLDER, project, folder));
    for (i, name) in [
        "CON",
        "nul",
        "a\0b",
        "/abs/path",
        "C:\\Windows",
        "..",
        "",
        "COM1",
    ]
    .into_iter()
    .enumerate()
    {
        let t = format!("0193000000000000000{i}");
        ops.push(c(&t, name));
        ops.push(Op::create_relation(rel::MODEL, &t, model::OBJECT));
        ops.push(Op::create_relation(rel::ITEM, folder, &t));
    }
    let g = graph_of(&ops);
    let report = snapshot::dump(&g, &home_config(), &out).unwrap();
    assert_eq!(report.roots, 10);
    let written = files(&out);
    assert_eq!(written.len(), report.files);
    let mut all: Vec<PathBuf> = Vec::new();
    for e in walkdir::WalkDir::new(tmp.path()) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            all.push(e.path().to_path_buf());
        }
    }
    assert_eq!(
        all.len(),
        report.files,
        "files outside the output folder: {all:?}"
    );
    let names: Vec<&str> = written.keys().map(String::as_str).collect();
    let expect = format!("{HOME}/Home/47/4646/464647464647464647etc/");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("{HOME}/Home/47/4646/"))),
        "{names:#?}"
    );
    for n in [
        "CON_",
        "nul_",
        "a0b",
        "47abs47path",
        "C5892Windows",
        "4646",
        "_",
        "COM1_",
    ] {
        assert!(
            names.contains(&format!("{expect}{n}.newInst.json").as_str()),
            "{n} missing in {names:#?}"
        );
    }
    assert!(names.contains(&format!("{HOME}/Home/47/4646/.4646.newInst.json").as_str()));

    // Nor can a symlinked folder planted in the output folder.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let planted = out.join(format!("{HOME}/Home/47/4646/464647464647464647etc"));
    std::fs::remove_dir_all(&planted).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    let e = snapshot::dump(&g, &home_config(), &out).unwrap_err();
    assert!(e.to_string().contains("outside the output folder"), "{e}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    std::fs::remove_file(&planted).unwrap();

    // pathOverride cannot be used to escape either.
    let mut cfg = home_config();
    cfg.path_override = vec![("/Home/47".into(), "/../..".into())];
    let e = snapshot::dump(&g, &cfg, &tmp.path().join("b")).unwrap_err();
    assert!(e.to_string().contains("not a safe relative path"), "{e}");
    cfg.path_override = vec![("/CON_".into(), "/nul_".into())];
    let e = snapshot::dump(&g, &cfg, &tmp.path().join("b")).unwrap_err();
    assert!(e.to_string().contains("maps two roots onto"), "{e}");
}

#[test]
fn path_override_and_exclude() {
    let tmp = tempfile::tempdir().unwrap();
    let g = graph_of(&synth::operations(&small()));
    let mut cfg = home_config();
    cfg.exclude = vec!["01900000000000000001".into()];
    cfg.path_override = vec![("/Home/Repository_".into(), "/Home/Repo_".into())];
    let r = snapshot::dump(&g, &cfg, tmp.path()).unwrap();
    assert_eq!(r.projects, 2);
    assert!(
        r.added
            .iter()
            .all(|p| p.starts_with(&format!("{HOME}/Home/Repo_1/"))),
        "{:?}",
        &r.added[..3]
    );
}

/// The bundled sample project's snapshot files were written to look dumper-made;
/// install → snapshot gives them back byte for byte.
#[test]
fn the_sample_project_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project");
    // What `cadkit demo` does after its build step (kept independent of the other steps).
    let mut req = cadkit::build::BuildRequest::new(&sample);
    req.working_dir = tmp.path().join("dist");
    let build = cadkit::build::build(&req).unwrap();
    let report = snapshot::demo_step(tmp.path(), &sample, &build.working_dir).unwrap();
    let snap = &report["snapshot"];
    assert_eq!(snap["projects"], 1);
    let tag = "0190aaaa000000000002";
    let shipped = files(&sample.join("snapshot").join(tag));
    let dumped = files(&tmp.path().join("snapshot-out").join(tag));
    let strip = |m: BTreeMap<String, (Vec<u8>, SystemTime)>| {
        m.into_iter()
            .map(|(k, (b, _))| (k, String::from_utf8(b).unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(dumped), strip(shipped));
}

/// Binaries: installed from `<base>/<fileTag>` beside the patches, written back beside
/// their item by the snapshot, kept when the environment lacks them.
#[test]
fn binaries_round_trip_beside_their_item() {
    use cadkit::env::SqliteEnv;
    use cadkit::patch::{FileKind, Patch};
    let tmp = tempfile::tempdir().unwrap();
    let (repo, project, folder, item, file) = (
        "01900000000000000001",
        "01910000000000000002",
        "01920000000000000003",
        "01930000000000000004",
        "01940000000000000005",
    );
    let c = |t: &str, p: serde_json::Value| {
        Op::CreateInstance(InstanceOp {
            tag: t.into(),
            props: p.as_object().unwrap().clone(),
            extra: Default::default(),
        })
    };
    let mut ops = vec![
        c(repo, json!({ prop::NAME: "Repo" })),
        Op::create_relation(rel::MODEL, repo, model::REPOSITORY),
        Op::create_relation(rel::HOME_FOLDER, HOME, repo),
        Op::create_relation(rel::CONTAINS, HOME, repo),
        c(project, json!({ prop::NAME: "Proj" })),
        Op::create_relation(rel::CONTAINS, repo, project),
        Op::create_relation(rel::CONTAINS, project, folder),
        Op::create_relation(rel::CONTAINS, folder, item),
        Op::create_relation(rel::MODEL, project, model::PROJECT),
        Op::create_relation(rel::SUB_REPOSITORY, repo, project),
        c(folder, json!({ prop::NAME: "Media" })),
        Op::create_relation(rel::MODEL, folder, model::FOLDER),
        Op::create_relation(rel::SUB_FOLDER, project, folder),
        c(item, json!({ prop::NAME: "Logo" })),
        Op::create_relation(rel::MODEL, item, model::OBJECT),
        Op::create_relation(rel::ITEM, folder, item),
        c(
            file,
            json!({ prop::NAME: "logo.png", "ff023000000000000054": true }),
        ),
        Op::create_relation(rel::MODEL, file, model::FILE),
        Op::create_relation(rel::CONTAINS, item, file),
    ];
    // The dumper's own files for this graph, used as the module's content.
    let mut g = graph_of(&synth::data_model());
    for op in &ops {
        g.apply(op);
    }
    let made = tmp.path().join("made");
    snapshot::dump(&g, &home_config(), &made).unwrap();
    let dist = tmp.path().join("dist");
    let module = dist.join("m");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        dist.join("import_order.json"),
        format!(r#"[{{"name":"m","rootTag":"{HOME}","path":"m"}}]"#),
    )
    .unwrap();
    for e in walkdir::WalkDir::new(made.join(HOME).join("Home")) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(made.join(HOME).join("Home")).unwrap();
        if e.file_type().is_dir() {
            std::fs::create_dir_all(module.join(rel)).unwrap();
        } else {
            std::fs::copy(e.path(), module.join(rel)).unwrap();
        }
    }
    let png = b"\x89PNG\r\n\x1a\n binary \x00\xff".to_vec();
    std::fs::create_dir_all(module.join("Repo/Proj/Media/Logo")).unwrap();
    std::fs::write(module.join(format!("Repo/Proj/Media/Logo/{file}")), &png).unwrap();
    // The data model as a hand-built patch of the module.
    ops = synth::data_model();
    let mut dm = Patch::new(HOME);
    dm.operations = ops.iter().filter(|o| o.code() == 1).cloned().collect();
    std::fs::write(module.join("datamodel.newInst.json"), dm.to_json_string()).unwrap();
    dm.operations = ops.iter().filter(|o| o.code() == 4).cloned().collect();
    std::fs::write(module.join("datamodel.newRel.json"), dm.to_json_string()).unwrap();
    assert_eq!(
        FileKind::of_path(&module.join("datamodel.newRel.json")),
        Some(FileKind::NewRel)
    );

    let db = tmp.path().join("env.sqlite");
    let load = cadkit::steps::install::load(&db, &dist).unwrap();
    assert_eq!(load.binaries, 1);
    let env = SqliteEnv::open(&db).unwrap();
    let entry: snapshot::SnapshotEntry = serde_json::from_value(json!({
        "snapshooter": {"name": "bin", "rootTags": [HOME], "exclude": []}
    }))
    .unwrap();
    let out = tmp.path().join("out");
    let r = snapshot::run_entry(&env, &entry, &out, false).unwrap();
    let bin = format!("{HOME}/Home/Repo/Proj/Media/Logo/{file}");
    assert!(r.added.contains(&bin), "{:?}", r.added);
    assert_eq!(std::fs::read(out.join(&bin)).unwrap(), png);
    // The patch files are the dumper's.
    let strip = |m: BTreeMap<String, (Vec<u8>, SystemTime)>| {
        m.into_iter()
            .filter(|(k, _)| k.ends_with(".json"))
            .map(|(k, (b, _))| (k, String::from_utf8(b).unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(files(&out)), strip(files(&made)));

    let again = snapshot::run_entry(&env, &entry, &out, false).unwrap();
    assert_eq!(again.written, 0);
    assert!(!again.has_changes());

    // Without the content in the environment the file is neither written nor deleted.
    env.conn().execute("DELETE FROM blobs", []).unwrap();
    let r = snapshot::run_entry(&env, &entry, &out, false).unwrap();
    assert!(!r.has_changes(), "{:?}", r.deleted);
    assert!(
        r.warnings.iter().any(|w| w.contains(file)),
        "{:?}",
        r.warnings
    );
    assert_eq!(std::fs::read(out.join(&bin)).unwrap(), png);
}
