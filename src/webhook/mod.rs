//! `webhook`: tell the deployment side that images were pushed.
//!
//! One POST per image, with:
//! - `Authorization: Bearer <token>` (or the raw token), the token read from the
//!   environment and never shown: it is masked, redacted from errors and reports, and the
//!   URL is logged as scheme + host only;
//! - a registry-shaped JSON body ([`payload::Format`]);
//! - `Idempotency-Key` (and `X-Cadkit-Delivery`): stable for the same image and target,
//!   so a receiver can drop duplicates of an at-least-once delivery;
//! - with a secret, `X-Cadkit-Timestamp: <unix seconds>` and
//!   `X-Cadkit-Signature-256: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//!   ([`verify_signature`] shows the check);
//! - connect and total timeouts per attempt; retries with exponential backoff and jitter
//!   on connection errors, timeouts, 408, 429 and 5xx, honouring `Retry-After`; any other
//!   4xx (and 3xx: redirects are not followed) fails at once with a response excerpt.
//!
//! [`receiver`] is a small recording HTTP server used by `cadkit demo` and the tests.

pub mod payload;
pub mod receiver;
pub mod wait;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub use payload::{Format, ImageInfo};

/// How the token is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: <token>`.
    Raw,
}

/// Retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Ceiling of the first backoff (exponential with jitter after it).
    pub initial: Duration,
    /// Largest backoff.
    pub max: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 5,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl Retry {
    /// Delay before attempt `n + 1` after failed attempt `n` (1-based): exponential,
    /// capped, with jitter in [½, 1] of the value.
    pub fn backoff(&self, n: u32) -> Duration {
        crate::retry::Backoff::new(self.initial, self.max).delay_with(n, crate::retry::Jitter::Half)
    }
}

/// One delivery to make.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The endpoint (may hold credentials: only ever logged redacted).
    pub url: url::Url,
    /// Token sent in `Authorization` (a sensitive header, never logged).
    pub token: Option<String>,
    /// How the token is written in `Authorization`.
    pub scheme: AuthScheme,
    /// HMAC secret: each attempt is signed (`X-Cadkit-Signature-256`) with its timestamp.
    pub secret: Option<String>,
    /// The payload.
    pub body: Vec<u8>,
    /// The payload's media type.
    pub content_type: String,
    /// Same for every attempt of one delivery, so the receiver can drop duplicates.
    pub idempotency_key: String,
    /// Extra headers, sent as given.
    pub headers: Vec<(String, String)>,
    /// Time allowed to connect, per attempt.
    pub connect_timeout: Duration,
    /// Time allowed for the whole attempt.
    pub timeout: Duration,
    /// When and how often to try again.
    pub retry: Retry,
}

/// One attempt, for the report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// What went wrong, when the attempt failed (redacted).
    pub error: Option<String>,
    /// Wait before the next attempt, in milliseconds.
    pub wait_ms: Option<u64>,
}

/// A successful delivery.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// The 2xx status that ended the delivery.
    pub status: u16,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The start of the response body, on one line, redacted.
    pub response_excerpt: String,
    /// The `Location` header of the answer (an asynchronous API's status URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Why a delivery failed (callers branch on it).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The endpoint answered with a status no retry can change (4xx other than 408, 429).
    #[error("the webhook {url} refused the request with HTTP {status} (not retried): {excerpt}")]
    Rejected {
        /// The endpoint, redacted.
        url: String,
        /// The status.
        status: u16,
        /// The start of the response body, redacted.
        excerpt: String,
        /// Every attempt, in order.
        attempts: Vec<Attempt>,
    },
    /// Every attempt failed with a retryable status or a transport error.
    #[error("the webhook {url} failed after {} attempts; last: {last}", attempts.len())]
    Exhausted {
        /// The endpoint, redacted.
        url: String,
        /// The last attempt's error.
        last: String,
        /// Every attempt, in order.
        attempts: Vec<Attempt>,
    },
    /// The request could not be built (HTTP client, token not valid in a header).
    #[error("cannot prepare the webhook request: {0}")]
    Setup(String),
}

/// `scheme://host[:port]/…`: what may be logged of a webhook URL.
pub fn redact_url(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("?");
    match u.port() {
        Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
        None => format!("{}://{host}/…", u.scheme()),
    }
}

/// Stable key for (target URL, image): hex SHA-256, 32 characters.
pub fn idempotency_key(url: &url::Url, image: &str) -> String {
    let mut h = Sha256::new();
    h.update(url.as_str().as_bytes());
    h.update([0]);
    h.update(image.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: recompute and compare in constant time; reject stale timestamps.
pub fn verify_signature(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > tolerance_secs {
        return false;
    }
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(raw) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&raw).is_ok()
}

/// Parse `Retry-After`: seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = t.with_timezone(&chrono::Utc) - now;
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    crate::ci::redact(one_line.trim())
}

/// Send `d`, retrying as documented; `sleep` waits between attempts (tests may record).
/// Each attempt is built by `request` and classified by `outcome`; this loop only keeps
/// the attempts' record and decides whether and how long to wait.
pub fn deliver(d: &Delivery, sleep: &dyn Fn(Duration)) -> Result<Delivered, WebhookError> {
    let shown = redact_url(&d.url);
    let client = client(d)?;
    let mut attempts: Vec<Attempt> = Vec::new();
    let max = d.retry.max_attempts.max(1);
    for n in 1..=max {
        let done = |status| Attempt {
            status: Some(status),
            error: None,
            wait_ms: None,
        };
        let result = send(request(&client, d, n)?)?;
        let (retry_after, status, msg) = match outcome(result) {
            Outcome::Accepted {
                status,
                text,
                location,
            } => {
                attempts.push(done(status));
                tracing::info!("webhook {shown}: HTTP {status} after {n} attempt(s)");
                return Ok(Delivered {
                    status,
                    attempts,
                    response_excerpt: excerpt(&text),
                    location,
                });
            }
            Outcome::Rejected { status, text } => {
                attempts.push(done(status));
                return Err(WebhookError::Rejected {
                    url: shown,
                    status,
                    excerpt: excerpt(&text),
                    attempts,
                });
            }
            Outcome::Retry {
                retry_after,
                status,
                msg,
            } => (retry_after, status, msg),
        };
        if n == max {
            attempts.push(Attempt {
                status,
                error: Some(msg.clone()),
                wait_ms: None,
            });
            return Err(WebhookError::Exhausted {
                url: shown,
                last: msg,
                attempts,
            });
        }
        let wait = match retry_after {
            Some(ra) => ra.min(d.retry.max_retry_after),
            None => d.retry.backoff(n),
        };
        tracing::warn!(
            "webhook {shown}: attempt {n}/{max} failed ({msg}); retrying in {} ms",
            wait.as_millis()
        );
        attempts.push(Attempt {
            status,
            error: Some(msg),
            wait_ms: Some(wait.as_millis() as u64),
        });
        sleep(wait);
    }
    unreachable!("the loop returns on its last attempt")
}

/// The client of one delivery: its timeouts, no redirects (a redirected POST would lose its
/// body or change method; the receiver's answer is reported as it is) and cadkit's user agent.
fn client(d: &Delivery) -> Result<reqwest::Client, WebhookError> {
    reqwest::Client::builder()
        .connect_timeout(d.connect_timeout)
        .timeout(d.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cadkit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::Setup(e.without_url().to_string()))
}

/// One attempt on the shared runtime: the status, the headers and the body text, or the
/// transport error that [`outcome`] classifies.
fn send(rb: reqwest::RequestBuilder) -> Result<reqwest::Result<Answer>, WebhookError> {
    crate::http::block_on(async move {
        let resp = rb.send().await?;
        let head = (resp.status().as_u16(), resp.headers().clone());
        // A body that cannot be read counts as empty, as before.
        Ok((head, resp.text().await.unwrap_or_default()))
    })
    .map_err(|e| WebhookError::Setup(e.to_string()))
}

/// Attempt `n` of the POST: the delivery's headers, the attempt number, the token (a
/// sensitive header, never logged) and the signature, signed afresh with this attempt's
/// timestamp.
fn request(
    client: &reqwest::Client,
    d: &Delivery,
    n: u32,
) -> Result<reqwest::RequestBuilder, WebhookError> {
    let mut rb = client
        .post(d.url.clone())
        .header(reqwest::header::CONTENT_TYPE, &d.content_type)
        .header("Idempotency-Key", &d.idempotency_key)
        .header("X-Cadkit-Delivery", &d.idempotency_key)
        .header("X-Cadkit-Attempt", n.to_string());
    for (k, v) in &d.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if let Some(tok) = &d.token {
        let value = match d.scheme {
            AuthScheme::Bearer => format!("Bearer {tok}"),
            AuthScheme::Raw => tok.clone(),
        };
        let mut hv = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            WebhookError::Setup("the token holds characters not allowed in a header".into())
        })?;
        hv.set_sensitive(true);
        rb = rb.header(reqwest::header::AUTHORIZATION, hv);
    }
    if let Some(secret) = &d.secret {
        let ts = chrono::Utc::now().timestamp();
        rb = rb
            .header("X-Cadkit-Timestamp", ts.to_string())
            .header("X-Cadkit-Signature-256", sign(secret, ts, &d.body));
    }
    Ok(rb.body(d.body.clone()))
}

/// One attempt's answer: status and headers, then the body (empty when unreadable).
type Answer = ((u16, reqwest::header::HeaderMap), String);

/// What one attempt's response (or failure) means for the delivery.
enum Outcome {
    /// A 2xx: delivered.
    Accepted {
        status: u16,
        text: String,
        location: Option<String>,
    },
    /// A status no retry can change (4xx other than 408 and 429).
    Rejected { status: u16, text: String },
    /// 408, 429, 5xx or a transport error: worth another attempt, after the server's
    /// `Retry-After` when it gave one.
    Retry {
        retry_after: Option<Duration>,
        status: Option<u16>,
        msg: String,
    },
}

/// Classify one attempt's result; transport errors are described without the URL (it may
/// hold a token) and redacted.
fn outcome(result: reqwest::Result<Answer>) -> Outcome {
    let ((status, headers), text) = match result {
        Ok(answer) => answer,
        Err(e) => {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            let msg = crate::ci::redact(&format!("{kind}: {}", error_chain(&e.without_url())));
            return Outcome::Retry {
                retry_after: None,
                status: None,
                msg,
            };
        }
    };
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    if (200..300).contains(&status) {
        return Outcome::Accepted {
            status,
            text,
            location,
        };
    }
    let retryable = status == 408 || status == 429 || status >= 500;
    if !retryable {
        return Outcome::Rejected { status, text };
    }
    Outcome::Retry {
        retry_after,
        status: Some(status),
        msg: format!("HTTP {status}: {}", excerpt(&text)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_tamper() {
        let sig = sign("k", 100, b"{}");
        assert!(verify_signature("k", "100", b"{}", &sig, 110, 300));
        assert!(!verify_signature("k", "100", b"{ }", &sig, 110, 300));
        assert!(!verify_signature("x", "100", b"{}", &sig, 110, 300));
        assert!(
            !verify_signature("k", "100", b"{}", &sig, 1000, 300),
            "stale"
        );
    }

    #[test]
    fn keys_backoff_and_retry_after() {
        let u = url::Url::parse("https://c.webhook.example/p/i").unwrap();
        assert_eq!(idempotency_key(&u, "r/a:1"), idempotency_key(&u, "r/a:1"));
        assert_ne!(idempotency_key(&u, "r/a:1"), idempotency_key(&u, "r/a:2"));
        assert_eq!(
            redact_url(&url::Url::parse("https://u:p@h.example:8443/x?token=1").unwrap()),
            "https://h.example:8443/…"
        );
        let r = Retry {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            ..Retry::default()
        };
        for (n, hi) in [(1, 100), (2, 200), (3, 350), (10, 350)] {
            let b = r.backoff(n).as_millis() as u64;
            assert!(b >= hi / 2 && b <= hi, "attempt {n}: {b}");
        }
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
