//! [`Environment`] for the embedded environment: the typed methods of [`SqliteEnv`], each
//! result naming the environment (`{"kind":"embedded","location":<file>}`), as the CLI
//! printed them before the trait existed.

use super::SqliteEnv;
use crate::env::{
    with_info, Environment, EnvironmentInfo, InstallOutcome, InstallSpec, UpdateOutcome, UpdateSpec,
};
use crate::graph::Graph;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

impl SqliteEnv {
    /// Run a command that reads or writes `update`'s tables (they are created on first use,
    /// as the environment commands always did) and name the environment in its result.
    fn command(&self, run: impl FnOnce(&SqliteEnv) -> Result<Value>) -> Result<Value> {
        self.ensure_update_schema()?;
        with_info(run(self)?, &self.info())
    }
}

impl Environment for SqliteEnv {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            kind: "embedded",
            location: self.path.display().to_string(),
        }
    }

    fn graph(&self) -> Result<Graph> {
        super::read_graph(&self.conn)
            .with_context(|| format!("cannot read the graph of {}", self.path.display()))
    }

    fn blob(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        SqliteEnv::blob(self, tag)
    }

    fn maintenance(&self, on: bool) -> Result<Value> {
        self.command(|e| e.set_maintenance(on))
    }

    fn read_mode(&self, on: bool) -> Result<Value> {
        self.command(|e| e.set_read_mode(on))
    }

    fn broadcast_refresh(&self) -> Result<Value> {
        self.command(SqliteEnv::broadcast_refresh)
    }

    fn update_user(&self, tag: &str, name: &str, password: &str) -> Result<Value> {
        self.command(|e| SqliteEnv::update_user(e, tag, name, password))
    }

    fn start_gc(&self) -> Result<Value> {
        self.command(SqliteEnv::start_gc)
    }

    fn stats_db(&self) -> Result<Value> {
        self.command(SqliteEnv::stats)
    }

    fn check_db(&self) -> Result<Value> {
        self.command(SqliteEnv::check)
    }

    fn is_initialised(&self) -> Result<bool> {
        self.ensure_update_schema()?;
        SqliteEnv::is_initialised(self)
    }

    fn upgrade_config(&self, working_dir: &Path, version_file: &str) -> Result<Value> {
        self.ensure_update_schema()?;
        SqliteEnv::upgrade_config(self, working_dir, version_file)
    }

    /// The embedded environment has no graphDef cache: nothing to clear.
    fn clear_graphdef_cache(&self) -> Result<Value> {
        with_info(
            json!({ "command": "clearGraphDefCache", "cleared": 0 }),
            &self.info(),
        )
    }

    /// The embedded engine works on the file under its own lock and connections (see
    /// [`super::update`]).
    fn update(&mut self, spec: &UpdateSpec) -> Result<UpdateOutcome> {
        Ok(UpdateOutcome::Embedded(super::update::update(
            &self.path, spec,
        )?))
    }

    /// The embedded install (see [`super::installer`]): resumable, users and business
    /// data kept in place.
    fn install(&mut self, spec: &InstallSpec) -> Result<InstallOutcome> {
        Ok(InstallOutcome::Embedded(super::installer::install(
            &self.path, spec,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait's results are the embedded commands' results with `environment` added,
    /// and they act on the file (what `cadkit maintenance on --env …` printed before).
    #[test]
    fn embedded_commands_through_the_trait_name_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.sqlite");
        let env: Box<dyn Environment> = Box::new(SqliteEnv::open(&path).unwrap());
        let info = json!({ "kind": "embedded", "location": path.display().to_string() });
        let v = env.maintenance(true).unwrap();
        assert_eq!(v["maintenance"], "on");
        assert_eq!(v["previous"]["maintenance"], "off");
        assert_eq!(v["environment"], info);
        let v = env.read_mode(true).unwrap();
        assert_eq!(
            (&v["maintenance"], &v["codeAsDataReadMode"]),
            (&json!("on"), &json!(true))
        );
        let stats = env.stats_db().unwrap();
        assert_eq!(
            (&stats["instances"], &stats["deployedRoots"]),
            (&json!(0), &json!(0))
        );
        assert_eq!(stats["environment"], info);
        assert_eq!(env.check_db().unwrap()["ok"], true);
        assert!(!env.is_initialised().unwrap());
        assert_eq!(env.clear_graphdef_cache().unwrap()["cleared"], 0);
        let e = env
            .update_user("a0000000000000000000", "x", "secret-pw")
            .unwrap_err();
        assert!(e.to_string().contains("check --user.tag"), "{e}");
        assert!(!e.to_string().contains("secret-pw"), "{e}");
        let reopened = SqliteEnv::open(&path).unwrap();
        let m = reopened.modes().unwrap();
        assert!(m.maintenance && m.read_mode);
    }
}
