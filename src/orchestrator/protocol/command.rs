//! AMQP messages: commands (`c` 16) and deployment (`c` 17); their answers are in
//! [`super::reply`].

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `messageFamily` of every toolkit message (ORCHESTRATOR_INTERNAL).
pub const ORCHESTRATOR_INTERNAL: u8 = 0;
/// `payload.c` of a command request.
pub const COMMAND_REQUEST: u8 = 16;
/// `payload.c` of a deployment (maintenance) message.
pub const DEPLOY_SERVICE: u8 = 17;
/// Errors reading a message off the wire.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The body is not JSON at all.
    #[error("message is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON without the `payload.c` number or the `payload.content` object.
    #[error("message has no payload.c / payload.content")]
    NoPayload,
    /// A `payload.c` other than [`COMMAND_REQUEST`] and [`DEPLOY_SERVICE`].
    #[error("unexpected message type c={0} (expected 16 = command or 17 = deployment)")]
    UnexpectedType(u64),
    /// A command message whose content has no `command` string.
    #[error("command has no \"command\" field")]
    NoCommand,
    /// A command name outside [`COMMAND_NAMES`]: the server answers with
    /// [`unknown_command_line`](super::unknown_command_line), which the client reads as
    /// "orchestrator too old".
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A known command whose fields do not have the toolkit's types.
    #[error("invalid fields for command {command:?}: {source}")]
    InvalidFields {
        /// The command name (`deployment` for a deployment message).
        command: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// The envelope of every message: `{"messageFamily":0,"payload":{"c":<type>,"content":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Always [`ORCHESTRATOR_INTERNAL`] for the toolkit's messages.
    #[serde(rename = "messageFamily")]
    pub message_family: u8,
    /// The message type and its content.
    pub payload: Payload<T>,
}

/// `payload` of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload<T> {
    /// The message type: [`COMMAND_REQUEST`] or [`DEPLOY_SERVICE`].
    pub c: u8,
    /// The type's fields ([`CommandContent`] or [`DeploymentContent`]).
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
    /// The command name (`command`) and its fields, flattened into the content object.
    #[serde(flatten)]
    pub command: Command,
    /// The queue the orchestrator answers on; the toolkit always sends one, a server
    /// leaves a command without it unanswered.
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
    /// `resetDB`: empty the database before an install (import timeout).
    #[serde(rename = "resetDB")]
    ResetDb {
        /// Always `true` from the toolkit; the reference server resets either way.
        force: bool,
    },
    /// `load`: import a folder of patches in one go (import timeout); the reply lines are
    /// the import's log.
    #[serde(rename = "load", rename_all = "camelCase")]
    Load {
        /// Absent = the whole patches folder (driven by `import_order.json`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_to_root_folder: Option<String>,
        /// More log lines from a real orchestrator; ignored by the reference server.
        #[serde(default)]
        verbose: bool,
        /// Debug log lines; the toolkit forces it off with `ignore_relation_fail`.
        #[serde(default)]
        debug: bool,
        /// Skip relations whose ends do not exist instead of failing the load (restoring
        /// users and business data).
        #[serde(default)]
        ignore_relation_fail: bool,
        /// Read the folder from the backup area instead of the patches folder.
        #[serde(default)]
        use_backup_folder: bool,
        /// Merge into existing data (diffs, restores) rather than import fresh; sent by
        /// the toolkit, the reference server's load is the same either way.
        #[serde(default)]
        merge: bool,
    },
    /// `loadPatch`: import one patch file of the patches folder (not used by the
    /// toolkit's CLI).
    #[serde(rename = "loadPatch", rename_all = "camelCase")]
    LoadPatch {
        /// Path of the patch file, relative to the patches folder.
        file_path: String,
        /// Debug log lines; ignored by the reference server.
        #[serde(default)]
        debug: bool,
        /// As in [`Command::Load`]; ignored by the reference server.
        #[serde(default)]
        ignore_relation_fail: bool,
    },
    /// `setPassword`: set a user's login and password after an install.
    #[serde(rename = "setPassword", rename_all = "camelCase")]
    SetPassword {
        /// The login.
        #[serde(deserialize_with = "lenient_string")]
        user_name: String,
        /// The user instance's tag.
        #[serde(deserialize_with = "lenient_string")]
        user_tag: String,
        /// The clear-text password (redacted in the server's records).
        #[serde(deserialize_with = "lenient_string")]
        user_password: String,
    },
    /// `createToken`: the first reply line is an admin token for the HTTP API.
    #[serde(rename = "createToken")]
    CreateToken,
    /// `checkIfNodesExist`: the first reply line is `{tag: bool}` (`isDbInitialized`).
    #[serde(rename = "checkIfNodesExist", rename_all = "camelCase")]
    CheckIfNodesExist {
        /// A JSON **string** holding the array of tags.
        node_tags_array: String,
    },
    /// `getRootTags`: reply lines `{rootTag: [patch paths]}` of a folder's patches.
    #[serde(rename = "getRootTags", rename_all = "camelCase")]
    GetRootTags {
        /// The folder, relative to the area; absent = the whole area.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_folder: Option<String>,
        /// Look in the backup area instead of the patches folder.
        #[serde(default)]
        use_backup_folder: bool,
    },
    /// `unzipPatches`: extract zips next to themselves; the first reply line is the JSON
    /// array of extracted patch paths (15 min timeout with `file_path`).
    #[serde(rename = "unzipPatches", rename_all = "camelCase")]
    UnzipPatches {
        /// Work in the backup area instead of the patches folder.
        #[serde(default)]
        use_backup_folder: bool,
        /// The one zip to extract; absent = every zip (under `folder_path`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_path: Option<String>,
        /// Where to look for zips when no `file_path` is given; absent = the whole area.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder_path: Option<String>,
    },
    /// `copyPatches`: copy patch files into the backup area, or zip the whole patches
    /// folder there (the patch backup before an import).
    #[serde(rename = "copyPatches", rename_all = "camelCase")]
    CopyPatches {
        /// A JSON **string** holding `[CopySource]`.
        sources: String,
        /// Copy from the backup area instead of the patches folder.
        #[serde(default)]
        backup: bool,
        /// Destination folder in the backup area (`""` = its root).
        #[serde(default)]
        destination_folder: String,
    },
    /// `loadBinaryFiles`: load the files named by a File instance's tag as that
    /// instance's content.
    #[serde(rename = "loadBinaryFiles", rename_all = "camelCase")]
    LoadBinaryFiles {
        /// Absent/null = every binary folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder_path: Option<String>,
    },
    /// `updateNode`: set properties of one existing instance (the project versions after
    /// an install or update).
    #[serde(rename = "updateNode", rename_all = "camelCase")]
    UpdateNode {
        /// The instance's tag.
        tag: String,
        /// A JSON **string** holding `{propertyTag: value}`.
        node_properties_json: String,
    },
    /// `startGC`: garbage-collect the services each flag names. The reference server
    /// checkpoints and compacts its database for any of them, and cleans the backup
    /// area's diff folders for `backup_folder`.
    #[serde(rename = "startGC", rename_all = "camelCase")]
    StartGc {
        /// The file service's unreferenced files.
        #[serde(default)]
        file_svc: bool,
        /// The backup service's old backups.
        #[serde(default)]
        backup_svc: bool,
        /// The backup area's `diff/` and `rollback_diff/` folders.
        #[serde(default)]
        backup_folder: bool,
        /// Stale user sessions.
        #[serde(default)]
        sessions: bool,
        /// A JVM garbage collection.
        #[serde(default)]
        jvm: bool,
        /// Stale subscriptions.
        #[serde(default)]
        subscriptions: bool,
        /// The graphDef query cache (`clearGraphDefCache`).
        #[serde(default)]
        graph_def_cache: bool,
    },
    /// `codeAsDataReadMode`: freeze (or thaw) code-as-data reads during a no-downtime
    /// update; sent without the role suffix ([`Command::uses_role`]).
    #[serde(rename = "codeAsDataReadMode")]
    CodeAsDataReadMode {
        /// `true` to enter read mode, `false` to leave it.
        #[serde(deserialize_with = "lenient_bool")]
        activate: bool,
    },
    /// `refreshSubscriptionCache`: after a no-downtime update.
    #[serde(rename = "refreshSubscriptionCache")]
    RefreshSubscriptionCache,
    /// `broadcastRefreshApp`: tell connected clients to reload.
    #[serde(rename = "broadcastRefreshApp")]
    BroadcastRefreshApp,
    /// `statsDB`: database statistics as one JSON line.
    #[serde(rename = "statsDB")]
    StatsDb,
    /// `checkDB`: a coherence check; status 1 when the data is incoherent.
    #[serde(rename = "checkDB")]
    CheckDb,
    /// `updateDone`: post-import housekeeping at the end of an install or update.
    #[serde(rename = "updateDone", rename_all = "camelCase")]
    UpdateDone {
        /// Whether the update ran without downtime (read mode) rather than in maintenance.
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
    /// Copy one file (or folder) of the source area, keeping its relative path.
    #[serde(rename_all = "camelCase")]
    File {
        /// Path relative to the source area.
        file_path: String,
        /// Must be `true` when `file_path` is a folder: it is then copied with its
        /// subfolders.
        recursive: bool,
    },
    /// Zip the whole patches folder into the backup area.
    #[serde(rename_all = "camelCase")]
    Zip {
        /// The zip's path under the destination folder (`import_YYYYMMDD_HHMMSS.zip`).
        destination_file_path: String,
        /// Always `true`: what tells this form from [`CopySource::File`].
        zip: bool,
    },
}

/// What the orchestrator reads off its queues.
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingMessage {
    /// A command (`c` 16), answered on its reply queue.
    Command(CommandContent),
    /// A maintenance switch (`c` 17), never answered.
    Deployment(DeploymentContent),
}

impl IncomingMessage {
    /// Parse a message body. An unknown command name gives
    /// [`ProtocolError::UnknownCommand`] (the caller answers with
    /// [`unknown_command_line`](super::unknown_command_line)); its reply queue is then
    /// available from [`reply_queue_of`](super::reply_queue_of).
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
