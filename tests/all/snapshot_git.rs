//! Snapshot-and-commit to git against a real git server (lighttpd + git http-backend with
//! basic auth, started on a free port by the test).

use crate::common::gitserver;

use cadkit::git::{self, Failure, FailureKind, GitReport, SnapshotGitOptions};
use gitserver::GitServer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::Duration;

const USER: &str = "gituser";
/// A password with characters that must be URL-encoded in a URL.
const PASSWORD: &str = "s3cr3t/t0k:en@42";

/// Every log line of every test in this binary, at the most verbose level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        std::io::stderr().write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        for form in [
            s.to_string(),
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ] {
            assert!(!text.contains(&form), "secret {form:?} leaked in:\n{text}");
        }
    }
}

fn options(server: &GitServer, name: &str, repos_dir: &Path) -> SnapshotGitOptions {
    logs();
    let mut o = SnapshotGitOptions::new(
        name,
        &server.url_with(name, USER, PASSWORD),
        "./snapshot",
        repos_dir,
    );
    o.backoff.base = Duration::from_millis(20);
    o.backoff.max = Duration::from_millis(500);
    o
}

fn write(folder: &Path, name: &str, content: &str) {
    std::fs::write(folder.join(name), content).unwrap();
}

/// Files of the branch tip under `folder/`, with their content.
fn tip_files(bare: &Path, branch: &str) -> Vec<(String, String)> {
    let repo = git2::Repository::open_bare(bare).unwrap();
    let tree = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_tree()
        .unwrap();
    let mut out = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            let blob = repo.find_blob(e.id()).unwrap();
            out.push((
                format!("{dir}{}", e.name().unwrap()),
                String::from_utf8_lossy(blob.content()).into_owned(),
            ));
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    out
}

fn commit_count(bare: &Path, branch: &str) -> usize {
    let repo = git2::Repository::open_bare(bare).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_ref(&format!("refs/heads/{branch}")).unwrap();
    walk.count()
}

fn failure(e: &anyhow::Error) -> &Failure {
    e.downcast_ref::<Failure>()
        .unwrap_or_else(|| panic!("not a git::Failure: {e:#}"))
}

#[test]
fn first_run_commits_and_pushes_second_unchanged_run_makes_no_commit() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p1", "develop");
    let before = server.tip("p1", "develop").unwrap();
    let repos = tempfile::tempdir().unwrap();
    let opts = options(&server, "p1", repos.path());

    let produce = |dir: &Path| {
        write(dir, "a.json", "{\"a\": 1}\n");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        write(&dir.join("sub"), "b.json", "{\"b\": 2}\n");
        Ok(())
    };
    let r1 = git::snapshot_and_push(&opts, produce).unwrap();
    assert!(r1.changed && r1.pushed, "{r1:?}");
    assert_eq!(r1.attempts, 1);
    assert_eq!(r1.files.added, ["snapshot/a.json", "snapshot/sub/b.json"]);
    assert!(r1.files.changed.is_empty() && r1.files.deleted.is_empty());
    assert_eq!(r1.base.as_deref(), Some(before.as_str()));
    let tip1 = server.tip("p1", "develop").unwrap();
    assert_eq!(r1.commit.as_deref(), Some(tip1.as_str()));
    assert_eq!(commit_count(&bare, "develop"), 2);

    // Author, committer and no credentials in the clone's config or the report.
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let c = repo
        .find_commit(git2::Oid::from_str(&tip1).unwrap())
        .unwrap();
    assert_eq!(c.author().name().ok(), Some("cadkit"));
    assert_eq!(c.author().email().ok(), Some("cadkit@localhost"));
    assert_eq!(c.committer().name().ok(), Some("cadkit"));
    let config = std::fs::read_to_string(r1.work_tree.join(".git/config")).unwrap();
    assert_no_secret(&config, &[PASSWORD]);
    assert!(config.contains(&server.url("p1")), "{config}");
    assert_no_secret(&serde_json::to_string(&r1).unwrap(), &[PASSWORD]);
    assert_eq!(r1.repo, server.url("p1"), "credentials are not shown");

    // Second run, same data: no commit, tip unchanged.
    let r2 = git::snapshot_and_push(&opts, produce).unwrap();
    assert!(!r2.changed && !r2.pushed, "{r2:?}");
    assert_eq!(r2.commit, None);
    assert_eq!(r2.attempts, 0);
    assert!(
        r2.files.added.is_empty() && r2.files.changed.is_empty() && r2.files.deleted.is_empty()
    );
    assert_eq!(server.tip("p1", "develop").unwrap(), tip1);
    assert_no_secret(&log_text(), &[PASSWORD]);
}

#[test]
fn deletions_and_changes_are_committed_only_inside_the_snapshot_folder() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p2", "develop");
    let repos = tempfile::tempdir().unwrap();
    let mut opts = options(&server, "p2", repos.path());
    opts.author = git::Author {
        name: "Snap Bot".into(),
        email: "snap@example.com".into(),
    };

    git::snapshot_and_push(&opts, |dir| {
        write(dir, "keep.json", "1\n");
        write(dir, "change.json", "1\n");
        write(dir, "gone.json", "1\n");
        Ok(())
    })
    .unwrap();

    let r = git::snapshot_and_push(&opts, |dir| {
        // The producer sees the tip's files and leaves the folder in its final state.
        assert!(dir.join("gone.json").is_file());
        std::fs::remove_file(dir.join("gone.json")).unwrap();
        write(dir, "change.json", "2\n");
        write(dir, "new.json", "1\n");
        // Outside the snapshot folder: never committed.
        std::fs::write(dir.parent().unwrap().join("stray.txt"), "x").unwrap();
        std::fs::write(dir.parent().unwrap().join("README.md"), "edited").unwrap();
        Ok(())
    })
    .unwrap();
    assert!(r.pushed);
    assert_eq!(r.files.added, ["snapshot/new.json"]);
    assert_eq!(r.files.changed, ["snapshot/change.json"]);
    assert_eq!(r.files.deleted, ["snapshot/gone.json"]);
    let files = tip_files(&bare, "develop");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "README.md",
            "snapshot/change.json",
            "snapshot/keep.json",
            "snapshot/new.json"
        ]
    );
    assert_eq!(files[0].1, "Snapshots written by cadkit.\n");
    assert_eq!(files[1].1, "2\n");
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let tip = repo
        .find_reference("refs/heads/develop")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(tip.author().name().ok(), Some("Snap Bot"));
    assert_eq!(tip.author().email().ok(), Some("snap@example.com"));
}

#[test]
fn eight_racing_snapshots_all_land_and_nothing_is_lost() {
    const N: usize = 8;
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("race", "develop");
    let barrier = Arc::new(Barrier::new(N));
    let results: Vec<anyhow::Result<GitReport>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let barrier = barrier.clone();
                let server = &server;
                s.spawn(move || {
                    let repos = tempfile::tempdir().unwrap();
                    let opts = options(server, "race", repos.path());
                    let mut first = true;
                    git::snapshot_and_push(&opts, |dir| {
                        if first {
                            first = false;
                            barrier.wait();
                        }
                        // Own input, then a shared file derived from the whole folder.
                        write(dir, &format!("p{i}.json"), &format!("{{\"from\": {i}}}\n"));
                        let mut names: Vec<String> = std::fs::read_dir(dir)?
                            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                            .filter(|n| n.starts_with('p') && n.ends_with(".json"))
                            .collect();
                        names.sort();
                        write(
                            dir,
                            "index.json",
                            &format!("{}\n", serde_json::to_string(&names)?),
                        );
                        Ok(())
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reports: Vec<GitReport> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a racer failed: {e:#}")))
        .collect();
    let attempts: Vec<u32> = reports.iter().map(|r| r.attempts).collect();
    eprintln!("attempts per racer: {attempts:?}");
    assert!(reports.iter().all(|r| r.pushed));

    // Every commit is in the history of the tip: initial + 8.
    assert_eq!(commit_count(&bare, "develop"), N + 1);
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let tip = repo.refname_to_id("refs/heads/develop").unwrap();
    for r in &reports {
        let c = git2::Oid::from_str(r.commit.as_deref().unwrap()).unwrap();
        assert!(
            c == tip || repo.graph_descendant_of(tip, c).unwrap(),
            "{c} lost"
        );
    }
    // All 8 files at the tip, and the derived file regenerated (not merged) from all of them.
    let files = tip_files(&bare, "develop");
    for i in 0..N {
        let name = format!("snapshot/p{i}.json");
        let (_, content) = files
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} lost"));
        assert_eq!(content, &format!("{{\"from\": {i}}}\n"));
    }
    let index = &files
        .iter()
        .find(|(n, _)| n == "snapshot/index.json")
        .unwrap()
        .1;
    let expected: Vec<String> = (0..N).map(|i| format!("p{i}.json")).collect();
    assert_eq!(
        index,
        &format!("{}\n", serde_json::to_string(&expected).unwrap())
    );
    // Racing happened: someone needed more than one attempt.
    assert!(attempts.iter().sum::<u32>() > N as u32, "{attempts:?}");
    assert_no_secret(&log_text(), &[PASSWORD]);
}

#[test]
fn wrong_token_fails_clearly_and_never_shows_the_token() {
    let server = GitServer::start(USER, PASSWORD);
    server.create_repo("p4", "develop");
    let tip = server.tip("p4", "develop");
    let repos = tempfile::tempdir().unwrap();
    let wrong = "wr0ng/T0KEN:value@x";

    // Token from the variable, user from the URL: refused at clone time.
    let mut opts = options(&server, "p4", repos.path());
    opts.repo = format!("http://{USER}@127.0.0.1:{}/git/p4.git", server.port);
    opts.token = Some(wrong.into());
    let e = git::snapshot_and_push(&opts, |_| Ok(())).unwrap_err();
    let f = failure(&e);
    assert_eq!(f.kind, FailureKind::Auth, "{f}");
    let text = format!("{e:#} {e:?}");
    assert!(
        text.contains(&format!(
            "connecting to {}: authentication failed",
            server.url("p4")
        )),
        "{text}"
    );
    assert!(text.contains("CADKIT_GIT_TOKEN"), "{text}");
    assert_no_secret(&text, &[wrong, PASSWORD]);

    // Wrong password in the URL.
    let mut opts = options(&server, "p4", repos.path());
    opts.repo = server.url_with("p4", USER, wrong);
    let e = git::snapshot_and_push(&opts, |_| Ok(())).unwrap_err();
    assert_eq!(failure(&e).kind, FailureKind::Auth);
    assert_no_secret(&format!("{e:#} {e:?}"), &[wrong, PASSWORD]);

    // Anonymous fetch works, the push is refused: the failure happens at push time.
    let mut opts = options(&server, "p4", repos.path());
    opts.repo = server.pub_url("p4");
    opts.token = Some(wrong.into());
    let e = git::snapshot_and_push(&opts, |dir| {
        write(dir, "x.json", "1\n");
        Ok(())
    })
    .unwrap_err();
    let f = failure(&e);
    assert_eq!(f.kind, FailureKind::Auth, "{f}");
    assert!(
        f.message.starts_with(&format!(
            "pushing to {}: authentication failed",
            server.pub_url("p4")
        )),
        "{f}"
    );
    assert_no_secret(&format!("{e:#} {e:?}"), &[wrong, PASSWORD]);

    // No credentials at all.
    let mut opts = options(&server, "p4", repos.path());
    opts.repo = server.url("p4");
    let e = git::snapshot_and_push(&opts, |_| Ok(())).unwrap_err();
    assert_eq!(failure(&e).kind, FailureKind::Auth);
    assert!(format!("{e:#}").contains("none are configured"), "{e:#}");

    assert_eq!(server.tip("p4", "develop"), tip, "nothing was pushed");
    assert_no_secret(&log_text(), &[wrong, PASSWORD]);
}

#[test]
fn message_template_replaces_every_placeholder_zero_padded() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p5", "main");
    let repos = tempfile::tempdir().unwrap();
    let mut opts = options(&server, "p5", repos.path());
    opts.branch = "main".into();
    opts.output_dir = "./data/snap/".into();
    opts.commit_message =
        "Snapshot at {date} in {folder} ({folder} on {branch}, {count} files) {date}".into();
    let r = git::snapshot_and_push(&opts, |dir| {
        write(dir, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let c = repo
        .find_commit(git2::Oid::from_str(r.commit.as_deref().unwrap()).unwrap())
        .unwrap();
    let msg = c.message().unwrap();
    assert_eq!(Some(msg), r.message.as_deref());
    let re = regex::Regex::new(
        // `{folder}` is the config's outputDir exactly as written (the guide).
        r"^Snapshot at (\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}) in \./data/snap/ \(\./data/snap/ on main, 1 files\) (\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2})$",
    )
    .unwrap();
    let caps = re
        .captures(msg)
        .unwrap_or_else(|| panic!("message {msg:?}"));
    assert!(!msg.contains('{'), "{msg}");
    // The date is the local time of the commit, within a few seconds.
    let at = chrono::NaiveDateTime::parse_from_str(&caps[1], "%Y.%m.%d %H:%M:%S").unwrap();
    let now = chrono::Local::now().naive_local();
    assert!((now - at).num_seconds().abs() < 120, "{at} vs {now}");
}

#[test]
fn missing_branch_is_a_clear_error_or_created_on_request() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p6", "main");
    let repos = tempfile::tempdir().unwrap();
    let opts = options(&server, "p6", repos.path()); // branch: develop (default)
                                                     // A folder cadkit did not make is never deleted.
    std::fs::create_dir_all(repos.path().join("p6/.git")).unwrap();
    std::fs::write(repos.path().join("p6/precious.txt"), "x").unwrap();
    let e = git::snapshot_and_push(&opts, |_| Ok(())).unwrap_err();
    assert!(format!("{e:#}").contains("refusing to delete"), "{e:#}");
    assert!(repos.path().join("p6/precious.txt").is_file());
    std::fs::remove_dir_all(repos.path().join("p6")).unwrap();

    let e = git::snapshot_and_push(&opts, |_| Ok(())).unwrap_err();
    let f = failure(&e);
    assert_eq!(f.kind, FailureKind::BranchMissing);
    assert!(f.message.contains("no branch \"develop\""), "{f}");
    assert!(f.message.contains("--git.createBranch"), "{f}");

    let mut opts = options(&server, "p6", repos.path());
    opts.create_branch = true;
    let r = git::snapshot_and_push(&opts, |dir| {
        write(dir, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(r.pushed && r.created_branch);
    let names: Vec<String> = tip_files(&bare, "develop")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["README.md", "snapshot/a.json"]);
    assert_eq!(commit_count(&bare, "develop"), 2);

    // An empty repository: the branch starts with the snapshot.
    let empty = server.create_empty_repo("p6e");
    let mut opts = options(&server, "p6e", repos.path());
    opts.create_branch = true;
    let r = git::snapshot_and_push(&opts, |dir| {
        write(dir, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(r.pushed && r.created_branch && r.base.is_none());
    assert_eq!(commit_count(&empty, "develop"), 1);
}

#[test]
fn dry_run_lists_changes_and_pushes_nothing() {
    let server = GitServer::start(USER, PASSWORD);
    server.create_repo("p7", "develop");
    let tip = server.tip("p7", "develop");
    let repos = tempfile::tempdir().unwrap();
    let mut opts = options(&server, "p7", repos.path());
    opts.dry_run = true;
    let r = git::snapshot_and_push(&opts, |dir| {
        write(dir, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(r.dry_run && r.changed && !r.pushed && r.commit.is_none());
    assert_eq!(r.files.added, ["snapshot/a.json"]);
    assert!(r.message.as_deref().unwrap().starts_with("Snapshot at "));
    assert_eq!(server.tip("p7", "develop"), tip);
    let md = git::step_summary(&r, 10);
    assert!(md.contains("| Added | 1 | `snapshot/a.json` |"), "{md}");
}

#[test]
fn snapshot_to_a_local_bare_repository() {
    let dir = tempfile::tempdir().unwrap();
    let bare: PathBuf = dir.path().join("demo.git");
    let repos = dir.path().join("repositories");
    let r = git::snapshot_to_local_repo(&bare, "main", "snapshot", &repos, |d| {
        write(d, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(r.pushed);
    let names: Vec<String> = tip_files(&bare, "main")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["README.md", "snapshot/a.json"]);
    let again = git::snapshot_to_local_repo(&bare, "main", "snapshot", &repos, |d| {
        write(d, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(!again.changed);
}

/// `cadkit install` of the sample project into `dir/db/env.sqlite`.
fn install_sample(dir: &Path) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project");
    let mut req = cadkit::build::BuildRequest::new(&sample);
    req.working_dir = dir.join("dist");
    cadkit::build::build(&req).unwrap();
    let out = crate::common::cadkit()
        .args([
            "install",
            "--env",
            "db/env.sqlite",
            "--codeAsData.workingDir",
            "dist",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cadkit_snapshot(dir: &Path, token: &str, extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = crate::common::cadkit();
    cmd.args([
        "-l",
        "debug",
        "snapshot",
        "--env",
        "db/env.sqlite",
        "--snapshot.config",
        "conf.json",
        "--snapshot.repositoriesDir",
        "repositories",
        "--git.authorName",
        "Nightly",
    ])
    .current_dir(dir)
    .env("CADKIT_GIT_TOKEN", token)
    .env_remove("GITHUB_ACTIONS")
    .env_remove("GITLAB_CI")
    .env_remove("TF_BUILD")
    .env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn cadkit_snapshot_commits_the_dump_and_never_prints_the_token() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("sample", "develop");
    let tmp = tempfile::tempdir().unwrap();
    install_sample(tmp.path());
    // User in the URL, token from CADKIT_GIT_TOKEN.
    let repo = format!("http://{USER}@127.0.0.1:{}/git/sample.git", server.port);
    std::fs::write(
        tmp.path().join("conf.json"),
        serde_json::json!([{
            "snapshooter": {"name": "sample", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "./snap"},
            "git": {"repo": repo, "branch": "develop", "commitMessage": "Nightly {date} {folder}"}
        }])
        .to_string(),
    )
    .unwrap();

    let out = cadkit_snapshot(tmp.path(), PASSWORD, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_no_secret(&stdout, &[PASSWORD]);
    assert_no_secret(&stderr, &[PASSWORD]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let git = &report[0]["git"];
    assert_eq!(git["pushed"], true, "{report}");
    assert_eq!(git["branch"], "develop");
    let commit = git["commit"].as_str().unwrap().to_string();
    assert_eq!(server.tip("sample", "develop").unwrap(), commit);
    let added = git["files"]["added"].as_array().unwrap().len();
    assert_eq!(report[0]["added"].as_array().unwrap().len(), added);
    assert!(added >= 9, "{report}");
    let files = tip_files(&bare, "develop");
    assert!(files.iter().any(|(n, _)| n
        == "snap/0190aaaa000000000002/Home/Acme/Sample_Project/Functions/Farewell58_Bye.newInst.json"));
    let repo2 = git2::Repository::open_bare(&bare).unwrap();
    let c = repo2
        .find_commit(git2::Oid::from_str(&commit).unwrap())
        .unwrap();
    assert!(
        c.message().unwrap().starts_with("Nightly 20"),
        "{:?}",
        c.message()
    );
    assert!(
        c.message().unwrap().ends_with(" ./snap"),
        "{:?}",
        c.message()
    );
    assert_eq!(c.author().name().ok(), Some("Nightly"));

    // Nothing changed: no commit.
    let out = cadkit_snapshot(tmp.path(), PASSWORD, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["git"]["changed"], false, "{report}");
    assert_eq!(server.tip("sample", "develop").unwrap(), commit);

    // Dry run of a change (another folder): listed, not pushed.
    let conf = std::fs::read_to_string(tmp.path().join("conf.json")).unwrap();
    std::fs::write(
        tmp.path().join("conf.json"),
        conf.replace("./snap", "./snap2"),
    )
    .unwrap();
    let out = cadkit_snapshot(tmp.path(), PASSWORD, &[("CADKIT_DRY_RUN", "true")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["git"]["changed"], true, "{report}");
    assert_eq!(report[0]["git"]["pushed"], false, "{report}");
    assert_eq!(report[0]["dryRun"], true, "{report}");
    assert!(
        stderr.contains("dry run: would commit to develop"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  A snap2/0190aaaa000000000002/Home/"),
        "{stderr}"
    );
    assert_eq!(server.tip("sample", "develop").unwrap(), commit);

    // A push that fails (anonymous fetch works, the token is refused at push time), at debug
    // level and with GitHub annotations on: the token appears nowhere.
    let wrong = "ghp_Wr0ng/t0ken:with@chars";
    std::fs::write(
        tmp.path().join("conf.json"),
        serde_json::json!([{
            "snapshooter": {"name": "sample", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": "other"},
            "git": {"repo": server.pub_url("sample").replace("http://", &format!("http://{USER}@")), "branch": "develop"}
        }])
        .to_string(),
    )
    .unwrap();
    let out = cadkit_snapshot(tmp.path(), wrong, &[("GITHUB_ACTIONS", "true")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("failing run, stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(stderr.contains("pushing to"), "{stderr}");
    assert!(stdout.contains("::error::"), "{stdout}");
    assert_no_secret(&stdout, &[wrong, PASSWORD]);
    assert_no_secret(&stderr, &[wrong, PASSWORD]);
    assert_eq!(server.tip("sample", "develop").unwrap(), commit);
}

#[test]
fn eight_racing_cadkit_snapshot_processes_all_land() {
    const N: usize = 8;
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("procs", "develop");
    let tmp = tempfile::tempdir().unwrap();
    install_sample(tmp.path());
    // Each process: its own copy of the environment, its own clone folder, and its own
    // snapshot folder in the same branch (a different change each).
    let mut children = Vec::new();
    for i in 0..N {
        let dir = tmp.path().join(format!("job{i}"));
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::copy(tmp.path().join("db/env.sqlite"), dir.join("db/env.sqlite")).unwrap();
        std::fs::write(
            dir.join("conf.json"),
            serde_json::json!([{
                "snapshooter": {"name": "sample", "rootTags": ["0190aaaa000000000002"], "exclude": [], "outputDir": format!("snap/job{i}")},
                "git": {"repo": server.url_with("procs", USER, PASSWORD), "branch": "develop"}
            }])
            .to_string(),
        )
        .unwrap();
        let child = crate::common::cadkit()
            .args([
                "snapshot",
                "--env",
                "db/env.sqlite",
                "--snapshot.config",
                "conf.json",
                "--snapshot.repositoriesDir",
                "repositories",
            ])
            .current_dir(&dir)
            .env_remove("CADKIT_GIT_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let mut attempts = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_no_secret(&stderr, &[PASSWORD]);
        assert_no_secret(&String::from_utf8_lossy(&out.stdout), &[PASSWORD]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report[0]["git"]["pushed"], true, "{report}");
        attempts.push(report[0]["git"]["attempts"].as_u64().unwrap());
    }
    eprintln!("attempts per process: {attempts:?}");
    assert_eq!(commit_count(&bare, "develop"), N + 1);
    let files = tip_files(&bare, "develop");
    for i in 0..N {
        let prefix = format!("snap/job{i}/0190aaaa000000000002/Home/");
        let n = files.iter().filter(|(f, _)| f.starts_with(&prefix)).count();
        assert!(n >= 9, "job {i}: {n} files under {prefix}");
    }
}

#[test]
fn a_reused_clone_is_reset_to_the_remote_tip_first() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p8", "develop");
    let repos = tempfile::tempdir().unwrap();
    let opts = options(&server, "p8", repos.path());
    let r1 = git::snapshot_and_push(&opts, |d| {
        write(d, "a.json", "1\n");
        Ok(())
    })
    .unwrap();
    let work = r1.work_tree.clone();

    // Leftovers of an interrupted run in the clone: untracked and modified files, a local
    // commit that never reached the remote, a stale index lock.
    write(&work.join("snapshot"), "junk.json", "junk\n");
    write(&work.join("snapshot"), "a.json", "edited\n");
    {
        let repo = git2::Repository::open(&work).unwrap();
        write(&work.join("snapshot"), "local.json", "local\n");
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("snapshot/local.json")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("x", "x@x").unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "local only", &tree, &[&head])
            .unwrap();
    }
    std::fs::write(work.join(".git/index.lock"), "").unwrap();
    // Meanwhile someone else pushes.
    let other = tempfile::tempdir().unwrap();
    let r_other = git::snapshot_and_push(&options(&server, "p8", other.path()), |d| {
        write(d, "other.json", "2\n");
        Ok(())
    })
    .unwrap();

    let r2 = git::snapshot_and_push(&opts, |d| {
        let mut names: Vec<String> = std::fs::read_dir(d)?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["a.json", "other.json"],
            "the producer sees the tip exactly"
        );
        assert_eq!(std::fs::read_to_string(d.join("a.json"))?, "1\n");
        write(d, "b.json", "3\n");
        Ok(())
    })
    .unwrap();
    assert_eq!(r2.work_tree, work, "the clone was reused");
    assert_eq!(r2.base, r_other.commit);
    assert_eq!(r2.files.added, ["snapshot/b.json"]);
    let names: Vec<String> = tip_files(&bare, "develop")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "README.md",
            "snapshot/a.json",
            "snapshot/b.json",
            "snapshot/other.json"
        ]
    );
    assert_eq!(commit_count(&bare, "develop"), 4);

    // A clone of another remote at the same place is replaced, not reused.
    server.create_repo("p8b", "develop");
    let mut o = options(&server, "p8b", repos.path());
    o.name = "p8".into();
    let r3 = git::snapshot_and_push(&o, |d| {
        assert_eq!(std::fs::read_dir(d)?.count(), 0);
        write(d, "z.json", "1\n");
        Ok(())
    })
    .unwrap();
    assert!(r3.pushed);
    assert_eq!(server.tip("p8b", "develop"), r3.commit);
}

#[test]
fn runs_sharing_a_clone_folder_take_turns() {
    let server = GitServer::start(USER, PASSWORD);
    let bare = server.create_repo("p9", "develop");
    let repos = tempfile::tempdir().unwrap();
    let results: Vec<anyhow::Result<GitReport>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let server = &server;
                let repos = repos.path();
                s.spawn(move || {
                    git::snapshot_and_push(&options(server, "p9", repos), |d| {
                        write(d, &format!("t{i}.json"), "1\n");
                        Ok(())
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let r = r.unwrap_or_else(|e| panic!("{e:#}"));
        assert!(r.pushed);
    }
    assert_eq!(commit_count(&bare, "develop"), 4);
    let names: Vec<String> = tip_files(&bare, "develop")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "README.md",
            "snapshot/t0.json",
            "snapshot/t1.json",
            "snapshot/t2.json"
        ]
    );
}
