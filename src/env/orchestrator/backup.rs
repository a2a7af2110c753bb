//! `snapshotUsers` / `snapshotBusinessData` against an orchestrator, and the backup steps of
//! an orchestrator `install` (olympe-formats §2.1, §8 steps 5–7).
//!
//! The toolkit runs its dumper (`type=users` / `type=data`) over the runtime's websocket;
//! cadkit reads the same instances through graphDef queries, writes them as dumper files
//! (sorted, deterministic bytes: an unchanged environment gives identical files) under
//! `<snapshot.dir>/<usersDataDir|businessDataDir>` and uploads each of them to the
//! orchestrator's backup area (`filesvc … ?backup=true`), where `restoreUsers` /
//! `restoreBusinessData` and `install` load them from.
//!
//! Beyond the toolkit (§12 item 9): uploads keep the path relative to the snapshot folder
//! (the toolkit flattens to basenames, so two projects with the same name overwrite each
//! other); the users file set is always complete (an empty kind is written empty, so an
//! older file of that kind left in the backup area is overwritten, not reloaded); the local
//! folder is not emptied first, only the files produced are (re)written.

use super::{Orchestrator, OrchestratorError};
use crate::graph::{Graph, Props};
use crate::patch::tags::{self, follow, rel};
use crate::patch::FileKind;
use crate::snapshot::format::{relation_order, tag_order, RootContent};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, OrchestratorError>;

/// Relation from a user to its roles (role membership).
pub const ROLE_MEMBER_REL: &str = "ff022000000000000005";
/// Relation the users dump keeps besides role membership (destination authorisation).
pub const USER_AUTH_REL: &str = "017e9c4ba4c847d71cbf";
/// Relation from a project to its business-data container.
pub const BUSINESS_CONTAINER_REL: &str = "017b3aa8fd1659291b92";
/// File-name base of the users dump (`users.<kind>.json`).
pub const USERS_BASE: &str = "users";

/// What to dump and where (the toolkit's `snapshot.*` options).
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// `--snapshot.dir`: the local folder holding the users and data folders.
    pub dir: PathBuf,
    /// `--snapshot.usersDataDir`: folder of the users, locally and in the backup area.
    pub users_dir: String,
    /// `--snapshot.businessDataDir`: folder of the business data, locally and remotely.
    pub business_data_dir: String,
    /// `--snapshot.dataRootTag`: where projects are looked for (business data).
    pub data_root_tag: String,
    /// `--snapshot.excludeUsers`: leave User instances out of the business data.
    pub exclude_users: bool,
    /// `--snapshot.dumpBinaries`: accepted; the binary contents of File instances are not
    /// read through graphDef (reported as a warning when true).
    pub dump_binaries: bool,
}

impl SnapshotRequest {
    /// The toolkit's defaults under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SnapshotRequest {
        SnapshotRequest {
            dir: dir.into(),
            users_dir: "users".into(),
            business_data_dir: "data".into(),
            data_root_tag: tags::HOME.into(),
            exclude_users: false,
            dump_binaries: false,
        }
    }
}

/// One file written and uploaded.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedFile {
    /// Path in the backup area (`<usersDataDir>/users.newInst.json`, …).
    pub path: String,
    /// Size of the uploaded content, in bytes.
    pub bytes: usize,
}

/// What a users or business-data snapshot wrote and uploaded.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotReport {
    /// `snapshotUsers` or `snapshotBusinessData`: the toolkit command this mirrors.
    pub command: &'static str,
    /// The orchestrator the data was read from and uploaded to.
    pub environment: super::EnvironmentInfo,
    /// The local folder written.
    pub local_dir: PathBuf,
    /// Instances dumped (users without admin and guest, or business-data instances).
    pub instances: usize,
    /// Relations dumped.
    pub relations: usize,
    /// The files written locally and uploaded to the backup area, in upload order.
    pub files: Vec<UploadedFile>,
}

/// A dump before it is written: files (path relative to the dump folder, content) and
/// what they hold.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// `(path relative to the dump folder, file text)`, e.g. `users.newInst.json` or
    /// `Home/<Repo>/<Project>.newRel.json`.
    pub files: Vec<(String, String)>,
    /// Instances the files hold.
    pub instances: usize,
    /// Relations the files hold.
    pub relations: usize,
}

fn step(t: &str, d: u8, v: bool, q: Vec<Value>) -> Value {
    json!({ "t": t, "d": d, "v": v, "r": false, "q": q })
}

/// Every User instance (through its model relation) with its role memberships and
/// destination authorisations, both directions.
pub fn users_query() -> Value {
    let around: Vec<Value> = [ROLE_MEMBER_REL, USER_AUTH_REL]
        .iter()
        .flat_map(|t| [step(t, 2, false, vec![]), step(t, 1, false, vec![])])
        .collect();
    json!({ "i": "snapshotUsers", "b": [tags::model::USER], "v": false, "f": null,
            "q": [step(rel::MODEL, 1, true, around)] })
}

/// The projects under `root` (homeFolder / subRepository walk) and their business
/// containers.
pub fn containers_query(root: &str) -> Value {
    let container = step(BUSINESS_CONTAINER_REL, 2, true, vec![]);
    let sub_repo = json!({ "t": rel::SUB_REPOSITORY, "d": 2, "v": true, "r": true,
                           "q": [container.clone()] });
    let home = step(rel::HOME_FOLDER, 2, true, vec![sub_repo, container.clone()]);
    json!({ "i": "businessContainers", "b": [root], "v": true, "f": null,
            "q": [home, container] })
}

fn graph_of(o: &Orchestrator, query: &Value) -> Result<Graph> {
    let mut g = Graph::new();
    for op in o.graphdef_ops(query)? {
        g.apply(&op);
    }
    Ok(g)
}

fn is_user(g: &Graph, tag: &str) -> bool {
    g.has_relation(rel::MODEL, tag, tags::model::USER)
}

/// The content of a dump: instances (sorted) and relations (sorted), borrowed from `g`.
fn content<'g>(
    g: &'g Graph,
    root_tag: &'g str,
    keep: &BTreeSet<&'g str>,
) -> (RootContent<'g>, usize) {
    let mut c = RootContent {
        tag: root_tag,
        ..RootContent::default()
    };
    for t in keep {
        c.instances.push((t, g.instances.get(*t)));
    }
    c.instances.sort_by(|a, b| tag_order(a.0, b.0));
    let mut rels: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for (from, outs) in &g.out {
        for (r, to) in outs {
            if keep.contains(from.as_str()) || keep.contains(to.as_str()) {
                rels.insert((from.as_str(), r.as_str(), to.as_str()));
            }
        }
    }
    c.relations = rels.into_iter().collect();
    c.relations.sort_by(relation_order);
    let n = c.relations.len();
    (c, n)
}

/// The dumper's empty file (`[` newline indentation `]`).
fn empty_file(root_tag: &str) -> String {
    let mut s =
        String::from("{\n \"operations\": [\n ],\n \"optionalOperations\": [\n ],\n \"rootTag\": ");
    crate::json::write_string(root_tag, &mut s);
    s.push_str("\n}\n");
    s
}

/// The users' files (`users.<kind>.json`, all three kinds) and counts, read through
/// [`users_query`].
pub fn dump_users(o: &Orchestrator) -> Result<Dump> {
    Ok(users_dump_of(&graph_of(o, &users_query())?))
}

/// The users' files of a graph read by [`users_query`]: every User instance but admin and
/// guest, with every relation of the graph touching one of them.
pub fn users_dump_of(g: &Graph) -> Dump {
    let keep: BTreeSet<&str> = g
        .instances
        .keys()
        .map(String::as_str)
        .filter(|t| is_user(g, t) && *t != tags::ADMIN_USER && *t != tags::GUEST_USER)
        .collect();
    let (c, relations) = content(g, tags::model::USER, &keep);
    let files = c.files();
    let out = [FileKind::NewInst, FileKind::UpdateInst, FileKind::NewRel]
        .into_iter()
        .map(|k| {
            let text = files
                .iter()
                .find(|(fk, _)| *fk == k)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| empty_file(tags::model::USER));
            (format!("{USERS_BASE}{}", k.suffix()), text)
        })
        .collect();
    Dump {
        files: out,
        instances: keep.len(),
        relations,
    }
}

/// A project's path below the data root: `Home/<Repo>/<Project>` (names sanitised as the
/// dumper does).
fn project_path(g: &Graph, root: &str, project: &str) -> String {
    let mut names = vec![project.to_string()];
    let mut cur = project.to_string();
    while cur != root {
        let parent = g
            .out
            .iter()
            .find(|(_, outs)| {
                outs.iter().any(|(r, to)| {
                    to == &cur && (r == rel::HOME_FOLDER || r == rel::SUB_REPOSITORY)
                })
            })
            .map(|(from, _)| from.clone());
        match parent {
            Some(p) if !names.contains(&p) => {
                names.push(p.clone());
                cur = p;
            }
            _ => break,
        }
    }
    names.reverse();
    names
        .iter()
        .map(|t| {
            let name = g
                .instances
                .get(t)
                .and_then(|p: &Props| p.get(tags::prop::NAME))
                .and_then(Value::as_str)
                .unwrap_or(t);
            crate::snapshot::names::sanitize(name)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The business data's files (`Home/<Repo>/<Project>.<kind>.json`) and counts: for each
/// project under `req.data_root_tag`, its container's content by the RUNTIME follow rule,
/// without the container itself (and without users with `exclude_users`).
pub fn dump_business_data(o: &Orchestrator, req: &SnapshotRequest) -> Result<Dump> {
    if req.dump_binaries {
        tracing::warn!("--snapshot.dumpBinaries: binary contents are not read through graphDef; File instances are dumped without their content");
    }
    let s = graph_of(o, &containers_query(&req.data_root_tag))?;
    let mut out = Vec::new();
    let (mut instances, mut relations) = (0, 0);
    let mut seen = BTreeSet::new();
    for (project, outs) in &s.out {
        for (r, container) in outs {
            if r != BUSINESS_CONTAINER_REL {
                continue;
            }
            let q = super::graph::root_data_query(container, follow::RUNTIME);
            let g = graph_of(o, &q).map_err(|e| {
                OrchestratorError::Invalid(format!(
                    "business data of project {project}: getRootData of container {container} with the RUNTIME follow rule failed: {e} (the orchestrator must evaluate that rule; without business data, pass --import.backupBusinessData false)"
                ))
            })?;
            let keep: BTreeSet<&str> = g
                .instances
                .keys()
                .map(String::as_str)
                .filter(|t| *t != container && !(req.exclude_users && is_user(&g, t)))
                .collect();
            if keep.is_empty() {
                continue;
            }
            let (c, n) = content(&g, project, &keep);
            instances += keep.len();
            relations += n;
            // Case-insensitive collisions get `_2`, `_3`… (as the dumper's paths).
            let first = project_path(&s, &req.data_root_tag, project);
            let mut base = first.clone();
            let mut n = 1;
            while !seen.insert(base.to_lowercase()) {
                n += 1;
                base = format!("{first}_{n}");
            }
            for (k, text) in c.files() {
                out.push((format!("{base}{}", k.suffix()), text));
            }
        }
    }
    Ok(Dump {
        files: out,
        instances,
        relations,
    })
}

/// Write `files` under `local`, upload each to `<area_dir>/<relative path>` of the backup
/// area.
fn write_and_upload(
    o: &Orchestrator,
    local: &Path,
    area_dir: &str,
    files: &[(String, String)],
) -> Result<Vec<UploadedFile>> {
    let token = o.token()?;
    let mut out = Vec::with_capacity(files.len());
    for (rel_path, text) in files {
        let path = local.join(rel_path);
        crate::fsutil::write_atomic(&path, text.as_bytes(), None)
            .map_err(|e| OrchestratorError::Invalid(format!("{}: {e:#}", path.display())))?;
        let remote = format!("{}/{rel_path}", area_dir.trim_end_matches('/'));
        o.block_on(
            o.http()
                .upload(&remote, text.as_bytes().to_vec(), true, &token),
        )?;
        out.push(UploadedFile {
            path: remote,
            bytes: text.len(),
        });
    }
    Ok(out)
}

/// `snapshotUsers`: dump the users, write and upload them.
pub fn snapshot_users(o: &Orchestrator, req: &SnapshotRequest) -> Result<SnapshotReport> {
    let Dump {
        files,
        instances,
        relations,
    } = dump_users(o)?;
    let local = req.dir.join(&req.users_dir);
    let uploaded = write_and_upload(o, &local, &req.users_dir, &files)?;
    tracing::info!(
        "snapshot of {instances} users ({relations} relations) uploaded to the backup area under {}",
        req.users_dir
    );
    Ok(SnapshotReport {
        command: "snapshotUsers",
        environment: o.info(),
        local_dir: local,
        instances,
        relations,
        files: uploaded,
    })
}

/// `snapshotBusinessData`: dump the business data, write and upload it.
pub fn snapshot_business_data(o: &Orchestrator, req: &SnapshotRequest) -> Result<SnapshotReport> {
    let Dump {
        files,
        instances,
        relations,
    } = dump_business_data(o, req)?;
    let local = req.dir.join(&req.business_data_dir);
    let uploaded = write_and_upload(o, &local, &req.business_data_dir, &files)?;
    tracing::info!(
        "snapshot of {instances} business-data instances ({relations} relations) uploaded to the backup area under {}",
        req.business_data_dir
    );
    Ok(SnapshotReport {
        command: "snapshotBusinessData",
        environment: o.info(),
        local_dir: local,
        instances,
        relations,
        files: uploaded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::Patch;

    const ALICE: &str = "0190aaaaaaaaaaaa0001";
    const ROLE: &str = "0190aaaaaaaaaaaa0002";

    fn graph() -> Graph {
        let mut g = Graph::new();
        for (t, login) in [(ALICE, "alice"), (tags::ADMIN_USER, "admin")] {
            let mut p = Props::new();
            p.insert("ff023000000000000001".into(), json!(login));
            g.instances.insert(t.into(), p);
            g.relate(rel::MODEL, t, tags::model::USER);
            g.relate(ROLE_MEMBER_REL, t, ROLE);
        }
        g
    }

    #[test]
    fn users_dump_leaves_admin_out_and_writes_every_kind() {
        let d = users_dump_of(&graph());
        assert_eq!((d.instances, d.relations), (1, 2));
        let names: Vec<&str> = d.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "users.newInst.json",
                "users.updateInst.json",
                "users.newRel.json"
            ]
        );
        for (name, text) in &d.files {
            assert!(!text.contains(tags::ADMIN_USER), "{name}: {text}");
            let p = Patch::parse(text.as_bytes(), Path::new(name)).expect("a valid patch");
            assert_eq!(p.root_tag, tags::model::USER);
        }
        assert!(d.files[0].1.contains(ALICE) && d.files[2].1.contains(ROLE));
        assert_eq!(d.files[1].1, empty_file(tags::model::USER));
        // Deterministic: the same graph gives the same bytes.
        assert_eq!(users_dump_of(&graph()).files, d.files);
    }
}
