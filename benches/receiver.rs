//! Benchmark of `cadkit receiver`: from the registry's own push notification to the
//! environment converged, for a ~1.7k-file project (850 roots, a newInst and a newRel file
//! each), with the receiver's overhead beyond the update itself per stage (pull, verify,
//! unpack, validate; target ≤ 0.5 s); then 1,000 duplicate notifications (target ≥ 500/s,
//! one deployment).
//!
//! Run: `cargo bench --bench receiver` (release). Without `--bench` (as under
//! `cargo test --all-targets`) it runs a small smoke version.

#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/all/common/registry.rs"]
mod harness;
#[path = "../tests/all/common/receiver.rs"]
mod recv;

use harness::{Registry as TestRegistry, PASS, USER};
use recv::{env_entry, free_port, write_config, TestReceiver, TOKEN};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const REPO: &str = "acme/bench-codeasdata";

fn tag(n: usize) -> String {
    format!("{:020x}", 0x0190_0000_0000_0000_0000u128 + n as u128)
}

/// A dist of `roots` roots of 10 instances: 2 files per root.
fn write_dist(dist: &Path, roots: usize) {
    let module = dist.join("bench/Home/Bench");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        dist.join("import_order.json"),
        r#"[{"name":"bench","rootTag":"10000000000000000000","path":"bench"}]"#,
    )
    .unwrap();
    for r in 0..roots {
        let base = r * 100;
        let (mut inst, mut rel) = (String::new(), String::new());
        for i in 0..10 {
            let t = tag(base + i);
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(inst, "{sep}{{\"o\":1,\"t\":\"{t}\",\"p\":{{\"ff023000000000000011\":\"item {r}/{i}\",\"0190000000000000f001\":{i}}}}}");
            let _ = write!(rel, "{sep}{{\"o\":4,\"m\":\"ff022000000000000000\",\"l\":\"{t}\",\"r\":\"ff021000000000000001\"}}");
        }
        let root = tag(base);
        std::fs::write(
            module.join(format!("Item_{r}.newInst.json")),
            format!("{{\"rootTag\":\"{root}\",\"operations\":[{inst}],\"optionalOperations\":[]}}"),
        )
        .unwrap();
        std::fs::write(
            module.join(format!("Item_{r}.newRel.json")),
            format!("{{\"rootTag\":\"{root}\",\"operations\":[{rel}],\"optionalOperations\":[]}}"),
        )
        .unwrap();
    }
}

fn push(reg: &TestRegistry, dist: &Path, tag: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_cadkit"))
        .args([
            "image",
            "--kind",
            "codeasdata",
            "--base",
            "scratch",
            "--source",
        ])
        .arg(dist)
        .args(["--output", &format!("{}/{REPO}:{tag}", reg.host)])
        .env("DOCKER_CONFIG", reg.docker_config(USER, PASS))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let roots = if full { 850 } else { 20 };
    let dups = if full { 1000 } else { 50 };
    let t = tempfile::tempdir().unwrap();
    let dist = t.path().join("dist/codeAsData");
    write_dist(&dist, roots);
    let port = free_port();
    let reg = TestRegistry::start_notifying(&format!("http://127.0.0.1:{port}/v1/hooks"), TOKEN);
    // BENCH_WORK_DIR: where the receiver unpacks (e.g. a tmpfs such as /dev/shm).
    let mut config = json!({"environments": {"production": env_entry(t.path(), "production", &reg.host, REPO, "^master-")},
                "dockerConfig": reg.docker_config(USER, PASS)});
    if let Some(w) = std::env::var_os("BENCH_WORK_DIR") {
        let w = std::path::PathBuf::from(w).join(format!("cadkit-bench-{}", std::process::id()));
        config["workDir"] = json!(w);
        println!("work dir: {}", w.display());
    }
    let cfg = write_config(t.path(), &config);
    let r = TestReceiver::start(&cfg, port, &[]);

    // 1. Push; the registry notifies; wait for the record to be final.
    let digest = push(&reg, &dist, "master-bench0001");
    let pushed = Instant::now();
    let rec = r.wait_records("the deployment", |r| {
        r.iter()
            .any(|e| e["taskActive"] == false && e["environment"] == "production")
    });
    let after_push = pushed.elapsed();
    let rec = rec
        .iter()
        .find(|e| e["environment"] == "production")
        .unwrap();
    assert_eq!(rec["status"], "succeeded", "{rec}");
    let s = &rec["stages"];
    let g = |k: &str| s[k].as_u64().unwrap_or(0);
    let overhead = g("pullMs") + g("verifyMs") + g("unpackMs") + g("validateMs");
    let created = chrono::DateTime::parse_from_rfc3339(rec["createdAt"].as_str().unwrap()).unwrap();
    let finished =
        chrono::DateTime::parse_from_rfc3339(rec["finishedAt"].as_str().unwrap()).unwrap();
    println!(
        "notification → converged ({} files, {} instances): {} ms accepted→finished, {} ms push returned→record final",
        roots * 2 + 1,
        roots * 10,
        (finished - created).num_milliseconds(),
        after_push.as_millis()
    );
    println!(
        "stages: pull {} ms, verify {} ms, unpack {} ms, validate {} ms | update {} ms | overhead beyond the update {} ms (target ≤ 500)",
        g("pullMs"), g("verifyMs"), g("unpackMs"), g("validateMs"), g("updateMs"), overhead
    );

    // 2. Undeploy, then the same notification 1,000 times (a registry retrying).
    let (st, loc, _) = r.call("DELETE", "/v1/environments/production", None, vec![]);
    assert_eq!(st, 204);
    r.wait_done(&loc.unwrap());
    let before = r.all_records().len();
    let body = json!({"events": [{"id": "dup-1", "action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": REPO,
        "tag": "master-bench0001", "digest": digest}}]})
    .to_string()
    .into_bytes();
    let url = r.url("/v1/hooks");
    let threads = 4;
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::new();
                for _ in 0..dups / threads {
                    let s = c
                        .post(&url)
                        .header("Authorization", format!("Bearer {TOKEN}"))
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                        .unwrap()
                        .status()
                        .as_u16();
                    assert!(s == 202 || s == 200, "{s}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    let recs = r.wait_records("the deduplicated deployment", |r| {
        r.iter().all(|e| e["taskActive"] == false)
    });
    let new = recs.len() - before;
    println!(
        "{dups} duplicate notifications in {:.0} ms: {:.0}/s (target ≥ 500/s); deployments created: {new}",
        secs * 1000.0,
        dups as f64 / secs
    );
    assert_eq!(new, 1, "duplicates deployed more than once");
    if let Some(w) = config["workDir"].as_str() {
        let _ = std::fs::remove_dir_all(w);
    }
    if std::env::var_os("BENCH_SHOW_LOG").is_some() {
        eprintln!("{}", std::fs::read_to_string(&r.log).unwrap_or_default());
    }
}
