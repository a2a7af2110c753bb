//! Exclusion: subtrees owned by the running instance (edited live in Draw) that `update`
//! never creates, changes or deletes (olympe-formats §9.2 step 10, §9.3).
//!
//! Seeds: `--update.excludeTags`, every snapshot-config `rootTags`, and the children of
//! the runtime (`100000000000000000dd`) and Draw (`0171bc740109f879cd90`) projects.
//! Included: `--update.includeTags` and every snapshot-config `exclude`. The closure runs
//! over the folder structure of the environment and of the patches: a node in a seed's
//! subtree is excluded only if it is not included and **all** its children are excluded,
//! so including a node keeps its ancestors under code-as-data too.

use crate::patch::tags;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The seeds of the exclusion closure, gathered from the options and the snapshot
/// config before the environment is read.
#[derive(Debug, Clone, Default)]
pub struct ExcludeConfig {
    /// Roots excluded with their subtrees: `update.excludeTags` plus every snapshot
    /// config's `rootTags` (the project children are added by the closure itself).
    pub exclude_tags: BTreeSet<String>,
    /// Nodes kept under code-as-data inside excluded subtrees: `update.includeTags` plus
    /// every snapshot config's `exclude`.
    pub include_tags: BTreeSet<String>,
}

impl ExcludeConfig {
    /// Parse `--update.excludeTags`/`--update.includeTags` values: JSON arrays of tags.
    pub fn parse_tags(option: &str, value: &str) -> Result<BTreeSet<String>> {
        let list: Vec<String> = serde_json::from_str(value).with_context(|| {
            format!("{option}: expected a JSON array of tags, e.g. '[\"0123456789abcdef0123\"]', found {value:?}")
        })?;
        for t in &list {
            if !crate::patch::is_tag(t) {
                anyhow::bail!("{option}: {t:?} is not a 20-hex tag");
            }
        }
        Ok(list.into_iter().collect())
    }

    /// Add the snapshot config's `rootTags` (excluded) and `exclude` (included) from a
    /// file or a folder of `*.json` files (each one object or an array of objects).
    pub fn add_snapshot_config(&mut self, path: &Path) -> Result<()> {
        #[derive(Deserialize)]
        struct Entry {
            snapshooter: Option<Snap>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Snap {
            #[serde(default)]
            root_tags: Vec<String>,
            #[serde(default)]
            exclude: Vec<String>,
        }
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json")
                })
                .map(|e| e.path().to_path_buf())
                .collect();
            v.sort();
            v
        } else {
            vec![path.to_path_buf()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read snapshot config {}", f.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", f.display()))?;
            let entries: Vec<Entry> = match v {
                serde_json::Value::Array(_) => serde_json::from_value(v),
                other => serde_json::from_value(other).map(|e| vec![e]),
            }
            .with_context(|| format!("{}: expected snapshot config entries", f.display()))?;
            for e in entries.into_iter().filter_map(|e| e.snapshooter) {
                self.exclude_tags.extend(e.root_tags);
                self.include_tags.extend(e.exclude);
            }
        }
        Ok(())
    }
}

/// The excluded nodes. `children` gives the structure children of a node (environment
/// and patches merged).
pub fn closure(
    cfg: &ExcludeConfig,
    children: &dyn Fn(&str) -> Result<BTreeSet<String>>,
) -> Result<BTreeSet<String>> {
    let mut seeds: BTreeSet<String> = cfg.exclude_tags.clone();
    for project in [tags::RUNTIME_PROJECT, tags::DRAW_PROJECT] {
        seeds.extend(children(project)?);
    }
    let mut memo: BTreeMap<String, bool> = BTreeMap::new();
    let mut excluded = BTreeSet::new();
    for s in &seeds {
        visit(s, cfg, children, &mut memo, &mut BTreeSet::new())?;
    }
    for (n, e) in memo {
        if e {
            excluded.insert(n);
        }
    }
    Ok(excluded)
}

fn visit(
    node: &str,
    cfg: &ExcludeConfig,
    children: &dyn Fn(&str) -> Result<BTreeSet<String>>,
    memo: &mut BTreeMap<String, bool>,
    path: &mut BTreeSet<String>,
) -> Result<bool> {
    if let Some(&e) = memo.get(node) {
        return Ok(e);
    }
    if !path.insert(node.to_string()) {
        // A cycle in the structure: treat the back edge as excluded (it does not keep
        // anything included).
        return Ok(true);
    }
    let mut all = true;
    for c in children(node)? {
        if !visit(&c, cfg, children, memo, path)? {
            all = false;
        }
    }
    path.remove(node);
    let e = !cfg.include_tags.contains(node) && all;
    memo.insert(node.to_string(), e);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> BTreeMap<String, BTreeSet<String>> {
        let mut t: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |p: &str, c: &str| {
            t.entry(p.into()).or_default().insert(c.into());
        };
        add("A", "B");
        add("A", "C");
        add("B", "D");
        add(tags::RUNTIME_PROJECT, "R1");
        add("R1", "R2");
        t
    }

    #[test]
    fn including_a_child_keeps_its_ancestors() {
        let t = tree();
        let children = |n: &str| Ok(t.get(n).cloned().unwrap_or_default());
        let cfg = ExcludeConfig {
            exclude_tags: ["A".to_string()].into(),
            include_tags: ["D".to_string()].into(),
        };
        let e = closure(&cfg, &children).unwrap();
        assert!(e.contains("C"));
        assert!(!e.contains("A") && !e.contains("B") && !e.contains("D"));
        assert!(e.contains("R1") && e.contains("R2"));
        assert!(!e.contains(tags::RUNTIME_PROJECT));
    }

    #[test]
    fn tags_must_be_a_json_array_of_tags() {
        assert!(ExcludeConfig::parse_tags("--update.excludeTags", "0123").is_err());
        assert!(ExcludeConfig::parse_tags("--update.excludeTags", "[\"x\"]").is_err());
        assert_eq!(
            ExcludeConfig::parse_tags("--update.excludeTags", "[\"0123456789abcdef0123\"]")
                .unwrap()
                .len(),
            1
        );
    }
}
