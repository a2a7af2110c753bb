//! Streamed blob uploads: the layer's bytes go to the registry while the layer is still
//! being written, so a large uncompressed layer is pushed in the time it takes to build.

use super::Registry;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

/// Body of a streamed upload: pieces arriving from the layer builder.
struct PieceStream(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl futures_core::Stream for PieceStream {
    type Item = std::result::Result<bytes::Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|o| o.map(Ok))
    }
}

/// An upload whose bytes are sent while they are produced (POST, one streamed PATCH, then
/// PUT `?digest=` once the digest is known) — how `docker push` uploads layers.
pub struct StreamedUpload {
    tx: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    patch: Option<tokio::task::JoinHandle<Result<String>>>,
    target: Reference,
    auth: Option<reqwest::header::HeaderValue>,
}

impl StreamedUpload {
    /// Hand over the next piece; an empty piece ends the body. Never blocks the producer on
    /// a failed upload (the bytes are then dropped and the caller falls back).
    pub fn send(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            self.tx = None;
            return;
        }
        if let Some(tx) = &self.tx {
            if tx
                .blocking_send(bytes::Bytes::copy_from_slice(piece))
                .is_err()
            {
                self.tx = None;
            }
        }
    }
}

impl Registry {
    /// The Authorization header oci-client would send for a push to `r`.
    fn push_header(&mut self, r: &Reference) -> Result<Option<reqwest::header::HeaderValue>> {
        let auth = self.login(r)?;
        let c = self.client.clone();
        let token = self.retry(&format!("authenticate to {}", r.registry()), || {
            let (c, r, auth) = (c.clone(), r.clone(), auth.clone());
            async move { c.auth(&r, &auth, oci_client::RegistryOperation::Push).await }
        })?;
        let value = match (token, &auth) {
            (Some(t), _) => Some(format!("Bearer {t}")),
            (None, RegistryAuth::Basic(u, p)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            _ => None,
        };
        Ok(match value {
            Some(v) => {
                let mut h: reqwest::header::HeaderValue = v.parse()?;
                h.set_sensitive(true);
                Some(h)
            }
            None => None,
        })
    }

    fn absolute(&self, host: &str, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}://{}{}", self.scheme(host), host, location)
        }
    }

    /// Open an upload session in `r`'s repository and start the streamed PATCH.
    pub fn start_streamed_upload(&mut self, r: &Reference) -> Result<StreamedUpload> {
        let auth = self.push_header(r)?;
        let rt = self.rt.handle().clone();
        let _enter = rt.enter();
        let host = r.resolve_registry().to_string();
        let base = format!("{}://{}", self.scheme(&host), host);
        let mut post = self
            .http
            .post(format!("{base}/v2/{}/blobs/uploads/", r.repository()))
            .header(reqwest::header::CONTENT_LENGTH, 0);
        if let Some(a) = &auth {
            post = post.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let resp = self
            .rt
            .block_on(post.send())
            .with_context(|| format!("cannot start an upload to {r}"))?;
        if resp.status() != reqwest::StatusCode::ACCEPTED {
            bail!("cannot start an upload to {r}: HTTP {}", resp.status());
        }
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("the registry gave no upload location"))?;
        let location = self.absolute(&host, location);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let mut patch = self
            .http
            .patch(&location)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(PieceStream(rx)));
        if let Some(a) = &auth {
            patch = patch.header(reqwest::header::AUTHORIZATION, a.clone());
        }
        let host2 = host.clone();
        let scheme = self.scheme(&host).to_string();
        let handle = self.rt.spawn(async move {
            let resp = patch.send().await.context("streamed upload failed")?;
            if resp.status() != reqwest::StatusCode::ACCEPTED {
                bail!("streamed upload refused: HTTP {}", resp.status());
            }
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| anyhow!("the registry gave no upload location"))?
                .to_string();
            Ok(if loc.starts_with("http") {
                loc
            } else {
                format!("{scheme}://{host2}{loc}")
            })
        });
        Ok(StreamedUpload {
            tx: Some(tx),
            patch: Some(handle),
            target: r.clone(),
            auth,
        })
    }

    /// Finish a streamed upload of the blob `digest`: commit it, or cancel it when the
    /// blob turns out to be there already. Ok(Some(action)) = "upload" or "exists";
    /// Ok(None) = the stream failed and the caller must upload the blob itself.
    pub fn finish_streamed_upload(
        &mut self,
        mut up: StreamedUpload,
        digest: &str,
    ) -> Result<Option<&'static str>> {
        let rt = self.rt.handle().clone();
        let _enter = rt.enter();
        up.tx = None;
        let Some(handle) = up.patch.take() else {
            return Ok(None);
        };
        let location = match self.rt.block_on(handle) {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                tracing::warn!("{e:#}; uploading the layer again in one piece");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!("streamed upload task failed: {e}; uploading again");
                return Ok(None);
            }
        };
        let with_auth = |rb: reqwest::RequestBuilder| match &up.auth {
            Some(a) => rb.header(reqwest::header::AUTHORIZATION, a.clone()),
            None => rb,
        };
        if self.blob_exists(&up.target, digest)? {
            let _ = self
                .rt
                .block_on(with_auth(self.http.delete(&location)).send());
            return Ok(Some("exists"));
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = with_auth(
            self.http
                .put(format!("{location}{sep}digest={digest}"))
                .header(reqwest::header::CONTENT_LENGTH, 0),
        );
        let resp = self
            .rt
            .block_on(put.send())
            .with_context(|| format!("cannot commit blob {digest} in {}", up.target))?;
        if resp.status() != reqwest::StatusCode::CREATED {
            tracing::warn!(
                "commit of the streamed blob {digest} refused (HTTP {}); uploading again",
                resp.status()
            );
            return Ok(None);
        }
        Ok(Some("upload"))
    }
}
