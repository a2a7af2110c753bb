//! The toolkit's environment commands on the embedded environment, as typed methods
//! returning the JSON result cadkit prints (`envcmd` and the reference
//! orchestrator call them; this is where their SQL lives).

use super::lock::{Modes, DEPLOYED_VERSIONS};
use super::SqliteEnv;
use crate::patch::tags;
use anyhow::{bail, Context, Result};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

impl SqliteEnv {
    /// `maintenance on|off`: the modes after and before.
    pub fn set_maintenance(&self, on: bool) -> Result<Value> {
        let e = self;
        let before = e.modes()?;
        let after = Modes {
            maintenance: on,
            ..before
        };
        e.set_modes(after)?;
        Ok(modes_json(before, after))
    }

    /// `codeAsDataReadMode true|false`: the modes after and before.
    pub fn set_read_mode(&self, on: bool) -> Result<Value> {
        let e = self;
        let before = e.modes()?;
        let after = Modes {
            read_mode: on,
            ..before
        };
        e.set_modes(after)?;
        Ok(modes_json(before, after))
    }

    /// `broadcastRefreshApp`: a refresh notice for connected clients.
    pub fn broadcast_refresh(&self) -> Result<Value> {
        let e = self;
        let notice = e.record_refresh_notice("broadcastRefreshApp")?;
        Ok(json!({ "refreshNotice": notice }))
    }

    /// `getUpgradeConfig`: `[{"project":"@olympeio/draw","from":<deployed>,"to":<required>}]`, or `[{}]` when
    /// either is unknown (the toolkit's shape).
    pub fn upgrade_config(&self, dist: &Path, version_file: &str) -> Result<Value> {
        let e = self;
        let from = e
            .meta_get(DEPLOYED_VERSIONS)?
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| {
                v.get("drawVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|v| v != "N/A");
        let to = std::fs::read_to_string(dist.join(version_file))
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| {
                v.get("drawVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            // The toolkit only checks that the required version is set: "N/A" counts.
            .filter(|v| !v.is_empty());
        Ok(match (from, to) {
            (Some(f), Some(t)) => json!([{ "project": "@olympeio/draw", "from": f, "to": t }]),
            _ => json!([{}]),
        })
    }

    /// Set a user's login name and password. The embedded environment does not implement the
    /// server's SRP authentication: the password is stored as a salted SHA-256 in the table
    /// `cadkit_credentials`, never in the graph, and never printed.
    pub fn update_user(&self, tag: &str, name: &str, password: &str) -> Result<Value> {
        let conn = &self.conn;
        let props: Option<String> = conn
            .query_row("SELECT props FROM instances WHERE tag = ?1", [tag], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(props) = props else {
            bail!(
                "user {tag} does not exist in {}; check --user.tag",
                self.path.display()
            );
        };
        let mut p: serde_json::Map<String, Value> = serde_json::from_str(&props)
            .with_context(|| format!("user {tag}: corrupt properties"))?;
        p.insert("ff023000000000000001".into(), Value::String(name.into()));
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS cadkit_credentials(tag TEXT PRIMARY KEY NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL) WITHOUT ROWID;",
        )?;
        let salt: [u8; 16] = rand::random();
        let mut h = Sha256::new();
        h.update(salt);
        h.update(password.as_bytes());
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE instances SET props = ?2 WHERE tag = ?1",
            params![tag, serde_json::to_string(&p)?],
        )?;
        tx.execute(
            "INSERT INTO cadkit_credentials(tag, salt, hash) VALUES (?1, ?2, ?3) ON CONFLICT(tag) DO UPDATE SET salt = excluded.salt, hash = excluded.hash",
            params![tag, hex::encode(salt), hex::encode(h.finalize())],
        )?;
        tx.commit()?;
        Ok(json!({ "userTag": tag, "userName": name, "passwordUpdated": true }))
    }

    /// Checkpoint the WAL into the database file, and compact the file when at least a
    /// tenth of its pages are free. `VACUUM` rewrites the whole file (most of a second at
    /// 100k instances) and the toolkit's `update` asks for a GC twice per run, while a
    /// small update frees a handful of pages: compacting then would cost much and win
    /// nothing.
    pub fn start_gc(&self) -> Result<Value> {
        let before = db_size(&self.path);
        let conn = &self.conn;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let compact = free > 0 && free * 10 >= pages;
        if compact {
            conn.execute_batch("VACUUM;").with_context(|| {
                format!(
                    "cannot compact {} (is another process using it?)",
                    self.path.display()
                )
            })?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(json!({
            "sizeBefore": before,
            "sizeAfter": db_size(&self.path),
            "freePages": free,
            "compacted": compact,
        }))
    }

    /// `statsDB`: counts per model and relation type, deployed roots, file size.
    pub fn stats(&self) -> Result<Value> {
        let conn = &self.conn;
        let (instances, relations) = self.counts()?;
        let mut per_model: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut st = conn.prepare(
                "SELECT dst, count(*) FROM relations WHERE rel = ?1 GROUP BY dst ORDER BY dst",
            )?;
            let rows = st.query_map([tags::rel::MODEL], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for r in rows {
                let (m, n) = r?;
                per_model.insert(m, n);
            }
        }
        let without_model: i64 = conn.query_row(
            "SELECT count(*) FROM instances i WHERE NOT EXISTS (SELECT 1 FROM relations r WHERE r.src = i.tag AND r.rel = ?1)",
            [tags::rel::MODEL],
            |r| r.get(0),
        )?;
        let mut per_rel: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut st =
                conn.prepare("SELECT rel, count(*) FROM relations GROUP BY rel ORDER BY rel")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for r in rows {
                let (m, n) = r?;
                per_rel.insert(m, n);
            }
        }
        let roots: i64 = conn.query_row("SELECT count(*) FROM cadkit_root", [], |r| r.get(0))?;
        Ok(json!({
            "instances": instances,
            "relations": relations,
            "instancesPerModel": per_model,
            "instancesWithoutModel": without_model,
            "relationsPerType": per_rel,
            "deployedRoots": roots,
            "dbSizeBytes": db_size(&self.path),
        }))
    }

    /// Referential integrity: relations whose origin or destination is not an instance, and
    /// complex-property values (`{c:8, t}`) pointing at missing instances.
    pub fn check(&self) -> Result<Value> {
        let conn = &self.conn;
        let mut dangling = Vec::new();
        let count: i64;
        {
            let mut st = conn.prepare(
                "SELECT src, rel, dst,
                        EXISTS(SELECT 1 FROM instances WHERE tag = src),
                        EXISTS(SELECT 1 FROM instances WHERE tag = dst)
                 FROM relations
                 WHERE NOT EXISTS(SELECT 1 FROM instances WHERE tag = src)
                    OR NOT EXISTS(SELECT 1 FROM instances WHERE tag = dst)",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })?;
            let mut n = 0;
            for r in rows {
                let (l, m, rr, has_l, has_r) = r?;
                n += 1;
                if dangling.len() < 100 {
                    let mut missing = Vec::new();
                    if !has_l {
                        missing.push(l.clone());
                    }
                    if !has_r {
                        missing.push(rr.clone());
                    }
                    dangling.push(json!({"m": m, "l": l, "r": rr, "missing": missing}));
                }
            }
            count = n;
        }
        let mut refs = Vec::new();
        let mut ref_count = 0;
        {
            let mut exists = conn.prepare("SELECT 1 FROM instances WHERE tag = ?1")?;
            let mut st =
                conn.prepare("SELECT tag, props FROM instances WHERE props LIKE '%\"c\":8%'")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let tag: String = r.get(0)?;
                let props: String = r.get(1)?;
                let p: serde_json::Map<String, Value> = match serde_json::from_str(&props) {
                    Ok(p) => p,
                    Err(_) => {
                        ref_count += 1;
                        refs.push(json!({"tag": tag, "error": "corrupt properties"}));
                        continue;
                    }
                };
                for (k, v) in p {
                    if v.get("c").and_then(Value::as_u64) == Some(8) {
                        if let Some(t) = v.get("t").and_then(Value::as_str) {
                            if !exists.exists([t])? {
                                ref_count += 1;
                                if refs.len() < 100 {
                                    refs.push(json!({"tag": tag, "property": k, "target": t}));
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(json!({
            "ok": count == 0 && ref_count == 0,
            "danglingRelationCount": count,
            "danglingRelations": dangling,
            "missingReferenceCount": ref_count,
            "missingReferences": refs,
        }))
    }

    /// The toolkit's `isDbInitialized`: the admin user and "Olympe Libraries" exist.
    pub fn is_initialised(&self) -> Result<bool> {
        Ok(self.has_instance(tags::ADMIN_USER)? && self.has_instance(tags::OLYMPE_LIBRARIES)?)
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn db_size(env: &Path) -> u64 {
    let wal = env.with_file_name(format!(
        "{}-wal",
        env.file_name().unwrap_or_default().to_string_lossy()
    ));
    file_size(env) + file_size(&wal)
}

fn modes_json(before: Modes, after: Modes) -> Value {
    json!({
        "maintenance": if after.maintenance { "on" } else { "off" },
        "codeAsDataReadMode": after.read_mode,
        "previous": {
            "maintenance": if before.maintenance { "on" } else { "off" },
            "codeAsDataReadMode": before.read_mode,
        }
    })
}
