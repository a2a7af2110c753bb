//! Push notifications as registries send them, reduced to what routing needs.
//!
//! Shapes read: the distribution `{"events": […]}` envelope (what `docker-registry` sends:
//! one POST per blob and per manifest; only manifest events carry a `tag`), Docker Hub
//! (`push_data` + `repository`), Harbor (`PUSH_ARTIFACT`) and ACR (one event at the top).
//! The host a notification names is ignored: images are pulled from the environment's
//! configured registry only.

use serde_json::Value;

/// One pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `namespace/name`, as the registry stores it.
    pub repository: String,
    /// The tag pushed.
    pub tag: String,
    /// `sha256:…` when the notification gives it (Docker Hub does not: the tag is resolved
    /// in the configured registry).
    pub digest: Option<String>,
    /// A stable id of the event (the registry's event id, else the delivery key), so a
    /// redelivered notification is recognised.
    pub event_id: Option<String>,
}

/// What a notification holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Manifest pushes with a tag.
    pub pushes: Vec<Push>,
    /// Events skipped (blob pushes, pulls, deletes, manifests pushed by digest only).
    pub skipped: usize,
}

/// Why a body is not a notification.
#[derive(Debug, thiserror::Error)]
#[error("not a registry push notification: {0}")]
pub struct HookError(pub String);

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(String::from)
}

/// Parse a notification body.
pub fn parse(body: &[u8]) -> Result<Parsed, HookError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| HookError(format!("invalid JSON ({e})")))?;
    let mut out = Parsed::default();
    if let Some(events) = v.get("events") {
        let events = events
            .as_array()
            .ok_or_else(|| HookError("\"events\" is not an array".into()))?;
        for e in events {
            event(e, &mut out);
        }
    } else if v.get("push_data").is_some() {
        let repo = s(&v["repository"]["repo_name"]);
        let tag = s(&v["push_data"]["tag"]);
        match (repo, tag) {
            (Some(repository), Some(tag)) => out.pushes.push(Push {
                repository,
                tag,
                digest: None,
                event_id: None,
            }),
            _ => {
                return Err(HookError(
                    "Docker Hub payload without repository.repo_name or push_data.tag".into(),
                ))
            }
        }
    } else if v.get("event_data").is_some() || v.get("type").is_some() {
        if v["type"].as_str() != Some("PUSH_ARTIFACT") {
            out.skipped += 1;
            return Ok(out);
        }
        let repo = s(&v["event_data"]["repository"]["repo_full_name"]).ok_or_else(|| {
            HookError("Harbor payload without event_data.repository.repo_full_name".into())
        })?;
        for r in v["event_data"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match s(&r["tag"]) {
                Some(tag) => out.pushes.push(Push {
                    repository: repo.clone(),
                    tag,
                    digest: s(&r["digest"]),
                    event_id: None,
                }),
                None => out.skipped += 1,
            }
        }
    } else if v.get("action").is_some() && v.get("target").is_some() {
        event(&v, &mut out);
    } else {
        return Err(HookError(
            "expected a distribution {\"events\"}, Docker Hub, Harbor or ACR payload".into(),
        ));
    }
    Ok(out)
}

/// One distribution/ACR event.
fn event(e: &Value, out: &mut Parsed) {
    let t = &e["target"];
    let is_push = e["action"].as_str() == Some("push");
    match (is_push, s(&t["repository"]), s(&t["tag"])) {
        (true, Some(repository), Some(tag)) => out.pushes.push(Push {
            repository,
            tag,
            digest: s(&t["digest"]),
            event_id: s(&e["id"]),
        }),
        _ => out.skipped += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::payload::{build, parse_image, Format, Meta};

    #[test]
    fn every_shape_cadkit_webhook_sends() {
        let img = parse_image("reg.example/acme/shop:master-1@sha256:ab").unwrap();
        let meta = Meta {
            id: "k".into(),
            timestamp: 0,
            actor: "ci".into(),
            user_agent: "x".into(),
        };
        for f in [
            Format::Distribution,
            Format::Dockerhub,
            Format::Harbor,
            Format::Acr,
        ] {
            let body = serde_json::to_vec(&build(f, &img, &meta, None).unwrap()).unwrap();
            let p = parse(&body).unwrap();
            assert_eq!(p.pushes.len(), 1, "{f:?}");
            assert_eq!(p.pushes[0].repository, "acme/shop");
            assert_eq!(p.pushes[0].tag, "master-1");
        }
    }

    #[test]
    fn blob_events_are_skipped() {
        let body = br#"{"events":[{"id":"1","action":"push","target":{"mediaType":"application/octet-stream","digest":"sha256:1","repository":"a/b"}},
            {"id":"2","action":"pull","target":{"repository":"a/b","tag":"t"}}]}"#;
        let p = parse(body).unwrap();
        assert_eq!((p.pushes.len(), p.skipped), (0, 2));
        assert!(parse(b"{}").is_err());
        assert!(parse(b"nope").is_err());
    }
}
