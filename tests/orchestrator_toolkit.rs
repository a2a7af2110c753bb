//! The real `@olympeio/toolkit` 1.2.3 drives `cadkit orchestrator` over a real RabbitMQ
//! broker; plus the broker harness itself (nodes never outlive the test process).

#[path = "common/rabbit.rs"]
mod rabbit;

use std::process::Command;
use std::time::{Duration, Instant};

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
