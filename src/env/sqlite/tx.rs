//! The one transaction of an embedded `update`: the plan is computed, applied and recorded
//! (inventory, deployed versions, `lastUpdate`) inside it, so the inventory always
//! describes the graph beside it and a failure leaves the environment exactly as before
//! (dropping an [`UpdateTx`] without [`UpdateTx::commit`] rolls back).

use super::inventory::{self, Preloaded, SqlCurrent};
use super::{apply_ops, lock, SqliteEnv};
use crate::patch::Op;
use crate::update::inventory::RootState;
use anyhow::Result;
use rusqlite::{params, Transaction, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;

/// A transaction of an embedded environment, with the typed operations `update` needs.
pub struct UpdateTx<'a> {
    tx: Transaction<'a>,
}

impl SqliteEnv {
    /// Begin the update's transaction. A `write` transaction takes the write lock at once
    /// (`IMMEDIATE`), so the plan is computed on the state it is applied to; a read-only
    /// one (a plan) never blocks writers (WAL).
    pub fn begin_update(&mut self, write: bool) -> Result<UpdateTx<'_>> {
        let tx = self.conn.transaction_with_behavior(if write {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        })?;
        Ok(UpdateTx { tx })
    }
}

impl UpdateTx<'_> {
    /// The planner's view inside the transaction, queried item by item.
    pub fn current(&self) -> SqlCurrent<'_> {
        SqlCurrent { conn: &self.tx }
    }

    /// The whole graph and inventory inside the transaction.
    pub fn preload(&self) -> Result<Preloaded> {
        Preloaded::read(&self.tx)
    }

    /// The root that deployed a patch file (path relative to the dist folder).
    pub fn root_of_file(&self, path: &str) -> Result<Option<String>> {
        inventory::root_of_file(&self.tx, path)
    }

    /// Apply operations ([`apply_ops`] semantics).
    pub fn apply_ops<'o>(&self, ops: impl IntoIterator<Item = &'o Op>) -> Result<()> {
        apply_ops(&self.tx, ops)
    }

    /// Replace (or with `None`, remove) the inventory records of roots.
    pub fn write_inventory(&self, records: &BTreeMap<String, Option<RootState>>) -> Result<()> {
        inventory::write_inventory(&self.tx, records)
    }

    /// Record the dist's `version.json` as the deployed versions.
    pub fn record_versions(&self, dist: &Path) -> Result<()> {
        lock::record_versions(&self.tx, dist)
    }

    /// Set a `meta` record.
    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Make every change of the transaction durable at once.
    pub fn commit(self) -> Result<()> {
        self.tx.commit()?;
        Ok(())
    }
}
