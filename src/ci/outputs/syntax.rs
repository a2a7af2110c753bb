//! The syntax of each platform's output files and commands: names, keys, heredocs and
//! escaping, kept apart from when [`super::Outputs`] writes them.

use anyhow::{bail, Context as _, Result};
use std::io::Write;
use std::path::Path;

/// Output names go into files and commands unquoted: letters, digits, `_` and `-` only.
pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("invalid output name {name:?}: use letters, digits, '_' and '-'");
    }
    Ok(())
}

/// `image-ref` → `IMAGE_REF`.
pub(super) fn dotenv_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `name<<DELIM\nvalue\nDELIM\n` with a random delimiter that occurs nowhere in the value.
pub fn github_heredoc(name: &str, value: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let delim = format!("ghadelimiter_{:032x}", rng.random::<u128>());
        if !value.contains(&delim) && !name.contains(&delim) {
            return format!("{name}<<{delim}\n{value}\n{delim}\n");
        }
    }
}

/// Append to a platform's output file (`$GITHUB_OUTPUT`, the dotenv file…), created when
/// missing: several steps of one job write to the same file.
pub(super) fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// GitHub workflow-command data escaping.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow-command property escaping.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Azure logging-command data escaping (as azure-pipelines-task-lib does).
pub fn escape_azure(s: &str) -> String {
    s.replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Azure logging-command property escaping.
pub fn escape_azure_property(s: &str) -> String {
    escape_azure(s).replace(']', "%5D").replace(';', "%3B")
}
