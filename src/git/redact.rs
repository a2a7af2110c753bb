//! Secret redaction for every string the git layer lets out: log lines, errors, reports.
//!
//! Two rules, applied together: the user-info part of any URL (`scheme://user:pass@host`)
//! becomes `***`, and every registered secret (a token, a URL password or user name) is
//! replaced wherever it appears, in its plain, percent-encoded and percent-decoded forms.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use regex::Regex;
use std::sync::OnceLock;

/// The mask written in place of a secret.
pub const MASK: &str = "***";

/// Replaces known secrets and URL credentials in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

fn userinfo_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@").expect("valid userinfo regex")
    })
}

fn auth_header_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(authorization:\s*(?:basic|bearer|token)\s+)\S+")
            .expect("valid header regex")
    })
}

impl Redactor {
    /// A redactor for these secrets (empty strings are ignored).
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s.as_ref());
        }
        r
    }

    /// Register one more secret, with its encoded and decoded spellings.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let decoded = percent_decode_str(secret).decode_utf8_lossy().into_owned();
        let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        for form in [secret.to_string(), decoded, encoded] {
            if !form.is_empty() && !self.secrets.contains(&form) {
                self.secrets.push(form);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// The text with URL credentials, authorization headers and every secret masked.
    pub fn redact(&self, text: &str) -> String {
        let mut out = userinfo_re()
            .replace_all(text, format!("${{1}}{MASK}@").as_str())
            .into_owned();
        out = auth_header_re()
            .replace_all(&out, format!("${{1}}{MASK}").as_str())
            .into_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }
}

/// A URL with its user-info masked, for logs and reports (no secret list needed).
pub fn redact_url(url: &str) -> String {
    Redactor::default().redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_credentials_headers_and_secrets_in_every_spelling() {
        let r = Redactor::new(["p@ss/w:rd", "tok3n"]);
        let text = "fetch https://user:p%40ss%2Fw%3Ard@host/x.git failed; tok3n; p@ss/w:rd; \
                    Authorization: Basic dXNlcjpwYXNz; http://tok3n@h/r";
        let out = r.redact(text);
        assert!(!out.contains("p@ss"), "{out}");
        assert!(!out.contains("p%40ss"), "{out}");
        assert!(!out.contains("tok3n"), "{out}");
        assert!(!out.contains("dXNlcjpwYXNz"), "{out}");
        assert!(out.contains("https://***@host/x.git"), "{out}");
        assert!(out.contains("http://***@h/r"), "{out}");
    }

    #[test]
    fn leaves_clean_text_alone() {
        let r = Redactor::new([""]);
        assert_eq!(
            r.redact("http://127.0.0.1:80/git/a.git branch main"),
            "http://127.0.0.1:80/git/a.git branch main"
        );
        assert_eq!(redact_url("/tmp/bare.git"), "/tmp/bare.git");
    }
}
