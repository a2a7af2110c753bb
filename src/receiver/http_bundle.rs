//! `POST /v1/environments/{environment}/deployments`: a bundle upload, checked entirely
//! (archive safety, `project.json`, every patch) before it is accepted, so bad input gets
//! a 400 naming what is wrong and nothing is recorded nor applied.

use super::answer::{authorize, busy, err, internal, known_env, location, read_body, Fail};
use super::auth::Scope;
use super::deploy::Job;
use super::records::{NewRecord, Status};
use super::Receiver;
use crate::bundle::{self, DistError, ProjectMeta};
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// Unpack and check a bundle into `dir`; the error is the 400 answer.
fn check(
    bytes: &[u8],
    dir: &std::path::Path,
    limits: &bundle::Limits,
) -> Result<ProjectMeta, Fail> {
    let bad = |m: String| err(StatusCode::BAD_REQUEST, m);
    bundle::unpack_zip(bytes, dir, limits).map_err(|e| bad(format!("invalid bundle: {e}")))?;
    let pj = dir.join(bundle::PROJECT_FILE);
    let meta = std::fs::read(&pj)
        .map_err(|_| bad("invalid bundle: missing project.json (name, version, description, author); pack it with `cadkit bundle`".into()))?;
    let meta = ProjectMeta::parse(&meta).map_err(|e| bad(format!("invalid bundle: {e:#}")))?;
    match bundle::validate_dist(&dir.join(bundle::DIST_DIR)) {
        Ok(_) => Ok(meta),
        Err(DistError::Layout(m)) => Err(bad(format!("invalid bundle: {m}"))),
        Err(DistError::Files(map)) => {
            let e = format!("invalid bundle: {}", DistError::Files(map.clone()));
            Err(Fail(Box::new(
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": e, "filesError": map})),
                )
                    .into_response(),
            )))
        }
    }
}

/// The upload handler: checks (access, environment, content type, not busy), then the
/// bundle (`check`, off the async runtime), then a record (`record`) and the job.
pub(super) async fn upload(
    r: Arc<Receiver>,
    env: String,
    h: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    authorize(&r, &h, Scope::Write)?;
    known_env(&r, &env)?;
    check_content_type(&h)?;
    if let Some((id, _)) = r.store().active(&env).map_err(internal)? {
        return Err(busy(&env, id));
    }
    let bytes = read_body(body, r.loaded.config.max_body_bytes).await?;
    let sha = crate::image::layer::digest_of(&bytes);
    let dir: PathBuf = r
        .loaded
        .work_dir
        .join(format!("b-{:016x}", rand::random::<u64>()));
    let limits = r.limits();
    let d2 = dir.clone();
    let checked = tokio::task::spawn_blocking(move || check(&bytes, &d2, &limits))
        .await
        .map_err(|e| internal(anyhow::anyhow!("bundle check stopped: {e}")))?;
    let meta = match checked {
        Ok(m) => m,
        Err(resp) => {
            crate::fsutil::remove_tree(&dir);
            return Err(resp);
        }
    };
    let source = json!({"kind": "bundle", "sha256": sha, "project": meta});
    let decided = record(&r, &env, &source, &sha);
    let (id, status) = match decided {
        Ok(x) => x,
        Err(resp) => {
            crate::fsutil::remove_tree(&dir);
            return Err(resp);
        }
    };
    let code = if status == Status::Queued {
        r.spawn_or_fail(id, &env, Job::Dist(dir.join(bundle::DIST_DIR)));
        StatusCode::ACCEPTED
    } else {
        crate::fsutil::remove_tree(&dir);
        StatusCode::OK
    };
    let mut resp = (
        code,
        axum::Json(json!({"id": id.to_string(), "environment": env, "location": location(id),
            "status": if status == Status::Queued { "queued" } else { "noop" },
            "message": format!("a deployment task for {} {} to {env} has been queued; poll GET {}", meta.name, meta.version, location(id))})),
    )
        .into_response();
    if let Ok(v) = location(id).parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Only a zip body is a bundle: anything else is refused before reading it.
fn check_content_type(h: &HeaderMap) -> Result<(), Fail> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with("application/zip") || ct.starts_with("application/octet-stream")) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("Content-Type must be application/zip (a bundle made by `cadkit bundle`), found {ct:?}"),
        ));
    }
    Ok(())
}

/// The deployment record of a checked bundle, under the store lock: busy when another
/// deployment started meanwhile, a no-op when the same bundle is deployed, else queued.
fn record(
    r: &Receiver,
    env: &str,
    source: &serde_json::Value,
    sha: &str,
) -> Result<(i64, Status), Fail> {
    let store = r.store();
    match store.active(env).map_err(internal)? {
        Some((id, _)) => Err(busy(env, id)),
        None => {
            let same = store.deployed_digest(env).map_err(internal)?.as_deref() == Some(sha);
            let status = if same { Status::Noop } else { Status::Queued };
            let id = store
                .insert(&NewRecord {
                    environment: env,
                    source,
                    digest: Some(sha),
                    event_key: None,
                    status,
                    error: None,
                })
                .map_err(internal)?;
            Ok((id, status))
        }
    }
}
