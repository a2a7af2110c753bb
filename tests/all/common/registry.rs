//! The one registry launcher: Debian's `docker-registry` (CNCF distribution) with htpasswd
//! auth on a free loopback port, stopped (killed and reaped) on drop. Used by the image,
//! registry-auth and CI-packaging tests, and by `benches/image.rs`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Default credentials of [`Registry::start`].
pub const USER: &str = "ciuser";
pub const PASS: &str = "cipass";

/// A running registry.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`, as the registry logged it.
    pub host: String,
    pub dir: tempfile::TempDir,
    user: String,
    password: String,
}

impl Registry {
    /// A registry accepting [`USER`] / [`PASS`].
    pub fn start() -> Registry {
        Registry::start_with_htpasswd(USER, PASS)
    }

    /// A registry accepting `user` / `password`; the port is read from its log, and it is
    /// ready when `/v2/` answers 401 (polled with a deadline).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_inner(user, password, None)
    }

    /// Like [`Registry::start`], and the registry itself POSTs its push notifications
    /// (distribution `events` envelopes) to `url` with `Authorization: Bearer <token>`.
    pub fn start_notifying(url: &str, token: &str) -> Registry {
        Registry::start_inner(USER, PASS, Some((url, token)))
    }

    fn start_inner(user: &str, password: &str, notify: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (apache2-utils) is installed by scripts/setup");
        assert!(out.status.success());
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let mut config = String::from("version: 0.1\n");
        if let Some((url, token)) = notify {
            config.push_str(&format!(
                "notifications:\n  endpoints:\n    - name: receiver\n      url: {url}\n      headers:\n        Authorization: [\"Bearer {token}\"]\n      timeout: 5s\n      threshold: 3\n      backoff: 200ms\n"
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .env("REGISTRY_HTTP_ADDR", "127.0.0.1:0")
            .env("REGISTRY_HTTP_SECRET", "test-secret")
            .env("REGISTRY_STORAGE", "filesystem")
            .env(
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                dir.path().join("data"),
            )
            .env("REGISTRY_STORAGE_DELETE_ENABLED", "true")
            .env("REGISTRY_AUTH", "htpasswd")
            .env("REGISTRY_AUTH_HTPASSWD_REALM", "test-registry")
            .env("REGISTRY_AUTH_HTPASSWD_PATH", dir.path().join("htpasswd"))
            .env("REGISTRY_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry is installed by scripts/setup");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find("listening on ") {
                        let rest = &line[i + "listening on ".len()..];
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let host = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(host) => host,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("docker-registry did not log its address within 20 s");
            }
        };
        let reg = Registry {
            child,
            host,
            dir,
            user: user.into(),
            password: password.into(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::blocking::Client::new();
        loop {
            if let Ok(r) = client.get(format!("http://{}/v2/", reg.host)).send() {
                if r.status().as_u16() == 401 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "registry on {} not ready",
                reg.host
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    /// A DOCKER_CONFIG folder with this registry's credentials (the `auths` format).
    pub fn docker_config(&self, user: &str, pass: &str) -> PathBuf {
        use base64::Engine;
        let d = self.dir.path().join(format!("docker-{user}-{pass}"));
        std::fs::create_dir_all(&d).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        std::fs::write(
            d.join("config.json"),
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.host),
        )
        .unwrap();
        d
    }

    /// HTTP status of `GET /v2/<repo>/manifests/<reference>` (with this registry's
    /// credentials).
    pub fn manifest_status(&self, repo: &str, reference: &str) -> u16 {
        reqwest::blocking::Client::new()
            .get(format!("http://{}/v2/{repo}/manifests/{reference}", self.host))
            .basic_auth(&self.user, Some(&self.password))
            .header(
                "Accept",
                "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
