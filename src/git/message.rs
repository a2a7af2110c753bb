//! The commit message template: `{date}`, `{folder}`, `{branch}` and `{count}` (files
//! added + changed + deleted), every occurrence.
//!
//! `{date}` is the local time as `yyyy.MM.dd HH:mm:ss`, every field zero-padded and the hour
//! on 24 h (the toolkit padded only the month and replaced only the first placeholder).

use chrono::{DateTime, Local, TimeZone};
use regex::Regex;
use std::sync::OnceLock;

/// The toolkit's default template (`--snapshot.commitMessage`).
pub const DEFAULT_TEMPLATE: &str = "Snapshot at {date} in {folder}";

/// `{date}` as the message shows it.
pub fn format_date<Tz: TimeZone>(at: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    at.format("%Y.%m.%d %H:%M:%S").to_string()
}

/// What the placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The snapshot folder, relative to the repository root.
    pub folder: &'a str,
    /// The branch committed to.
    pub branch: &'a str,
    /// Files added + changed + deleted.
    pub count: usize,
}

/// Render the template at a given time. Placeholders are replaced in one pass, so a folder
/// or branch name containing `{date}` is kept as is. Unknown `{…}` are left untouched.
pub fn render_at<Tz: TimeZone>(template: &str, at: &DateTime<Tz>, v: Values<'_>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\{(date|folder|branch|count)\}").expect("valid regex"));
    let date = format_date(at);
    re.replace_all(template, |c: &regex::Captures<'_>| match &c[1] {
        "date" => date.clone(),
        "folder" => v.folder.to_string(),
        "branch" => v.branch.to_string(),
        _ => v.count.to_string(),
    })
    .into_owned()
}

/// Render the template now (local time). An empty template falls back to the default.
pub fn render(template: &str, v: Values<'_>) -> String {
    let template = if template.trim().is_empty() {
        DEFAULT_TEMPLATE
    } else {
        template
    };
    render_at(template, &Local::now(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn every_placeholder_replaced_and_zero_padded() {
        let at = FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2025, 3, 7, 9, 5, 3)
            .unwrap();
        let v = Values {
            folder: "snap/x",
            branch: "develop",
            count: 3,
        };
        assert_eq!(
            render_at(
                "{date} {folder} {date} {folder} {branch} {count} {other}",
                &at,
                v
            ),
            "2025.03.07 09:05:03 snap/x 2025.03.07 09:05:03 snap/x develop 3 {other}"
        );
        let pm = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2025, 12, 31, 23, 59, 58)
            .unwrap();
        let v = Values {
            folder: "{date}",
            branch: "",
            count: 0,
        };
        assert_eq!(render_at("{date}", &pm, v), "2025.12.31 23:59:58");
        // A folder containing a placeholder is not expanded a second time.
        assert_eq!(render_at("{folder}", &pm, v), "{date}");
    }

    #[test]
    fn empty_template_uses_default() {
        let m = render(
            "  ",
            Values {
                folder: "snapshot",
                branch: "main",
                count: 1,
            },
        );
        assert!(m.starts_with("Snapshot at "), "{m}");
        assert!(m.ends_with(" in snapshot"), "{m}");
    }
}
