//! A snapshot through the orchestrator writes the binary content of File instances beside
//! their item, fetched from the file service (`GET rest/filesvc/<fileTag>`, as the
//! toolkit's snapshooter), byte for byte as the embedded snapshot of the same environment.

use crate::common::orchestrator as orch;
use crate::common::orchestrator_cli::cadkit;
use crate::common::rabbit;

use crate::common::update as h;
use cadkit::patch::tags::{model, prop, rel, HOME};
use cadkit::patch::{InstanceOp, Op};
use orch::Orchestrator;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn create(tag: &str, p: Value) -> Op {
    Op::CreateInstance(InstanceOp {
        tag: tag.into(),
        props: p.as_object().unwrap().clone(),
        extra: Default::default(),
    })
}

/// Core 2.9.3 installed, plus a File instance (binary flag) under each of two Core items,
/// one with content that is not UTF-8 (NUL bytes), one larger; a third File has no
/// content. Returns (path of the File relative to the snapshot folder's Core, bytes).
fn seed(dir: &Path, env: &Path) -> Vec<(String, String, Vec<u8>)> {
    let dist = h::core_dist(dir, "2.9.3");
    cadkit::env::sqlite::installer::install(env, &cadkit::env::InstallSpec::new(&dist)).unwrap();
    // Items: the roots of three Core patch files (not folders).
    let items: Vec<(String, String)> =
        crate::common::orchestrator_cli::core_files(&dist, ".newInst.json")
            .into_iter()
            .take(3)
            .map(|p| {
                let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                let rel = p.to_string_lossy();
                let at = rel.find("Olympe_Libraries/Core/").unwrap();
                let stem = rel[at..].trim_end_matches(".newInst.json").to_string();
                (v["rootTag"].as_str().unwrap().to_string(), stem)
            })
            .collect();
    assert_eq!(items.len(), 3);
    let contents: [Option<Vec<u8>>; 3] = [
        Some(b"\x89PNG\r\n\x1a\n binary \x00\xff".to_vec()),
        Some((0..=255u8).cycle().take(70_000).collect()),
        None,
    ];
    let mut ops = Vec::new();
    let mut out = Vec::new();
    let mut e = cadkit::env::SqliteEnv::open(env).unwrap();
    for (n, ((item, stem), content)) in items.iter().zip(contents).enumerate() {
        let file = format!("019400000000000000{n:02}");
        ops.extend([
            create(
                &file,
                json!({ prop::NAME: format!("f{n}.bin"), "ff023000000000000054": true }),
            ),
            Op::create_relation(rel::MODEL, &file, model::FILE),
            Op::create_relation(rel::CONTAINS, item, &file),
        ]);
        if let Some(b) = content {
            e.put_blob(&file, &b).unwrap();
            out.push((format!("{stem}/{file}"), file, b));
        }
    }
    let tx = e.conn_mut().transaction().unwrap();
    cadkit::env::apply_ops(&tx, &ops).unwrap();
    tx.commit().unwrap();
    out
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn snapshot_through_the_orchestrator_writes_file_contents_like_the_embedded_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let odir = dir.join("orch");
    std::fs::create_dir_all(&odir).unwrap();
    let contents = seed(dir, &odir.join("env.sqlite"));
    let o = Orchestrator::start(&odir, rabbit::shared().port, &[]);
    let cfg = dir.join("snapshot-config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"snapshooter": {{"name": "bin", "rootTags": ["{HOME}"], "exclude": []}}}}"#),
    )
    .unwrap();
    let remote_out = dir.join("snap-remote");
    let out = cadkit(
        &o,
        dir,
        &[
            "snapshot",
            "--snapshot.config",
            cfg.to_str().unwrap(),
            "--snapshot.dir",
            remote_out.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let local_out = dir.join("snap-local");
    let st = crate::common::cadkit()
        .args(["snapshot", "--env"])
        .arg(&o.env)
        .args(["--snapshot.config", cfg.to_str().unwrap(), "--snapshot.dir"])
        .arg(&local_out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    let (remote, local) = (files_under(&remote_out), files_under(&local_out));
    let differ: Vec<&String> = local
        .keys()
        .chain(remote.keys())
        .filter(|k| remote.get(*k) != local.get(*k))
        .collect();
    for d in differ.iter().take(3) {
        eprintln!(
            "{d}:\n embedded: {}\n orchestrator: {}",
            String::from_utf8_lossy(local.get(*d).map_or(&[][..], |v| v)),
            String::from_utf8_lossy(remote.get(*d).map_or(&[][..], |v| v))
        );
    }
    assert!(differ.is_empty(), "files differ: {differ:?}");
    for (path, _, bytes) in &contents {
        let found = |m: &BTreeMap<String, Vec<u8>>| {
            m.iter()
                .find(|(k, _)| k.ends_with(path.as_str()))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(found(&local).as_ref(), Some(bytes), "embedded {path}");
        assert_eq!(found(&remote).as_ref(), Some(bytes), "orchestrator {path}");
    }
    // Fetched from the file service, with the token.
    let gets: Vec<Value> = o
        .recorded()
        .into_iter()
        .filter(|e| {
            e["kind"] == "http"
                && e["path"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/rest/filesvc/019400")
        })
        .collect();
    assert_eq!(gets.len(), 3, "{gets:?}");
    assert!(gets
        .iter()
        .all(|e| e["method"] == "GET" && e["authorization"] == "<token>"));
}

/// `update` loads the binary files its change log names (`loadBinaryFiles` of their
/// folder, after the diff, as the toolkit does): a File's new content reaches the
/// environment even when no patch changed.
#[test]
fn update_loads_the_binary_files_its_change_log_names() {
    use crate::common::orchestrator_cli::{
        first_core_file, install_without_backups, with_core_293,
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (o, d293) = with_core_293(dir);
    install_without_backups(&o, dir);
    // The new build: Core 2.9.3 plus the content of a File beside a Core item, in the
    // working folder and (as a new image would bring it) in the orchestrator's folder.
    let build = dir.join("build");
    h::copy_dir(&d293, &build);
    let item = first_core_file(&build, ".newInst.json");
    let base = item.with_extension("").with_extension("");
    let tag = "01940000000000000077";
    let rel = base.strip_prefix(&build).unwrap().join(tag);
    let content = b"\x89PNG new content \x00\xff".to_vec();
    for root in [&build, &o.patches] {
        std::fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
        std::fs::write(root.join(&rel), &content).unwrap();
    }
    let log = h::itemize(&d293, &build);
    assert!(log.contains(tag), "{log}");
    std::fs::write(build.join("change_log.txt"), log).unwrap();
    let out = cadkit(
        &o,
        dir,
        &["update", "--codeAsData.workingDir", build.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}{}\norchestrator: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        o.log_text()
    );
    let env = cadkit::env::SqliteEnv::open(&o.env).unwrap();
    assert_eq!(env.blob(tag).unwrap(), Some(content));
}
