//! Harness for the CI-step tests: a tiny OCI layout made with umoci, and running a step
//! binary in an empty environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
    let mut cmd = super::cmd::command(bin);
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
