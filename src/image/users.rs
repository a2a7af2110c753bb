//! Owner resolution: `user[:group]` names or numbers, resolved against the base image's
//! `/etc/passwd` and `/etc/group` as `docker build --chown` would.
//!
//! The two files are read from the base layers, top layer first: the first layer holding
//! the file wins, and a whiteout (`.wh.passwd`, `.wh.etc`, or an opaque `etc/` marker
//! `.wh..wh..opq`) in a layer hides the file of every layer below it.

use anyhow::{bail, Result};
use std::io::Read;

/// The base's account files (either may be missing: `scratch`, distroless images).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub passwd: Option<String>,
    pub group: Option<String>,
}

/// Errors callers may want to branch on.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("user {name:?} is not in the base image's /etc/passwd{hint}")]
    UnknownUser { name: String, hint: String },
    #[error("group {name:?} is not in the base image's /etc/group{hint}")]
    UnknownGroup { name: String, hint: String },
    #[error("owner {0:?} is not `user`, `user:group`, `uid` or `uid:gid`")]
    Syntax(String),
}

fn hint(file: &Option<String>, what: &str) -> String {
    match file {
        None => format!(" (the base has no {what}; use numeric ids such as 1000:1000)"),
        Some(_) => " (use a name the base knows, or numeric ids)".into(),
    }
}

fn lookup(file: &Option<String>, name: &str) -> Option<(u64, Option<u64>)> {
    file.as_deref()?.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            let id = f[2].parse().ok()?;
            let primary = f.get(3).and_then(|g| g.parse().ok());
            Some((id, primary))
        } else {
            None
        }
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(':')
}

/// Does this owner spec need the base's account files (does it hold a name)?
pub fn needs_accounts(spec: &str) -> bool {
    spec.split(':').any(|p| p.parse::<u64>().is_err())
}

/// Resolve `user[:group]` to numeric ids. Without a group, a named user gets its primary
/// group from `/etc/passwd` and a numeric uid gets the same number as gid.
pub fn resolve(spec: &str, acc: &Accounts) -> Result<(u64, u64)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if !valid_name(user) || group.is_some_and(|g| !valid_name(g)) {
        bail!(OwnerError::Syntax(spec.into()));
    }
    let (uid, primary) = match user.parse::<u64>() {
        Ok(n) => (n, Some(n)),
        Err(_) => match lookup(&acc.passwd, user) {
            Some((uid, gid)) => (uid, gid),
            None => bail!(OwnerError::UnknownUser {
                name: user.into(),
                hint: hint(&acc.passwd, "/etc/passwd"),
            }),
        },
    };
    let gid = match group {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => match lookup(&acc.group, g) {
                Some((gid, _)) => gid,
                None => bail!(OwnerError::UnknownGroup {
                    name: g.into(),
                    hint: hint(&acc.group, "/etc/group"),
                }),
            },
        },
    };
    Ok((uid, gid))
}

/// State of one file while walking layers top-down.
enum Found {
    Pending,
    Present(String),
    Hidden,
}

/// Read `/etc/passwd` and `/etc/group` from layer blobs given top layer first; `fetch`
/// returns a layer's blob. Stops as soon as both files are settled.
pub fn accounts_from_layers<'a, I>(layers_top_first: I) -> Result<Accounts>
where
    I: IntoIterator<Item = Result<std::borrow::Cow<'a, [u8]>>>,
{
    let mut passwd = Found::Pending;
    let mut group = Found::Pending;
    for blob in layers_top_first {
        if !matches!(passwd, Found::Pending) && !matches!(group, Found::Pending) {
            break;
        }
        let blob = blob?;
        let mut ar = tar::Archive::new(super::layer::open_blob(&blob));
        let mut layer_passwd = None;
        let mut layer_group = None;
        let mut etc_hidden_below = false;
        let mut passwd_wh = false;
        let mut group_wh = false;
        for e in ar.entries()? {
            let mut e = e?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let path = raw.trim_start_matches("./").trim_start_matches('/');
            let path = path.trim_end_matches('/');
            match path {
                "etc/passwd" | "etc/group" => {
                    let mut s = String::new();
                    if e.header().entry_type().is_file() {
                        e.read_to_string(&mut s)?;
                    }
                    if path == "etc/passwd" {
                        layer_passwd = Some(s);
                    } else {
                        layer_group = Some(s);
                    }
                }
                "etc/.wh..wh..opq" | ".wh.etc" => etc_hidden_below = true,
                "etc/.wh.passwd" => passwd_wh = true,
                "etc/.wh.group" => group_wh = true,
                _ => {}
            }
        }
        for (state, here, wh) in [
            (&mut passwd, layer_passwd, passwd_wh),
            (&mut group, layer_group, group_wh),
        ] {
            if matches!(state, Found::Pending) {
                *state = match here {
                    Some(s) => Found::Present(s),
                    None if wh || etc_hidden_below => Found::Hidden,
                    None => Found::Pending,
                };
            }
        }
    }
    let take = |f: Found| match f {
        Found::Present(s) => Some(s),
        _ => None,
    };
    Ok(Accounts {
        passwd: take(passwd),
        group: take(group),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn layer(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, c) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, p, c.as_bytes()).unwrap();
        }
        crate::image::layer::gzip(&b.into_inner().unwrap(), 1).unwrap()
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/nonexistent:/bin/false\nnode:x:1000:1000::/home/node:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnginx:x:101:\nnode:x:1000:\n";

    #[test]
    fn names_and_numbers() {
        let acc = Accounts {
            passwd: Some(PASSWD.into()),
            group: Some(GROUP.into()),
        };
        assert_eq!(resolve("nginx:root", &acc).unwrap(), (101, 0));
        assert_eq!(resolve("node:node", &acc).unwrap(), (1000, 1000));
        assert_eq!(resolve("node", &acc).unwrap(), (1000, 1000));
        assert_eq!(resolve("1000:1000", &acc).unwrap(), (1000, 1000));
        assert_eq!(resolve("33", &Accounts::default()).unwrap(), (33, 33));
        assert_eq!(resolve("nginx:5", &acc).unwrap(), (101, 5));
        let e = resolve("www-data", &acc).unwrap_err();
        assert!(e.to_string().contains("www-data"), "{e}");
        assert!(resolve("nginx:staff", &acc).is_err());
        assert!(resolve("nginx", &Accounts::default())
            .unwrap_err()
            .to_string()
            .contains("numeric"));
        assert!(resolve("a:b:c", &acc).is_err());
        assert!(needs_accounts("nginx:0") && !needs_accounts("1:2"));
    }

    #[test]
    fn later_layers_win_and_whiteouts_hide() {
        let bottom = layer(&[("etc/passwd", PASSWD), ("etc/group", GROUP)]);
        let top = layer(&[(
            "./etc/passwd",
            "root:x:0:0::/:/bin/sh\nnginx:x:7:7::/:/bin/sh\n",
        )]);
        let acc =
            accounts_from_layers([Ok(Cow::from(&top[..])), Ok(Cow::from(&bottom[..]))]).unwrap();
        assert_eq!(resolve("nginx:nginx", &acc).unwrap(), (7, 101));

        let wh = layer(&[("etc/.wh.passwd", "")]);
        let acc =
            accounts_from_layers([Ok(Cow::from(&wh[..])), Ok(Cow::from(&bottom[..]))]).unwrap();
        assert!(acc.passwd.is_none());
        assert!(acc.group.is_some());

        let opq = layer(&[("etc/.wh..wh..opq", ""), ("etc/group", "g:x:9:\n")]);
        let acc =
            accounts_from_layers([Ok(Cow::from(&opq[..])), Ok(Cow::from(&bottom[..]))]).unwrap();
        assert!(acc.passwd.is_none());
        assert_eq!(resolve("0:g", &acc).unwrap(), (0, 9));
    }
}
