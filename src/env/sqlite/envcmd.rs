//! The toolkit's environment commands on the embedded environment, each returning a JSON
//! result: `maintenance`, `codeAsDataReadMode`, `broadcastRefreshApp`, `updateUser`,
//! `startGC`, `statsDB`, `checkDB`, `isDbInitialized`, `getUpgradeConfig`.

pub use crate::env::sqlite::lock::DEPLOYED_VERSIONS;
use crate::env::SqliteEnv;
use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// Strict on/off: `on`, `off`, `true`, `false`, `1`, `0`; anything else is an error.
pub fn parse_switch(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        other => Err(format!("expected on or off (true/false), found {other:?}")),
    }
}

fn open(env: &Path) -> Result<SqliteEnv> {
    let e = SqliteEnv::open(env)?;
    e.ensure_update_schema()?;
    Ok(e)
}

/// `maintenance on|off`: the modes after and before.
pub fn maintenance(env: &Path, on: bool) -> Result<Value> {
    open(env)?.set_maintenance(on)
}

/// `codeAsDataReadMode true|false`: the modes after and before.
pub fn read_mode(env: &Path, on: bool) -> Result<Value> {
    open(env)?.set_read_mode(on)
}

/// `broadcastRefreshApp`: a refresh notice for connected clients.
pub fn broadcast_refresh(env: &Path) -> Result<Value> {
    open(env)?.broadcast_refresh()
}

/// Set a user's login name and password (see [`SqliteEnv::update_user`]: salted hash in
/// `cadkit_credentials`, never in the graph, never printed).
pub fn update_user(env: &Path, tag: &str, name: &str, password: &str) -> Result<Value> {
    open(env)?.update_user(tag, name, password)
}

/// Checkpoint the WAL; compact when worth it (see [`SqliteEnv::start_gc`]).
pub fn start_gc(env: &Path) -> Result<Value> {
    open(env)?.start_gc()
}

/// `statsDB` on the embedded environment: counts per model and relation type, deployed
/// roots, file size.
pub fn stats(env: &Path) -> Result<Value> {
    open(env)?.stats()
}

/// Referential integrity (`checkDB`).
pub fn check(env: &Path) -> Result<Value> {
    open(env)?.check()
}

/// The toolkit's `isDbInitialized` on the embedded environment: the admin user and
/// "Olympe Libraries" exist (what `install` asks before keeping users and data).
pub fn is_initialised(env: &Path) -> Result<bool> {
    open(env)?.is_initialised()
}

/// `getUpgradeConfig`: `[{"project":"@olympeio/draw","from":<deployed>,"to":<required>}]`,
/// or `[{}]` when either is unknown (the toolkit's shape).
pub fn upgrade_config(env: &Path, dist: &Path, version_file: &str) -> Result<Value> {
    open(env)?.upgrade_config(dist, version_file)
}
