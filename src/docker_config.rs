//! The one model of Docker's `config.json` (the `DOCKER_CONFIG` folder's file): read and
//! written by `registry-auth`, read for credentials by `image`. The file is kept as JSON so
//! every key cadkit does not know (`credHelpers`, `proxies`, `experimental`, …) survives a
//! rewrite untouched.

use anyhow::{anyhow, Context, Result};
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Keys of an `auths` entry that hold a secret.
pub const SECRET_KEYS: [&str; 4] = ["password", "auth", "identitytoken", "registrytoken"];

/// The host an `auths` key names: `https://reg.example:5000/v1/` → `reg.example:5000`.
pub fn key_host(key: &str) -> &str {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    k.split('/').next().unwrap_or("")
}

/// `(user, password)` for `host` in a parsed config.json: the `auths` entry whose key names
/// that host (scheme and path ignored; Docker Hub under any of its names), from `auth`
/// (base64 `user:password`) or from `username` + `password`.
pub fn credentials_for(config: &Value, host: &str) -> Result<Option<(String, String)>> {
    let Some(auths) = config["auths"].as_object() else {
        return Ok(None);
    };
    let wanted: Vec<&str> = if host == "docker.io" || host == "index.docker.io" {
        vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
    } else {
        vec![host]
    };
    for (k, entry) in auths {
        if !wanted.contains(&key_host(k)) {
            continue;
        }
        if let Some(a) = entry["auth"].as_str() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .with_context(|| format!("auths.{k}.auth in config.json is not base64"))?;
            let s = String::from_utf8(raw).context("auth is not UTF-8")?;
            let (u, p) = s.split_once(':').ok_or_else(|| {
                anyhow!("auths.{k}.auth in config.json is not base64(user:password)")
            })?;
            return Ok(Some((u.into(), p.into())));
        }
        if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Ok(Some((u.into(), p.into())));
        }
    }
    Ok(None)
}

/// Read `dir/config.json` if present (an invalid file is an error, never overwritten).
pub fn read(dir: &Path) -> Result<Option<Value>> {
    let path = dir.join("config.json");
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            anyhow::Error::new(crate::ci::FileError::json(&path, &e)).context(format!(
                "{} is not valid JSON; fix or remove it (cadkit never overwrites a file it cannot read)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Write `config` to `dir/config.json` atomically, mode 0600 (folder 0700 when created).
pub fn write(dir: &Path, config: &Value) -> Result<PathBuf> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let path = dir.join("config.json");
    let mut text = serde_json::to_string_pretty(config)?;
    text.push('\n');
    crate::fsutil::write_atomic(&path, text.as_bytes(), Some(0o600))?;
    Ok(path)
}

/// `config` with the password and auth of every entry replaced by `***` (for dry runs).
pub fn redacted(config: &Value) -> Value {
    let mut v = config.clone();
    if let Some(Value::Object(auths)) = v.get_mut("auths") {
        for entry in auths.values_mut() {
            if let Value::Object(e) = entry {
                for k in SECRET_KEYS {
                    if e.contains_key(k) {
                        e.insert(k.into(), Value::String("***".into()));
                    }
                }
            }
        }
    }
    v
}
