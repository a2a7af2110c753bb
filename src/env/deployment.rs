//! What `update` and `install` ask of an environment ([`UpdateSpec`], [`InstallSpec`])
//! and what they report ([`UpdateOutcome`], [`InstallOutcome`]): the arguments and results
//! of [`Environment::update`](super::Environment::update) and
//! [`Environment::install`](super::Environment::install).
//!
//! One request per command for both environments, so a pipeline's options mean the same
//! whichever environment it points at; the few options only one kind of environment uses
//! say so, and the other refuses them instead of ignoring them silently.

use super::orchestrator::backup::SnapshotRequest;
use super::orchestrator::deploy::RemoteInstallReport;
use super::orchestrator::update::RemoteUpdateReport;
use super::orchestrator::Secret;
use super::sqlite::installer::InstallReport;
use super::sqlite::lock::DEFAULT_TTL;
use super::sqlite::update::UpdateReport;
use crate::update::drift::Policies;
use crate::update::exclude::ExcludeConfig;
use crate::update::Plan;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The toolkit's default user password (`--user.password` / `DRAW_PASSWORD`): no secret.
pub const DEFAULT_USER_PASSWORD: &str = "admin";

/// What to converge an environment to, and how (`cadkit update`).
#[derive(Debug, Clone)]
pub struct UpdateSpec {
    /// The built codeAsData folder holding the desired state (read locally: an
    /// orchestrator's own patches folder need not be filled).
    pub dist: PathBuf,
    /// Compute and report the plan only, write nothing (`--plan` or `--dry-run`); an
    /// orchestrator then only gets read-only graphDef queries.
    pub plan_only: bool,
    /// The seeds of the exclusion closure (`excludeTags`, `includeTags`, snapshot config):
    /// instance-managed roots never touched, and the subtrees inside them that still
    /// follow code-as-data.
    pub exclude: ExcludeConfig,
    /// `noDowntime`: readers stay on the previous state until the commit (read-only mode)
    /// instead of maintenance mode.
    pub no_downtime: bool,
    /// Compare every deployed root with its inventory record first and apply
    /// `drift_policies`. Needs the inventory only the embedded environment keeps: an
    /// orchestrator refuses it.
    pub detect_drift: bool,
    /// What to do with drifted roots (default: revert them all).
    pub drift_policies: Policies,
    /// Compare only the roots named in the folder's change log, when it has one (default
    /// true); the log is emptied after a successful update.
    pub use_change_log: bool,
    /// The change log's file name in `dist` (default `change_log.txt`).
    pub change_log_name: String,
    /// Age after which the embedded environment's lock expires even if its holder seems
    /// alive (default one hour).
    pub lock_ttl: Duration,
    /// The version file in `dist` whose Draw and runtime versions an orchestrator sets on
    /// its projects after the load (default `version.json`).
    pub version_file: String,
    /// `(user tag, login name, password)` an orchestrator gives `setPassword` after the
    /// load, when set (the password is a [`Secret`]: no `Debug` of the request shows it).
    pub user: Option<(String, String, Secret)>,
}

impl UpdateSpec {
    /// Update to `dist` with the toolkit's defaults: apply, maintenance mode, change log
    /// used, no drift detection, the default lock TTL, `version.json`.
    pub fn new(dist: impl Into<PathBuf>) -> UpdateSpec {
        UpdateSpec {
            dist: dist.into(),
            plan_only: false,
            exclude: ExcludeConfig::default(),
            no_downtime: false,
            detect_drift: false,
            drift_policies: Policies::default(),
            use_change_log: true,
            change_log_name: "change_log.txt".into(),
            lock_ttl: DEFAULT_TTL,
            version_file: "version.json".into(),
            user: None,
        }
    }
}

/// What to install (`cadkit install`: reset the environment and load a built folder).
#[derive(Debug, Clone)]
pub struct InstallSpec {
    /// The built codeAsData folder (holding `import_order.json`).
    pub dist: PathBuf,
    /// Preserve the users (User instances except admin and guest) across the reset
    /// (`import.backupUsers`, default true).
    pub backup_users: bool,
    /// Preserve the business data across the reset (`import.backupBusinessData`, default
    /// true).
    pub backup_business_data: bool,
    /// The change log's file name in the codeAsData folder (emptied after the install,
    /// since everything it listed is now deployed).
    pub change_log_name: String,
    /// Age after which the embedded environment's lock expires even if its holder seems
    /// alive (default one hour).
    pub lock_ttl: Duration,
    /// What only an orchestrator uses.
    pub orchestrator: OrchestratorInstall,
}

impl InstallSpec {
    /// Install `dist` with the toolkit's defaults (users and business data kept, the
    /// default lock TTL and change-log name, [`OrchestratorInstall::default`]).
    pub fn new(dist: impl Into<PathBuf>) -> InstallSpec {
        InstallSpec {
            dist: dist.into(),
            backup_users: true,
            backup_business_data: true,
            change_log_name: "change_log.txt".into(),
            lock_ttl: DEFAULT_TTL,
            orchestrator: OrchestratorInstall::default(),
        }
    }
}

/// The `install` options only an orchestrator uses: the embedded install keeps its users
/// and business data in place and needs no admin password.
#[derive(Debug, Clone)]
pub struct OrchestratorInstall {
    /// `--runningInDocker`: the build is already in the orchestrator's patches folder, so
    /// nothing is uploaded.
    pub running_in_docker: bool,
    /// `ignoreRelationFail` of the `load` command: relations whose ends are missing are
    /// skipped instead of failing the import.
    pub ignore_relation_fail: bool,
    /// `debug` of the `load` commands (more orchestrator log lines).
    pub debug: bool,
    /// Where users and business data are dumped before the reset (`snapshot.*`); its
    /// `users_dir` / `business_data_dir` are also the backup-area folders reloaded after.
    pub snapshot: SnapshotRequest,
    /// The version file's name in the codeAsData folder, whose Draw and runtime versions
    /// are set on the two projects (§8 step 11).
    pub version_file: String,
    /// Tag of the admin user whose credentials `setPassword` sets after the load.
    pub user_tag: String,
    /// Login name given to that user.
    pub user_name: String,
    /// Password given to that user (sent once in `setPassword`, never logged; redacted
    /// from everything printed unless it is the toolkit's default `admin`; a [`Secret`],
    /// so no `Debug` of the request shows it).
    pub user_password: Secret,
}

impl Default for OrchestratorInstall {
    /// The toolkit's defaults: upload the build, strict load, users and data dumped under
    /// `snapshot/`, `version.json`, the admin user with password `admin`.
    fn default() -> OrchestratorInstall {
        OrchestratorInstall {
            running_in_docker: false,
            ignore_relation_fail: false,
            debug: false,
            snapshot: SnapshotRequest::new("snapshot"),
            version_file: "version.json".into(),
            user_tag: crate::patch::tags::ADMIN_USER.into(),
            user_name: "admin".into(),
            user_password: Secret::new(DEFAULT_USER_PASSWORD),
        }
    }
}

/// What [`Environment::update`](super::Environment::update) did (also with `--plan` and
/// `--dry-run`): each environment's own report, printed as it is.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum UpdateOutcome {
    /// On the embedded environment.
    Embedded(UpdateReport),
    /// On an orchestrator.
    Orchestrator(RemoteUpdateReport),
}

impl UpdateOutcome {
    /// The plan computed (and applied, unless a plan only or a dry run was asked).
    pub fn plan(&self) -> &Plan {
        match self {
            UpdateOutcome::Embedded(r) => &r.plan,
            UpdateOutcome::Orchestrator(r) => &r.plan,
        }
    }

    /// Why an applied update failed (a failed load, rolled back or not); `None` on
    /// success. The embedded update fails as a whole instead (its error is returned).
    pub fn failure(&self) -> Option<&str> {
        match self {
            UpdateOutcome::Embedded(_) => None,
            UpdateOutcome::Orchestrator(r) => r.failure.as_deref(),
        }
    }

    /// The plan was applied (written to the environment).
    pub fn applied(&self) -> bool {
        match self {
            UpdateOutcome::Embedded(r) => r.applied,
            UpdateOutcome::Orchestrator(r) => r.applied,
        }
    }

    /// The mode the update ran under, `maintenance` or `noDowntime` (`None` for a plan).
    pub fn mode(&self) -> Option<&str> {
        match self {
            UpdateOutcome::Embedded(r) => r.mode.as_deref(),
            UpdateOutcome::Orchestrator(r) => r.mode.as_deref(),
        }
    }

    /// Wall-clock time of the whole update, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        match self {
            UpdateOutcome::Embedded(r) => r.duration_ms,
            UpdateOutcome::Orchestrator(r) => r.duration_ms,
        }
    }
}

/// What [`Environment::install`](super::Environment::install) did.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum InstallOutcome {
    /// Installed into the embedded environment.
    Embedded(InstallReport),
    /// Installed on an orchestrator.
    Orchestrator(Box<RemoteInstallReport>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The requests hold the admin password: printing them for a log or an error never
    /// shows it (they derived `Debug` over plain strings before).
    #[test]
    fn no_debug_of_a_request_shows_its_password() {
        let mut install = InstallSpec::new("dist");
        install.orchestrator.user_password = Secret::new("s3cr3t-install");
        let mut update = UpdateSpec::new("dist");
        update.user = Some(("tag".into(), "name".into(), Secret::new("s3cr3t-update")));
        let printed = format!("{install:?} {update:?} {install:#?} {update:#?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(printed.contains("user_password: ***"), "{printed}");
    }
}
