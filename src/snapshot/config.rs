//! The snapshot config: a file or a folder of `*.json` files (recursively), each holding
//! one entry object or an array of them; all entries are concatenated (files in path
//! order). Entry shape (the toolkit's key is spelled `snapshooter`):
//!
//! ```json
//! { "snapshooter": { "name": "my-project", "rootTags": ["0123456789abcdef0123"],
//!                    "exclude": ["10000000000000000001"], "outputDir": "./snapshot",
//!                    "pathOverride": { "/Home/Old": "/Home/New" } },
//!   "git": { "repo": "https://…", "branch": "develop", "commitMessage": "Snapshot at {date}" } }
//! ```
//!
//! Defaults as the dumper's: `rootTags` = `["10000000000000000000"]` (Home), `exclude` =
//! `["10000000000000000001"]` (Olympe Libraries) when the key is absent, `outputDir` = the
//! `--snapshot.dir` option. Unknown keys are kept in `extra`.

use crate::patch::{is_tag, tags};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// One config entry: what to dump, and optionally where to commit it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// What to dump: the environment's roots, filters and the output folder.
    pub snapshooter: SnapshooterConfig,
    /// Where to commit and push the dump, for `cadkit snapshot` with git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitConfig>,
    /// Keys cadkit does not know, kept so that rewriting the config loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The dumper's part of an entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshooterConfig {
    /// The entry's name (selects it on the command line; names its clone folder).
    #[serde(default)]
    pub name: String,
    /// The root tags whose projects are dumped (default: Home).
    #[serde(default = "default_root_tags")]
    pub root_tags: Vec<String>,
    /// `None` = the dumper's default (Olympe Libraries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Where the patch files go (default: the folder the command is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    /// Substring replacements applied, in order, to `'/' + path` of every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_override: Option<Map<String, Value>>,
    /// Read and kept, not used: the toolkit's dumper writes into an emptied folder and
    /// renames clashing files `DUPLICATE_<name>` when this is `false`; cadkit updates the
    /// folder in place (only changed files) and never produces clashing names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overwrite: Option<bool>,
    /// Keys cadkit does not know, kept so that rewriting the config loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where to commit a snapshot. `Debug` hides the repository URL (it may hold a token).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitConfig {
    /// Remote URL of the repository (credentials, if any, are never logged).
    pub repo: String,
    /// Branch to commit to (default: the remote's main branch name cadkit uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Commit message template (`{date}`, `{folder}`, `{branch}`, `{count}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Keys cadkit does not know, kept so that rewriting the config loses nothing.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for GitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitConfig")
            .field("repo", &"<hidden>")
            .field("branch", &self.branch)
            .field("commit_message", &self.commit_message)
            .finish_non_exhaustive()
    }
}

fn default_root_tags() -> Vec<String> {
    vec![tags::HOME.to_string()]
}

/// What the dumper needs from an entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpConfig {
    /// The entry's name, for reports and logs.
    pub name: String,
    /// The root tags to dump, each the top folder of its files.
    pub root_tags: Vec<String>,
    /// Tags of projects left out of the dump.
    pub exclude: Vec<String>,
    /// `(from, to)` replacements applied to each root's path, in order (first match once per rule).
    pub path_override: Vec<(String, String)>,
}

impl Default for DumpConfig {
    fn default() -> DumpConfig {
        DumpConfig {
            name: String::new(),
            root_tags: default_root_tags(),
            exclude: vec![tags::OLYMPE_LIBRARIES.to_string()],
            path_override: Vec::new(),
        }
    }
}

impl SnapshooterConfig {
    /// The validated dump settings (tags must be 20-hex tags).
    pub fn dump_config(&self) -> Result<DumpConfig> {
        let what = if self.name.is_empty() {
            "snapshot config entry".to_string()
        } else {
            format!("snapshot config entry {:?}", self.name)
        };
        if self.root_tags.is_empty() {
            bail!("{what}: rootTags is empty");
        }
        for t in self.root_tags.iter().chain(self.exclude.iter().flatten()) {
            if !is_tag(t) {
                bail!("{what}: {t:?} is not a 20-hex tag");
            }
        }
        let mut path_override = Vec::new();
        for (from, to) in self.path_override.iter().flatten() {
            let Value::String(to) = to else {
                bail!("{what}: pathOverride {from:?} must map to a string");
            };
            if from.is_empty() {
                bail!("{what}: pathOverride has an empty key");
            }
            path_override.push((from.clone(), to.clone()));
        }
        Ok(DumpConfig {
            name: self.name.clone(),
            root_tags: self.root_tags.clone(),
            exclude: self
                .exclude
                .clone()
                .unwrap_or_else(|| vec![tags::OLYMPE_LIBRARIES.to_string()]),
            path_override,
        })
    }
}

impl SnapshotEntry {
    /// The folder to dump into: `outputDir`, else `default_dir` (`--snapshot.dir`).
    pub fn output_dir(&self, default_dir: &Path) -> PathBuf {
        self.snapshooter
            .output_dir
            .clone()
            .unwrap_or_else(|| default_dir.to_path_buf())
    }
}

/// Read the config at `path` (a file, or a folder of `*.json` searched recursively).
pub fn load(path: &Path) -> Result<Vec<SnapshotEntry>> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "cannot read the snapshot config {} (pass --snapshot.config <file or folder>)",
            path.display()
        )
    })?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut v = Vec::new();
        for e in walkdir::WalkDir::new(path).follow_links(true) {
            let e = e.with_context(|| format!("cannot list {}", path.display()))?;
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json") {
                v.push(e.path().to_path_buf());
            }
        }
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut entries = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        entries.extend(
            parse(&text).with_context(|| format!("{}: invalid snapshot config", f.display()))?,
        );
    }
    Ok(entries)
}

/// Parse one config file's text: one entry or an array of entries.
pub fn parse(text: &str) -> Result<Vec<SnapshotEntry>> {
    let value: Value = serde_json::from_str(text)?;
    let items = match value {
        Value::Array(a) => a,
        Value::Object(_) => vec![value],
        other => bail!("expected an object or an array, found {}", kind(&other)),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let entry: SnapshotEntry =
                serde_json::from_value(v).with_context(|| format!("entry {i}"))?;
            entry
                .snapshooter
                .dump_config()
                .with_context(|| format!("entry {i}"))?;
            Ok(entry)
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_defaults_and_folder_loading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"snapshooter":{"name":"one","rootTags":["0190aaaa000000000002"],"outputDir":"out"},"git":{"repo":"https://tok@x/y.git"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b/c.json"),
            r#"[{"snapshooter":{"name":"two","exclude":[],"pathOverride":{"/Home/A":"/Home/B"}}}]"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("b/ignored.txt"), "x").unwrap();
        let e = load(dir.path()).unwrap();
        assert_eq!(e.len(), 2);
        let c0 = e[0].snapshooter.dump_config().unwrap();
        assert_eq!(c0.exclude, vec![tags::OLYMPE_LIBRARIES.to_string()]);
        assert_eq!(e[0].output_dir(Path::new("d")), PathBuf::from("out"));
        assert!(!format!("{:?}", e[0]).contains("tok"));
        let c1 = e[1].snapshooter.dump_config().unwrap();
        assert_eq!(c1.root_tags, vec![tags::HOME.to_string()]);
        assert!(c1.exclude.is_empty());
        assert_eq!(c1.path_override, vec![("/Home/A".into(), "/Home/B".into())]);
        assert_eq!(e[1].output_dir(Path::new("d")), PathBuf::from("d"));
        let err = parse(r#"{"snapshooter":{"rootTags":["x"]}}"#).unwrap_err();
        assert!(format!("{err:#}").contains("not a 20-hex tag"), "{err:#}");
    }
}
