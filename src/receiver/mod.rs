//! `cadkit receiver`: the deployment side of the pipeline, an asynchronous deployment API
//! (after the Agama deployment API of seed 002) that turns a registry push notification or
//! an uploaded bundle into a converged environment.
//!
//! - [`config`]: the config file (environments, their registry, repository and tag rule);
//! - [`auth`]: bearer tokens per scope (read, write, delete), constant-time comparison;
//! - [`hooks`]: the notification shapes registries send;
//! - [`records`]: the SQLite deployment records (survive restarts; interrupted ones are
//!   marked failed at start);
//! - [`deploy`]: pull + verify + unpack + validate + converge ([`deploy::converge`] is the
//!   one call into the environment);
//! - [`http`]: the axum routes.
//!
//! Concurrency: one deployment per environment at a time. A new deployment for a busy
//! environment is refused with 409 (the sender retries); a redelivered notification, or
//! one for the content being deployed, gets the existing record; content the environment
//! already holds gets a recorded no-op. The check and the insert happen under one lock,
//! so concurrent notifications deploy each distinct digest once.

mod answer;
pub mod auth;
pub mod config;
pub mod deploy;
pub mod hooks;
pub mod http;
mod http_bundle;
pub mod records;

use anyhow::{Context, Result};
use records::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// What `cadkit receiver` needs.
#[derive(Debug, Clone)]
pub struct ServeRequest {
    /// The receiver's config file (environments, tag rules, paths).
    pub config: PathBuf,
    /// `127.0.0.1:<port>` (port 0: any free port, printed on stdout).
    pub listen: SocketAddr,
    /// Bearer tokens per scope: who may read, deploy and undeploy.
    pub tokens: auth::Tokens,
    /// HMAC secret: when set, notifications must carry a valid `X-Cadkit-Signature-256`.
    pub secret: Option<String>,
}

/// Shared server state.
pub struct Receiver {
    /// The config file, read and checked.
    pub loaded: config::Loaded,
    /// Accepted tokens (digests only).
    pub tokens: auth::Tokens,
    /// HMAC secret of signed notifications, when configured.
    pub secret: Option<String>,
    store: Mutex<Store>,
}

impl Receiver {
    /// Open the records, mark interrupted deployments failed, clear the work folder.
    pub fn open(req: &ServeRequest) -> Result<Receiver> {
        let loaded = config::load(&req.config)?;
        if req.tokens.is_empty() {
            anyhow::bail!("no token: set CADKIT_RECEIVER_TOKEN (or the per-scope CADKIT_RECEIVER_READ_TOKEN, _WRITE_TOKEN, _DELETE_TOKEN)");
        }
        let store = Store::open(&loaded.records)?;
        let n = store.recover_interrupted()?;
        if n > 0 {
            tracing::warn!("{n} deployment(s) interrupted by a stop were marked failed");
        }
        if loaded.work_dir.exists() {
            crate::fsutil::remove_tree(&loaded.work_dir);
        }
        std::fs::create_dir_all(&loaded.work_dir)
            .with_context(|| format!("cannot create {}", loaded.work_dir.display()))?;
        let registries: std::collections::BTreeSet<String> = loaded
            .config
            .environments
            .values()
            .filter_map(|e| e.registry.clone())
            .collect();
        let docker_config = loaded
            .config
            .docker_config
            .clone()
            .or_else(default_docker_config);
        let _ = std::thread::Builder::new()
            .name("registry-prewarm".into())
            .spawn(move || deploy::prewarm(docker_config, registries.into_iter().collect()));
        Ok(Receiver {
            loaded,
            tokens: req.tokens.clone(),
            secret: req.secret.clone(),
            store: Mutex::new(store),
        })
    }

    /// The record store (a poisoned lock is taken over: the store holds no invariant a
    /// panicking holder could break halfway, every write is one statement).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The environment's file (relative paths are taken from the config file's folder).
    pub fn env_path(&self, name: &str) -> Option<PathBuf> {
        let e = self.loaded.config.environments.get(name)?;
        Some(if e.env.is_absolute() {
            e.env.clone()
        } else {
            self.loaded.base.join(&e.env)
        })
    }

    /// Current update options of an environment (stored by PUT, else the config file's).
    pub fn settings(&self, name: &str) -> Result<config::UpdateSettings> {
        if let Some(v) = self.store().settings(name)? {
            return Ok(serde_json::from_value(v)?);
        }
        Ok(self
            .loaded
            .config
            .environments
            .get(name)
            .map(|e| e.update.clone())
            .unwrap_or_default())
    }

    /// Start a deployment on its own thread; the record is finished when it ends.
    pub fn spawn(self: &Arc<Self>, id: i64, environment: &str, job: deploy::Job) -> Result<()> {
        let env_path = self
            .env_path(environment)
            .with_context(|| format!("unknown environment {environment}"))?;
        let scratch = self.loaded.work_dir.join(format!("d{id}"));
        let ctx = deploy::DeployContext {
            environment: environment.to_string(),
            env_path,
            settings: self.settings(environment)?,
            docker_config: self
                .loaded
                .config
                .docker_config
                .clone()
                .or_else(default_docker_config),
            limits: self.limits(),
            scratch: scratch.clone(),
        };
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("deploy-{id}"))
            .spawn(move || {
                let already = |d: &str| {
                    me.store()
                        .deployed_digest(&ctx.environment)
                        .ok()
                        .flatten()
                        .is_some_and(|x| x == d)
                };
                let outcome = deploy::run(&ctx, &job, &already);
                tracing::info!(
                    "deployment {id} to {}: {:?}{}",
                    ctx.environment,
                    outcome.status,
                    outcome
                        .error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
                if let Err(e) = me.store().finish(id, &outcome) {
                    tracing::error!("cannot record the end of deployment {id}: {e:#}");
                }
                crate::fsutil::remove_tree(&ctx.scratch);
                if let deploy::Job::Dist(d) = &job {
                    if let Some(p) = d.parent() {
                        crate::fsutil::remove_tree(p);
                    }
                }
            })
            .context("cannot start a deployment thread")?;
        Ok(())
    }

    /// [`Receiver::spawn`], and when the deployment cannot start, its record is finished
    /// as failed at once (never left active).
    pub fn spawn_or_fail(self: &Arc<Self>, id: i64, environment: &str, job: deploy::Job) {
        if let Err(e) = self.spawn(id, environment, job) {
            let outcome = records::Outcome {
                status: records::Status::Failed,
                error: Some(crate::ci::redact(&format!("{e:#}"))),
                files_error: None,
                plan: None,
                stages: None,
                digest: None,
            };
            if let Err(e) = self.store().finish(id, &outcome) {
                tracing::error!("cannot record the failure of deployment {id}: {e:#}");
            }
        }
    }

    /// The archive caps of the config.
    pub fn limits(&self) -> crate::bundle::Limits {
        crate::bundle::Limits {
            max_entries: self.loaded.config.max_entries,
            max_bytes: self.loaded.config.max_unpacked_bytes,
        }
    }
}

fn default_docker_config() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// Serve until SIGTERM or Ctrl-C; prints `{"listening": "<addr>"}` on stdout once bound.
pub async fn serve(req: ServeRequest) -> Result<()> {
    let receiver = Arc::new(Receiver::open(&req)?);
    let listener = tokio::net::TcpListener::bind(req.listen)
        .await
        .with_context(|| format!("cannot listen on {}", req.listen))?;
    let addr = listener.local_addr()?;
    println!("{}", serde_json::json!({ "listening": addr.to_string() }));
    tracing::info!(
        "receiver listening on {addr} ({} environments)",
        receiver.loaded.config.environments.len()
    );
    let app = http::router(receiver);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("the HTTP server stopped")?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
