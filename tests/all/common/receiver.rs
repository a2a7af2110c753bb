//! Test harness for `cadkit receiver`: the real binary on a loopback port, its config,
//! HTTP helpers (reqwest) and polling with deadlines.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "receiver-test-token";

/// A running receiver, killed on drop.
pub struct TestReceiver {
    child: Child,
    pub addr: String,
    pub config: PathBuf,
    pub log: PathBuf,
}

/// A free loopback port (for a receiver that another server must know beforehand).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write a receiver config into `dir`.
pub fn write_config(dir: &Path, config: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("receiver.json");
    std::fs::write(&p, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    p
}

/// An environment entry of a config.
pub fn env_entry(dir: &Path, name: &str, registry: &str, repo: &str, re: &str) -> Value {
    json!({"env": dir.join(format!("{name}.sqlite")), "registry": registry, "repository": repo, "match": re})
}

impl TestReceiver {
    /// Start `cadkit receiver --config <config> --listen 127.0.0.1:<port>` (0: any port).
    pub fn start(config: &Path, port: u16, env: &[(&str, &str)]) -> TestReceiver {
        let log = config.with_extension(format!("{}.log", rand::random::<u32>()));
        let mut c = Command::new(env!("CARGO_BIN_EXE_cadkit"));
        c.args(["receiver", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("CADKIT_RECEIVER_TOKEN", TOKEN)
            .env_remove("CADKIT_RECEIVER_SECRET")
            .env("LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|_| {
            panic!(
                "the receiver did not start: {line:?}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        TestReceiver {
            child,
            addr: v["listening"].as_str().unwrap().to_string(),
            config: config.to_path_buf(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An HTTP call with the token; returns (status, Location, JSON body or Null).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Option<String>, Value) {
        call(&self.url(path), method, Some(TOKEN), content_type, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self.call("GET", path, None, Vec::new());
        (s, v)
    }

    /// Poll a deployment until it answers 200 (deadline 60 s); returns the record.
    pub fn wait_done(&self, location: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = self.get(location);
            match s {
                200 => return v,
                204 => {}
                other => panic!("GET {location}: {other} {v}"),
            }
            assert!(
                Instant::now() < deadline,
                "{location} still running; log: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every record (newest first).
    pub fn all_records(&self) -> Vec<Value> {
        let (s, v) = self.get("/v1/deployments?start=0&count=500");
        assert_eq!(s, 200, "{v}");
        v["entries"].as_array().unwrap().clone()
    }

    /// Poll until `pred` holds over the records (deadline 60 s).
    pub fn wait_records(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.all_records();
            if pred(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; records: {r:#?}; log: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw HTTP call.
pub fn call(
    url: &str,
    method: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Option<String>, Value) {
    let client = reqwest::blocking::Client::new();
    let mut rb = client.request(method.parse().unwrap(), url).body(body);
    if let Some(t) = token {
        rb = rb.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        rb = rb.header("Content-Type", ct);
    }
    let resp = rb.send().unwrap();
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = resp.text().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    });
    (status, loc, v)
}

/// `cadkit bundle` of a dist folder into `out`.
pub fn bundle(dist: &Path, name: &str, version: &str, out: &Path) -> Vec<u8> {
    let pj = out.with_extension("project.json");
    std::fs::write(
        &pj,
        json!({"name": name, "version": version, "description": "test", "author": "ci"})
            .to_string(),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cadkit"))
        .args(["bundle", "--codeAsData.workingDir"])
        .arg(dist)
        .arg("--project")
        .arg(&pj)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cadkit bundle failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}
