//! Tokens and scopes: `Authorization: Bearer <token>`, compared in constant time.
//!
//! `CADKIT_RECEIVER_TOKEN` is accepted on every route. The seed's three scopes may have
//! tokens of their own: `CADKIT_RECEIVER_READ_TOKEN` (GET), `CADKIT_RECEIVER_WRITE_TOKEN`
//! (POST, PUT) and `CADKIT_RECEIVER_DELETE_TOKEN` (DELETE); a scope token is accepted on
//! its scope only. Token values are never logged nor stored.

use sha2::{Digest, Sha256};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading deployments' status and records.
    Read,
    /// Starting deployments (notifications, bundle uploads).
    Write,
    /// Undeploying an environment.
    Delete,
}

/// The accepted tokens (kept as SHA-256 digests only).
#[derive(Clone, Default)]
pub struct Tokens {
    all: Option<[u8; 32]>,
    read: Option<[u8; 32]>,
    write: Option<[u8; 32]>,
    delete: Option<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(***)")
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Tokens {
    /// Tokens from explicit values (empty values count as unset).
    pub fn new(
        all: Option<&str>,
        read: Option<&str>,
        write: Option<&str>,
        delete: Option<&str>,
    ) -> Tokens {
        let d = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(digest);
        Tokens {
            all: d(all),
            read: d(read),
            write: d(write),
            delete: d(delete),
        }
    }

    /// Tokens from `CADKIT_RECEIVER_{,READ_,WRITE_,DELETE_}TOKEN`.
    pub fn from_env() -> Tokens {
        let v = |k: &str| std::env::var(k).ok();
        Tokens::new(
            v("CADKIT_RECEIVER_TOKEN").as_deref(),
            v("CADKIT_RECEIVER_READ_TOKEN").as_deref(),
            v("CADKIT_RECEIVER_WRITE_TOKEN").as_deref(),
            v("CADKIT_RECEIVER_DELETE_TOKEN").as_deref(),
        )
    }

    /// True when no token at all is configured (the receiver refuses to start).
    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.read.is_none() && self.write.is_none() && self.delete.is_none()
    }

    /// Whether an `Authorization` header value grants `scope`. Every configured candidate
    /// is compared, so the time does not depend on which one matches.
    pub fn allows(&self, header: Option<&str>, scope: Scope) -> bool {
        let Some(token) = header.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        }) else {
            return false;
        };
        let got = digest(token.trim());
        let scoped = match scope {
            Scope::Read => &self.read,
            Scope::Write => &self.write,
            Scope::Delete => &self.delete,
        };
        let mut ok = false;
        for c in [&self.all, scoped].into_iter().flatten() {
            ok |= same(c, &got);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let t = Tokens::new(Some("main"), Some("r"), None, Some("d"));
        assert!(t.allows(Some("Bearer main"), Scope::Write));
        assert!(t.allows(Some("Bearer r"), Scope::Read));
        assert!(!t.allows(Some("Bearer r"), Scope::Write));
        assert!(t.allows(Some("Bearer d"), Scope::Delete));
        assert!(!t.allows(Some("main"), Scope::Read));
        assert!(!t.allows(None, Scope::Read));
        assert!(!t.allows(Some("Bearer mai"), Scope::Read));
    }
}
