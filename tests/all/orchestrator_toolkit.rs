//! The real `@olympeio/toolkit` 1.2.3 drives `cadkit orchestrator` over a real RabbitMQ
//! broker; plus the broker harness itself (nodes never outlive the test process).

use crate::common::orchestrator as orch;
use crate::common::rabbit;
use crate::common::reference;
use crate::common::update as h;

use orch::{amqp_command, amqp_command_to, http, status, Orchestrator};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run the real toolkit (`npx olympe <args>` of @olympeio/toolkit 1.2.3) against `o`.
fn toolkit(dir: &Path, o: &Orchestrator, args: &[&str]) -> Output {
    let mut cmd = Command::new("node");
    // Commands without the orchestrator option group reject `--orchestrator.*`.
    let with_http = matches!(
        args[0],
        "install" | "update" | "maintenance" | "getUpgradeConfig" | "createPatchesBackup"
    );
    let conn: Vec<String> = o
        .args()
        .chunks(2)
        .filter(|kv| with_http || kv[0].starts_with("--bus."))
        .flatten()
        .cloned()
        .collect();
    cmd.arg(reference::node_modules().join("@olympeio/toolkit/main.js"))
        .args(args)
        .args(conn)
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
    cadkit::env::sqlite::installer::install(&env, &cadkit::env::InstallSpec::new(dist)).unwrap();
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
    assert!(
        h::graph(&fresh291) != h::graph(&fresh293),
        "2.9.1 and 2.9.3 must differ for this test to mean anything"
    );
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
            "orchestrator_toolkit::rabbit_child_helper",
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

/// A user patch as `snapshotUsers` leaves it in the backup area.
const USER_PATCH: &str = r#"{"rootTag":"0190000000000000beef","operations":[{"o":1,"t":"0190000000000000beef","p":{"ff023000000000000001":"restored-user"}},{"o":4,"m":"ff022000000000000000","l":"0190000000000000beef","r":"ff021000000000000003"}],"optionalOperations":[]}"#;

#[test]
fn toolkit_environment_commands_through_cadkit_orchestrator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d293 = h::core_dist(dir, "2.9.3");
    let broker = rabbit::shared();
    let mut o = Orchestrator::start(&dir.join("orch"), broker.port, &[]);
    deploy_patches(&o, &d293);

    assert!(toolkit_ok(dir, &o, &["isDbInitialized"]).contains("false"));
    let no_backup = [
        "--import.backupUsers",
        "false",
        "--import.backupBusinessData",
        "false",
    ];
    let mut install = vec!["install", "--runningInDocker", "true"];
    install.extend(no_backup);
    toolkit_ok(dir, &o, &install);
    assert!(toolkit_ok(dir, &o, &["isDbInitialized"]).contains("true"));

    // Maintenance: the probes and graphDef endpoints follow the mode.
    toolkit_ok(dir, &o, &["maintenance", "true"]);
    assert_eq!(status("OPTIONS", &o, "maintenance/", None), 200);
    assert_eq!(status("OPTIONS", &o, "", None), 503);
    toolkit_ok(dir, &o, &["maintenance", "false"]);
    assert_eq!(status("OPTIONS", &o, "maintenance/", None), 503);
    assert_eq!(status("OPTIONS", &o, "", None), 200);

    toolkit_ok(dir, &o, &["codeAsDataReadMode", "true"]);
    toolkit_ok(dir, &o, &["codeAsDataReadMode", "false"]);
    toolkit_ok(dir, &o, &["broadcastRefreshApp"]);
    toolkit_ok(dir, &o, &["clearGraphDefCache"]);
    toolkit_ok(dir, &o, &["createPatchesBackup"]);
    let rollback: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.backup.join("rollbackVersion.json")).unwrap())
            .unwrap();
    let zip = rollback["rollbackFile"].as_str().unwrap();
    assert!(o.backup.join(zip).is_file(), "patch backup {zip} written");
    toolkit_ok(dir, &o, &["checkDB"]);
    toolkit_ok(dir, &o, &["statsDB"]);
    toolkit_ok(dir, &o, &["startGC"]);
    let upgrade = toolkit_ok(dir, &o, &["getUpgradeConfig"]);
    let json_line = upgrade
        .lines()
        .find(|l| l.starts_with("[{"))
        .expect("JSON on stdout");
    assert!(serde_json::from_str::<serde_json::Value>(json_line)
        .unwrap()
        .is_array());

    let secret = "s3cr3t-Pa55word";
    toolkit_ok(dir, &o, &["updateUser", "--user.password", secret]);
    let env = cadkit::env::SqliteEnv::open(&o.env).unwrap();
    let creds: i64 = env
        .conn()
        .query_row(
            "SELECT count(*) FROM cadkit_credentials WHERE tag = '014831d95fd7d12b8568'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(creds, 1, "updateUser set the admin's password");

    std::fs::create_dir_all(o.backup.join("users")).unwrap();
    std::fs::write(o.backup.join("users/restored.newInst.json"), USER_PATCH).unwrap();
    toolkit_ok(dir, &o, &["restoreUsers"]);
    let g = h::graph(&o.env);
    assert_eq!(
        g.instances["0190000000000000beef"]["ff023000000000000001"],
        "restored-user"
    );

    // What the toolkit sent, as recorded: every command, no secret.
    let recorded = std::fs::read_to_string(&o.record).unwrap();
    assert!(
        !recorded.contains(secret),
        "the password must not be recorded"
    );
    let commands: Vec<String> = o
        .recorded()
        .iter()
        .filter_map(|e| {
            e.pointer("/body/payload/content/command")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .collect();
    for c in [
        "checkIfNodesExist",
        "resetDB",
        "load",
        "setPassword",
        "checkDB",
        "statsDB",
        "startGC",
        "createToken",
    ] {
        assert!(
            commands.iter().any(|x| x == c),
            "{c} not recorded: {commands:?}"
        );
    }
    assert!(
        !o.log_text().contains(secret),
        "the password must not be logged"
    );
    let downloads: Vec<_> = o
        .recorded()
        .into_iter()
        .filter(|e| {
            e["kind"] == "http" && e["path"].as_str().unwrap().contains("/rest/filesvc/patch/")
        })
        .collect();
    assert!(!downloads.is_empty());
    assert!(downloads.iter().all(|e| e["authorization"] == "<token>"));
    assert!(o.stop().success());
}

#[test]
fn http_needs_a_token_and_unknown_commands_get_the_real_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = rabbit::shared();
    let o = Orchestrator::start(tmp.path(), broker.port, &[]);
    assert_eq!(status("GET", &o, "rest/version", None), 200);
    assert_eq!(status("GET", &o, "rest/database", None), 200);
    assert_eq!(
        status(
            "GET",
            &o,
            "rest/filesvc/patch/import_order.json?backup=false",
            None
        ),
        401
    );
    assert_eq!(
        status("POST", &o, "rest/querysvc/graphDef", Some("not-a-token")),
        401
    );
    assert_eq!(
        status("POST", &o, "rest/querysvc/graphDef/maintenance", None),
        404
    );

    // Talk AMQP directly: createToken, then an unknown command.
    let token = amqp_command(&broker.url(), &o.exchange, "createToken", 0).unwrap();
    let unknown = amqp_command(&broker.url(), &o.exchange, "frobnicate", 1).unwrap();
    assert_eq!(token.len(), 2, "{token:?}");
    assert_eq!(token[1], "Command finished with status code: 0");
    assert!(unknown[0].contains("Unknown command"), "{unknown:?}");
    assert_eq!(
        unknown.last().unwrap(),
        "Command finished with status code: 1"
    );
    assert_eq!(
        status("POST", &o, "rest/querysvc/graphDef", Some(&token[0])),
        200
    );
    assert_eq!(
        status(
            "GET",
            &o,
            "rest/filesvc/patch/nothing.json?backup=true",
            Some(&token[0])
        ),
        404
    );
}

#[test]
fn a_preview_orchestrator_answers_on_its_role_routing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = rabbit::shared();
    let o = Orchestrator::start(tmp.path(), broker.port, &["--orchestrator.role", "preview"]);
    let version: serde_json::Value = http()
        .get(format!(
            "http://127.0.0.1:{}/OlympeServer/rest/version",
            o.http_port
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(version["role"], "preview");
    let lines = amqp_command_to(
        &broker.url(),
        &o.exchange,
        "COMMAND_ROUTING_KEY_preview",
        "statsDB",
        7,
    )
    .expect("answer on the role's routing key");
    assert_eq!(
        lines.last().unwrap(),
        "Command finished with status code: 0"
    );
}

#[test]
fn orchestrator_reconnects_after_a_broker_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let node = rabbit::RabbitNode::start();
    let o = Orchestrator::start(tmp.path(), node.port, &[]);
    let first =
        amqp_command(&node.url(), &o.exchange, "statsDB", 0).expect("answer before restart");
    assert_eq!(
        first.last().unwrap(),
        "Command finished with status code: 0"
    );
    node.restart();
    // The server notices the lost connection and declares everything again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 1;
    loop {
        if let Some(lines) = amqp_command(&node.url(), &o.exchange, "statsDB", n) {
            assert_eq!(
                lines.last().unwrap(),
                "Command finished with status code: 0"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer after the restart: {}",
            o.log_text()
        );
        n += 1;
    }
}

#[test]
fn orchestrator_waits_for_its_broker_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tmp.path().join("log");
    let child = Command::new(orch::CADKIT)
        .arg("orchestrator")
        .arg("--env")
        .arg(tmp.path().join("env.sqlite"))
        .arg("--orchestrator.codeAsDataDir")
        .arg(tmp.path().join("patches"))
        .args([
            "--bus.hostname",
            "127.0.0.1",
            "--bus.port",
            &closed.to_string(),
        ])
        .args([
            "--bus.password",
            "bus-Secret-42",
            "--orchestrator.port",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).unwrap().contains("retrying") {
        assert!(
            Instant::now() < deadline,
            "no retry message: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(out.status.success(), "{:?}: {text}", out.status);
    assert!(text.contains(&format!("127.0.0.1:{closed}")), "{text}");
    assert!(
        !text.contains("bus-Secret-42"),
        "password in the log: {text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["commands"], 0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("bus-Secret-42"));
}
