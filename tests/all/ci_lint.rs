//! The CI packaging passes check-jsonschema, zizmor --offline and actionlint
//! (scripts/lint-ci). The tools come from scripts/setup; when one is missing this test
//! fails and says so: it never skips.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_dir() -> PathBuf {
    crate::common::tools::tools_root()
}

#[test]
fn lint_ci_passes() {
    let o = crate::common::command("bash")
        .arg(root().join("scripts/lint-ci"))
        .env("CADKIT_TOOLS_DIR", tools_dir())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(
        o.status.code(),
        Some(2),
        "lint tools are missing (run scripts/setup):\n{text}"
    );
    assert!(
        o.status.success(),
        "scripts/lint-ci found problems:\n{text}"
    );
    assert!(text.contains("lint-ci: all checks passed"), "{text}");
}

#[test]
fn zizmor_does_flag_an_input_expanded_inside_run() {
    // Proof that the lint would catch the mistake the actions avoid.
    let zizmor = tools_dir().join("venv/bin/zizmor");
    assert!(
        zizmor.exists(),
        "zizmor is missing at {} (run scripts/setup)",
        zizmor.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("action.yml");
    std::fs::write(
        &bad,
        "name: bad\ndescription: bad\ninputs:\n  branch:\n    description: b\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo \"${{ inputs.branch }}\"\n",
    )
    .unwrap();
    let o = crate::common::command(&zizmor)
        .args(["--offline", "-q"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success(),
        "zizmor accepted a template injection:\n{text}"
    );
    assert!(text.contains("template-injection"), "{text}");
}
