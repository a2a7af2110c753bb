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
    /// The base's `/etc/passwd`, if it has one.
    pub passwd: Option<String>,
    /// The base's `/etc/group`, if it has one.
    pub group: Option<String>,
}

/// Errors callers may want to branch on.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// The user name is not in the base image's `/etc/passwd`.
    #[error("user {name:?} is not in the base image's /etc/passwd{hint}")]
    UnknownUser {
        /// The name asked for.
        name: String,
        /// How to fix it: a name the base knows, or numeric ids when it has no such file.
        hint: String,
    },
    /// The group name is not in the base image's `/etc/group`.
    #[error("group {name:?} is not in the base image's /etc/group{hint}")]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// How to fix it: a name the base knows, or numeric ids when it has no such file.
        hint: String,
    },
    /// The owner is not in any of the accepted forms.
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

pub use super::blob::DirMeta;

/// State of one looked-up path while walking layers top-down.
#[derive(Debug, Clone)]
enum Found<T> {
    Pending,
    Present(T),
    Hidden,
}

/// Looks paths up in an image's layers, top layer first, as the union filesystem would
/// show them: the first layer holding a path wins; a whiteout of the path or of one of its
/// folders, or an opaque marker in one of its folders, hides it from the layers below.
pub struct BaseScanner {
    passwd: Found<String>,
    group: Found<String>,
    dirs: Vec<(String, Found<DirMeta>)>,
}

fn norm(raw: &str) -> String {
    raw.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Is `path` hidden from lower layers by the whiteouts of a layer?
fn hidden(
    path: &str,
    whiteouts: &std::collections::HashSet<String>,
    opaque: &std::collections::HashSet<String>,
) -> bool {
    let mut p = path;
    loop {
        let (parent, name) = match p.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", p),
        };
        let wh = if parent.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{parent}/.wh.{name}")
        };
        if whiteouts.contains(&wh) {
            return true;
        }
        if parent.is_empty() {
            return opaque.contains("");
        }
        if opaque.contains(parent) {
            return true;
        }
        p = parent;
    }
}

impl BaseScanner {
    /// Look up the account files (when `accounts`) and the folders `dirs` (relative,
    /// without leading '/').
    pub fn new(accounts: bool, dirs: &[String]) -> BaseScanner {
        let init = |want: bool| if want { Found::Pending } else { Found::Hidden };
        BaseScanner {
            passwd: init(accounts),
            group: init(accounts),
            dirs: dirs.iter().map(|d| (norm(d), Found::Pending)).collect(),
        }
    }

    /// Nothing left to look up: lower layers need not be read.
    pub fn done(&self) -> bool {
        !matches!(self.passwd, Found::Pending)
            && !matches!(self.group, Found::Pending)
            && self.dirs.iter().all(|(_, f)| !matches!(f, Found::Pending))
    }

    /// Read one layer (the next one down).
    pub fn feed(&mut self, blob: &[u8]) -> Result<()> {
        let mut ar = tar::Archive::new(super::blob::open_blob(blob));
        let mut passwd = None;
        let mut group = None;
        let mut dirs: std::collections::HashMap<String, DirMeta> = Default::default();
        let mut whiteouts = std::collections::HashSet::new();
        let mut opaque = std::collections::HashSet::new();
        for e in ar.entries()? {
            let mut e = e?;
            let path = norm(&String::from_utf8_lossy(&e.path_bytes()));
            let name = path.rsplit('/').next().unwrap_or("");
            if name == ".wh..wh..opq" {
                opaque.insert(
                    path.rsplit_once('/')
                        .map_or(String::new(), |(d, _)| d.to_string()),
                );
                continue;
            }
            if name.starts_with(".wh.") {
                whiteouts.insert(path);
                continue;
            }
            let h = e.header();
            if h.entry_type().is_dir() && self.dirs.iter().any(|(d, _)| *d == path) {
                dirs.insert(
                    path.clone(),
                    // Empty numeric fields (some writers leave them blank) read as 0.
                    DirMeta {
                        uid: h.uid().unwrap_or(0),
                        gid: h.gid().unwrap_or(0),
                        mode: h.mode().unwrap_or(0o755) & 0o7777,
                    },
                );
            }
            if path == "etc/passwd" || path == "etc/group" {
                let mut text = String::new();
                if e.header().entry_type().is_file() {
                    e.read_to_string(&mut text)?;
                }
                if path == "etc/passwd" {
                    passwd = Some(text);
                } else {
                    group = Some(text);
                }
            }
        }
        let settle = |state: &mut Found<String>, here: Option<String>, path: &str| {
            if matches!(state, Found::Pending) {
                *state = match here {
                    Some(s) => Found::Present(s),
                    None if hidden(path, &whiteouts, &opaque) => Found::Hidden,
                    None => Found::Pending,
                };
            }
        };
        settle(&mut self.passwd, passwd, "etc/passwd");
        settle(&mut self.group, group, "etc/group");
        for (d, state) in &mut self.dirs {
            if matches!(state, Found::Pending) {
                *state = match dirs.get(d.as_str()) {
                    Some(m) => Found::Present(*m),
                    None if hidden(d, &whiteouts, &opaque) => Found::Hidden,
                    None => Found::Pending,
                };
            }
        }
        Ok(())
    }

    /// The account files found.
    pub fn accounts(&self) -> Accounts {
        let take = |f: &Found<String>| match f {
            Found::Present(s) => Some(s.clone()),
            _ => None,
        };
        Accounts {
            passwd: take(&self.passwd),
            group: take(&self.group),
        }
    }

    /// Metadata of the looked-up folders that exist in the image.
    pub fn dirs(&self) -> std::collections::BTreeMap<String, DirMeta> {
        self.dirs
            .iter()
            .filter_map(|(d, f)| match f {
                Found::Present(m) => Some((d.clone(), *m)),
                _ => None,
            })
            .collect()
    }
}

/// Read `/etc/passwd` and `/etc/group` from layer blobs given top layer first.
pub fn accounts_from_layers<'a, I>(layers_top_first: I) -> Result<Accounts>
where
    I: IntoIterator<Item = Result<std::borrow::Cow<'a, [u8]>>>,
{
    let mut sc = BaseScanner::new(true, &[]);
    for blob in layers_top_first {
        if sc.done() {
            break;
        }
        sc.feed(&blob?)?;
    }
    Ok(sc.accounts())
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

    #[test]
    fn folders_of_the_base_keep_their_metadata() {
        let mut b = tar::Builder::new(Vec::new());
        for (p, uid, mode) in [
            ("home/", 0, 0o755),
            ("home/node/", 1000, 0o750),
            ("root/", 0, 0o700),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_uid(uid);
            h.set_gid(uid);
            h.set_mode(mode);
            h.set_size(0);
            b.append_data(&mut h, p, std::io::empty()).unwrap();
        }
        let bottom = crate::image::layer::gzip(&b.into_inner().unwrap(), 1).unwrap();
        let top = layer(&[("home/.wh.gone", ""), ("etc/passwd", PASSWD)]);
        let wanted = [
            "home".to_string(),
            "home/node".into(),
            "root".into(),
            "srv".into(),
        ];
        let mut sc = BaseScanner::new(true, &wanted);
        sc.feed(&top).unwrap();
        assert!(!sc.done());
        sc.feed(&bottom).unwrap();
        let dirs = sc.dirs();
        assert_eq!(
            dirs["home/node"],
            DirMeta {
                uid: 1000,
                gid: 1000,
                mode: 0o750
            }
        );
        assert_eq!(dirs["root"].mode, 0o700);
        assert!(!dirs.contains_key("srv"));
        assert!(sc.accounts().passwd.is_some());
        // An opaque marker on home/ hides home/node of the layers below.
        let opq = layer(&[("home/.wh..wh..opq", "")]);
        let mut sc = BaseScanner::new(false, &wanted);
        sc.feed(&opq).unwrap();
        sc.feed(&bottom).unwrap();
        assert!(!sc.dirs().contains_key("home/node"));
        assert!(sc.dirs().contains_key("home"));
    }
}
