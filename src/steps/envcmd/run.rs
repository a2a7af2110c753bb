//! Running one of the toolkit's environment commands: [`run`] opens the request's
//! environment once, runs the command through [`Environment`] (or on the orchestrator,
//! for the commands only an orchestrator has), types the answer into the command's report
//! and sets its CI outputs. Under a dry run the commands that write report what they
//! would do instead ([`DryRunReport`]), and nothing is opened.

use super::report::{self as reports, DryRunReport, EnvReport, Would};
use crate::ci::{Outputs, Platform};
use crate::env::orchestrator::backup::{self, SnapshotReport, SnapshotRequest};
use crate::env::orchestrator::{commands as remote, Orchestrator};
use crate::env::{Environment, Secret, Selection, DEFAULT_USER_PASSWORD};
use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// An environment command and its arguments.
#[derive(Debug, Clone)]
pub enum EnvCommand {
    /// `maintenance on|off`.
    Maintenance(bool),
    /// `codeAsDataReadMode true|false`.
    ReadMode(bool),
    /// `broadcastRefreshApp`.
    BroadcastRefresh,
    /// `updateUser`: the user's tag, login name and password (`None`: the toolkit's
    /// default, with a warning).
    UpdateUser {
        /// The user's tag.
        tag: String,
        /// The login name.
        name: String,
        /// The new password (a [`Secret`]: no `Debug` of the request shows it).
        password: Option<Secret>,
    },
    /// `startGC`.
    StartGc,
    /// `statsDB`.
    StatsDb,
    /// `checkDB` (the step's exit code is 1 when the environment is incoherent).
    CheckDb,
    /// `isDbInitialized`.
    IsDbInitialized,
    /// `getUpgradeConfig`: the codeAsData folder and its version file's name.
    UpgradeConfig {
        /// The built codeAsData folder (holding the version file).
        working_dir: PathBuf,
        /// The version file's name in it.
        version_file: String,
    },
    /// `clearGraphDefCache`.
    ClearGraphDefCache,
    /// `createPatchesBackup` (orchestrators only).
    CreatePatchesBackup,
    /// `snapshotUsers` or (`business`) `snapshotBusinessData` (orchestrators only: an
    /// embedded environment keeps its users and data across `install` by itself): dump
    /// them locally and upload them to the backup area.
    SnapshotData {
        /// `snapshotBusinessData` rather than `snapshotUsers`.
        business: bool,
        /// What to dump and where.
        request: SnapshotRequest,
    },
    /// `restoreUsers` or (`business`) `restoreBusinessData` (orchestrators only): the
    /// backup-area folder loaded, merging.
    Restore {
        /// `restoreBusinessData` rather than `restoreUsers`.
        business: bool,
        /// The backup-area folder.
        folder: String,
        /// Verbose import on the orchestrator.
        debug: bool,
    },
}

impl EnvCommand {
    /// The toolkit's name of the command.
    pub fn name(&self) -> &'static str {
        match self {
            EnvCommand::Maintenance(_) => "maintenance",
            EnvCommand::ReadMode(_) => "codeAsDataReadMode",
            EnvCommand::BroadcastRefresh => "broadcastRefreshApp",
            EnvCommand::UpdateUser { .. } => "updateUser",
            EnvCommand::StartGc => "startGC",
            EnvCommand::StatsDb => "statsDB",
            EnvCommand::CheckDb => "checkDB",
            EnvCommand::IsDbInitialized => "isDbInitialized",
            EnvCommand::UpgradeConfig { .. } => "getUpgradeConfig",
            EnvCommand::ClearGraphDefCache => "clearGraphDefCache",
            EnvCommand::CreatePatchesBackup => "createPatchesBackup",
            EnvCommand::SnapshotData { business: true, .. } => "snapshotBusinessData",
            EnvCommand::SnapshotData { .. } => "snapshotUsers",
            EnvCommand::Restore { business: true, .. } => "restoreBusinessData",
            EnvCommand::Restore { .. } => "restoreUsers",
        }
    }

    /// Whether the command writes to the environment: under a dry run it only says what
    /// it would do.
    pub fn writes(&self) -> bool {
        self.would().is_some()
    }

    /// What a command that writes would do (no secret); `None` for the commands a dry run
    /// runs as they are (they only read, or only an orchestrator has them).
    fn would(&self) -> Option<Would> {
        let switch = |activate: bool| Would {
            activate: Some(activate),
            ..Would::default()
        };
        match self {
            EnvCommand::Maintenance(on) | EnvCommand::ReadMode(on) => Some(switch(*on)),
            EnvCommand::BroadcastRefresh | EnvCommand::StartGc => Some(Would::default()),
            EnvCommand::UpdateUser { tag, name, .. } => Some(Would {
                user_tag: Some(tag.clone()),
                user_name: Some(name.clone()),
                ..Would::default()
            }),
            _ => None,
        }
    }
}

/// An environment command to run, and where.
#[derive(Debug, Clone)]
pub struct EnvRequest {
    /// The environment it runs on.
    pub env: Selection,
    /// The command.
    pub command: EnvCommand,
    /// Report what a writing command would do instead of doing it (`CADKIT_DRY_RUN`).
    pub dry_run: bool,
}

/// The report of an environment command: the command's own report type (the schemas are
/// per command, see [`crate::steps::schema`]).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EnvStepReport {
    /// `maintenance`, `codeAsDataReadMode`.
    Modes(reports::ModesReport),
    /// `broadcastRefreshApp`.
    BroadcastRefresh(reports::BroadcastRefreshReport),
    /// `updateUser`.
    UpdateUser(reports::UpdateUserReport),
    /// `startGC`.
    StartGc(reports::StartGcReport),
    /// `statsDB`.
    StatsDb(reports::StatsDbReport),
    /// `checkDB`.
    CheckDb(reports::CheckDbReport),
    /// `isDbInitialized`.
    IsDbInitialized(reports::IsDbInitializedReport),
    /// `getUpgradeConfig`.
    UpgradeConfig(reports::UpgradeConfigReport),
    /// `clearGraphDefCache`.
    ClearGraphDefCache(reports::ClearGraphDefCacheReport),
    /// `createPatchesBackup`.
    CreatePatchesBackup(reports::CreatePatchesBackupReport),
    /// `restoreUsers`, `restoreBusinessData`.
    Restore(reports::RestoreReport),
    /// `snapshotUsers`, `snapshotBusinessData`.
    SnapshotData(SnapshotReport),
    /// A writing command under a dry run.
    DryRun(DryRunReport),
}

impl EnvStepReport {
    /// The process exit code: 1 when `checkDB` found the environment incoherent, else 0.
    pub fn exit_code(&self) -> i32 {
        match self {
            EnvStepReport::CheckDb(r) if !r.ok() => 1,
            _ => 0,
        }
    }

    /// What the toolkit prints on stdout for this command instead of a report (pipelines
    /// read it): `true`/`false` for `isDbInitialized`, the compact array for
    /// `getUpgradeConfig`; `None` for the others.
    pub fn toolkit_stdout(&self) -> Result<Option<String>> {
        Ok(match self {
            EnvStepReport::IsDbInitialized(r) => Some(r.initialized.to_string()),
            EnvStepReport::UpgradeConfig(r) => Some(serde_json::to_string(&r.upgrade_config)?),
            _ => None,
        })
    }
}

/// Run the request's command and set its CI outputs on `out` (see the module doc).
pub fn run(req: &EnvRequest, out: &mut Outputs) -> Result<EnvStepReport> {
    let command = &req.command;
    if req.dry_run {
        if let Some(would) = command.would() {
            tracing::info!("dry run: {} changes nothing", command.name());
            return Ok(EnvStepReport::DryRun(DryRunReport {
                command: command.name().into(),
                env: match &req.env {
                    Selection::Embedded(path) => Some(path.clone()),
                    Selection::Orchestrator(_) => None,
                },
                would,
            }));
        }
    }
    let report = match command {
        EnvCommand::CreatePatchesBackup | EnvCommand::Restore { .. } => {
            let o = req.env.orchestrator_only(command.name(), "")?;
            on_orchestrator(&o, command)?
        }
        EnvCommand::SnapshotData { .. } => {
            let why = ", whose `install` keeps users and business data by itself";
            let o = req.env.orchestrator_only(command.name(), why)?;
            on_orchestrator(&o, command)?
        }
        _ => {
            let env = req.env.open()?;
            on_environment(env.as_ref(), command)?
        }
    };
    outputs(command, &report, out)?;
    Ok(report)
}

/// A command every environment has.
fn on_environment(env: &dyn Environment, command: &EnvCommand) -> Result<EnvStepReport> {
    Ok(match command {
        EnvCommand::Maintenance(on) => EnvStepReport::Modes(typed(env, env.maintenance(*on)?)?),
        EnvCommand::ReadMode(on) => EnvStepReport::Modes(typed(env, env.read_mode(*on)?)?),
        EnvCommand::BroadcastRefresh => {
            EnvStepReport::BroadcastRefresh(typed(env, env.broadcast_refresh()?)?)
        }
        EnvCommand::UpdateUser {
            tag,
            name,
            password,
        } => {
            let password = user_password(password.as_ref());
            EnvStepReport::UpdateUser(typed(env, env.update_user(tag, name, password)?)?)
        }
        EnvCommand::StartGc => EnvStepReport::StartGc(typed(env, env.start_gc()?)?),
        EnvCommand::StatsDb => EnvStepReport::StatsDb(typed(env, env.stats_db()?)?),
        EnvCommand::CheckDb => EnvStepReport::CheckDb(typed(env, env.check_db()?)?),
        EnvCommand::IsDbInitialized => {
            EnvStepReport::IsDbInitialized(reports::IsDbInitializedReport {
                initialized: env.is_initialised()?,
                environment: reports::typed(serde_json::to_value(env.info())?)?,
            })
        }
        EnvCommand::UpgradeConfig {
            working_dir,
            version_file,
        } => {
            let config = env.upgrade_config(working_dir, version_file)?;
            EnvStepReport::UpgradeConfig(reports::typed(
                serde_json::json!({ "upgradeConfig": config }),
            )?)
        }
        EnvCommand::ClearGraphDefCache => {
            EnvStepReport::ClearGraphDefCache(typed(env, env.clear_graphdef_cache()?)?)
        }
        EnvCommand::CreatePatchesBackup
        | EnvCommand::Restore { .. }
        | EnvCommand::SnapshotData { .. } => {
            anyhow::bail!("`{}` needs an orchestrator", command.name())
        }
    })
}

/// A command only an orchestrator has (an embedded environment has no backup area).
fn on_orchestrator(o: &Orchestrator, command: &EnvCommand) -> Result<EnvStepReport> {
    Ok(match command {
        EnvCommand::CreatePatchesBackup => {
            // The toolkit's command asks for a token, then its backup for another.
            o.token()?;
            EnvStepReport::CreatePatchesBackup(reports::typed(remote::create_patches_backup(o)?)?)
        }
        EnvCommand::Restore { folder, debug, .. } => EnvStepReport::Restore(reports::typed(
            remote::restore(o, command.name(), folder, *debug)?,
        )?),
        EnvCommand::SnapshotData { business, request } => {
            EnvStepReport::SnapshotData(if *business {
                backup::snapshot_business_data(o, request)?
            } else {
                backup::snapshot_users(o, request)?
            })
        }
        _ => anyhow::bail!("`{}` is not an orchestrator-only command", command.name()),
    })
}

/// The answer of `env` as the command's report, in the embedded or the orchestrator
/// shape (both name the environment, never with credentials).
fn typed<E, O>(env: &dyn Environment, value: serde_json::Value) -> Result<EnvReport<E, O>>
where
    E: Serialize + DeserializeOwned,
    O: Serialize + DeserializeOwned,
{
    if env.info().kind == "embedded" {
        Ok(EnvReport::Embedded(reports::typed(value)?))
    } else {
        reports::remote(value)
    }
}

/// The password `updateUser` sets: the one given, registered as a secret, or the
/// toolkit's default with a warning.
fn user_password(given: Option<&Secret>) -> &str {
    match given.map(Secret::expose) {
        Some(p) => {
            crate::steps::register_user_password(p);
            p
        }
        None => {
            tracing::warn!(
                "no --user.password, CADKIT_USER_PASSWORD or DRAW_PASSWORD: setting the toolkit's default password (admin)"
            );
            DEFAULT_USER_PASSWORD
        }
    }
}

/// The CI outputs of each command. On Azure the output commands go to stdout, so the
/// commands whose stdout is a value pipelines read (`isDbInitialized`,
/// `getUpgradeConfig`) set no output there.
fn outputs(command: &EnvCommand, report: &EnvStepReport, out: &mut Outputs) -> Result<()> {
    let shares_stdout = out.platform() == Platform::Azure;
    match (command, report) {
        (EnvCommand::Maintenance(on), _) => {
            out.set("maintenance", if *on { "on" } else { "off" })?
        }
        (EnvCommand::ReadMode(on), _) => out.set("read-mode", &on.to_string())?,
        _ => {}
    }
    match report {
        EnvStepReport::StatsDb(EnvReport::Embedded(e)) => {
            out.set("instances", &e.result.instances.to_string())?;
            out.set("relations", &e.result.relations.to_string())?;
        }
        EnvStepReport::CheckDb(r) => out.set("ok", &r.ok().to_string())?,
        EnvStepReport::IsDbInitialized(r) if !shares_stdout => {
            out.set("initialized", &r.initialized.to_string())?
        }
        EnvStepReport::UpgradeConfig(r) if !shares_stdout => {
            out.set("upgrade-config", &serde_json::to_string(&r.upgrade_config)?)?
        }
        EnvStepReport::CreatePatchesBackup(r) => out.set("rollback-file", &r.rollback_file)?,
        EnvStepReport::SnapshotData(r) => {
            out.set("instances", &r.instances.to_string())?;
            out.set("relations", &r.relations.to_string())?;
            out.set("local-dir", &r.local_dir.to_string_lossy())?;
        }
        _ => {}
    }
    Ok(())
}
