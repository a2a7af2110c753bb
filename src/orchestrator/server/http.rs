//! The HTTP face (`/OlympeServer/…`, axum): version, database, file service, graphDef and
//! its maintenance variant, the maintenance probes. Everything but version, database and
//! the probes needs a token of `createToken` in `Authorization`.

use super::graphdef;
use super::state::{safe_join, State};
use crate::orchestrator::protocol::{http as p, GraphDefQuery, VersionInfo};
use crate::patch::tags;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State as Ext};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

type S = Arc<State>;

/// The router, with the recorder middleware.
pub fn router(state: S) -> Router {
    let base = p::BASE_PATH.trim_end_matches('/');
    Router::new()
        .route(&format!("{base}/{}", p::VERSION_PATH), get(version))
        .route(&format!("{base}/{}", p::DATABASE_PATH), get(database))
        .route(
            &format!("{base}/{}/{{path}}", p::PATCH_FILE_PATH),
            get(download).put(upload),
        )
        .route(
            &format!("{base}/{}/{{tag}}", p::FILE_SVC_PATH),
            get(file_content),
        )
        .route(
            &format!("{base}/{}/{{tag}}", p::FILE_SVC_MAINTENANCE_PATH),
            get(file_content),
        )
        .route(&format!("{base}/{}", p::GRAPHDEF_PATH), post(graphdef_live))
        .route(
            &format!("{base}/{}", p::GRAPHDEF_MAINTENANCE_PATH),
            post(graphdef_maintenance),
        )
        .route(&format!("{base}/"), options(probe_live))
        .route(
            &format!("{base}/{}", p::MAINTENANCE_PROBE_PATH),
            options(probe_maintenance),
        )
        .layer(axum::extract::DefaultBodyLimit::max(1 << 30))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Record method, path, query and body (token replaced by a placeholder) when `--record`.
async fn record(Ext(state): Ext<S>, req: Request, next: Next) -> Response {
    state.http_requests.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let what = format!("{} {}", req.method(), req.uri().path());
    let res = record_inner(&state, req, next).await;
    // Timings at debug level: what a slow deployment spends its time on.
    tracing::debug!(
        "http {what}: {} in {} ms",
        res.status().as_u16(),
        started.elapsed().as_millis()
    );
    res
}

async fn record_inner(state: &S, req: Request, next: Next) -> Response {
    if state.opts.record.is_none() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    state.record(json!({
        "kind": "http",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "authorization": parts.headers.get(p::TOKEN_HEADER).map(|_| "<token>"),
        "contentType": parts.headers.get("content-type").and_then(|v| v.to_str().ok()),
        "body": String::from_utf8_lossy(&bytes),
    }));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn authorized(state: &State, headers: &HeaderMap) -> bool {
    headers
        .get(p::TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| state.token_valid(t))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "missing or unknown token: get one with the createToken command",
    )
        .into_response()
}

async fn version(Ext(state): Ext<S>) -> Json<Value> {
    let info = VersionInfo {
        sv: state.opts.server_version.clone(),
        role: Some(state.opts.role.clone().unwrap_or_else(|| "active".into())),
    };
    let mut v = serde_json::to_value(info).unwrap_or_default();
    v["implementation"] = json!(format!(
        "cadkit {} reference orchestrator",
        env!("CARGO_PKG_VERSION")
    ));
    Json(v)
}

/// Data-model versions: the version property of the Draw and runtime projects.
async fn database(Ext(state): Ext<S>) -> Response {
    let st = state.clone();
    let res = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let g = st.graph()?;
        let v = |t: &str| {
            g.instances
                .get(t)
                .and_then(|p| p.get(tags::prop::PROJECT_VERSION))
                .cloned()
                .unwrap_or(Value::Null)
        };
        Ok(json!({"draw_version": v(tags::DRAW_PROJECT), "runtime_version": v(tags::RUNTIME_PROJECT)}))
    })
    .await;
    match res {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct FileQuery {
    #[serde(default)]
    backup: Option<String>,
}

fn file_path(
    state: &State,
    path: &str,
    q: &FileQuery,
) -> Result<std::path::PathBuf, Box<Response>> {
    let backup = q.backup.as_deref() == Some("true");
    safe_join(state.area(backup), path)
        .map_err(|e| Box::new((StatusCode::BAD_REQUEST, e.to_string()).into_response()))
}

async fn download(
    Ext(state): Ext<S>,
    headers: HeaderMap,
    UrlPath(path): UrlPath<String>,
    Query(q): Query<FileQuery>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let file = match file_path(&state, &path, &q) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match tokio::fs::read(&file).await {
        Ok(data) => data.into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, format!("no file {path}")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn upload(
    Ext(state): Ext<S>,
    headers: HeaderMap,
    UrlPath(path): UrlPath<String>,
    Query(q): Query<FileQuery>,
    body: Bytes,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let file = match file_path(&state, &path, &q) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let res =
        tokio::task::spawn_blocking(move || crate::fsutil::write_atomic(&file, &body, None)).await;
    match res {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The file service: the binary content of File instance `tag` (404 when the
/// environment holds none).
async fn file_content(
    Ext(state): Ext<S>,
    headers: HeaderMap,
    UrlPath(tag): UrlPath<String>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    if !crate::patch::is_tag(&tag) {
        return (StatusCode::BAD_REQUEST, format!("{tag:?} is not a tag")).into_response();
    }
    let st = state.clone();
    let t = tag.clone();
    let res = tokio::task::spawn_blocking(move || st.env()?.blob(&t)).await;
    match res {
        Ok(Ok(Some(data))) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            data,
        )
            .into_response(),
        Ok(Ok(None)) => {
            (StatusCode::NOT_FOUND, format!("no content for file {tag}")).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn graphdef_live(ext: Ext<S>, headers: HeaderMap, body: Bytes) -> Response {
    graphdef(ext, headers, body, false).await
}

async fn graphdef_maintenance(ext: Ext<S>, headers: HeaderMap, body: Bytes) -> Response {
    graphdef(ext, headers, body, true).await
}

/// The live endpoint is down in maintenance (503, the gateway is undeployed); the
/// maintenance one exists only in maintenance (404 otherwise).
async fn graphdef(
    Ext(state): Ext<S>,
    headers: HeaderMap,
    body: Bytes,
    maintenance_path: bool,
) -> Response {
    let maintenance = state.maintenance.load(Ordering::SeqCst);
    if maintenance && !maintenance_path {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance mode: use the maintenance graphDef",
        )
            .into_response();
    }
    if !maintenance && maintenance_path {
        return (StatusCode::NOT_FOUND, "not in maintenance mode").into_response();
    }
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let query: GraphDefQuery = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("invalid graphDef query: {e}"),
            )
                .into_response()
        }
    };
    let res = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let g = state.graph()?;
        graphdef::evaluate_ndjson(&g.graph, &g.bits, &query)
    })
    .await;
    match res {
        Ok(Ok(ndjson)) => ([("content-type", "application/x-ndjson")], ndjson).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn probe_live(Ext(state): Ext<S>, _m: Method) -> StatusCode {
    if state.maintenance.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn probe_maintenance(Ext(state): Ext<S>, _m: Method) -> StatusCode {
    if state.maintenance.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
