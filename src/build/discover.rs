//! Discovery of the code-as-data packages a project depends on.
//!
//! The toolkit walks `devDependencies` then `dependencies` of the project, depth first,
//! appending each code-as-data package after its own dependencies (post-order), each name
//! once. It only looks at the flat `<npm root>/<name>` location. cadkit takes the same flat
//! location first (so its output has the toolkit's bytes, even when a nested copy has another
//! version), and falls back to Node's resolution (from the requiring package's folder upward
//! through every `node_modules`) only where the flat location has no such package — where
//! the toolkit would fail or miss it — with a warning.

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A `package.json`, reduced to what discovery needs.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The package's folder.
    pub dir: PathBuf,
    /// The package name (`name`), which names its output module.
    pub name: String,
    /// The package version, written to `version.json`.
    pub version: String,
    /// Names in `dependencies`, in file order (the walk's order).
    pub dependencies: Vec<String>,
    /// Names in `devDependencies`: walked at the top level only, as the toolkit does.
    pub dev_dependencies: Vec<String>,
    /// The `codeAsData` (or legacy `dcInitConfig`) value, relative to `dir`.
    pub code_as_data: Option<String>,
}

impl Manifest {
    /// Read `<dir>/package.json`; an error names the file.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join("package.json");
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let v: Value = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let keys = |field: &str| -> Vec<String> {
            v.get(field)
                .and_then(Value::as_object)
                .map(|m: &Map<String, Value>| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let text_field = |field: &str| v.get(field).and_then(Value::as_str).map(str::to_string);
        Ok(Manifest {
            dir: dir.to_path_buf(),
            name: text_field("name").unwrap_or_default(),
            version: text_field("version").unwrap_or_default(),
            dependencies: keys("dependencies"),
            dev_dependencies: keys("devDependencies"),
            code_as_data: text_field("codeAsData").or_else(|| text_field("dcInitConfig")),
        })
    }
}

/// One code-as-data package found among the dependencies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dependency {
    /// The package name.
    pub name: String,
    /// The installed version (reported, and named in errors).
    pub version: String,
    /// Absolute path of the package's code-as-data folder (or legacy file).
    #[serde(rename = "codeAsDataDir")]
    pub code_as_data_dir: PathBuf,
}

/// Result of the walk: packages in dependency order, and warnings for the user.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Code-as-data packages, dependencies before their dependents (the import order).
    pub dependencies: Vec<Dependency>,
    /// Things the user should know that do not stop the build (e.g. a package not installed).
    pub warnings: Vec<String>,
}

/// Walk the project's dependencies in the toolkit's order.
pub fn discover(project: &Manifest) -> Discovery {
    let mut walk = Walk {
        project_dir: &project.dir,
        visited: HashMap::new(),
        out: Discovery::default(),
    };
    for name in project.dev_dependencies.iter().chain(&project.dependencies) {
        walk.visit(name, &project.dir);
    }
    walk.out
}

struct Walk<'a> {
    project_dir: &'a Path,
    /// Name → folder it was resolved to (each name is visited once, as in the toolkit).
    visited: HashMap<String, PathBuf>,
    out: Discovery,
}

impl Walk<'_> {
    fn visit(&mut self, name: &str, from: &Path) {
        if self.visited.contains_key(name) {
            return;
        }
        let Some((dir, nested)) = self.locate(name, from) else {
            tracing::debug!(
                "dependency {name} is not installed (required from {})",
                from.display()
            );
            return;
        };
        self.visited.insert(name.to_string(), dir.clone());
        let Ok(manifest) = Manifest::read(&dir) else {
            return;
        };
        let Some(cad) = manifest.code_as_data.clone() else {
            return;
        };
        if nested {
            self.out.warnings.push(format!(
                "{name}: not installed at the flat location the toolkit reads; using {} ({}) found by Node resolution",
                dir.display(),
                manifest.version,
            ));
        }
        for dep in &manifest.dependencies {
            self.visit(dep, &dir);
        }
        self.out.dependencies.push(Dependency {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            code_as_data_dir: dir.join(cad),
        });
    }

    /// The toolkit's flat location `<project>/node_modules/<name>` first, so that the output
    /// has the toolkit's bytes even when a nested copy has another version; Node's nested
    /// resolution only where the flat location has no such package (`true` = nested).
    fn locate(&self, name: &str, from: &Path) -> Option<(PathBuf, bool)> {
        let flat = self.project_dir.join("node_modules").join(name);
        if flat.join("package.json").is_file() {
            return Some((flat, false));
        }
        resolve(name, from).map(|dir| (dir, true))
    }
}

/// Node's resolution of a bare package name from the folder `from`: the first
/// `node_modules/<name>/package.json` found walking up the folder tree.
pub fn resolve(name: &str, from: &Path) -> Option<PathBuf> {
    let mut dir = Some(from);
    while let Some(d) = dir {
        let is_node_modules = d.file_name().is_some_and(|n| n == "node_modules");
        if !is_node_modules {
            let candidate = d.join("node_modules").join(name);
            if candidate.join("package.json").is_file() {
                return Some(candidate);
            }
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), json).unwrap();
    }

    #[test]
    fn post_order_dev_first_with_nested_resolution_and_a_warning() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        package(
            p,
            r#"{"name":"app","dependencies":{"lib-b":"1","plain":"1"},"devDependencies":{"lib-a":"1"}}"#,
        );
        package(
            &p.join("node_modules/lib-a"),
            r#"{"name":"lib-a","version":"1.0.0","codeAsData":"cad","dependencies":{"base":"1"}}"#,
        );
        package(
            &p.join("node_modules/lib-b"),
            r#"{"name":"lib-b","version":"2.0.0","codeAsData":"cad","dependencies":{"base":"2"}}"#,
        );
        package(
            &p.join("node_modules/plain"),
            r#"{"name":"plain","version":"1.0.0","dependencies":{"hidden":"1"}}"#,
        );
        package(
            &p.join("node_modules/plain/node_modules/hidden"),
            r#"{"name":"hidden","codeAsData":"x"}"#,
        );
        // `base` exists only nested under lib-a: the flat rule misses it.
        package(
            &p.join("node_modules/lib-a/node_modules/base"),
            r#"{"name":"base","version":"0.1.0","dcInitConfig":"legacy.json"}"#,
        );
        let d = discover(&Manifest::read(p).unwrap());
        let names: Vec<_> = d.dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["base", "lib-a", "lib-b"]);
        assert!(d.dependencies[0]
            .code_as_data_dir
            .ends_with("lib-a/node_modules/base/legacy.json"));
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("not installed at the flat location")),
            "{:?}",
            d.warnings
        );
    }
}

#[cfg(test)]
mod flat_first_tests {
    use super::*;

    fn package(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("package.json"), json).unwrap();
    }

    #[test]
    fn the_flat_copy_wins_over_a_nested_one_as_in_the_toolkit() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        package(
            p,
            r#"{"name":"app","dependencies":{"@olympeio/core":"2.9.1","@olympeio/draw":"1"}}"#,
        );
        package(
            &p.join("node_modules/@olympeio/core"),
            r#"{"name":"@olympeio/core","version":"2.9.1","codeAsData":"codeAsData"}"#,
        );
        package(
            &p.join("node_modules/@olympeio/draw"),
            r#"{"name":"@olympeio/draw","version":"1.0.0","codeAsData":"codeAsData","dependencies":{"@olympeio/core":"2.9.3"}}"#,
        );
        package(
            &p.join("node_modules/@olympeio/draw/node_modules/@olympeio/core"),
            r#"{"name":"@olympeio/core","version":"2.9.3","codeAsData":"codeAsData"}"#,
        );
        // draw first: its nested core must not be taken either.
        let mut project = Manifest::read(p).unwrap();
        project.dependencies.reverse();
        let d = discover(&project);
        let found: Vec<_> = d
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            found,
            [("@olympeio/core", "2.9.1"), ("@olympeio/draw", "1.0.0")]
        );
        assert!(d.dependencies[0]
            .code_as_data_dir
            .starts_with(p.join("node_modules/@olympeio/core")));
    }
}
