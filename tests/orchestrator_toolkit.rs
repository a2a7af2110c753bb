//! The real `@olympeio/toolkit` 1.2.3 drives `cadkit orchestrator` over a real RabbitMQ
//! broker; plus the broker harness itself (nodes never outlive the test process).

#[path = "common/update.rs"]
mod h;
#[path = "common/orchestrator.rs"]
mod orch;
#[path = "common/rabbit.rs"]
mod rabbit;
#[path = "common/reference.rs"]
mod reference;

use orch::Orchestrator;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run the real toolkit (`npx olympe <args>` of @olympeio/toolkit 1.2.3) against `o`.
fn toolkit(dir: &Path, o: &Orchestrator, args: &[&str]) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(reference::node_modules().join("@olympeio/toolkit/main.js"))
        .args(args)
        .args(o.args())
        .arg("--downloadFolder")
        .arg(dir.join("toolkit-download"))
        .current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("RABBITMQ_") || k.starts_with("ORCHESTRATOR_") || k.starts_with("DRAW_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("node")
}

/// Run the toolkit and require exit 0; its stdout.
fn toolkit_ok(dir: &Path, o: &Orchestrator, args: &[&str]) -> String {
    let start = Instant::now();
    let out = toolkit(dir, o, args);
    eprintln!(
        "toolkit {:?}: {:?} in {:.1?}",
        args,
        out.status.code(),
        start.elapsed()
    );
    assert!(
        out.status.success(),
        "toolkit {args:?} failed ({:?})\nstdout: {}\nstderr: {}\norchestrator log: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        o.log_text()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Put `dist` into the orchestrator's patches folder, as a deployment does, with the rsync
/// change log of what changed.
fn deploy_patches(o: &Orchestrator, dist: &Path) {
    let log = h::itemize(&o.patches, dist);
    let _ = std::fs::remove_dir_all(&o.patches);
    h::copy_dir(dist, &o.patches);
    std::fs::write(o.patches.join("change_log.txt"), log).unwrap();
}

/// A fresh embedded install of `dist` (the reference the orchestrator must equal).
fn fresh_install(dir: &Path, dist: &Path) -> PathBuf {
    let env = dir.join(format!(
        "fresh-{}.sqlite",
        dist.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    cadkit::update::install::install(&cadkit::update::install::InstallOptions::new(&env, dist))
        .unwrap();
    env
}

fn assert_same_graph(orchestrator_env: &Path, reference_env: &Path, what: &str) {
    let a = h::graph(orchestrator_env);
    let b = h::graph(reference_env);
    assert!(
        a == b,
        "{what}: orchestrator env differs from a fresh install: {} ({} vs {} instances)",
        h::first_difference(&a, &b),
        a.instances.len(),
        b.instances.len()
    );
}

#[test]
fn toolkit_installs_and_updates_core_through_cadkit_orchestrator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let d291 = h::core_dist(dir, "2.9.1");
    let broker = rabbit::shared();
    let o = Orchestrator::start(&dir.join("orch"), broker.port, &[]);
    deploy_patches(&o, &d293);
    let fresh293 = fresh_install(dir, &d293);

    let no_backup = [
        "--import.backupUsers",
        "false",
        "--import.backupBusinessData",
        "false",
    ];
    let mut install = vec!["install", "--runningInDocker", "true"];
    install.extend(no_backup);
    toolkit_ok(dir, &o, &install);
    assert_same_graph(&o.env, &fresh293, "install 2.9.3");

    deploy_patches(&o, &d291);
    let mut update = vec!["update", "--runningInDocker", "true"];
    update.extend(no_backup);
    toolkit_ok(dir, &o, &update);
    let fresh291 = fresh_install(dir, &d291);
    assert_same_graph(&o.env, &fresh291, "update 2.9.3 -> 2.9.1");

    deploy_patches(&o, &d293);
    toolkit_ok(dir, &o, &update);
    assert_same_graph(&o.env, &fresh293, "update 2.9.1 -> 2.9.3");
}

/// Runs only inside the child process spawned by `rabbit_node_dies_with_the_test_process`:
/// starts a node, prints its beam pid and folder, and exits without running destructors.
#[test]
fn rabbit_child_helper() {
    if std::env::var_os("CADKIT_RABBIT_CHILD").is_none() {
        return;
    }
    let node = rabbit::RabbitNode::start();
    println!(
        "BEAM {} DIR {}",
        node.beam_pid().expect("pid file"),
        node.dir().display()
    );
    std::process::exit(0);
}

#[test]
fn rabbit_node_dies_with_the_test_process() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rabbit_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CADKIT_RABBIT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("BEAM ").map(|i| &l[i..]))
        .unwrap_or_else(|| {
            panic!(
                "child did not start a node: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut parts = line.split_whitespace();
    let pid: i32 = parts.nth(1).unwrap().parse().unwrap();
    let dir = parts.nth(1).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rabbit::alive(pid) || std::path::Path::new(&dir).exists() {
        assert!(
            Instant::now() < deadline,
            "beam {pid} or folder {dir} outlived its test process"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rabbit_node_stops_and_restarts() {
    let node = rabbit::RabbitNode::start();
    assert!(node.is_up());
    let beam = node.beam_pid().unwrap();
    node.stop();
    assert!(!node.is_up() && !rabbit::alive(beam));
    node.restart();
    assert!(node.is_up());
    let dir = node.dir().to_path_buf();
    let beam = node.beam_pid().unwrap();
    drop(node);
    assert!(!rabbit::alive(beam));
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(Instant::now() < deadline, "folder left behind");
        std::thread::sleep(Duration::from_millis(50));
    }
}
