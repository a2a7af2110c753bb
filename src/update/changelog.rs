//! The change log (`change_log.txt`): the output of `rsync --itemize-changes` that copied
//! the patches into the deployed folder. It narrows an update to the roots whose files
//! changed.
//!
//! Lines kept (as the toolkit, §9.2 step 4, with its two slips fixed: the dot before the
//! extension is matched literally and a `.zip` entry maps to its folder by stripping the
//! `.zip` suffix):
//! * the path ends with one of the five patch suffixes (`.newInst.json`, …), `.zip`, or
//!   `/<20 hex>` (a binary file of an item);
//! * after the first character (`>`, `<`, `c`, …), the flags start with `f+++++++` (new
//!   file), `fc` (checksum changed) or `f.s` (size changed);
//! * the path is the text after the first space.
//!
//! Unlike the toolkit, `*deleting <path>` lines are read too: a root that lost one of its
//! files is re-compared (its root is found through the inventory).

use crate::patch::FileKind;
use std::collections::BTreeSet;
use std::path::Path;

/// The paths a change log reports, sorted by what they are, as rsync printed them
/// (callers map them to files of the dist folder).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeLog {
    /// Changed or new patch files.
    pub patches: BTreeSet<String>,
    /// Deleted patch files.
    pub deleted: BTreeSet<String>,
    /// Changed binary files (`<item base>/<20 hex>`).
    pub binaries: BTreeSet<String>,
    /// Changed zip archives, as the folder they unpack to (`.zip` stripped).
    pub zip_folders: BTreeSet<String>,
}

impl ChangeLog {
    /// True when the log reports nothing relevant: the toolkit's "no changes" case, where
    /// the diff is skipped entirely.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
            && self.deleted.is_empty()
            && self.binaries.is_empty()
            && self.zip_folders.is_empty()
    }

    /// Read the itemized rsync output with the rules of the module doc; lines that match
    /// none of them (directories, attribute-only changes, …) are ignored, never an error.
    pub fn parse(text: &str) -> ChangeLog {
        let mut log = ChangeLog::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(path) = line.strip_prefix("*deleting") {
                let path = path.trim();
                if FileKind::of_path(Path::new(path)).is_some() {
                    log.deleted.insert(path.to_string());
                }
                continue;
            }
            let Some((flags, path)) = line.split_once(' ') else {
                continue;
            };
            let path = path.trim_start();
            let mut chars = flags.chars();
            if chars.next().is_none() {
                continue;
            }
            let rest = chars.as_str();
            if !(rest.starts_with("f+++++++") || rest.starts_with("fc") || rest.starts_with("f.s"))
            {
                continue;
            }
            if FileKind::of_path(Path::new(path)).is_some() {
                log.patches.insert(path.to_string());
            } else if let Some(folder) = path.strip_suffix(".zip") {
                log.zip_folders.insert(folder.to_string());
            } else if is_binary_path(path) {
                log.binaries.insert(path.to_string());
            }
        }
        log
    }
}

/// `…/<20 lowercase hex>`.
fn is_binary_path(path: &str) -> bool {
    match path.rsplit_once('/') {
        Some((_, name)) => crate::patch::is_tag(name),
        None => false,
    }
}

/// The paths of `log` relative to the dist folder. rsync prints paths relative to the
/// transfer root, which may be the dist folder itself or a parent of it (e.g. starting
/// with `codeAsData/`): a path is kept as is if `known` holds it, else leading
/// components are stripped until it matches a known path.
pub fn relativize(path: &str, known: &dyn Fn(&str) -> bool) -> Option<String> {
    let mut p = path.trim_start_matches("./");
    loop {
        if known(p) {
            return Some(p.to_string());
        }
        match p.split_once('/') {
            Some((_, rest)) => p = rest,
            None => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_new_checksum_and_size_changes_only() {
        let text = "\
>f+++++++++ mod/Home/A/.A.newInst.json
>fc.t...... mod/Home/A/B.newRel.json
>f.st...... mod/Home/A/C.updateInst.json
>f..t...... mod/Home/A/D.newInst.json
cd+++++++++ mod/Home/A/
>f+++++++++ mod/Home/A/readme.txt
>f+++++++++ mod/Home/AxnewInst.json
>fcst...... legacy/patches.zip
>f+++++++++ mod/Home/A/B/0123456789abcdef0123
*deleting   mod/Home/A/E.newInst.json
";
        let log = ChangeLog::parse(text);
        assert_eq!(
            log.patches.iter().map(String::as_str).collect::<Vec<_>>(),
            vec![
                "mod/Home/A/.A.newInst.json",
                "mod/Home/A/B.newRel.json",
                "mod/Home/A/C.updateInst.json"
            ]
        );
        assert_eq!(
            log.zip_folders.iter().next().map(String::as_str),
            Some("legacy/patches")
        );
        assert_eq!(log.binaries.len(), 1);
        assert_eq!(
            log.deleted.iter().next().map(String::as_str),
            Some("mod/Home/A/E.newInst.json")
        );
    }

    #[test]
    fn relativize_strips_a_leading_folder() {
        let known = |p: &str| p == "mod/a.newInst.json";
        assert_eq!(
            relativize("codeAsData/mod/a.newInst.json", &known).as_deref(),
            Some("mod/a.newInst.json")
        );
        assert_eq!(relativize("other.newInst.json", &known), None);
    }
}
