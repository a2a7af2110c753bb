//! Registry access: a blocking facade over `oci-client`, with credentials, plain-http
//! loopback, retries on transient errors and a clear error for rejected credentials.
//!
//! Credentials never reach a log line: `RegistryAuth`'s Debug hides them and this module
//! only ever prints user names.

use super::oci::ACCEPTED;
use anyhow::{anyhow, bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

mod upload;
pub use upload::StreamedUpload;

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `--username` (with `CADKIT_REGISTRY_PASSWORD`): used for the output registry.
    pub username: Option<String>,
    /// Password or token for `username` (from `CADKIT_REGISTRY_PASSWORD`, never logged).
    pub password: Option<String>,
    /// Folder holding config.json (`DOCKER_CONFIG`, default ~/.docker).
    pub docker_config: Option<PathBuf>,
}

impl Credentials {
    /// Credentials from the environment: `CADKIT_REGISTRY_PASSWORD` and the Docker config folder
    /// (`DOCKER_CONFIG`, else `~/.docker`).
    pub fn from_env(username: Option<String>) -> Credentials {
        Credentials {
            username,
            password: std::env::var("CADKIT_REGISTRY_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
            docker_config: std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))),
        }
    }
}

/// Errors callers may want to branch on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused the credentials (or wanted some and got none).
    #[error("registry {host} rejected the credentials{who} (HTTP 401); check DOCKER_CONFIG (cadkit registry-auth) or --username and CADKIT_REGISTRY_PASSWORD")]
    Unauthorized {
        /// The registry host.
        host: String,
        /// Whose credentials (` of user "…"`), or that none were given.
        who: String,
    },
    /// The image (or tag) does not exist.
    #[error("image {0} not found in its registry (check the name and tag)")]
    NotFound(String),
}

/// `user:pass` for `host` in the text of a docker config.json (see
/// [`crate::docker_config::credentials_for`]).
pub fn docker_config_auth(config_json: &str, host: &str) -> Result<Option<(String, String)>> {
    let v: serde_json::Value =
        serde_json::from_str(config_json).context("config.json is not JSON")?;
    crate::docker_config::credentials_for(&v, host)
}

/// Hosts reached over plain http: loopback always, others with `--insecure`.
pub fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') {
            h
        } else {
            host
        }
    });
    matches!(h, "localhost" | "127.0.0.1" | "[::1]") || h.starts_with("127.")
}

/// Blocking registry client shared by pulls and pushes to any number of registries.
pub struct Registry {
    /// The shared runtime ([`crate::http::runtime`]).
    rt: &'static tokio::runtime::Runtime,
    client: Client,
    http: reqwest::Client,
    creds: Credentials,
    /// The registry the `--username` credentials belong to.
    output_host: Option<String>,
    insecure: bool,
    auths: Mutex<BTreeMap<String, RegistryAuth>>,
    /// Attempts for a request that fails with a transient error.
    pub retries: u32,
}

/// Blob transfer statistics.
#[derive(Debug, Default, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs mounted from the base's repository (nothing uploaded).
    pub mounted: usize,
    /// Blobs the target already had.
    pub skipped: usize,
}

impl Registry {
    /// A client on the shared runtime ([`crate::http::runtime`]); `--username` credentials
    /// go to `output_host` only, and `insecure` makes every registry plain http.
    pub fn new(
        creds: Credentials,
        output_host: Option<String>,
        insecure: bool,
    ) -> Result<Registry> {
        let rt = crate::http::runtime().context("cannot start the async runtime")?;
        let protocol = if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::HttpsExcept(vec![])
        };
        Ok(Registry {
            rt,
            client: Client::new(ClientConfig {
                protocol,
                use_monolithic_push: true,
                connect_timeout: Some(Duration::from_secs(15)),
                read_timeout: Some(Duration::from_secs(300)),
                ..Default::default()
            }),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(15))
                .read_timeout(Duration::from_secs(300))
                .build()?,
            creds,
            output_host,
            insecure,
            auths: Mutex::new(BTreeMap::new()),
            retries: 4,
        })
    }

    /// Parse an image reference (`host[:port]/repo[:tag][@digest]`, Docker Hub short names).
    pub fn parse(&self, s: &str) -> Result<Reference> {
        s.parse::<Reference>()
            .map_err(|e| anyhow!("{s:?} is not an image reference: {e}"))
    }

    fn scheme(&self, host: &str) -> &'static str {
        if self.insecure || is_loopback(host) {
            "http"
        } else {
            "https"
        }
    }

    /// oci-client picks http per host from a fixed list; rebuild it when a loopback host
    /// shows up (the client is cheap; auth state is re-stored from `auths`).
    fn ensure_protocol(&mut self, host: &str) {
        if self.insecure || !is_loopback(host) {
            return;
        }
        let mut hosts: Vec<String> = self
            .auths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        hosts.push(host.to_string());
        hosts.retain(|h| is_loopback(h));
        self.client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(hosts),
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(300)),
            ..Default::default()
        });
        // The new client starts with an empty auth store: give it the known hosts again.
        let known: Vec<(String, RegistryAuth)> = self
            .auths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(h, a)| (h.clone(), a.clone()))
            .collect();
        let client = self.client.clone();
        self.rt.block_on(async move {
            for (h, a) in known {
                client.store_auth_if_needed(&h, &a).await;
            }
        });
    }

    /// Credentials for a host: `--username` for the output registry, else config.json.
    fn auth_for(&self, host: &str) -> Result<(RegistryAuth, String)> {
        if let (Some(u), Some(out)) = (&self.creds.username, &self.output_host) {
            if out == host {
                let p = self.creds.password.clone().ok_or_else(|| {
                    anyhow!("--username is set but CADKIT_REGISTRY_PASSWORD is empty")
                })?;
                return Ok((RegistryAuth::Basic(u.clone(), p), u.clone()));
            }
        }
        if let Some(dir) = &self.creds.docker_config {
            let file = dir.join("config.json");
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Some((u, p)) = docker_config_auth(&text, host)
                    .with_context(|| format!("cannot read {}", file.display()))?
                {
                    return Ok((RegistryAuth::Basic(u.clone(), p), u));
                }
            }
        }
        Ok((RegistryAuth::Anonymous, String::new()))
    }

    /// Prepare a host: choose http/https, load its credentials and check them once
    /// (a registry with Basic auth answers 401 on `/v2/` to bad credentials).
    pub fn login(&mut self, reference: &Reference) -> Result<RegistryAuth> {
        let host = reference.resolve_registry().to_string();
        if let Some(a) = self
            .auths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&host)
        {
            return Ok(a.clone());
        }
        self.ensure_protocol(&host);
        // Responses carry timers: drop them inside the runtime's context.
        let rt = self.rt.handle().clone();
        let _enter = rt.enter();
        let (auth, user) = self.auth_for(&host)?;
        let url = format!("{}://{}/v2/", self.scheme(&host), host);
        let mut req = self.http.get(&url);
        if let RegistryAuth::Basic(u, p) = &auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = self
            .retry(&format!("contact {host}"), || {
                let req = req.try_clone().expect("GET without body");
                async move { req.send().await.map_err(OciDistributionError::from) }
            })
            .with_context(|| format!("cannot reach registry {host} ({url})"))?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if challenge.starts_with("basic") {
                return Err(RegistryError::Unauthorized {
                    host,
                    who: if user.is_empty() {
                        " (none were given)".into()
                    } else {
                        format!(" of user {user:?}")
                    },
                }
                .into());
            }
        }
        let store = self.client.clone();
        let h2 = host.clone();
        let a2 = auth.clone();
        self.rt
            .block_on(async move { store.store_auth_if_needed(&h2, &a2).await });
        self.auths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(host, auth.clone());
        Ok(auth)
    }

    /// Run an async registry call with retries on transient errors (connection failures,
    /// timeouts, 5xx, 429), backing off 0.25 s, 0.5 s, 1 s, ...
    pub fn retry<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match self.rt.block_on(f()) {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.retries && is_transient(&e) => {
                    attempt += 1;
                    let wait =
                        crate::retry::Backoff::new(Duration::from_millis(250), Duration::MAX)
                            .delay_with(attempt, crate::retry::Jitter::None);
                    tracing::warn!(
                        "{what}: {e}; retrying in {wait:?} ({attempt}/{})",
                        self.retries
                    );
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(explain(e)).with_context(|| format!("cannot {what}")),
            }
        }
    }

    /// The raw top manifest of a reference and its digest.
    pub fn manifest(&mut self, r: &Reference) -> Result<(Vec<u8>, String)> {
        let auth = self.login(r)?;
        let c = self.client.clone();
        let res = self.retry(&format!("read manifest {r}"), || {
            let (c, r, auth) = (c.clone(), r.clone(), auth.clone());
            async move { c.pull_manifest_raw(&r, &auth, ACCEPTED).await }
        });
        match res {
            Ok((b, d)) => Ok((b.to_vec(), d)),
            Err(e) if is_not_found(&e) => Err(RegistryError::NotFound(r.to_string()).into()),
            Err(e) => Err(e),
        }
    }

    /// Whether the repository of `r` already holds a manifest with `digest`. Anything but
    /// a clear answer (an error) counts as "not held": the caller then treats the image as
    /// new, the safe side for a deployment.
    pub fn manifest_exists(&mut self, r: &Reference, digest: &str) -> bool {
        let by_digest = Reference::with_digest(
            r.registry().to_string(),
            r.repository().to_string(),
            digest.to_string(),
        );
        match self.manifest(&by_digest) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("{by_digest} not found in the registry: {e:#}");
                false
            }
        }
    }

    /// A blob, digest-checked.
    pub fn blob(&mut self, r: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.login(r)?;
        let c = self.client.clone();
        let bytes = self.retry(&format!("download blob {digest} from {r}"), || {
            let (c, r) = (c.clone(), r.clone());
            async move {
                let mut out: Vec<u8> = Vec::new();
                c.pull_blob(&r, digest, &mut out).await?;
                Ok(out)
            }
        })?;
        if super::blob::digest_of(&bytes) != digest {
            bail!("blob {digest} from {r} does not match its digest");
        }
        Ok(bytes)
    }

    /// Whether the repository holds the blob (a push can then be skipped).
    pub fn blob_exists(&mut self, r: &Reference, digest: &str) -> Result<bool> {
        self.login(r)?;
        let c = self.client.clone();
        self.retry(&format!("check blob {digest} in {r}"), || {
            let (c, r) = (c.clone(), r.clone());
            async move { c.blob_exists(&r, digest).await }
        })
    }

    /// Cross-repository mount; false when the registry declined (it then expects an upload).
    pub fn mount(&mut self, target: &Reference, from: &Reference, digest: &str) -> Result<bool> {
        self.login(target)?;
        let c = self.client.clone();
        let res = self.retry(&format!("mount blob {digest} into {target}"), || {
            let (c, t, f) = (c.clone(), target.clone(), from.clone());
            async move { c.mount_blob(&t, &f, digest).await }
        });
        match res {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::debug!("mount of {digest} declined: {e:#}");
                Ok(false)
            }
        }
    }

    /// Upload one blob (monolithic), retried on transient errors.
    pub fn push_blob(&mut self, r: &Reference, digest: &str, data: bytes::Bytes) -> Result<()> {
        self.login(r)?;
        let c = self.client.clone();
        self.retry(&format!("upload blob {digest} to {r}"), || {
            let (c, r) = (c.clone(), r.clone());
            let data = data.clone();
            async move { c.push_blob(&r, data, digest).await.map(|_| ()) }
        })
    }

    /// Put a manifest under `r`'s tag or digest.
    pub fn push_manifest(&mut self, r: &Reference, media_type: &str, body: &[u8]) -> Result<()> {
        self.login(r)?;
        let c = self.client.clone();
        let ct: reqwest::header::HeaderValue = media_type.parse()?;
        self.retry(&format!("push manifest {r}"), || {
            let (c, r, ct) = (c.clone(), r.clone(), ct.clone());
            let body = body.to_vec();
            async move { c.push_manifest_raw(&r, body, ct).await.map(|_| ()) }
        })
    }
}

fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => {
            r.is_connect()
                || r.is_timeout()
                || r.is_request()
                || r.is_body()
                || r.status()
                    .is_some_and(|s| s.is_server_error() || s.as_u16() == 429)
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| match c.downcast_ref::<OciDistributionError>() {
            Some(OciDistributionError::ImageManifestNotFoundError(_)) => true,
            Some(OciDistributionError::ServerError { code: 404, .. }) => true,
            Some(OciDistributionError::RegistryError { envelope, .. }) => {
                envelope.errors.iter().any(|x| {
                    matches!(
                        x.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NameUnknown
                    )
                })
            }
            _ => false,
        })
        || format!("{e:#}").contains("MANIFEST_UNKNOWN")
        || format!("{e:#}").contains("NAME_UNKNOWN")
}

fn explain(e: OciDistributionError) -> anyhow::Error {
    match &e {
        OciDistributionError::UnauthorizedError { url } => {
            anyhow!("the registry refused access to {url} (HTTP 401/403): check the credentials and the push/pull rights")
        }
        OciDistributionError::ServerError {
            code: 401 | 403,
            url,
            ..
        } => {
            anyhow!("the registry refused access to {url} (HTTP 401/403): check the credentials and the push/pull rights")
        }
        _ => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn docker_config_lookup() {
        let b = base64::engine::general_purpose::STANDARD.encode("ci:p:a:ss");
        let cfg = format!(
            r#"{{"auths":{{"https://reg.example:5001/v1/":{{"auth":"{b}"}},"other":{{"username":"u","password":"p"}}}}}}"#
        );
        assert_eq!(
            docker_config_auth(&cfg, "reg.example:5001").unwrap(),
            Some(("ci".into(), "p:a:ss".into()))
        );
        assert_eq!(
            docker_config_auth(&cfg, "other").unwrap(),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(docker_config_auth(&cfg, "nope").unwrap(), None);
        assert!(docker_config_auth(r#"{"auths":{"h":{"auth":"@@"}}}"#, "h").is_err());
    }

    #[test]
    fn loopback_hosts_use_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:80"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("registry.local:5000"));
    }

    #[test]
    fn transient_errors() {
        assert!(is_transient(&OciDistributionError::ServerError {
            code: 503,
            url: "u".into(),
            message: "m".into()
        }));
        assert!(!is_transient(&OciDistributionError::ServerError {
            code: 400,
            url: "u".into(),
            message: "m".into()
        }));
    }
}
