//! `registry-auth`: the Docker `config.json` auth entries, without Docker.
//!
//! Writes `{"auths":{"<registry>":{"username","password","auth"}}}` with `auth` =
//! base64(`username:password`), merged into an existing file (every other key kept),
//! atomically and with mode 0600. The Docker Hub key is normalised to
//! `https://index.docker.io/v1/`; a scheme or a path in a registry is refused (the key is
//! `host[:port]`). A `credsStore` or `credHelpers` entry that would make Docker ignore the
//! written entry is reported (and removed with `helper_free`).

use crate::ci::Platform;
use anyhow::{bail, Result};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Docker Hub's historic key in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The `auths` key for a registry: Docker Hub aliases → [`DOCKER_HUB_KEY`], else a
/// lowercase `host[:port]`.
pub fn normalize_registry(input: &str) -> Result<String> {
    let r = input.trim().to_ascii_lowercase();
    let hub = [
        "",
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "https://index.docker.io/v1/",
        "https://index.docker.io/v1",
        "index.docker.io/v1/",
        "index.docker.io/v1",
    ];
    if hub.contains(&r.as_str()) {
        return Ok(DOCKER_HUB_KEY.to_string());
    }
    if r.contains("://") {
        bail!("registry {input:?}: give host[:port] without a scheme (e.g. ghcr.io or registry.example:5000)");
    }
    if r.contains('/') {
        bail!("registry {input:?}: the auths key is host[:port] without a path (repositories share the registry's credentials)");
    }
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !h.contains(':') || h.starts_with('[') => (h, Some(p)),
        _ => (r.as_str(), None),
    };
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if !host_ok || !port_ok {
        bail!("registry {input:?} is not a valid host[:port]");
    }
    Ok(r)
}

pub use crate::docker_config::{read as read_existing, redacted, write};

/// One registry's credentials.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Normalised `auths` key.
    pub registry: String,
    /// The user name, written as is.
    pub username: String,
    /// The password or token (never logged; reports show it redacted).
    pub password: String,
}

impl Credential {
    /// A checked credential: user name and password present, no `:` in the user name (it would
    /// split `auth` in the wrong place), the registry normalised to its `auths` key.
    pub fn new(registry: &str, username: &str, password: &str) -> Result<Credential> {
        if username.is_empty() {
            bail!("registry {registry}: the username is empty");
        }
        if username.contains(':') {
            bail!("registry {registry}: a username cannot contain ':' (it separates user and password in auth)");
        }
        if password.is_empty() {
            bail!("registry {registry}: the password is empty");
        }
        Ok(Credential {
            registry: normalize_registry(registry)?,
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// base64(`username:password`).
    pub fn auth(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }

    fn entry(&self) -> Value {
        json!({"username": self.username, "password": self.password, "auth": self.auth()})
    }
}

/// `{"auths":{…}}` for `creds` alone (for Kaniko, Kubernetes secrets, `DOCKER_AUTH_CONFIG`).
pub fn generate(creds: &[Credential]) -> Value {
    let mut auths = Map::new();
    for c in creds {
        auths.insert(c.registry.clone(), c.entry());
    }
    json!({ "auths": auths })
}

/// A helper that will be asked instead of the written entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Shadow {
    /// The `auths` key the helper shadows.
    pub registry: String,
    /// `credsStore` or `credHelpers`.
    pub via: String,
    /// The helper program's suffix (`docker-credential-<helper>`).
    pub helper: String,
    /// Whether `helper_free` removed it.
    pub removed: bool,
}

/// The merged file and what could shadow it.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged config.json, ready to write.
    pub config: Value,
    /// Helpers that Docker would ask instead of the written entries (reported, so a user sees why a
    /// login seems ignored).
    pub shadows: Vec<Shadow>,
}

/// Merge `creds` into `existing` (a parsed config.json, or `None`), keeping every other key.
pub fn merge(existing: Option<Value>, creds: &[Credential], helper_free: bool) -> Result<Merged> {
    let mut config = match existing {
        None => Value::Object(Map::new()),
        Some(Value::Object(m)) => Value::Object(m),
        Some(_) => bail!("the existing config.json is not a JSON object"),
    };
    let obj = config.as_object_mut().expect("object");
    let mut shadows = Vec::new();
    let store = obj
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    for c in creds {
        let helper = obj
            .get("credHelpers")
            .and_then(|h| h.get(&c.registry))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(h) = helper {
            if helper_free {
                if let Some(Value::Object(m)) = obj.get_mut("credHelpers") {
                    m.remove(&c.registry);
                }
            }
            shadows.push(Shadow {
                registry: c.registry.clone(),
                via: "credHelpers".into(),
                helper: h,
                removed: helper_free,
            });
        } else if let Some(s) = &store {
            shadows.push(Shadow {
                registry: c.registry.clone(),
                via: "credsStore".into(),
                helper: s.clone(),
                removed: helper_free,
            });
        }
    }
    if helper_free && store.is_some() {
        obj.remove("credsStore");
    }
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        bail!("the existing config.json has an \"auths\" that is not an object");
    };
    for c in creds {
        auths.insert(c.registry.clone(), c.entry());
    }
    Ok(Merged { config, shadows })
}

/// Where the config folder goes when none is given: `DOCKER_CONFIG`, else a per-job folder
/// (`$RUNNER_TEMP`, GitLab's builds dir + job id, `$AGENT_TEMPDIRECTORY`), else `~/.docker`.
/// Returns the folder and why it was chosen.
pub fn default_dir(
    platform: Platform,
    get: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, String)> {
    let var = |k: &str| get(k).filter(|v| !v.is_empty());
    if let Some(d) = var("DOCKER_CONFIG") {
        return Some((PathBuf::from(d), "DOCKER_CONFIG".into()));
    }
    let per_job = match platform {
        Platform::GitHub => {
            var("RUNNER_TEMP").map(|t| (Path::new(&t).join("cadkit-docker-config"), "RUNNER_TEMP"))
        }
        Platform::GitLab => var("CI_BUILDS_DIR")
            .or_else(|| var("CI_PROJECT_DIR"))
            .map(|b| {
                let job = var("CI_JOB_ID").unwrap_or_else(|| "job".into());
                (
                    Path::new(&b).join(format!(".cadkit-docker-config-{job}")),
                    "CI_BUILDS_DIR",
                )
            }),
        Platform::Azure => var("AGENT_TEMPDIRECTORY").map(|t| {
            (
                Path::new(&t).join("cadkit-docker-config"),
                "AGENT_TEMPDIRECTORY",
            )
        }),
        Platform::None => None,
    };
    if let Some((p, why)) = per_job {
        return Some((p, why.to_string()));
    }
    var("HOME").map(|h| (Path::new(&h).join(".docker"), "HOME".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_keys() {
        for hub in [
            "docker.io",
            "Index.Docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "",
        ] {
            assert_eq!(normalize_registry(hub).unwrap(), DOCKER_HUB_KEY, "{hub}");
        }
        assert_eq!(normalize_registry("GHCR.io").unwrap(), "ghcr.io");
        assert_eq!(
            normalize_registry("127.0.0.1:5000").unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(normalize_registry("[::1]:5000").unwrap(), "[::1]:5000");
        assert!(normalize_registry("https://ghcr.io").is_err());
        assert!(normalize_registry("ghcr.io/org/repo").is_err());
        assert!(normalize_registry("bad host").is_err());
        assert!(normalize_registry("host:99999").is_err());
    }

    #[test]
    fn generate_and_merge_keep_other_keys_and_report_shadows() {
        let c = Credential::new("docker.io", "me", "pa:ss").unwrap();
        let g = generate(std::slice::from_ref(&c));
        assert_eq!(
            g.to_string(),
            r#"{"auths":{"https://index.docker.io/v1/":{"username":"me","password":"pa:ss","auth":"bWU6cGE6c3M="}}}"#
        );
        let existing: Value = serde_json::from_str(
            r#"{"experimental":"enabled","credsStore":"desktop","credHelpers":{"ghcr.io":"gh","other.io":"x"},"auths":{"keep.io":{"auth":"a2VlcA=="}},"proxies":{"default":{}}}"#,
        )
        .unwrap();
        let creds = vec![c, Credential::new("ghcr.io", "u", "p").unwrap()];
        let m = merge(Some(existing.clone()), &creds, false).unwrap();
        assert_eq!(m.config["experimental"], "enabled");
        assert_eq!(m.config["proxies"], json!({"default": {}}));
        assert_eq!(m.config["auths"]["keep.io"]["auth"], "a2VlcA==");
        assert_eq!(m.config["auths"]["ghcr.io"]["auth"], "dTpw");
        assert_eq!(m.config["credsStore"], "desktop");
        assert_eq!(
            m.shadows
                .iter()
                .map(|s| (s.registry.as_str(), s.via.as_str()))
                .collect::<Vec<_>>(),
            [(DOCKER_HUB_KEY, "credsStore"), ("ghcr.io", "credHelpers")]
        );
        let keys: Vec<&String> = m.config.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "experimental",
                "credsStore",
                "credHelpers",
                "auths",
                "proxies"
            ]
        );

        let free = merge(Some(existing), &creds, true).unwrap();
        assert!(free.config.get("credsStore").is_none());
        assert_eq!(free.config["credHelpers"], json!({"other.io": "x"}));
        assert!(free.shadows.iter().all(|s| s.removed));

        assert!(merge(Some(json!([])), &creds, false).is_err());
        assert!(merge(Some(json!({"auths": 1})), &creds, false).is_err());
        let r = redacted(&generate(&creds));
        assert!(!r.to_string().contains("pa:ss") && !r.to_string().contains("dTpw"));
    }

    #[test]
    fn default_folders_are_per_job() {
        let get = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = |p, vars| default_dir(p, &get(vars)).unwrap().0;
        assert_eq!(
            d(Platform::GitHub, &[("RUNNER_TEMP", "/r"), ("HOME", "/h")]),
            Path::new("/r/cadkit-docker-config")
        );
        assert_eq!(
            d(
                Platform::GitLab,
                &[("CI_BUILDS_DIR", "/b"), ("CI_JOB_ID", "7")]
            ),
            Path::new("/b/.cadkit-docker-config-7")
        );
        assert_eq!(
            d(Platform::Azure, &[("AGENT_TEMPDIRECTORY", "/a")]),
            Path::new("/a/cadkit-docker-config")
        );
        assert_eq!(
            d(Platform::None, &[("HOME", "/h")]),
            Path::new("/h/.docker")
        );
        assert_eq!(
            d(
                Platform::GitHub,
                &[("DOCKER_CONFIG", "/d"), ("RUNNER_TEMP", "/r")]
            ),
            Path::new("/d")
        );
    }

    #[test]
    fn write_is_0600_and_invalid_files_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cfg");
        let p = write(&sub, &json!({"auths": {}})).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        std::fs::write(&p, "{oops").unwrap();
        assert!(read_existing(&sub).is_err());
    }
}
