//! `webhook`: arguments (token, secret and actor from the environment) → [`Request`] →
//! [`crate::steps::webhook::run`] → the report.

use super::{GlobalArgs, Step};
use crate::ci::{inputs, Outputs};
use crate::steps::webhook::{self, Request};
use crate::webhook::{AuthScheme, Format};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `webhook` (and of `cadkit-webhook`): the endpoint, the images and the
/// signature.
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

impl WebhookArgs {
    /// The request, with the token, signing secret and actor from the environment.
    pub fn request(self) -> Request {
        Request {
            url: self.url,
            images: self.image,
            auth_scheme: self.auth_scheme,
            format: self.format,
            template: self.template,
            headers: self.headers,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            backoff_max: self.backoff_max,
            max_retry_after: self.max_retry_after,
            codeasdata_unchanged: self.codeasdata_unchanged == Some(true),
            wait: self.wait.unwrap_or(false),
            wait_timeout: self.wait_timeout,
            token: inputs::first_env(&["CADKIT_WEBHOOK_TOKEN"]).map(|(v, _)| v),
            secret: inputs::first_env(&["CADKIT_WEBHOOK_SECRET"]).map(|(v, _)| v),
            actor: webhook::actor_from_env(),
        }
    }
}

impl Step for WebhookArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let mut out = Outputs::detect().dry_run(self.dry_run.unwrap_or(false));
        let mut report = webhook::run(&self.request(), &mut out)?;
        let failure = report.failure.take();
        out.finish_report(&report, global.report.as_deref() != Some("none"))?;
        match failure {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}
