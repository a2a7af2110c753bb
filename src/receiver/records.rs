//! Deployment records: one SQLite file beside the receiver (WAL, one connection behind the
//! server's mutex), so records survive restarts and a check-then-insert is atomic.
//!
//! A record is created `taskActive` when a deployment is accepted and finished exactly
//! once. At start-up, records still active belong to a receiver that died: they are
//! marked failed ([`Store::recover_interrupted`]). Secrets never reach a record: sources
//! hold image references and digests, errors are redacted by the caller.

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// The end state of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, not finished.
    Queued,
    /// Converged.
    Succeeded,
    /// Nothing applied; `error` (and `filesError`) say why.
    Failed,
    /// The same content was already deployed: recorded, nothing done.
    Noop,
    /// A push no environment rule matched.
    Ignored,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Noop => "noop",
            Status::Ignored => "ignored",
        }
    }
    fn parse(s: &str) -> Status {
        match s {
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "noop" => Status::Noop,
            "ignored" => Status::Ignored,
            _ => Status::Queued,
        }
    }
}

/// A deployment record, as `GET /v1/deployments/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Decimal id (increasing: newer deployments have larger ids).
    pub id: String,
    /// The environment (empty for a push no environment accepts).
    pub environment: String,
    /// `{"kind":"image", "image", "registry", "repository", "tag", "digest"}`,
    /// `{"kind":"bundle", "sha256", "project"}` or `{"kind":"undeploy"}`.
    pub source: Value,
    /// When the deployment was accepted (UTC, RFC 3339).
    pub created_at: String,
    /// True until the deployment finished.
    pub task_active: bool,
    /// When it finished (null while active).
    pub finished_at: Option<String>,
    /// How it ended.
    pub status: Status,
    /// Why it failed (redacted).
    pub error: Option<String>,
    /// Patch file (relative path) → what is wrong with it.
    pub files_error: Option<Value>,
    /// The plan summary (totals, applied, mode).
    pub plan: Option<Value>,
    /// Milliseconds per stage (pull, verify, unpack, validate, update).
    pub stages: Option<Value>,
}

/// How a deployment ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final status.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// Per-file errors.
    pub files_error: Option<Value>,
    /// Plan summary.
    pub plan: Option<Value>,
    /// Stage durations.
    pub stages: Option<Value>,
    /// The content digest deployed (set when resolved late, e.g. a tag-only push).
    pub digest: Option<String>,
}

/// A record to create.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    /// The environment.
    pub environment: &'a str,
    /// What is deployed.
    pub source: &'a Value,
    /// Image digest or bundle hash (duplicate detection).
    pub digest: Option<&'a str>,
    /// Delivery identity (registry event id, idempotency key).
    pub event_key: Option<&'a str>,
    /// `Queued` (active) or a final status.
    pub status: Status,
    /// Why (for `ignored`).
    pub error: Option<&'a str>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployments(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  environment TEXT NOT NULL,
  source TEXT NOT NULL,
  digest TEXT,
  event_key TEXT,
  created_at TEXT NOT NULL,
  task_active INTEGER NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,
  error TEXT,
  files_error TEXT,
  plan TEXT,
  stages TEXT);
CREATE INDEX IF NOT EXISTS deployments_by_env ON deployments(environment, id);
CREATE INDEX IF NOT EXISTS deployments_by_event ON deployments(environment, event_key);
CREATE TABLE IF NOT EXISTS env_settings(environment TEXT PRIMARY KEY, settings TEXT NOT NULL);
";

/// The record store.
pub struct Store {
    conn: Connection,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json_col(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

impl Store {
    /// Open (create) the records file.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the records {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("cannot prepare the records {}", path.display()))?;
        Ok(Store { conn })
    }

    /// Mark the deployments a dead receiver left active as failed; returns their count.
    pub fn recover_interrupted(&self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE deployments SET task_active = 0, finished_at = ?1, status = 'failed',
             error = 'interrupted: the receiver stopped before the deployment finished; the environment holds its previous state or the new one, never a mix (the update is one transaction)'
             WHERE task_active = 1",
            [now()],
        )?)
    }

    /// Create a record; queued records are active, the others finished at once.
    pub fn insert(&self, r: &NewRecord) -> Result<i64> {
        let active = r.status == Status::Queued;
        let t = now();
        self.conn.execute(
            "INSERT INTO deployments(environment, source, digest, event_key, created_at, task_active, finished_at, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                r.environment,
                r.source.to_string(),
                r.digest,
                r.event_key,
                t,
                active,
                (!active).then_some(&t),
                r.status.as_str(),
                r.error
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Finish an active record (a record is finished once; later calls change nothing).
    pub fn finish(&self, id: i64, o: &Outcome) -> Result<()> {
        let j = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
        self.conn.execute(
            "UPDATE deployments SET task_active = 0, finished_at = ?2, status = ?3, error = ?4,
             files_error = ?5, plan = ?6, stages = ?7, digest = COALESCE(?8, digest)
             WHERE id = ?1 AND task_active = 1",
            params![
                id,
                now(),
                o.status.as_str(),
                o.error,
                j(&o.files_error),
                j(&o.plan),
                j(&o.stages),
                o.digest
            ],
        )?;
        Ok(())
    }

    fn row(r: &rusqlite::Row) -> rusqlite::Result<Record> {
        let status: String = r.get(7)?;
        Ok(Record {
            id: r.get::<_, i64>(0)?.to_string(),
            environment: r.get(1)?,
            source: json_col(r.get(2)?).unwrap_or(Value::Null),
            created_at: r.get(3)?,
            task_active: r.get(4)?,
            finished_at: r.get(5)?,
            status: Status::parse(&status),
            error: r.get(6)?,
            files_error: json_col(r.get(8)?),
            plan: json_col(r.get(9)?),
            stages: json_col(r.get(10)?),
        })
    }

    const COLUMNS: &'static str = "id, environment, source, created_at, task_active, finished_at, error, status, files_error, plan, stages";

    /// One record.
    pub fn get(&self, id: i64) -> Result<Option<Record>> {
        let sql = format!("SELECT {} FROM deployments WHERE id = ?1", Self::COLUMNS);
        Ok(self.conn.query_row(&sql, [id], Self::row).optional()?)
    }

    /// A page of records, newest first, and the total count.
    pub fn list(&self, start: u64, count: u64) -> Result<(u64, Vec<Record>)> {
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM deployments", [], |r| r.get(0))?;
        let sql = format!(
            "SELECT {} FROM deployments ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            Self::COLUMNS
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![count as i64, start as i64], Self::row)?;
        Ok((total as u64, rows.collect::<rusqlite::Result<_>>()?))
    }

    /// The active deployment of an environment: (id, digest).
    pub fn active(&self, env: &str) -> Result<Option<(i64, Option<String>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, digest FROM deployments WHERE environment = ?1 AND task_active = 1 ORDER BY id LIMIT 1",
                [env],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The record already made for a delivery (redelivered notification).
    pub fn by_event(&self, env: &str, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM deployments WHERE environment = ?1 AND event_key = ?2 ORDER BY id LIMIT 1",
                params![env, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The digest the environment holds: that of its last successful (or no-op)
    /// deployment; `None` after an undeploy, before any deployment, or when the last
    /// deployment was interrupted (it may have committed: the content is then unknown, so
    /// the next deployment is never taken for a no-op).
    pub fn deployed_digest(&self, env: &str) -> Result<Option<String>> {
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT status, digest FROM deployments WHERE environment = ?1
                 AND (status IN ('succeeded', 'noop') OR (status = 'failed' AND error LIKE 'interrupted:%'))
                 ORDER BY id DESC LIMIT 1",
                [env],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((status, digest)) if status != "failed" => digest,
            _ => None,
        })
    }

    /// Update options stored by `PUT …/config`.
    pub fn settings(&self, env: &str) -> Result<Option<Value>> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT settings FROM env_settings WHERE environment = ?1",
                [env],
                |r| r.get(0),
            )
            .optional()?;
        Ok(json_col(s))
    }

    /// Replace the update options of an environment.
    pub fn put_settings(&self, env: &str, v: &Value) -> Result<()> {
        self.conn.execute(
            "INSERT INTO env_settings(environment, settings) VALUES (?1, ?2)
             ON CONFLICT(environment) DO UPDATE SET settings = excluded.settings",
            params![env, v.to_string()],
        )?;
        Ok(())
    }
}
