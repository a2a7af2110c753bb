//! Which environment a command works on, decided once from what the user gave: an
//! embedded file (`--env` / `CADKIT_ENV`) or an orchestrator (any `--bus.*` /
//! `--orchestrator.*` option or their toolkit variables). The command line builds a
//! [`Selection`] from its options and hands it to a step in the step's request; the steps
//! open it through the one [`Environment`] trait, so no command ever falls back to a
//! local file when orchestrator settings were given.

use super::orchestrator::{Orchestrator, OrchestratorConfig};
use super::{EnvError, Environment, SqliteEnv, DEFAULT_ENV_PATH};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The environment chosen for a command. Holding the orchestrator's settings rather than
/// a connected client keeps a request cheap to build and to clone: the client (its runtime
/// and HTTP pool) is made when a step opens the selection.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The embedded SQLite file at this path.
    Embedded(PathBuf),
    /// The orchestrator reached with these settings (they hold its passwords, redacted in
    /// `Debug`).
    Orchestrator(Box<OrchestratorConfig>),
}

impl Selection {
    /// Pick the environment: `embedded` is the `--env` file, `orchestrator` the settings
    /// built from the orchestrator options when any was given. Both at once is
    /// [`EnvError::BothSelected`] (the user must keep one); neither is the default
    /// embedded file [`DEFAULT_ENV_PATH`].
    pub fn new(
        embedded: Option<PathBuf>,
        orchestrator: Option<OrchestratorConfig>,
    ) -> Result<Selection, EnvError> {
        match (embedded, orchestrator) {
            (Some(path), Some(_)) => Err(EnvError::BothSelected {
                location: path.display().to_string(),
            }),
            (None, Some(cfg)) => {
                tracing::info!("environment: orchestrator {}", cfg.info().location);
                Ok(Selection::Orchestrator(Box::new(cfg)))
            }
            (Some(path), None) => Ok(Selection::Embedded(path)),
            (None, None) => Ok(Selection::Embedded(PathBuf::from(DEFAULT_ENV_PATH))),
        }
    }

    /// A name for logs and reports, never with credentials: the embedded file's path, or
    /// the orchestrator's address (what [`Environment::describe`] says once opened).
    pub fn describe(&self) -> String {
        match self {
            Selection::Embedded(path) => path.display().to_string(),
            Selection::Orchestrator(cfg) => cfg.info().location,
        }
    }

    /// The selected environment behind the one trait every environment command uses. The
    /// embedded file is opened (and created if missing, as these commands always did).
    pub fn open(&self) -> Result<Box<dyn Environment>> {
        match self {
            Selection::Embedded(path) => Ok(Box::new(SqliteEnv::open(path)?)),
            Selection::Orchestrator(cfg) => Ok(Box::new(connect(cfg)?)),
        }
    }

    /// As [`Selection::open`] for commands that only read (`snapshot`, `update --plan`): an
    /// embedded environment must exist, it is never created.
    pub fn open_existing(&self) -> Result<Box<dyn Environment>> {
        if let Selection::Embedded(path) = self {
            if !path.is_file() {
                bail!(
                    "no environment at {}: the file does not exist, and a command that only reads (a snapshot, a plan, a dry run) creates nothing (run `cadkit install --env {}` first, or check --env)",
                    path.display(),
                    path.display()
                );
            }
        }
        self.open()
    }

    /// The orchestrator, for the commands only an orchestrator has (its graphDef cache,
    /// backup area, backup folders): [`EnvError::OrchestratorOnly`] for the embedded
    /// environment, which is then not touched (not even created). `why` completes the
    /// message (`, …`, or empty).
    pub fn orchestrator_only(&self, command: &str, why: &str) -> Result<Box<Orchestrator>> {
        match self {
            Selection::Orchestrator(cfg) => Ok(Box::new(connect(cfg)?)),
            Selection::Embedded(path) => Err(EnvError::OrchestratorOnly {
                command: command.into(),
                location: path.display().to_string(),
                why: why.into(),
            }
            .into()),
        }
    }
}

/// The client of the orchestrator of `cfg` (no connection is made before its first
/// command).
pub fn connect(cfg: &OrchestratorConfig) -> Result<Orchestrator> {
    Orchestrator::new(cfg.clone()).context("orchestrator client")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A command only an orchestrator has fails on the embedded environment with the
    /// message it always had, and does not create the file.
    #[test]
    fn orchestrator_only_commands_leave_the_embedded_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/env.sqlite");
        let e = Selection::Embedded(path.clone())
            .orchestrator_only("restoreUsers", "")
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "`restoreUsers` needs an orchestrator (--bus.* / --orchestrator.* or RABBITMQ_* / ORCHESTRATOR_* variables); {} is an embedded environment",
                path.display()
            )
        );
        assert!(matches!(
            e.downcast_ref::<EnvError>(),
            Some(EnvError::OrchestratorOnly { .. })
        ));
        assert!(!dir.path().join("sub").exists());
        let e = Selection::Embedded(path.clone())
            .open_existing()
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("no environment at"), "{e}");
        assert!(!dir.path().join("sub").exists());
    }

    /// Both an embedded file and orchestrator settings: an error naming the file, and no
    /// environment is opened; neither is the default embedded file.
    #[test]
    fn both_environments_at_once_is_an_error() {
        let e = Selection::new(
            Some(PathBuf::from("x.sqlite")),
            Some(OrchestratorConfig::default()),
        )
        .err()
        .unwrap();
        assert!(matches!(&e, EnvError::BothSelected { location } if location == "x.sqlite"));
        assert!(e.to_string().starts_with("both an embedded environment (--env / CADKIT_ENV = x.sqlite) and orchestrator settings"), "{e}");
        assert!(matches!(
            Selection::new(None, None).unwrap(),
            Selection::Embedded(p) if p == Path::new(DEFAULT_ENV_PATH)
        ));
        let remote = Selection::new(None, Some(OrchestratorConfig::default())).unwrap();
        assert_eq!(
            remote.describe(),
            OrchestratorConfig::default().info().location
        );
    }
}
