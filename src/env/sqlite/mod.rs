//! The embedded environment: a composition graph in one SQLite file (see the module doc of
//! [`crate::env`] for the schema and the load order).
//!
//! Every SQL statement of cadkit's code-as-data environment lives in this folder, so the
//! rest of the crate (`update`, `install`, `snapshot`, the CLI) talks to it through typed
//! methods and could not tell it from an orchestrator:
//! - [`graph`]: the graph tables, [`read_graph`] and [`apply_ops`];
//! - [`load`]: loading a built `dist/codeAsData` folder, applying read patches;
//! - [`inventory`]: `update`'s inventory tables and the planner's views of them;
//! - [`tx`]: the one transaction of an `update` (plan, apply, record);
//! - [`install`]: the stages of `install` (backup of users and business data, reset + load);
//! - [`installer`]: `install` itself (lock, modes, validation, the stages, resume);
//! - [`update`]: `update` itself (lock, modes, change log, drift, plan, apply);
//! - [`envcmd`]: the environment commands on a file path (the reference orchestrator's);
//! - [`lock`]: the deployment lock and the environment modes (maintenance, read mode);
//! - [`commands`]: the toolkit's environment commands (`statsDB`, `checkDB`, `startGC`, …).

pub mod commands;
pub mod envcmd;
mod environment;
pub mod graph;
pub mod install;
pub mod installer;
pub mod inventory;
pub mod load;
pub mod lock;
pub mod tx;
pub mod update;

pub use graph::{apply_ops, read_graph};
pub use load::{LoadReport, ModuleLoad};

use crate::patch::Op;
use anyhow::{bail, Context, Result};
use graph::{counts, put_blob};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `--env` points by default.
pub const DEFAULT_ENV_PATH: &str = "./.cadkit/env.sqlite";

/// `PRAGMA user_version` of the schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS instances(
    tag TEXT PRIMARY KEY NOT NULL,
    props TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relations(
    src TEXT NOT NULL,
    rel TEXT NOT NULL,
    dst TEXT NOT NULL,
    PRIMARY KEY(src, rel, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_by_dst ON relations(dst, rel, src);
CREATE TABLE IF NOT EXISTS blobs(
    tag TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// A composition graph stored in SQLite.
pub struct SqliteEnv {
    conn: Connection,
    path: PathBuf,
}

impl SqliteEnv {
    /// Open (or create, with its parent folder and schema) the environment at `path`.
    pub fn open(path: &Path) -> Result<SqliteEnv> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the environment folder {}", dir.display())
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the environment {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .with_context(|| format!("{}: cannot switch to WAL mode", path.display()))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!(
                "{}: environment schema version {version} is newer than this cadkit supports ({SCHEMA_VERSION}); upgrade cadkit or use another --env",
                path.display()
            );
        }
        conn.execute_batch(SCHEMA).with_context(|| {
            format!(
                "{}: cannot create the schema (is it an SQLite file?)",
                path.display()
            )
        })?;
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        }
        Ok(SqliteEnv {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The file of the environment.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for integration tests and benchmarks that inspect or corrupt
    /// the file on purpose. cadkit's own code outside `env/` never uses it (a test checks
    /// that no SQL appears outside `src/env/`).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// As [`SqliteEnv::conn`], for tests running their own transactions.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Apply operations in one transaction (all or nothing), with the toolkit's semantics
    /// ([`apply_ops`]).
    pub fn apply<'a>(&mut self, ops: impl IntoIterator<Item = &'a Op>) -> Result<()> {
        let tx = self.conn.transaction()?;
        apply_ops(&tx, ops)?;
        tx.commit()?;
        Ok(())
    }

    /// Whether an instance exists.
    pub fn has_instance(&self, tag: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM instances WHERE tag = ?1")?
            .exists([tag])?)
    }

    /// (instances, relations).
    pub fn counts(&self) -> Result<(u64, u64)> {
        counts(&self.conn)
    }

    /// The binary content of a File instance, if the environment holds it.
    pub fn blob(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT data FROM blobs WHERE tag = ?1", [tag], |r| r.get(0))
            .optional()?)
    }

    /// Store (or replace) the binary content of a File instance.
    pub fn put_blob(&self, tag: &str, data: &[u8]) -> Result<()> {
        put_blob(&self.conn, tag, data)
    }

    /// A `meta` record (environment state: modes, deployed versions, progress records).
    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Set the `meta` row `key` to `value` (insert or overwrite), outside any
    /// transaction of the caller.
    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Remove the `meta` row `key` (nothing happens when it does not exist).
    pub fn meta_delete(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?;
        Ok(())
    }
}
