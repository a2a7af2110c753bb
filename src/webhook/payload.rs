//! Registry-shaped payloads: what a registry would send when the image is pushed, so the
//! receiving side cannot tell "CI called" from "registry called".

use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use serde_json::{json, Value};

/// A parsed image reference `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The reference as given.
    pub image: String,
    /// Registry `host[:port]` (`docker.io` when none is given).
    pub registry: String,
    /// Repository path (`library/nginx` for Docker Hub official images).
    pub repository: String,
    /// Everything but the last path segment (`library`, `client/team`), may be empty.
    pub namespace: String,
    /// The last path segment.
    pub name: String,
    /// The tag, when the reference has one.
    pub tag: Option<String>,
    /// The manifest digest, when the reference has one.
    pub digest: Option<String>,
}

/// Parse an image reference (no network, no normalisation beyond Docker's defaults).
pub fn parse_image(s: &str) -> Result<ImageInfo> {
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        bail!("image reference {s:?} is empty or holds spaces");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (s, None),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (path, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
        None => (rest, None),
    };
    let mut parts: Vec<&str> = path.split('/').collect();
    let registry = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost")
    {
        parts.remove(0).to_string()
    } else {
        "docker.io".to_string()
    };
    if parts.iter().any(|p| p.is_empty()) {
        bail!("image reference {s:?} has an empty path segment");
    }
    if registry == "docker.io" && parts.len() == 1 {
        parts.insert(0, "library");
    }
    let name = parts.last().copied().unwrap_or_default().to_string();
    let namespace = parts[..parts.len() - 1].join("/");
    Ok(ImageInfo {
        image: s.to_string(),
        registry,
        repository: parts.join("/"),
        namespace,
        name,
        tag: tag.filter(|t| !t.is_empty()),
        digest,
    })
}

/// Payload shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CNCF Distribution notification envelope (`{"events":[…]}`).
    Distribution,
    /// Docker Hub repository webhook (`{"push_data":…,"repository":…}`).
    Dockerhub,
    /// Harbor project webhook, default payload (`{"type":"PUSH_ARTIFACT",…}`).
    Harbor,
    /// Azure Container Registry webhook push event.
    Acr,
    /// A user JSON template with `${…}` placeholders.
    Template,
}

impl Format {
    /// The `Content-Type` of payloads in this shape.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Distribution => "application/vnd.docker.distribution.events.v1+json",
            _ => "application/json",
        }
    }
}

/// What the payload describes besides the image.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Delivery/event id (the idempotency key).
    pub id: String,
    /// Unix seconds of the push.
    pub timestamp: i64,
    /// Who pushed (CI actor) .
    pub actor: String,
    /// The `User-Agent` the payload says the push came from.
    pub user_agent: String,
}

/// Build the payload for one image, in the shape `format` names (one function per shape).
pub fn build(
    format: Format,
    img: &ImageInfo,
    meta: &Meta,
    template: Option<&Value>,
) -> Result<Value> {
    let when = chrono::DateTime::from_timestamp(meta.timestamp, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(match format {
        Format::Distribution => distribution(img, meta, &when),
        Format::Dockerhub => dockerhub(img, meta),
        Format::Harbor => harbor(img, meta),
        Format::Acr => acr(img, meta, &when),
        Format::Template => {
            let t = template.context("--format template needs --template <file.json>")?;
            let vars: Vec<(&str, String)> = vec![
                ("image", img.image.clone()),
                ("registry", img.registry.clone()),
                ("repository", img.repository.clone()),
                ("namespace", img.namespace.clone()),
                ("name", img.name.clone()),
                ("tag", img.tag.clone().unwrap_or_default()),
                ("digest", img.digest.clone().unwrap_or_default()),
                ("id", meta.id.clone()),
                ("timestamp", when.clone()),
                ("actor", meta.actor.clone()),
            ];
            substitute(t, &vars)
        }
    })
}

/// The pushed manifest as an event target: media type, repository, the manifest's `url`
/// when given, and the digest and tag when known (shared by the Distribution and ACR
/// shapes; keys in the order registries send them).
fn target(img: &ImageInfo, url: Option<String>) -> Value {
    let mut target = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "repository": img.repository,
    });
    if let Some(url) = url {
        target["url"] = json!(url);
    }
    if let Some(d) = &img.digest {
        target["digest"] = json!(d);
    }
    if let Some(t) = &img.tag {
        target["tag"] = json!(t);
    }
    target
}

/// CNCF Distribution's notification envelope, as a registry sends it after a push.
fn distribution(img: &ImageInfo, meta: &Meta, when: &str) -> Value {
    let reference = img
        .digest
        .clone()
        .or_else(|| img.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let target = target(
        img,
        Some(format!(
            "https://{}/v2/{}/manifests/{}",
            img.registry, img.repository, reference
        )),
    );
    json!({"events": [{
        "id": meta.id,
        "timestamp": when,
        "action": "push",
        "target": target,
        "request": {"id": meta.id, "host": img.registry, "method": "PUT", "useragent": meta.user_agent},
        "actor": {"name": meta.actor},
        "source": {"addr": img.registry, "instanceID": "cadkit"},
    }]})
}

/// Docker Hub's repository webhook (tag only: Docker Hub sends no digest).
fn dockerhub(img: &ImageInfo, meta: &Meta) -> Value {
    json!({
        "callback_url": "",
        "push_data": {
            "pushed_at": meta.timestamp,
            "pusher": meta.actor,
            "tag": img.tag.clone().unwrap_or_else(|| "latest".into()),
            "images": [],
        },
        "repository": {
            "repo_name": img.repository,
            "name": img.name,
            "namespace": img.namespace,
            "owner": img.namespace.split('/').next().unwrap_or_default(),
            "repo_url": format!("https://{}/{}", img.registry, img.repository),
            "is_private": true,
            "status": "Active",
            "date_created": meta.timestamp,
        },
    })
}

/// Harbor's default `PUSH_ARTIFACT` payload.
fn harbor(img: &ImageInfo, meta: &Meta) -> Value {
    json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": meta.timestamp,
        "operator": meta.actor,
        "event_data": {
            "resources": [{
                "digest": img.digest.clone().unwrap_or_default(),
                "tag": img.tag.clone().unwrap_or_default(),
                "resource_url": format!("{}/{}:{}", img.registry, img.repository, img.tag.clone().unwrap_or_else(|| "latest".into())),
            }],
            "repository": {
                "name": img.name,
                "namespace": img.namespace,
                "repo_full_name": img.repository,
                "repo_type": "private",
                "date_created": meta.timestamp,
            },
        },
    })
}

/// Azure Container Registry's push event.
fn acr(img: &ImageInfo, meta: &Meta, when: &str) -> Value {
    json!({
        "id": meta.id,
        "timestamp": when,
        "action": "push",
        "target": target(img, None),
        "request": {"id": meta.id, "host": img.registry, "method": "PUT", "useragent": meta.user_agent},
    })
}

/// Replace `${name}` inside every string of `v` (JSON-safe: values are inserted into
/// strings, never into the JSON text).
fn substitute(v: &Value, vars: &[(&str, String)]) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (k, val) in vars {
                out = out.replace(&format!("${{{k}}}"), val);
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let i = parse_image("nginx").unwrap();
        assert_eq!(
            (i.registry.as_str(), i.repository.as_str(), i.tag.as_deref()),
            ("docker.io", "library/nginx", None)
        );
        let i = parse_image("registry.example:5000/client/shop:shop-frontend").unwrap();
        assert_eq!(i.registry, "registry.example:5000");
        assert_eq!(i.repository, "client/shop");
        assert_eq!((i.namespace.as_str(), i.name.as_str()), ("client", "shop"));
        assert_eq!(i.tag.as_deref(), Some("shop-frontend"));
        let i = parse_image("localhost/a/b@sha256:abc").unwrap();
        assert_eq!(
            (i.registry.as_str(), i.digest.as_deref()),
            ("localhost", Some("sha256:abc"))
        );
        assert!(parse_image("a b").is_err());
        assert!(parse_image("r.io//x").is_err());
    }

    #[test]
    fn payload_shapes() {
        let img = parse_image("reg.example/client/shop:master-42bd534f").unwrap();
        let meta = Meta {
            id: "k1".into(),
            timestamp: 0,
            actor: "ci".into(),
            user_agent: "cadkit/0".into(),
        };
        let d = build(Format::Distribution, &img, &meta, None).unwrap();
        assert_eq!(d["events"][0]["action"], "push");
        assert_eq!(d["events"][0]["target"]["tag"], "master-42bd534f");
        assert_eq!(d["events"][0]["target"]["repository"], "client/shop");
        assert_eq!(d["events"][0]["timestamp"], "1970-01-01T00:00:00Z");
        let h = build(Format::Dockerhub, &img, &meta, None).unwrap();
        assert_eq!(h["push_data"]["tag"], "master-42bd534f");
        assert_eq!(h["repository"]["repo_name"], "client/shop");
        let hb = build(Format::Harbor, &img, &meta, None).unwrap();
        assert_eq!(hb["type"], "PUSH_ARTIFACT");
        assert_eq!(hb["event_data"]["resources"][0]["tag"], "master-42bd534f");
        assert_eq!(
            hb["event_data"]["repository"]["repo_full_name"],
            "client/shop"
        );
        let acr = build(Format::Acr, &img, &meta, None).unwrap();
        assert_eq!(
            (acr["action"].as_str(), acr["target"]["tag"].as_str()),
            (Some("push"), Some("master-42bd534f"))
        );
        let t = serde_json::json!({"ref": "${image}", "n": 1, "x": ["${tag}\"}"]});
        let p = build(Format::Template, &img, &meta, Some(&t)).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"ref": "reg.example/client/shop:master-42bd534f", "n": 1, "x": ["master-42bd534f\"}"]})
        );
        assert!(build(Format::Template, &img, &meta, None).is_err());
    }
}
