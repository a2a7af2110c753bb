//! The receiver's config file: the environments it deploys to, and their rules.
//!
//! ```json
//! { "environments": {
//!     "production": { "env": "/srv/cadkit/production.sqlite", "registry": "127.0.0.1:5000",
//!                     "repository": "acme/shop-codeasdata", "match": "^master-" } } }
//! ```
//!
//! Secrets are never in this file: tokens and the HMAC secret come from the environment
//! (`CADKIT_RECEIVER_TOKEN`, …), registry credentials from a Docker `config.json`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Environment name → its rules. Names are URL path segments: `[A-Za-z0-9._-]+`.
    pub environments: BTreeMap<String, EnvConfig>,
    /// The SQLite file of deployment records (default: `receiver.sqlite` beside the
    /// config file).
    #[serde(default)]
    pub records: Option<PathBuf>,
    /// Where images and bundles are unpacked (default: `receiver-work` beside the config).
    #[serde(default)]
    pub work_dir: Option<PathBuf>,
    /// Folder holding the Docker `config.json` with pull credentials (default:
    /// `$DOCKER_CONFIG`, else `~/.docker`).
    #[serde(default)]
    pub docker_config: Option<PathBuf>,
    /// Largest request body accepted, in bytes (default 64 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Cap on archive entries (default 100000).
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Cap on the uncompressed size of an archive or image, in bytes (default 1 GiB).
    #[serde(default = "default_max_unpacked")]
    pub max_unpacked_bytes: u64,
    /// Accepted age of a signed request's timestamp, in seconds (default 300).
    #[serde(default = "default_tolerance")]
    pub signature_tolerance_secs: i64,
}

fn default_max_body() -> usize {
    64 << 20
}
fn default_max_entries() -> usize {
    100_000
}
fn default_max_unpacked() -> u64 {
    1 << 30
}
fn default_tolerance() -> i64 {
    300
}

/// One environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvConfig {
    /// The embedded environment (SQLite file) deployments converge.
    pub env: PathBuf,
    /// The registry images are pulled from (`host[:port]`; plain http for loopback).
    /// Needed for registry notifications; the host named in a notification is never used.
    #[serde(default)]
    pub registry: Option<String>,
    /// The repository accepted from notifications (e.g. `acme/shop-codeasdata`); any
    /// repository when absent.
    #[serde(default)]
    pub repository: Option<String>,
    /// Regular expression a pushed tag must match (e.g. `^master-`); any tag when absent.
    #[serde(default, rename = "match")]
    pub tag_match: Option<String>,
    /// Folder of the patches inside the image (default `/root/patches`, where
    /// `cadkit image --kind codeasdata` puts them).
    #[serde(default = "default_image_path")]
    pub image_path: String,
    /// Initial update options (replaced by `PUT /v1/environments/{env}/config`).
    #[serde(default)]
    pub update: UpdateSettings,
}

fn default_image_path() -> String {
    "/root/patches".into()
}

/// Update options of an environment (the `config` resource).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSettings {
    /// Instance-managed roots (tags) excluded from updates (`--update.excludeTags`).
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// Tags put back into the update despite an exclusion (`--update.includeTags`).
    #[serde(default)]
    pub include_tags: Vec<String>,
    /// Read-only mode instead of maintenance during the apply (`--update.noDowntime`).
    #[serde(default)]
    pub no_downtime: bool,
    /// Drift detection and policy: absent = no detection; `revert`, `keep`, `fail`, or
    /// `{"default": …, "<root tag>": …}`.
    #[serde(default)]
    pub drift: Option<serde_json::Value>,
}

impl UpdateSettings {
    /// Check tags and the drift policy; the error names the field.
    pub fn validate(&self) -> Result<()> {
        for (field, list) in [
            ("excludeTags", &self.exclude_tags),
            ("includeTags", &self.include_tags),
        ] {
            for t in list {
                if !crate::patch::is_tag(t) {
                    bail!("{field}: {t:?} is not a tag (20 hexadecimal characters)");
                }
            }
        }
        self.policies()?;
        Ok(())
    }

    /// The drift policies, when drift detection is on.
    pub fn policies(&self) -> Result<Option<crate::update::drift::Policies>> {
        let Some(d) = &self.drift else {
            return Ok(None);
        };
        let text = match d {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        crate::update::drift::Policies::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("drift: {e}"))
    }
}

/// The config file read and checked, with the derived paths resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config file as written.
    pub config: ReceiverConfig,
    /// The config file's folder (relative paths are taken from it).
    pub base: PathBuf,
    /// The deployment records' database (SQLite), from the config or beside it.
    pub records: PathBuf,
    /// Where pulled images and uploaded bundles are unpacked while they deploy.
    pub work_dir: PathBuf,
    /// Compiled tag rules per environment.
    pub rules: BTreeMap<String, Option<regex::Regex>>,
}

/// Read and check the config file; errors name the file and the field.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the receiver config {}", path.display()))?;
    let config: ReceiverConfig = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a receiver config (see docs/receiver.md)",
            path.display()
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    if config.environments.is_empty() {
        bail!("{}: \"environments\" is empty", path.display());
    }
    let mut rules = BTreeMap::new();
    for (name, e) in &config.environments {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            bail!(
                "{}: environment name {name:?} must match [A-Za-z0-9._-]+",
                path.display()
            );
        }
        let re = match &e.tag_match {
            Some(m) => Some(regex::Regex::new(m).with_context(|| {
                format!(
                    "{}: environments.{name}.match is not a regular expression",
                    path.display()
                )
            })?),
            None => None,
        };
        if let Some(r) = &e.registry {
            if r.contains('/') || r.is_empty() {
                bail!(
                    "{}: environments.{name}.registry must be host[:port], not {r:?}",
                    path.display()
                );
            }
        }
        e.update
            .validate()
            .with_context(|| format!("{}: environments.{name}.update", path.display()))?;
        rules.insert(name.clone(), re);
    }
    let resolve = |p: &Option<PathBuf>, default: &str| match p {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => base.join(p),
        None => base.join(default),
    };
    Ok(Loaded {
        records: resolve(&config.records, "receiver.sqlite"),
        work_dir: resolve(&config.work_dir, "receiver-work"),
        base: base.to_path_buf(),
        config,
        rules,
    })
}
