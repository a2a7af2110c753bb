//! Step inputs: one precedence everywhere, secrets never echoed.
//!
//! Precedence: command-line flag > `CADKIT_<NAME>` > the toolkit's or CI's own variable
//! where one exists > default. clap handles the first two (each option declares its
//! `CADKIT_*` variable), [`crate::cli`]'s fallback table copies the toolkit's variables,
//! and [`first_env`] reads the CI-specific ones (e.g. `CI_REGISTRY` on GitLab).

use anyhow::{bail, Context as _, Result};
use std::io::{IsTerminal, Read};

/// The first non-empty variable of `names`, with its name.
pub fn first_env(names: &[&str]) -> Option<(String, String)> {
    first_in(names, &|k| std::env::var(k).ok())
}

/// [`first_env`] through a lookup function.
pub fn first_in(names: &[&str], get: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
    names
        .iter()
        .find_map(|n| get(n).filter(|v| !v.is_empty()).map(|v| (v, n.to_string())))
}

/// A secret from the variable `var`, else from standard input when it is not a terminal
/// (one value; trailing line breaks removed). Never echoed; the error names the variable.
pub fn secret(var: &str, what: &str, fallbacks: &[&str]) -> Result<String> {
    let mut names = vec![var];
    names.extend_from_slice(fallbacks);
    if let Some((v, _)) = first_env(&names) {
        return Ok(v);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("no {what}: set {var} or pipe it on standard input");
    }
    let mut s = String::new();
    stdin
        .lock()
        .read_to_string(&mut s)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let v = s.trim_end_matches(['\r', '\n']).to_string();
    if v.is_empty() {
        bail!("no {what}: {var} is unset and standard input is empty");
    }
    Ok(v)
}

/// The shortest secret cadkit accepts.
pub const MIN_SECRET_LEN: usize = 4;

/// Refuse a secret shorter than [`MIN_SECRET_LEN`] characters, naming where it came from:
/// masking it would replace every occurrence of those few characters in every log and
/// report by `***`, garbling them (and hinting at the value). The value is never shown.
pub fn check_secret(what: &str, source: &str, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n > 0 && n < MIN_SECRET_LEN {
        bail!(
            "the {what} ({source}) is shorter than {MIN_SECRET_LEN} characters ({n}): masking it would garble every log and report; use a real secret (at least {MIN_SECRET_LEN} characters)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_empty_wins() {
        let get = |k: &str| match k {
            "A" => Some(String::new()),
            "B" => Some("b".into()),
            "C" => Some("c".into()),
            _ => None,
        };
        assert_eq!(
            first_in(&["X", "A", "B", "C"], &get),
            Some(("b".into(), "B".into()))
        );
        assert_eq!(first_in(&["X"], &get), None);
    }
}
