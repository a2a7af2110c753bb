//! Benchmark (not a test): the real toolkit's `update` and cadkit's `update` against the
//! same kind of reference orchestrator (`cadkit orchestrator` over a real RabbitMQ), on
//! - a 10-root change in a synthetic environment of ~100k instances, and
//! - `@olympeio/core` 2.9.3 → 2.9.1;
//!
//! plus cadkit's snapshot of the 100k environment through the orchestrator (graphDef).
//! Prints the times and the toolkit/cadkit ratio (target ≥ 10×; snapshot ≤ 5 s).
//!
//! `cargo bench --bench orchestrator` (`CADKIT_BENCH_INSTANCES`, default 100000,
//! `CADKIT_BENCH_ONLY=cadkit|toolkit`, `CADKIT_BENCH_VERBOSE=1`, `CADKIT_BENCH_KEEP=1`,
//! `CADKIT_BENCH_WRAP`, `CADKIT_BENCH_PLAN_LOOP`, `CADKIT_BENCH_HOLD`,
//! `CADKIT_BENCH_SCENARIOS=synthetic,snapshot,core` to run some of them; without
//! `--bench` it runs on 3,000 instances). Needs `scripts/setup` (rabbitmq-server, node and
//! the reference packages).

#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/all/common/update.rs"]
mod h;
#[path = "../tests/all/common/orchestrator.rs"]
mod orch;
#[path = "../tests/all/common/rabbit.rs"]
mod rabbit;
#[allow(dead_code)]
#[path = "../tests/all/common/reference.rs"]
mod reference;

use cadkit::graph::Graph;
use cadkit::patch::FileKind;
use cadkit::snapshot::{self, synth, DumpConfig};
use orch::Orchestrator;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const NO_BACKUP: [&str; 4] = [
    "--import.backupUsers",
    "false",
    "--import.backupBusinessData",
    "false",
];

fn clean(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("RABBITMQ_")
            || k.starts_with("ORCHESTRATOR_")
            || k.starts_with("CADKIT_")
            || k.starts_with("DRAW_")
        {
            cmd.env_remove(k);
        }
    }
}

fn run(mut cmd: Command, what: &str, o: &Orchestrator) -> f64 {
    clean(&mut cmd);
    let logged = o.log_text().len();
    // The setup writes and deletes tens of thousands of files: flush them first, so the
    // kernel's writeback of the setup does not run during the timed command.
    Command::new("sync").status().unwrap();
    let t = Instant::now();
    let out = cmd.output().expect(what);
    let s = t.elapsed().as_secs_f64();
    if std::env::var_os("CADKIT_BENCH_VERBOSE").is_some() {
        eprintln!("{what}:\n{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("orchestrator meanwhile:\n{}", &o.log_text()[logged..]);
    }
    assert!(
        out.status.success(),
        "{what}: {}{}\norchestrator: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        o.log_text()
    );
    s
}

fn toolkit(dir: &Path, o: &Orchestrator, args: &[&str]) -> f64 {
    let mut c = Command::new("node");
    c.arg(reference::node_modules().join("@olympeio/toolkit/main.js"))
        .args(args)
        .args(o.args())
        .arg("--downloadFolder")
        .arg(dir.join("toolkit-download"))
        .current_dir(dir);
    run(c, &format!("toolkit {args:?}"), o)
}

fn cadkit(dir: &Path, o: &Orchestrator, args: &[&str]) -> f64 {
    // CADKIT_BENCH_WRAP="perf record -a -g -o /tmp/{}.data --": run cadkit's commands under
    // a profiler (`-a` sees the orchestrator's work too); `{}` becomes `<n>-<command>`.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let wrap = std::env::var("CADKIT_BENCH_WRAP")
        .unwrap_or_default()
        .replace("{}", &format!("{n}-{}", args[0]));
    let mut words = wrap.split_whitespace();
    let mut c = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(orch::CADKIT);
            c
        }
        None => Command::new(orch::CADKIT),
    };
    c.args(args)
        .args(o.args())
        .arg("--downloadFolder")
        .arg(dir.join("cadkit-download"))
        .current_dir(dir);
    run(c, &format!("cadkit {args:?}"), o)
}

/// A dist of the synthetic environment: its data model as one module, its projects as
/// another (dumped by the snapshot dumper), `edited` roots with a changed name.
fn synth_dist(dir: &Path, core: &Path, n: usize, edited: usize) -> PathBuf {
    let spec = synth::Spec::with_instances(n);
    let mut g = Graph::new();
    for op in synth::operations(&spec) {
        g.apply(&op);
    }
    let dist = dir.join(format!("synth-{edited}"));
    let out = dir.join(format!("dump-{edited}"));
    let config = DumpConfig {
        name: "synth".into(),
        root_tags: vec![cadkit::patch::tags::HOME.into()],
        exclude: vec![],
        path_override: vec![],
    };
    snapshot::dump(&g, &config, &out).unwrap();
    // On top of Core and its runtime (the data model, the admin user).
    h::copy_dir(core, &dist);
    h::copy_dir(
        &out.join(cadkit::patch::tags::HOME).join("Home"),
        &dist.join("synth"),
    );
    let order_file = dist.join("import_order.json");
    let mut order: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&order_file).unwrap()).unwrap();
    order.as_array_mut().unwrap().push(serde_json::json!(
        {"name": "synth", "rootTag": cadkit::patch::tags::HOME, "path": "synth"}
    ));
    std::fs::write(&order_file, order.to_string()).unwrap();
    let mut items: Vec<PathBuf> = walkdir::WalkDir::new(dist.join("synth"))
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| FileKind::of_path(e.path()) == Some(FileKind::NewInst))
        .map(|e| e.into_path())
        .collect();
    items.retain(|p| p.components().count() > dist.components().count() + 4);
    for p in items
        .iter()
        .step_by((items.len() / edited.max(1)).max(1))
        .take(edited)
    {
        let text = std::fs::read_to_string(p).unwrap();
        let edited_text = text.replacen(
            "\"ff023000000000000011\": \"",
            "\"ff023000000000000011\": \"edited ",
            1,
        );
        std::fs::write(p, edited_text).unwrap();
    }
    dist
}

/// Put `dist` in the orchestrator's patches folder as `rsync` does, with its change log:
/// new and changed files written, removed files deleted, the others left untouched.
fn deploy(o: &Orchestrator, dist: &Path) {
    let log = h::itemize(&o.patches, dist);
    let files = |d: &Path| -> std::collections::BTreeSet<PathBuf> {
        walkdir::WalkDir::new(d)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(d).unwrap().to_path_buf())
            .collect()
    };
    let (old, new) = (files(&o.patches), files(dist));
    for gone in old.difference(&new) {
        std::fs::remove_file(o.patches.join(gone)).unwrap();
    }
    for f in &new {
        let (from, to) = (dist.join(f), o.patches.join(f));
        let bytes = std::fs::read(&from).unwrap();
        if std::fs::read(&to).ok().as_deref() != Some(&bytes[..]) {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(&to, bytes).unwrap();
        }
    }
    std::fs::write(o.patches.join("change_log.txt"), log).unwrap();
}

/// `CADKIT_BENCH_PLAN_LOOP=n`: time cadkit's `update --plan` (the read and the plan, which
/// change nothing) n times before the timed update, to profile that part alone.
fn plan_loop(dir: &Path, o: &Orchestrator, work: &Path) {
    let n: usize = std::env::var("CADKIT_BENCH_PLAN_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // CADKIT_BENCH_HOLD=<file>: write the command line of `update --plan` to <file> and
    // wait until it is deleted, to run it by hand against this orchestrator.
    if let Some(hold) = std::env::var_os("CADKIT_BENCH_HOLD") {
        let hold = PathBuf::from(hold);
        let mut line = format!(
            "{} update --plan --codeAsData.workingDir '{}'",
            orch::CADKIT,
            work.display()
        );
        for a in o.args() {
            line.push_str(&format!(" {a}"));
        }
        std::fs::write(&hold, line).unwrap();
        while hold.exists() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    for _ in 0..n {
        let mut c = Command::new(orch::CADKIT);
        c.args(["update", "--plan", "--codeAsData.workingDir"])
            .arg(work)
            .args(o.args())
            .arg("--downloadFolder")
            .arg(dir.join("cadkit-download"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        clean(&mut c);
        Command::new("sync").status().unwrap();
        let t = Instant::now();
        // The exit status says whether the plan changes something: not checked.
        c.status().unwrap();
        println!("  update --plan: {:.3} s", t.elapsed().as_secs_f64());
    }
}

/// Toolkit and cadkit update from `from` to `to`, each on its own orchestrator.
fn compare(dir: &Path, port: u16, name: &str, from: &Path, to: &Path) -> (f64, f64) {
    let mut times = Vec::new();
    // CADKIT_BENCH_ONLY=cadkit: skip the toolkit (quicker when working on cadkit's side).
    let only = std::env::var("CADKIT_BENCH_ONLY").unwrap_or_default();
    for who in ["toolkit", "cadkit"] {
        if !only.is_empty() && only != who {
            times.push(f64::NAN);
            continue;
        }
        let o = Orchestrator::start(&dir.join(format!("{name}-{who}")), port, &[]);
        deploy(&o, from);
        let mut install = vec!["install", "--runningInDocker", "true"];
        install.extend(NO_BACKUP);
        cadkit(dir, &o, &install);
        deploy(&o, to);
        let t = if who == "toolkit" {
            let mut a = vec!["update", "--runningInDocker", "true"];
            a.extend(NO_BACKUP);
            toolkit(dir, &o, &a)
        } else {
            // The build with its change log, as a pipeline has it.
            let work = dir.join(format!("{name}-dist"));
            h::copy_dir(to, &work);
            std::fs::write(work.join("change_log.txt"), h::itemize(from, to)).unwrap();
            plan_loop(dir, &o, &work);
            cadkit(
                dir,
                &o,
                &["update", "--codeAsData.workingDir", work.to_str().unwrap()],
            )
        };
        times.push(t);
    }
    println!(
        "{name}: toolkit {:.2} s, cadkit {:.2} s, ratio {:.1}x",
        times[0],
        times[1],
        times[0] / times[1]
    );
    (times[0], times[1])
}

/// cadkit's snapshot of the synthetic environment through the orchestrator.
fn snapshot_scenario(dir: &Path, port: u16, base: &Path, n: usize) {
    let o = Orchestrator::start(&dir.join("snap"), port, &[]);
    deploy(&o, base);
    let mut install = vec!["install", "--runningInDocker", "true"];
    install.extend(NO_BACKUP);
    cadkit(dir, &o, &install);
    // A scheduled snapshot meets a settled orchestrator: the reference server reads its
    // graph anew in the background after the install's writes, and the first query
    // would wait for that. An untimed read-only query lets it settle first.
    // (`update --plan` reads the structure; its exit status says whether it found changes.)
    let mut settle = Command::new(orch::CADKIT);
    settle
        .args(["update", "--plan", "--codeAsData.workingDir"])
        .arg(base)
        .args(o.args())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    clean(&mut settle);
    settle.status().unwrap();
    let cfg = dir.join("snapshot-config.json");
    std::fs::write(
        &cfg,
        r#"{"snapshooter":{"name":"all","rootTags":["10000000000000000000"],"exclude":[]}}"#,
    )
    .unwrap();
    let out = dir.join("snap-out");
    let s = cadkit(
        dir,
        &o,
        &[
            "snapshot",
            "--snapshot.config",
            cfg.to_str().unwrap(),
            "--snapshot.dir",
            out.to_str().unwrap(),
        ],
    );
    println!("snapshot of ~{n} instances through the orchestrator: {s:.2} s");
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("CADKIT_BENCH_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 100_000 } else { 3_000 });
    // CADKIT_BENCH_SCENARIOS=core: run only the scenarios named (all by default).
    let only = std::env::var("CADKIT_BENCH_SCENARIOS").unwrap_or_default();
    let runs = |s: &str| only.is_empty() || only.split(',').any(|o| o.trim() == s);
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().to_path_buf();
    let node = rabbit::RabbitNode::start();
    let d293 = h::core_dist(dir, "2.9.3");
    let d291 = h::core_dist(dir, "2.9.1");
    if runs("synthetic") || runs("snapshot") {
        let base = synth_dist(dir, &d293, n, 0);
        if runs("synthetic") {
            let changed = synth_dist(dir, &d293, n, 10);
            println!("synthetic environment: ~{n} instances, 10 roots changed");
            compare(dir, node.port, "10-root change", &base, &changed);
        }
        if runs("snapshot") {
            snapshot_scenario(dir, node.port, &base, n);
        }
    }
    if runs("core") {
        compare(dir, node.port, "core 2.9.3 -> 2.9.1", &d293, &d291);
    }
    // CADKIT_BENCH_KEEP=1: keep the builds (`synth-0`, `synth-10`, `dist-<version>`) to
    // profile one step alone.
    if std::env::var_os("CADKIT_BENCH_KEEP").is_some() {
        println!("builds kept in {}", tmp.keep().display());
    }
}
