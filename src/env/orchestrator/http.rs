//! The HTTP side of the protocol (`/OlympeServer/rest/…`): versions, files of the patches
//! folder and of the backup area, graphDef queries, the maintenance probes.
//!
//! Same requests as the toolkit: the token goes raw in `Authorization`; file paths are
//! percent-encoded into one segment (`encodeURIComponent`); a graphDef 503 means
//! "overloaded" and is retried up to 5 times. Errors never include the token.

use super::config::{OrchestratorConfig, Secret};
use super::OrchestratorError;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is escaped.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The HTTP client of one orchestrator: a shared connection pool and the base URL
/// `http(s)://<host>:<port>/OlympeServer/` every request is relative to.
pub struct Http {
    client: Client,
    base: String,
}

fn http_err(what: String, e: reqwest::Error) -> OrchestratorError {
    // reqwest errors carry the URL (never a token: it travels in a header).
    OrchestratorError::Http {
        what,
        reason: e.without_url().to_string(),
    }
}

impl Http {
    /// A client for `cfg`'s base URL: 10 s connect timeout, `cfg.http_timeout` per
    /// request (graphDef answers of big roots are slow).
    pub fn new(cfg: &OrchestratorConfig) -> Result<Http, OrchestratorError> {
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(cfg.http_timeout)
            .build()
            .map_err(|e| http_err("HTTP client".into(), e))?;
        Ok(Http {
            client,
            base: cfg.base_url(),
        })
    }

    /// The base URL, ending in `/OlympeServer/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get_json(&self, path: &str) -> Result<Value, OrchestratorError> {
        let url = format!("{}{path}", self.base);
        let r = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| http_err(format!("GET {url}"), e))?;
        if !r.status().is_success() {
            return Err(OrchestratorError::Status {
                what: format!("GET {url}"),
                status: r.status().as_u16(),
            });
        }
        r.json()
            .await
            .map_err(|e| http_err(format!("GET {url}"), e))
    }

    /// `GET rest/version` (no token): `sv` and `role`.
    pub async fn version(&self) -> Result<Value, OrchestratorError> {
        self.get_json("rest/version").await
    }

    /// `GET rest/database` (no token): the data-model versions (`draw_version`).
    pub async fn database(&self) -> Result<Value, OrchestratorError> {
        self.get_json("rest/database").await
    }

    fn file_url(&self, path: &str, backup: bool) -> String {
        let enc = percent_encoding::utf8_percent_encode(path, COMPONENT);
        format!("{}rest/filesvc/patch/{enc}?backup={backup}", self.base)
    }

    /// Download a file of the patches folder or of the backup area; `None` on 404.
    pub async fn download(
        &self,
        path: &str,
        backup: bool,
        token: &Secret,
    ) -> Result<Option<Vec<u8>>, OrchestratorError> {
        let url = self.file_url(path, backup);
        self.get_bytes(&url, format!("download {path} (backup={backup})"), token)
            .await
    }

    /// The binary content of File instance `tag` from the file service (the maintenance
    /// one while in maintenance, as the toolkit's snapshooter); `None` on 404.
    pub async fn file_content(
        &self,
        tag: &str,
        maintenance: bool,
        token: &Secret,
    ) -> Result<Option<Vec<u8>>, OrchestratorError> {
        let url = format!(
            "{}{}",
            self.base,
            crate::orchestrator::protocol::http::file_content_path(tag, maintenance)
        );
        self.get_bytes(&url, format!("content of file {tag}"), token)
            .await
    }

    /// `GET` with the token; `None` on 404.
    async fn get_bytes(
        &self,
        url: &str,
        what: String,
        token: &Secret,
    ) -> Result<Option<Vec<u8>>, OrchestratorError> {
        let r = self
            .client
            .get(url)
            .header("Authorization", token.expose())
            .send()
            .await
            .map_err(|e| http_err(what.clone(), e))?;
        if r.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status().is_success() {
            return Err(OrchestratorError::Status {
                what,
                status: r.status().as_u16(),
            });
        }
        let b = r.bytes().await.map_err(|e| http_err(what, e))?;
        Ok(Some(b.to_vec()))
    }

    /// Upload (create or overwrite) a file of the patches folder or of the backup area.
    pub async fn upload(
        &self,
        path: &str,
        body: Vec<u8>,
        backup: bool,
        token: &Secret,
    ) -> Result<(), OrchestratorError> {
        let url = self.file_url(path, backup);
        let what = format!("upload {path} (backup={backup})");
        let r = self
            .client
            .put(&url)
            .header("Authorization", token.expose())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| http_err(what.clone(), e))?;
        if !r.status().is_success() {
            return Err(OrchestratorError::Status {
                what,
                status: r.status().as_u16(),
            });
        }
        Ok(())
    }

    /// A graphDef query: the NDJSON operations it answers. 503 is retried (≤ 5 times,
    /// 1–2 s × attempt apart, as in the toolkit).
    pub async fn graphdef(
        &self,
        body: &Value,
        token: &Secret,
        maintenance: bool,
    ) -> Result<Vec<Value>, OrchestratorError> {
        let (what, bytes) = self.graphdef_bytes(body, token, maintenance).await?;
        parse_ndjson(&bytes).map_err(|reason| OrchestratorError::Http { what, reason })
    }

    /// A graphDef answer as received (NDJSON) with what was asked, for callers that parse
    /// many answers on every core (a whole-graph read is mostly parsing).
    pub async fn graphdef_bytes(
        &self,
        body: &Value,
        token: &Secret,
        maintenance: bool,
    ) -> Result<(String, bytes::Bytes), OrchestratorError> {
        let path = if maintenance {
            "rest/querysvc/graphDef/maintenance"
        } else {
            "rest/querysvc/graphDef"
        };
        let url = format!("{}{path}", self.base);
        let text = serde_json::to_string(body).expect("JSON");
        let what = format!("graphDef {}", body.get("i").unwrap_or(&Value::Null));
        let mut attempt = 0u32;
        loop {
            let r = self
                .client
                .post(&url)
                .header("Authorization", token.expose())
                .header("content-type", "application/json")
                .body(text.clone())
                .send()
                .await
                .map_err(|e| http_err(what.clone(), e))?;
            if r.status() == StatusCode::SERVICE_UNAVAILABLE && attempt < 5 {
                attempt += 1;
                let wait = 1000 + rand::random::<u64>() % 1000;
                tokio::time::sleep(Duration::from_millis(wait * attempt as u64)).await;
                continue;
            }
            if !r.status().is_success() {
                return Err(OrchestratorError::Status {
                    what,
                    status: r.status().as_u16(),
                });
            }
            let bytes = r.bytes().await.map_err(|e| http_err(what.clone(), e))?;
            return Ok((what, bytes));
        }
    }

    /// Wait until `<base>maintenance/` (on) or `<base>` (off) answers an `OPTIONS` with
    /// 2xx, within the toolkit's bound (it probes at once, then after 1, 2, 5, 10 and 15 s:
    /// 33 s in all). The probe is cheap and the switch usually takes milliseconds, so
    /// cadkit probes every 20 ms at first, backing off to 1 s: a switch costs what it
    /// takes, not a whole second of sleep, and a slow gateway gets as long as before.
    pub async fn wait_gateway(&self, maintenance_on: bool) -> Result<(), OrchestratorError> {
        let url = if maintenance_on {
            format!("{}maintenance/", self.base)
        } else {
            self.base.clone()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(33);
        // The switch reaches the orchestrator through the broker within milliseconds
        // here; a real one may take a second: short first pauses, then doubling.
        let mut pause = Duration::from_millis(4);
        loop {
            let ok = self
                .client
                .request(Method::OPTIONS, &url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        Err(OrchestratorError::Status {
            what: format!("OPTIONS {url} (gateway after the maintenance switch, 33 s)"),
            status: 0,
        })
    }
}

pub(crate) fn parse_ndjson(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad graphDef line: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_encoded_segment() {
        let h = Http::new(&OrchestratorConfig::default()).unwrap();
        assert_eq!(
            h.file_url("diff/a b.json", true),
            "http://localhost:8080/OlympeServer/rest/filesvc/patch/diff%2Fa%20b.json?backup=true"
        );
    }
}
