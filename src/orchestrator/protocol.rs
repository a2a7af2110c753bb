//! The orchestrator wire protocol, exactly as `@olympeio/toolkit` 1.2.3 speaks it.
//!
//! Shared by cadkit's orchestrator client and by the reference orchestrator
//! (`cadkit orchestrator`), so both sides agree by construction. Facts come from the
//! toolkit's bundle (`toolkit/{AmqpClient,OrchestratorCommand,orchestrator,constants}.mjs`)
//! and `olympe-formats.md` §7.
//!
//! # AMQP ([`command`], [`reply`])
//! * One connection, one channel (publisher confirms, prefetch 20). Commands are published
//!   on exchange [`DEFAULT_COMMANDS_EXCHANGE`] with routing key [`DEFAULT_COMMAND_ROUTING_KEY`]
//!   plus `_<role>` when a role other than `active` is set ([`routing_key_with_role`]);
//!   `codeAsDataReadMode` is the one command sent **without** the role suffix
//!   ([`Command::uses_role`]). No AMQP properties: the reply queue travels in the body.
//! * Body: [`CommandMessage`], `{"messageFamily":0,"payload":{"c":16,"content":{"command":…,
//!   <fields in the toolkit's order>,"replyQueue":…}}}`.
//! * Reply queue ([`reply_queue_name`]): `OLYMPE_TOOLKIT_REPLY_QUEUE_<random>_<n>`, declared by
//!   the client (non-durable, auto-delete) before publishing. The orchestrator sends one text
//!   line per message; the last one is [`status_line`] (`Command finished with status code: N`,
//!   `0` = success); a line containing `Unknown command` means the orchestrator does not know
//!   the command ([`ReplyLine::classify`]).
//! * Maintenance: [`DeploymentMessage`] (`c` 17, `{"gateway_service": !activate}`) on the
//!   deployment routing key (+ role suffix), fire-and-forget.
//!
//! # HTTP ([`http`])
//! Base `http://<host>:<port>/OlympeServer/`; raw token in `Authorization`; file service,
//! graphDef (and its maintenance variant), version, database, maintenance probes.
//!
//! # graphDef ([`graphdef`])
//! The query type `{"i","b","v","f","q":[{"t","d","v","r","q"}]}` and the toolkit's queries.

pub mod bus;
pub mod command;
pub mod graphdef;
pub mod http;
pub mod reply;

pub use bus::{routing_key_with_role, BusSettings};
pub use command::{
    Command, CommandContent, CommandMessage, CopySource, DeploymentContent, DeploymentMessage,
    Envelope, IncomingMessage, Payload, ProtocolError, COMMAND_NAMES, COMMAND_REQUEST,
    DEPLOY_SERVICE, ORCHESTRATOR_INTERNAL,
};
pub use graphdef::{Direction, GraphDefQuery, GraphDefStep};
pub use http::VersionInfo;
pub use reply::{
    reply_queue_name, reply_queue_of, reply_queue_prefix, status_line, unknown_command_line,
    ReplyLine, REPLY_QUEUE_PREFIX, STATUS_LINE_PREFIX, UNKNOWN_COMMAND,
};

/// Default `--bus.protocol`.
pub const DEFAULT_BUS_PROTOCOL: &str = "amqp";
/// Default `--bus.hostname` (`RABBITMQ_HOST`).
pub const DEFAULT_BUS_HOSTNAME: &str = "localhost";
/// Default `--bus.port` (`RABBITMQ_PORT`).
pub const DEFAULT_BUS_PORT: u16 = 5672;
/// Default `--bus.username` (`RABBITMQ_ORCHESTRATOR_USER`).
pub const DEFAULT_BUS_USERNAME: &str = "guest";
/// Default `--bus.password` (`RABBITMQ_ORCHESTRATOR_PASSWORD`).
pub const DEFAULT_BUS_PASSWORD: &str = "guest";
/// Default `--bus.vhost` (`RABBITMQ_ORCHESTRATOR_VHOST`).
pub const DEFAULT_BUS_VHOST: &str = "/";
/// Default `--bus.commandsExchange` (`RABBITMQ_ORCHESTRATOR_COMMAND_EXCHANGE`).
pub const DEFAULT_COMMANDS_EXCHANGE: &str = "REQUEST_EXCHANGE";
/// Default `--bus.commandRoutingKey` (`RABBITMQ_ORCHESTRATOR_COMMAND_ROUTING_KEY`).
pub const DEFAULT_COMMAND_ROUTING_KEY: &str = "COMMAND_ROUTING_KEY";
/// Default `--bus.deploymentRoutingKey` (`RABBITMQ_ORCHESTRATOR_DEPLOYMENT_ROUTING_KEY`).
pub const DEFAULT_DEPLOYMENT_ROUTING_KEY: &str = "SERVICE_DEPLOYMENT_ROUTING_KEY";
/// Default `--bus.commandTimeout` in ms (`RABBITMQ_ORCHESTRATOR_COMMAND_TIMEOUT`).
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 600_000;
/// Default `--import.timeout` in ms (`RESET_DB_TIMEOUT`), used by `resetDB` and `load`.
pub const DEFAULT_IMPORT_TIMEOUT_MS: u64 = 3_600_000;
/// Timeout of `unzipPatches` given an explicit file (15 min).
pub const UNZIP_FILE_TIMEOUT_MS: u64 = 15 * 60 * 1000;
/// Default `--orchestrator.host` (`ORCHESTRATOR_HOST`).
pub const DEFAULT_ORCHESTRATOR_HOST: &str = "localhost";
/// Default `--orchestrator.port` (`ORCHESTRATOR_SERVICE_PORT`).
pub const DEFAULT_ORCHESTRATOR_PORT: u16 = 8080;
/// Default `--orchestrator.codeAsDataDir` (the orchestrator's patches volume).
pub const DEFAULT_CODE_AS_DATA_DIR: &str = "/patches";
/// The role that gets no routing-key suffix.
pub const ACTIVE_ROLE: &str = "active";
/// Connect retries of the toolkit: 20 extra attempts, 3 s apart.
pub const CONNECT_RETRIES: u32 = 20;
/// Delay between connect attempts (ms).
pub const CONNECT_RETRY_DELAY_MS: u64 = 3000;
/// Minimal orchestrator version (`sv` of `rest/version`) for `install` and `update`.
pub const MIN_ORCHESTRATOR_VERSION: &str = "7.4.0";

/// Well-known tags used in the protocol.
pub mod tags {
    /// The admin user (checked by `isDbInitialized`).
    pub const ADMIN_USER: &str = "014831d95fd7d12b8568";
    /// "Olympe Libraries" (checked by `isDbInitialized`).
    pub const OLYMPE_LIBRARIES: &str = "10000000000000000001";
    /// Root of roots ("Home").
    pub const ROOT_OF_ROOTS: &str = "10000000000000000000";
    /// Draw project (its version property is set after install/update).
    pub const DRAW_PROJECT: &str = "0171bc740109f879cd90";
    /// Runtime (primordial) project.
    pub const RUNTIME_PROJECT: &str = "100000000000000000dd";
    /// Project version property.
    pub const VERSION_PROPERTY: &str = "017869c80bb9929c76d0";
}
