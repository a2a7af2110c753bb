//! `cadkit image` against a real registry (Debian's docker-registry, htpasswd auth) with
//! base images made here, checked with skopeo.

use crate::common;

use cadkit::image::layer::{read_entries, ReadEntry};
use cadkit::image::oci::{Descriptor, Layout};
use common::image::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "cadkit-image failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Run cadkit-image with a clean credential environment plus `env`.
fn cadkit(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = crate::common::cadkit_bin("cadkit-image");
    c.args(args)
        .env_remove("DOCKER_CONFIG")
        .env_remove("CADKIT_REGISTRY_PASSWORD")
        .env_remove("CADKIT_REGISTRY_USERNAME")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HOME", home);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn site(dir: &Path) -> PathBuf {
    let s = dir.join("site");
    std::fs::create_dir_all(s.join("assets")).unwrap();
    std::fs::write(s.join("index.html"), "<h1>front</h1>").unwrap();
    std::fs::write(s.join("assets/app.js"), "console.log(1)").unwrap();
    s
}

/// Push an OCI layout to the registry with skopeo (all platforms), optionally as Docker v2s2.
fn push_base(reg: &Registry, layout: &Path, tag: &str, repo: &str, docker_format: bool) {
    let src = format!("oci:{}:{tag}", layout.display());
    let dst = format!("docker://{}/{repo}", reg.host);
    let c = creds();
    let mut args = vec![
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        &c,
    ];
    if docker_format {
        args.extend(["--format", "v2s2"]);
    }
    args.extend([src.as_str(), dst.as_str()]);
    skopeo(&args);
}

/// Copy an image out of the registry to an OCI layout with skopeo (all platforms).
fn pull_layout(reg: &Registry, repo_tag: &str, dir: &Path) -> Layout {
    let c = creds();
    let src = format!("docker://{}/{repo_tag}", reg.host);
    let dst = format!("oci:{}:pulled", dir.display());
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        &c,
        &src,
        &dst,
    ]);
    Layout::new(dir)
}

fn inspect_raw(reg: &Registry, repo_tag: &str) -> Value {
    let c = creds();
    let r = format!("docker://{}/{repo_tag}", reg.host);
    serde_json::from_slice(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &c,
        &r,
    ]))
    .unwrap()
}

fn blob_json(l: &Layout, digest: &str) -> Value {
    serde_json::from_slice(&l.read_blob(digest).unwrap()).unwrap()
}

/// (manifest, config, new-layer entries) of every platform image of a pulled layout.
fn images(l: &Layout) -> Vec<(Value, Value, Vec<ReadEntry>)> {
    let top = l.resolve(Some("pulled")).unwrap();
    let doc = blob_json(l, &top.digest);
    let manifests: Vec<Descriptor> = match doc["manifests"].as_array() {
        Some(list) => list
            .iter()
            .map(|m| Descriptor::from_json(m).unwrap())
            .collect(),
        None => vec![top],
    };
    manifests
        .iter()
        .map(|d| {
            let m = blob_json(l, &d.digest);
            let c = blob_json(l, m["config"]["digest"].as_str().unwrap());
            let last = m["layers"].as_array().unwrap().last().unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string();
            (m, c, read_entries(&l.read_blob(&last).unwrap()).unwrap())
        })
        .collect()
}

fn layer_digests(m: &Value) -> Vec<String> {
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn frontend_on_a_multi_platform_base_of_the_same_registry() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let base_layers = write_base_layout(&t.path().join("base"), "1", &["amd64", "arm64"], "nginx");
    push_base(&reg, &t.path().join("base"), "1", "library/nginx:1", false);
    let src = site(t.path());
    let cfg = reg.docker_config(USER, PASS);
    let out = format!("{}/app/front:1.0", reg.host);
    let base = format!("{}/library/nginx:1", reg.host);
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "frontend",
            "--source",
            src.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out,
            "--tag",
            "latest,sha-abc",
            "--label",
            "org.opencontainers.image.revision=abc",
        ],
        &[("DOCKER_CONFIG", cfg.to_str().unwrap())],
    );
    let report = r.json();
    assert!(!r.stderr.contains(PASS), "the password leaked in the logs");
    let digest = report["digest"].as_str().unwrap();
    assert_eq!(
        report["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let refs: Vec<&str> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 4, "{refs:?}");
    assert!(refs.contains(&format!("{}/app/front@{digest}", reg.host).as_str()));
    assert!(
        report["stats"]["mounted"].as_u64().unwrap() >= 2,
        "{}",
        report["stats"]
    );

    // Every tag points at the same index, with one image per platform.
    for tag in ["1.0", "latest", "sha-abc"] {
        let idx = inspect_raw(&reg, &format!("app/front:{tag}"));
        let plats: Vec<&str> = idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(plats, ["amd64", "arm64"]);
    }
    let pulled = pull_layout(&reg, "app/front:latest", &t.path().join("pulled"));
    let imgs = images(&pulled);
    assert_eq!(imgs.len(), 2);
    for (i, (m, c, entries)) in imgs.iter().enumerate() {
        let layers = layer_digests(m);
        assert_eq!(layers.len(), 3);
        assert_eq!(&layers[..2], &base_layers[i][..], "base layers unchanged");
        assert_eq!(c["config"]["Entrypoint"][0], "/docker-entrypoint.sh");
        assert_eq!(c["config"]["Cmd"][0], "serve");
        assert_eq!(c["config"]["WorkingDir"], "/work");
        assert_eq!(c["config"]["User"], "nginx");
        assert_eq!(c["config"]["Env"][1], "BASE=1");
        assert_eq!(c["config"]["Labels"]["base.label"], "kept");
        assert_eq!(
            c["config"]["Labels"]["org.opencontainers.image.revision"],
            "abc"
        );
        assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
        assert_eq!(c["history"].as_array().unwrap().len(), 3);
        let idx = entries
            .iter()
            .find(|e| e.path == "usr/share/nginx/html/index.html")
            .unwrap();
        assert_eq!((idx.uid, idx.gid, idx.mode), (101, 0, 0o644));
        assert_eq!(idx.content, b"<h1>front</h1>");
        let dir = entries
            .iter()
            .find(|e| e.path == "usr/share/nginx/html/assets/")
            .unwrap();
        assert_eq!((dir.uid, dir.gid, dir.mode), (101, 0, 0o755));
        let usr = entries.iter().find(|e| e.path == "usr/").unwrap();
        assert_eq!((usr.uid, usr.gid), (0, 0));
    }
}

#[test]
fn backend_from_another_registry_with_a_docker_format_base_and_flag_credentials() {
    let base_reg = Registry::start();
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let base_layers = write_base_layout(&t.path().join("base"), "20", &["amd64"], "node");
    push_base(
        &base_reg,
        &t.path().join("base"),
        "20",
        "library/node:20",
        true,
    );
    let app = t.path().join("app");
    std::fs::create_dir_all(app.join("lib")).unwrap();
    std::fs::write(app.join("server.js"), "require('./lib/x')").unwrap();
    std::fs::write(app.join("lib/x.js"), "").unwrap();
    // Base credentials from DOCKER_CONFIG, output credentials from --username + env.
    let cfg = base_reg.docker_config(USER, PASS);
    let base = format!("{}/library/node:20", base_reg.host);
    let out = format!("{}/app/back", reg.host);
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "backend",
            "--source",
            app.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out,
            "--tag",
            "2.0",
            "--username",
            USER,
        ],
        &[
            ("DOCKER_CONFIG", cfg.to_str().unwrap()),
            ("CADKIT_REGISTRY_PASSWORD", PASS),
        ],
    );
    let report = r.json();
    assert_eq!(
        report["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(report["stats"]["uploaded"], 4, "{}", report["stats"]);
    assert_eq!(
        report["references"][0],
        format!("{}/app/back:2.0", reg.host)
    );
    let pulled = pull_layout(&reg, "app/back:2.0", &t.path().join("pulled"));
    let imgs = images(&pulled);
    let (m, c, entries) = &imgs[0];
    assert_eq!(c["config"]["User"], "node");
    let layers = layer_digests(m);
    assert_eq!(layers.len(), 3);
    // skopeo --format v2s2 keeps the (already gzip) layer bytes: same digests.
    assert_eq!(&layers[..2], &base_layers[0][..]);
    let f = entries
        .iter()
        .find(|e| e.path == "home/node/app/server.js")
        .unwrap();
    // The guide's `COPY $SOURCES_PATH /home/node/app`: a plain COPY leaves root's files.
    assert_eq!((f.uid, f.gid, f.mode), (0, 0, 0o644));
    assert!(entries.iter().any(|e| e.path == "home/node/app/lib/x.js"));
    // Parent folders that exist in the base keep their owner and mode.
    let home = entries.iter().find(|e| e.path == "home/node/").unwrap();
    assert_eq!((home.uid, home.gid, home.mode), (1000, 1000, 0o750));
    let app_dir = entries.iter().find(|e| e.path == "home/node/app/").unwrap();
    assert_eq!((app_dir.uid, app_dir.gid, app_dir.mode), (0, 0, 0o755));
    assert_eq!(
        reg.manifest_status("app/back", "latest"),
        404,
        "only the asked tag"
    );

    // Numeric owner: no base layer is read for /etc/passwd, so the base layers are copied
    // from the base registry while pushing to the other one.
    let out2 = format!("{}/app/back2:1", reg.host);
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "backend",
            "--source",
            app.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out2,
            "--owner",
            "0:0",
            "--username",
            USER,
        ],
        &[
            ("DOCKER_CONFIG", cfg.to_str().unwrap()),
            ("CADKIT_REGISTRY_PASSWORD", PASS),
        ],
    );
    let second = r.json();
    assert_eq!(
        second["platforms"][0]["layer"]["digest"],
        report["platforms"][0]["layer"]["digest"]
    );
    assert_eq!(reg.manifest_status("app/back2", "1"), 200);

    // An uncompressed layer on a Docker-format base gives an OCI image (schema 2 has no
    // uncompressed layer type) with the same base layer bytes.
    let out3 = format!("{}/app/back3:1", reg.host);
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "backend",
            "--source",
            app.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out3,
            "--compression",
            "none",
            "--username",
            USER,
        ],
        &[
            ("DOCKER_CONFIG", cfg.to_str().unwrap()),
            ("CADKIT_REGISTRY_PASSWORD", PASS),
        ],
    );
    let third = r.json();
    // The uncompressed layer was streamed while being built; a second run finds it there.
    assert_eq!(third["stats"]["uploaded"], 4, "{}", third["stats"]);
    assert!(
        !r.stderr.contains("WARN"),
        "streamed upload fell back: {}",
        r.stderr
    );
    let again = cadkit(
        t.path(),
        &[
            "--kind",
            "backend",
            "--source",
            app.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out3,
            "--compression",
            "none",
            "--username",
            USER,
        ],
        &[
            ("DOCKER_CONFIG", cfg.to_str().unwrap()),
            ("CADKIT_REGISTRY_PASSWORD", PASS),
        ],
    )
    .json();
    assert_eq!(again["digest"], third["digest"]);
    assert_eq!(again["stats"]["uploaded"], 0, "{}", again["stats"]);
    assert_eq!(
        third["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        third["platforms"][0]["layer"]["digest"],
        report["platforms"][0]["layer"]["diffId"]
    );
    let m = inspect_raw(&reg, "app/back3:1");
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        m["layers"][2]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(layer_digests(&m)[..2], base_layers[0][..]);
    let pulled = pull_layout(&reg, "app/back3:1", &t.path().join("pulled3"));
    let (_, c, entries) = &images(&pulled)[0];
    assert_eq!(c["config"]["User"], "node");
    assert!(entries.iter().any(|e| e.path == "home/node/app/server.js"));
}

#[test]
fn codeasdata_from_scratch_is_reproducible_and_skips_existing_blobs() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let patches = t.path().join("dist/codeAsData");
    std::fs::create_dir_all(patches.join("mod1")).unwrap();
    std::fs::write(patches.join("import_order.json"), "[]").unwrap();
    std::fs::write(patches.join("mod1/newInst.json"), "{}").unwrap();
    let cfg = reg.docker_config(USER, PASS);
    let env = [
        ("DOCKER_CONFIG", cfg.to_str().unwrap()),
        ("SOURCE_DATE_EPOCH", "1700000000"),
    ];
    let out = format!("{}/app/patches:1", reg.host);
    let layout = format!("oci:{}:1", t.path().join("layout").display());
    // The source defaults to dist/codeAsData, relative to the working dir.
    let run = |output: &str| {
        let mut c = crate::common::cadkit_bin("cadkit-image");
        c.current_dir(t.path())
            .args([
                "--kind",
                "codeasdata",
                "--base",
                "scratch",
                "--output",
                output,
            ])
            .env_remove("CADKIT_REGISTRY_PASSWORD")
            .env("HOME", t.path());
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        Run {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
        .json()
    };
    let first = run(&out);
    let second = run(&out);
    let local = run(&layout);
    assert_eq!(first["digest"], second["digest"]);
    assert_eq!(
        first["digest"], local["digest"],
        "registry and layout give the same image"
    );
    assert_eq!(first["stats"]["uploaded"], 2);
    assert_eq!(second["stats"]["uploaded"], 0);
    assert_eq!(second["stats"]["skipped"], 2);
    // The digest is reproducible: the second push finds it in the registry (`unchanged`,
    // so that no deployment needs triggering); a new layout did not hold it.
    assert_eq!(first["unchanged"], false, "{first}");
    assert_eq!(second["unchanged"], true, "{second}");
    assert_eq!(second["outputs"]["unchanged"], "true");
    assert_eq!(local["unchanged"], false);
    assert_eq!(run(&layout)["unchanged"], true);

    let pulled = pull_layout(&reg, "app/patches:1", &t.path().join("pulled"));
    let (m, c, entries) = &images(&pulled)[0];
    assert_eq!(layer_digests(m).len(), 1);
    assert_eq!(c["created"], "2023-11-14T22:13:20Z");
    let f = entries
        .iter()
        .find(|e| e.path == "root/patches/mod1/newInst.json")
        .unwrap();
    // The guide's Dockerfile: `COPY --chown=1000:1000` (modes kept), `chmod 775 ~/patches`
    // (the folder only), `chown -R 1000:1000 ~/patches`.
    assert_eq!((f.uid, f.gid, f.mode), (1000, 1000, 0o644));
    let d = entries
        .iter()
        .find(|e| e.path == "root/patches/mod1/")
        .unwrap();
    assert_eq!((d.uid, d.gid, d.mode), (1000, 1000, 0o755));
    let p = entries.iter().find(|e| e.path == "root/patches/").unwrap();
    assert_eq!((p.uid, p.gid, p.mode), (1000, 1000, 0o775));
    let root = entries.iter().find(|e| e.path == "root/").unwrap();
    assert_eq!((root.uid, root.gid, root.mode), (0, 0, 0o755));
    // skopeo reads the local layout too.
    let inspected: Value = serde_json::from_slice(&skopeo(&["inspect", &layout])).unwrap();
    assert_eq!(inspected["Digest"], first["digest"]);
}

#[test]
fn bad_input_fails_clearly_and_leaves_nothing_under_the_tag() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    write_base_layout(&t.path().join("base"), "1", &["amd64"], "nginx");
    push_base(&reg, &t.path().join("base"), "1", "library/nginx:1", false);
    let src = site(t.path());
    let cfg = reg.docker_config(USER, PASS);
    let bad_cfg = reg.docker_config(USER, "wrong");
    let base = format!("{}/library/nginx:1", reg.host);
    let out = format!("{}/app/bad:1", reg.host);
    let escaping = t.path().join("escaping");
    std::fs::create_dir_all(&escaping).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", escaping.join("pw")).unwrap();
    let missing = t.path().join("missing");
    let unknown = format!("{}/library/none:1", reg.host);
    let cases: Vec<(&str, Vec<&str>, &str, &str)> = vec![
        (
            "missing folder",
            vec!["--source", missing.to_str().unwrap(), "--base", &base],
            cfg.to_str().unwrap(),
            "does not exist",
        ),
        (
            "unknown base",
            vec![
                "--source",
                src.to_str().unwrap(),
                "--base",
                "127.0.0.1:1/none/none:1",
            ],
            cfg.to_str().unwrap(),
            "cannot reach registry",
        ),
        (
            "unknown image",
            vec!["--source", src.to_str().unwrap(), "--base", &unknown],
            cfg.to_str().unwrap(),
            "not found",
        ),
        (
            "wrong credentials",
            vec!["--source", src.to_str().unwrap(), "--base", &base],
            bad_cfg.to_str().unwrap(),
            "rejected the credentials",
        ),
        (
            "unknown user",
            vec![
                "--source",
                src.to_str().unwrap(),
                "--base",
                &base,
                "--owner",
                "www-data",
            ],
            cfg.to_str().unwrap(),
            "\"www-data\" is not in the base image's /etc/passwd",
        ),
        (
            "symlink out",
            vec!["--source", escaping.to_str().unwrap(), "--base", &base],
            cfg.to_str().unwrap(),
            "points outside the source folder",
        ),
    ];
    for (name, extra, config, expected) in cases {
        let mut args = vec!["--kind", "frontend", "--output", &out];
        args.extend(extra);
        let r = cadkit(t.path(), &args, &[("DOCKER_CONFIG", config)]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(expected),
            "{name}: expected {expected:?} in {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{name}: no report on failure");
        assert_eq!(
            reg.manifest_status("app/bad", "1"),
            404,
            "{name}: nothing under the tag"
        );
    }
    // Without any credentials the push is refused too.
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "frontend",
            "--source",
            src.to_str().unwrap(),
            "--base",
            "scratch",
            "--owner",
            "0:0",
            "--output",
            &out,
        ],
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("rejected the credentials (none were given)"),
        "{}",
        r.stderr
    );
}

#[test]
fn dry_run_plans_without_writing() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    write_base_layout(&t.path().join("base"), "1", &["amd64"], "nginx");
    push_base(&reg, &t.path().join("base"), "1", "library/nginx:1", false);
    let src = site(t.path());
    let cfg = reg.docker_config(USER, PASS);
    let base = format!("{}/library/nginx:1", reg.host);
    let out = format!("{}/app/plan:1", reg.host);
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "frontend",
            "--source",
            src.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &out,
            "--dry-run",
        ],
        &[("DOCKER_CONFIG", cfg.to_str().unwrap())],
    );
    let report = r.json();
    assert_eq!(report["dryRun"], true);
    let actions: Vec<&str> = report["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["mount", "mount", "upload", "upload"]);
    assert_eq!(reg.manifest_status("app/plan", "1"), 404);
    // Same for a layout: nothing written.
    let dir = t.path().join("layout");
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "frontend",
            "--source",
            src.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            &format!("oci:{}", dir.display()),
            "--dry-run",
        ],
        &[("DOCKER_CONFIG", cfg.to_str().unwrap())],
    );
    r.json();
    assert!(!dir.exists());
}

#[test]
fn layout_base_to_layout_output_needs_no_registry() {
    let t = tempfile::tempdir().unwrap();
    let base_layers = write_base_layout(&t.path().join("base"), "1", &["amd64", "arm64"], "node");
    let src = site(t.path());
    let dir = t.path().join("out");
    let r = cadkit(
        t.path(),
        &[
            "--kind",
            "backend",
            "--source",
            src.to_str().unwrap(),
            "--base",
            &format!("oci:{}:1", t.path().join("base").display()),
            "--output",
            &format!("oci:{}:v1", dir.display()),
            "--platform",
            "linux/arm64",
        ],
        &[],
    );
    let report = r.json();
    assert_eq!(report["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(report["platforms"][0]["platform"], "linux/arm64");
    assert_eq!(report["platforms"][0]["owner"], "0:0");
    // A filtered multi-platform base stays an index (of one image).
    let inspected: Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:v1", dir.display()),
    ]))
    .unwrap();
    assert_eq!(inspected["manifests"].as_array().unwrap().len(), 1);
    let copy = t.path().join("copy");
    skopeo(&[
        "copy",
        "--all",
        &format!("oci:{}:v1", dir.display()),
        &format!("oci:{}:pulled", copy.display()),
    ]);
    let (m, _, _) = &images(&Layout::new(&copy))[0];
    assert_eq!(&layer_digests(m)[..2], &base_layers[1][..]);
}

#[test]
fn demo_writes_the_code_as_data_image_to_an_oci_layout() {
    let t = tempfile::tempdir().unwrap();
    let out = crate::common::cadkit()
        .args(["demo", "--workdir"])
        .arg(t.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = &report["steps"]["image"];
    let layout = format!("oci:{}:demo", t.path().join("image").display());
    let inspected: Value = serde_json::from_slice(&skopeo(&["inspect", &layout])).unwrap();
    assert_eq!(inspected["Digest"], image["digest"]);
    let copy = t.path().join("copy");
    skopeo(&["copy", &layout, &format!("oci:{}:pulled", copy.display())]);
    let (_, _, entries) = &images(&Layout::new(&copy))[0];
    let order = entries
        .iter()
        .find(|e| e.path == "root/patches/import_order.json")
        .unwrap();
    assert_eq!((order.uid, order.gid, order.mode), (1000, 1000, 0o644));
}

#[test]
fn transient_registry_errors_are_retried() {
    use std::io::BufRead;
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = site(t.path());
    let cfg = reg.docker_config(USER, PASS);
    // A file where the registry wants its upload folder: every upload answers HTTP 500
    // until the file goes away.
    let uploads = reg
        .dir
        .path()
        .join("data/docker/registry/v2/repositories/app/retry/_uploads");
    std::fs::create_dir_all(uploads.parent().unwrap()).unwrap();
    std::fs::write(&uploads, "").unwrap();
    let out = format!("{}/app/retry:1", reg.host);
    let mut child = crate::common::cadkit_bin("cadkit-image")
        .args([
            "--kind",
            "custom",
            "--dest",
            "/srv",
            "--source",
            src.to_str().unwrap(),
            "--base",
            "scratch",
            "--output",
            &out,
        ])
        .env("DOCKER_CONFIG", &cfg)
        .env("HOME", t.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut s).unwrap();
        s
    });
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("retrying") && uploads.exists() {
            // The registry recovers while cadkit waits before its next attempt.
            std::fs::remove_file(&uploads).unwrap();
        }
        log.push_str(&line);
        log.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{log}");
    assert!(log.contains("500") && log.contains("retrying"), "{log}");
    let report: Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(report["stats"]["uploaded"], 2);
    assert_eq!(reg.manifest_status("app/retry", "1"), 200);
}
