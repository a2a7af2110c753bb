//! Snapshot-to-git figures against a local lighttpd + git http-backend (basic auth):
//! first commit of a large snapshot, an unchanged run, a one-file change, shallow vs full
//! clone after some history, and 8 racing writers. Prints times; not a timed test.
//!
//!     cargo bench --bench snapshot_git            (release)
//!     cargo bench --bench snapshot_git --profile dev

// A benchmark program: helpers are `pub` for the harness files it includes, and it fails
// fast with `unwrap` (the crate-wide lints in Cargo.toml are for the library).
#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/all/common/gitserver.rs"]
mod gitserver;

use cadkit::git::{self, SnapshotGitOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const FILES: usize = 2000;

fn write_files(dir: &Path, generation: usize, changed: usize) -> anyhow::Result<()> {
    for i in 0..FILES {
        let sub = dir.join(format!("d{:02}", i % 20));
        std::fs::create_dir_all(&sub)?;
        let g = if i < changed { generation } else { 0 };
        let body = format!(
            "{{\n    \"id\": \"{i:020}\",\n    \"generation\": {g},\n    \"payload\": \"{}\"\n}}\n",
            "x".repeat(200)
        );
        // Change-only writes, as the dumper does.
        let path = sub.join(format!("f{i:05}.json"));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(body.as_str()) {
            std::fs::write(path, body)?;
        }
    }
    Ok(())
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn main() {
    if std::env::var_os("BENCH_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::stderr)
            .init();
    }
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let server = gitserver::GitServer::start("bench", "bench-token");
    server.create_repo("b", "develop");
    let repos = tempfile::tempdir().unwrap();
    let mut opts = SnapshotGitOptions::new(
        "b",
        &server.url_with("b", "bench", "bench-token"),
        "snapshot",
        repos.path(),
    );
    opts.backoff.base = Duration::from_millis(50);
    opts.backoff.max = Duration::from_secs(2);

    let (r, t) = timed(|| git::snapshot_and_push(&opts, |d| write_files(d, 0, 0)).unwrap());
    println!(
        "first snapshot, {} files added, commit + push: {:>8.1} ms",
        r.files.added.len(),
        t.as_secs_f64() * 1e3
    );
    for reuse in [false, true] {
        let mut o = opts.clone();
        o.reuse_clone = reuse;
        let (r, t) = timed(|| git::snapshot_and_push(&o, |d| write_files(d, 0, 0)).unwrap());
        assert!(!r.changed);
        println!(
            "unchanged run ({}, rewrite, compare, no commit): {:>8.1} ms",
            if reuse { "reused clone" } else { "fresh clone" },
            t.as_secs_f64() * 1e3
        );
    }
    let (r, t) = timed(|| git::snapshot_and_push(&opts, |d| write_files(d, 1, 1)).unwrap());
    assert_eq!(r.files.changed.len(), 1);
    println!(
        "one file changed, commit + push: {:>8.1} ms",
        t.as_secs_f64() * 1e3
    );

    if quick {
        return;
    }
    // History: 10 commits rewriting 500 files each.
    let (_, t) = timed(|| {
        for g in 2..12 {
            git::snapshot_and_push(&opts, |d| write_files(d, g, 500)).unwrap();
        }
    });
    println!(
        "10 commits of 500 changed files (reused clone): {:>8.1} ms ({:.1} ms each)",
        t.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3 / 10.0
    );
    for depth in [1, 0] {
        let mut o = opts.clone();
        o.depth = depth;
        o.reuse_clone = false;
        let (r, t) = timed(|| git::snapshot_and_push(&o, |d| write_files(d, 11, 500)).unwrap());
        assert!(!r.changed);
        let size = dir_size(&repos.path().join("b/.git"));
        println!(
            "unchanged run, depth {depth} ({}): {:>8.1} ms, .git {:.1} MiB",
            if depth == 0 { "full" } else { "shallow" },
            t.as_secs_f64() * 1e3,
            size as f64 / 1048576.0
        );
    }

    // 8 racing writers, each adding its own file and rewriting a shared derived one.
    server.create_repo("race", "develop");
    let (attempts, t) = timed(|| {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let server = &server;
                    s.spawn(move || {
                        let dir = tempfile::tempdir().unwrap();
                        let mut o = SnapshotGitOptions::new(
                            "race",
                            &server.url_with("race", "bench", "bench-token"),
                            "snapshot",
                            dir.path(),
                        );
                        o.backoff.base = Duration::from_millis(50);
                        git::snapshot_and_push(&o, |d| {
                            std::fs::write(d.join(format!("p{i}.json")), format!("{i}\n"))?;
                            let n = std::fs::read_dir(d)?.count();
                            std::fs::write(d.join("count.json"), format!("{n}\n"))?;
                            Ok(())
                        })
                        .unwrap()
                        .attempts
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<u32>>()
        })
    });
    println!(
        "8 racing writers: {:>8.1} ms wall, attempts {attempts:?} (total {})",
        t.as_secs_f64() * 1e3,
        attempts.iter().sum::<u32>()
    );
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
