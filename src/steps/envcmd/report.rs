//! The reports of the toolkit's environment commands (`maintenance`, `statsDB`, `checkDB`,
//! …), as types: what each prints on the embedded environment and on an orchestrator.
//!
//! The commands themselves are the [`crate::env::Environment`] methods (and, for the
//! orchestrator-only ones, [`crate::env::orchestrator::commands`]) and answer JSON values;
//! [`typed`] turns such a value into its report type here, so that every environment
//! command goes through the one output path ([`crate::ci::Outputs::finish_report`]) with a
//! committed schema. The field names and values are the ones those commands have always
//! printed.

use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which environment a command ran on: addresses, never credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentRef {
    /// `embedded` or `orchestrator`.
    pub kind: String,
    /// The SQLite file, or the orchestrator's addresses.
    pub location: String,
}

impl EnvironmentRef {
    /// The embedded environment at `path`.
    pub fn embedded(path: &std::path::Path) -> EnvironmentRef {
        EnvironmentRef {
            kind: "embedded".into(),
            location: path.display().to_string(),
        }
    }
}

/// The same command's report on the embedded environment or on an orchestrator (their
/// shapes differ: the orchestrator answers with its result lines).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvReport<E, O> {
    /// On the embedded environment: the result, then `environment`.
    Embedded(Embedded<E>),
    /// On an orchestrator.
    Orchestrator(O),
}

/// An embedded environment's result followed by the environment used.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Embedded<E> {
    /// The command's own fields.
    #[serde(flatten)]
    pub result: E,
    /// The environment used.
    pub environment: EnvironmentRef,
}

/// An orchestrator command that answers with result lines only.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RemoteLines {
    /// The toolkit command run.
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The orchestrator's answer, line by line.
    pub lines: Vec<String>,
}

/// `maintenance` / `codeAsDataReadMode` on the embedded environment: both modes after and
/// before the command.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Modes {
    /// `on` or `off`.
    pub maintenance: String,
    /// Code-as-data read-only mode.
    pub code_as_data_read_mode: bool,
    /// Both modes before the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<Modes>>,
}

/// `maintenance` / `codeAsDataReadMode` on an orchestrator.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteModes {
    /// The toolkit command run (`maintenance` or `codeAsDataReadMode`).
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The maintenance mode set (`maintenance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    /// The read mode set (`codeAsDataReadMode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_mode: Option<bool>,
    /// The orchestrator's answer, line by line (absent when it sent none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
}

/// The report of `maintenance` and `codeAsDataReadMode`.
pub type ModesReport = EnvReport<Modes, RemoteModes>;

/// `broadcastRefreshApp` on the embedded environment: the notice recorded.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshNotice {
    /// The notice clients see on their next poll.
    pub refresh_notice: Notice,
}

/// A refresh notice: when, why, and an id clients compare with the last one they saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    /// When it was recorded (RFC 3339, UTC).
    pub at: String,
    /// The command that recorded it (`broadcastRefreshApp`).
    pub reason: String,
    /// A random id (16 hex digits): a client reloads when it differs from the last one seen.
    pub id: String,
}

/// The report of `broadcastRefreshApp`.
pub type BroadcastRefreshReport = EnvReport<RefreshNotice, RemoteLines>;

/// `updateUser` (the password never appears).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdated {
    /// The tag of the user instance changed.
    pub user_tag: String,
    /// The login name set.
    pub user_name: String,
    /// Whether a password was set (the password itself is never reported).
    pub password_updated: bool,
}

/// `updateUser` on an orchestrator.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteUserUpdated {
    /// The toolkit command run (`updateUser`).
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The tag of the user instance changed.
    pub user_tag: String,
    /// The login name set.
    pub user_name: String,
}

/// The report of `updateUser`.
pub type UpdateUserReport = EnvReport<UserUpdated, RemoteUserUpdated>;

/// `startGC` on the embedded environment: the database size before and after, and whether
/// it was compacted (only when a tenth of it is free pages).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Compacted {
    /// Bytes of the file and its write-ahead log before.
    pub size_before: u64,
    /// Bytes after.
    pub size_after: u64,
    /// Free pages found before compacting.
    pub free_pages: u64,
    /// Whether the file was rewritten (`VACUUM`).
    pub compacted: bool,
}

/// The report of `startGC`.
pub type StartGcReport = EnvReport<Compacted, RemoteLines>;

/// `statsDB` on the embedded environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Instances in the environment.
    pub instances: u64,
    /// Relations in the environment.
    pub relations: u64,
    /// Model tag → instances.
    pub instances_per_model: BTreeMap<String, u64>,
    /// Instances with no model relation (a sign of an incomplete load).
    pub instances_without_model: u64,
    /// Relation type tag → relations.
    pub relations_per_type: BTreeMap<String, u64>,
    /// Roots recorded in the deployment inventory (what `update` compares).
    pub deployed_roots: u64,
    /// Bytes of the database file and its write-ahead log.
    pub db_size_bytes: u64,
}

/// The report of `statsDB`.
pub type StatsDbReport = EnvReport<Stats, RemoteLines>;

/// A relation whose origin or destination is not an instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DanglingRelation {
    /// The relation type tag (the patch files' `m`).
    pub m: String,
    /// The origin instance tag (`l`).
    pub l: String,
    /// The destination instance tag (`r`).
    pub r: String,
    /// The missing ends.
    pub missing: Vec<String>,
}

/// A reference property (`{c:8, t}`) to a missing instance, or unreadable properties.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MissingReference {
    /// The instance holding the reference.
    pub tag: String,
    /// The property holding it (absent for unreadable properties).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The missing instance it points to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why the properties could not be read (instead of a property and target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `checkDB` on the embedded environment (at most 100 of each kind listed).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Integrity {
    /// No dangling relation and no missing reference.
    pub ok: bool,
    /// Relations with a missing end, all counted.
    pub dangling_relation_count: u64,
    /// The first 100 of them.
    pub dangling_relations: Vec<DanglingRelation>,
    /// References to missing instances (and unreadable properties), all counted.
    pub missing_reference_count: u64,
    /// The first 100 of them.
    pub missing_references: Vec<MissingReference>,
}

/// `checkDB` on an orchestrator.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RemoteIntegrity {
    /// The toolkit command run (`checkDB`).
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The orchestrator found the graph coherent (the command exits 1 otherwise).
    pub ok: bool,
    /// The failure status, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// The orchestrator's answer, line by line.
    pub lines: Vec<String>,
}

/// The report of `checkDB`.
pub type CheckDbReport = EnvReport<Integrity, RemoteIntegrity>;

impl CheckDbReport {
    /// The environment is coherent.
    pub fn ok(&self) -> bool {
        match self {
            EnvReport::Embedded(e) => e.result.ok,
            EnvReport::Orchestrator(o) => o.ok,
        }
    }
}

/// `isDbInitialized` with `--report json` (stdout is the toolkit's `true`/`false` otherwise).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IsDbInitializedReport {
    /// The admin user and Olympe Libraries both exist.
    pub initialized: bool,
    /// The environment asked.
    pub environment: EnvironmentRef,
}

/// `getUpgradeConfig` with `--report json` (stdout is the toolkit's compact array
/// otherwise): `[{"project","from","to"}]`, or `[{}]` when a version is unknown.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeConfigReport {
    /// The toolkit's array: one step per project to upgrade, or one empty step when a
    /// version is unknown.
    pub upgrade_config: Vec<UpgradeStep>,
}

/// One project to upgrade (all fields absent: a version is unknown).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UpgradeStep {
    /// The npm package upgraded (`@olympeio/draw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The version deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// The version the codeAsData folder requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// `clearGraphDefCache` on the embedded environment (which has no such cache).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NothingCleared {
    /// The toolkit command asked (`clearGraphDefCache`).
    pub command: String,
    /// Entries cleared: always 0.
    pub cleared: u64,
}

/// The report of `clearGraphDefCache`.
pub type ClearGraphDefCacheReport = EnvReport<NothingCleared, RemoteLines>;

/// `createPatchesBackup` (orchestrators only).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePatchesBackupReport {
    /// The toolkit command run (`createPatchesBackup`).
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The zip written in the backup area, recorded in `rollbackVersion.json`.
    pub rollback_file: String,
}

/// `restoreUsers` / `restoreBusinessData` (orchestrators only).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RestoreReport {
    /// The toolkit command run (`restoreUsers` or `restoreBusinessData`).
    pub command: String,
    /// The orchestrator used.
    pub environment: EnvironmentRef,
    /// The backup-area folder loaded.
    pub folder: String,
    /// The orchestrator's answer, line by line.
    pub lines: Vec<String>,
}

/// What a writing environment command would do, under `CADKIT_DRY_RUN` (no secret).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DryRunReport {
    /// The toolkit command that was not run.
    pub command: String,
    /// The embedded environment it would have changed (null for an orchestrator).
    pub env: Option<PathBuf>,
    /// The arguments it would have used.
    pub would: Would,
}

/// The arguments a dry-run environment command would have used.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Would {
    /// The mode it would have switched on (`true`) or off (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activate: Option<bool>,
    /// The user it would have changed (`updateUser`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_tag: Option<String>,
    /// The login name it would have set (`updateUser`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// A command's JSON answer as its report type. The type must hold every field: in debug
/// builds (the tests) a field the type would drop or change is a panic, so the printed
/// report never silently loses what the command answered.
pub fn typed<R: Serialize + DeserializeOwned>(value: Value) -> anyhow::Result<R> {
    let report: R = serde_json::from_value(value.clone())
        .map_err(|e| anyhow::anyhow!("unexpected command result ({e}): {value}"))?;
    debug_assert_eq!(
        serde_json::to_value(&report).ok().as_ref(),
        Some(&value),
        "the report type drops or changes fields"
    );
    Ok(report)
}

/// An embedded result (`value`) with the environment used.
pub fn embedded<E: Serialize + DeserializeOwned, O>(
    value: Value,
    path: &std::path::Path,
) -> anyhow::Result<EnvReport<E, O>> {
    Ok(EnvReport::Embedded(Embedded {
        result: typed(value)?,
        environment: EnvironmentRef::embedded(path),
    }))
}

/// An orchestrator's result.
pub fn remote<E, O: Serialize + DeserializeOwned>(value: Value) -> anyhow::Result<EnvReport<E, O>> {
    Ok(EnvReport::Orchestrator(typed(value)?))
}
