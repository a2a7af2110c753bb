#![allow(dead_code)]
//! `cadkit orchestrator` for tests: started on a RabbitMQ node with its own exchange (so
//! servers sharing a node never see each other's commands) and a free HTTP port; ready when
//! `rest/version` answers 200; SIGTERM and wait on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
pub const CADKIT: &str = env!("CARGO_BIN_EXE_cadkit");
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Orchestrator {
    child: Child,
    pub bus_port: u16,
    pub http_port: u16,
    pub exchange: String,
    pub env: PathBuf,
    pub patches: PathBuf,
    pub backup: PathBuf,
    pub record: PathBuf,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Orchestrator {
    /// Start on `bus_port` with its environment, patches and backup folders under `dir`.
    pub fn start(dir: &Path, bus_port: u16, extra: &[&str]) -> Orchestrator {
        Self::start_with_env(dir, bus_port, extra, &[])
    }

    /// As [`Orchestrator::start`], with variables for the server (its test hooks).
    pub fn start_with_env(
        dir: &Path,
        bus_port: u16,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Orchestrator {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let exchange = format!("REQUEST_EXCHANGE_T{}_{n}", std::process::id());
        let http_port = free_port();
        let env = dir.join("env.sqlite");
        let patches = dir.join("patches");
        let backup = dir.join("backup");
        let record = dir.join("record.ndjson");
        let log = dir.join(format!("orchestrator-{n}.log"));
        std::fs::create_dir_all(&patches).unwrap();
        let child = Command::new(CADKIT)
            .arg("orchestrator")
            .arg("--env")
            .arg(&env)
            .arg("--orchestrator.codeAsDataDir")
            .arg(&patches)
            .arg("--orchestrator.backupDir")
            .arg(&backup)
            .args(["--bus.hostname", "127.0.0.1"])
            .args(["--bus.port", &bus_port.to_string()])
            .args(["--bus.commandsExchange", &exchange])
            .args(["--orchestrator.port", &http_port.to_string()])
            .arg("--record")
            .arg(&record)
            .args(extra)
            .env_remove("CADKIT_ENV")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start cadkit orchestrator");
        let mut o = Orchestrator {
            child,
            bus_port,
            http_port,
            exchange,
            env,
            patches,
            backup,
            record,
            log,
        };
        o.wait_ready();
        o
    }

    fn wait_ready(&mut self) {
        let url = format!(
            "http://127.0.0.1:{}/OlympeServer/rest/version",
            self.http_port
        );
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&url).timeout(Duration::from_secs(2)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "orchestrator exited ({st}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "orchestrator not ready: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The toolkit/cadkit options reaching this server.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--bus.hostname".into(),
            "127.0.0.1".into(),
            "--bus.port".into(),
            self.bus_port.to_string(),
            "--bus.commandsExchange".into(),
            self.exchange.clone(),
            "--orchestrator.host".into(),
            "127.0.0.1".into(),
            "--orchestrator.port".into(),
            self.http_port.to_string(),
        ]
    }

    /// Recorded entries (NDJSON of `--record`).
    pub fn recorded(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// SIGTERM, wait; the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn status(method: &str, o: &Orchestrator, path: &str, token: Option<&str>) -> u16 {
    let url = format!("http://127.0.0.1:{}/OlympeServer/{path}", o.http_port);
    let mut req = http().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    if method == "POST" {
        req = req
            .header("content-type", "application/json")
            .body(r#"{"i":"q","b":["10000000000000000000"],"v":true,"f":null,"q":[]}"#);
    }
    req.send().unwrap().status().as_u16()
}

/// Publish `{"command": cmd}` like the toolkit and collect the reply lines up to the status
/// line (`None` when no status line came within 20 s).
pub fn amqp_command(url: &str, exchange: &str, cmd: &str, n: usize) -> Option<Vec<String>> {
    amqp_command_to(url, exchange, "COMMAND_ROUTING_KEY", cmd, n)
}

pub fn amqp_command_to(
    url: &str,
    exchange: &str,
    key: &str,
    cmd: &str,
    n: usize,
) -> Option<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        use lapin::options::*;
        use lapin::types::FieldTable;
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .ok()?;
        let ch = conn.create_channel().await.ok()?;
        let q = format!("OLYMPE_TOOLKIT_REPLY_QUEUE_TEST{}_{n}", std::process::id());
        let opts = QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        };
        ch.queue_declare(q.as_str().into(), opts, FieldTable::default())
            .await
            .ok()?;
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut consumer = ch
            .basic_consume(q.as_str().into(), "".into(), no_ack, FieldTable::default())
            .await
            .ok()?;
        let body = format!(
            r#"{{"messageFamily":0,"payload":{{"c":16,"content":{{"command":"{cmd}","replyQueue":"{q}"}}}}}}"#
        );
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            lapin::BasicProperties::default(),
        )
        .await
        .ok()?;
        let mut lines = Vec::new();
        while let Ok(Some(Ok(d))) =
            tokio::time::timeout(Duration::from_secs(20), consumer.next()).await
        {
            let line = String::from_utf8(d.data).unwrap();
            let done = line.starts_with("Command finished with status code:");
            lines.push(line);
            if done {
                let _ = conn.close(200, "done".into()).await;
                return Some(lines);
            }
        }
        None
    })
}
