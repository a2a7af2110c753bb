//! The CI steps in `cadkit demo`: tag, registry-auth into the demo's own folder, and a
//! webhook to a receiver the demo starts on 127.0.0.1. No CI output is written (the
//! outputs are only reported), so running the demo inside a CI job changes nothing there.

use crate::ci::{OutputPaths, Outputs, Platform};
use crate::steps;
use crate::webhook::{self, receiver::Receiver, AuthScheme, Format};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::Path;
use std::time::Duration;

/// Outputs that go nowhere: the demo's steps run as in CI, without touching the caller's
/// CI files.
pub(super) fn quiet_outputs() -> Outputs {
    Outputs::new(
        Platform::None,
        OutputPaths::default(),
        Box::new(std::io::sink()),
    )
}

/// Run the three steps on the demo project in `work`; returns one report entry per step.
pub(super) fn run(work: &Path) -> Result<Value> {
    let (tag, images) = tag_step(work)?;
    let auth = registry_auth_step(work)?;
    let webhook = webhook_step(&images)?;
    Ok(json!({
        "tag": tag,
        "registryAuth": auth,
        "webhook": webhook,
    }))
}

/// `tag` on a fixed branch and a commit derived from the sample project: its report and
/// the image references the webhook then announces.
fn tag_step(work: &Path) -> Result<(Value, Vec<String>)> {
    // A stable demo commit: derived from the sample project's package.json.
    let pkg = std::fs::read(work.join("project/package.json")).unwrap_or_default();
    let commit = hex::encode(&sha2::Sha256::digest(&pkg)[..20]);
    let context = crate::ci::Context::from_lookup(&|_| None);
    let mut out = quiet_outputs();
    let tag = steps::tag::run(
        &steps::tag::Request {
            branch: Some("master".into()),
            commit: Some(commit),
            sha_length: crate::tag::DEFAULT_SHA_LENGTH,
            lowercase: false,
            registry: "registry.example:5000".into(),
            image_name: Some("demo/sample".into()),
            project_name: None,
            kinds: crate::tag::KINDS.iter().map(|k| k.to_string()).collect(),
            image_template: crate::tag::DEFAULT_IMAGE_TEMPLATE.into(),
            environments: vec!["production=^master-".into(), "codev=^develop-".into()],
            environments_file: None,
            require_environment: true,
            created: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok()),
            context,
        },
        &mut out,
    )?;
    eprintln!(
        "demo: tag {} deploys to {}",
        tag.tag,
        serde_json::to_string(&tag.environments)?
    );
    let images: Vec<String> = tag.images.iter().map(|i| i.image.clone()).collect();
    Ok((out.finish_report(&tag, false)?, images))
}

/// `registry-auth` into the demo's own Docker config folder (never the user's).
fn registry_auth_step(work: &Path) -> Result<Value> {
    let docker_config = work.join("docker-config");
    let mut out = quiet_outputs();
    let auth = steps::registry_auth::run(
        &steps::registry_auth::Request {
            registries: vec!["registry.example:5000".into()],
            username: "demo".into(),
            password: "demo-password".into(),
            dir: Some((docker_config.clone(), "demo".into())),
            helper_free: false,
            stdout: false,
            base64: false,
        },
        &mut out,
    )?;
    let auth = out.finish_report(&auth, false)?;
    eprintln!(
        "demo: registry credentials written to {}",
        docker_config.join("config.json").display()
    );
    Ok(auth)
}

/// `webhook` to a receiver started on 127.0.0.1, signed; the report with what the
/// receiver got and whether every signature verifies.
fn webhook_step(images: &[String]) -> Result<Value> {
    let receiver = Receiver::start().context("cannot start the demo webhook receiver")?;
    let secret = "demo-signing-secret";
    let mut out = quiet_outputs();
    let mut hook = steps::webhook::run(
        &steps::webhook::Request {
            url: receiver.url("/demo/sample/production"),
            images: images.to_vec(),
            auth_scheme: AuthScheme::Bearer,
            format: Format::Distribution,
            template: None,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(2),
            codeasdata_unchanged: false,
            wait: false,
            wait_timeout: Duration::from_secs(600),
            token: Some("demo-token".into()),
            secret: Some(secret.into()),
            actor: steps::webhook::actor_from_env(),
        },
        &mut out,
    )?;
    if let Some(e) = hook.failure.take() {
        return Err(e);
    }
    let hook = out.finish_report(&hook, false)?;
    let received = receiver.wait_for(images.len(), Duration::from_secs(5));
    let now = chrono::Utc::now().timestamp();
    let verified = received.iter().all(|r| {
        webhook::verify_signature(
            secret,
            r.header("x-cadkit-timestamp").unwrap_or_default(),
            &r.body,
            r.header("x-cadkit-signature-256").unwrap_or_default(),
            now,
            300,
        )
    });
    eprintln!(
        "demo: webhook delivered {} notifications to {} (signatures verified: {verified})",
        received.len(),
        receiver.url("/…")
    );
    Ok(json!({
        "report": hook,
        "receiver": {
            "requests": received.len(),
            "signaturesVerified": verified,
            "paths": received.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
        },
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_steps_tag_write_credentials_and_deliver_signed_webhooks() {
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(work.path().join("project")).unwrap();
        std::fs::write(work.path().join("project/package.json"), "{}").unwrap();
        let r = super::run(work.path()).unwrap();
        assert_eq!(r["tag"]["environments"], serde_json::json!(["production"]));
        assert!(r["tag"]["tag"].as_str().unwrap().starts_with("master-"));
        let cfg = std::fs::read_to_string(work.path().join("docker-config/config.json")).unwrap();
        assert!(cfg.contains("registry.example:5000"));
        assert_eq!(r["webhook"]["receiver"]["requests"], 3);
        assert_eq!(r["webhook"]["receiver"]["signaturesVerified"], true);
        assert!(!r.to_string().contains("demo-password"));
    }
}
