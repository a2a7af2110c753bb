//! Benchmark of `update` on the embedded environment: an environment of 100k instances
//! (1,000 roots of 100 instances, ~200k relations), 10 roots changed, with the change log
//! (the target: under 1 s) and without it (every root compared), plus the install.
//!
//! Run: `cargo bench --bench update` (release). `CADKIT_BENCH_ROOTS` changes the size;
//! without `--bench` (as under `cargo test --all-targets`) it runs on 20 roots.

// A benchmark program: helpers are `pub` for the harness files it includes, and it fails
// fast with `unwrap` (the crate-wide lints in Cargo.toml are for the library).
#![allow(unreachable_pub, clippy::unwrap_used)]

use cadkit::env::sqlite::installer::install;
use cadkit::env::sqlite::update::update;
use cadkit::env::InstallSpec;
use cadkit::env::UpdateSpec;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const PER_ROOT: usize = 100;

fn tag(n: usize) -> String {
    format!("{:020x}", 0x0190_0000_0000_0000_0000u128 + n as u128)
}

fn root_files(root: usize, edit: bool) -> (String, String) {
    let base = root * 1000;
    let mut inst = String::from("{\"rootTag\":\"");
    inst.push_str(&tag(base));
    inst.push_str("\",\"operations\":[");
    let mut rel = format!("{{\"rootTag\":\"{}\",\"operations\":[", tag(base));
    let count = if edit { PER_ROOT + 1 } else { PER_ROOT };
    let mut first = true;
    for i in 0..count {
        if edit && i == 1 {
            continue; // removed instance
        }
        let t = tag(base + i);
        let name = if edit && i % 20 == 0 {
            format!("item {root}/{i} (edited)")
        } else {
            format!("item {root}/{i}")
        };
        if !first {
            inst.push(',');
            rel.push(',');
        }
        first = false;
        let _ = write!(
            inst,
            "{{\"o\":1,\"t\":\"{t}\",\"p\":{{\"ff023000000000000011\":\"{name}\",\"v\":1,\"0190000000000000f001\":{i}}}}}"
        );
        let _ = write!(
            rel,
            "{{\"o\":4,\"m\":\"ff022000000000000000\",\"l\":\"{t}\",\"r\":\"ff021000000000000001\"}}"
        );
        if i > 0 {
            let _ = write!(
                rel,
                ",{{\"o\":4,\"m\":\"ff02200000000000000f\",\"l\":\"{}\",\"r\":\"{t}\"}}",
                tag(base)
            );
        }
    }
    inst.push_str("],\"optionalOperations\":[]}");
    let _ = write!(
        rel,
        "],\"optionalOperations\":[{{\"o\":4,\"m\":\"016a697ef00ce7554692\",\"l\":\"{}\",\"r\":\"{}\"}}]}}",
        tag(9_999_999),
        tag(base)
    );
    (inst, rel)
}

fn write_dist(dist: &Path, roots: usize) {
    let module = dist.join("bench/Home/Bench");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        dist.join("import_order.json"),
        r#"[{"name":"bench","rootTag":"10000000000000000000","path":"bench"}]"#,
    )
    .unwrap();
    for r in 0..roots {
        let (i, rel) = root_files(r, false);
        std::fs::write(module.join(format!("Item_{r}.newInst.json")), i).unwrap();
        std::fs::write(module.join(format!("Item_{r}.newRel.json")), rel).unwrap();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this runs as a small
    // smoke test instead of the full benchmark.
    let full_size = std::env::args().any(|a| a == "--bench");
    let roots: usize = std::env::var("CADKIT_BENCH_ROOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full_size { 1000 } else { 20 });
    if std::env::var_os("CADKIT_BENCH_DEBUG").is_some() {
        cadkit::logging::init("debug", false);
    }
    let changed = 10.min(roots);
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist/codeAsData");
    write_dist(&dist, roots);
    let env = tmp.path().join("env.sqlite");

    let t = Instant::now();
    let r = install(&env, &InstallSpec::new(&dist)).unwrap();
    let install_ms = t.elapsed().as_millis();
    println!(
        "install: {} instances, {} relations, {} roots in {install_ms} ms",
        r.instances, r.relations, r.roots
    );

    // Change 10 roots: 5 names edited, 1 instance removed, 1 added, per root.
    let mut log = String::new();
    for k in 0..changed {
        let root = k * (roots / changed);
        let (i, rel) = root_files(root, true);
        let module = dist.join("bench/Home/Bench");
        std::fs::write(module.join(format!("Item_{root}.newInst.json")), i).unwrap();
        std::fs::write(module.join(format!("Item_{root}.newRel.json")), rel).unwrap();
        let _ = writeln!(log, ">fcst...... bench/Home/Bench/Item_{root}.newInst.json");
        let _ = writeln!(log, ">fcst...... bench/Home/Bench/Item_{root}.newRel.json");
    }

    // Plan without the change log: every root compared.
    let mut full = UpdateSpec::new(&dist);
    full.plan_only = true;
    full.use_change_log = false;
    let t = Instant::now();
    let p = update(&env, &full).unwrap();
    let full_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "plan without change log: {} roots compared, {} with changes, {full_ms:.0} ms",
        p.plan.compared_roots, p.plan.totals.roots
    );

    // Update with the change log: only the changed roots.
    std::fs::write(dist.join("change_log.txt"), &log).unwrap();
    let t = Instant::now();
    let u = update(&env, &UpdateSpec::new(&dist)).unwrap();
    let with_ms = t.elapsed().as_secs_f64() * 1000.0;
    let tot = &u.plan.totals;
    println!(
        "update with change log: {} roots compared, {} changed ({} created, {} updated, {} deleted instances; {} created, {} deleted relations), applied in one transaction: {with_ms:.0} ms",
        u.plan.compared_roots,
        tot.roots,
        tot.created_instances,
        tot.updated_instances,
        tot.deleted_instances,
        tot.created_relations,
        tot.deleted_relations
    );
    assert!(u.applied && tot.roots == changed);

    // A no-op update with an empty change log, and a second full plan (must be empty).
    let t = Instant::now();
    let again = update(&env, &full).unwrap();
    let again_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(again.plan.is_empty(), "second plan not empty");
    println!("second plan (every root): empty, {again_ms:.0} ms");
    println!(
        "ratio full compare / change-log update: {:.1}x; target (< 1000 ms with change log): {}",
        full_ms / with_ms,
        if with_ms < 1000.0 { "met" } else { "NOT met" }
    );
}
