//! The `update` part of `cadkit demo`: install the built sample into an embedded
//! environment, change its patches, plan, update, and show that a second plan is empty.
//! [`edit_sample_dist`] is also the fixture edit of the update tests.

use crate::env::{InstallSpec, Selection, UpdateSpec};
use crate::patch::{InstanceOp, Op, Patch};
use crate::steps::{
    self,
    install::{InstallRequest, InstallStepReport},
    update::UpdateRequest,
};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

/// The Greeting function of the sample project.
pub const GREETING: &str = "0190aaaa000000000004";
/// The Home Screen item of the sample project (removed by the edit).
pub const HOME_SCREEN: &str = "0190aaaa000000000008";
/// The instance the edit adds under Greeting.
pub const ADDED: &str = "0190aaaa0000000000a1";

fn find(dist: &Path, name: &str) -> Result<std::path::PathBuf> {
    walkdir::WalkDir::new(dist)
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy() == name)
        .map(|e| e.path().to_path_buf())
        .with_context(|| {
            format!(
                "{name} not found under {} (not the sample project?)",
                dist.display()
            )
        })
}

/// Edit a built sample dist: rename Greeting, drop its `0190aaaa0000000000f3` property,
/// add an instance related to it, and remove the Home Screen item (its root disappears).
pub fn edit_sample_dist(dist: &Path) -> Result<()> {
    let inst = find(dist, "Greeting.newInst.json")?;
    let mut p = Patch::read(&inst)?;
    for op in &mut p.operations {
        if let Op::CreateInstance(i) = op {
            if i.tag == GREETING {
                i.props
                    .insert("ff023000000000000011".into(), json!("Greeting (edited)"));
                i.props.shift_remove("0190aaaa0000000000f3");
            }
        }
    }
    let mut props = serde_json::Map::new();
    props.insert("ff023000000000000011".into(), json!("Greeting text"));
    p.operations.push(Op::CreateInstance(InstanceOp {
        tag: ADDED.into(),
        props,
        extra: Default::default(),
    }));
    p.sort();
    std::fs::write(&inst, p.to_json_string())?;
    let rel = find(dist, "Greeting.newRel.json")?;
    let mut p = Patch::read(&rel)?;
    p.operations.push(Op::create_relation(
        crate::patch::tags::rel::CONTAINS,
        GREETING,
        ADDED,
    ));
    p.operations.push(Op::create_relation(
        crate::patch::tags::rel::MODEL,
        ADDED,
        crate::patch::tags::model::OBJECT,
    ));
    p.sort();
    std::fs::write(&rel, p.to_json_string())?;
    // The Screens folder no longer holds the item.
    let folder = find(dist, ".Screens.newRel.json")?;
    let mut p = Patch::read(&folder)?;
    p.operations
        .retain(|op| op.relation().is_none_or(|r| r.to != HOME_SCREEN));
    std::fs::write(&folder, p.to_json_string())?;
    for name in ["Home_Screen.newInst.json", "Home_Screen.newRel.json"] {
        let f = find(dist, name)?;
        std::fs::remove_file(&f)?;
    }
    Ok(())
}

/// The demo step, through the `install` and `update` steps as `cadkit install` and
/// `cadkit update` run them: returns its report entry.
pub fn run(dist: &Path, work: &Path) -> Result<Value> {
    let env_path = work.join("env/env.sqlite");
    let env = Selection::Embedded(env_path.clone());
    let mut out = super::ci::quiet_outputs();
    let install = InstallRequest {
        env: env.clone(),
        dry_run: false,
        spec: InstallSpec::new(dist),
    };
    let (instances, relations) = match steps::install::run(&install, &mut out)? {
        InstallStepReport::Embedded(r) => (r.instances, r.relations),
        _ => anyhow::bail!("the demo installs an embedded file"),
    };
    let edited = work.join("dist-edited");
    crate::fsutil::copy_tree(dist, &edited)?;
    edit_sample_dist(&edited)?;
    let mut req = UpdateRequest {
        env,
        spec: UpdateSpec::new(&edited),
    };
    req.spec.plan_only = true;
    let planned = steps::update::run(&req, &mut out)?;
    let table = crate::update::render::table(planned.plan());
    req.spec.plan_only = false;
    let applied = steps::update::run(&req, &mut out)?;
    req.spec.plan_only = true;
    let again = steps::update::run(&req, &mut out)?;
    let t = &applied.plan().totals;
    eprintln!(
        "demo: update applied {} changes in {} ms; a second plan has {} changes",
        t.created_instances
            + t.updated_instances
            + t.deleted_instances
            + t.created_relations
            + t.deleted_relations,
        applied.duration_ms(),
        again.plan().totals.roots
    );
    Ok(json!({
        "env": env_path,
        "installed": { "instances": instances, "relations": relations },
        "plan": planned.plan(),
        "table": table,
        "applied": applied.applied(),
        "secondPlanEmpty": again.plan().is_empty(),
    }))
}
