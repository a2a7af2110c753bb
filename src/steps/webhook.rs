//! `webhook`: POST registry-shaped push notifications to the deployment webhook.

use crate::ci::{inputs, Outputs, Platform};
use crate::webhook::{self as wh, payload, Attempt, AuthScheme, Format, Retry, WebhookError};
use anyhow::{bail, Context as _, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// What to send, resolved from the arguments and the environment.
#[derive(Debug, Clone)]
pub struct Request {
    /// Webhook URL (http or https).
    pub url: String,
    /// Image references as given: comma lists and JSON arrays are flattened ([`image_list`]).
    pub images: Vec<String>,
    /// How the token is sent in `Authorization`.
    pub auth_scheme: AuthScheme,
    /// Payload shape.
    pub format: Format,
    /// JSON template file for [`Format::Template`].
    pub template: Option<PathBuf>,
    /// Extra headers `Name: value`.
    pub headers: Vec<String>,
    /// Connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Total timeout per attempt.
    pub timeout: Duration,
    /// Attempts in all (at least 1).
    pub max_attempts: u32,
    /// First backoff delay.
    pub backoff: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// The code-as-data image is unchanged: send nothing for it.
    pub codeasdata_unchanged: bool,
    /// Follow the answer's `Location` until the deployment finished.
    pub wait: bool,
    /// Deadline of `wait`.
    pub wait_timeout: Duration,
    /// Bearer (or raw) token; a secret.
    pub token: Option<String>,
    /// HMAC signing secret.
    pub secret: Option<String>,
    /// Who pushed (payload `actor`).
    pub actor: String,
}

/// What `webhook` did.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always `webhook`.
    pub step: String,
    /// The CI platform.
    pub platform: Platform,
    /// The webhook URL, credentials redacted.
    pub url: String,
    /// Payload shape.
    pub format: Format,
    /// Requests carry an HMAC signature.
    pub signed: bool,
    /// One entry per image, in order (stops at the first failure).
    pub deliveries: Vec<Delivery>,
    /// The delivery (or `--wait`) failure: the report is complete, but the step failed. The
    /// caller emits the report, then returns this error.
    #[serde(skip)]
    #[schemars(skip)]
    pub failure: Option<anyhow::Error>,
}

/// One image's notification.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum Delivery {
    /// Not sent: an unchanged code-as-data image.
    Skipped {
        /// Image reference.
        image: String,
        /// Idempotency key of the notification.
        idempotency_key: String,
        /// Why nothing was sent.
        skipped: String,
    },
    /// Dry run: the request that would be sent, secrets redacted.
    Planned {
        /// Image reference.
        image: String,
        /// Idempotency key of the notification.
        idempotency_key: String,
        /// The request.
        request: PlannedRequest,
    },
    /// Accepted by the webhook.
    Sent {
        /// Image reference.
        image: String,
        /// Idempotency key of the notification.
        idempotency_key: String,
        /// HTTP status of the last attempt.
        status: u16,
        /// Every attempt.
        attempts: Vec<Attempt>,
        /// Start of the answer's body.
        response_excerpt: String,
        /// With `--wait`: the deployment's final record.
        #[serde(skip_serializing_if = "Option::is_none")]
        deployment: Option<Value>,
        /// With `--wait`: why following the deployment failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Rejected, or attempts exhausted.
    Failed {
        /// Image reference.
        image: String,
        /// Idempotency key of the notification.
        idempotency_key: String,
        /// The error, secrets redacted.
        error: String,
        /// Every attempt.
        attempts: Vec<Attempt>,
    },
}

/// A request as a dry run shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlannedRequest {
    /// Always `POST`.
    pub method: String,
    /// The URL, credentials redacted.
    pub url: String,
    /// Header names and values (secret values as `***`).
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub body: Value,
}

impl Delivery {
    fn image(&self) -> &str {
        match self {
            Delivery::Skipped { image, .. }
            | Delivery::Planned { image, .. }
            | Delivery::Sent { image, .. }
            | Delivery::Failed { image, .. } => image,
        }
    }

    fn idempotency_key(&self) -> &str {
        match self {
            Delivery::Skipped {
                idempotency_key, ..
            }
            | Delivery::Planned {
                idempotency_key, ..
            }
            | Delivery::Sent {
                idempotency_key, ..
            }
            | Delivery::Failed {
                idempotency_key, ..
            } => idempotency_key,
        }
    }

    fn attempts(&self) -> usize {
        match self {
            Delivery::Sent { attempts, .. } | Delivery::Failed { attempts, .. } => attempts.len(),
            _ => 0,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            Delivery::Sent { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The summary's word on it.
    fn outcome(&self) -> String {
        match self {
            Delivery::Sent { status, .. } => format!("HTTP {status}"),
            Delivery::Failed { error, .. } => error.clone(),
            _ => "dry run".into(),
        }
    }
}

/// Image references from the option values (comma lists and JSON arrays flattened).
pub fn image_list(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values {
        let v = v.trim();
        if v.starts_with('[') {
            let list: Vec<String> = serde_json::from_str(v)
                .with_context(|| format!("--image {v:?} is not a JSON array of strings"))?;
            out.extend(list);
        } else {
            out.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
    }
    if out.is_empty() {
        bail!("no image: pass --image or set CADKIT_IMAGE");
    }
    Ok(out)
}

/// The payload's `actor`: `CADKIT_ACTOR`, else the CI's user, else `cadkit`.
pub fn actor_from_env() -> String {
    inputs::first_env(&[
        "CADKIT_ACTOR",
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "BUILD_REQUESTEDFOR",
    ])
    .map(|(v, _)| v)
    .unwrap_or_else(|| "cadkit".into())
}

/// Everything checked and parsed before the first request.
struct Prepared {
    url: url::Url,
    shown: String,
    template: Option<Value>,
    headers: Vec<(String, String)>,
    images: Vec<String>,
}

/// Run `webhook`: send one notification per image (or show them, in a dry run), set the
/// CI outputs and the summary. A failed delivery is in the report's `failure`.
pub fn run(req: &Request, out: &mut Outputs) -> Result<Report> {
    let p = prepare(req, out)?;
    let mut deliveries = Vec::new();
    let mut failure = None;
    for image in &p.images {
        let (entry, failed) = deliver_one(req, &p, image, out)?;
        deliveries.push(entry);
        if failed.is_some() {
            failure = failed;
            break;
        }
    }
    set_outputs(&deliveries, out)?;
    out.summary(&summary(&p, &deliveries))?;
    Ok(Report {
        step: "webhook".into(),
        platform: out.platform(),
        url: p.shown,
        format: req.format,
        signed: req.secret.is_some(),
        deliveries,
        failure,
    })
}

/// Mask the secrets, check the URL, read the template and headers, list the images.
fn prepare(req: &Request, out: &mut Outputs) -> Result<Prepared> {
    if let Some(t) = &req.token {
        inputs::check_secret("webhook token", "CADKIT_WEBHOOK_TOKEN", t)?;
        out.mask(t);
    }
    if let Some(s) = &req.secret {
        inputs::check_secret("webhook signing secret", "CADKIT_WEBHOOK_SECRET", s)?;
        out.mask(s);
    }
    let url = url::Url::parse(&req.url).map_err(|e| anyhow::anyhow!("invalid webhook URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("webhook URL must be http or https, not {}", url.scheme());
    }
    // Credentials inside the URL are secrets too.
    if let Some(p) = url.password() {
        out.mask(p);
    }
    for (_, v) in url.query_pairs() {
        if v.len() >= 8 {
            out.mask(&v);
        }
    }
    if req.token.is_none() {
        out.warning(
            "CADKIT_WEBHOOK_TOKEN is not set: no Authorization header is sent",
            None,
        );
    }
    let template: Option<Value> = match &req.template {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the webhook template {}", p.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| crate::ci::FileError::json(p, &e))?)
        }
        None => None,
    };
    let mut headers = Vec::new();
    for h in req.headers.iter().filter(|h| !h.trim().is_empty()) {
        let Some((k, v)) = h.split_once(':') else {
            bail!("header {:?}: expected 'Name: value'", out.redact(h));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let images = image_list(&req.images)?;
    let shown = wh::redact_url(&url);
    Ok(Prepared {
        url,
        shown,
        template,
        headers,
        images,
    })
}

/// One image: skipped, shown (dry run) or sent (and followed with `wait`); the error
/// that fails the step, if any.
fn deliver_one(
    req: &Request,
    p: &Prepared,
    image: &str,
    out: &mut Outputs,
) -> Result<(Delivery, Option<anyhow::Error>)> {
    let info = payload::parse_image(image)?;
    let key = wh::idempotency_key(&p.url, image);
    if req.codeasdata_unchanged && info.repository.ends_with("codeasdata") {
        tracing::info!("{image}: unchanged code-as-data image, no deployment triggered");
        let skipped = Delivery::Skipped {
            image: image.into(),
            idempotency_key: key,
            skipped: "unchanged code-as-data image: the registry already held its digest".into(),
        };
        return Ok((skipped, None));
    }
    let meta = payload::Meta {
        id: key.clone(),
        timestamp: chrono::Utc::now().timestamp(),
        actor: req.actor.clone(),
        user_agent: concat!("cadkit/", env!("CARGO_PKG_VERSION")).into(),
    };
    let body = payload::build(req.format, &info, &meta, p.template.as_ref())?;
    if out.is_dry_run() {
        let request = planned(req, p, &key, body);
        let planned = Delivery::Planned {
            image: image.into(),
            idempotency_key: key,
            request,
        };
        return Ok((planned, None));
    }
    let d = wh::Delivery {
        url: p.url.clone(),
        token: req.token.clone(),
        scheme: req.auth_scheme,
        secret: req.secret.clone(),
        body: serde_json::to_vec(&body)?,
        content_type: req.format.content_type().into(),
        idempotency_key: key.clone(),
        headers: p.headers.clone(),
        connect_timeout: req.connect_timeout,
        timeout: req.timeout,
        retry: Retry {
            max_attempts: req.max_attempts.max(1),
            initial: req.backoff,
            max: req.backoff_max,
            max_retry_after: req.max_retry_after,
        },
    };
    Ok(match wh::deliver(&d, &|w| std::thread::sleep(w)) {
        Ok(ok) => sent(req, p, image, key, ok, out),
        Err(e) => {
            let attempts = match &e {
                WebhookError::Rejected { attempts, .. }
                | WebhookError::Exhausted { attempts, .. } => attempts.clone(),
                WebhookError::Setup(_) => Vec::new(),
            };
            let failed = Delivery::Failed {
                image: image.into(),
                idempotency_key: key,
                error: out.redact(&e.to_string()),
                attempts,
            };
            (failed, Some(anyhow::Error::new(e)))
        }
    })
}

/// A delivered notification, followed to the deployment's end with `wait`.
fn sent(
    req: &Request,
    p: &Prepared,
    image: &str,
    key: String,
    ok: wh::Delivered,
    out: &Outputs,
) -> (Delivery, Option<anyhow::Error>) {
    let (mut deployment, mut error, mut failure) = (None, None, None);
    if req.wait {
        match wh::wait::wait_for(
            &p.url,
            ok.location.as_deref(),
            req.token.clone(),
            req.auth_scheme,
            req.wait_timeout,
        ) {
            Ok(record) => deployment = Some(record),
            Err(e) => {
                error = Some(out.redact(&e.to_string()));
                failure = Some(e.into());
            }
        }
    }
    let entry = Delivery::Sent {
        image: image.into(),
        idempotency_key: key,
        status: ok.status,
        attempts: ok.attempts,
        response_excerpt: ok.response_excerpt,
        deployment,
        error,
    };
    (entry, failure)
}

/// The request a dry run shows: secret header values as `***`.
fn planned(req: &Request, p: &Prepared, key: &str, body: Value) -> PlannedRequest {
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            req.format.content_type().to_string(),
        ),
        ("Idempotency-Key".to_string(), key.to_string()),
    ];
    if req.token.is_some() {
        let shown = match req.auth_scheme {
            AuthScheme::Bearer => "Bearer ***",
            AuthScheme::Raw => "***",
        };
        headers.push(("Authorization".into(), shown.into()));
    }
    if req.secret.is_some() {
        headers.push(("X-Cadkit-Signature-256".into(), "sha256=***".into()));
    }
    for (k, _) in &p.headers {
        headers.push((k.clone(), "***".into()));
    }
    PlannedRequest {
        method: "POST".into(),
        url: p.shown.clone(),
        headers,
        body,
    }
}

fn set_outputs(deliveries: &[Delivery], out: &mut Outputs) -> Result<()> {
    let delivered = deliveries.iter().filter(|d| d.status().is_some()).count();
    let last_status = deliveries
        .iter()
        .rev()
        .find_map(Delivery::status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let total_attempts: usize = deliveries.iter().map(Delivery::attempts).sum();
    let skipped = deliveries
        .iter()
        .filter(|d| matches!(d, Delivery::Skipped { .. }))
        .count();
    out.set("status", &last_status)?;
    out.set("delivered", &delivered.to_string())?;
    out.set("skipped", &skipped.to_string())?;
    out.set("attempts", &total_attempts.to_string())?;
    out.set(
        "idempotency-keys",
        &deliveries
            .iter()
            .map(Delivery::idempotency_key)
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn summary(p: &Prepared, deliveries: &[Delivery]) -> String {
    let delivered = deliveries.iter().filter(|d| d.status().is_some()).count();
    let mut md = format!(
        "### cadkit webhook\n\n{}: {delivered}/{} delivered\n",
        p.shown,
        p.images.len()
    );
    for d in deliveries {
        md.push_str(&format!("- `{}`: {}\n", d.image(), d.outcome()));
    }
    md
}
