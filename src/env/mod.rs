//! Code-as-data environments: where a composition graph lives.
//!
//! `snapshot` and `update` talk to an environment only through [`Environment`], so a remote
//! orchestrator (the toolkit's AMQP + HTTP protocol) can be added beside the embedded
//! SQLite one without touching them.

use crate::graph::Graph;
use anyhow::Result;

/// A place holding a composition graph.
pub trait Environment {
    /// A human-readable name for logs and reports (never containing credentials).
    fn describe(&self) -> String;
    /// The whole graph, as the dumper and the diff read it.
    fn graph(&self) -> Result<Graph>;
}
