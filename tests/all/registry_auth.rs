//! Proof: skopeo, given only the config.json cadkit writes, pushes to a real registry with
//! htpasswd auth; with wrong credentials it is refused.

use crate::common;
use common::ci_steps::{oci_layout, run_clean};
use common::registry::Registry;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cadkit-registry-auth");

fn skopeo_push(
    authfile: &std::path::Path,
    img: &std::path::Path,
    addr: &str,
    tag: &str,
) -> std::process::Output {
    Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--authfile",
            authfile.to_str().unwrap(),
            &format!("oci:{}:v1", img.display()),
            &format!("docker://{addr}/cadkit/proof:{tag}"),
        ])
        .output()
        .expect("skopeo is installed by scripts/setup")
}

#[test]
fn skopeo_pushes_with_the_generated_file_and_wrong_credentials_fail() {
    let reg = Registry::start_with_htpasswd("ciuser", "ci-pass:word");
    let work = tempfile::tempdir().unwrap();
    let img = oci_layout(work.path());

    // Good credentials, password from the environment, DOCKER_CONFIG honoured; an existing
    // file's other keys are kept.
    let good = work.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::write(
        good.join("config.json"),
        format!(r#"{{"experimental":"enabled","auths":{{"keep.example":{{"auth":"eDp5"}}}},"credHelpers":{{"{}":"nope"}}}}"#, reg.host),
    )
    .unwrap();
    let o = run_clean(
        BIN,
        work.path(),
        &[
            ("DOCKER_CONFIG", good.to_str().unwrap()),
            ("CADKIT_REGISTRY_PASSWORD", "ci-pass:word"),
        ],
        &[
            "--registry",
            &reg.host,
            "--username",
            "ciuser",
            "--helper-free",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stdout.contains("ci-pass:word") && !stderr.contains("ci-pass:word"),
        "password printed"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["dockerConfigSource"], "DOCKER_CONFIG");
    assert_eq!(report["shadows"][0]["via"], "credHelpers");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(good.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["experimental"], "enabled");
    assert_eq!(cfg["auths"]["keep.example"]["auth"], "eDp5");
    assert_eq!(cfg["auths"][reg.host.as_str()]["username"], "ciuser");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(good.join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let push = skopeo_push(&good.join("config.json"), &img, &reg.host, "ok");
    assert!(
        push.status.success(),
        "skopeo push with the generated file failed: {}",
        String::from_utf8_lossy(&push.stderr)
    );

    // Wrong password, read from standard input, into a per-job folder (GitHub's RUNNER_TEMP).
    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let gh_env = work.path().join("gh_env");
    let o = run_clean(
        BIN,
        work.path(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("RUNNER_TEMP", runner_temp.to_str().unwrap()),
            ("GITHUB_ENV", gh_env.to_str().unwrap()),
        ],
        &["--registry", &reg.host, "--username", "ciuser"],
        Some("wrong-password\n"),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.starts_with("::add-mask::wrong-password\n::add-mask::"),
        "{stdout}"
    );
    assert!(!stdout
        .replace("::add-mask::wrong-password", "")
        .contains("wrong-password"));
    let bad = runner_temp.join("cadkit-docker-config");
    let env = std::fs::read_to_string(&gh_env).unwrap();
    assert!(env.contains(&format!("\n{}\n", bad.display())), "{env}");
    let push = skopeo_push(&bad.join("config.json"), &img, &reg.host, "bad");
    assert!(!push.status.success(), "a wrong password must be refused");
    let err = String::from_utf8_lossy(&push.stderr).to_lowercase();
    assert!(
        err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );
}

#[test]
fn stdout_mode_dry_run_and_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let o = run_clean(
        BIN,
        work.path(),
        &[("CADKIT_REGISTRY_PASSWORD", "pw-1")],
        &["--registry", "docker.io", "--username", "u", "--stdout"],
        None,
    );
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        r#"{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"pw-1","auth":"dTpwdy0x"}}}"#
    );
    let o = run_clean(
        BIN,
        work.path(),
        &[("CADKIT_REGISTRY_PASSWORD", "pw-1")],
        &["--registry", "ghcr.io", "--username", "u", "--dry-run"],
        None,
    );
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("pw-1") && text.contains("\"***\""), "{text}");
    assert!(
        !work.path().join(".docker/config.json").exists(),
        "dry run wrote a file"
    );
    let o = run_clean(
        BIN,
        work.path(),
        &[("CADKIT_REGISTRY_PASSWORD", "pw-1")],
        &["--registry", "https://ghcr.io/x", "--username", "u"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("without a scheme"));
    let o = run_clean(BIN, work.path(), &[], &["--username", "u"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CADKIT_REGISTRY_PASSWORD"));
}
