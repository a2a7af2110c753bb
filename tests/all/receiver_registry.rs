//! `cadkit receiver` driven by a real registry: CNCF distribution (`docker-registry`) POSTs
//! its own push notifications to the receiver, which pulls from its configured registry and
//! converges the environment; concurrent notifications; `cadkit webhook --wait`.

use crate::common::update as h;

use crate::common::image::{TestRegistry, PASS, USER};
use crate::common::receiver::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REPO: &str = "acme/shop-codeasdata";

/// `cadkit image --kind codeasdata --base scratch` of `dist` to `<registry>/<repo>:<tag>`;
/// returns the pushed digest.
fn push(reg: &TestRegistry, dist: &Path, repo: &str, tag: &str) -> String {
    let cfg = reg.docker_config(USER, PASS);
    let o = crate::common::cadkit()
        .args([
            "image",
            "--kind",
            "codeasdata",
            "--base",
            "scratch",
            "--source",
        ])
        .arg(dist)
        .args(["--output", &format!("{}/{repo}:{tag}", reg.host)])
        .env("DOCKER_CONFIG", &cfg)
        .env_remove("CADKIT_REGISTRY_PASSWORD")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cadkit image: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

fn fresh_install(dir: &Path, name: &str, dist: &Path) -> PathBuf {
    let env = dir.join(format!("ref-{name}.sqlite"));
    let o = crate::common::cadkit()
        .args(["install", "--env"])
        .arg(&env)
        .arg("--codeAsData.workingDir")
        .arg(dist)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env
}

fn assert_same_graph(deployed: &Path, reference: &Path) {
    let (a, b) = (h::graph(deployed), h::graph(reference));
    assert!(
        a.instances == b.instances && a.out == b.out,
        "{} differs from a fresh install: {}",
        deployed.display(),
        h::first_difference(&a, &b)
    );
}

fn finished(r: &[Value], env: &str, n: usize) -> bool {
    r.iter()
        .filter(|e| e["environment"] == env && e["taskActive"] == false)
        .count()
        >= n
}

#[test]
fn registry_notifications_deploy_master_to_production_develop_to_codev_and_ignore_feature() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(&t.path().join("dists"));
    let port = free_port();
    let reg = TestRegistry::start_notifying(&format!("http://127.0.0.1:{port}/v1/hooks"), TOKEN);
    let cfg = write_config(
        t.path(),
        &json!({
            "environments": {
                "production": env_entry(t.path(), "production", &reg.host, REPO, "^master-"),
                "codev": env_entry(t.path(), "codev", &reg.host, REPO, "^develop-"),
            },
            "dockerConfig": reg.docker_config(USER, PASS),
        }),
    );
    let r = TestReceiver::start(&cfg, port, &[]);

    let da = push(&reg, &a, REPO, "master-1a2b3c4d");
    let recs = r.wait_records("the production deployment", |r| {
        finished(r, "production", 1)
    });
    let p = recs
        .iter()
        .find(|e| e["environment"] == "production")
        .unwrap();
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(p["source"]["digest"], da.as_str());
    assert_eq!(p["source"]["tag"], "master-1a2b3c4d");
    for stage in ["pullMs", "verifyMs", "unpackMs", "validateMs", "updateMs"] {
        assert!(p["stages"][stage].is_u64(), "{p}");
    }
    assert_same_graph(
        &t.path().join("production.sqlite"),
        &fresh_install(t.path(), "a", &a),
    );
    // Blob events were skipped, not recorded; codev untouched.
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert!(!t.path().join("codev.sqlite").exists());

    let db = push(&reg, &b, REPO, "develop-5e6f7a8b");
    let recs = r.wait_records("the codev deployment", |r| finished(r, "codev", 1));
    let c = recs.iter().find(|e| e["environment"] == "codev").unwrap();
    assert_eq!(
        (c["status"].as_str(), c["source"]["digest"].as_str()),
        (Some("succeeded"), Some(db.as_str())),
        "{c}"
    );
    assert_same_graph(
        &t.path().join("codev.sqlite"),
        &fresh_install(t.path(), "b", &b),
    );
    assert_same_graph(
        &t.path().join("production.sqlite"),
        &t.path().join("ref-a.sqlite"),
    );

    // A feature branch is recorded as ignored; nothing changes.
    push(&reg, &b, REPO, "feature-x-9a8b7c6d");
    let recs = r.wait_records("the ignored push", |r| {
        r.iter().any(|e| e["status"] == "ignored")
    });
    let i = recs.iter().find(|e| e["status"] == "ignored").unwrap();
    assert_eq!(i["source"]["tag"], "feature-x-9a8b7c6d");
    assert_same_graph(
        &t.path().join("production.sqlite"),
        &t.path().join("ref-a.sqlite"),
    );

    // The same image pushed again under a new master tag: a recorded no-op.
    push(&reg, &a, REPO, "master-0f0f0f0f");
    let recs = r.wait_records("the no-op", |r| r.iter().any(|e| e["status"] == "noop"));
    assert_eq!(
        recs.iter().filter(|e| e["status"] == "succeeded").count(),
        2,
        "{recs:#?}"
    );
    // Pull credentials never reach a record or the log.
    assert!(!serde_json::to_string(&recs).unwrap().contains(PASS));
    assert!(!std::fs::read_to_string(&r.log).unwrap().contains(PASS));
}

/// A distribution envelope for one manifest push.
fn envelope(id: &str, repo: &str, tag: &str, digest: &str) -> Vec<u8> {
    json!({"events": [{"id": id, "action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": repo,
        "tag": tag, "digest": digest, "url": "http://evil.example/v2/"},
        "request": {"host": "evil.example"}}]})
    .to_string()
    .into_bytes()
}

/// POST until accepted (the sender's retry on 409, as a registry does).
fn post_until_accepted(url: &str, body: Vec<u8>) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, _, v) = call(
            url,
            "POST",
            Some(TOKEN),
            Some("application/json"),
            body.clone(),
        );
        if s != 409 {
            assert!(s == 200 || s == 202, "{s} {v}");
            return s;
        }
        assert!(Instant::now() < deadline, "still 409");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fifty_concurrent_notifications_over_five_environments_deploy_each_digest_once() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(&t.path().join("dists"));
    let reg = TestRegistry::start();
    let da = push(&reg, &a, REPO, "master-aaaa1111");
    let db = push(&reg, &b, REPO, "master-bbbb2222");
    let mut envs = serde_json::Map::new();
    for i in 0..5 {
        let name = format!("env{i}");
        envs.insert(
            name.clone(),
            env_entry(t.path(), &name, &reg.host, REPO, "^master-"),
        );
    }
    let cfg = write_config(
        t.path(),
        &json!({"environments": envs, "dockerConfig": reg.docker_config(USER, PASS)}),
    );
    let r = TestReceiver::start(&cfg, 0, &[]);
    // Per environment: 5 distinct events, each delivered twice (a registry retry).
    let mut sends = Vec::new();
    for i in 0..5 {
        let (tag, digest) = if i % 2 == 0 {
            ("master-aaaa1111", &da)
        } else {
            ("master-bbbb2222", &db)
        };
        for k in 0..5 {
            let body = envelope(&format!("ev-{i}-{k}"), REPO, tag, digest);
            sends.push((r.url(&format!("/v1/hooks/env{i}")), body.clone()));
            sends.push((r.url(&format!("/v1/hooks/env{i}")), body));
        }
    }
    use rand::seq::SliceRandom;
    sends.shuffle(&mut rand::rng());
    assert_eq!(sends.len(), 50);
    let handles: Vec<_> = sends
        .into_iter()
        .map(|(u, b)| std::thread::spawn(move || post_until_accepted(&u, b)))
        .collect();
    for hd in handles {
        hd.join().unwrap();
    }
    let recs = r.wait_records("every deployment finished", |r| {
        r.iter().all(|e| e["taskActive"] == false)
    });
    let ref_a = fresh_install(t.path(), "a", &a);
    let ref_b = fresh_install(t.path(), "b", &b);
    for i in 0..5 {
        let env = format!("env{i}");
        let mine: Vec<&Value> = recs
            .iter()
            .filter(|e| e["environment"] == env.as_str())
            .collect();
        let ok: Vec<&&Value> = mine.iter().filter(|e| e["status"] == "succeeded").collect();
        assert_eq!(ok.len(), 1, "{env}: {mine:#?}");
        assert!(
            mine.iter()
                .all(|e| e["status"] == "succeeded" || e["status"] == "noop"),
            "{mine:#?}"
        );
        let expected = if i % 2 == 0 { &da } else { &db };
        assert_eq!(ok[0]["source"]["digest"], expected.as_str());
        assert_same_graph(
            &t.path().join(format!("{env}.sqlite")),
            if i % 2 == 0 { &ref_a } else { &ref_b },
        );
    }
}

fn webhook(recv: &TestReceiver, image: &str) -> std::process::Output {
    webhook_as(recv, image, "distribution")
}

fn webhook_as(recv: &TestReceiver, image: &str, format: &str) -> std::process::Output {
    crate::common::cadkit()
        .args([
            "webhook",
            "--url",
            &recv.url("/v1/hooks"),
            "--image",
            image,
            "--format",
            format,
            "--wait",
            "--wait-timeout",
            "60s",
            "--max-attempts",
            "1",
        ])
        .env("CADKIT_WEBHOOK_TOKEN", TOKEN)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env_remove("TF_BUILD")
        .output()
        .unwrap()
}

#[test]
fn webhook_wait_passes_a_succeeded_deployment_and_fails_a_failed_one() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(&t.path().join("dists"));
    let bad = t.path().join("bad");
    h::copy_dir(&a, &bad);
    let victim = walkdir::WalkDir::new(&bad)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.path().to_string_lossy().ends_with(".newInst.json"))
        .unwrap();
    std::fs::write(victim.path(), b"{\"operations\": 3}").unwrap();
    let reg = TestRegistry::start();
    push(&reg, &a, REPO, "master-600d");
    push(&reg, &bad, REPO, "master-bad0");
    let cfg = write_config(
        t.path(),
        &json!({"environments": {"production": env_entry(t.path(), "production", &reg.host, REPO, "^master-")},
                "dockerConfig": reg.docker_config(USER, PASS)}),
    );
    let r = TestReceiver::start(&cfg, 0, &[]);
    let ok = webhook(&r, &format!("{}/{REPO}:master-600d", reg.host));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        report["deliveries"][0]["deployment"]["status"], "succeeded",
        "{report}"
    );
    let before = h::graph(&t.path().join("production.sqlite"));

    let ko = webhook(&r, &format!("{}/{REPO}:master-bad0", reg.host));
    assert_eq!(ko.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ko.stderr);
    assert!(err.contains("failed"), "{err}");
    assert!(!err.contains(TOKEN));
    let recs = r.all_records();
    let failed = recs.iter().find(|e| e["status"] == "failed").unwrap();
    let rel = victim
        .path()
        .strip_prefix(&bad)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(failed["filesError"][&rel].is_string(), "{failed}");
    // Nothing applied.
    let after = h::graph(&t.path().join("production.sqlite"));
    assert!(before.instances == after.instances && before.out == after.out);

    // The Docker Hub, Harbor and ACR shapes are read too (no digest: the tag is resolved
    // in the configured registry).
    let (_, b) = h::sample_dists(&t.path().join("dists2"));
    push(&reg, &b, REPO, "master-b0b0");
    let image = format!("{}/{REPO}:master-b0b0", reg.host);
    let hub = webhook_as(&r, &image, "dockerhub");
    assert!(
        hub.status.success(),
        "{}",
        String::from_utf8_lossy(&hub.stderr)
    );
    let v: Value = serde_json::from_slice(&hub.stdout).unwrap();
    assert_eq!(
        v["deliveries"][0]["deployment"]["status"], "succeeded",
        "{v}"
    );
    // Harbor and ACR shapes of the same delivery (same Idempotency-Key / event id): the
    // same record, nothing deployed again.
    for format in ["harbor", "acr"] {
        let o = webhook_as(&r, &image, format);
        assert!(
            o.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let w: Value = serde_json::from_slice(&o.stdout).unwrap();
        let d = &w["deliveries"][0]["deployment"];
        assert_eq!(
            d["id"], v["deliveries"][0]["deployment"]["id"],
            "{format}: {w}"
        );
        assert_eq!(d["status"], "succeeded");
    }
    assert_eq!(r.all_records().len(), 3);
    let reference = fresh_install(t.path(), "b", &b);
    assert_same_graph(&t.path().join("production.sqlite"), &reference);
}

#[test]
fn unknown_digest_and_unreachable_registry_fail_with_a_reason() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start();
    let closed = format!("127.0.0.1:{}", free_port());
    let cfg = write_config(
        t.path(),
        &json!({"environments": {
            "production": env_entry(t.path(), "production", &reg.host, REPO, "^master-"),
            "offline": env_entry(t.path(), "offline", &closed, REPO, "^master-")},
            "dockerConfig": reg.docker_config(USER, PASS)}),
    );
    let r = TestReceiver::start(&cfg, 0, &[]);
    let missing = format!("sha256:{}", "0".repeat(64));
    let (s, loc, _) = r.call(
        "POST",
        "/v1/hooks/production",
        None,
        envelope("e1", REPO, "master-1", &missing),
    );
    assert_eq!(s, 202);
    let rec = r.wait_done(&loc.unwrap());
    assert_eq!(rec["status"], "failed");
    assert!(
        rec["error"].as_str().unwrap().contains("not found"),
        "{rec}"
    );
    let (s, loc, _) = r.call(
        "POST",
        "/v1/hooks/offline",
        None,
        envelope("e2", REPO, "master-1", &missing),
    );
    assert_eq!(s, 202);
    let rec = r.wait_done(&loc.unwrap());
    assert_eq!(rec["status"], "failed");
    assert!(rec["error"].as_str().unwrap().contains("cannot"), "{rec}");
    assert!(!t.path().join("offline.sqlite").exists());
}
