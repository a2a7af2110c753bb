//! The CI packaging: generated workflow copies have not drifted, composite actions and
//! templates pass inputs through the environment only, and the installer verifies
//! checksums.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn github_workflow_copies_match_their_sources() {
    let sources = files("workflows", "yml");
    assert!(!sources.is_empty());
    let mut problems = Vec::new();
    for src in &sources {
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let expected = format!(
            "# GENERATED from workflows/{name} by scripts/sync-workflows: edit the source, not this copy.\n{}",
            std::fs::read_to_string(src).unwrap()
        );
        let copy = root().join(".github/workflows").join(&name);
        match std::fs::read_to_string(&copy) {
            Ok(actual) if actual == expected => {}
            Ok(_) => problems.push(format!(
                ".github/workflows/{name} differs from workflows/{name}"
            )),
            Err(_) => problems.push(format!(".github/workflows/{name} is missing")),
        }
    }
    for copy in files(".github/workflows", "yml") {
        let text = std::fs::read_to_string(&copy).unwrap();
        let name = copy.file_name().unwrap().to_string_lossy().into_owned();
        if text.starts_with("# GENERATED from workflows/")
            && !root().join("workflows").join(&name).exists()
        {
            problems.push(format!(
                ".github/workflows/{name} has no source in workflows/"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nrun scripts/sync-workflows",
        problems.join("\n")
    );
}

/// The text of every `run:` value (inline or block) in a YAML file.
fn run_blocks(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        let key = ["run:", "- run:", "bash:", "- bash:", "script:", "- script:"]
            .iter()
            .find(|k| t.starts_with(*k));
        if let Some(k) = key {
            let mut indent = l.len() - t.len();
            if k.starts_with('-') {
                indent += 2;
            }
            let mut block = t[k.len()..].to_string();
            i += 1;
            while i < lines.len() {
                let n = lines[i];
                let ni = n.len() - n.trim_start().len();
                if !n.trim().is_empty() && ni <= indent {
                    break;
                }
                block.push('\n');
                block.push_str(n);
                i += 1;
            }
            out.push(block);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn actions_and_templates_never_expand_inputs_inside_scripts() {
    let mut checked = 0;
    let mut all: Vec<PathBuf> = vec![root().join("action.yml")];
    for d in std::fs::read_dir(root().join("actions")).unwrap() {
        all.push(d.unwrap().path().join("action.yml"));
    }
    all.extend(files("templates", "yml"));
    all.extend(files("azure", "yml"));
    all.extend(files("workflows", "yml"));
    for f in &all {
        let text = std::fs::read_to_string(f).unwrap();
        for block in run_blocks(&text) {
            checked += 1;
            assert!(
                !block.contains("${{") && !block.contains("$[["),
                "{}: an expression inside a script (map it through env:/variables: instead):\n{block}",
                f.display()
            );
        }
    }
    assert!(checked >= 10, "only {checked} scripts found");
}

#[test]
fn every_action_input_reaches_the_step_through_env() {
    for d in std::fs::read_dir(root().join("actions")).unwrap() {
        let path = d.unwrap().path().join("action.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let inputs = text
            .split("\ninputs:\n")
            .nth(1)
            .unwrap()
            .split("\noutputs:\n")
            .next()
            .unwrap();
        for line in inputs.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':')
            {
                let name = line.trim().trim_end_matches(':');
                assert!(
                    text.contains(&format!(": ${{{{ inputs.{name} }}}}")),
                    "{}: input {name} is not mapped to an environment variable",
                    path.display()
                );
            }
        }
    }
}

/// Every binary a release archive holds (what scripts/install-cadkit.sh checks).
const BINARIES: [&str; 8] = [
    "cadkit",
    "cadkit-build",
    "cadkit-snapshot",
    "cadkit-image",
    "cadkit-update",
    "cadkit-tag",
    "cadkit-registry-auth",
    "cadkit-webhook",
];

/// A release-like archive of stand-in binaries (shell scripts: the installer only unpacks
/// and checks them; archiving the real debug binaries would take seconds).
fn tarball(dir: &Path) -> (PathBuf, String) {
    let bins = dir.join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    for name in BINARIES {
        let p = bins.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho {name} \"$@\"\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let archive = dir.join("cadkit.tar.gz");
    let ok = Command::new("tar")
        .args([
            "-czf",
            archive.to_str().unwrap(),
            "-C",
            bins.to_str().unwrap(),
        ])
        .args(BINARIES)
        .status()
        .unwrap();
    assert!(ok.success());
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&archive).unwrap()));
    (archive, sha)
}

#[test]
fn installer_verifies_the_checksum_and_installs_runnable_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, sha) = tarball(dir.path());
    let url = format!("file://{}", archive.display());
    let script = root().join("scripts/install-cadkit.sh");
    let run = |sha: &str, dest: &str| {
        crate::common::command("bash")
            .arg(&script)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("CADKIT_INSTALL_URL", &url)
            .env("CADKIT_INSTALL_SHA256", sha)
            .env("CADKIT_INSTALL_DIR", dir.path().join(dest))
            .output()
            .unwrap()
    };
    let ok = run(&sha.to_uppercase(), "good");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bin = String::from_utf8_lossy(&ok.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(Path::new(&bin), dir.path().join("good/bin"));
    let tag = crate::common::command(Path::new(&bin).join("cadkit-tag"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tag.stdout), "cadkit-tag --help\n");

    let bad = run(&"0".repeat(64), "bad");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("checksum mismatch"));
    assert!(!dir.path().join("bad/bin/cadkit").exists());
    let none = run("", "none");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("refusing an unverified download"));
}
