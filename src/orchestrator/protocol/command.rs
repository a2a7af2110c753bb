//! AMQP messages: commands (`c` 16), deployment (`c` 17), reply queues and reply lines.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `messageFamily` of every toolkit message (ORCHESTRATOR_INTERNAL).
pub const ORCHESTRATOR_INTERNAL: u8 = 0;
/// `payload.c` of a command request.
pub const COMMAND_REQUEST: u8 = 16;
/// `payload.c` of a deployment (maintenance) message.
pub const DEPLOY_SERVICE: u8 = 17;
/// Prefix of every reply queue name.
pub const REPLY_QUEUE_PREFIX: &str = "OLYMPE_TOOLKIT_REPLY_QUEUE_";
/// Start of the terminal reply line.
pub const STATUS_LINE_PREFIX: &str = "Command finished with status code:";
/// Marker of the orchestrator's answer to a command it does not know.
pub const UNKNOWN_COMMAND: &str = "Unknown command";

/// Errors reading a message off the wire.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("message is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("message has no payload.c / payload.content")]
    NoPayload,
    #[error("unexpected message type c={0} (expected 16 = command or 17 = deployment)")]
    UnexpectedType(u64),
    #[error("command has no \"command\" field")]
    NoCommand,
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("invalid fields for command {command:?}: {source}")]
    InvalidFields {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The envelope of every message: `{"messageFamily":0,"payload":{"c":<type>,"content":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "messageFamily")]
    pub message_family: u8,
    pub payload: Payload<T>,
}

/// `payload` of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload<T> {
    pub c: u8,
    pub content: T,
}

/// A command message (`c` 16).
pub type CommandMessage = Envelope<CommandContent>;
/// A deployment message (`c` 17).
pub type DeploymentMessage = Envelope<DeploymentContent>;

impl CommandMessage {
    /// The message the toolkit publishes for `command`, answering on `reply_queue`.
    pub fn new(command: Command, reply_queue: impl Into<String>) -> Self {
        Envelope {
            message_family: ORCHESTRATOR_INTERNAL,
            payload: Payload {
                c: COMMAND_REQUEST,
                content: CommandContent {
                    command,
                    reply_queue: Some(reply_queue.into()),
                },
            },
        }
    }
}

impl DeploymentMessage {
    /// Maintenance on (`gateway_service: false`) or off (`gateway_service: true`).
    pub fn maintenance(activate: bool) -> Self {
        Envelope {
            message_family: ORCHESTRATOR_INTERNAL,
            payload: Payload {
                c: DEPLOY_SERVICE,
                content: DeploymentContent {
                    gateway_service: !activate,
                },
            },
        }
    }
}

impl<T: Serialize> Envelope<T> {
    /// The exact body bytes (compact JSON, the toolkit's field order).
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("protocol messages always serialise")
    }
}

/// `payload.content` of a command: the command and its fields, then `replyQueue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandContent {
    #[serde(flatten)]
    pub command: Command,
    #[serde(
        rename = "replyQueue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reply_queue: Option<String>,
}

/// `payload.content` of a deployment message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentContent {
    /// `false` = maintenance ON (the normal gateway is undeployed).
    pub gateway_service: bool,
}

/// Every command of the toolkit, with its fields in the order the toolkit serialises them.
///
/// Values the toolkit's option coercion may turn into numbers or booleans (user names,
/// tags, passwords, `activate`) are read leniently, so the server accepts whatever the
/// real toolkit sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum Command {
    #[serde(rename = "resetDB")]
    ResetDb { force: bool },
    #[serde(rename = "load", rename_all = "camelCase")]
    Load {
        /// Absent = the whole patches folder (driven by `import_order.json`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_to_root_folder: Option<String>,
        #[serde(default)]
        verbose: bool,
        #[serde(default)]
        debug: bool,
        #[serde(default)]
        ignore_relation_fail: bool,
        #[serde(default)]
        use_backup_folder: bool,
        #[serde(default)]
        merge: bool,
    },
    #[serde(rename = "loadPatch", rename_all = "camelCase")]
    LoadPatch {
        file_path: String,
        #[serde(default)]
        debug: bool,
        #[serde(default)]
        ignore_relation_fail: bool,
    },
    #[serde(rename = "setPassword", rename_all = "camelCase")]
    SetPassword {
        #[serde(deserialize_with = "lenient_string")]
        user_name: String,
        #[serde(deserialize_with = "lenient_string")]
        user_tag: String,
        #[serde(deserialize_with = "lenient_string")]
        user_password: String,
    },
    #[serde(rename = "createToken")]
    CreateToken,
    #[serde(rename = "checkIfNodesExist", rename_all = "camelCase")]
    CheckIfNodesExist {
        /// A JSON **string** holding the array of tags.
        node_tags_array: String,
    },
    #[serde(rename = "getRootTags", rename_all = "camelCase")]
    GetRootTags {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_folder: Option<String>,
        #[serde(default)]
        use_backup_folder: bool,
    },
    #[serde(rename = "unzipPatches", rename_all = "camelCase")]
    UnzipPatches {
        #[serde(default)]
        use_backup_folder: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder_path: Option<String>,
    },
    #[serde(rename = "copyPatches", rename_all = "camelCase")]
    CopyPatches {
        /// A JSON **string** holding `[CopySource]`.
        sources: String,
        #[serde(default)]
        backup: bool,
        #[serde(default)]
        destination_folder: String,
    },
    #[serde(rename = "loadBinaryFiles", rename_all = "camelCase")]
    LoadBinaryFiles {
        /// Absent/null = every binary folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder_path: Option<String>,
    },
    #[serde(rename = "updateNode", rename_all = "camelCase")]
    UpdateNode {
        tag: String,
        /// A JSON **string** holding `{propertyTag: value}`.
        node_properties_json: String,
    },
    #[serde(rename = "startGC", rename_all = "camelCase")]
    StartGc {
        #[serde(default)]
        file_svc: bool,
        #[serde(default)]
        backup_svc: bool,
        #[serde(default)]
        backup_folder: bool,
        #[serde(default)]
        sessions: bool,
        #[serde(default)]
        jvm: bool,
        #[serde(default)]
        subscriptions: bool,
        #[serde(default)]
        graph_def_cache: bool,
    },
    #[serde(rename = "codeAsDataReadMode")]
    CodeAsDataReadMode {
        #[serde(deserialize_with = "lenient_bool")]
        activate: bool,
    },
    #[serde(rename = "refreshSubscriptionCache")]
    RefreshSubscriptionCache,
    #[serde(rename = "broadcastRefreshApp")]
    BroadcastRefreshApp,
    #[serde(rename = "statsDB")]
    StatsDb,
    #[serde(rename = "checkDB")]
    CheckDb,
    #[serde(rename = "updateDone", rename_all = "camelCase")]
    UpdateDone {
        #[serde(default)]
        no_down_time: bool,
    },
}

/// Every command name the protocol knows (the `command` field).
pub const COMMAND_NAMES: &[&str] = &[
    "resetDB",
    "load",
    "loadPatch",
    "setPassword",
    "createToken",
    "checkIfNodesExist",
    "getRootTags",
    "unzipPatches",
    "copyPatches",
    "loadBinaryFiles",
    "updateNode",
    "startGC",
    "codeAsDataReadMode",
    "refreshSubscriptionCache",
    "broadcastRefreshApp",
    "statsDB",
    "checkDB",
    "updateDone",
];

impl Command {
    /// The `command` field.
    pub fn name(&self) -> &'static str {
        match self {
            Command::ResetDb { .. } => "resetDB",
            Command::Load { .. } => "load",
            Command::LoadPatch { .. } => "loadPatch",
            Command::SetPassword { .. } => "setPassword",
            Command::CreateToken => "createToken",
            Command::CheckIfNodesExist { .. } => "checkIfNodesExist",
            Command::GetRootTags { .. } => "getRootTags",
            Command::UnzipPatches { .. } => "unzipPatches",
            Command::CopyPatches { .. } => "copyPatches",
            Command::LoadBinaryFiles { .. } => "loadBinaryFiles",
            Command::UpdateNode { .. } => "updateNode",
            Command::StartGc { .. } => "startGC",
            Command::CodeAsDataReadMode { .. } => "codeAsDataReadMode",
            Command::RefreshSubscriptionCache => "refreshSubscriptionCache",
            Command::BroadcastRefreshApp => "broadcastRefreshApp",
            Command::StatsDb => "statsDB",
            Command::CheckDb => "checkDB",
            Command::UpdateDone { .. } => "updateDone",
        }
    }

    /// Whether the routing key gets the role suffix (all but `codeAsDataReadMode`).
    pub fn uses_role(&self) -> bool {
        !matches!(self, Command::CodeAsDataReadMode { .. })
    }

    /// The toolkit's timeout for this command: `resetDB`/`load` use `import.timeout`,
    /// `unzipPatches` of one file 15 min, everything else `bus.commandTimeout`.
    pub fn timeout_ms(&self, command_timeout_ms: u64, import_timeout_ms: u64) -> u64 {
        match self {
            Command::ResetDb { .. } | Command::Load { .. } => import_timeout_ms,
            Command::UnzipPatches {
                file_path: Some(_), ..
            } => super::UNZIP_FILE_TIMEOUT_MS,
            _ => command_timeout_ms,
        }
    }

    /// `checkIfNodesExist` for `tags` (the array is sent as a JSON string).
    pub fn check_if_nodes_exist<S: AsRef<str>>(tags: &[S]) -> Self {
        let tags: Vec<&str> = tags.iter().map(|t| t.as_ref()).collect();
        Command::CheckIfNodesExist {
            node_tags_array: serde_json::to_string(&tags).expect("strings serialise"),
        }
    }

    /// `copyPatches` of `sources` (sent as a JSON string).
    pub fn copy_patches(sources: &[CopySource], backup: bool, destination_folder: &str) -> Self {
        Command::CopyPatches {
            sources: serde_json::to_string(sources).expect("sources serialise"),
            backup,
            destination_folder: destination_folder.to_string(),
        }
    }

    /// `updateNode` setting `props` (sent as a JSON string).
    pub fn update_node(tag: &str, props: &serde_json::Map<String, Value>) -> Self {
        Command::UpdateNode {
            tag: tag.to_string(),
            node_properties_json: serde_json::to_string(props).expect("props serialise"),
        }
    }
}

/// One element of `copyPatches.sources`: a file to copy into `destinationFolder`, or the
/// whole patches folder zipped into the backup area (the patch backup of §9.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CopySource {
    #[serde(rename_all = "camelCase")]
    File { file_path: String, recursive: bool },
    #[serde(rename_all = "camelCase")]
    Zip {
        destination_file_path: String,
        zip: bool,
    },
}

/// What the orchestrator reads off its queues.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingMessage {
    Command(CommandContent),
    Deployment(DeploymentContent),
}

impl IncomingMessage {
    /// Parse a message body. An unknown command name gives
    /// [`ProtocolError::UnknownCommand`] (the caller answers with [`unknown_command_line`]);
    /// its reply queue is then available from [`reply_queue_of`].
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_slice(body).map_err(ProtocolError::NotJson)?;
        let payload = value.get("payload").ok_or(ProtocolError::NoPayload)?;
        let c = payload
            .get("c")
            .and_then(Value::as_u64)
            .ok_or(ProtocolError::NoPayload)?;
        let content = payload.get("content").ok_or(ProtocolError::NoPayload)?;
        match c {
            x if x == DEPLOY_SERVICE as u64 => {
                let d = DeploymentContent::deserialize(content).map_err(|source| {
                    ProtocolError::InvalidFields {
                        command: "deployment".into(),
                        source,
                    }
                })?;
                Ok(IncomingMessage::Deployment(d))
            }
            x if x == COMMAND_REQUEST as u64 => {
                let name = content
                    .get("command")
                    .and_then(Value::as_str)
                    .ok_or(ProtocolError::NoCommand)?;
                if !COMMAND_NAMES.contains(&name) {
                    return Err(ProtocolError::UnknownCommand(name.to_string()));
                }
                let cc = CommandContent::deserialize(content).map_err(|source| {
                    ProtocolError::InvalidFields {
                        command: name.to_string(),
                        source,
                    }
                })?;
                Ok(IncomingMessage::Command(cc))
            }
            _ => Err(ProtocolError::UnexpectedType(c)),
        }
    }
}

/// The `replyQueue` of a raw body, whatever else is wrong with it (to answer errors).
pub fn reply_queue_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/payload/content/replyQueue")?
        .as_str()
        .map(str::to_string)
}

/// `routing_key` plus `_<role>` when `role` is set and not `active` (the toolkit's rule).
pub fn routing_key_with_role(routing_key: &str, role: Option<&str>) -> String {
    match role {
        Some(r) if !r.is_empty() && r != super::ACTIVE_ROLE => format!("{routing_key}_{r}"),
        _ => routing_key.to_string(),
    }
}

/// A fresh per-process reply-queue prefix: `OLYMPE_TOOLKIT_REPLY_QUEUE_<random base 36>_`.
pub fn reply_queue_prefix() -> String {
    let mut n: u64 = rand::random::<u64>() % 100_000_000_000_000_000;
    let mut digits = Vec::new();
    while n > 0 || digits.is_empty() {
        let d = (n % 36) as u32;
        digits.push(std::char::from_digit(d, 36).expect("digit < 36"));
        n /= 36;
    }
    let random: String = digits.iter().rev().collect::<String>().to_uppercase();
    format!("{REPLY_QUEUE_PREFIX}{random}_")
}

/// The reply queue of the `counter`-th command (counting from 1) of a process.
pub fn reply_queue_name(prefix: &str, counter: u64) -> String {
    format!("{prefix}{counter}")
}

/// The terminal reply line.
pub fn status_line(code: i32) -> String {
    format!("{STATUS_LINE_PREFIX} {code}")
}

/// The answer to an unknown command.
pub fn unknown_command_line(name: &str) -> String {
    format!("{UNKNOWN_COMMAND}: {name}")
}

/// One reply message, classified the way the toolkit does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyLine {
    /// A result line (newlines already replaced by spaces).
    Result(String),
    /// The terminal line: success iff it ends with ` 0`.
    Finished { success: bool, line: String },
    /// The orchestrator does not know the command.
    UnknownCommand(String),
}

impl ReplyLine {
    /// Classify a reply body: `Unknown command` anywhere first, then the status prefix.
    pub fn classify(message: &str) -> Self {
        let line = message.replace('\n', " ");
        if line.contains(UNKNOWN_COMMAND) {
            ReplyLine::UnknownCommand(line)
        } else if line.starts_with(STATUS_LINE_PREFIX) {
            ReplyLine::Finished {
                success: line.ends_with(" 0"),
                line,
            }
        } else {
            ReplyLine::Result(line)
        }
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        v @ (Value::Number(_) | Value::Bool(_)) => Ok(v.to_string()),
        other => Err(de::Error::custom(format!("expected a string, got {other}"))),
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !(s.is_empty() || s == "false" || s == "0"),
        Value::Null => false,
        _ => true,
    })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
