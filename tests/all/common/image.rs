//! Test harness for `cadkit image`: base images made by the tests, skopeo helpers (the
//! registry is [`super::registry`]).

// Helpers and re-exports shared by several modules: some are unused in a given tier.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::process::Command;

pub use super::registry::{Registry, Registry as TestRegistry, PASS, USER};

/// Run skopeo with the test credentials; panics with its stderr on failure.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed by scripts/setup");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn creds() -> String {
    format!("{USER}:{PASS}")
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/nonexistent:/bin/false\nnode:x:1000:1000::/home/node:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\nnginx:x:101:\nnode:x:1000:\n";

/// A gzip tar layer of (path, content) files, root-owned.
pub fn tar_layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if p.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            // `c` of a folder: "uid:gid:mode" (octal), else root 0755.
            let f: Vec<&str> = c.split(':').collect();
            if f.len() == 3 {
                h.set_uid(f[0].parse().unwrap());
                h.set_gid(f[1].parse().unwrap());
                h.set_mode(u32::from_str_radix(f[2], 8).unwrap());
            } else {
                h.set_mode(0o755);
            }
            h.set_size(0);
            b.append_data(&mut h, p, std::io::empty()).unwrap();
        } else {
            h.set_mode(0o644);
            h.set_size(c.len() as u64);
            b.append_data(&mut h, p, c.as_bytes()).unwrap();
        }
    }
    let tar = b.into_inner().unwrap();
    cadkit::image::layer::gzip(&tar, 6).unwrap()
}

fn sha(b: &[u8]) -> String {
    cadkit::image::layer::digest_of(b)
}

/// Write a tiny base image (two layers: a rootfs with /etc/passwd and /etc/group holding
/// nginx and node, then a layer with a file) to an OCI layout, for every `arch` given
/// (several → an image index). Returns the base layers' digests per arch.
pub fn write_base_layout(dir: &Path, tag: &str, arches: &[&str], user: &str) -> Vec<Vec<String>> {
    use serde_json::json;
    let layout = cadkit::image::oci::Layout::new(dir);
    let mut entries = Vec::new();
    let mut all = Vec::new();
    for arch in arches {
        let l1 = tar_layer(&[
            ("etc/", ""),
            ("etc/passwd", PASSWD),
            ("etc/group", GROUP),
            ("bin/", ""),
            ("bin/arch", arch),
            ("home/", ""),
            ("home/node/", "1000:1000:750"),
            ("root/", "0:0:700"),
        ]);
        let l2 = tar_layer(&[("opt/", ""), ("opt/base.txt", "base")]);
        let diff = |gz: &[u8]| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(gz), &mut out)
                .unwrap();
            sha(&out)
        };
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["serve"], "Env": ["PATH=/bin", "BASE=1"],
                        "WorkingDir": "/work", "User": user, "Labels": {"base.label": "kept"}},
            "rootfs": {"type": "layers", "diff_ids": [diff(&l1), diff(&l2)]},
            "history": [{"created_by": "rootfs"}, {"created_by": "opt"}]
        });
        let config = serde_json::to_vec(&config).unwrap();
        let layer_desc = |b: &[u8]| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b), "size": b.len()});
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
            "layers": [layer_desc(&l1), layer_desc(&l2)]
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        for b in [&l1, &l2, &config, &manifest] {
            layout.write_blob(&sha(b), b).unwrap();
        }
        all.push(vec![sha(&l1), sha(&l2)]);
        entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest),
            "size": manifest.len(), "platform": {"architecture": arch, "os": "linux"}}));
    }
    let top = if entries.len() == 1 {
        let mut e = entries.pop().unwrap();
        e.as_object_mut().unwrap().remove("platform");
        e
    } else {
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})).unwrap();
        layout.write_blob(&sha(&index), &index).unwrap();
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(&index), "size": index.len()})
    };
    let desc = cadkit::image::oci::Descriptor::from_json(&top).unwrap();
    layout.tag(&desc, &[tag.to_string()]).unwrap();
    all
}
