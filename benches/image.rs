//! Benchmark: a 100 MB folder assembled into a layer and pushed over loopback by
//! `cadkit image`, against a raw upload of a blob of the same size to the same registry
//! (the limit: one monolithic POST+PUT, digest computed beforehand and not timed).
//!
//! `cargo bench --bench image` (release build). `BENCH_MB` changes the size. Two folders:
//! incompressible bytes (gzip's worst case) and JSON-like text. Prints the throughputs
//! (folder bytes / wall time) and the ratio cadkit / raw for an uncompressed layer and gzip
//! levels 0, 1 and 6 (target: ≥ 80 %). `BENCH_DATASETS=random,json` and
//! `BENCH_LEVELS=none,0,1,6` select what runs.

// A benchmark program: helpers are `pub` for the harness files it includes, and it fails
// fast with `unwrap` (the crate-wide lints in Cargo.toml are for the library).
#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/all/common/registry.rs"]
mod harness;

use cadkit::image::registry::Credentials;
use cadkit::image::{self, ImageRequest, Kind};
use std::time::Instant;

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Raw monolithic upload with reqwest: POST an upload session, PUT the bytes.
fn raw_upload(host: &str, repo: &str, data: &[u8]) -> f64 {
    let digest = cadkit::image::layer::digest_of(data);
    let body = data.to_vec();
    let c = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap();
    let start = Instant::now();
    let r = c
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .basic_auth(harness::USER, Some(harness::PASS))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{:?}", r.text());
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{host}{loc}")
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .put(format!("{loc}{sep}digest={digest}"))
        .basic_auth(harness::USER, Some(harness::PASS))
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
    start.elapsed().as_secs_f64()
}

/// Raw upload with curl from a file (when curl is installed).
fn curl_upload(host: &str, repo: &str, file: &std::path::Path, digest: &str) -> Option<f64> {
    let start = Instant::now();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            "-u",
            &format!("{}:{}", harness::USER, harness::PASS),
        ])
        .arg(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let loc = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })?
        .trim()
        .to_string();
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{host}{loc}")
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let st = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "-u",
            &format!("{}:{}", harness::USER, harness::PASS),
        ])
        .args([
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("{loc}{sep}digest={digest}"))
        .output()
        .ok()?;
    (String::from_utf8_lossy(&st.stdout) == "201").then(|| start.elapsed().as_secs_f64())
}

/// Text like the patches and bundles the images carry (compresses about 5:1 with gzip).
fn json_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 256);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!(
                "{{\"id\":\"{:016x}\",\"type\":\"CreateInstance\",\"model\":\"{:08x}\",\"properties\":{{\"name\":\"item {}\",\"value\":{}}}}},\n",
                x,
                x >> 32,
                x % 1000,
                x % 100_000
            )
            .as_bytes(),
        );
    }
    out.truncate(n);
    out
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("image benchmark: run it with `cargo bench --bench image`");
        return;
    }
    let mb: usize = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let reg = harness::Registry::start();
    let t = tempfile::tempdir().unwrap();
    let total = (mb << 20) as f64;
    let mibs = |secs: f64| total / secs / 1048576.0;
    let datasets = std::env::var("BENCH_DATASETS").unwrap_or_else(|_| "random,json".into());
    for (dataset, make) in [
        ("random", random_bytes as fn(usize, u64) -> Vec<u8>),
        ("json", json_bytes as fn(usize, u64) -> Vec<u8>),
    ] {
        if !datasets.split(',').any(|d| d == dataset) {
            continue;
        }
        let folder = t.path().join(dataset);
        let mut all = Vec::with_capacity(mb << 20);
        for i in 0..mb {
            let sub = folder.join(format!("d{}", i % 10));
            std::fs::create_dir_all(&sub).unwrap();
            let bytes = make(1 << 20, i as u64 + 7);
            std::fs::write(sub.join(format!("f{i:03}.bin")), &bytes).unwrap();
            all.extend_from_slice(&bytes);
        }
        // The raw limit: the folder's bytes as one blob, uploaded as is.
        let raw_file = t.path().join(format!("{dataset}.raw"));
        std::fs::write(&raw_file, &all).unwrap();
        let raw_digest = cadkit::image::layer::digest_of(&all);
        let mut best_raw = f64::MAX;
        for i in 0..3 {
            let s = raw_upload(&reg.host, &format!("bench/{dataset}-raw{i}"), &all);
            best_raw = best_raw.min(s);
            println!(
                "{dataset}: raw upload (reqwest) {mb} MiB: {s:.3} s, {:.0} MiB/s",
                mibs(s)
            );
            if let Some(s) = curl_upload(
                &reg.host,
                &format!("bench/{dataset}-curl{i}"),
                &raw_file,
                &raw_digest,
            ) {
                best_raw = best_raw.min(s);
                println!(
                    "{dataset}: raw upload (curl)    {mb} MiB: {s:.3} s, {:.0} MiB/s",
                    mibs(s)
                );
            }
        }
        let levels: Vec<Option<u32>> = match std::env::var("BENCH_LEVELS") {
            Ok(v) => v.split(',').map(|l| l.parse().ok()).collect(),
            Err(_) => vec![None, Some(0), Some(1), Some(6)],
        };
        for level in levels {
            let name = level.map_or("none".to_string(), |l| format!("gzip -{l}"));
            let mut best = f64::MAX;
            let mut size = 0;
            for i in 0..3 {
                let mut req = ImageRequest::new(
                    Kind::Custom,
                    "scratch",
                    &format!(
                        "{}/bench/{dataset}-l{}-{i}:1",
                        reg.host,
                        level.map_or(99, |l| l)
                    ),
                );
                req.source = Some(folder.clone());
                req.dest = Some("/data".into());
                req.owner = Some("0:0".into());
                req.gzip_level = level.unwrap_or(0);
                req.compress = level.is_some();
                req.mtime = Some(0);
                req.credentials = Credentials {
                    username: Some(harness::USER.into()),
                    password: Some(harness::PASS.into()),
                    docker_config: None,
                };
                let start = Instant::now();
                let report = image::run(&req).unwrap();
                let s = start.elapsed().as_secs_f64();
                best = best.min(s);
                size = report.platforms[0].layer.size;
                println!(
                    "  {dataset} {name} run {i}: {s:.3} s {:?}",
                    report.timings_ms
                );
            }
            println!(
                "RATIO {dataset} {name}: cadkit image {:.0} MiB/s ({best:.3} s, layer {:.1} MiB) vs raw {:.0} MiB/s ({best_raw:.3} s) = {:.0} %",
                mibs(best),
                size as f64 / 1048576.0,
                mibs(best_raw),
                100.0 * best_raw / best
            );
        }
    }
}
