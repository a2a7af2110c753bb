//! cadkit's orchestrator client over a real RabbitMQ broker: selection of the
//! environment, the toolkit's message bodies, and the failure paths (broker down, broker
//! restarted mid-command, unknown command, failing command, timeout), with secrets
//! nowhere in the output even at the most verbose log level.
//!
//! The orchestrator side here is a scripted AMQP peer on the real broker (it answers each
//! command with chosen reply lines), so every fault can be produced on purpose.

use crate::common::rabbit;

use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn cadkit() -> Command {
    let mut c = crate::common::cadkit();
    for (k, _) in std::env::vars() {
        if k.starts_with("RABBITMQ_") || k.starts_with("ORCHESTRATOR_") || k.starts_with("CADKIT_")
        {
            c.env_remove(k);
        }
    }
    c
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What the scripted orchestrator answers to a command name.
type Script = Arc<dyn Fn(&str) -> Option<Vec<String>> + Send + Sync>;

/// A scripted orchestrator: consumes commands on an exchange of its own (tests share one
/// broker: on the toolkit's default exchange, a peer would also record the commands of a
/// test running beside it) with the toolkit's routing key, records each body, answers with
/// the script's lines (None = never answers).
struct Peer {
    bodies: Arc<Mutex<Vec<Value>>>,
    exchange: String,
    _rt: tokio::runtime::Runtime,
}

static PEERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn peer(port: u16, script: Script) -> Peer {
    let n = PEERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let exchange = format!("REQUEST_EXCHANGE_P{}_{n}", std::process::id());
    let ex = exchange.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = bodies.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let conn = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.exchange_declare(
            ex.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let q = ch
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        for key in ["COMMAND_ROUTING_KEY", "SERVICE_DEPLOYMENT_ROUTING_KEY"] {
            ch.queue_bind(
                q.name().clone(),
                ex.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        }
        let mut consumer = ch
            .basic_consume(
                q.name().clone(),
                "peer".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        tx.send(()).unwrap();
        let _keep = conn;
        while let Some(Ok(d)) = consumer.next().await {
            let v: Value = serde_json::from_slice(&d.data).unwrap();
            b.lock().unwrap().push(v.clone());
            let content = &v["payload"]["content"];
            let (Some(name), Some(reply)) =
                (content["command"].as_str(), content["replyQueue"].as_str())
            else {
                continue;
            };
            let Some(lines) = script(name) else { continue };
            for l in lines {
                ch.basic_publish(
                    "".into(),
                    reply.into(),
                    BasicPublishOptions::default(),
                    l.as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap();
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("peer ready");
    Peer {
        bodies,
        exchange,
        _rt: rt,
    }
}

fn ok_script() -> Script {
    Arc::new(|name: &str| {
        let mut lines = match name {
            "checkIfNodesExist" => {
                vec![r#"{"014831d95fd7d12b8568":true,"10000000000000000001":true}"#.to_string()]
            }
            "createToken" => vec!["tok-SECRET-123".to_string()],
            "statsDB" => vec!["instances: 42".to_string()],
            "neverAnswered" => return None,
            _ => vec![],
        };
        lines.push("Command finished with status code: 0".into());
        Some(lines)
    })
}

/// cadkit's options for the peer `p` on the broker at `port`.
fn bus_args(port: u16, p: &Peer) -> Vec<String> {
    vec![
        "--bus.commandsExchange".into(),
        p.exchange.clone(),
        "--bus.hostname".into(),
        "127.0.0.1".into(),
        "--bus.port".into(),
        port.to_string(),
        "--orchestrator.host".into(),
        "127.0.0.1".into(),
        "--orchestrator.port".into(),
        closed_port().to_string(),
    ]
}

#[test]
fn orchestrator_variables_never_fall_back_to_a_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let started = Instant::now();
    let out = cadkit()
        .current_dir(dir.path())
        .args(["maintenance", "true"])
        .env("RABBITMQ_HOST", "127.0.0.1")
        .env("RABBITMQ_PORT", port.to_string())
        .env("RABBITMQ_ORCHESTRATOR_PASSWORD", "bus-PW-never-shown")
        .env("ORCHESTRATOR_HOST", "127.0.0.1")
        .env("CADKIT_BUS_CONNECT_RETRIES", "2")
        .env("CADKIT_BUS_CONNECT_RETRY_DELAY", "100")
        .args(["-l", "debug"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("127.0.0.1:{port}")),
        "names host and port: {t}"
    );
    assert!(t.contains("3 attempt(s)"), "bounded retries: {t}");
    assert!(!t.contains("bus-PW-never-shown"), "{t}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no local file: {left:?}");
}

#[test]
fn embedded_and_orchestrator_at_once_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = cadkit()
        .current_dir(dir.path())
        .args(["statsDB", "--env", "x.sqlite", "-bh", "127.0.0.1"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("keep only one"), "{t}");
    assert!(!dir.path().join("x.sqlite").exists());
}

fn content_without_queue(v: &Value) -> Value {
    let mut v = v.clone();
    let q = v["payload"]["content"]
        .as_object_mut()
        .unwrap()
        .remove("replyQueue");
    if let Some(q) = q {
        assert!(
            q.as_str()
                .unwrap()
                .starts_with("OLYMPE_TOOLKIT_REPLY_QUEUE_"),
            "{q}"
        );
    }
    v
}

#[test]
fn env_commands_send_the_toolkit_bodies() {
    let node = rabbit::shared();
    let p = peer(node.port, ok_script());
    let run = |args: &[&str]| {
        let mut c = cadkit();
        c.args(args)
            .args(bus_args(node.port, &p))
            .args(["-l", "debug"]);
        let out = c.output().unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{args:?}: {t}");
        assert!(!t.contains("pw-S3cret"), "{t}");
        assert!(!t.contains("tok-SECRET-123"), "{t}");
        out
    };
    // Each orchestrator report matches its committed schema (the orchestrator shape).
    let checked = |args: &[&str]| {
        let v: Value = serde_json::from_slice(&run(args).stdout).unwrap();
        crate::schema::check(args[0], &v);
        v
    };
    let v = checked(&["statsDB"]);
    assert_eq!(v["lines"], json!(["instances: 42"]));
    assert_eq!(v["environment"]["kind"], "orchestrator");
    checked(&["checkDB"]);
    checked(&["startGC"]);
    checked(&["clearGraphDefCache"]);
    checked(&["broadcastRefreshApp"]);
    checked(&["codeAsDataReadMode", "true"]);
    checked(&[
        "updateUser",
        "--user.password",
        "pw-S3cret",
        "--user.name",
        "ops",
    ]);
    let out = run(&["isDbInitialized"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    let got: Vec<Value> = p
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(content_without_queue)
        .collect();
    let cmd = |c: Value| json!({"messageFamily": 0, "payload": {"c": 16, "content": c}});
    let expected = vec![
        cmd(json!({"command": "statsDB"})),
        cmd(json!({"command": "checkDB"})),
        cmd(
            json!({"command": "startGC", "fileSvc": true, "backupSvc": true, "backupFolder": false, "sessions": false, "jvm": false, "subscriptions": false, "graphDefCache": false}),
        ),
        cmd(
            json!({"command": "startGC", "fileSvc": false, "backupSvc": false, "backupFolder": false, "sessions": false, "jvm": false, "subscriptions": false, "graphDefCache": true}),
        ),
        cmd(json!({"command": "broadcastRefreshApp"})),
        cmd(json!({"command": "codeAsDataReadMode", "activate": true})),
        cmd(
            json!({"command": "setPassword", "userName": "ops", "userTag": "014831d95fd7d12b8568", "userPassword": "pw-S3cret"}),
        ),
        cmd(
            json!({"command": "checkIfNodesExist", "nodeTagsArray": "[\"014831d95fd7d12b8568\",\"10000000000000000001\"]"}),
        ),
    ];
    // Same bytes, in the toolkit's key order.
    let ser = |v: &Vec<Value>| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(ser(&got), ser(&expected));
}

#[test]
fn unknown_failing_and_silent_commands_end_with_clear_errors() {
    let node = rabbit::shared();
    let script: Script = Arc::new(|name: &str| match name {
        "statsDB" => Some(vec!["Unknown command: statsDB".into()]),
        "checkDB" => Some(vec![
            "disk full".into(),
            "Command finished with status code: 1".into(),
        ]),
        "startGC" => None,
        _ => Some(vec!["Command finished with status code: 0".into()]),
    });
    let p = peer(node.port, script);
    let run = |args: &[&str]| {
        let out = cadkit()
            .args(args)
            .args(bus_args(node.port, &p))
            .args(["--bus.commandTimeout", "1500"])
            .output()
            .unwrap();
        (out.status.code(), text(&out))
    };
    let (code, t) = run(&["statsDB"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("orchestrator too old"), "{t}");
    let (code, t) = run(&["checkDB"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("disk full"), "{t}");
    let started = Instant::now();
    let (code, t) = run(&["startGC"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("timed out after 1.5s"), "{t}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn broker_restarted_mid_command_is_a_clear_error() {
    let node = rabbit::RabbitNode::start();
    let script: Script = Arc::new(|_: &str| None);
    let p = peer(node.port, script);
    let child = cadkit()
        .args(["statsDB"])
        .args(bus_args(node.port, &p))
        .args(["--bus.commandTimeout", "120000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the command reached the orchestrator, then restart the broker under it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.bodies.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the command never reached the peer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    node.restart();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("connection to the bus lost during `statsDB`"),
        "{t}"
    );
    assert!(started.elapsed() < Duration::from_secs(90));
}

#[test]
fn orchestrator_http_not_answering_is_a_clear_error() {
    let node = rabbit::shared();
    let p = peer(node.port, ok_script());
    let started = Instant::now();
    // bus_args points the HTTP side at a closed port.
    let out = cadkit()
        .args(["getUpgradeConfig"])
        .args(bus_args(node.port, &p))
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("orchestrator HTTP GET http://127.0.0.1:"), "{t}");
    assert!(t.contains("rest/database"), "{t}");
    assert!(!t.contains("tok-SECRET-123"), "{t}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
