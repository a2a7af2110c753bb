//! The answers every route shares (errors, authorisation, body limits, 409), apart from
//! the routes so that each route module depends on this one and never on another route.

use super::auth::Scope;
use super::Receiver;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer (boxed: a `Response` is large).
pub(super) struct Fail(pub(super) Box<Response>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(super) fn err(code: StatusCode, msg: impl Into<String>) -> Fail {
    Fail(Box::new(
        (code, axum::Json(json!({ "error": msg.into() }))).into_response(),
    ))
}

pub(super) fn internal(e: anyhow::Error) -> Fail {
    tracing::error!("{e:#}");
    err(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::ci::redact(&format!("{e:#}")),
    )
}

pub(super) fn location(id: i64) -> String {
    format!("/v1/deployments/{id}")
}

/// 401 with no detail when the token does not grant `scope`.
pub(super) fn authorize(r: &Receiver, h: &HeaderMap, scope: Scope) -> Result<(), Fail> {
    let v = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if r.tokens.allows(v, scope) {
        Ok(())
    } else {
        Err(Fail(Box::new(StatusCode::UNAUTHORIZED.into_response())))
    }
}

pub(super) fn known_env(r: &Receiver, env: &str) -> Result<(), Fail> {
    if r.loaded.config.environments.contains_key(env) {
        Ok(())
    } else {
        Err(err(
            StatusCode::NOT_FOUND,
            format!("unknown environment {env:?} (not in the receiver config)"),
        ))
    }
}

pub(super) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Fail> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        err(
            StatusCode::BAD_REQUEST,
            format!("request body larger than {limit} bytes (maxBodyBytes in the receiver config)"),
        )
    })
}

pub(super) fn busy(env: &str, id: i64) -> Fail {
    let mut resp = err(
        StatusCode::CONFLICT,
        format!(
            "environment {env} is deploying ({}); retry when it has finished",
            location(id)
        ),
    );
    resp.0
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    resp
}
