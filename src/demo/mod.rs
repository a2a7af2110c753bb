//! The demo pipeline: every cadkit step on the bundled sample project, with embedded
//! defaults only (no server, no registry, no network). All demo code lives here, on top
//! of the steps: `ci` runs the CI steps (tag, registry-auth, webhook); the update demo's
//! sample edit and run is [`update`].

mod ci;
pub mod update;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What the demo runs on.
pub struct DemoRequest {
    /// A sample project folder; `None`: the one embedded in the binary.
    pub sample: Option<PathBuf>,
    /// Where the demo works; `None`: a fresh temporary folder, removed at the end.
    pub workdir: Option<PathBuf>,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sample_files.rs"));
}

/// The sample project's source folder (`fixtures/sample-project`), for tests that read it in
/// place; an installed binary has no source tree, so the demo uses [`write_sample`].
pub fn bundled_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-project")
}

/// Write the sample project embedded in the binary into `dest` (created): the demo works
/// from any folder with only the binary present.
pub fn write_sample(dest: &Path) -> Result<()> {
    for (rel, bytes) in embedded::SAMPLE_FILES {
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
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
    match &req.sample {
        Some(sample) => crate::fsutil::copy_tree(sample, &project)
            .with_context(|| format!("cannot copy the sample project {}", sample.display()))?,
        None => write_sample(&project)?,
    }
    eprintln!("demo: sample project copied to {}", project.display());

    let build = crate::steps::build::run(
        &crate::build::BuildRequest::new(&project),
        &mut ci::quiet_outputs(),
    )?;
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
    let update = update::run(&build.working_dir, &work)?;
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
    let again = crate::steps::build::run(
        &crate::build::BuildRequest::new(&rebuilt),
        &mut ci::quiet_outputs(),
    )?;
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
