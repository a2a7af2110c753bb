//! How to reach an orchestrator: the toolkit's `bus.*` and `orchestrator.*` settings.
//!
//! Passwords are [`Secret`]s: their `Debug` and `Display` print `***`, so a config can be
//! logged or put in a report without leaking them (the toolkit logs its whole config,
//! passwords included, at debug level).

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A password or token: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a clear value (read from an option, a variable or a `createToken` reply).
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The clear value, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The AMQP side (`bus.*`).
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// `amqp` or `amqps`.
    pub protocol: String,
    /// The broker's host (`bus.hostname` / `RABBITMQ_HOST`, default `localhost`).
    pub hostname: String,
    /// The broker's AMQP port (default 5672).
    pub port: u16,
    /// The broker user (default `guest`).
    pub username: String,
    /// The broker password (default `guest`), only ever put on the wire.
    pub password: Secret,
    /// The virtual host (default `/`); the toolkit's URL form `…/<vhost>` is not
    /// URL-encoded, cadkit passes it to the AMQP client as is.
    pub vhost: String,
    /// The exchange every command and deployment message is published on
    /// (`bus.commandsExchange`, default `REQUEST_EXCHANGE`).
    pub commands_exchange: String,
    /// Routing key of commands (`bus.commandRoutingKey`, default `COMMAND_ROUTING_KEY`),
    /// suffixed with the role by [`OrchestratorConfig::with_role`].
    pub command_routing_key: String,
    /// Routing key of the maintenance deployment messages (`bus.deploymentRoutingKey`,
    /// default `SERVICE_DEPLOYMENT_ROUTING_KEY`), also role-suffixed.
    pub deployment_routing_key: String,
    /// Timeout of a standard command (the toolkit's `bus.commandTimeout`, 10 min).
    pub command_timeout: Duration,
    /// Extra connection attempts after the first (the toolkit makes 20, 3 s apart;
    /// cadkit defaults to 5, so a wrong address fails in about 10 s instead of a minute).
    pub connect_retries: u32,
    /// Wait between two connection attempts (default 2 s).
    pub connect_retry_delay: Duration,
}

impl Default for BusConfig {
    fn default() -> BusConfig {
        BusConfig {
            protocol: "amqp".into(),
            hostname: "localhost".into(),
            port: 5672,
            username: "guest".into(),
            password: Secret::new("guest"),
            vhost: "/".into(),
            commands_exchange: "REQUEST_EXCHANGE".into(),
            command_routing_key: "COMMAND_ROUTING_KEY".into(),
            deployment_routing_key: "SERVICE_DEPLOYMENT_ROUTING_KEY".into(),
            command_timeout: Duration::from_millis(600_000),
            connect_retries: 5,
            connect_retry_delay: Duration::from_secs(2),
        }
    }
}

/// Everything needed to talk to one orchestrator (AMQP for commands, HTTP for files,
/// graph queries and versions).
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// How to reach the broker the commands go through.
    pub bus: BusConfig,
    /// The orchestrator's HTTP host (`orchestrator.host` / `ORCHESTRATOR_HOST`, default
    /// `localhost`).
    pub host: String,
    /// The orchestrator's HTTP port (default 8080; 443 switches to `https`).
    pub port: u16,
    /// The toolkit's `orchestrator.userName` (default `admin`), accepted for
    /// compatibility: no request cadkit makes carries it, HTTP calls authenticate with
    /// the `createToken` admin token.
    pub user_name: String,
    /// The toolkit's `orchestrator.password` (default `admin`), accepted like
    /// [`Self::user_name`] and never sent.
    pub password: Secret,
    /// Routing-key suffix (`_<role>` unless `active`); read from `rest/version` when unset.
    pub role: Option<String>,
    /// The toolkit's `orchestrator.containerUser` (default `vertx`), the owner it
    /// `chown`s docker-copied patches to; accepted for compatibility, unused since cadkit
    /// uploads the build through the file service instead of `docker cp`.
    pub container_user: String,
    /// The orchestrator's patches folder (`/patches`), where `install` expects the build.
    pub code_as_data_dir: String,
    /// Timeout of `resetDB` and `load` (the toolkit's `import.timeout`, 1 h).
    pub import_timeout: Duration,
    /// Local work folder of `update` (diff files before upload).
    pub download_folder: PathBuf,
    /// Parallel graphDef queries (`update.graphDefRateLimit`).
    pub graphdef_rate_limit: usize,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> OrchestratorConfig {
        OrchestratorConfig {
            bus: BusConfig::default(),
            host: "localhost".into(),
            port: 8080,
            user_name: "admin".into(),
            password: Secret::new("admin"),
            role: None,
            container_user: "vertx".into(),
            code_as_data_dir: "/patches".into(),
            import_timeout: Duration::from_millis(3_600_000),
            download_folder: PathBuf::from("/tmp/toolkit"),
            graphdef_rate_limit: 5,
            http_timeout: Duration::from_secs(300),
        }
    }
}

/// What a report says about the environment used: addresses, never credentials.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentInfo {
    /// `embedded` (a SQLite file) or `orchestrator`.
    pub kind: &'static str,
    /// The SQLite file path, or `<base URL> (bus <amqp address>)` for an orchestrator.
    pub location: String,
}

impl OrchestratorConfig {
    /// `http://host:port/OlympeServer/` (`https` on port 443, as in the toolkit).
    pub fn base_url(&self) -> String {
        let scheme = if self.port == 443 { "https" } else { "http" };
        format!("{scheme}://{}:{}/OlympeServer/", self.host, self.port)
    }

    /// The broker address for messages (no user, no password).
    pub fn bus_address(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            self.bus.protocol,
            self.bus.hostname,
            self.bus.port,
            self.bus.vhost.trim_start_matches('/')
        )
    }

    /// The report's view of this orchestrator: kind `orchestrator`, the HTTP base URL
    /// and the bus address.
    pub fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            kind: "orchestrator",
            location: format!("{} (bus {})", self.base_url(), self.bus_address()),
        }
    }

    /// A routing key with the role suffix (`_<role>` unless the role is `active`).
    pub fn with_role(&self, key: &str) -> String {
        match self.role.as_deref() {
            Some(r) if !r.is_empty() && r != "active" => format!("{key}_{r}"),
            _ => key.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut c = OrchestratorConfig::default();
        c.bus.password = Secret::new("bus-s3cret");
        c.password = Secret::new("draw-s3cret");
        let text = format!("{c:?} {:?}", c.info());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("***"));
    }

    #[test]
    fn role_suffix_like_the_toolkit() {
        let mut c = OrchestratorConfig::default();
        assert_eq!(c.with_role("K"), "K");
        c.role = Some("active".into());
        assert_eq!(c.with_role("K"), "K");
        c.role = Some("preview".into());
        assert_eq!(c.with_role("K"), "K_preview");
    }
}
