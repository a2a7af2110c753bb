//! Harness for the CI-step tests: a real docker-registry with htpasswd auth on a free
//! loopback port, and helpers to run the step binaries in a clean environment.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A docker-registry (CNCF distribution) process; killed and reaped on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Start `docker-registry serve` with htpasswd auth for `user:password` on 127.0.0.1:0
    /// and wait (with a deadline) for the port it logs.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (apache2-utils) is installed by scripts/setup");
        assert!(htpasswd.status.success());
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
        std::fs::write(dir.path().join("config.yml"), "version: 0.1\n").unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .env("REGISTRY_STORAGE", "filesystem")
            .env(
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                dir.path().join("data"),
            )
            .env("REGISTRY_HTTP_ADDR", "127.0.0.1:0")
            .env("REGISTRY_HTTP_SECRET", "cadkit-test")
            .env("REGISTRY_AUTH", "htpasswd")
            .env("REGISTRY_AUTH_HTPASSWD_REALM", "cadkit-test")
            .env("REGISTRY_AUTH_HTPASSWD_PATH", dir.path().join("htpasswd"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry is installed by scripts/setup");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find("listening on ") {
                        let addr = line[i + 13..]
                            .trim_end_matches('"')
                            .split(['"', ' '])
                            .next()
                            .unwrap_or("")
                            .to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("docker-registry did not report its port within 20 s");
            }
        };
        // Readiness: /v2/ answers 401 without credentials.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry on {addr} not reachable"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Build a tiny OCI image layout `<dir>/img:v1` with umoci.
pub fn oci_layout(dir: &Path) -> PathBuf {
    let img = dir.join("img");
    let payload = dir.join("payload");
    std::fs::create_dir_all(&payload).unwrap();
    std::fs::write(payload.join("a.json"), "{\"name\":\"a\"}\n").unwrap();
    for args in [
        vec!["init", "--layout", img.to_str().unwrap()],
        vec!["new", "--image", &format!("{}:v1", img.display())],
        vec![
            "insert",
            "--rootless",
            "--image",
            &format!("{}:v1", img.display()),
            payload.to_str().unwrap(),
            "/payload",
        ],
    ] {
        let o = Command::new("umoci")
            .args(&args)
            .output()
            .expect("umoci is installed by scripts/setup");
        assert!(
            o.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    img
}

/// Run a binary with a clean environment (PATH and HOME kept) plus `vars`, feeding `stdin`.
pub fn run_clean(
    bin: &str,
    dir: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}
