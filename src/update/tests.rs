//! Unit and property tests of the diff: random graphs, random patch edits; after applying
//! the plan the environment equals a fresh install of the edited patches outside the
//! excluded roots, and a second plan is empty.

use super::memory::{desired_graph, MemEnv};
use super::*;
use crate::patch::Patch;
use proptest::prelude::*;
use serde_json::json;

type Props8 = BTreeMap<u8, u8>;

/// An abstract root: created instances with properties, update-only properties on other
/// instances, relations.
#[derive(Debug, Clone, Default)]
struct RootModel {
    inst: BTreeMap<u16, Props8>,
    upd: BTreeMap<u16, Props8>,
    rels: BTreeSet<(u8, u16, u16)>,
}

type Model = BTreeMap<u8, RootModel>;

fn tag(n: u64) -> String {
    format!("{n:020x}")
}
fn root_tag(r: u8) -> String {
    tag(0xf0000 + r as u64)
}
fn rel_tag(m: u8) -> String {
    tag(0xe0000 + m as u64)
}
fn key(k: u8) -> String {
    format!("ff0230000000000{k:05}")
}
fn props(p: &Props8) -> Props {
    p.iter()
        .map(|(k, v)| {
            let val = if v % 3 == 0 {
                json!(format!("s{v}"))
            } else {
                json!(*v)
            };
            (key(*k), val)
        })
        .collect()
}

fn patches(m: &Model) -> Vec<(String, Patch)> {
    let mut out = Vec::new();
    for (r, rm) in m {
        let rt = root_tag(*r);
        let mut ni = Patch::new(&rt);
        ni.operations.push(Op::CreateInstance(InstanceOp {
            tag: rt.clone(),
            props: Map::new(),
            extra: Map::new(),
        }));
        for (t, p) in &rm.inst {
            ni.operations.push(Op::CreateInstance(InstanceOp {
                tag: tag(*t as u64),
                props: props(p),
                extra: Map::new(),
            }));
        }
        out.push((format!("mod/{rt}.newInst.json"), ni));
        if !rm.upd.is_empty() {
            let mut up = Patch::new(&rt);
            for (t, p) in &rm.upd {
                up.operations.push(Op::UpdateInstance(InstanceOp {
                    tag: tag(*t as u64),
                    props: props(p),
                    extra: Map::new(),
                }));
            }
            out.push((format!("mod/{rt}.updateInst.json"), up));
        }
        let mut nr = Patch::new(&rt);
        nr.operations
            .push(Op::create_relation(&rel_tag(0), &rt, &tag(1)));
        for (mm, l, rr) in &rm.rels {
            nr.operations.push(Op::create_relation(
                &rel_tag(*mm),
                &tag(*l as u64),
                &tag(*rr as u64),
            ));
        }
        out.push((format!("mod/{rt}.newRel.json"), nr));
    }
    out
}

fn desired(m: &Model) -> DesiredState {
    let ps = patches(m);
    DesiredState::from_patches(ps.iter().map(|(p, x)| (p.as_str(), x)))
}

/// Root 0 is the base: it creates tag 1 (never removed), which every root relates to.
fn model_strategy() -> impl Strategy<Value = Model> {
    let root = (
        prop::collection::btree_map(
            0u16..6,
            prop::collection::btree_map(0u8..4, 0u8..5, 0..4),
            1..5,
        ),
        prop::collection::btree_set((0u8..3, 0u16..6, 0u16..6), 0..6),
        // Cross-root relations: to an instance of another root (which may disappear).
        prop::collection::btree_set((0u8..3, 0u16..6, 1u16..6, 0u16..6), 0..3),
    );
    prop::collection::vec(root, 1..6).prop_map(|roots| {
        let mut m = Model::new();
        for (i, (inst, rels, cross)) in roots.into_iter().enumerate() {
            let r = i as u8 + 1;
            let base = 100 * r as u16;
            let inst: BTreeMap<u16, Props8> =
                inst.into_iter().map(|(t, p)| (base + t, p)).collect();
            let mut rels: BTreeSet<(u8, u16, u16)> = rels
                .into_iter()
                .map(|(mm, l, rr)| (mm, base + l, base + rr))
                .filter(|(_, l, rr)| inst.contains_key(l) && inst.contains_key(rr))
                .collect();
            rels.extend(
                cross
                    .into_iter()
                    .map(|(mm, l, rroot, rr)| (mm, base + l, 100 * rroot + rr))
                    .filter(|(_, l, _)| inst.contains_key(l)),
            );
            m.insert(
                r,
                RootModel {
                    inst,
                    upd: BTreeMap::new(),
                    rels,
                },
            );
        }
        m.insert(
            0,
            RootModel {
                inst: [(1u16, Props8::from([(0u8, 1u8)]))].into(),
                ..RootModel::default()
            },
        );
        m
    })
}

#[derive(Debug, Clone)]
enum Edit {
    SetProp(u8, u8, u8, u8),
    DropProp(u8, u8, u8),
    AddInstance(u8, u8),
    DropInstance(u8, u8),
    AddRelation(u8, u8, u8, u8),
    DropRelation(u8, u8),
    DropRoot(u8),
    AddRoot(u8),
    Move(u8, u8, u8),
    UpdateOther(u8, u8, u8),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let b = any::<u8>;
    prop_oneof![
        (b(), b(), b(), b()).prop_map(|(a, c, d, e)| Edit::SetProp(a, c, d, e)),
        (b(), b(), b()).prop_map(|(a, c, d)| Edit::DropProp(a, c, d)),
        (b(), b()).prop_map(|(a, c)| Edit::AddInstance(a, c)),
        (b(), b()).prop_map(|(a, c)| Edit::DropInstance(a, c)),
        (b(), b(), b(), b()).prop_map(|(a, c, d, e)| Edit::AddRelation(a, c, d, e)),
        (b(), b()).prop_map(|(a, c)| Edit::DropRelation(a, c)),
        b().prop_map(Edit::DropRoot),
        b().prop_map(Edit::AddRoot),
        (b(), b(), b()).prop_map(|(a, c, d)| Edit::Move(a, c, d)),
        (b(), b(), b()).prop_map(|(a, c, d)| Edit::UpdateOther(a, c, d)),
    ]
}

fn nth<T: Clone>(it: impl Iterator<Item = T>, i: u8) -> Option<T> {
    let v: Vec<T> = it.collect();
    if v.is_empty() {
        None
    } else {
        Some(v[i as usize % v.len()].clone())
    }
}

/// Apply an edit; roots in `frozen` (excluded ones and the base) are never edited.
fn apply_edit(m: &mut Model, e: &Edit, frozen: &BTreeSet<u8>) {
    let editable: Vec<u8> = m.keys().copied().filter(|r| !frozen.contains(r)).collect();
    let pick = |i: u8| -> Option<u8> { nth(editable.iter().copied(), i) };
    match *e {
        Edit::SetProp(r, t, k, v) => {
            if let Some(r) = pick(r) {
                if let Some(t) = nth(m[&r].inst.keys().copied(), t) {
                    m.get_mut(&r)
                        .unwrap()
                        .inst
                        .get_mut(&t)
                        .unwrap()
                        .insert(k % 4, v % 5);
                }
            }
        }
        Edit::DropProp(r, t, k) => {
            if let Some(r) = pick(r) {
                if let Some(t) = nth(m[&r].inst.keys().copied(), t) {
                    m.get_mut(&r)
                        .unwrap()
                        .inst
                        .get_mut(&t)
                        .unwrap()
                        .remove(&(k % 4));
                }
            }
        }
        Edit::AddInstance(r, p) => {
            if let Some(r) = pick(r) {
                let base = 100 * r as u16;
                let t = (0..90)
                    .map(|i| base + i)
                    .find(|t| !m[&r].inst.contains_key(t));
                if let Some(t) = t {
                    m.get_mut(&r)
                        .unwrap()
                        .inst
                        .insert(t, Props8::from([(p % 4, p % 5)]));
                }
            }
        }
        Edit::DropInstance(r, t) => {
            if let Some(r) = pick(r) {
                if let Some(t) = nth(m[&r].inst.keys().copied(), t) {
                    let rm = m.get_mut(&r).unwrap();
                    rm.inst.remove(&t);
                    rm.rels.retain(|(_, l, rr)| *l != t && *rr != t);
                }
            }
        }
        Edit::AddRelation(r, mm, l, rr) => {
            if let Some(r) = pick(r) {
                let l = nth(m[&r].inst.keys().copied(), l);
                let rr = nth(m[&r].inst.keys().copied(), rr);
                if let (Some(l), Some(rr)) = (l, rr) {
                    m.get_mut(&r).unwrap().rels.insert((mm % 3, l, rr));
                }
            }
        }
        Edit::DropRelation(r, i) => {
            if let Some(r) = pick(r) {
                if let Some(x) = nth(m[&r].rels.iter().copied(), i) {
                    m.get_mut(&r).unwrap().rels.remove(&x);
                }
            }
        }
        Edit::DropRoot(r) => {
            if let Some(r) = pick(r) {
                m.remove(&r);
                for rm in m.values_mut() {
                    rm.upd.retain(|t, _| *t / 100 != r as u16);
                }
            }
        }
        Edit::AddRoot(p) => {
            let r = (1u8..40).find(|r| !m.contains_key(r) && !frozen.contains(r));
            if let Some(r) = r {
                let base = 100 * r as u16;
                m.insert(
                    r,
                    RootModel {
                        inst: [(base, Props8::from([(p % 4, p % 5)]))].into(),
                        ..RootModel::default()
                    },
                );
            }
        }
        Edit::Move(a, t, b) => {
            if let (Some(a), Some(b)) = (pick(a), pick(b)) {
                if a == b {
                    return;
                }
                if let Some(t) = nth(m[&a].inst.keys().copied(), t) {
                    let ra = m.get_mut(&a).unwrap();
                    let p = ra.inst.remove(&t).unwrap();
                    ra.rels.retain(|(_, l, rr)| *l != t && *rr != t);
                    m.get_mut(&b).unwrap().inst.insert(t, p);
                }
            }
        }
        Edit::UpdateOther(a, b, t) => {
            // Root a sets its own property key (10 + a) on an instance of root b.
            if let (Some(a), Some(b)) = (pick(a), pick(b)) {
                if a == b {
                    return;
                }
                if let Some(t) = nth(m[&b].inst.keys().copied(), t) {
                    m.get_mut(&a)
                        .unwrap()
                        .upd
                        .insert(t, Props8::from([(10 + a, t as u8 % 5)]));
                }
            }
        }
    }
}

/// The expected end state: edited roots, excluded roots as they were.
fn expected(v1: &Model, v2: &Model, excluded: &BTreeSet<u8>) -> Model {
    let mut m: Model = v2
        .iter()
        .filter(|(r, _)| !excluded.contains(r))
        .map(|(r, x)| (*r, x.clone()))
        .collect();
    for r in excluded {
        if let Some(x) = v1.get(r) {
            m.insert(*r, x.clone());
        }
    }
    m
}

/// The graph without empty relation sets (left behind by removals).
pub(crate) fn norm(g: &Graph) -> Graph {
    let mut g = g.clone();
    g.out.retain(|_, s| !s.is_empty());
    g.inc.retain(|_, s| !s.is_empty());
    g
}

fn changed_roots(d1: &DesiredState, d2: &DesiredState) -> BTreeSet<String> {
    d2.roots
        .iter()
        .filter(|(r, s)| d1.roots.get(*r) != Some(*s))
        .map(|(r, _)| r.clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn update_converges_and_a_second_plan_is_empty(
        v1 in model_strategy(),
        edits in prop::collection::vec(edit_strategy(), 0..8),
        excl_pick in prop::collection::btree_set(1u8..6, 0..2),
        with_change_log in any::<bool>(),
        unmanaged in prop::collection::btree_map(900u16..910, prop::collection::btree_map(0u8..4, 0u8..5, 0..3), 0..4),
        unmanaged_rels in prop::collection::btree_set((0u8..3, 900u16..910, 900u16..910), 0..4),
    ) {
        let excluded: BTreeSet<u8> = excl_pick.into_iter().filter(|r| v1.contains_key(r)).collect();
        let mut frozen = excluded.clone();
        frozen.insert(0);
        let mut v2 = v1.clone();
        for e in &edits {
            apply_edit(&mut v2, e, &frozen);
        }
        let d1 = desired(&v1);
        let d2 = desired(&v2);
        let mut env = MemEnv::install(&d1);
        // Content nobody deployed (made live, e.g. in Draw) is never touched.
        let mut extra = Graph::new();
        for (t, p) in &unmanaged {
            extra.instances.insert(tag(*t as u64), props(p));
        }
        for (m, l, r) in &unmanaged_rels {
            if unmanaged.contains_key(l) && unmanaged.contains_key(r) {
                extra.relate(&rel_tag(*m), &tag(*l as u64), &tag(*r as u64));
            }
        }
        for (t, p) in &extra.instances {
            env.graph.instances.insert(t.clone(), p.clone());
        }
        for (l, set) in &extra.out {
            for (m, r) in set {
                env.graph.relate(m, l, r);
            }
        }
        let req = PlanRequest {
            changed: with_change_log.then(|| changed_roots(&d1, &d2)),
            excluded: excluded.iter().map(|r| root_tag(*r)).collect(),
            ..PlanRequest::default()
        };
        let p = plan(&d2, &env, &req).unwrap();
        env.apply(&p);
        let want = desired(&expected(&v1, &v2, &excluded));
        let mut want_graph = desired_graph(&want);
        for (t, p) in &extra.instances {
            want_graph.instances.insert(t.clone(), p.clone());
        }
        for (l, set) in &extra.out {
            for (m, r) in set {
                want_graph.relate(m, l, r);
            }
        }
        prop_assert_eq!(norm(&env.graph), norm(&want_graph));
        // A second plan (no change log: every root compared) is empty.
        let req2 = PlanRequest { changed: None, ..req.clone() };
        let p2 = plan(&d2, &env, &req2).unwrap();
        prop_assert!(p2.is_noop(), "second plan not empty: {:?}", p2);
    }

    #[test]
    fn outside_edits_of_deployed_instances_are_reverted_by_a_full_compare(
        v1 in model_strategy(),
        t_pick in any::<u8>(),
        k in 0u8..4,
        v in 0u8..5,
        delete in any::<bool>(),
    ) {
        let d1 = desired(&v1);
        let mut env = MemEnv::install(&d1);
        let tags: Vec<String> = env.graph.instances.keys().cloned().collect();
        let t = tags[t_pick as usize % tags.len()].clone();
        if delete {
            env.graph.remove_instance(&t);
        } else {
            env.graph.instances.get_mut(&t).unwrap().insert(key(k + 20), json!(v));
        }
        let p = plan(&d1, &env, &PlanRequest::default()).unwrap();
        prop_assert!(!p.is_empty());
        env.apply(&p);
        prop_assert_eq!(norm(&env.graph), norm(&desired_graph(&d1)));
    }
}

#[test]
fn plan_lists_changes_per_root_and_orders_ops() {
    let mut v1 = Model::new();
    v1.insert(
        0,
        RootModel {
            inst: [(1u16, Props8::from([(0u8, 1u8)]))].into(),
            ..RootModel::default()
        },
    );
    v1.insert(
        1,
        RootModel {
            inst: [
                (100u16, Props8::from([(0, 1), (1, 2)])),
                (101, Props8::new()),
            ]
            .into(),
            rels: [(0u8, 100u16, 101u16)].into(),
            ..RootModel::default()
        },
    );
    let mut v2 = v1.clone();
    let r1 = v2.get_mut(&1).unwrap();
    r1.inst.get_mut(&100).unwrap().remove(&1);
    r1.inst.remove(&101);
    r1.rels.clear();
    r1.inst.insert(102, Props8::from([(2, 2)]));
    let d1 = desired(&v1);
    let d2 = desired(&v2);
    let env = MemEnv::install(&d1);
    let p = plan(&d2, &env, &PlanRequest::default()).unwrap();
    assert_eq!(p.totals.roots, 1);
    let rp = &p.roots[0];
    assert_eq!(rp.root, root_tag(1));
    assert_eq!(rp.action, "update");
    assert_eq!(rp.created_instances, vec![tag(102)]);
    assert_eq!(rp.deleted_instances, vec![tag(101)]);
    assert_eq!(
        rp.updated_instances[&tag(100)][&key(1)],
        Value::Null,
        "a property absent from the patches is removed"
    );
    assert_eq!(
        rp.deleted_relations,
        vec![RelKey::new(&rel_tag(0), &tag(100), &tag(101))]
    );
    let codes: Vec<u8> = p.ops().iter().map(Op::code).collect();
    let mut sorted = codes.clone();
    sorted.sort_by_key(|c| match c {
        5 => 0,
        3 => 1,
        1 => 2,
        2 => 3,
        _ => 4,
    });
    assert_eq!(
        codes, sorted,
        "application order delRel, delInst, newInst, updateInst, newRel"
    );
    let table = render::table(&p);
    assert!(table.contains(&root_tag(1)) && table.contains("total (1 roots)"));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["totals"]["deletedInstances"], 1);
}

#[test]
fn a_root_no_patch_holds_is_deleted_with_what_only_it_deployed() {
    let mut v1 = Model::new();
    v1.insert(
        0,
        RootModel {
            inst: [(1u16, Props8::new())].into(),
            ..RootModel::default()
        },
    );
    v1.insert(
        2,
        RootModel {
            inst: [(200u16, Props8::new())].into(),
            ..RootModel::default()
        },
    );
    let d1 = desired(&v1);
    let mut env = MemEnv::install(&d1);
    // An instance made live in Draw (not in any patch) is never deleted.
    env.graph.instances.insert(tag(999), Props::new());
    env.graph.relate(&rel_tag(1), &tag(200), &tag(999));
    let mut v2 = v1.clone();
    v2.remove(&2);
    let p = plan(&desired(&v2), &env, &PlanRequest::default()).unwrap();
    assert_eq!(p.roots.len(), 1);
    assert_eq!(p.roots[0].action, "delete");
    assert!(p.roots[0].deleted_instances.contains(&tag(200)));
    assert!(p.roots[0].deleted_instances.contains(&root_tag(2)));
    env.apply(&p);
    assert!(env.graph.instances.contains_key(&tag(999)));
    assert!(!env.inventory.contains_key(&root_tag(2)));
}

/// The same environment in memory and in SQLite.
fn sqlite_copy(mem: &MemEnv) -> (tempfile::TempDir, crate::env::SqliteEnv) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = crate::env::SqliteEnv::open(&dir.path().join("env.sqlite")).unwrap();
    env.ensure_update_schema().unwrap();
    let tx = env.begin_update(true).unwrap();
    let mut ops = Vec::new();
    for (t, p) in &mem.graph.instances {
        ops.push(Op::CreateInstance(InstanceOp {
            tag: t.clone(),
            props: p.clone(),
            extra: Map::new(),
        }));
    }
    for (l, s) in &mem.graph.out {
        for (m, r) in s {
            ops.push(Op::create_relation(m, l, r));
        }
    }
    tx.apply_ops(&ops).unwrap();
    let records = mem
        .inventory
        .iter()
        .map(|(root, s)| (root.clone(), Some(s.clone())))
        .collect();
    tx.write_inventory(&records).unwrap();
    tx.commit().unwrap();
    (dir, env)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The SQLite view of an environment plans exactly as the in-memory one, and applying
    /// the plan in SQLite gives the same graph and inventory.
    #[test]
    fn sqlite_and_memory_plan_and_apply_alike(
        v1 in model_strategy(),
        edits in prop::collection::vec(edit_strategy(), 0..8),
        with_change_log in any::<bool>(),
    ) {
        let frozen: BTreeSet<u8> = [0].into();
        let mut v2 = v1.clone();
        for e in &edits {
            apply_edit(&mut v2, e, &frozen);
        }
        let (d1, d2) = (desired(&v1), desired(&v2));
        let mut mem = MemEnv::install(&d1);
        let (_dir, mut env) = sqlite_copy(&mem);
        let req = PlanRequest {
            changed: with_change_log.then(|| changed_roots(&d1, &d2)),
            ..PlanRequest::default()
        };
        let pm = plan(&d2, &mem, &req).unwrap();
        let ps = plan(&d2, &env.current(), &req).unwrap();
        prop_assert_eq!(serde_json::to_value(&pm).unwrap(), serde_json::to_value(&ps).unwrap());
        let pre = env.preload().unwrap();
        let pp = plan(&d2, &pre, &req).unwrap();
        prop_assert_eq!(serde_json::to_value(&pm).unwrap(), serde_json::to_value(&pp).unwrap());
        prop_assert_eq!(&pm.inventory, &pp.inventory);
        prop_assert_eq!(&pm.inventory, &ps.inventory);
        mem.apply(&pm);
        let tx = env.begin_update(true).unwrap();
        crate::env::sqlite::update::apply(&tx, &ps).unwrap();
        tx.commit().unwrap();
        let g = crate::env::Environment::graph(&env).unwrap();
        prop_assert_eq!(norm(&g), norm(&mem.graph));
        let cur = env.current();
        for root in mem.inventory.keys() {
            let got = cur.deployed(root).unwrap();
            prop_assert_eq!(got.as_deref(), mem.inventory.get(root));
        }
        prop_assert_eq!(cur.deployed_roots().unwrap(), mem.inventory.keys().cloned().collect::<BTreeSet<_>>());
    }
}
