//! [`Environment`] for the orchestrator client: the toolkit's commands of [`commands`],
//! the graph read through graphDef ([`Orchestrator::read_graph`]), `update`
//! ([`super::update`]) and `install` ([`super::deploy`]). Nothing is duplicated
//! here: each method is the command the CLI ran before the trait existed.

use super::{commands, EnvironmentInfo, Orchestrator};
use crate::env::{Environment, InstallOutcome, InstallSpec, UpdateOutcome, UpdateSpec};
use crate::graph::Graph;
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

impl Environment for Orchestrator {
    fn describe(&self) -> String {
        Orchestrator::info(self).location
    }

    fn info(&self) -> EnvironmentInfo {
        Orchestrator::info(self)
    }

    fn graph(&self) -> Result<Graph> {
        Ok(self.read_graph()?)
    }

    fn blob(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.file_contents(&[tag.to_string()])?.remove(tag))
    }

    fn blobs(&self, tags: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
        Ok(self.file_contents(tags)?)
    }

    fn maintenance(&self, on: bool) -> Result<Value> {
        Ok(commands::maintenance(self, on)?)
    }

    fn read_mode(&self, on: bool) -> Result<Value> {
        Ok(commands::read_mode(self, on)?)
    }

    fn broadcast_refresh(&self) -> Result<Value> {
        Ok(commands::simple(self, "broadcastRefreshApp")?)
    }

    fn update_user(&self, tag: &str, name: &str, password: &str) -> Result<Value> {
        Ok(commands::update_user(self, tag, name, password)?)
    }

    fn start_gc(&self) -> Result<Value> {
        Ok(commands::start_gc(self)?)
    }

    fn stats_db(&self) -> Result<Value> {
        Ok(commands::simple(self, "statsDB")?)
    }

    fn check_db(&self) -> Result<Value> {
        Ok(commands::check(self)?)
    }

    fn is_initialised(&self) -> Result<bool> {
        Ok(commands::is_initialised(self)?)
    }

    /// The required version comes from the orchestrator's own patches folder (as the
    /// toolkit reads it), not from a local working folder.
    fn upgrade_config(&self, _working_dir: &Path, version_file: &str) -> Result<Value> {
        Ok(commands::upgrade_config(self, version_file)?)
    }

    fn clear_graphdef_cache(&self) -> Result<Value> {
        Ok(commands::clear_graphdef_cache(self)?)
    }

    fn update(&mut self, spec: &UpdateSpec) -> Result<UpdateOutcome> {
        Ok(UpdateOutcome::Orchestrator(super::update::update(
            self, spec,
        )?))
    }

    fn install(&mut self, spec: &InstallSpec) -> Result<InstallOutcome> {
        Ok(InstallOutcome::Orchestrator(Box::new(
            super::deploy::install(self, spec)?,
        )))
    }
}
