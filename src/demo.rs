//! The demo pipeline: every cadkit step on the bundled sample project, with embedded
//! defaults only (no server, no registry, no network).

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
    copy_tree(&req.sample, &project)
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
    let ci = crate::ci::demo::run(&work)?;
    let update = crate::update::demo::run(&build.working_dir, &work)?;
    Ok(json!({
        "workdir": work,
        "steps": { "build": build, "snapshot": snapshot, "ci": ci, "update": update }
    }))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from)?;
        let dst = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dst)?;
        } else {
            std::fs::copy(entry.path(), &dst)?;
        }
    }
    Ok(())
}
