//! Code-as-data environments: where a composition graph lives.
//!
//! `snapshot` and `update` talk to an environment only through [`Environment`], so a remote
//! orchestrator (the toolkit's AMQP + HTTP protocol) can be added beside the embedded
//! SQLite one without touching them.
//!
//! # The embedded environment ([`SqliteEnv`])
//!
//! One SQLite file (default [`DEFAULT_ENV_PATH`]) holding the graph:
//!
//! | table | columns | purpose |
//! |---|---|---|
//! | `instances` | `tag TEXT PRIMARY KEY, props TEXT` (`WITHOUT ROWID`) | one row per instance; `props` is the compact JSON object of its properties |
//! | `relations` | `src, rel, dst` (`PRIMARY KEY(src, rel, dst)`, `WITHOUT ROWID`) + index `relations_by_dst(dst, rel, src)` | `src -rel-> dst`; both directions are index lookups |
//! | `blobs` | `tag TEXT PRIMARY KEY, data BLOB` | binary content of File instances (loaded from `<base>/<fileTag>` files beside the patches; written back by the dumper) |
//! | `meta` | `key TEXT PRIMARY KEY, value TEXT` | environment state (free-form keys; `update` adds locks/maintenance keys) |
//!
//! The schema version is `PRAGMA user_version` ([`sqlite::SCHEMA_VERSION`]); the file is in
//! WAL mode with a busy timeout, so readers never block the writer.
//!
//! Public API (stable, used by `snapshot` and `update`):
//! - [`SqliteEnv::open`] (creates the folder and the schema), [`SqliteEnv::path`],
//!   [`SqliteEnv::conn`] / [`SqliteEnv::conn_mut`], [`SqliteEnv::counts`],
//!   [`SqliteEnv::meta_get`] / [`SqliteEnv::meta_set`] / [`SqliteEnv::meta_delete`],
//!   [`SqliteEnv::blob`] / [`SqliteEnv::put_blob`];
//! - [`SqliteEnv::load_dist`]: reset (optionally) and load a built `dist/codeAsData`
//!   folder in `import_order.json` order, in ONE transaction, every file validated first;
//! - [`SqliteEnv::apply_patches`]: apply already-read patches in application order in one
//!   transaction;
//! - [`apply_ops`]: apply operations inside a caller's transaction with the toolkit's
//!   semantics (the same as [`crate::graph::Graph::apply`]);
//! - [`sqlite::read_graph`]: the whole graph of a connection;
//! - [`Environment`] for `SqliteEnv`: `graph()` reads the whole graph.
//!
//! # Load order
//!
//! Kinds are ordered **per module**: module by module in `import_order.json` order, and
//! within a module all `delRel` files, then `delInst`, `newInst`, `updateInst`, `newRel`
//! (files sorted by their path relative to the module folder within a kind). That is what
//! the orchestrator does (it imports the modules one after the other). Operations and
//! `optionalOperations` of a file are applied together (the latter carry the hierarchy
//! relations that exist nowhere else). Loading the runtime then Core gives the same graph
//! with per-module or global kind ordering (tested).

pub mod orchestrator;
pub mod sqlite;

pub use sqlite::{apply_ops, LoadReport, ModuleLoad, SqliteEnv, DEFAULT_ENV_PATH};

use crate::graph::Graph;
use anyhow::Result;

/// A place holding a composition graph.
pub trait Environment {
    /// A human-readable name for logs and reports (never containing credentials).
    fn describe(&self) -> String;
    /// The whole graph, as the dumper and the diff read it.
    fn graph(&self) -> Result<Graph>;
    /// The binary content of a File instance (what the dumper writes beside its item),
    /// `None` when the environment does not hold it.
    fn blob(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        let _ = tag;
        Ok(None)
    }
    /// The contents of many File instances (those the environment holds); remote
    /// environments fetch them in parallel.
    fn blobs(&self, tags: &[String]) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
        let mut out = std::collections::BTreeMap::new();
        for t in tags {
            if let Some(b) = self.blob(t)? {
                out.insert(t.clone(), b);
            }
        }
        Ok(out)
    }
}
