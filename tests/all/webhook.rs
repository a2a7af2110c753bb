//! `cadkit-webhook` against a real HTTP receiver on 127.0.0.1 that records requests and
//! answers 503 / 429 + Retry-After / 4xx or stalls on demand.

use crate::common;
use cadkit::webhook::receiver::{Receiver, Reply};
use common::ci_steps::run_clean;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cadkit-webhook");
const TOKEN: &str = "tok-SECRET-1234567";
const SECRET: &str = "hmac-secret-abcdef";
const IMAGE: &str = "registry.example/client/shop:master-42bd534f";

fn send(
    rx: &Receiver,
    extra_env: &[(&str, &str)],
    args: &[&str],
) -> (std::process::Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = rx.url("/shop/prod");
    let mut vars = vec![
        ("CADKIT_WEBHOOK_TOKEN", TOKEN),
        ("CADKIT_WEBHOOK_SECRET", SECRET),
    ];
    vars.extend_from_slice(extra_env);
    let mut all = vec![
        "--url",
        url.as_str(),
        "--image",
        IMAGE,
        "--backoff",
        "20ms",
        // Generous: on a loaded 2-core CI machine a 2 s attempt can time out and be
        // retried, which the delivered-once assertions would count twice. Tests of the
        // timeout itself pass their own `--timeout`.
        "--timeout",
        "20s",
        "--connect-timeout",
        "10s",
    ];
    all.extend_from_slice(args);
    let o = run_clean(BIN, dir.path(), &vars, &all, None);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "token printed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "secret printed"
    );
    (o, stdout, stderr)
}

#[test]
fn delivered_once_with_bearer_token_verifiable_signature_and_idempotency_key() {
    let rx = Receiver::start().unwrap();
    let (o, stdout, stderr) = send(&rx, &[], &[]);
    assert!(o.status.success(), "{stderr}");
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(reqs.len(), 1, "delivered exactly once");
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/shop/prod"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.docker.distribution.events.v1+json")
    );
    let ts = r.header("x-cadkit-timestamp").unwrap();
    let sig = r.header("x-cadkit-signature-256").unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        cadkit::webhook::verify_signature(SECRET, ts, &r.body, sig, now, 300),
        "signature does not verify"
    );
    assert!(!cadkit::webhook::verify_signature(
        "other", ts, &r.body, sig, now, 300
    ));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["events"][0]["target"]["repository"], "client/shop");
    assert_eq!(body["events"][0]["target"]["tag"], "master-42bd534f");
    let key = r.header("idempotency-key").unwrap().to_string();
    assert_eq!(body["events"][0]["id"], key.as_str());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deliveries"][0]["status"], 200);
    assert_eq!(report["url"], format!("http://{}/…", rx.addr()));

    // Same image and target → same key; another image → another key.
    let (o2, _, _) = send(&rx, &[], &[]);
    assert!(o2.status.success());
    let (o3, _, _) = send(
        &rx,
        &[],
        &["--image", "registry.example/client/shop:develop-1"],
    );
    assert!(o3.status.success());
    let reqs = rx.wait_for(3, Duration::from_secs(5));
    assert_eq!(reqs[1].header("idempotency-key"), Some(key.as_str()));
    // --image given twice: the env/first value is replaced by the flags (clap), so two images.
    assert_eq!(reqs.len(), 4);
    assert_ne!(reqs[3].header("idempotency-key"), Some(key.as_str()));
}

#[test]
fn retries_503_then_honours_retry_after_on_429_then_succeeds() {
    let rx = Receiver::start().unwrap();
    rx.script([
        Reply::status(503),
        Reply::retry_after(429, 1),
        Reply::status(200),
    ]);
    let start = Instant::now();
    let (o, stdout, stderr) = send(&rx, &[], &["--auth-scheme", "raw"]);
    assert!(o.status.success(), "{stderr}");
    let reqs = rx.wait_for(3, Duration::from_secs(5));
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].header("authorization"), Some(TOKEN));
    let keys: Vec<_> = reqs
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one key for all attempts"
    );
    let gap = reqs[2].at - reqs[1].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 not honoured ({gap:?})"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let attempts = report["deliveries"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[1]["waitMs"], 1000);
    assert_eq!(report["outputs"]["attempts"], "3");
}

#[test]
fn a_4xx_fails_at_once_with_an_excerpt_and_the_echoed_token_redacted() {
    let rx = Receiver::start().unwrap();
    rx.script([Reply::with_body(
        403,
        &format!("{{\"error\":\"bad token {TOKEN}\"}}"),
    )]);
    let (o, _stdout, stderr) = send(&rx, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(rx.wait_for(1, Duration::from_secs(5)).len(), 1);
    assert!(stderr.contains("HTTP 403 (not retried)"), "{stderr}");
    assert!(stderr.contains("bad token ***"), "{stderr}");
    // Give a wrong retry a chance to show up: none may arrive.
    assert_eq!(
        rx.wait_for(2, Duration::from_millis(300)).len(),
        1,
        "4xx must not be retried"
    );
}

#[test]
fn a_stalled_attempt_times_out_and_is_retried() {
    let rx = Receiver::start().unwrap();
    rx.script([Reply::Stall(Duration::from_secs(5))]);
    let start = Instant::now();
    let (o, _, stderr) = send(&rx, &[], &["--timeout", "400ms"]);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert_eq!(rx.wait_for(2, Duration::from_secs(5)).len(), 2);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "the stall was waited out"
    );
}

#[test]
fn unreachable_endpoint_exhausts_attempts_and_dry_run_sends_nothing() {
    // A port with nothing listening: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/x?token={TOKEN}");
    let o = run_clean(
        BIN,
        dir.path(),
        &[("CADKIT_WEBHOOK_TOKEN", TOKEN)],
        &[
            "--url",
            &url,
            "--image",
            IMAGE,
            "--max-attempts",
            "3",
            "--backoff",
            "10ms",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("failed after 3 attempts"), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !String::from_utf8_lossy(&o.stdout).contains(TOKEN));

    let rx = Receiver::start().unwrap();
    let (o, stdout, _) = send(
        &rx,
        &[("CADKIT_DRY_RUN", "true")],
        &["--format", "dockerhub"],
    );
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let req = &report["deliveries"][0]["request"];
    assert_eq!(req["body"]["push_data"]["tag"], "master-42bd534f");
    assert!(req["headers"].to_string().contains("Bearer ***"));
    assert_eq!(
        rx.wait_for(1, Duration::from_millis(200)).len(),
        0,
        "dry run sent a request"
    );
}

/// The guide warns that deploying the code-as-data image causes a brief downtime: with the
/// image step's `unchanged` output, the webhook triggers nothing for the unchanged
/// code-as-data image (and still for the others).
#[test]
fn an_unchanged_code_as_data_image_triggers_no_deployment() {
    let rx = Receiver::start().unwrap();
    let images = r#"["registry.example/client/shop-frontend:master-42bd534f","registry.example/client/shop-codeasdata:master-42bd534f"]"#;
    let (o, stdout, stderr) = send(
        &rx,
        &[("CADKIT_CODEASDATA_UNCHANGED", "true")],
        &["--image", images],
    );
    assert!(o.status.success(), "{stderr}");
    // The process has exited: every request it made is recorded.
    let reqs = rx.requests();
    let targets: Vec<String> = reqs
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["events"][0]["target"]
                ["repository"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        !targets.iter().any(|t| t.ends_with("codeasdata")),
        "{targets:?}"
    );
    assert!(
        targets.iter().any(|t| t == "client/shop-frontend"),
        "{targets:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let skipped = report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("skipped").is_some())
        .count();
    assert_eq!(skipped, 1, "{report}");
    assert_eq!(report["outputs"]["skipped"], "1");
}
