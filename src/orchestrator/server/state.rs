//! The server's shared state: options, modes, tokens, the cached graph, the recorder.

use super::ServerOptions;
use crate::env::SqliteEnv;
use crate::graph::Graph;
use crate::snapshot::FollowBits;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The graph as of one generation, with its follow-rule bits resolved.
pub struct Snapshot {
    /// The whole graph of the environment.
    pub graph: Graph,
    /// The follow-rule bits of its relation types, resolved once for every graphDef
    /// query of this generation.
    pub bits: FollowBits,
}

impl std::ops::Deref for Snapshot {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}

/// What every handler (AMQP and HTTP) shares.
pub struct State {
    /// The options the server was started with.
    pub opts: ServerOptions,
    /// Maintenance ON (deployment message `gateway_service: false`).
    pub maintenance: AtomicBool,
    /// codeAsDataReadMode ON.
    pub read_mode: AtomicBool,
    tokens: Mutex<HashSet<String>>,
    /// Bumped after every write, so the graph cache knows it is stale.
    generation: AtomicU64,
    /// A background read of the graph is running ([`State::warm_graph`]).
    warming: std::sync::atomic::AtomicBool,
    cache: Mutex<Option<(u64, Arc<Snapshot>)>>,
    recorder: Option<Mutex<std::fs::File>>,
    /// Commands answered (for the final report).
    pub commands: AtomicU64,
    /// HTTP requests served.
    pub http_requests: AtomicU64,
    /// What the last patch backup listed (see [`super::backup`]).
    pub backup_stamps: super::backup::BackupStamps,
}

impl State {
    /// Fresh state (no tokens, modes off, empty cache); opens the `--record` file for
    /// appending, the one thing that can fail.
    pub fn new(opts: ServerOptions) -> Result<State> {
        let recorder = match &opts.record {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| {
                        format!("--record {}: cannot open for appending", p.display())
                    })?,
            )),
            None => None,
        };
        Ok(State {
            opts,
            maintenance: AtomicBool::new(false),
            read_mode: AtomicBool::new(false),
            tokens: Mutex::new(HashSet::new()),
            generation: AtomicU64::new(0),
            warming: std::sync::atomic::AtomicBool::new(false),
            cache: Mutex::new(None),
            recorder,
            commands: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
            backup_stamps: Default::default(),
        })
    }

    /// Open the environment (one connection per command: SQLite in WAL mode).
    pub fn env(&self) -> Result<SqliteEnv> {
        SqliteEnv::open(&self.opts.env)
    }

    /// Mark the graph as changed.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Read the current graph into the cache, once at a time: an install's last steps
    /// write several times in a row, and one reader that catches up with the newest
    /// generation does the work of all (a query meanwhile reads on demand, as before).
    pub fn warm_graph(&self) {
        if self.warming.swap(true, Ordering::SeqCst) {
            return;
        }
        loop {
            let before = self.generation();
            if let Err(e) = self.graph() {
                tracing::debug!("graph cache: {e:#}");
                break;
            }
            if self.generation() == before {
                break;
            }
        }
        self.warming.store(false, Ordering::SeqCst);
    }

    /// The graph generation (bumped by every write).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The whole graph, read once per change (graphDef answers many queries in a row).
    pub fn graph(&self) -> Result<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((g, snap)) = cache.as_ref() {
            if *g == generation {
                return Ok(snap.clone());
            }
        }
        let env = self.env()?;
        let graph = crate::env::Environment::graph(&env)?;
        let bits = FollowBits::of(&graph);
        let snap = Arc::new(Snapshot { graph, bits });
        *cache = Some((generation, snap.clone()));
        Ok(snap)
    }

    /// A fresh admin token (the `createToken` command).
    pub fn new_token(&self) -> String {
        let bytes: [u8; 24] = rand::random();
        let token = hex::encode(bytes);
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.clone());
        token
    }

    /// Whether `token` was handed out by `createToken` since the server started (tokens
    /// live in memory only, as a restart of a real orchestrator invalidates them).
    pub fn token_valid(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(token)
    }

    /// The patches folder (`false`) or the backup area (`true`).
    pub fn area(&self, backup: bool) -> &Path {
        if backup {
            &self.opts.backup_dir
        } else {
            &self.opts.patches_dir
        }
    }

    /// Append one line to the `--record` file.
    pub fn record(&self, entry: Value) {
        if let Some(f) = &self.recorder {
            let mut f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(f, "{entry}");
            let _ = f.flush();
        }
    }
}

/// `root/rel`, refusing absolute paths and `..` (paths come from the network).
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf> {
    let rel_path = Path::new(rel);
    let mut out = root.to_path_buf();
    for c in rel_path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => bail!("path {rel:?} leaves its folder (absolute or `..`): refused"),
        }
    }
    Ok(out)
}

/// `path` relative to `root`, `/`-separated.
pub fn rel_path(root: &Path, path: &Path) -> String {
    crate::update::desired::rel_path(root, path)
}
