use super::*;
use crate::orchestrator::protocol::BusSettings;
use crate::orchestrator::server::ServerOptions;
use std::path::Path;

const A: &str = "a0000000000000000000";
const B: &str = "b0000000000000000000";
const M: &str = "c0000000000000000000";

fn state(dir: &Path) -> State {
    let opts = ServerOptions {
        env: dir.join("env.sqlite"),
        patches_dir: dir.join("patches"),
        backup_dir: dir.join("backup"),
        bus: BusSettings::default(),
        role: None,
        http_host: "127.0.0.1".into(),
        http_port: 0,
        record: None,
        server_version: "7.4.0".into(),
    };
    std::fs::create_dir_all(&opts.patches_dir).unwrap();
    std::fs::create_dir_all(&opts.backup_dir).unwrap();
    State::new(opts).unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn new_inst(tag: &str) -> String {
    format!(
        r#"{{"rootTag":"{tag}","operations":[{{"o":1,"t":"{tag}","p":{{"x":1}}}}],"optionalOperations":[]}}"#
    )
}

fn load(folder: &str, backup: bool) -> Command {
    Command::Load {
        path_to_root_folder: Some(folder.into()),
        verbose: false,
        debug: false,
        ignore_relation_fail: true,
        use_backup_folder: backup,
        merge: true,
    }
}

fn exists(s: &State, tags: &[&str]) -> Value {
    let lines = execute(s, &Command::check_if_nodes_exist(tags)).unwrap();
    serde_json::from_str(&lines[0]).unwrap()
}

#[test]
fn a_failing_load_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    write(
        &s.opts.backup_dir.join("users/a.newInst.json"),
        &new_inst(A),
    );
    write(&s.opts.backup_dir.join("users/b.newInst.json"), "{not json");
    let err = execute(&s, &load("users", true)).unwrap_err();
    assert!(format!("{err:#}").contains("b.newInst.json"), "{err:#}");
    assert_eq!(exists(&s, &[A]), serde_json::json!({ A: false }));
    std::fs::remove_file(s.opts.backup_dir.join("users/b.newInst.json")).unwrap();
    execute(&s, &load("users", true)).unwrap();
    assert_eq!(
        exists(&s, &[A, B]),
        serde_json::json!({ A: true, B: false })
    );
}

#[test]
fn relation_deletions_keyed_by_a_property_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    write(&s.opts.patches_dir.join("m/a.newInst.json"), &new_inst(A));
    execute(&s, &load("m", false)).unwrap();
    let del = format!(
        r#"{{"rootTag": "null","operations":[{{"o":5,"m":"fd017c9cf4821151b8a130","l":"{A}","r":"{B}"}},{{"o":3,"t":"{A}","f":null}}]}}"#
    );
    write(&s.opts.backup_dir.join("diff/d.delInst.json"), &del);
    let lines = execute(&s, &load("diff", true)).unwrap();
    assert!(lines.iter().any(|l| l.contains("Ignored 1")), "{lines:?}");
    assert_eq!(exists(&s, &[A]), serde_json::json!({ A: false }));
    // A relation creation with a bad type is still an error.
    let bad =
        format!(r#"{{"rootTag":"{A}","operations":[{{"o":4,"m":"nope","l":"{A}","r":"{B}"}}]}}"#);
    write(&s.opts.backup_dir.join("bad/x.newRel.json"), &bad);
    assert!(execute(&s, &load("bad", true)).is_err());
}

#[test]
fn root_tags_copies_zips_and_unzips() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    write(
        &s.opts.patches_dir.join("mod/Home/a.newInst.json"),
        &new_inst(A),
    );
    write(
        &s.opts.patches_dir.join("mod/Home/b.newInst.json"),
        &new_inst(B),
    );
    let lines = execute(
        &s,
        &Command::GetRootTags {
            root_folder: None,
            use_backup_folder: false,
        },
    )
    .unwrap();
    let map: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(map[A], serde_json::json!(["mod/Home/a.newInst.json"]));
    let lines = execute(
        &s,
        &Command::GetRootTags {
            root_folder: Some("mod".into()),
            use_backup_folder: false,
        },
    )
    .unwrap();
    let map: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        map[B],
        serde_json::json!(["Home/b.newInst.json"]),
        "relative to the folder asked for"
    );

    let file = CopySource::File {
        file_path: "mod/Home/a.newInst.json".into(),
        recursive: false,
    };
    execute(&s, &Command::copy_patches(&[file], false, "diff")).unwrap();
    assert!(s
        .opts
        .backup_dir
        .join("diff/mod/Home/a.newInst.json")
        .is_file());
    let zip = CopySource::Zip {
        destination_file_path: "import_1.zip".into(),
        zip: true,
    };
    execute(&s, &Command::copy_patches(&[zip], false, "")).unwrap();
    let unzip = Command::UnzipPatches {
        use_backup_folder: true,
        file_path: Some("import_1.zip".into()),
        folder_path: None,
    };
    let lines = execute(&s, &unzip).unwrap();
    let paths: Vec<String> = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        paths,
        vec![
            "import_1/mod/Home/a.newInst.json",
            "import_1/mod/Home/b.newInst.json"
        ]
    );
    let escape = CopySource::File {
        file_path: "../x".into(),
        recursive: false,
    };
    assert!(execute(&s, &Command::copy_patches(&[escape], false, "diff")).is_err());
}

#[test]
fn update_node_skips_missing_nodes_and_binaries_load() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    write(&s.opts.patches_dir.join("m/a.newInst.json"), &new_inst(A));
    execute(&s, &load("m", false)).unwrap();
    let props = serde_json::json!({ M: "2.9.3" })
        .as_object()
        .unwrap()
        .clone();
    let lines = execute(&s, &Command::update_node(B, &props)).unwrap();
    assert!(lines[0].contains("does not exist"));
    assert_eq!(exists(&s, &[B]), serde_json::json!({ B: false }));
    execute(&s, &Command::update_node(A, &props)).unwrap();
    assert_eq!(s.graph().unwrap().instances[A][M], "2.9.3");
    write(&s.opts.patches_dir.join("m/a").join(B), "binary");
    let lines = execute(&s, &Command::LoadBinaryFiles { folder_path: None }).unwrap();
    assert_eq!(lines, vec!["Loaded 1 binary files"]);
    assert_eq!(s.env().unwrap().blob(B).unwrap().unwrap(), b"binary");
}

/// A patch backup bigger than one compression part keeps every file, its bytes and the
/// name order of a one-pass zip.
#[test]
fn a_zip_in_parts_holds_every_file_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let mut names = Vec::new();
    for i in 0..1300 {
        let rel = format!("mod/F{}/i{i:05}.newInst.json", i % 7);
        write(&s.opts.patches_dir.join(&rel), &format!("{{\"n\":{i}}}"));
        names.push(rel);
    }
    names.sort_by(|a, b| {
        // walkdir's order: folder by folder, names sorted within.
        let (fa, fb) = (a.rsplit_once('/').unwrap(), b.rsplit_once('/').unwrap());
        fa.0.cmp(fb.0).then(fa.1.cmp(fb.1))
    });
    let zip = CopySource::Zip {
        destination_file_path: "import_2.zip".into(),
        zip: true,
    };
    execute(&s, &Command::copy_patches(&[zip], false, "")).unwrap();
    let f = std::fs::File::open(s.opts.backup_dir.join("import_2.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(f).unwrap();
    let listed: Vec<String> = (0..archive.len())
        .map(|i| archive.name_for_index(i).unwrap().unwrap().into_owned())
        .collect();
    assert_eq!(listed, names);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(&names[777]).unwrap(), &mut text).unwrap();
    let stem = names[777].rsplit_once("/i").unwrap().1;
    let n: usize = stem.trim_end_matches(".newInst.json").parse().unwrap();
    assert_eq!(text, format!("{{\"n\":{n}}}"));
}

/// The next patch backup reuses the compressed files of the previous one: a previous
/// backup compressed harder lends its bytes for the files that did not change, a changed
/// file (even of the same size) is compressed anew, and every file holds the folder's
/// current content.
#[test]
fn a_zip_reuses_the_previous_backup_and_holds_the_current_files() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let big = "mod/big.newInst.json";
    let big_text: String = (0..2000)
        .map(|i| format!("{{\"n\":{}}}", i * 7 % 13))
        .collect();
    write(&s.opts.patches_dir.join(big), &big_text);
    for i in 0..600 {
        let rel = format!("mod/F{}/i{i:05}.newInst.json", i % 3);
        write(&s.opts.patches_dir.join(&rel), &format!("{{\"n\":{i}}}"));
    }
    // An earlier backup made at the strongest level (as another tool might).
    let earlier = s.opts.backup_dir.join("import_20260101_000000.zip");
    std::fs::create_dir_all(&s.opts.backup_dir).unwrap();
    let mut w = zip::ZipWriter::new(std::fs::File::create(&earlier).unwrap());
    let strong = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for e in walkdir::WalkDir::new(&s.opts.patches_dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            w.start_file(
                super::super::state::rel_path(&s.opts.patches_dir, e.path()),
                strong,
            )
            .unwrap();
            w.write_all(&std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
    w.finish().unwrap();
    let changed = "mod/F1/i00004.newInst.json";
    // Same size, other content: reuse is decided on the content.
    write(&s.opts.patches_dir.join(changed), "{\"x\":4}");
    let zip = CopySource::Zip {
        destination_file_path: "import_20260102_000000.zip".into(),
        zip: true,
    };
    execute(&s, &Command::copy_patches(&[zip], false, "")).unwrap();
    let open = |p: &Path| zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut now = open(&s.opts.backup_dir.join("import_20260102_000000.zip"));
    assert_eq!(now.len(), 601);
    for i in 0..now.len() {
        let mut entry = now.by_index(i).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        let name = entry.name().unwrap().into_owned();
        let on_disk = std::fs::read_to_string(s.opts.patches_dir.join(&name)).unwrap();
        assert_eq!(text, on_disk, "{name}");
    }
    // The unchanged big file kept the earlier backup's compressed bytes, which a fresh
    // compression at the fast level does not give.
    let full = dir.path().join("full/import_1.zip");
    super::super::backup::zip_dir(&s.opts.patches_dir, &full, &Default::default()).unwrap();
    let size = |a: &mut zip::ZipArchive<std::fs::File>| a.by_name(big).unwrap().compressed_size();
    let (earlier_size, now_size) = (size(&mut open(&earlier)), size(&mut now));
    assert_eq!(now_size, earlier_size);
    assert_ne!(size(&mut open(&full)), earlier_size);
}
