//! `cadkit receiver` and `cadkit bundle` through real HTTP: bundle uploads, 204 → 200,
//! 409 while deploying, paging, configs, undeploy, and bad input refused with nothing
//! recorded nor applied.

use crate::common::update as h;

use crate::common::receiver::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

const ZIP: Option<&str> = Some("application/zip");

/// A fresh `cadkit install` of `dist` into `env`.
fn fresh_install(env: &Path, dist: &Path) {
    let o = crate::common::cadkit()
        .args(["install", "--env"])
        .arg(env)
        .arg("--codeAsData.workingDir")
        .arg(dist)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn assert_same_graph(deployed: &Path, reference: &Path) {
    let (a, b) = (h::graph(deployed), h::graph(reference));
    assert!(
        a.instances == b.instances && a.out == b.out,
        "the deployed environment differs from a fresh install: {}",
        h::first_difference(&a, &b)
    );
}

/// A zip of (name, bytes) entries.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (n, b) in entries {
        z.start_file(*n, o).unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A bundle zip written by hand from a folder (no validation), plus `project.json`.
fn zip_dist(dist: &Path) -> Vec<u8> {
    let mut entries = vec![(
        "project.json".to_string(),
        br#"{"name":"shop","version":"1.0.0"}"#.to_vec(),
    )];
    for e in walkdir::WalkDir::new(dist).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dist).unwrap().to_string_lossy();
            entries.push((
                format!("codeAsData/{rel}"),
                std::fs::read(e.path()).unwrap(),
            ));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    zip_of(&refs)
}

fn config(dir: &Path, extra: Value) -> std::path::PathBuf {
    let mut c = json!({"environments": {
        "production": env_entry(dir, "production", "127.0.0.1:9", "acme/shop-codeasdata", "^master-"),
        "codev": env_entry(dir, "codev", "127.0.0.1:9", "acme/shop-codeasdata", "^develop-"),
    }});
    if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    write_config(dir, &c)
}

#[test]
fn bundle_upload_204_then_200_409_paging_configs_and_undeploy() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(&t.path().join("dists"));
    let za = bundle(&a, "shop", "1.0.0", &t.path().join("a.zip"));
    let zb = bundle(&b, "shop", "1.1.0", &t.path().join("b.zip"));
    let cfg = config(t.path(), json!({}));
    let gate = t.path().join("gate");
    std::fs::write(&gate, "").unwrap();
    let r = TestReceiver::start(
        &cfg,
        0,
        &[("CADKIT_RECEIVER_TEST_GATE", gate.to_str().unwrap())],
    );
    let prod = t.path().join("production.sqlite");

    // Accepted, running (204), the environment busy (409 for a bundle and for DELETE).
    let (s, loc, body) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        za.clone(),
    );
    assert_eq!(s, 202, "{body}");
    let l1 = loc.unwrap();
    assert_eq!(body["location"], l1.as_str());
    assert_eq!(r.get(&l1).0, 204);
    let (s, _, body) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zb.clone(),
    );
    assert_eq!(s, 409, "{body}");
    assert_eq!(
        r.call("DELETE", "/v1/environments/production", None, vec![])
            .0,
        409
    );
    // Another environment is not blocked by production.
    let (s, loc_codev, _) = r.call(
        "POST",
        "/v1/environments/codev/deployments",
        ZIP,
        zb.clone(),
    );
    assert_eq!(s, 202);
    std::fs::remove_file(&gate).unwrap();

    let rec = r.wait_done(&l1);
    assert_eq!(rec["status"], "succeeded", "{rec}");
    assert_eq!(rec["taskActive"], false);
    assert_eq!(rec["source"]["kind"], "bundle");
    assert_eq!(rec["source"]["project"]["version"], "1.0.0");
    assert!(rec["finishedAt"].is_string() && rec["createdAt"].is_string());
    assert!(
        rec["plan"]["totals"]["createdInstances"].as_u64().unwrap() > 0,
        "{rec}"
    );
    let reference_a = t.path().join("ref-a.sqlite");
    fresh_install(&reference_a, &a);
    assert_same_graph(&prod, &reference_a);
    let rec = r.wait_done(&loc_codev.unwrap());
    assert_eq!(rec["status"], "succeeded", "{rec}");
    let reference_b = t.path().join("ref-b.sqlite");
    fresh_install(&reference_b, &b);
    assert_same_graph(&t.path().join("codev.sqlite"), &reference_b);

    // The same bundle again: a recorded no-op.
    let (s, loc, body) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        za.clone(),
    );
    assert_eq!((s, body["status"].as_str()), (200, Some("noop")), "{body}");
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "noop");
    // The next version converges production to it.
    let (s, loc, _) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zb.clone(),
    );
    assert_eq!(s, 202);
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "succeeded");
    assert_same_graph(&prod, &reference_b);

    // Paging, newest first.
    let (s, page) = r.get("/v1/deployments?start=0&count=2");
    assert_eq!(s, 200);
    assert_eq!(page["totalEntriesCount"], 4);
    assert_eq!(
        (page["start"].as_u64(), page["entriesCount"].as_u64()),
        (Some(0), Some(2))
    );
    let ids: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids[0] > ids[1]);
    let (_, page2) = r.get("/v1/deployments?start=2&count=2");
    assert_eq!(page2["entriesCount"], 2);
    let last: u64 = page2["entries"][1]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(last, 1);
    assert_eq!(r.get("/v1/deployments?start=x").0, 400);

    // Configs.
    let (s, c) = r.get("/v1/environments/production/config");
    assert_eq!((s, &c["noDowntime"]), (200, &json!(false)));
    let put = |body: Value| {
        r.call(
            "PUT",
            "/v1/environments/production/config",
            Some("application/json"),
            body.to_string().into_bytes(),
        )
    };
    let (s, _, c) = put(json!({"noDowntime": true, "drift": "keep"}));
    assert_eq!((s, &c["noDowntime"]), (200, &json!(true)), "{c}");
    assert_eq!(
        r.get("/v1/environments/production/config").1["drift"],
        "keep"
    );
    let (s, _, e) = put(json!({"excludeTags": ["nope"]}));
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("excludeTags"), "{e}");
    assert_eq!(put(json!({"bogus": 1})).0, 400);
    assert_eq!(r.get("/v1/environments/nope/config").0, 404);

    // Undeploy: 204, then production holds nothing the deployments created.
    let (s, loc, _) = r.call("DELETE", "/v1/environments/production", None, vec![]);
    assert_eq!(s, 204);
    let rec = r.wait_done(&loc.unwrap());
    assert_eq!(rec["status"], "succeeded", "{rec}");
    assert_eq!(rec["source"]["kind"], "undeploy");
    let g = h::graph(&prod);
    let from_b = h::graph(&reference_b);
    let left: Vec<&String> = g
        .instances
        .keys()
        .filter(|k| from_b.instances.contains_key(*k))
        .collect();
    assert!(
        left.is_empty(),
        "undeploy left {} deployed instances: {left:?}",
        left.len()
    );
    // After an undeploy the same bundle deploys again (not a no-op).
    let (s, loc, _) = r.call("POST", "/v1/environments/production/deployments", ZIP, zb);
    assert_eq!(s, 202);
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "succeeded");
    assert_same_graph(&prod, &reference_b);
}

#[test]
fn tokens_scopes_and_unknown_environments() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path(), json!({}));
    let r = TestReceiver::start(&cfg, 0, &[("CADKIT_RECEIVER_READ_TOKEN", "reader")]);
    let url = r.url("/v1/deployments");
    let (s, _, body) = call(&url, "GET", None, None, vec![]);
    assert_eq!((s, body), (401, Value::Null), "401 with no detail");
    assert_eq!(call(&url, "GET", Some("wrong"), None, vec![]).0, 401);
    assert_eq!(call(&url, "GET", Some("reader"), None, vec![]).0, 200);
    // The read token grants reads only.
    let hooks = r.url("/v1/hooks");
    assert_eq!(
        call(&hooks, "POST", Some("reader"), None, b"{}".to_vec()).0,
        401
    );
    assert_eq!(
        call(
            &r.url("/v1/environments/production"),
            "DELETE",
            Some("reader"),
            None,
            vec![]
        )
        .0,
        401
    );
    assert_eq!(
        r.call("POST", "/v1/environments/nope/deployments", ZIP, vec![1])
            .0,
        404
    );
    assert_eq!(
        r.call("DELETE", "/v1/environments/nope", None, vec![]).0,
        404
    );
    assert_eq!(
        r.call("POST", "/v1/hooks/nope", None, b"{}".to_vec()).0,
        404
    );
    assert_eq!(r.get("/v1/deployments/12345").0, 404);
    // A token never shows in the log.
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(!log.contains(TOKEN) && !log.contains("reader"));
}

#[test]
fn bad_bundles_are_refused_with_400_and_change_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(&t.path().join("dists"));
    let cfg = config(
        t.path(),
        json!({"maxBodyBytes": 300000, "maxEntries": 200, "maxUnpackedBytes": 1000000}),
    );
    let r = TestReceiver::start(&cfg, 0, &[]);
    let post = |body: Vec<u8>| {
        let (s, _, v) = r.call("POST", "/v1/environments/production/deployments", ZIP, body);
        assert_eq!(s, 400, "{v}");
        v["error"].as_str().unwrap().to_string()
    };
    let pj = br#"{"name":"x","version":"1"}"#.to_vec();
    let ok_order = b"[]".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("oversized", vec![7u8; 400_000], "larger than 300000 bytes"),
        ("not a zip", b"hello".to_vec(), "not a readable zip"),
        (
            "zip slip",
            zip_of(&[
                ("project.json", pj.clone()),
                ("codeAsData/../../evil.json", b"{}".to_vec()),
            ]),
            "zip slip",
        ),
        (
            "absolute",
            zip_of(&[
                ("project.json", pj.clone()),
                ("/etc/evil.json", b"{}".to_vec()),
            ]),
            "absolute",
        ),
        (
            "bomb",
            zip_of(&[
                ("project.json", pj.clone()),
                ("codeAsData/import_order.json", ok_order.clone()),
                ("codeAsData/zeros.bin", vec![0u8; 2_000_000]),
            ]),
            "uncompressed size",
        ),
        (
            "entries",
            zip_of(
                &(0..300)
                    .map(|i| {
                        (
                            Box::leak(format!("codeAsData/f{i}.txt").into_boxed_str()) as &str,
                            vec![],
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            "cap on entries",
        ),
        (
            "no import order",
            zip_of(&[
                ("project.json", pj.clone()),
                ("codeAsData/m/x.newInst.json", b"{}".to_vec()),
            ]),
            "import_order.json",
        ),
        (
            "no project.json",
            zip_of(&[("codeAsData/import_order.json", ok_order.clone())]),
            "project.json",
        ),
    ];
    for (what, body, needle) in cases {
        let e = post(body);
        assert!(e.contains(needle), "{what}: {e}");
    }
    // A symbolic link.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("project.json", o).unwrap();
    z.write_all(&pj).unwrap();
    z.add_symlink("codeAsData/import_order.json", "/etc/passwd", o)
        .unwrap();
    let e = post(z.finish().unwrap().into_inner());
    assert!(e.contains("symbolic links"), "{e}");
    // An invalid patch: 400 with the per-file error map.
    let bad = t.path().join("bad");
    h::copy_dir(&a, &bad);
    let victim = walkdir::WalkDir::new(&bad)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.path().to_string_lossy().ends_with(".newInst.json"))
        .unwrap();
    std::fs::write(victim.path(), b"{\"operations\": [").unwrap();
    let (s, _, v) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zip_dist(&bad),
    );
    assert_eq!(s, 400, "{v}");
    let rel = victim
        .path()
        .strip_prefix(&bad)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(v["filesError"][&rel].is_string(), "{v}");
    // `cadkit bundle` refuses the same folder.
    let o = crate::common::cadkit()
        .args(["bundle", "--codeAsData.workingDir"])
        .arg(&bad)
        .args(["--project", "nope.json", "--output"])
        .arg(t.path().join("bad.zip"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!t.path().join("bad.zip").exists());
    // Wrong content type.
    let (s, _, v) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        Some("text/plain"),
        zip_dist(&a),
    );
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("application/zip"));
    // Nothing recorded, nothing applied.
    assert_eq!(r.get("/v1/deployments").1["totalEntriesCount"], 0);
    assert!(
        !t.path().join("production.sqlite").exists()
            || h::graph(&t.path().join("production.sqlite"))
                .instances
                .is_empty()
    );
    // And the good bundle passes.
    let (s, loc, _) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zip_dist(&a),
    );
    assert_eq!(s, 202);
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "succeeded");
}

#[test]
fn signed_notifications_when_a_secret_is_configured() {
    let t = tempfile::tempdir().unwrap();
    let cfg = config(t.path(), json!({}));
    let secret = "hook-secret";
    let r = TestReceiver::start(&cfg, 0, &[("CADKIT_RECEIVER_SECRET", secret)]);
    let body = json!({"events": [{"id": "s1", "action": "push", "target": {"repository": "acme/shop-codeasdata", "tag": "feature-x", "digest": "sha256:00"}}]}).to_string();
    let url = r.url("/v1/hooks");
    // The token alone is not enough.
    let (s, _, v) = call(
        &url,
        "POST",
        Some(TOKEN),
        Some("application/json"),
        body.clone().into_bytes(),
    );
    assert_eq!((s, v), (401, Value::Null));
    let send = |ts: i64, sig: String| {
        let resp = reqwest::blocking::Client::new()
            .post(&url)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("X-Cadkit-Timestamp", ts.to_string())
            .header("X-Cadkit-Signature-256", sig)
            .body(body.clone())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        send(now, cadkit::webhook::sign("wrong", now, body.as_bytes())).0,
        401
    );
    let old = now - 3600;
    assert_eq!(
        send(old, cadkit::webhook::sign(secret, old, body.as_bytes())).0,
        401
    );
    let (s, v) = send(now, cadkit::webhook::sign(secret, now, body.as_bytes()));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deployments"][0]["status"], "ignored");
    let rec = r.wait_done(v["deployments"][0]["location"].as_str().unwrap());
    assert_eq!(rec["status"], "ignored");
    assert!(!std::fs::read_to_string(&r.log).unwrap().contains(secret));
}
