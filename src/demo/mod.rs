//! The demo pipeline: every cadkit step on the bundled sample project, with embedded
//! defaults only (no server, no registry, no network). All demo code lives here, on top
//! of the steps: `ci` runs the CI steps (tag, registry-auth, webhook); the update demo's
//! sample edit is `update::demo`.

mod ci;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct DemoRequest {
    pub sample: PathBuf,
    pub workdir: Option<PathBuf>,
}

/// The sample project shipped in the source tree.
pub fn bundled_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project")
}

/// Run the pipeline; returns a JSON report with one entry per step.
pub fn run(req: &DemoRequest) -> Result<Value> {
    let tmp;
    let work = match &req.workdir {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let project = work.join("project");
    crate::fsutil::copy_tree(&req.sample, &project)
        .with_context(|| format!("cannot copy the sample project {}", req.sample.display()))?;
    eprintln!("demo: sample project copied to {}", project.display());

    let build = crate::build::build(&crate::build::BuildRequest::new(&project))?;
    eprintln!(
        "demo: built {} patches of {} modules into {}",
        build.patches,
        build.modules.len(),
        build.working_dir.display()
    );
    let snapshot = crate::snapshot::demo_step(&work, &project, &build.working_dir)?;
    let git = git_round_trip(&work, &project, &build.working_dir)?;
    let image =
        crate::image::codeasdata_to_layout(&build.working_dir, &work.join("image"), "demo")?;
    eprintln!(
        "demo: code-as-data image {} written to the OCI layout {}",
        image.digest,
        work.join("image").display()
    );
    let ci = ci::run(&work)?;
    let update = crate::update::demo::run(&build.working_dir, &work)?;
    Ok(json!({ "workdir": work, "steps": {
        "build": build, "snapshot": snapshot, "git": git, "image": image, "ci": ci, "update": update
    } }))
}

/// Snapshot the embedded environment into a local bare repository (twice: the second run
/// must find nothing to commit), then build the project again from what git holds and
/// check the result is the same `dist/codeAsData`.
fn git_round_trip(work: &Path, project: &Path, dist: &Path) -> Result<Value> {
    let env = crate::env::SqliteEnv::open(&work.join(".cadkit/env.sqlite"))?;
    let entry = crate::snapshot::demo_entry(project)?;
    let bare = work.join("snapshots.git");
    let push = || {
        crate::git::snapshot_to_local_repo(
            &bare,
            "main",
            "snapshot",
            &work.join("repositories"),
            |dir| crate::snapshot::run_entry(&env, &entry, dir, false).map(|_| ()),
        )
    };
    let first = push()?;
    let second = push()?;
    eprintln!(
        "demo: snapshot committed to {} ({} files, commit {}); second run changed nothing: {}",
        bare.display(),
        first.files.added.len(),
        first.commit.as_deref().unwrap_or("-"),
        !second.changed
    );

    let rebuilt = work.join("rebuilt");
    std::fs::create_dir_all(&rebuilt)?;
    std::fs::copy(project.join("package.json"), rebuilt.join("package.json"))?;
    crate::fsutil::copy_tree(&project.join("node_modules"), &rebuilt.join("node_modules"))?;
    crate::fsutil::copy_tree(&first.work_tree.join("snapshot"), &rebuilt.join("snapshot"))?;
    let again = crate::build::build(&crate::build::BuildRequest::new(&rebuilt))?;
    let same = tree(dist)? == tree(&again.working_dir)?;
    eprintln!("demo: build from the git snapshot is identical to the first build: {same}");
    if !same {
        anyhow::bail!("the build from the git snapshot differs from the first build");
    }
    Ok(json!({ "first": first, "second": second, "rebuiltIdentical": same }))
}

/// Relative path → bytes of every file under `root`.
fn tree(root: &Path) -> Result<std::collections::BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e?;
        if e.file_type().is_file() {
            out.insert(
                e.path().strip_prefix(root)?.to_path_buf(),
                std::fs::read(e.path())?,
            );
        }
    }
    Ok(out)
}
