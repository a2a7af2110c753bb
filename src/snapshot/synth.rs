//! Synthetic environments for tests and benchmarks: a small data model with the runtime's
//! real relation-type tags and follow-rule bits, and any number of repositories, projects,
//! folders and items shaped like Core's (items own inputs, outputs and internal instances
//! through relations the DUMP rule follows, some hold a complex property, some names
//! collide).

use crate::patch::tags::{follow, model, prop, rel, HOME};
use crate::patch::{InstanceOp, Op};
use serde_json::{json, Map, Value};

/// Relation types of the runtime data model used here: (tag, name, DUMP bits, SNAPSHOT bits).
const RELATION_TYPES: &[(&str, &str, u8, u8)] = &[
    (rel::MODEL, "modelRel", 1, 1),
    (rel::EXTENDS, "extendRel", 1, 1),
    (rel::CONTAINS, "containsRel", 2, 1),
    (rel::SUB_FOLDER, "sub-folder", 2, 0),
    (rel::ITEM, "item", 2, 0),
    (rel::SUB_REPOSITORY, "sub-repository", 2, 2),
    (rel::HOME_FOLDER, "home folder", 2, 2),
    (INPUT, "Input", 2, 2),
    (OUTPUT, "Output", 2, 2),
    (DOCUMENTATION, "documentation", 9, 9),
];

/// Relation type from an item to its inputs.
pub const INPUT: &str = "01621fb84e32000000a1";
/// Relation type from an item to its outputs.
pub const OUTPUT: &str = "01621fb84e32000000d2";
/// Relation type to documentation instances, with bits of its own (9) so the follow
/// rules meet a value other than 1 and 2.
pub const DOCUMENTATION: &str = "01703376c4a81c0e9d93";
/// The "Function" model of the runtime.
pub const FUNCTION: &str = "01621fb84e320000f000";
const DESCRIPTION: &str = "0190cccc0000000000f1";

/// How big a synthetic environment is.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Repositories under Home.
    pub repositories: usize,
    /// Projects in each repository.
    pub projects_per_repository: usize,
    /// Folders in each project.
    pub folders_per_project: usize,
    /// Items (functions) in each folder.
    pub items_per_folder: usize,
    /// Inputs + outputs + internal (contained) instances per item.
    pub parts_per_item: usize,
}

impl Spec {
    /// At least `n` instances (Core's shape: ~11 instances per item, 400 items per
    /// project in 10 folders, up to 5 projects per repository).
    pub fn with_instances(n: usize) -> Spec {
        let per_item = 11;
        let items = n.div_ceil(per_item).max(1);
        let projects = items.div_ceil(400);
        let repositories = projects.div_ceil(5);
        Spec {
            repositories,
            projects_per_repository: projects.div_ceil(repositories),
            folders_per_project: 10,
            items_per_folder: 40,
            parts_per_item: per_item - 1,
        }
    }
}

fn tag(kind: u32, n: usize) -> String {
    format!("{kind:04x}{n:016x}")
}

fn create(t: &str, props: Value) -> Op {
    Op::CreateInstance(InstanceOp {
        tag: t.to_string(),
        props: props.as_object().cloned().unwrap_or_default(),
        extra: Map::new(),
    })
}

/// The subset of the runtime data model the dumper reads: the relation types with their
/// real tags and follow rules (plus the Relation model's defaults) and the Folder,
/// Repository, Project, Object and Function models. What a runtime dependency brings
/// into an environment; the bundled sample project has none, so the demo loads this.
pub fn data_model() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.push(create(
        model::RELATION,
        json!({ prop::NAME: "Relation", format!("fd{}", follow::DUMP): 0, format!("fd{}", follow::SNAPSHOT): 0 }),
    ));
    for (t, name, dump, snap) in RELATION_TYPES {
        ops.push(create(
            t,
            json!({ prop::NAME: name, follow::DUMP: dump, follow::SNAPSHOT: snap }),
        ));
        ops.push(Op::create_relation(rel::MODEL, t, model::RELATION));
    }
    for (t, name) in [
        (model::FOLDER, "Folder"),
        (model::REPOSITORY, "Repository"),
        (model::PROJECT, "Project"),
        (model::OBJECT, "Object"),
        (FUNCTION, "Function"),
    ] {
        ops.push(create(t, json!({ prop::NAME: name })));
    }
    ops.push(Op::create_relation(
        rel::EXTENDS,
        model::REPOSITORY,
        model::FOLDER,
    ));
    ops.push(Op::create_relation(
        rel::EXTENDS,
        model::PROJECT,
        model::REPOSITORY,
    ));
    ops
}

/// The operations building the environment (data model first, then the content).
pub fn operations(spec: &Spec) -> Vec<Op> {
    let mut ops = data_model();
    ops.push(create(HOME, json!({ prop::NAME: "Home" })));

    let mut n = 0usize;
    let mut next = |kind: u32| {
        n += 1;
        tag(kind, n)
    };
    for r in 0..spec.repositories {
        let repo = next(0x0190);
        ops.push(create(
            &repo,
            json!({ prop::NAME: format!("Repository {r}") }),
        ));
        ops.push(Op::create_relation(rel::MODEL, &repo, model::REPOSITORY));
        ops.push(Op::create_relation(rel::HOME_FOLDER, HOME, &repo));
        ops.push(Op::create_relation(rel::CONTAINS, HOME, &repo));
        for p in 0..spec.projects_per_repository {
            let project = next(0x0191);
            ops.push(create(
                &project,
                json!({ prop::NAME: format!("Project {p}: demo"), "v": 1 }),
            ));
            ops.push(Op::create_relation(rel::MODEL, &project, model::PROJECT));
            ops.push(Op::create_relation(rel::SUB_REPOSITORY, &repo, &project));
            ops.push(Op::create_relation(rel::CONTAINS, &repo, &project));
            for f in 0..spec.folders_per_project {
                let folder = next(0x0192);
                ops.push(create(
                    &folder,
                    json!({ prop::NAME: format!("Folder {f}"), "v": 1 }),
                ));
                ops.push(Op::create_relation(rel::MODEL, &folder, model::FOLDER));
                ops.push(Op::create_relation(rel::SUB_FOLDER, &project, &folder));
                ops.push(Op::create_relation(rel::CONTAINS, &project, &folder));
                for i in 0..spec.items_per_folder {
                    item_ops(&mut ops, spec, &folder, i, &mut next);
                }
            }
        }
    }
    ops
}

/// One function item of a folder: the item, its parts (inputs, outputs, contained
/// objects), and on every third item a documentation instance it points to.
fn item_ops(
    ops: &mut Vec<Op>,
    spec: &Spec,
    folder: &str,
    i: usize,
    next: &mut impl FnMut(u32) -> String,
) {
    let item = next(0x0193);
    // Every 10th item is named like its predecessor (case differs): a collision.
    let name = if i % 10 == 9 {
        format!("ITEM {}", i - 1)
    } else {
        format!("Item {i}")
    };
    ops.push(create(
        &item,
        json!({ prop::NAME: name, "v": 3, "0190cccc0000000000f2": i as f64 + 0.25 }),
    ));
    ops.push(Op::create_relation(rel::MODEL, &item, FUNCTION));
    ops.push(Op::create_relation(rel::ITEM, folder, &item));
    ops.push(Op::create_relation(rel::CONTAINS, folder, &item));
    for k in 0..spec.parts_per_item {
        let part = next(0x0194);
        ops.push(create(
            &part,
            json!({ prop::NAME: format!("part {k}"), "v": 1 }),
        ));
        ops.push(Op::create_relation(rel::MODEL, &part, model::OBJECT));
        let r = match k % 3 {
            0 => INPUT,
            1 => OUTPUT,
            _ => rel::CONTAINS,
        };
        ops.push(Op::create_relation(r, &item, &part));
    }
    if i.is_multiple_of(3) {
        let doc = next(0x0195);
        ops.push(create(
            &doc,
            json!({ "0190cccc0000000000f3": "Some documentation." }),
        ));
        ops.push(Op::UpdateInstance(InstanceOp {
            tag: item.clone(),
            props: json!({ DESCRIPTION: { "c": 8, "t": doc } })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            extra: Map::new(),
        }));
    }
}
