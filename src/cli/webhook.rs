//! `webhook`: POST registry-shaped push notifications to the deployment webhook.

use super::{GlobalArgs, Step};
use crate::ci::{inputs, Outputs};
use crate::webhook::{self as wh, payload, AuthScheme, Format, Retry, WebhookError};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Webhook URL, e.g. https://<client>.webhook.example/<project>/<instance>.
    #[arg(long, env = "CADKIT_WEBHOOK_URL", hide_env_values = true)]
    pub url: String,
    /// Pushed image reference, repeatable or comma-separated; a JSON array (the `images`
    /// output of `tag`) is accepted too.
    #[arg(long, env = "CADKIT_IMAGE", required = true)]
    pub image: Vec<String>,
    /// How the token (CADKIT_WEBHOOK_TOKEN) is sent in Authorization.
    #[arg(
        long = "auth-scheme",
        env = "CADKIT_WEBHOOK_AUTH_SCHEME",
        value_enum,
        default_value = "bearer"
    )]
    pub auth_scheme: AuthScheme,
    /// Payload shape.
    #[arg(
        long,
        env = "CADKIT_WEBHOOK_FORMAT",
        value_enum,
        default_value = "distribution"
    )]
    pub format: Format,
    /// JSON template for --format template (`${image}`, `${registry}`, `${repository}`,
    /// `${namespace}`, `${name}`, `${tag}`, `${digest}`, `${id}`, `${timestamp}`, `${actor}`).
    #[arg(long, env = "CADKIT_WEBHOOK_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// Extra header `Name: value`, repeatable (env: one per line).
    #[arg(
        long = "header",
        env = "CADKIT_WEBHOOK_HEADERS",
        value_delimiter = '\n'
    )]
    pub headers: Vec<String>,
    /// Connect timeout per attempt (`10`, `10s`, `500ms`).
    #[arg(long = "connect-timeout", env = "CADKIT_WEBHOOK_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Total timeout per attempt.
    #[arg(long, env = "CADKIT_WEBHOOK_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Attempts in all (1 = no retry).
    #[arg(
        long = "max-attempts",
        env = "CADKIT_WEBHOOK_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub max_attempts: u32,
    /// First backoff delay (doubled each retry, with jitter).
    #[arg(long = "backoff", env = "CADKIT_WEBHOOK_BACKOFF", default_value = "500ms", value_parser = parse_duration)]
    pub backoff: Duration,
    /// Longest backoff delay.
    #[arg(long = "backoff-max", env = "CADKIT_WEBHOOK_BACKOFF_MAX", default_value = "30s", value_parser = parse_duration)]
    pub backoff_max: Duration,
    /// Longest Retry-After honoured.
    #[arg(long = "max-retry-after", env = "CADKIT_WEBHOOK_MAX_RETRY_AFTER", default_value = "120s", value_parser = parse_duration)]
    pub max_retry_after: Duration,
    /// The code-as-data image is unchanged (the `unchanged` output of `image --kind
    /// codeasdata`: the registry already held its reproducible digest): no deployment is
    /// triggered for code-as-data images (repository ending in `codeasdata`, the guide's
    /// naming), sparing the update's downtime for nothing; the other images are sent.
    #[arg(long = "codeasdata-unchanged", env = "CADKIT_CODEASDATA_UNCHANGED", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub codeasdata_unchanged: Option<bool>,
    /// Print the requests (token and signature redacted); send nothing.
    #[arg(long = "dry-run", env = "CADKIT_DRY_RUN", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub dry_run: Option<bool>,
    /// Follow the `Location` of the answer until the deployment finished; fail the step
    /// when it failed (see `cadkit receiver`).
    #[arg(long, env = "CADKIT_WEBHOOK_WAIT", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub wait: Option<bool>,
    /// Deadline of --wait.
    #[arg(long = "wait-timeout", env = "CADKIT_WEBHOOK_WAIT_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub wait_timeout: Duration,
}

/// `10`, `10s`, `1.5s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a duration like 10s or 500ms, found {s:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

impl Step for WebhookArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let token = inputs::first_env(&["CADKIT_WEBHOOK_TOKEN"]).map(|(v, _)| v);
        let secret = inputs::first_env(&["CADKIT_WEBHOOK_SECRET"]).map(|(v, _)| v);
        let out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
        run(
            self,
            token,
            secret,
            out,
            global.report.as_deref() != Some("none"),
        )?;
        Ok(0)
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

fn actor() -> String {
    inputs::first_env(&[
        "CADKIT_ACTOR",
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "BUILD_REQUESTEDFOR",
    ])
    .map(|(v, _)| v)
    .unwrap_or_else(|| "cadkit".into())
}

/// The step with explicit secrets and outputs (used by `demo` and tests); returns the
/// report, or the delivery error after printing the report.
pub fn run(
    a: WebhookArgs,
    token: Option<String>,
    secret: Option<String>,
    mut out: Outputs,
    print: bool,
) -> Result<Value> {
    if let Some(t) = &token {
        inputs::check_secret("webhook token", "CADKIT_WEBHOOK_TOKEN", t)?;
        out.mask(t);
    }
    if let Some(s) = &secret {
        inputs::check_secret("webhook signing secret", "CADKIT_WEBHOOK_SECRET", s)?;
        out.mask(s);
    }
    let url = url::Url::parse(&a.url).map_err(|e| anyhow::anyhow!("invalid webhook URL: {e}"))?;
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
    if token.is_none() {
        out.warning(
            "CADKIT_WEBHOOK_TOKEN is not set: no Authorization header is sent",
            None,
        );
    }
    let template: Option<Value> = match &a.template {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the webhook template {}", p.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| crate::ci::FileError::json(p, &e))?)
        }
        None => None,
    };
    let mut headers = Vec::new();
    for h in a.headers.iter().filter(|h| !h.trim().is_empty()) {
        let Some((k, v)) = h.split_once(':') else {
            bail!("header {:?}: expected 'Name: value'", out.redact(h));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let images = image_list(&a.image)?;
    let shown = wh::redact_url(&url);
    let retry = Retry {
        max_attempts: a.max_attempts.max(1),
        initial: a.backoff,
        max: a.backoff_max,
        max_retry_after: a.max_retry_after,
    };
    let mut results = Vec::new();
    let mut failure = None;
    let mut wait_failure: Option<anyhow::Error> = None;
    for image in &images {
        let info = payload::parse_image(image)?;
        let key = wh::idempotency_key(&url, image);
        if a.codeasdata_unchanged == Some(true) && info.repository.ends_with("codeasdata") {
            tracing::info!("{image}: unchanged code-as-data image, no deployment triggered");
            results.push(json!({"image": image, "idempotencyKey": key, "skipped": "unchanged code-as-data image: the registry already held its digest"}));
            continue;
        }
        let meta = payload::Meta {
            id: key.clone(),
            timestamp: chrono::Utc::now().timestamp(),
            actor: actor(),
            user_agent: concat!("cadkit/", env!("CARGO_PKG_VERSION")).into(),
        };
        let body = payload::build(a.format, &info, &meta, template.as_ref())?;
        let body_bytes = serde_json::to_vec(&body)?;
        if out.is_dry_run() {
            let mut shown_headers = vec![
                json!(["Content-Type", a.format.content_type()]),
                json!(["Idempotency-Key", key]),
            ];
            if token.is_some() {
                shown_headers.push(json!([
                    "Authorization",
                    match a.auth_scheme {
                        AuthScheme::Bearer => "Bearer ***",
                        AuthScheme::Raw => "***",
                    }
                ]));
            }
            if secret.is_some() {
                shown_headers.push(json!(["X-Cadkit-Signature-256", "sha256=***"]));
            }
            for (k, _) in &headers {
                shown_headers.push(json!([k, "***"]));
            }
            results.push(json!({"image": image, "idempotencyKey": key, "request": {"method": "POST", "url": shown, "headers": shown_headers, "body": body}}));
            continue;
        }
        let d = wh::Delivery {
            url: url.clone(),
            token: token.clone(),
            scheme: a.auth_scheme,
            secret: secret.clone(),
            body: body_bytes,
            content_type: a.format.content_type().into(),
            idempotency_key: key.clone(),
            headers: headers.clone(),
            connect_timeout: a.connect_timeout,
            timeout: a.timeout,
            retry,
        };
        match wh::deliver(&d, &|w| std::thread::sleep(w)) {
            Ok(ok) => {
                let mut entry = json!({"image": image, "idempotencyKey": key, "status": ok.status, "attempts": ok.attempts, "responseExcerpt": ok.response_excerpt});
                if a.wait.unwrap_or(false) {
                    match wh::wait::wait_for(
                        &url,
                        ok.location.as_deref(),
                        token.clone(),
                        a.auth_scheme,
                        a.wait_timeout,
                    ) {
                        Ok(record) => entry["deployment"] = record,
                        Err(e) => {
                            entry["error"] = json!(out.redact(&e.to_string()));
                            wait_failure = Some(e.into());
                        }
                    }
                }
                results.push(entry);
                if wait_failure.is_some() {
                    break;
                }
            }
            Err(e) => {
                let attempts = match &e {
                    WebhookError::Rejected { attempts, .. }
                    | WebhookError::Exhausted { attempts, .. } => json!(attempts),
                    WebhookError::Setup(_) => json!([]),
                };
                results.push(json!({"image": image, "idempotencyKey": key, "error": out.redact(&e.to_string()), "attempts": attempts}));
                failure = Some(e);
                break;
            }
        }
    }
    let delivered = results.iter().filter(|r| r.get("status").is_some()).count();
    let last_status = results
        .iter()
        .rev()
        .find_map(|r| r.get("status").and_then(Value::as_u64))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let total_attempts: usize = results
        .iter()
        .map(|r| {
            r.get("attempts")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    out.set("status", &last_status)?;
    out.set("delivered", &delivered.to_string())?;
    let skipped = results
        .iter()
        .filter(|r| r.get("skipped").is_some())
        .count();
    out.set("skipped", &skipped.to_string())?;
    out.set("attempts", &total_attempts.to_string())?;
    out.set(
        "idempotency-keys",
        &results
            .iter()
            .filter_map(|r| r["idempotencyKey"].as_str())
            .collect::<Vec<_>>()
            .join(","),
    )?;
    let mut md = format!(
        "### cadkit webhook\n\n{shown}: {delivered}/{} delivered\n",
        images.len()
    );
    for r in &results {
        md.push_str(&format!(
            "- `{}`: {}\n",
            r["image"].as_str().unwrap_or_default(),
            r.get("status")
                .map(|s| format!("HTTP {s}"))
                .or_else(|| r.get("error").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| "dry run".into())
        ));
    }
    out.summary(&md)?;
    let report = json!({
        "step": "webhook",
        "platform": out.platform(),
        "url": shown,
        "format": a.format,
        "signed": secret.is_some(),
        "deliveries": results,
    });
    let report = out.finish(report, print)?;
    match (failure, wait_failure) {
        (Some(e), _) => Err(anyhow::Error::new(e)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(report),
    }
}
