//! `update` and `install` on the embedded environment: plan exit codes, all-or-nothing
//! under kill -9 and failing operations, the lock, modes, drift, change log, preserved
//! users and business data, and the real `@olympeio/core` packages.

use crate::common::update as h;

use cadkit::env::sqlite::installer::install;
use cadkit::env::sqlite::lock::{LockGuard, DEFAULT_TTL};
use cadkit::env::sqlite::update::update;
use cadkit::env::InstallSpec;
use cadkit::env::SqliteEnv;
use cadkit::env::UpdateSpec;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CADKIT: &str = env!("CARGO_BIN_EXE_cadkit");
const CADKIT_UPDATE: &str = env!("CARGO_BIN_EXE_cadkit-update");

fn installed(env: &Path, dist: &Path) {
    install(env, &InstallSpec::new(dist)).unwrap();
}

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = crate::common::command(bin)
        .args(args)
        .env_remove("CADKIT_ENV")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn modes_off(env: &Path) {
    assert_eq!(h::meta(env, "maintenance").as_deref(), Some("off"));
    assert_eq!(h::meta(env, "codeAsDataReadMode").as_deref(), Some("false"));
}

#[test]
fn plan_exit_codes_and_update_converge_to_a_fresh_install() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);

    let (code, out, _) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env),
            "--codeAsData.workingDir",
            s(&a),
            "--plan",
        ],
    );
    assert_eq!(code, 0, "no changes: exit 0");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["totals"]["roots"], 0);

    let before = h::graph(&env);
    let (code, out, _) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env),
            "--codeAsData.workingDir",
            s(&b),
            "--plan",
        ],
    );
    assert_eq!(code, 2, "changes: exit 2");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["totals"]["createdInstances"], 1);
    assert_eq!(v["plan"]["totals"]["deletedInstances"], 1);
    assert_eq!(h::graph(&env), before, "a plan changes nothing");

    let (code, _, err) = run(
        CADKIT_UPDATE,
        &["--env", s(&env), "--codeAsData.workingDir", s(&b)],
    );
    assert_eq!(code, 0, "{err}");
    modes_off(&env);
    assert!(h::meta(&env, "refreshNotice").is_some());
    let (code, _, _) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env),
            "--codeAsData.workingDir",
            s(&b),
            "--plan",
        ],
    );
    assert_eq!(code, 0, "the second plan is empty");

    let fresh = tmp.path().join("fresh.sqlite");
    installed(&fresh, &b);
    let (g, f) = (h::graph(&env), h::graph(&fresh));
    assert!(
        g == f,
        "update differs from a fresh install: {}",
        h::first_difference(&g, &f)
    );
}

/// kill -9 at random moments of `cadkit update`: the environment is entirely old or
/// entirely new, and a following update succeeds (taking over the dead process's lock and
/// restoring its modes).
#[test]
fn kill_9_at_random_moments_leaves_the_old_or_the_new_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let template = tmp.path().join("template.sqlite");
    installed(&template, &a);
    {
        let e = SqliteEnv::open(&template).unwrap();
        e.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let old = h::graph(&template);
    let new = {
        let p = tmp.path().join("new.sqlite");
        installed(&p, &b);
        h::graph(&p)
    };
    assert_ne!(old, new);

    // How long an update takes, to spread the kills over its whole life.
    let probe = tmp.path().join("probe.sqlite");
    std::fs::copy(&template, &probe).unwrap();
    let t = Instant::now();
    let (code, _, err) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&probe),
            "--codeAsData.workingDir",
            s(&b),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let full = t.elapsed().as_micros() as u64;

    let trials: usize = std::env::var("CADKIT_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696c6c);
    let started = Instant::now();
    let (mut saw_old, mut saw_new) = (0, 0);
    for i in 0..trials {
        let env = tmp.path().join(format!("trial-{i}.sqlite"));
        std::fs::copy(&template, &env).unwrap();
        let delay = rng.random_range(0..=2 * full);
        let mut child = crate::common::command(CADKIT)
            .args(["update", "--env", s(&env), "--codeAsData.workingDir", s(&b)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let g = h::graph(&env);
        if g == old {
            saw_old += 1;
        } else if g == new {
            saw_new += 1;
        } else {
            panic!(
                "trial {i} (kill after {delay} µs): neither old nor new: {}",
                h::first_difference(&g, &new)
            );
        }
        let r = update(&env, &UpdateSpec::new(&b))
            .unwrap_or_else(|e| panic!("trial {i}: follow-up update failed: {e:#}"));
        assert!(r.applied || r.plan.is_empty());
        assert_eq!(h::graph(&env), new, "trial {i}");
        modes_off(&env);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", env.display()));
        }
    }
    eprintln!(
        "kill -9 trials: {trials} in {:?}, old state {saw_old}, new state {saw_new}, an update takes {full} µs",
        started.elapsed()
    );
    assert!(
        saw_old > 0 && saw_new > 0,
        "kills should land both before and after the commit"
    );
}

#[test]
fn a_failing_operation_rolls_back_everything_and_restores_the_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    for no_downtime in [false, true] {
        let env = tmp.path().join(format!("env-{no_downtime}.sqlite"));
        installed(&env, &a);
        let before = h::graph(&env);
        // A failure in the last phase (relation creation), after deletions, creations and
        // property updates were applied in the same transaction.
        SqliteEnv::open(&env)
            .unwrap()
            .conn()
            .execute_batch(
                // The message also shows which mode was on while the update ran.
                "CREATE TRIGGER fail_new_relations BEFORE INSERT ON relations
                 BEGIN SELECT CASE
                   WHEN (SELECT value FROM meta WHERE key = 'maintenance') = 'on'
                     THEN RAISE(ABORT, 'injected failure (maintenance on)')
                   WHEN (SELECT value FROM meta WHERE key = 'codeAsDataReadMode') = 'true'
                     THEN RAISE(ABORT, 'injected failure (read-only)')
                   ELSE RAISE(ABORT, 'injected failure (no mode)') END; END;",
            )
            .unwrap();
        let mut opts = UpdateSpec::new(&b);
        opts.no_downtime = no_downtime;
        let err = format!("{:#}", update(&env, &opts).unwrap_err());
        let during = if no_downtime {
            "(read-only)"
        } else {
            "(maintenance on)"
        };
        assert!(err.contains(&format!("injected failure {during}")), "{err}");
        assert!(
            err.contains("\"o\":4") && err.contains("for root"),
            "names the operation: {err}"
        );
        assert!(err.contains("left exactly as before"), "{err}");
        assert_eq!(h::graph(&env), before, "nothing applied");
        modes_off(&env);
        assert!(LockGuard::holder(&env).unwrap().is_none(), "lock released");
        // The inventory was rolled back too: the plan is the same as before.
        let mut p = opts.clone();
        p.plan_only = true;
        assert_eq!(update(&env, &p).unwrap().plan.totals.created_instances, 1);
    }
}

#[test]
fn a_second_update_gets_the_lock_error_and_a_dead_holders_lock_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let before = h::graph(&env);
    {
        let _held = LockGuard::acquire(&env, "update", DEFAULT_TTL).unwrap();
        let (code, _, err) = run(
            CADKIT,
            &["update", "--env", s(&env), "--codeAsData.workingDir", s(&b)],
        );
        assert_eq!(code, 1);
        assert!(err.contains("locked by `update`"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("since 20"), "names since when: {err}");
        let (code, _, err) = run(
            CADKIT,
            &[
                "install",
                "--env",
                s(&env),
                "--codeAsData.workingDir",
                s(&b),
            ],
        );
        assert_eq!(code, 1, "install is refused too: {err}");
        assert_eq!(h::graph(&env), before, "nothing corrupted");
    }
    // A lock whose holder died (same host, pid gone) with maintenance left on.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    {
        let e = SqliteEnv::open(&env).unwrap();
        e.meta_set("maintenance", "on").unwrap();
        e.conn()
            .execute(
                "INSERT INTO cadkit_lock(id, nonce, command, pid, host, started_at, restore) VALUES (1, 'x', 'update', ?1, ?2, ?3, '{\"maintenance\":false,\"readMode\":false}')",
                rusqlite::params![dead_pid, cadkit::env::sqlite::lock::hostname(), chrono::Utc::now().to_rfc3339()],
            )
            .unwrap();
    }
    let r = update(&env, &UpdateSpec::new(&b)).unwrap();
    assert!(r.applied);
    assert_eq!(r.recovered_lock.unwrap().pid, dead_pid);
    modes_off(&env);
    // A lock older than the TTL expires too.
    {
        let e = SqliteEnv::open(&env).unwrap();
        e.conn()
            .execute(
                "INSERT INTO cadkit_lock(id, nonce, command, pid, host, started_at, restore) VALUES (1, 'y', 'install', 1, 'elsewhere', '2020-01-01T00:00:00Z', '{}')",
                [],
            )
            .unwrap();
    }
    let r = update(&env, &UpdateSpec::new(&b)).unwrap();
    assert_eq!(r.recovered_lock.unwrap().host, "elsewhere");
}

#[test]
fn two_concurrent_updates_one_wins_one_gets_the_lock_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let fresh = tmp.path().join("fresh.sqlite");
    installed(&fresh, &b);
    // Deterministic interleaving: the first update holds the lock (taken exactly as
    // `update` takes it) while the second runs; then the first proceeds.
    let first = LockGuard::acquire(&env, "update", DEFAULT_TTL).unwrap();
    let (code, _, err) = run(
        CADKIT,
        &["update", "--env", s(&env), "--codeAsData.workingDir", s(&b)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("is locked by"), "{err}");
    drop(first);
    let (code, _, err) = run(
        CADKIT,
        &["update", "--env", s(&env), "--codeAsData.workingDir", s(&b)],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(h::graph(&env), h::graph(&fresh));
    // Racing for real: both start together; either both succeed one after the other (the
    // second finds nothing to do) or one gets the lock error; never corruption.
    let env2 = tmp.path().join("race.sqlite");
    installed(&env2, &a);
    let spawn = || {
        crate::common::command(CADKIT)
            .args([
                "update",
                "--env",
                s(&env2),
                "--codeAsData.workingDir",
                s(&b),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (spawn(), spawn());
    let (o1, o2) = (
        c1.wait_with_output().unwrap(),
        c2.wait_with_output().unwrap(),
    );
    let ok = [o1.status.success(), o2.status.success()];
    assert!(ok.iter().any(|x| *x), "one wins");
    for o in [&o1, &o2] {
        if !o.status.success() {
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(e.contains("is locked by"), "{e}");
        }
    }
    assert_eq!(h::graph(&env2), h::graph(&fresh));
}

#[cfg(feature = "fault-injection")]
fn add_user_and_data(env: &Path) {
    let e = SqliteEnv::open(env).unwrap();
    e.conn()
        .execute_batch(
            r#"
            INSERT INTO instances(tag, props) VALUES ('0190eeee000000000001', '{"ff023000000000000001":"alice"}');
            INSERT OR IGNORE INTO instances(tag, props) VALUES ('ff021000000000000002', '{}');
            INSERT INTO relations(src, rel, dst) VALUES ('0190eeee000000000001', 'ff022000000000000000', 'ff021000000000000003');
            INSERT INTO relations(src, rel, dst) VALUES ('0190eeee000000000001', 'ff022000000000000005', 'ff021000000000000002');
            INSERT INTO instances(tag, props) VALUES ('0190cccc000000000001', '{}');
            INSERT INTO relations(src, rel, dst) VALUES ('0190cccc000000000001', 'ff022000000000000000', '017b3aa8fae1e3d044dc');
            INSERT INTO instances(tag, props) VALUES ('0190cccc000000000002', '{"x":"order 1"}');
            INSERT INTO relations(src, rel, dst) VALUES ('0190cccc000000000001', 'ff02200000000000000f', '0190cccc000000000002');
            "#,
        )
        .unwrap();
}

#[test]
#[cfg(feature = "fault-injection")]
fn install_preserves_users_and_business_data_and_resumes_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    add_user_and_data(&env);
    let r = install(&env, &InstallSpec::new(&b)).unwrap();
    assert_eq!(r.users_restored, 1);
    assert_eq!(r.business_instances_restored, 1);
    let g = h::graph(&env);
    assert_eq!(
        g.instances["0190eeee000000000001"]["ff023000000000000001"],
        "alice"
    );
    assert!(g.instances.contains_key("0190cccc000000000002"));
    assert!(
        !g.instances.contains_key("0190cccc000000000001"),
        "the container itself is not business data"
    );
    modes_off(&env);

    // Without preservation the user is gone.
    let env2 = tmp.path().join("env2.sqlite");
    installed(&env2, &a);
    add_user_and_data(&env2);
    let (code, _, err) = run(
        CADKIT,
        &[
            "install",
            "--env",
            s(&env2),
            "--codeAsData.workingDir",
            s(&b),
            "--import.backupUsers",
            "false",
            "--import.backupBusinessData",
            "false",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!h::graph(&env2)
        .instances
        .contains_key("0190eeee000000000001"));

    // A crash right after the backup: the environment is untouched but maintenance was
    // left on by the dead process; the next install resumes from the saved backup and
    // ends with maintenance off.
    let env3 = tmp.path().join("env3.sqlite");
    installed(&env3, &a);
    add_user_and_data(&env3);
    let before = h::graph(&env3);
    let out = crate::common::command(CADKIT)
        .args([
            "install",
            "--env",
            s(&env3),
            "--codeAsData.workingDir",
            s(&b),
        ])
        .env(cadkit::env::sqlite::installer::CRASH_AFTER_BACKUP_ENV, "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert_eq!(h::graph(&env3), before);
    assert!(h::meta(&env3, cadkit::env::sqlite::installer::PROGRESS).is_some());
    // The user is removed live meanwhile: the resumed install restores it from the backup.
    SqliteEnv::open(&env3)
        .unwrap()
        .conn()
        .execute(
            "DELETE FROM instances WHERE tag = '0190eeee000000000001'",
            [],
        )
        .unwrap();
    let (code, out, err) = run(
        CADKIT,
        &[
            "install",
            "--env",
            s(&env3),
            "--codeAsData.workingDir",
            s(&b),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["resumed"], true);
    assert_eq!(v["usersRestored"], 1);
    assert!(h::graph(&env3)
        .instances
        .contains_key("0190eeee000000000001"));
    assert!(h::meta(&env3, cadkit::env::sqlite::installer::PROGRESS).is_none());
    modes_off(&env3);
}

#[test]
fn drift_is_reported_per_root_and_handled_by_its_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(tmp.path());
    let greeting = cadkit::demo::update::GREETING;
    let edit = |env: &PathBuf| {
        let e = SqliteEnv::open(env).unwrap();
        e.conn()
            .execute(
                "UPDATE instances SET props = json_set(props, '$.ff023000000000000011', 'edited live') WHERE tag = ?1",
                [greeting],
            )
            .unwrap();
        e.conn()
            .execute(
                "INSERT INTO relations(src, rel, dst) VALUES (?1, 'ff02200000000000000f', '0190aaaa000000000007')",
                [greeting],
            )
            .unwrap();
    };
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let clean = h::graph(&env);
    edit(&env);
    let drifted = h::graph(&env);

    let mut opts = UpdateSpec::new(&a);
    opts.detect_drift = true;
    opts.drift_policies = cadkit::update::drift::Policies::parse("fail").unwrap();
    let err = format!("{:#}", update(&env, &opts).unwrap_err());
    assert!(
        err.contains(greeting) && err.contains("nothing was applied"),
        "{err}"
    );
    assert_eq!(h::graph(&env), drifted);
    modes_off(&env);

    opts.drift_policies = cadkit::update::drift::Policies::parse(&format!(
        r#"{{"default":"revert","{greeting}":"keep"}}"#
    ))
    .unwrap();
    let r = update(&env, &opts).unwrap();
    let d = &r.drift.unwrap().roots[0];
    assert_eq!(d.root, greeting);
    assert_eq!(d.changed_props[greeting], vec!["ff023000000000000011"]);
    assert_eq!(d.added_relations.len(), 1);
    assert_eq!(h::graph(&env), drifted, "kept");

    let (code, out, err) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env),
            "--codeAsData.workingDir",
            s(&a),
            "--update.detectDrift",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["drift"]["roots"][0]["policy"], "revert");
    assert_eq!(v["plan"]["roots"][0]["action"], "update");
    assert_eq!(h::graph(&env), clean, "reverted");
}

#[test]
fn the_change_log_narrows_the_work_and_exclusion_protects_instance_managed_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    std::fs::write(b.join("change_log.txt"), h::itemize(&a, &b)).unwrap();
    let mut opts = UpdateSpec::new(&b);
    opts.plan_only = true;
    let p = update(&env, &opts).unwrap();
    assert!(p.plan.change_log);
    // Greeting (changed), the Screens folder (changed), Home Screen (deleted file).
    assert_eq!(p.plan.compared_roots, 3, "{:?}", p.plan);
    opts.plan_only = false;
    let r = update(&env, &opts).unwrap();
    assert!(r.applied);
    assert_eq!(
        std::fs::read(b.join("change_log.txt")).unwrap(),
        b"",
        "consumed"
    );
    let fresh = tmp.path().join("fresh.sqlite");
    installed(&fresh, &b);
    assert_eq!(h::graph(&env), h::graph(&fresh));
    // An empty change log: nothing to compare.
    opts.plan_only = true;
    assert_eq!(update(&env, &opts).unwrap().plan.compared_roots, 0);

    // Excluding the Greeting root: it is neither changed nor deleted.
    let env2 = tmp.path().join("env2.sqlite");
    installed(&env2, &a);
    let greeting_before = h::graph(&env2).instances[cadkit::demo::update::GREETING].clone();
    let (code, out, err) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env2),
            "--codeAsData.workingDir",
            s(&b),
            "--no-update.useChangeLog",
            "--update.excludeTags",
            &format!("[\"{}\"]", cadkit::demo::update::GREETING),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["plan"]["excludedRoots"][0],
        cadkit::demo::update::GREETING
    );
    let g = h::graph(&env2);
    assert_eq!(g.instances[cadkit::demo::update::GREETING], greeting_before);
    assert!(!g.instances.contains_key(cadkit::demo::update::ADDED));
    assert!(
        !g.instances.contains_key(cadkit::demo::update::HOME_SCREEN),
        "other roots follow the patches"
    );
    let (code, _, err) = run(
        CADKIT,
        &[
            "update",
            "--env",
            s(&env2),
            "--codeAsData.workingDir",
            s(&b),
            "--update.excludeTags",
            "0123",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("JSON array"), "{err}");
}

#[test]
fn environment_commands_answer_in_json_and_parse_strictly() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let e = s(&env);
    let (code, _, err) = run(CADKIT, &["maintenance", "banana", "--env", e]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("banana"));
    let (code, out, _) = run(CADKIT, &["maintenance", "on", "--env", e]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["maintenance"].as_str(),
            v["previous"]["maintenance"].as_str()
        ),
        (Some("on"), Some("off"))
    );
    run(CADKIT, &["maintenance", "off", "--env", e]);
    let (code, _, _) = run(CADKIT, &["codeAsDataReadMode", "maybe", "--env", e]);
    assert_eq!(code, 1);
    let (code, out, _) = run(CADKIT, &["codeAsDataReadMode", "true", "--env", e]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["codeAsDataReadMode"],
        true
    );
    let (_, out, _) = run(CADKIT, &["broadcastRefreshApp", "--env", e]);
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["refreshNotice"]["at"].is_string()
    );
    let (_, out, _) = run(CADKIT, &["statsDB", "--env", e]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["instances"], 12);
    assert!(v["dbSizeBytes"].as_u64().unwrap() > 0);
    assert_eq!(v["instancesPerModel"]["ff021000000000000001"], 5);
    let (_, out, _) = run(CADKIT, &["isDbInitialized", "--env", e]);
    assert_eq!(out.trim(), "false");
    let (_, out, _) = run(
        CADKIT,
        &[
            "getUpgradeConfig",
            "--env",
            e,
            "--codeAsData.workingDir",
            s(&a),
        ],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([{}])
    );
    let (code, out, _) = run(CADKIT, &["startGC", "--env", e]);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["sizeAfter"].is_u64());
    // checkDB: the sample alone relates to models that only the runtime creates.
    let (code, out, _) = run(CADKIT, &["checkDB", "--env", e]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1);
    assert_eq!(v["ok"], false);
    assert!(v["danglingRelationCount"].as_u64().unwrap() > 0);
    SqliteEnv::open(&env)
        .unwrap()
        .conn()
        .execute_batch("DELETE FROM relations; UPDATE instances SET props = '{}';")
        .unwrap();
    let (code, out, _) = run(CADKIT, &["checkDB", "--env", e]);
    assert_eq!(code, 0, "{out}");
    // updateUser: unknown user is an error; the password is never printed.
    let (code, _, err) = run(
        CADKIT,
        &[
            "updateUser",
            "--env",
            e,
            "--user.tag",
            "0190dddd000000000001",
            "--user.password",
            "s3cret",
        ],
    );
    assert_eq!(code, 1);
    assert!(!err.contains("s3cret"));
    let (code, out, _) = run(
        CADKIT,
        &[
            "updateUser",
            "--env",
            e,
            "--user.tag",
            cadkit::demo::update::GREETING,
            "--user.name",
            "bob",
            "--user.password",
            "s3cret",
        ],
    );
    assert_eq!(code, 0);
    assert!(!out.contains("s3cret"));
}

/// `startGC` compacts the file when a tenth of it is free pages, and only then: a GC after
/// a small change is a checkpoint, not a rewrite of the whole file.
#[test]
fn start_gc_compacts_only_when_there_is_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let gc = || -> serde_json::Value {
        let (code, out, err) = run(CADKIT, &["startGC", "--env", s(&env)]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    gc();
    let clean = gc();
    assert_eq!(clean["compacted"], false, "{clean}");
    {
        let e = SqliteEnv::open(&env).unwrap();
        e.conn()
            .execute_batch(
                "CREATE TABLE ballast(x BLOB); \
                 INSERT INTO ballast SELECT zeroblob(4096) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n); \
                 DROP TABLE ballast;",
            )
            .unwrap();
    }
    let dirty = gc();
    assert_eq!(dirty["compacted"], true, "{dirty}");
    assert!(
        dirty["sizeAfter"].as_u64().unwrap() < dirty["sizeBefore"].as_u64().unwrap(),
        "{dirty}"
    );
    assert_eq!(gc()["compacted"], false);
}

/// Install `@olympeio/core` 2.9.3 with its runtime, update to 2.9.1 (with and without
/// change log): the result equals a fresh install of 2.9.1, and a second plan is empty.
#[cfg(feature = "services")]
#[test]
fn real_core_update_to_another_version_equals_a_fresh_install() {
    let tmp = tempfile::tempdir().unwrap();
    let v3 = h::core_dist(tmp.path(), "2.9.3");
    let v1 = h::core_dist(tmp.path(), "2.9.1");
    let fresh = tmp.path().join("fresh.sqlite");
    installed(&fresh, &v1);
    let want = h::graph(&fresh);

    for with_log in [false, true] {
        let env = tmp.path().join(format!("env-{with_log}.sqlite"));
        installed(&env, &v3);
        assert_ne!(h::graph(&env), want);
        if with_log {
            std::fs::write(v1.join("change_log.txt"), h::itemize(&v3, &v1)).unwrap();
        } else {
            let _ = std::fs::remove_file(v1.join("change_log.txt"));
        }
        let t = Instant::now();
        let r = update(&env, &UpdateSpec::new(&v1)).unwrap();
        eprintln!(
            "core 2.9.3 -> 2.9.1 (change log: {with_log}): {} roots compared, {:?}, {} ms",
            r.plan.compared_roots,
            r.plan.totals,
            t.elapsed().as_millis()
        );
        assert!(r.applied);
        let g = h::graph(&env);
        assert!(
            g == want,
            "update differs from a fresh install: {}",
            h::first_difference(&g, &want)
        );
        let mut p = UpdateSpec::new(&v1);
        p.plan_only = true;
        p.use_change_log = false;
        let again = update(&env, &p).unwrap();
        assert!(
            again.plan.is_empty(),
            "second plan: {:?}",
            again.plan.totals
        );
        // And back to 2.9.3.
        let r = update(&env, &UpdateSpec::new(&v3)).unwrap();
        assert!(r.applied);
    }
}

/// With `--update.noDowntime`, a reader inside a read transaction keeps the previous state
/// while the update commits (SQLite WAL), and sees the new one afterwards.
#[test]
fn no_downtime_readers_keep_the_previous_state_until_they_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let reader = rusqlite::Connection::open(&env).unwrap();
    let count = |c: &rusqlite::Connection| -> i64 {
        c.query_row(
            "SELECT count(*) FROM instances WHERE tag = ?1",
            [cadkit::demo::update::ADDED],
            |r| r.get(0),
        )
        .unwrap()
    };
    reader.execute_batch("BEGIN").unwrap();
    assert_eq!(count(&reader), 0);
    let mut opts = UpdateSpec::new(&b);
    opts.no_downtime = true;
    let r = update(&env, &opts).unwrap();
    assert!(r.applied);
    assert_eq!(r.mode.as_deref(), Some("noDowntime"));
    assert_eq!(
        count(&reader),
        0,
        "the reader's snapshot is the previous state"
    );
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&reader), 1);
    modes_off(&env);
    let notice: serde_json::Value =
        serde_json::from_str(&h::meta(&env, "refreshNotice").unwrap()).unwrap();
    assert_eq!(notice["reason"], "code-as-data updated");
}

/// An invalid patch file: the update fails naming the file, before touching anything, and
/// the modes and the lock are released.
#[test]
fn an_invalid_patch_file_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = h::sample_dists(tmp.path());
    let env = tmp.path().join("env.sqlite");
    installed(&env, &a);
    let before = h::graph(&env);
    let bad = walkdir::WalkDir::new(&b)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "Greeting.newRel.json")
        .unwrap()
        .into_path();
    std::fs::write(
        &bad,
        "{\"rootTag\": \"0190aaaa000000000004\", \"operations\": [{\"o\": 9}]}",
    )
    .unwrap();
    let (code, _, err) = run(
        CADKIT,
        &["update", "--env", s(&env), "--codeAsData.workingDir", s(&b)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Greeting.newRel.json"), "{err}");
    assert_eq!(h::graph(&env), before);
    modes_off(&env);
    assert!(LockGuard::holder(&env).unwrap().is_none());
    let (code, _, err) = run(
        CADKIT,
        &[
            "install",
            "--env",
            s(&env),
            "--codeAsData.workingDir",
            s(&b),
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Greeting.newRel.json"), "{err}");
    assert_eq!(h::graph(&env), before);
    modes_off(&env);
}
