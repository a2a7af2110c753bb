//! Benchmark: a 100 MB folder assembled into a layer and pushed over loopback by
//! `cadkit image`, against a raw upload of a blob of the same size to the same registry
//! (the limit: one monolithic POST+PUT, digest computed beforehand and not timed).
//!
//! `cargo bench --bench image` (release build). `BENCH_MB` changes the size. Prints the
//! throughputs and the ratio cadkit / raw for each gzip level (target: ≥ 80 % at the level
//! chosen for speed).

#[path = "../tests/common/image.rs"]
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
        .args(["-s", "-i", "-X", "POST", "-u", &harness::creds()])
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
            &harness::creds(),
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

fn main() {
    let mb: usize = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let reg = harness::TestRegistry::start();
    let t = tempfile::tempdir().unwrap();
    let folder = t.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    // 100 files of 1 MiB of incompressible data: the worst case for gzip.
    for i in 0..mb {
        let sub = folder.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join(format!("f{i:03}.bin")),
            random_bytes(1 << 20, i as u64 + 7),
        )
        .unwrap();
    }
    let total = (mb << 20) as f64;
    let raw = random_bytes(mb << 20, 999);
    let raw_file = t.path().join("raw.bin");
    std::fs::write(&raw_file, &raw).unwrap();
    let raw_digest = cadkit::image::layer::digest_of(&raw);

    let mut best_raw = f64::MAX;
    for i in 0..3 {
        let s = raw_upload(&reg.host, &format!("bench/raw{i}"), &raw);
        best_raw = best_raw.min(s);
        println!(
            "raw upload (reqwest)  {mb} MiB: {s:.3} s  {:.0} MiB/s",
            total / s / 1048576.0
        );
    }
    // curl re-uploads the same blob into new repos (the registry still receives every byte).
    for i in 0..3 {
        if let Some(s) = curl_upload(&reg.host, &format!("bench/curl{i}"), &raw_file, &raw_digest) {
            best_raw = best_raw.min(s);
            println!(
                "raw upload (curl)     {mb} MiB: {s:.3} s  {:.0} MiB/s",
                total / s / 1048576.0
            );
        }
    }
    let raw_tp = total / best_raw;
    println!("raw limit: {:.0} MiB/s", raw_tp / 1048576.0);

    for level in [0u32, 1, 6] {
        let mut best = f64::MAX;
        let mut size = 0;
        for i in 0..3 {
            let mut req = ImageRequest::new(
                Kind::Custom,
                "scratch",
                &format!("{}/bench/img-l{level}-{i}:1", reg.host),
            );
            req.source = Some(folder.clone());
            req.dest = Some("/data".into());
            req.owner = Some("0:0".into());
            req.gzip_level = level;
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
                "cadkit image gzip -{level} {mb} MiB: {s:.3} s  {:.0} MiB/s (layer {:.1} MiB)",
                total / s / 1048576.0,
                size as f64 / 1048576.0
            );
        }
        println!(
            "RATIO gzip -{level}: cadkit {:.0} MiB/s vs raw {:.0} MiB/s = {:.0} % (layer {:.1} MiB)",
            total / best / 1048576.0,
            raw_tp / 1048576.0,
            100.0 * (total / best) / raw_tp,
            size as f64 / 1048576.0
        );
    }
}
