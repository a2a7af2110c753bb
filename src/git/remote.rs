//! A remote: the URL libgit2 sees, the credentials kept aside (handed over through the
//! credentials callback only), the redactor knowing them, and libgit2's network settings.

use super::report::GitError;
use super::{Redactor, TOKEN_USER};
use anyhow::{anyhow, bail, Result};
use git2::{Cred, CredentialType, ErrorCode, RemoteCallbacks};
use std::cell::Cell;

/// A remote URL split into what libgit2 sees and the credentials kept aside.
#[derive(Clone)]
pub struct Remote {
    /// URL without user-info (or the local path).
    pub url: String,
    /// URL for logs and reports.
    pub shown: String,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    /// A local path or file:// URL (no shallow fetch there).
    pub local: bool,
    pub(crate) redactor: Redactor,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.shown)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Split `repo` into a clean URL and credentials; `token` is used as the password when
    /// the URL has none (with the URL's user, or `x-access-token`).
    pub fn parse(repo: &str, token: Option<&str>) -> Result<Remote> {
        let token = token.filter(|t| !t.is_empty());
        let mut redactor = Redactor::default();
        if let Some(t) = token {
            redactor.add(t);
        }
        let scp_like = regex::Regex::new(r"^[^/@:\s]+@[^/:\s]+:")
            .expect("valid regex")
            .is_match(repo);
        let parsed = url::Url::parse(repo).ok().filter(|u| u.scheme().len() > 1);
        if scp_like || parsed.as_ref().is_some_and(|u| u.scheme() == "ssh") {
            bail!(
                "git repository {}: SSH is not supported; use an https:// URL with a token",
                redactor.redact(repo)
            );
        }
        let Some(mut u) = parsed else {
            // A plain path (or a Windows drive path, whose "scheme" is one letter).
            return Ok(Remote {
                url: repo.to_string(),
                shown: redactor.redact(repo),
                user: None,
                password: None,
                local: true,
                redactor,
            });
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let url_user = Some(u.username()).filter(|s| !s.is_empty()).map(decode);
        let url_password = u.password().map(decode);
        // The password is a secret in every spelling; the user name only when it is the
        // token itself (`https://<token>@host/…`). Masking an ordinary user name such as `git`
        // would mangle every message; URL user-info is masked by the redactor anyway.
        if let Some(p) = u.password() {
            redactor.add(p);
        }
        if let Some(p) = &url_password {
            redactor.add(p);
        }
        let (user, password) = match (url_user, url_password, token) {
            (u, Some(p), _) => (Some(u.unwrap_or_default()), Some(p)),
            (u, None, Some(t)) => (Some(u.unwrap_or_else(|| TOKEN_USER.into())), Some(t.into())),
            // `https://<token>@host/…`: a token as user name, empty password.
            (Some(u), None, None) => {
                redactor.add(&u);
                (Some(u), Some(String::new()))
            }
            (None, None, None) => (None, None),
        };
        let _ = u.set_username("");
        let _ = u.set_password(None);
        let local = u.scheme() == "file";
        let url = u.to_string();
        Ok(Remote {
            shown: redactor.redact(&url),
            url,
            user,
            password,
            local,
            redactor,
        })
    }

    /// The redactor knowing this remote's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// Credentials callback state for one network operation.
pub(crate) struct Auth<'a> {
    remote: &'a Remote,
    calls: Cell<u32>,
    refused: Cell<bool>,
}

impl<'a> Auth<'a> {
    pub(crate) fn new(remote: &'a Remote) -> Self {
        Auth {
            remote,
            calls: Cell::new(0),
            refused: Cell::new(false),
        }
    }

    pub(crate) fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        let mut cb = RemoteCallbacks::new();
        cb.credentials(move |_url, _user, allowed| {
            let n = self.calls.get() + 1;
            self.calls.set(n);
            let (Some(user), Some(password)) = (&self.remote.user, &self.remote.password) else {
                self.refused.set(true);
                return Err(git2::Error::from_str(
                    "the server asks for credentials and none are configured",
                ));
            };
            if n > 1 {
                // libgit2 asks again when the server refused the previous answer.
                self.refused.set(true);
                return Err(git2::Error::from_str("the server refused the credentials"));
            }
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                self.refused.set(true);
                return Err(git2::Error::from_str(
                    "the server wants a credential type other than user name and password",
                ));
            }
            Cred::userpass_plaintext(user, password)
        });
        cb
    }

    /// Turn a libgit2 error into an error naming the remote, redacted, typed when it is an
    /// authentication failure.
    pub(crate) fn error(&self, what: &str, e: git2::Error) -> anyhow::Error {
        let detail = self.remote.redactor.redact(e.message());
        let forbidden = e.class() == git2::ErrorClass::Http && detail.contains("status code: 403");
        if self.refused.get()
            || forbidden
            || e.code() == ErrorCode::Auth
            || (e.class() == git2::ErrorClass::Http && detail.contains("401"))
        {
            let detail = if forbidden {
                format!("{detail}: the credentials are valid but may not access this repository (a token without write access?)")
            } else {
                detail
            };
            GitError::Auth {
                op: what.to_string(),
                repo: self.remote.shown.clone(),
                detail,
            }
            .into()
        } else {
            anyhow!("{what} {}: {detail}", self.remote.shown)
        }
    }
}

/// the run instead of hanging the CI job.
pub(crate) fn set_network_timeouts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: libgit2 global options, set once before any git operation of this module
        // and never changed afterwards.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(30_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(300_000);
        }
    });
}

/// Proxy from git's `http.proxy` config or the `http_proxy`/`https_proxy` variables.
pub(crate) fn proxy<'a>() -> git2::ProxyOptions<'a> {
    let mut p = git2::ProxyOptions::new();
    p.auto();
    p
}
