#![allow(dead_code)]
//! A git server over HTTP for tests: lighttpd + `git http-backend` (CGI) on 127.0.0.1 and a
//! free port, with basic auth (bcrypt htpasswd). Two URL prefixes:
//! - `/git/<name>.git`: authentication for everything (clone, fetch, push);
//! - `/pub/<name>.git`: anonymous fetch, authentication only for pushes.
//!
//! The server and its files live as long as the [`GitServer`]; dropping it kills lighttpd
//! and waits for it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GitServer {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// The `git http-backend` program of this machine.
pub fn http_backend() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("git").arg("--exec-path").output() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            candidates.push(PathBuf::from(p).join("git-http-backend"));
        }
    }
    candidates.push("/usr/lib/git-core/git-http-backend".into());
    candidates.push("/usr/local/libexec/git-core/git-http-backend".into());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("git http-backend not found: install git (scripts/setup)")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn config(root: &Path, port: u16, backend: &Path) -> String {
    let repos = root.join("repos");
    let htpasswd = root.join("htpasswd");
    let auth = format!(
        r#"auth.backend = "htpasswd"
  auth.backend.htpasswd.userfile = "{htpasswd}"
"#,
        htpasswd = htpasswd.display()
    );
    format!(
        r#"server.document-root = "{repos}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
server.modules = ( "mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi" )
alias.url = ( "/git" => "{backend}", "/pub" => "{backend}" )
setenv.add-environment = ( "GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "" )
{auth}
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ( "" => "" )
  auth.require = ( "" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
}}
$HTTP["url"] =~ "^/pub/" {{
  cgi.assign = ( "" => "" )
  $HTTP["url"] =~ "/git-receive-pack$" {{
    auth.require = ( "" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
  }}
  $HTTP["querystring"] =~ "service=git-receive-pack" {{
    auth.require = ( "" => ( "method" => "basic", "realm" => "git", "require" => "valid-user" ) )
  }}
}}
"#,
        repos = repos.display(),
        root = root.display(),
        backend = backend.display(),
    )
}

impl GitServer {
    /// Start a server accepting `user` / `password`.
    pub fn start(user: &str, password: &str) -> GitServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("repos")).unwrap();
        let st = Command::new("htpasswd")
            .arg("-Bbc")
            .arg(root.join("htpasswd"))
            .arg(user)
            .arg(password)
            .stderr(Stdio::null())
            .status()
            .expect("htpasswd (apache2-utils, scripts/setup)");
        assert!(st.success(), "htpasswd failed");
        let backend = http_backend();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let conf = root.join("lighttpd.conf");
            std::fs::write(&conf, config(&root, port, &backend)).unwrap();
            let log = std::fs::File::create(root.join("lighttpd.out")).unwrap();
            let mut child = Command::new("lighttpd")
                .arg("-D")
                .arg("-f")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("lighttpd (scripts/setup)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "lighttpd exited with {status}: {}{}",
                        std::fs::read_to_string(root.join("lighttpd.out")).unwrap_or_default(),
                        std::fs::read_to_string(root.join("error.log")).unwrap_or_default()
                    );
                    break; // most likely the port was taken meanwhile: try another one
                }
                if TcpStream::connect_timeout(
                    &([127, 0, 0, 1], port).into(),
                    Duration::from_millis(200),
                )
                .is_ok()
                {
                    return GitServer {
                        dir,
                        child,
                        port,
                        user: user.into(),
                        password: password.into(),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("lighttpd did not listen on 127.0.0.1:{port} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("could not start lighttpd: {last_error}");
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// Path of the bare repository `<name>.git`.
    pub fn bare_path(&self, name: &str) -> PathBuf {
        self.repos_dir().join(format!("{name}.git"))
    }

    /// Create a bare repository with one commit (README.md) on `branch`.
    pub fn create_repo(&self, name: &str, branch: &str) -> PathBuf {
        let path = self.bare_path(name);
        cadkit::git::ensure_local_bare_repo(&path, branch).expect("bare repo");
        path
    }

    /// Create an empty bare repository (no commit, no branch).
    pub fn create_empty_repo(&self, name: &str) -> PathBuf {
        let path = self.bare_path(name);
        git2::Repository::init_bare(&path).expect("empty bare repo");
        path
    }

    /// `http://127.0.0.1:<port>/git/<name>.git` (no credentials).
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/git/{name}.git", self.port)
    }

    /// Like [`url`](Self::url) under `/pub/` (anonymous fetch, authenticated push).
    pub fn pub_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/pub/{name}.git", self.port)
    }

    /// The URL with `user:password@` (URL-encoded).
    pub fn url_with(&self, name: &str, user: &str, password: &str) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        format!(
            "http://{}:{}@127.0.0.1:{}/git/{name}.git",
            utf8_percent_encode(user, NON_ALPHANUMERIC),
            utf8_percent_encode(password, NON_ALPHANUMERIC),
            self.port
        )
    }

    /// Tip of `branch` in the bare repository, if any.
    pub fn tip(&self, name: &str, branch: &str) -> Option<String> {
        let repo = git2::Repository::open_bare(self.bare_path(name)).ok()?;
        repo.refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
            .map(|o| o.to_string())
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
