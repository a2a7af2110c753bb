//! The environment lock: one `update`/`install` at a time, with a visible holder and an
//! expiry, plus the environment modes (maintenance, code-as-data read mode) the holder
//! switched and must restore.
//!
//! The lock is a row of `cadkit_lock` (holder pid, host, command, start time, a random
//! nonce, and the modes to restore). Taking it when another live holder has it fails at
//! once with [`LockError::Held`] naming the holder and since when. A lock expires when its
//! holder is on this host and its process is gone (killed), or when it is older than the
//! TTL; whoever takes an expired lock first restores the modes the dead holder had
//! switched (so a `kill -9` during an update never leaves maintenance on for longer than
//! the next command).
//!
//! Both [`LockGuard`] and [`ModeGuard`] undo their work on drop, whatever happened.

use super::inventory as store;
use super::SqliteEnv;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Meta key of the maintenance mode (`on` / `off`), the embedded counterpart of the
/// orchestrator's maintenance gateway.
pub const MAINTENANCE: &str = "maintenance";
/// Meta key of the code-as-data read mode (`true` / `false`), named after the toolkit's
/// `codeAsDataReadMode` command that a `noDowntime` update switches.
pub const READ_MODE: &str = "codeAsDataReadMode";
/// Meta key of the last refresh notice (JSON `{at, reason, id}`), written by
/// `broadcastRefreshApp` and when a committed update restores the modes: the embedded
/// environment's record that connected clients should reload the application.
pub const REFRESH_NOTICE: &str = "refreshNotice";

/// Default lock TTL (one hour): past it a lock is taken over even when its holder cannot
/// be checked for liveness (a process on another host).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Who holds (or held) the environment lock: shown in [`LockError::Held`] and in the
/// report of a command that recovered an expired lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The command that took the lock (`update`, `install`).
    pub command: String,
    /// Its process id, checked for liveness when the holder is on this host.
    pub pid: u32,
    /// The host name it ran on.
    pub host: String,
    /// When it took the lock (RFC 3339, UTC), the start of the TTL.
    pub started_at: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (pid {} on {}) since {}",
            self.command, self.pid, self.host, self.started_at
        )
    }
}

/// Why the lock could not be taken (callers report it and exit without touching the
/// environment).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds the lock and it has not expired.
    #[error("the environment {env} is locked by {holder}; wait for it to finish (a lock of a dead process on this host, or older than {ttl_s} s, expires)")]
    Held {
        /// The environment file.
        env: String,
        /// The current holder.
        holder: Holder,
        /// The lock TTL, in seconds, after which the lock expires anyway.
        ttl_s: u64,
    },
}

/// The environment modes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Modes {
    /// Maintenance is on (meta [`MAINTENANCE`]).
    pub maintenance: bool,
    /// Code-as-data read mode is on (meta [`READ_MODE`]).
    pub read_mode: bool,
}

/// The modes recorded in `meta` (`on`/`true` mean on).
pub(super) fn read_modes(conn: &Connection) -> Result<Modes> {
    let get = |k: &str| -> Result<bool> {
        let v: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()?;
        Ok(matches!(v.as_deref(), Some("on") | Some("true")))
    };
    Ok(Modes {
        maintenance: get(MAINTENANCE)?,
        read_mode: get(READ_MODE)?,
    })
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(super) fn write_modes(conn: &Connection, m: Modes) -> Result<()> {
    set_meta(conn, MAINTENANCE, if m.maintenance { "on" } else { "off" })?;
    set_meta(conn, READ_MODE, if m.read_mode { "true" } else { "false" })?;
    Ok(())
}

/// Record a refresh notice for connected clients (they reload the application).
pub(super) fn record_refresh_notice(conn: &Connection, reason: &str) -> Result<serde_json::Value> {
    let notice = serde_json::json!({
        "at": chrono::Utc::now().to_rfc3339(),
        "reason": reason,
        "id": hex::encode(rand::random::<[u8; 8]>()),
    });
    set_meta(conn, REFRESH_NOTICE, &notice.to_string())?;
    Ok(notice)
}

impl SqliteEnv {
    /// The environment modes as recorded in `meta` (a mode never set is off).
    pub fn modes(&self) -> Result<Modes> {
        read_modes(&self.conn)
    }

    /// Switch the environment modes (`maintenance` is stored as `on`/`off`, the read mode as
    /// `true`/`false`, as before).
    pub fn set_modes(&self, m: Modes) -> Result<()> {
        write_modes(&self.conn, m)
    }

    /// Record a refresh notice for connected clients (`broadcastRefreshApp`).
    pub fn record_refresh_notice(&self, reason: &str) -> Result<serde_json::Value> {
        record_refresh_notice(&self.conn, reason)
    }

    /// Record the dist's `version.json` as the deployed versions.
    pub fn record_versions(&self, dist: &Path) -> Result<()> {
        record_versions(&self.conn, dist)
    }
}

/// This host's name (lock holders on this host are checked for liveness).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for its length; gethostname writes a NUL-terminated name.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A lock expires when its holder process is gone (same host) or it is older than `ttl`.
fn expired(h: &Holder, my_host: &str, ttl: Duration) -> bool {
    let age = chrono::DateTime::parse_from_rfc3339(&h.started_at)
        .map(|t| chrono::Utc::now().signed_duration_since(t))
        .ok();
    let too_old = age.is_none_or(|a| a.num_seconds() >= ttl.as_secs() as i64);
    too_old || (h.host == my_host && !process_alive(h.pid))
}

/// A taken lock; dropping it releases it (only if it is still ours).
pub struct LockGuard {
    path: PathBuf,
    nonce: String,
    /// A stale lock taken over, if any (its holder), reported by the commands.
    pub recovered: Option<Holder>,
}

fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)
        .with_context(|| format!("cannot open the environment {}", path.display()))?;
    c.busy_timeout(Duration::from_secs(30))?;
    Ok(c)
}

impl LockGuard {
    /// Take the lock of the environment at `path` for `command`, or fail at once.
    /// `modes` are the modes this holder is about to switch (recorded to be restored if
    /// it dies).
    pub fn acquire(path: &Path, command: &str, ttl: Duration) -> Result<LockGuard> {
        let mut conn = open(path)?;
        store::ensure_schema(&conn)?;
        let me = Holder {
            command: command.into(),
            pid: std::process::id(),
            host: hostname(),
            started_at: chrono::Utc::now().to_rfc3339(),
        };
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        // A plain read first (WAL readers never wait): a live holder is reported at once,
        // even while it is inside its write transaction.
        if let Some(h) = LockGuard::holder(path)? {
            if !expired(&h, &me.host, ttl) {
                return Err(LockError::Held {
                    env: path.display().to_string(),
                    holder: h,
                    ttl_s: ttl.as_secs(),
                }
                .into());
            }
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, String, u32, String, String, String)> = tx
            .query_row(
                "SELECT nonce, command, pid, host, started_at, restore FROM cadkit_lock WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let mut recovered = None;
        if let Some((_, cmd, pid, host, started_at, restore)) = row {
            let holder = Holder {
                command: cmd,
                pid,
                host,
                started_at,
            };
            let dead = holder.host == me.host && !process_alive(holder.pid);
            if !expired(&holder, &me.host, ttl) {
                return Err(LockError::Held {
                    env: path.display().to_string(),
                    holder,
                    ttl_s: ttl.as_secs(),
                }
                .into());
            }
            // Expired: restore the modes the dead holder switched.
            if let Ok(m) = serde_json::from_str::<Modes>(&restore) {
                write_modes(&tx, m)?;
            }
            tracing::warn!(
                "taking over the expired lock of {holder} ({}); its modes were restored",
                if dead {
                    "process gone"
                } else {
                    "older than the TTL"
                }
            );
            recovered = Some(holder);
        }
        let current = read_modes(&tx)?;
        tx.execute(
            "INSERT OR REPLACE INTO cadkit_lock(id, nonce, command, pid, host, started_at, restore) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![nonce, me.command, me.pid, me.host, me.started_at, serde_json::to_string(&current)?],
        )?;
        tx.commit()?;
        Ok(LockGuard {
            path: path.to_path_buf(),
            nonce,
            recovered,
        })
    }

    /// The current holder of the lock of `path`, if any.
    pub fn holder(path: &Path) -> Result<Option<Holder>> {
        let conn = open(path)?;
        store::ensure_schema(&conn)?;
        Ok(conn
            .query_row(
                "SELECT command, pid, host, started_at FROM cadkit_lock WHERE id = 1",
                [],
                |r| {
                    Ok(Holder {
                        command: r.get(0)?,
                        pid: r.get(1)?,
                        host: r.get(2)?,
                        started_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let r = open(&self.path).and_then(|c| {
            c.execute("DELETE FROM cadkit_lock WHERE nonce = ?1", [&self.nonce])?;
            Ok(())
        });
        if let Err(e) = r {
            tracing::error!(
                "cannot release the lock of {}: {e:#}; it expires when this process is gone",
                self.path.display()
            );
        }
    }
}

/// Switches the modes for the duration of a command and restores them on drop.
pub struct ModeGuard {
    path: PathBuf,
    prev: Modes,
    no_downtime: bool,
    committed: bool,
}

impl ModeGuard {
    /// Maintenance on (default) or, with `no_downtime`, code-as-data read-only mode.
    pub fn enter(path: &Path, no_downtime: bool) -> Result<ModeGuard> {
        let conn = open(path)?;
        let prev = read_modes(&conn)?;
        let mut m = prev;
        if no_downtime {
            m.read_mode = true;
        } else {
            m.maintenance = true;
        }
        write_modes(&conn, m)?;
        Ok(ModeGuard {
            path: path.to_path_buf(),
            prev,
            no_downtime,
            committed: false,
        })
    }

    /// The change was committed: clients get a refresh notice when the modes are restored.
    pub fn committed(&mut self) {
        self.committed = true;
    }

    /// Whether this guard switched read mode (a `noDowntime` update) instead of
    /// maintenance.
    pub fn no_downtime(&self) -> bool {
        self.no_downtime
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let r = open(&self.path).and_then(|c| {
            write_modes(&c, self.prev)?;
            if self.committed {
                record_refresh_notice(&c, "code-as-data updated")?;
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::error!(
                "cannot restore the modes of {}: {e:#}; run `cadkit maintenance off --env {}`",
                self.path.display(),
                self.path.display()
            );
        }
    }
}

/// Meta key of the versions deployed last (`version.json` of the folder).
pub const DEPLOYED_VERSIONS: &str = "deployedVersions";

/// Record the dist's `version.json` as the deployed versions (install and update).
pub(super) fn record_versions(conn: &Connection, dist: &Path) -> Result<()> {
    if let Ok(s) = std::fs::read_to_string(dist.join("version.json")) {
        if serde_json::from_str::<serde_json::Value>(&s).is_ok() {
            set_meta(conn, DEPLOYED_VERSIONS, &s)?;
        }
    }
    Ok(())
}
