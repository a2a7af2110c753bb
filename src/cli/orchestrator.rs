//! `orchestrator`: run the reference orchestrator (parsing only; see
//! [`crate::orchestrator::server`]).

use super::{GlobalArgs, Step};
use crate::orchestrator::protocol::{self as proto, BusSettings};
use crate::orchestrator::server::{self, ServerOptions};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `orchestrator`: run the reference orchestrator (AMQP + HTTP) over an embedded
/// environment.
#[derive(Args)]
pub struct OrchestratorArgs {
    /// The embedded environment it serves (an SQLite file, created if missing).
    #[arg(long = "env", env = "CADKIT_ENV", default_value = crate::env::DEFAULT_ENV_PATH)]
    pub env: PathBuf,
    /// The patches folder (a real orchestrator's `/patches` volume).
    #[arg(
        long = "orchestrator.codeAsDataDir",
        env = "CADKIT_ORCHESTRATOR_CODE_AS_DATA_DIR"
    )]
    pub code_as_data_dir: PathBuf,
    /// The backup area (users, business data, diffs, patch backups); default: `<env>.backup`
    /// beside the environment.
    #[arg(
        long = "orchestrator.backupDir",
        env = "CADKIT_ORCHESTRATOR_BACKUP_DIR"
    )]
    pub backup_dir: Option<PathBuf>,
    /// HTTP address to bind.
    #[arg(
        long = "orchestrator.bind",
        env = "CADKIT_ORCHESTRATOR_BIND",
        default_value = "127.0.0.1"
    )]
    pub bind: String,
    /// HTTP port (`/OlympeServer/…`).
    #[arg(long = "orchestrator.port", env = "ORCHESTRATOR_SERVICE_PORT", default_value_t = proto::DEFAULT_ORCHESTRATOR_PORT)]
    pub port: u16,
    /// Role: routing keys get `_<role>` unless `active`; answered by `rest/version`.
    #[arg(long = "orchestrator.role", env = "ORCHESTRATOR_ROLE")]
    pub role: Option<String>,
    /// Bus protocol: amqp or amqps.
    #[arg(long = "bus.protocol", default_value = proto::DEFAULT_BUS_PROTOCOL)]
    pub bus_protocol: String,
    /// RabbitMQ host.
    #[arg(long = "bus.hostname", env = "RABBITMQ_HOST", default_value = proto::DEFAULT_BUS_HOSTNAME)]
    pub bus_hostname: String,
    /// RabbitMQ port.
    #[arg(long = "bus.port", env = "RABBITMQ_PORT", default_value_t = proto::DEFAULT_BUS_PORT)]
    pub bus_port: u16,
    /// RabbitMQ user.
    #[arg(long = "bus.username", env = "RABBITMQ_ORCHESTRATOR_USER", default_value = proto::DEFAULT_BUS_USERNAME)]
    pub bus_username: String,
    /// RabbitMQ password; prefer the variable.
    #[arg(long = "bus.password", env = "RABBITMQ_ORCHESTRATOR_PASSWORD", default_value = proto::DEFAULT_BUS_PASSWORD, hide_env_values = true, hide_default_value = true)]
    pub bus_password: String,
    /// RabbitMQ virtual host.
    #[arg(long = "bus.vhost", env = "RABBITMQ_ORCHESTRATOR_VHOST", default_value = proto::DEFAULT_BUS_VHOST)]
    pub bus_vhost: String,
    /// Exchange the commands are consumed from.
    #[arg(long = "bus.commandsExchange", env = "RABBITMQ_ORCHESTRATOR_COMMAND_EXCHANGE", default_value = proto::DEFAULT_COMMANDS_EXCHANGE)]
    pub commands_exchange: String,
    /// Routing key of the commands (before the role suffix).
    #[arg(long = "bus.commandRoutingKey", env = "RABBITMQ_ORCHESTRATOR_COMMAND_ROUTING_KEY", default_value = proto::DEFAULT_COMMAND_ROUTING_KEY)]
    pub command_routing_key: String,
    /// Routing key of the deployment (maintenance) messages.
    #[arg(long = "bus.deploymentRoutingKey", env = "RABBITMQ_ORCHESTRATOR_DEPLOYMENT_ROUTING_KEY", default_value = proto::DEFAULT_DEPLOYMENT_ROUTING_KEY)]
    pub deployment_routing_key: String,
    /// Append every AMQP body and HTTP request received to this NDJSON file (tokens and
    /// passwords replaced by placeholders).
    #[arg(long = "record")]
    pub record: Option<PathBuf>,
}

/// Never shows the bus password.
impl std::fmt::Debug for OrchestratorArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestratorArgs")
            .field("env", &self.env)
            .field("code_as_data_dir", &self.code_as_data_dir)
            .field("port", &self.port)
            .field("bus", &format!("{}:{}", self.bus_hostname, self.bus_port))
            .field("bus_password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Step for OrchestratorArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let backup_dir = self.backup_dir.clone().unwrap_or_else(|| {
            let mut p = self.env.clone().into_os_string();
            p.push(".backup");
            PathBuf::from(p)
        });
        let opts = ServerOptions {
            env: self.env,
            patches_dir: self.code_as_data_dir,
            backup_dir,
            bus: BusSettings {
                protocol: self.bus_protocol,
                hostname: self.bus_hostname,
                port: self.bus_port,
                username: self.bus_username,
                password: self.bus_password,
                vhost: self.bus_vhost,
                commands_exchange: self.commands_exchange,
                command_routing_key: self.command_routing_key,
                deployment_routing_key: self.deployment_routing_key,
            },
            role: self.role,
            http_host: self.bind,
            http_port: self.port,
            record: self.record,
            server_version: server::SERVER_VERSION.into(),
        };
        let report =
            crate::http::serve(server::run(opts)).context("cannot start the async runtime")??;
        // One compact line at shutdown, `--report json` too (a server's log reader takes
        // one line per record).
        let stdout = match global.report.as_deref() {
            Some("none") => crate::ci::Stdout::Nothing,
            _ => crate::ci::Stdout::Text(serde_json::to_string(&report)?),
        };
        crate::ci::Outputs::detect().finish_report_as(&report, stdout)?;
        Ok(0)
    }
}
