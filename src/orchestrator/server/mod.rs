//! `cadkit orchestrator`: a reference orchestrator over the embedded environment.
//!
//! It speaks the protocol of [`crate::orchestrator::protocol`] so the real toolkit (and
//! cadkit's client) can drive it over a real RabbitMQ broker: it declares the commands
//! exchange and one queue bound to the command and deployment routing keys (with the role
//! suffix), executes every command of the catalogue on the embedded SQLite environment
//! ([`exec`]), and serves `/OlympeServer/…` ([`http`]). The patches folder plays the real
//! orchestrator's `/patches` volume; the backup area is a folder of its own.
//!
//! Lifecycle: connect to the bus (retrying), then bind HTTP (so "version answers 200" means
//! "commands are consumed"), serve until SIGTERM/SIGINT, print a JSON report.

pub mod amqp;
pub mod backup;
pub mod exec;
pub mod folders;
pub mod graphdef;
pub mod http;
pub mod state;

use crate::orchestrator::protocol::BusSettings;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// `sv` answered by `rest/version` (the toolkit requires ≥ 7.4.0).
pub const SERVER_VERSION: &str = "7.4.0";

/// Everything `cadkit orchestrator` needs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The embedded environment (SQLite file).
    pub env: PathBuf,
    /// The patches folder (`--orchestrator.codeAsDataDir`).
    pub patches_dir: PathBuf,
    /// The backup area (users, business data, diffs, patch backups).
    pub backup_dir: PathBuf,
    /// The broker and the exchange and routing keys to consume (`--bus.*`).
    pub bus: BusSettings,
    /// `--orchestrator.role` (routing-key suffix unless `active`; answered by `rest/version`).
    pub role: Option<String>,
    /// Address the HTTP face listens on (`--orchestrator.bind`, `127.0.0.1` by default).
    pub http_host: String,
    /// Port of the HTTP face (`--orchestrator.port`, 8080 by default).
    pub http_port: u16,
    /// `--record <file>`: NDJSON of every AMQP body and HTTP request received.
    pub record: Option<PathBuf>,
    /// The `sv` answered by `rest/version`: [`SERVER_VERSION`] from the CLI, a field so
    /// that an embedding can pose as another orchestrator version.
    pub server_version: String,
}

/// The JSON report printed when the server stops.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerReport {
    /// The environment served.
    pub env: PathBuf,
    /// The broker, without credentials (`amqp://host:port/vhost`).
    pub bus: String,
    /// The HTTP base URL (`http://host:port/OlympeServer/`).
    pub http: String,
    /// AMQP commands executed (deployment messages not counted).
    pub commands: u64,
    /// HTTP requests served.
    pub http_requests: u64,
}

/// Run until SIGTERM/SIGINT: create the folders, check the environment opens, consume the
/// bus, then serve HTTP once the bus is ready; the report counts what was served.
pub async fn run(opts: ServerOptions) -> Result<ServerReport> {
    std::fs::create_dir_all(&opts.patches_dir).with_context(|| {
        format!(
            "--orchestrator.codeAsDataDir {}: cannot create",
            opts.patches_dir.display()
        )
    })?;
    std::fs::create_dir_all(&opts.backup_dir).with_context(|| {
        format!(
            "--orchestrator.backupDir {}: cannot create",
            opts.backup_dir.display()
        )
    })?;
    crate::env::SqliteEnv::open(&opts.env)
        .with_context(|| format!("--env {}: cannot open the environment", opts.env.display()))?;
    let addr = format!("{}:{}", opts.http_host, opts.http_port);
    let state = Arc::new(state::State::new(opts)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = watch::channel(false);
    // Handlers first: a SIGTERM arriving at any later point is a clean stop.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop_tx.send(true);
    });
    let bus = tokio::spawn(amqp::serve(state.clone(), stop_rx.clone(), ready_tx));
    // HTTP only once the exchange exists: readiness (version 200) means commands work.
    let mut stop = stop_rx.clone();
    tokio::select! {
        r = ready_rx.wait_for(|r| *r) => {
            // The bus task only ends on shutdown.
            if r.is_err() {
                bus.await.ok();
                return Ok(report(&state, &addr));
            }
        }
        _ = stop.wait_for(|s| *s) => { bus.await.ok(); return Ok(report(&state, &addr)); }
    }
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("--orchestrator.port: cannot listen on {addr} (port in use?)"))?;
    tracing::info!(
        "orchestrator ready: http://{addr}/OlympeServer/, bus {}",
        state.opts.bus.describe()
    );
    let mut stop = stop_rx.clone();
    axum::serve(listener, http::router(state.clone()))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .context("HTTP server failed")?;
    bus.await.ok();
    Ok(report(&state, &addr))
}

fn report(state: &state::State, addr: &str) -> ServerReport {
    ServerReport {
        env: state.opts.env.clone(),
        bus: state.opts.bus.describe(),
        http: format!("http://{addr}/OlympeServer/"),
        commands: state.commands.load(Ordering::Relaxed),
        http_requests: state.http_requests.load(Ordering::Relaxed),
    }
}
