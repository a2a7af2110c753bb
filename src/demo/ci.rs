//! The CI steps in `cadkit demo`: tag, registry-auth into the demo's own folder, and a
//! webhook to a receiver the demo starts on 127.0.0.1. No CI output is written (the
//! outputs are only reported), so running the demo inside a CI job changes nothing there.

use crate::ci::{OutputPaths, Outputs, Platform};
use crate::cli::registry_auth::Request;
use crate::cli::{TagArgs, WebhookArgs};
use crate::webhook::{self, receiver::Receiver, AuthScheme, Format};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::Path;
use std::time::Duration;

fn quiet_outputs() -> Outputs {
    Outputs::new(
        Platform::None,
        OutputPaths::default(),
        Box::new(std::io::sink()),
    )
}

/// Run the three steps on the demo project in `work`; returns one report entry per step.
pub(super) fn run(work: &Path) -> Result<Value> {
    // A stable demo commit: derived from the sample project's package.json.
    let pkg = std::fs::read(work.join("project/package.json")).unwrap_or_default();
    let commit = hex::encode(&sha2::Sha256::digest(&pkg)[..20]);
    let ctx = crate::ci::Context::from_lookup(&|_| None);
    let tag = crate::cli::tag::run(
        TagArgs {
            branch: Some("master".into()),
            commit: Some(commit),
            sha_length: crate::tag::DEFAULT_SHA_LENGTH,
            lowercase: None,
            registry: Some("registry.example:5000".into()),
            image_name: Some("demo/sample".into()),
            project_name: None,
            kinds: crate::tag::KINDS.iter().map(|k| k.to_string()).collect(),
            image_template: crate::tag::DEFAULT_IMAGE_TEMPLATE.into(),
            environments: vec!["production=^master-".into(), "codev=^develop-".into()],
            environments_file: None,
            require_environment: Some(true),
            dry_run: None,
        },
        ctx,
        quiet_outputs(),
        false,
    )?;
    eprintln!(
        "demo: tag {} deploys to {}",
        tag["tag"].as_str().unwrap_or_default(),
        tag["environments"]
    );

    let docker_config = work.join("docker-config");
    let auth = crate::cli::registry_auth::run(
        &Request {
            registries: vec!["registry.example:5000".into()],
            username: "demo".into(),
            password: "demo-password".into(),
            dir: Some((docker_config.clone(), "demo".into())),
            helper_free: false,
            stdout: false,
            base64: false,
        },
        quiet_outputs(),
        false,
    )?;
    eprintln!(
        "demo: registry credentials written to {}",
        docker_config.join("config.json").display()
    );

    let receiver = Receiver::start().context("cannot start the demo webhook receiver")?;
    let secret = "demo-signing-secret";
    let images: Vec<String> = tag["images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["image"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let hook = crate::cli::webhook::run(
        WebhookArgs {
            url: receiver.url("/demo/sample/production"),
            image: images.clone(),
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
            codeasdata_unchanged: None,
            dry_run: None,
            wait: None,
            wait_timeout: Duration::from_secs(600),
        },
        Some("demo-token".into()),
        Some(secret.into()),
        quiet_outputs(),
        false,
    )?;
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
        "tag": tag,
        "registryAuth": auth,
        "webhook": {
            "report": hook,
            "receiver": {
                "requests": received.len(),
                "signaturesVerified": verified,
                "paths": received.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
            },
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
