//! File names from graph names: the dumper's sanitising, made safe, and the
//! case-insensitive collision registry.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// Characters the dumper replaces by their decimal code.
const CODED: &[char] = &[
    '/', '\\', '?', '%', '*', ':', '|', '"', '<', '>', '.', ',', ';', '=',
];

/// Longest sanitised name kept as is (bytes); longer names are cut and get a hash suffix so
/// every file name stays under the usual 255-byte limit with the kind suffix and a
/// collision suffix.
const MAX_NAME: usize = 180;

/// JavaScript's `\s` class (what the dumper's `replace(/\s/g, '_')` matches).
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Windows device names, reserved whatever the extension and the case.
const DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One path component from a graph name.
///
/// The dumper's rules first (every whitespace → `_`; each of ``/ \ ? % * : | " < > . , ;
/// =`` → its decimal code; nothing else changes). Then what the dumper does not do, so
/// that no name can escape or break the output folder (deterministic, and a no-op for
/// ordinary names): other control characters (NUL included) → their decimal code; an empty
/// name → `_`; a Windows device name (`CON`, `nul`, `COM1`…) gets a `_` appended; a name
/// longer than 180 bytes is cut and suffixed with 8 hex digits of its SHA-256.
/// `/`, `\` and `.` are always coded, so `..`, absolute paths and separators cannot occur.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if is_js_whitespace(c) {
            out.push('_');
        } else if CODED.contains(&c) || c.is_control() {
            out.push_str(&(c as u32).to_string());
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    if DEVICES.iter().any(|d| d.eq_ignore_ascii_case(&out)) {
        out.push('_');
    }
    if out.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let hash = hex::encode(Sha256::digest(name.as_bytes()));
        out.truncate(cut);
        out.push('_');
        out.push_str(&hash[..8]);
    }
    out
}

/// True if a relative `/`-separated path is safe to join under an output folder: no empty,
/// `.` or `..` component, no backslash, NUL or drive prefix, no Windows device name.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && !c.contains(['\\', '\0', ':'])
                && !DEVICES
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(c.split('.').next().unwrap_or(c)))
        })
}

/// The case-insensitive registry of base paths used in one dumper run. The second use
/// of a base gets `_2`, then `_3`…; when the suffixed name is itself taken, `_1` is
/// appended until it is free.
#[derive(Debug, Default)]
pub struct Registry {
    used: HashSet<String>,
    uses: HashMap<String, usize>,
}

impl Registry {
    /// An empty registry: no path taken yet.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register `base`; returns the base to use (itself, or a suffixed one on a collision).
    pub fn register(&mut self, base: &str) -> String {
        let key = base.to_lowercase();
        let n = self.uses.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n == 1 && self.used.insert(key.clone()) {
            return base.to_string();
        }
        let mut candidate = if *n == 1 {
            // Taken earlier by a suffixed name of another base.
            format!("{base}_1")
        } else {
            format!("{base}_{n}")
        };
        while !self.used.insert(candidate.to_lowercase()) {
            candidate.push_str("_1");
        }
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumper_sanitising() {
        assert_eq!(sanitize("Offline: Auto Sync"), "Offline58_Auto_Sync");
        assert_eq!(sanitize("?? Datagrid"), "6363_Datagrid");
        assert_eq!(
            sanitize("a/b\\c.d,e;f=g|h\"i<j>k*l%m"),
            "a47b92c46d44e59f61g124h34i60j62k42l37m"
        );
        assert_eq!(sanitize("[x] (y) 'z'-w"), "[x]_(y)_'z'-w");
        assert_eq!(sanitize("Été\u{a0}Ü"), "Été_Ü");
    }

    #[test]
    fn hostile_names_stay_inside() {
        for (name, want) in [
            ("..", "4646"),
            ("../../etc/passwd", "464647464647etc47passwd"),
            ("/abs", "47abs"),
            ("C:\\x", "C5892x"),
            ("a\0b", "a0b"),
            ("", "_"),
            ("CON", "CON_"),
            ("nul", "nul_"),
            ("Com1", "Com1_"),
            ("LPT9", "LPT9_"),
            ("CONSOLE", "CONSOLE"),
        ] {
            let s = sanitize(name);
            assert_eq!(s, want, "{name:?}");
            assert!(is_safe_relative(&s), "{s:?}");
            assert!(is_safe_relative(&format!(".{s}")), "{s:?}");
        }
        let long = "é".repeat(300);
        let s = sanitize(&long);
        assert!(s.len() <= 190 && is_safe_relative(&s), "{}", s.len());
        assert_ne!(s, sanitize(&"é".repeat(301)));
        assert!(!is_safe_relative("a/../b"));
        assert!(!is_safe_relative("/a"));
        assert!(!is_safe_relative("a//b"));
        assert!(!is_safe_relative("a/nul.newInst.json"));
    }

    #[test]
    fn collisions_are_case_insensitive_and_ordered() {
        let mut r = Registry::new();
        assert_eq!(r.register("H/P/Sub_String"), "H/P/Sub_String");
        assert_eq!(r.register("H/P/sub_string"), "H/P/sub_string_2");
        assert_eq!(r.register("H/P/Sub_String"), "H/P/Sub_String_3");
        assert_eq!(r.register("H/P/X_2"), "H/P/X_2");
        assert_eq!(r.register("H/P/X"), "H/P/X");
        assert_eq!(r.register("H/P/X"), "H/P/X_2_1");
        // A base already taken as another base's suffixed name.
        assert_eq!(r.register("H/P/Sub_String_2"), "H/P/Sub_String_2_1");
    }
}
