//! `--wait`: follow the `Location` of a 202 (an asynchronous deployment API such as
//! `cadkit receiver`) until the deployment record is final, so the CI job fails when the
//! deployment failed.
//!
//! `GET <location>` answers 204 while the deployment runs and 200 with the record when it
//! has finished; a record whose `status` is `failed` (or that carries an `error`) fails the
//! wait, as does the deadline. Connection errors and 5xx are retried until the deadline.
//! The token goes in `Authorization` and never into a message.

use serde_json::Value;
use std::time::{Duration, Instant};

/// What to follow.
#[derive(Debug, Clone)]
pub struct WaitRequest {
    /// The absolute URL of the deployment record.
    pub url: url::Url,
    /// Token sent in `Authorization` (never logged).
    pub token: Option<String>,
    /// How the token is written in `Authorization`.
    pub scheme: super::AuthScheme,
    /// Give up after this long.
    pub timeout: Duration,
    /// Between two polls.
    pub interval: Duration,
}

/// Why a wait failed (callers branch on it).
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deployment finished and failed.
    #[error("deployment {id} failed: {error}")]
    Failed {
        /// The deployment record's id.
        id: String,
        /// The record's error.
        error: String,
        /// The whole record, for the report.
        record: Value,
    },
    #[error("deployment at {url} not finished after {secs} s (--wait-timeout)")]
    /// The deployment was still running at the deadline (`--wait-timeout`).
    Timeout {
        /// The deployment record's URL, redacted.
        url: String,
        /// The deadline, in seconds.
        secs: u64,
    },
    #[error("deployment at {url}: {detail}")]
    /// The record could not be read (a 4xx, or an answer that is not a record).
    Http {
        /// The deployment record's URL, redacted.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// The URL of a `Location` header, resolved against the webhook URL.
pub fn resolve(base: &url::Url, location: &str) -> Option<url::Url> {
    base.join(location).ok()
}

/// Poll until the record is final; returns the record of a deployment that did not fail.
pub fn follow(req: &WaitRequest) -> Result<Value, WaitError> {
    let shown = super::redact_url(&req.url) + req.url.path();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| WaitError::Http {
            url: shown.clone(),
            detail: e.without_url().to_string(),
        })?;
    let deadline = Instant::now() + req.timeout;
    let mut last: String;
    loop {
        let mut rb = client.get(req.url.clone());
        if let Some(t) = &req.token {
            let v = match req.scheme {
                super::AuthScheme::Bearer => format!("Bearer {t}"),
                super::AuthScheme::Raw => t.clone(),
            };
            if let Ok(mut hv) = reqwest::header::HeaderValue::from_str(&v) {
                hv.set_sensitive(true);
                rb = rb.header(reqwest::header::AUTHORIZATION, hv);
            }
        }
        let sent = crate::http::block_on(async move {
            let resp = rb.send().await?;
            let status = resp.status();
            let body = if status.as_u16() == 200 {
                Some(resp.json::<Value>().await)
            } else {
                None
            };
            Ok::<_, reqwest::Error>((status, body))
        })
        .map_err(|e| WaitError::Http {
            url: shown.clone(),
            detail: e.to_string(),
        })?;
        match sent {
            Ok((status, Some(record))) if status.as_u16() == 200 => {
                let record: Value = record.map_err(|e| WaitError::Http {
                    url: shown.clone(),
                    detail: format!("the record is not JSON ({})", e.without_url()),
                })?;
                return judge(record);
            }
            Ok((status, _)) if status.as_u16() == 204 => last = "still running (204)".into(),
            Ok((status, _)) if status.is_server_error() => {
                last = format!("HTTP {}", status.as_u16())
            }
            Ok((status, _)) => {
                return Err(WaitError::Http {
                    url: shown,
                    detail: format!("HTTP {} while polling", status.as_u16()),
                })
            }
            Err(e) => last = crate::ci::redact(&e.without_url().to_string()),
        }
        if Instant::now() + req.interval > deadline {
            tracing::warn!("deployment at {shown}: {last}");
            return Err(WaitError::Timeout {
                url: shown,
                secs: req.timeout.as_secs(),
            });
        }
        std::thread::sleep(req.interval);
    }
}

/// A final record: failed (status `failed` or an `error`) or not.
fn judge(record: Value) -> Result<Value, WaitError> {
    let failed = record["status"] == "failed"
        || record["error"].as_str().is_some_and(|e| !e.is_empty()) && record["status"] != "ignored";
    if failed {
        return Err(WaitError::Failed {
            id: record["id"].as_str().unwrap_or_default().to_string(),
            error: record["error"].as_str().unwrap_or("failed").to_string(),
            record,
        });
    }
    Ok(record)
}

/// `--wait` of `cadkit webhook`: follow `location` (relative to the webhook URL) polling
/// every 500 ms. A 2xx without `Location` (nothing deployed asynchronously) passes.
pub fn wait_for(
    webhook: &url::Url,
    location: Option<&str>,
    token: Option<String>,
    scheme: super::AuthScheme,
    timeout: Duration,
) -> Result<Value, WaitError> {
    let Some(loc) = location else {
        tracing::warn!("--wait: the webhook answered without a Location header; nothing to follow");
        return Ok(Value::Null);
    };
    let url = resolve(webhook, loc).ok_or_else(|| WaitError::Http {
        url: super::redact_url(webhook),
        detail: format!("invalid Location {loc:?}"),
    })?;
    follow(&WaitRequest {
        url,
        token,
        scheme,
        timeout,
        interval: Duration::from_millis(500),
    })
}
