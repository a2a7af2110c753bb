//! The routes (axum). Every answer is JSON except 204s and 401 (no detail).

use super::answer::{authorize, busy, err, internal, known_env, location, read_body, Fail};
use super::auth::Scope;
use super::deploy::Job;
use super::hooks::{self, Push};
use super::records::{NewRecord, Status};
use super::Receiver;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

type St = State<Arc<Receiver>>;

/// Largest notification body (registries send a few KiB).
const HOOK_MAX_BYTES: usize = 1 << 20;

/// The API.
pub fn router(r: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/hooks", post(hook_all))
        .route("/v1/hooks/{environment}", post(hook_one))
        .route("/v1/environments/{environment}/deployments", post(upload))
        .route("/v1/environments/{environment}", delete(undeploy))
        .route(
            "/v1/environments/{environment}/config",
            get(get_config).put(put_config),
        )
        .route("/v1/deployments", get(list))
        .route("/v1/deployments/{id}", get(get_one))
        .fallback(|| async {
            err(
                StatusCode::NOT_FOUND,
                "no such route (see docs/receiver.md)",
            )
        })
        .with_state(r)
}

async fn hook_all(s: St, h: HeaderMap, body: Body) -> Response {
    hook(s.0, None, h, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn hook_one(s: St, Path(env): Path<String>, h: HeaderMap, body: Body) -> Response {
    hook(s.0, Some(env), h, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Check `X-Cadkit-Signature-256` when a secret is configured.
fn check_signature(r: &Receiver, h: &HeaderMap, body: &[u8]) -> Result<(), Fail> {
    let Some(secret) = &r.secret else {
        return Ok(());
    };
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok = crate::webhook::verify_signature(
        secret,
        get("x-cadkit-timestamp"),
        body,
        get("x-cadkit-signature-256"),
        chrono::Utc::now().timestamp(),
        r.loaded.config.signature_tolerance_secs,
    );
    if ok {
        Ok(())
    } else {
        Err(Fail(Box::new(StatusCode::UNAUTHORIZED.into_response())))
    }
}

/// One (environment, push) pair to record.
struct Target {
    env: String,
    push: Push,
    matched: bool,
}

fn targets(r: &Receiver, only: Option<&str>, pushes: &[Push]) -> Vec<Target> {
    let mut out = Vec::new();
    for p in pushes {
        let mut any = false;
        for (name, e) in &r.loaded.config.environments {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let repo_ok = e.repository.as_deref().is_none_or(|x| x == p.repository);
            let tag_ok = r
                .loaded
                .rules
                .get(name)
                .and_then(|x| x.as_ref())
                .is_none_or(|re| re.is_match(&p.tag));
            if repo_ok && tag_ok && e.registry.is_some() {
                any = true;
                out.push(Target {
                    env: name.clone(),
                    push: p.clone(),
                    matched: true,
                });
            }
        }
        if !any {
            out.push(Target {
                env: only.unwrap_or("").to_string(),
                push: p.clone(),
                matched: false,
            });
        }
    }
    out
}

async fn hook(
    r: Arc<Receiver>,
    only: Option<String>,
    h: HeaderMap,
    body: Body,
) -> Result<Response, Fail> {
    authorize(&r, &h, Scope::Write)?;
    if let Some(e) = &only {
        known_env(&r, e)?;
    }
    let bytes = read_body(body, HOOK_MAX_BYTES.min(r.loaded.config.max_body_bytes)).await?;
    check_signature(&r, &h, &bytes)?;
    let parsed = hooks::parse(&bytes).map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))?;
    if parsed.pushes.is_empty() {
        return Ok((
            StatusCode::OK,
            axum::Json(json!({"deployments": [], "skippedEvents": parsed.skipped})),
        )
            .into_response());
    }
    let delivery = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .unwrap_or_else(|| crate::image::layer::digest_of(&bytes));
    let ts = targets(&r, only.as_deref(), &parsed.pushes);
    let (answers, spawn) = {
        let store = r.store();
        decide(&r, &store, &ts, &delivery).map_err(internal)??
    };
    for (id, env, job) in spawn {
        r.spawn_or_fail(id, &env, job);
    }
    let first_new = answers
        .iter()
        .find(|a| a["status"] == "queued")
        .or_else(|| answers.first());
    let code = if answers.iter().any(|a| a["status"] == "queued") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut resp = (
        code,
        axum::Json(json!({"deployments": answers, "skippedEvents": parsed.skipped})),
    )
        .into_response();
    if let Some(id) = first_new
        .and_then(|a| a["id"].as_str())
        .and_then(|i| i.parse::<i64>().ok())
    {
        if let Ok(v) = location(id).parse() {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

type Decision = (Vec<Value>, Vec<(i64, String, Job)>);

/// Under the store lock: dedupe, 409 on a busy environment (nothing recorded then), or
/// create the records. Returns the answers and the jobs to start.
fn decide(
    r: &Receiver,
    store: &super::records::Store,
    ts: &[Target],
    delivery: &str,
) -> anyhow::Result<Result<Decision, Fail>> {
    let plan = match classify(store, ts, delivery)? {
        Ok(plan) => plan,
        Err(fail) => return Ok(Err(fail)),
    };
    let mut answers = Vec::new();
    let mut spawn = Vec::new();
    for (i, existing, status) in plan {
        let t = &ts[i];
        let id = match existing {
            Some(id) => {
                answers.push(json!({"environment": t.env, "id": id.to_string(), "location": location(id), "status": "queued", "duplicate": true}));
                continue;
            }
            None => record(r, store, t, status, delivery)?,
        };
        let st = match status {
            Status::Queued => "queued",
            Status::Noop => "noop",
            _ => "ignored",
        };
        answers.push(json!({"environment": t.env, "id": id.to_string(), "location": location(id), "status": st}));
        if status == Status::Queued {
            let e = &r.loaded.config.environments[&t.env];
            spawn.push((
                id,
                t.env.clone(),
                Job::Image {
                    registry: e.registry.clone().unwrap_or_default(),
                    repository: t.push.repository.clone(),
                    tag: t.push.tag.clone(),
                    digest: t.push.digest.clone(),
                    image_path: e.image_path.clone(),
                },
            ));
        }
    }
    Ok(Ok((answers, spawn)))
}

/// What each target gets, read from the records before anything is written: its earlier
/// deployment (a redelivery, or the same content already running), ignored (no
/// environment accepts it), a no-op (the digest is deployed) or queued; a busy
/// environment fails the whole delivery.
#[allow(clippy::type_complexity)]
fn classify(
    store: &super::records::Store,
    ts: &[Target],
    delivery: &str,
) -> anyhow::Result<Result<Vec<(usize, Option<i64>, Status)>, Fail>> {
    let mut plan: Vec<(usize, Option<i64>, Status)> = Vec::new();
    for (i, t) in ts.iter().enumerate() {
        let key = event_key(&t.push, delivery);
        if let Some(id) = store.by_event(&t.env, &key)? {
            plan.push((i, Some(id), Status::Queued));
            continue;
        }
        if !t.matched {
            plan.push((i, None, Status::Ignored));
            continue;
        }
        let content = content_key(&t.push);
        if let Some((id, d)) = store.active(&t.env)? {
            if d.as_deref() == Some(content.as_str()) {
                plan.push((i, Some(id), Status::Queued));
                continue;
            }
            return Ok(Err(busy(&t.env, id)));
        }
        let deployed = store.deployed_digest(&t.env)?;
        let noop = t.push.digest.is_some() && deployed.as_deref() == t.push.digest.as_deref();
        plan.push((i, None, if noop { Status::Noop } else { Status::Queued }));
    }
    Ok(Ok(plan))
}

/// A new deployment record for one target (an ignored one keeps the reason and no
/// digest); its id.
fn record(
    r: &Receiver,
    store: &super::records::Store,
    t: &Target,
    status: Status,
    delivery: &str,
) -> anyhow::Result<i64> {
    let source = image_source(r, t);
    let key = event_key(&t.push, delivery);
    let content = content_key(&t.push);
    let error = (status == Status::Ignored).then(|| {
        format!(
            "no environment accepts {}:{}",
            t.push.repository, t.push.tag
        )
    });
    store.insert(&NewRecord {
        environment: &t.env,
        source: &source,
        digest: Some(&content)
            .filter(|_| status != Status::Ignored)
            .map(|s| s.as_str()),
        event_key: Some(&key),
        status,
        error: error.as_deref(),
    })
}

/// The identity of a delivery: the event id (registries, ACR) or the `Idempotency-Key`
/// (Docker Hub and Harbor shapes carry none; `cadkit webhook` sends the same value in
/// both), else the body's hash; with the pushed repository and tag.
fn event_key(p: &Push, delivery: &str) -> String {
    let id = p.event_id.as_deref().unwrap_or(delivery);
    format!("{id}|{}|{}", p.repository, p.tag)
}

/// What identifies the content: the digest, else the tag (resolved later).
fn content_key(p: &Push) -> String {
    p.digest.clone().unwrap_or_else(|| format!("tag:{}", p.tag))
}

fn image_source(r: &Receiver, t: &Target) -> Value {
    let registry = r
        .loaded
        .config
        .environments
        .get(&t.env)
        .and_then(|e| e.registry.clone())
        .unwrap_or_default();
    json!({
        "kind": "image",
        "image": format!("{registry}/{}:{}", t.push.repository, t.push.tag),
        "registry": registry,
        "repository": t.push.repository,
        "tag": t.push.tag,
        "digest": t.push.digest,
    })
}

async fn upload(s: St, Path(env): Path<String>, h: HeaderMap, body: Body) -> Response {
    super::http_bundle::upload(s.0, env, h, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn undeploy(s: St, Path(env): Path<String>, h: HeaderMap) -> Response {
    let r = s.0;
    let run = || -> Result<Response, Fail> {
        authorize(&r, &h, Scope::Delete)?;
        known_env(&r, &env)?;
        let id = {
            let store = r.store();
            if let Some((id, _)) = store.active(&env).map_err(internal)? {
                return Err(busy(&env, id));
            }
            store
                .insert(&NewRecord {
                    environment: &env,
                    source: &json!({"kind": "undeploy"}),
                    digest: None,
                    event_key: None,
                    status: Status::Queued,
                    error: None,
                })
                .map_err(internal)?
        };
        r.spawn_or_fail(id, &env, Job::Undeploy);
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = location(id).parse() {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn get_config(s: St, Path(env): Path<String>, h: HeaderMap) -> Response {
    let r = s.0;
    let run = || -> Result<Response, Fail> {
        authorize(&r, &h, Scope::Read)?;
        known_env(&r, &env)?;
        let settings = r.settings(&env).map_err(internal)?;
        Ok(axum::Json(settings).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn put_config(s: St, Path(env): Path<String>, h: HeaderMap, body: Body) -> Response {
    let r = s.0;
    let run = async {
        authorize(&r, &h, Scope::Write)?;
        known_env(&r, &env)?;
        let bytes = read_body(body, HOOK_MAX_BYTES).await?;
        let settings: super::config::UpdateSettings =
            serde_json::from_slice(&bytes).map_err(|e| {
                err(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid config: {e} (fields: excludeTags, includeTags, noDowntime, drift)"
                    ),
                )
            })?;
        settings
            .validate()
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid config: {e:#}")))?;
        let v = serde_json::to_value(&settings).map_err(|e| internal(e.into()))?;
        r.store().put_settings(&env, &v).map_err(internal)?;
        Ok::<_, Fail>(axum::Json(v).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(serde::Deserialize)]
struct Page {
    start: Option<String>,
    count: Option<String>,
}

async fn list(s: St, h: HeaderMap, Query(q): Query<Page>) -> Response {
    let r = s.0;
    let run = || -> Result<Response, Fail> {
        authorize(&r, &h, Scope::Read)?;
        let num = |v: &Option<String>, name: &str, default: u64| -> Result<u64, Fail> {
            match v {
                None => Ok(default),
                Some(s) => s.parse::<u64>().map_err(|_| {
                    err(
                        StatusCode::BAD_REQUEST,
                        format!("{name} must be a non-negative integer, found {s:?}"),
                    )
                }),
            }
        };
        let start = num(&q.start, "start", 0)?;
        let count = num(&q.count, "count", 20)?.min(500);
        let (total, entries) = r.store().list(start, count).map_err(internal)?;
        Ok(axum::Json(json!({
            "start": start,
            "totalEntriesCount": total,
            "entriesCount": entries.len(),
            "entries": entries,
        }))
        .into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn get_one(s: St, Path(id): Path<String>, h: HeaderMap) -> Response {
    let r = s.0;
    let run = || -> Result<Response, Fail> {
        authorize(&r, &h, Scope::Read)?;
        let not_found = || err(StatusCode::NOT_FOUND, format!("no deployment {id:?}"));
        let n: i64 = id.parse().map_err(|_| not_found())?;
        let rec = r.store().get(n).map_err(internal)?.ok_or_else(not_found)?;
        if rec.task_active {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Ok(axum::Json(rec).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}
