//! cadkit's client sends the same AMQP bodies and HTTP requests as the real toolkit
//! (`@olympeio/toolkit` 1.2.3) for the same commands: both run against their own
//! `cadkit orchestrator`, which records everything it receives (`--record`); recordings
//! are compared with reply-queue names, tokens and the backup zip's timestamp aside.

use crate::common::orchestrator as orch;
use crate::common::rabbit;
use crate::common::reference;
use crate::common::update as h;

use orch::Orchestrator;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn clean(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("RABBITMQ_")
            || k.starts_with("ORCHESTRATOR_")
            || k.starts_with("DRAW_")
            || k.starts_with("CADKIT_")
        {
            cmd.env_remove(k);
        }
    }
}

/// The connection options a command takes: commands of the toolkit's bus group only
/// reject `--orchestrator.*`.
fn conn_args(o: &Orchestrator, args: &[&str]) -> Vec<String> {
    let http = [
        "install",
        "maintenance",
        "getUpgradeConfig",
        "createPatchesBackup",
    ];
    let mut a = o.args();
    if !http.contains(&args[0]) {
        a.truncate(6);
    }
    a
}

fn toolkit(dir: &Path, o: &Orchestrator, args: &[&str]) {
    let mut cmd = Command::new("node");
    cmd.arg(reference::node_modules().join("@olympeio/toolkit/main.js"))
        .args(args)
        .args(conn_args(o, args))
        .arg("--downloadFolder")
        .arg(dir.join("toolkit-download"))
        .current_dir(dir);
    clean(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "toolkit {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cadkit(dir: &Path, o: &Orchestrator, args: &[&str]) {
    let mut cmd = crate::common::cadkit();
    cmd.args(args).args(conn_args(o, args)).current_dir(dir);
    clean(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cadkit {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The recording without what legitimately differs: reply queues, the exchange name of
/// the test server, the zip timestamp; repeated readiness probes collapse into one. AMQP
/// messages and HTTP requests are compared as two sequences (the server may record a
/// fire-and-forget deployment message after the HTTP probe that follows it).
fn normalised(o: &Orchestrator) -> Vec<String> {
    let (mut amqp, http): (Vec<String>, Vec<String>) = sequence(o)
        .into_iter()
        .partition(|l| l.starts_with(r#"{"kind":"amqp""#));
    // Probes collapse after the split: a deployment message recorded between two probes
    // of the same wait must not keep them apart.
    let mut probes: Vec<String> = Vec::new();
    for l in http {
        if l.contains(r#""method":"OPTIONS""#) && probes.last() == Some(&l) {
            continue;
        }
        probes.push(l);
    }
    amqp.extend(probes);
    amqp
}

fn sequence(o: &Orchestrator) -> Vec<String> {
    let zip = regex::Regex::new(r"import_\d{8}_\d{6}\.zip").unwrap();
    let mut out: Vec<String> = Vec::new();
    for mut e in o.recorded() {
        if let Some(c) = e
            .pointer_mut("/body/payload/content")
            .and_then(Value::as_object_mut)
        {
            c.remove("replyQueue");
        }
        if let Some(m) = e.as_object_mut() {
            m.remove("exchange");
        }
        let line = zip
            .replace_all(&e.to_string(), "import_<time>.zip")
            .into_owned();
        if e["method"] == "OPTIONS" && out.last() == Some(&line) {
            continue;
        }
        out.push(line);
    }
    out
}

fn first_difference(a: &[String], b: &[String]) -> String {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            return format!("#{i}\ntoolkit: {x}\ncadkit:  {y}");
        }
    }
    format!(
        "lengths {} vs {}: {:?}",
        a.len(),
        b.len(),
        a.len().min(b.len())
    )
}

#[test]
fn cadkit_sends_what_the_toolkit_sends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dist = h::core_dist(dir, "2.9.3");
    let broker = rabbit::shared();
    let ot = Orchestrator::start(&dir.join("tk"), broker.port, &[]);
    let oc = Orchestrator::start(&dir.join("ck"), broker.port, &[]);
    h::copy_dir(&dist, &ot.patches);
    h::copy_dir(&dist, &oc.patches);
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "install",
            "--runningInDocker",
            "true",
            "--import.backupUsers",
            "false",
            "--import.backupBusinessData",
            "false",
        ],
        vec!["maintenance", "true"],
        vec!["maintenance", "false"],
        vec!["statsDB"],
        vec!["checkDB"],
        vec!["startGC"],
        vec!["clearGraphDefCache"],
        vec!["isDbInitialized"],
        vec!["broadcastRefreshApp"],
        vec!["codeAsDataReadMode", "true"],
        vec!["codeAsDataReadMode", "false"],
        vec!["updateUser", "--user.name", "ops", "--user.password", "pw1"],
        vec!["getUpgradeConfig"],
        vec!["restoreUsers"],
        vec!["restoreBusinessData"],
        vec!["createPatchesBackup"],
    ];
    for s in &steps {
        toolkit(dir, &ot, s);
        cadkit(dir, &oc, s);
        let (a, b) = (normalised(&ot), normalised(&oc));
        assert!(
            a == b,
            "after {s:?}: {}\n{:#?}\n{:#?}",
            first_difference(&a, &b),
            &a[a.len().saturating_sub(6)..],
            &b[b.len().saturating_sub(6)..]
        );
    }
    assert!(normalised(&oc).len() > 40);
}
