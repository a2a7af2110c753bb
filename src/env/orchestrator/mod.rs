//! The orchestrator client: an Olympe environment reached over RabbitMQ (commands) and
//! HTTP (files, graph queries, versions), with the toolkit's wire format.
//!
//! [`Orchestrator`] is synchronous for its callers (the rest of cadkit is) and drives its
//! AMQP and HTTP futures on the process's one runtime ([`crate::http::runtime`]). The bus
//! connection is opened on first use, so commands that only use HTTP never need the broker.
//!
//! Beyond the toolkit (olympe-formats §12): bounded connection retries whose error names
//! the broker; a timeout on every command; an `Unknown command` reply is an "orchestrator
//! too old" error; modes switched on by `install`/`update` are switched back on every
//! failure path ([`deploy`]); passwords and tokens are [`Secret`]s and never logged.

pub mod amqp;
pub mod backup;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod diff;
mod environment;
pub mod graph;
pub mod http;
pub mod rollback;
pub mod update;

pub use config::{BusConfig, EnvironmentInfo, OrchestratorConfig, Secret};

use serde_json::{Map, Value};
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Errors callers branch on (exit 1 for all of them, with these messages).
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The broker refused or did not answer every connection attempt
    /// (`bus.connectRetries` extra attempts, `bus.connectRetryDelay` apart); the toolkit's
    /// bare "Bus connection failed", with the address and the last cause.
    #[error("cannot reach the bus (RabbitMQ) at {host}:{port} after {attempts} attempt(s): {reason} (check --bus.hostname/--bus.port or RABBITMQ_HOST/RABBITMQ_PORT)")]
    BusUnreachable {
        /// The broker's host name as configured (`--bus.hostname` / `RABBITMQ_HOST`).
        host: String,
        /// The broker's AMQP port.
        port: u16,
        /// Connection attempts made, the first one included.
        attempts: u32,
        /// The last connection error, as the AMQP client reported it.
        reason: String,
    },
    /// The connection or channel broke while a command was being sent or its replies
    /// awaited: the command ends at once instead of waiting for its timeout.
    #[error("connection to the bus lost during `{command}`: {reason}")]
    BusLost {
        /// The command that was running (`maintenance` for a deployment message).
        command: String,
        /// The AMQP error, or why the reply stream ended.
        reason: String,
    },
    /// No terminal `Command finished with status code:` line arrived in time
    /// (`bus.commandTimeout`, or `import.timeout` for `load` and `resetDB`).
    #[error("orchestrator command `{command}` timed out after {after:?}")]
    Timeout {
        /// The command's name (`payload.content.command`).
        command: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// A reply line contained `Unknown command`: the orchestrator predates the command.
    #[error("the orchestrator does not know the command `{command}`: orchestrator too old for this command (upgrade the orchestrator)")]
    TooOld {
        /// The command the orchestrator did not know.
        command: String,
    },
    /// The terminal line carried a status other than `0`.
    #[error("orchestrator command `{command}` failed with status {status}{}", if lines.is_empty() { String::new() } else { format!(": {}", lines.join(" | ")) })]
    CommandFailed {
        /// The command's name.
        command: String,
        /// The status code after `Command finished with status code:`, as sent.
        status: String,
        /// The result lines before the terminal one (empty for commands carrying
        /// secrets, `setPassword` and `createToken`, so they never reach a message).
        lines: Vec<String>,
    },
    /// An HTTP request could not be made or its answer not read (connection, timeout,
    /// body that is not the expected JSON / NDJSON).
    #[error("orchestrator HTTP {what}: {reason}")]
    Http {
        /// The request, as `METHOD url` (never the token, which travels in a header).
        what: String,
        /// The transport or decoding error.
        reason: String,
    },
    /// An HTTP request answered with a status that is not a success (after the retries
    /// of an overloaded graphDef).
    #[error("orchestrator HTTP {what}: status {status}")]
    Status {
        /// The request, as `METHOD url`.
        what: String,
        /// The HTTP status code received.
        status: u16,
    },
    /// An answer or a local input the protocol cannot use (a reply that is not the
    /// expected JSON, a missing patches folder, …): the message says which.
    #[error("{0}")]
    Invalid(String),
}

/// A connected (lazily) orchestrator.
pub struct Orchestrator {
    /// The connection settings and toolkit options (timeouts, download folder, graphDef
    /// parallelism) the client was built with; `role` is filled by [`Self::learn_role`].
    pub cfg: OrchestratorConfig,
    /// The shared runtime ([`crate::http::runtime`]): the bus connection's background
    /// tasks live on it, so it must outlive them (it lives as long as the process).
    rt: &'static Runtime,
    bus: tokio::sync::OnceCell<amqp::Bus>,
    http: http::Http,
    token: Mutex<Option<Secret>>,
    /// graphDef goes to the maintenance endpoint while maintenance is on.
    maintenance: Mutex<bool>,
}

impl Orchestrator {
    /// A client for `cfg`, on the process's shared tokio runtime, with its HTTP client.
    /// Nothing is contacted yet: the bus connects on the first command, HTTP per request.
    pub fn new(cfg: OrchestratorConfig) -> Result<Orchestrator, OrchestratorError> {
        let rt = crate::http::runtime()
            .map_err(|e| OrchestratorError::Invalid(format!("tokio runtime: {e}")))?;
        let http = http::Http::new(&cfg)?;
        Ok(Orchestrator {
            cfg,
            rt,
            bus: tokio::sync::OnceCell::new(),
            http,
            token: Mutex::new(None),
            maintenance: Mutex::new(false),
        })
    }

    /// Which orchestrator, for reports (`kind`, base URL and bus address; never
    /// credentials).
    pub fn info(&self) -> EnvironmentInfo {
        self.cfg.info()
    }

    /// Run one of the client's futures to completion from synchronous code, on the shared
    /// runtime; from inside a runtime (an async caller, a test server) on a scoped thread,
    /// where blocking in place would panic. A panic of `f` is resumed here, as if `f` had
    /// run on the caller's thread.
    pub fn block_on<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        crate::http::drive(self.rt, f).unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The HTTP side (files, graphDef, versions), whose async methods callers run with
    /// [`Self::block_on`].
    pub fn http(&self) -> &http::Http {
        &self.http
    }

    async fn bus(&self) -> Result<&amqp::Bus, OrchestratorError> {
        self.bus
            .get_or_try_init(|| amqp::Bus::connect(&self.cfg))
            .await
    }

    /// Send one command (standard timeout unless given) and return its result lines.
    pub fn command(
        &self,
        content: Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Vec<String>, OrchestratorError> {
        let timeout = timeout.unwrap_or(self.cfg.bus.command_timeout);
        self.block_on(async {
            let bus = self.bus().await?;
            bus.command(&self.cfg, content, timeout, true).await
        })
    }

    /// `codeAsDataReadMode` (routing key without the role suffix, as in the toolkit).
    pub fn read_mode(&self, on: bool) -> Result<Vec<String>, OrchestratorError> {
        let content = obj(&[
            ("command", "codeAsDataReadMode".into()),
            ("activate", on.into()),
        ]);
        self.block_on(async {
            let bus = self.bus().await?;
            bus.command(&self.cfg, content, self.cfg.bus.command_timeout, false)
                .await
        })
    }

    /// The deployment message, then wait for the gateway (maintenance or normal).
    pub fn maintenance(&self, on: bool) -> Result<(), OrchestratorError> {
        self.block_on(async {
            let bus = self.bus().await?;
            bus.deployment(&self.cfg, on).await?;
            *self.maintenance.lock().expect("lock") = on;
            self.http.wait_gateway(on).await
        })
    }

    /// Whether this client switched maintenance on (and not off since): graphDef queries
    /// then go to the `…/maintenance` endpoint, as in the toolkit.
    pub fn in_maintenance(&self) -> bool {
        *self.maintenance.lock().expect("lock")
    }

    /// An admin token (`createToken`), created once per run.
    pub fn token(&self) -> Result<Secret, OrchestratorError> {
        if let Some(t) = self.token.lock().expect("lock").clone() {
            return Ok(t);
        }
        let lines = self.command(obj(&[("command", "createToken".into())]), None)?;
        let t = Secret::new(
            lines
                .first()
                .ok_or_else(|| OrchestratorError::Invalid("createToken answered nothing".into()))?
                .trim(),
        );
        *self.token.lock().expect("lock") = Some(t.clone());
        Ok(t)
    }

    /// A new admin token (the toolkit asks for one again before a patch backup, in case
    /// the previous one was cleared by the import).
    pub fn fresh_token(&self) -> Result<Secret, OrchestratorError> {
        *self.token.lock().expect("lock") = None;
        self.token()
    }

    /// The role of the orchestrator (`rest/version`), used as routing-key suffix.
    pub fn learn_role(&mut self) -> Result<Value, OrchestratorError> {
        let v = self.block_on(self.http.version())?;
        if self.cfg.role.is_none() {
            self.cfg.role = v.get("role").and_then(Value::as_str).map(str::to_string);
        }
        Ok(v)
    }

    /// Close the bus connection if one was opened (also done on drop), so the broker
    /// sees a clean close instead of a dropped socket.
    pub fn close(&self) {
        self.block_on(async {
            if let Some(b) = self.bus.get() {
                b.close().await;
            }
        });
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        self.close();
    }
}

/// A JSON object from pairs, in order (the order is the wire order).
pub fn obj(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
