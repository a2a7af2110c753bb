//! Shared harness for the update/install tests: built dists of the sample project (as is
//! and edited) and of the real `@olympeio/core` in two versions, graph comparison.
#![allow(dead_code)]

use cadkit::env::{Environment, SqliteEnv};
use cadkit::graph::Graph;
use std::path::{Path, PathBuf};

/// The sample project built into `<dir>/a/dist/codeAsData`, and a copy edited by
/// `cadkit::demo::update::edit_sample_dist` in `<dir>/b/codeAsData`.
pub fn sample_dists(dir: &Path) -> (PathBuf, PathBuf) {
    let project = dir.join("a");
    copy_dir(&cadkit::demo::bundled_sample(), &project);
    let report = cadkit::build::build(&cadkit::build::BuildRequest::new(&project)).unwrap();
    let a = report.working_dir;
    let b = dir.join("b/codeAsData");
    copy_dir(&a, &b);
    cadkit::demo::update::edit_sample_dist(&b).unwrap();
    (a, b)
}

/// [`sample_dists`], with `a` installed (library call, backups on) into
/// `<dir>/env.sqlite`: `(environment, a, b)`.
pub fn installed_sample(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (a, b) = sample_dists(dir);
    let env = dir.join("env.sqlite");
    cadkit::env::sqlite::installer::install(&env, &cadkit::env::InstallSpec::new(&a)).unwrap();
    (env, a, b)
}

pub use super::reference::base_dir as reference_dir;
pub use super::reference::copy_tree as copy_dir;

/// A dist of `@olympeio/core` (with its runtime) at `version`: 2.9.3 is the installed
/// reference package, 2.9.1 the one unpacked by scripts/setup into `packs/`.
pub fn core_dist(dir: &Path, version: &str) -> PathBuf {
    let reference = reference_dir();
    let nm_ref = reference.join("node_modules");
    let project = dir.join(format!("core-{version}"));
    let nm = project.join("node_modules");
    std::fs::create_dir_all(nm.join("@olympeio")).unwrap();
    for e in std::fs::read_dir(&nm_ref).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "@olympeio" {
            std::os::unix::fs::symlink(e.path(), nm.join(e.file_name())).unwrap();
        }
    }
    for e in std::fs::read_dir(nm_ref.join("@olympeio")).unwrap() {
        let e = e.unwrap();
        let target = if e.file_name() == "core" && version != "2.9.3" {
            let p = reference.join(format!("packs/olympeio-core-{version}"));
            assert!(
                p.join("codeAsData").is_dir(),
                "@olympeio/core {version} missing at {} (run scripts/setup)",
                p.display()
            );
            p
        } else {
            e.path()
        };
        std::os::unix::fs::symlink(target, nm.join("@olympeio").join(e.file_name())).unwrap();
    }
    std::fs::write(
        project.join("package.json"),
        format!(r#"{{"name":"core-update-test","version":"1.0.0","dependencies":{{"@olympeio/core":"{version}"}}}}"#),
    )
    .unwrap();
    let mut req = cadkit::build::BuildRequest::new(&project);
    req.working_dir = dir.join(format!("dist-{version}/codeAsData"));
    req.mode = cadkit::build::Mode::Dependencies;
    cadkit::build::build(&req).unwrap().working_dir
}

/// The graph of an environment without `null` properties.
pub fn graph(env: &Path) -> Graph {
    let mut g = SqliteEnv::open(env).unwrap().graph().unwrap();
    for p in g.instances.values_mut() {
        p.retain(|_, v| !v.is_null());
    }
    g.out.retain(|_, s| !s.is_empty());
    g.inc.retain(|_, s| !s.is_empty());
    g
}

pub fn meta(env: &Path, key: &str) -> Option<String> {
    SqliteEnv::open(env).unwrap().meta_get(key).unwrap()
}

/// A first difference between two graphs, for assertion messages.
pub fn first_difference(a: &Graph, b: &Graph) -> String {
    for (t, p) in &a.instances {
        match b.instances.get(t) {
            None => return format!("instance {t} only on the left"),
            Some(q) if q != p => return format!("instance {t}: {p:?} vs {q:?}"),
            _ => {}
        }
    }
    for t in b.instances.keys() {
        if !a.instances.contains_key(t) {
            return format!("instance {t} only on the right");
        }
    }
    for (l, s) in &a.out {
        let o = b.out.get(l).cloned().unwrap_or_default();
        if let Some(x) = s.difference(&o).next() {
            return format!("relation {l} {x:?} only on the left");
        }
    }
    for (l, s) in &b.out {
        let o = a.out.get(l).cloned().unwrap_or_default();
        if let Some(x) = s.difference(&o).next() {
            return format!("relation {l} {x:?} only on the right");
        }
    }
    "none".into()
}

/// An rsync `--itemize-changes` log turning folder `old` into folder `new` (patch files
/// only), paths relative to the folders.
pub fn itemize(old: &Path, new: &Path) -> String {
    let list = |d: &Path| -> std::collections::BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(d)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(d)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (list(old), list(new));
    let mut out = String::new();
    for (p, bytes) in &b {
        match a.get(p) {
            None => out.push_str(&format!(">f+++++++++ {p}\n")),
            Some(x) if x != bytes => out.push_str(&format!(">fcst...... {p}\n")),
            _ => {}
        }
    }
    for p in a.keys() {
        if !b.contains_key(p) {
            out.push_str(&format!("*deleting   {p}\n"));
        }
    }
    out
}
