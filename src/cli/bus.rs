//! The orchestrator options: the toolkit's `--bus.*` / `--orchestrator.*` options and
//! their variables (`RABBITMQ_*`, `ORCHESTRATOR_*`), turned into the library's
//! [`Selection`] beside `--env <file>` (the embedded environment). Both at once is an
//! error; orchestrator settings never fall back to a local file.

use crate::env::orchestrator::{OrchestratorConfig, Secret};
use crate::env::Selection;
use anyhow::Result;
use clap::Args;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

/// The toolkit's `bus.*` and `orchestrator.*` options (and cadkit's connection limits).
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Bus protocol: amqp or amqps.
    #[arg(long = "bus.protocol")]
    pub bus_protocol: Option<String>,
    /// RabbitMQ host.
    #[arg(long = "bus.hostname", env = "RABBITMQ_HOST")]
    pub bus_hostname: Option<String>,
    /// RabbitMQ port (5672).
    #[arg(long = "bus.port", env = "RABBITMQ_PORT")]
    pub bus_port: Option<u16>,
    /// RabbitMQ user (guest).
    #[arg(long = "bus.username", env = "RABBITMQ_ORCHESTRATOR_USER")]
    pub bus_username: Option<String>,
    /// RabbitMQ password (guest); prefer the variable.
    #[arg(
        long = "bus.password",
        env = "RABBITMQ_ORCHESTRATOR_PASSWORD",
        hide_env_values = true
    )]
    pub bus_password: Option<String>,
    /// RabbitMQ virtual host (/).
    #[arg(long = "bus.vhost", env = "RABBITMQ_ORCHESTRATOR_VHOST")]
    pub bus_vhost: Option<String>,
    /// Exchange of the commands (REQUEST_EXCHANGE).
    #[arg(
        long = "bus.commandsExchange",
        env = "RABBITMQ_ORCHESTRATOR_COMMAND_EXCHANGE"
    )]
    pub bus_exchange: Option<String>,
    /// Routing key of the commands (COMMAND_ROUTING_KEY).
    #[arg(
        long = "bus.commandRoutingKey",
        env = "RABBITMQ_ORCHESTRATOR_COMMAND_ROUTING_KEY"
    )]
    pub bus_command_key: Option<String>,
    /// Routing key of the deployment (maintenance) messages.
    #[arg(
        long = "bus.deploymentRoutingKey",
        env = "RABBITMQ_ORCHESTRATOR_DEPLOYMENT_ROUTING_KEY"
    )]
    pub bus_deployment_key: Option<String>,
    /// Timeout of a command, in ms (600000).
    #[arg(
        long = "bus.commandTimeout",
        env = "RABBITMQ_ORCHESTRATOR_COMMAND_TIMEOUT"
    )]
    pub bus_command_timeout: Option<u64>,
    /// Connection attempts after the first one (5).
    #[arg(long = "bus.connectRetries", env = "CADKIT_BUS_CONNECT_RETRIES")]
    pub bus_connect_retries: Option<u32>,
    /// Delay between connection attempts, in ms (2000).
    #[arg(long = "bus.connectRetryDelay", env = "CADKIT_BUS_CONNECT_RETRY_DELAY")]
    pub bus_connect_delay: Option<u64>,
    /// Orchestrator HTTP host.
    #[arg(long = "orchestrator.host", env = "ORCHESTRATOR_HOST")]
    pub orch_host: Option<String>,
    /// Orchestrator HTTP port (8080).
    #[arg(long = "orchestrator.port", env = "ORCHESTRATOR_SERVICE_PORT")]
    pub orch_port: Option<u16>,
    /// Orchestrator user (admin).
    #[arg(long = "orchestrator.userName")]
    pub orch_user_name: Option<String>,
    /// Orchestrator password; prefer a variable.
    #[arg(long = "orchestrator.password")]
    pub orch_password: Option<String>,
    /// Routing-key role suffix (read from rest/version by install and update).
    #[arg(long = "orchestrator.role", env = "ORCHESTRATOR_ROLE")]
    pub orch_role: Option<String>,
    /// The user owning the patches in the orchestrator's container (vertx).
    #[arg(long = "orchestrator.containerUser")]
    pub orch_container_user: Option<String>,
    /// The orchestrator's patches folder (/patches).
    #[arg(long = "orchestrator.codeAsDataDir")]
    pub orch_code_as_data_dir: Option<String>,
    /// Timeout of resetDB and load, in ms (3600000).
    #[arg(long = "import.timeout", env = "RESET_DB_TIMEOUT")]
    pub orch_import_timeout: Option<u64>,
    /// Parallel graphDef queries (5).
    #[arg(
        long = "update.graphDefRateLimit",
        env = "GRAPHDEF_MAX_CONCURRENT_CALLS"
    )]
    pub orch_graphdef_rate_limit: Option<usize>,
}

impl RemoteArgs {
    /// Whether any setting that selects an orchestrator was given.
    pub fn selects_orchestrator(&self) -> bool {
        self.bus_protocol.is_some()
            || self.bus_hostname.is_some()
            || self.bus_port.is_some()
            || self.bus_username.is_some()
            || self.bus_password.is_some()
            || self.bus_vhost.is_some()
            || self.bus_exchange.is_some()
            || self.bus_command_key.is_some()
            || self.bus_deployment_key.is_some()
            || self.bus_command_timeout.is_some()
            || self.orch_host.is_some()
            || self.orch_port.is_some()
            || self.orch_user_name.is_some()
            || self.orch_password.is_some()
            || self.orch_role.is_some()
            || self.orch_container_user.is_some()
            || self.orch_code_as_data_dir.is_some()
    }

    /// The environment of a command given `--env` (`env`) and these options: the
    /// orchestrator when any of them selects one ([`RemoteArgs::selects_orchestrator`]),
    /// else the embedded file; both is an error ([`Selection::new`]).
    pub fn selection(&self, env: Option<PathBuf>) -> Result<Selection> {
        let orchestrator = self.selects_orchestrator().then(|| self.config());
        Ok(Selection::new(env, orchestrator)?)
    }

    /// The client settings: the toolkit's defaults overridden by the options given, plus
    /// the global `--downloadFolder`; an HTTP request never outlives a command.
    pub fn config(&self) -> OrchestratorConfig {
        let mut c = OrchestratorConfig::default();
        let b = &mut c.bus;
        let set = |dst: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *dst = v.clone();
            }
        };
        set(&mut b.protocol, &self.bus_protocol);
        set(&mut b.hostname, &self.bus_hostname);
        set(&mut b.username, &self.bus_username);
        set(&mut b.vhost, &self.bus_vhost);
        set(&mut b.commands_exchange, &self.bus_exchange);
        set(&mut b.command_routing_key, &self.bus_command_key);
        set(&mut b.deployment_routing_key, &self.bus_deployment_key);
        if let Some(p) = &self.bus_password {
            b.password = Secret::new(p.clone());
        }
        b.port = self.bus_port.unwrap_or(b.port);
        if let Some(ms) = self.bus_command_timeout {
            b.command_timeout = Duration::from_millis(ms);
        }
        b.connect_retries = self.bus_connect_retries.unwrap_or(b.connect_retries);
        if let Some(ms) = self.bus_connect_delay {
            b.connect_retry_delay = Duration::from_millis(ms);
        }
        set(&mut c.host, &self.orch_host);
        c.port = self.orch_port.unwrap_or(c.port);
        set(&mut c.user_name, &self.orch_user_name);
        if let Some(p) = &self.orch_password {
            c.password = Secret::new(p.clone());
        }
        c.role = self.orch_role.clone();
        set(&mut c.container_user, &self.orch_container_user);
        set(&mut c.code_as_data_dir, &self.orch_code_as_data_dir);
        if let Some(ms) = self.orch_import_timeout {
            c.import_timeout = Duration::from_millis(ms);
        }
        if let Some(d) = DOWNLOAD_FOLDER.get().and_then(Option::as_ref) {
            c.download_folder = d.clone();
        }
        c.graphdef_rate_limit = self
            .orch_graphdef_rate_limit
            .unwrap_or(c.graphdef_rate_limit);
        // One HTTP request never outlives a command.
        c.http_timeout = c.bus.command_timeout.min(c.http_timeout);
        c
    }
}

/// The toolkit's global `--downloadFolder` (`DOWNLOAD_FOLDER`), declared once on the global
/// arguments and handed over here when they are parsed (the orchestrator client's local
/// work folder).
static DOWNLOAD_FOLDER: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Record the global `--downloadFolder` for the orchestrator settings built afterwards.
pub fn set_download_folder(folder: Option<PathBuf>) {
    let _ = DOWNLOAD_FOLDER.set(folder);
}

/// The folders of users and business data: locally under `--snapshot.dir`, and in the
/// orchestrator's backup area (shared by the snapshot, install and restore commands).
#[derive(Debug, Args, Clone)]
pub struct BackupFoldersArgs {
    /// Folder of the users (locally under --snapshot.dir, and in the backup area).
    #[arg(
        long = "snapshot.usersDataDir",
        env = "CADKIT_SNAPSHOT_USERS_DATA_DIR",
        default_value = "users"
    )]
    pub users_dir: String,
    /// Folder of the business data (locally under --snapshot.dir, and in the backup area).
    #[arg(
        long = "snapshot.businessDataDir",
        env = "CADKIT_SNAPSHOT_BUSINESS_DATA_DIR",
        default_value = "data"
    )]
    pub business_data_dir: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvError;

    /// Both an embedded file and an orchestrator option: the conflict is reported, not
    /// resolved; without any orchestrator option the file is the environment.
    #[test]
    fn both_environments_at_once_is_an_error() {
        let remote = RemoteArgs {
            bus_port: Some(5672),
            ..RemoteArgs::default()
        };
        let e = remote
            .selection(Some(PathBuf::from("x.sqlite")))
            .err()
            .unwrap();
        assert!(matches!(
            e.downcast_ref::<EnvError>(),
            Some(EnvError::BothSelected { .. })
        ));
        assert!(e.to_string().starts_with("both an embedded environment (--env / CADKIT_ENV = x.sqlite) and orchestrator settings"), "{e}");
        assert!(matches!(
            RemoteArgs::default().selection(Some(PathBuf::from("x.sqlite"))).unwrap(),
            Selection::Embedded(p) if p == Path::new("x.sqlite")
        ));
        assert!(matches!(
            remote.selection(None).unwrap(),
            Selection::Orchestrator(c) if c.bus.port == 5672
        ));
    }
}
