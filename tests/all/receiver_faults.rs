//! Faults: `cadkit receiver` killed (SIGKILL) at random points of 50 deployments and
//! restarted: every record ends finished or failed, the environment always holds one whole
//! version (never a mix), and the next deployment succeeds.

use crate::common::update as h;

use crate::common::receiver::*;
use cadkit::graph::Graph;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const ZIP: Option<&str> = Some("application/zip");

fn fresh(dir: &Path, name: &str, dist: &Path) -> Graph {
    let env = dir.join(format!("ref-{name}.sqlite"));
    let o = crate::common::cadkit()
        .args(["install", "--env"])
        .arg(&env)
        .arg("--codeAsData.workingDir")
        .arg(dist)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    h::graph(&env)
}

fn same(a: &Graph, b: &Graph) -> bool {
    a.instances == b.instances && a.out == b.out
}

#[test]
fn receiver_killed_at_random_points_of_fifty_deployments() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(&t.path().join("dists"));
    let zips = [
        bundle(&a, "shop", "1.0.0", &t.path().join("a.zip")),
        bundle(&b, "shop", "1.1.0", &t.path().join("b.zip")),
    ];
    let graphs = [fresh(t.path(), "a", &a), fresh(t.path(), "b", &b)];
    let cfg = write_config(
        t.path(),
        &json!({"environments": {"production": env_entry(t.path(), "production", "127.0.0.1:9", "acme/x", "^master-")}}),
    );
    let env = t.path().join("production.sqlite");
    // A warm-up deployment measures how long one takes: kills land within that window.
    let r = TestReceiver::start(&cfg, 0, &[]);
    let started = Instant::now();
    let (s, loc, _) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zips[0].clone(),
    );
    assert_eq!(s, 202);
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "succeeded");
    let window = started.elapsed().as_micros().max(5_000) as u64 * 2;
    drop(r);

    let seed: u64 = rand::random();
    eprintln!("seed {seed}, kill window {window} µs");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..50 {
        let mut r = TestReceiver::start(&cfg, 0, &[]);
        // After a restart nothing is left active, and the environment is one whole version.
        for rec in r.all_records() {
            assert_eq!(rec["taskActive"], false, "iteration {i}: {rec}");
            let st = rec["status"].as_str().unwrap();
            assert!(matches!(st, "succeeded" | "failed" | "noop"), "{rec}");
        }
        let g = h::graph(&env);
        assert!(
            same(&g, &graphs[0]) || same(&g, &graphs[1]),
            "iteration {i} (seed {seed}): the environment is mixed"
        );
        let (s, _, v) = r.call(
            "POST",
            "/v1/environments/production/deployments",
            ZIP,
            zips[(i + 1) % 2].clone(),
        );
        assert!(s == 202 || s == 200, "{s} {v}");
        // The fault: SIGKILL at a random point of the deployment.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..window)));
        r.kill();
    }
    let r = TestReceiver::start(&cfg, 0, &[]);
    let recs = r.all_records();
    assert!(recs.iter().all(|e| e["taskActive"] == false));
    let interrupted = recs
        .iter()
        .filter(|e| {
            e["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("interrupted"))
        })
        .count();
    let ok = recs.iter().filter(|e| e["status"] == "succeeded").count();
    eprintln!(
        "{} records: {ok} succeeded, {interrupted} interrupted",
        recs.len()
    );
    assert!(interrupted > 0, "no kill landed inside a deployment");
    // The next deployment succeeds and converges.
    let g = h::graph(&env);
    let next = if same(&g, &graphs[0]) { 1 } else { 0 };
    let (s, loc, _) = r.call(
        "POST",
        "/v1/environments/production/deployments",
        ZIP,
        zips[next].clone(),
    );
    assert_eq!(s, 202);
    assert_eq!(r.wait_done(&loc.unwrap())["status"], "succeeded");
    assert!(same(&h::graph(&env), &graphs[next]));
}
