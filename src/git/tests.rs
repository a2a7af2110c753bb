//! Unit tests of the git wrapper.
use super::clone::is_permanent_refusal;
use super::run::check_name;
use super::*;
use std::time::Duration;

#[test]
fn url_credentials_are_split_off_and_redacted() {
    let r = Remote::parse("https://bob:t%2Fk%40n@git.example.com/a/b.git", None).unwrap();
    assert_eq!(r.url, "https://git.example.com/a/b.git");
    assert_eq!(r.user.as_deref(), Some("bob"));
    assert_eq!(r.password.as_deref(), Some("t/k@n"));
    assert!(!r.local);
    assert_eq!(
        r.redactor().redact("x t/k@n y t%2Fk%40n z"),
        "x *** y *** z"
    );

    // An ordinary user name is not masked in messages (only in URLs).
    assert_eq!(r.redactor().redact("bob/git"), "bob/git");

    let r = Remote::parse("https://git.example.com/a.git", Some("envtoken")).unwrap();
    assert_eq!(r.user.as_deref(), Some(TOKEN_USER));
    assert_eq!(r.password.as_deref(), Some("envtoken"));

    let r = Remote::parse("https://ghp_abc@git.example.com/a.git", None).unwrap();
    assert_eq!(r.user.as_deref(), Some("ghp_abc"));
    assert_eq!(r.password.as_deref(), Some(""));
    assert_eq!(r.shown, "https://git.example.com/a.git");
    assert_eq!(r.redactor().redact("ghp_abc"), "***");

    let r = Remote::parse("/srv/git/a.git", Some("t")).unwrap();
    assert!(r.local);
    assert_eq!(r.url, "/srv/git/a.git");
    assert!(Remote::parse("file:///srv/a.git", None).unwrap().local);
    assert!(Remote::parse("git@github.com:acme/a.git", None).is_err());
    assert!(Remote::parse("ssh://git@host/a.git", None).is_err());
}

#[test]
fn options_debug_hides_credentials() {
    let mut o = SnapshotGitOptions::new(
        "p",
        "https://u:s3cret@h/r.git",
        "snapshot",
        Path::new("/tmp/r"),
    );
    o.token = Some("tok3n".into());
    let d = format!("{o:?}");
    assert!(!d.contains("s3cret") && !d.contains("tok3n"), "{d}");
    assert!(d.contains("https://***@h/r.git"), "{d}");
}

#[test]
fn folders_are_normalised_and_confined() {
    assert_eq!(normalize_folder("./snapshot/").unwrap(), "snapshot");
    assert_eq!(normalize_folder("a/./b").unwrap(), "a/b");
    assert_eq!(normalize_folder("/abs/x").unwrap(), "abs/x");
    assert!(normalize_folder(".").is_err());
    assert!(normalize_folder("../x").is_err());
    assert!(normalize_folder(".git/x").is_err());
    assert!(check_name("a/b").is_err());
    assert!(check_name("..").is_err());
    assert!(check_name("my-project").is_ok());
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let b = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_millis(1000),
    };
    for n in 1..=10 {
        let d = b.delay(n);
        let cap = Duration::from_millis((100u64 << (n - 1)).min(1000));
        assert!(d <= cap, "retry {n}: {d:?} vs {cap:?}");
    }
}

#[test]
fn permanent_refusals_are_not_retried() {
    assert!(is_permanent_refusal(
        "refs/heads/main: pre-receive hook declined"
    ));
    assert!(is_permanent_refusal(
        "refs/heads/main: protected branch hook declined"
    ));
    assert!(!is_permanent_refusal(
        "refs/heads/main: failed to update ref"
    ));
    assert!(!is_permanent_refusal("refs/heads/main: fetch first"));
}

#[test]
fn summary_table_lists_counts_and_first_paths() {
    let report = GitReport {
        name: "p".into(),
        repo: "https://h/r.git".into(),
        branch: "develop".into(),
        folder: "snapshot".into(),
        work_tree: "/tmp/r/p".into(),
        dry_run: false,
        changed: true,
        pushed: true,
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        base: None,
        message: Some("m".into()),
        attempts: 2,
        files: FileChanges {
            added: vec![
                "snapshot/a.json".into(),
                "snapshot/b.json".into(),
                "snapshot/c|d.json".into(),
            ],
            changed: vec![],
            deleted: vec!["snapshot/old.json".into()],
        },
        created_branch: false,
    };
    let outputs = report.outputs();
    assert_eq!(outputs[0], ("changed", "true".to_string()));
    assert_eq!(outputs[4], ("files-added", "3".to_string()));
    let md = step_summary(&report, 2);
    assert!(
        md.contains("Committed `0123456789ab` in 2 attempt(s)."),
        "{md}"
    );
    assert!(
        md.contains("| Added | 3 | `snapshot/a.json`<br>`snapshot/b.json`<br>… 1 more |"),
        "{md}"
    );
    assert!(md.contains("| Changed | 0 |  |"), "{md}");
    assert!(md.contains("| Deleted | 1 | `snapshot/old.json` |"), "{md}");
}
