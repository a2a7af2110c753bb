//! A fast writer for dumper-made patch files: the same bytes as
//! [`Patch::to_json_string`](crate::patch::Patch::to_json_string) with the deterministic
//! layout (checked by the tests and by the Core proof), without building a JSON value
//! tree first. Operations with fields the dumper never writes (`o` 3 and 5, extra keys)
//! go through the generic writer.

use crate::json;
use crate::patch::{Op, Patch};
use serde_json::Value;

/// The file content of `patch` (deterministic layout).
pub fn patch_string(patch: &Patch) -> String {
    let simple = patch.extra.is_empty()
        && patch.all_ops().all(|op| match op {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => i.extra.is_empty(),
            Op::CreateRelation(_, extra) => extra.is_empty(),
            _ => false,
        });
    let Some(opt) = patch.optional_operations.as_ref().filter(|_| simple) else {
        return patch.to_json_string();
    };
    let mut out = String::with_capacity(256 + 160 * (patch.operations.len() + opt.len()));
    out.push_str("{\n \"operations\": ");
    ops(&patch.operations, &mut out);
    out.push_str(",\n \"optionalOperations\": ");
    ops(opt, &mut out);
    out.push_str(",\n \"rootTag\": ");
    json::write_string(&patch.root_tag, &mut out);
    out.push_str("\n}\n");
    out
}

/// An operation array at level 1 (its items at level 2).
fn ops(list: &[Op], out: &mut String) {
    out.push('[');
    for (n, op) in list.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("\n  {\n   \"");
        match op {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => {
                out.push_str(if matches!(op, Op::CreateInstance(_)) {
                    "o\": 1,\n   \"p\": "
                } else {
                    "o\": 2,\n   \"p\": "
                });
                props(&i.props, out);
                out.push_str(",\n   \"t\": ");
                json::write_string(&i.tag, out);
            }
            Op::CreateRelation(r, _) => {
                out.push_str("l\": ");
                json::write_string(&r.from, out);
                out.push_str(",\n   \"m\": ");
                json::write_string(&r.rel, out);
                out.push_str(",\n   \"o\": 4,\n   \"r\": ");
                json::write_string(&r.to, out);
            }
            // Excluded by `patch_string`.
            Op::DeleteInstance(_) | Op::DeleteRelation(..) => {}
        }
        out.push_str("\n  }");
    }
    out.push_str("\n ]");
}

/// A property object at level 3 (entries at level 4).
fn props(p: &serde_json::Map<String, Value>, out: &mut String) {
    out.push('{');
    let mut entries: Vec<(&String, &Value)> = p.iter().collect();
    entries.sort_by(|a, b| json::js_string_cmp(a.0, b.0));
    for (n, (k, v)) in entries.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("\n    ");
        json::write_string(k, out);
        out.push_str(": ");
        value(v, out);
    }
    out.push_str("\n   }");
}

/// A property value at level 4: strings directly, anything else through the generic
/// writer, re-indented (deterministic output at level L is the level-0 output with L more
/// spaces after every newline; strings never hold a raw newline).
fn value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => json::write_string(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        other => {
            let s = json::to_deterministic(other);
            let s = s.strip_suffix('\n').unwrap_or(&s);
            if s.contains('\n') {
                out.push_str(&s.replace('\n', "\n    "));
            } else {
                out.push_str(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
    use crate::snapshot::{synth, DumpConfig};

    #[test]
    fn same_bytes_as_the_generic_writer() {
        let mut g = Graph::new();
        for op in synth::operations(&synth::Spec {
            repositories: 1,
            projects_per_repository: 1,
            folders_per_project: 1,
            items_per_folder: 4,
            parts_per_item: 3,
        }) {
            g.apply(&op);
        }
        // Typed values, an empty object, unicode and escapes.
        let item = g
            .instances
            .keys()
            .find(|k| k.starts_with("0193"))
            .unwrap()
            .clone();
        let p = g.instances.get_mut(&item).unwrap();
        p.insert(
            "a".into(),
            serde_json::json!({"c": 7, "r": 1, "g": 2, "b": 3, "a": 0.5}),
        );
        p.insert("b".into(), serde_json::json!({}));
        p.insert("c".into(), serde_json::json!("é \"q\"\n\u{1}"));
        p.insert("d".into(), serde_json::json!(1e21));
        p.insert("e".into(), serde_json::json!([1, {"x": []}]));
        let mut cfg = DumpConfig::default();
        cfg.exclude.clear();
        let n = crate::snapshot::plan(&g, &cfg).unwrap().files.len();
        assert!(n > 10);
        let mut checked = 0;
        for p in crate::snapshot::dump::patches_for_tests(&g, &cfg) {
            assert_eq!(patch_string(&p), p.to_json_string());
            checked += 1;
        }
        assert_eq!(checked, n);
    }
}
