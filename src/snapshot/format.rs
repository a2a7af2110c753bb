//! Writing a root's files straight from borrowed graph data: the same bytes as building
//! [`Patch`](crate::patch::Patch)es and calling
//! [`Patch::to_json_string`](crate::patch::Patch::to_json_string) (checked by the tests and by the Core
//! proof), without allocating an operation or a JSON value per instance and relation —
//! what keeps the unchanged re-run of a large environment fast.

use crate::graph::Props;
use crate::json;
use crate::patch::FileKind;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// What one root's files hold, borrowed from the graph, each list in the dumper's order.
#[derive(Debug, Default)]
pub(crate) struct RootContent<'g> {
    pub tag: &'g str,
    /// Instances of the root: CREATE with the plain properties, UPDATE with the complex
    /// (`{c:8}`) ones when there are any. `None`: no stored properties.
    pub instances: Vec<(&'g str, Option<&'g Props>)>,
    /// Kept relations `(from, rel, to)`.
    pub relations: Vec<(&'g str, &'g str, &'g str)>,
    /// Structure CREATEs (a project's ancestors, all stored properties).
    pub ancestors: Vec<(&'g str, Option<&'g Props>)>,
    /// Structure relations.
    pub structure: Vec<(&'g str, &'g str, &'g str)>,
    /// File instances whose content is written beside the root (`<base>/<fileTag>`).
    pub binaries: Vec<&'g str>,
}

/// Which properties of an instance an operation carries.
#[derive(Clone, Copy, PartialEq)]
enum Select {
    Plain,
    Complex,
    All,
}

pub(crate) fn is_complex(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.get("c").and_then(Value::as_u64) == Some(8),
        _ => false,
    }
}

fn selected(props: Option<&Props>, select: Select) -> impl Iterator<Item = (Cow<'_, str>, &Value)> {
    props.into_iter().flatten().filter_map(move |(k, v)| {
        let keep = match select {
            Select::All => true,
            Select::Plain => !is_complex(v),
            Select::Complex => is_complex(v),
        };
        // Internal `?` keys are written with the `fd` prefix.
        let key = match k.strip_prefix('?') {
            Some(rest) => Cow::Owned(format!("fd{rest}")),
            None => Cow::Borrowed(k.as_str()),
        };
        keep.then_some((key, v))
    })
}

fn has_complex(props: Option<&Props>) -> bool {
    props.is_some_and(|p| p.values().any(is_complex))
}

pub(crate) fn tag_order(a: &str, b: &str) -> Ordering {
    json::js_string_cmp(a, b)
}

pub(crate) fn relation_order(a: &(&str, &str, &str), b: &(&str, &str, &str)) -> Ordering {
    json::js_string_cmp(a.0, b.0)
        .then_with(|| json::js_string_cmp(a.1, b.1))
        .then_with(|| json::js_string_cmp(a.2, b.2))
}

impl RootContent<'_> {
    /// The root's files (kind, content); only non-empty ones.
    pub(crate) fn files(&self) -> Vec<(FileKind, String)> {
        let mut files = Vec::with_capacity(3);
        let creates: Vec<_> = self
            .instances
            .iter()
            .map(|(t, p)| (*t, *p, Select::Plain))
            .collect();
        let ancestors: Vec<_> = self
            .ancestors
            .iter()
            .map(|(t, p)| (*t, *p, Select::All))
            .collect();
        if !creates.is_empty() || !ancestors.is_empty() {
            files.push((
                FileKind::NewInst,
                self.write(
                    |s| instance_ops(1, &creates, s),
                    |s| instance_ops(1, &ancestors, s),
                ),
            ));
        }
        let updates: Vec<_> = self
            .instances
            .iter()
            .filter(|(_, p)| has_complex(*p))
            .map(|(t, p)| (*t, *p, Select::Complex))
            .collect();
        if !updates.is_empty() {
            files.push((
                FileKind::UpdateInst,
                self.write(
                    |s| instance_ops(2, &updates, s),
                    |s| instance_ops(2, &[], s),
                ),
            ));
        }
        if !self.relations.is_empty() || !self.structure.is_empty() {
            files.push((
                FileKind::NewRel,
                self.write(
                    |s| relation_ops(&self.relations, s),
                    |s| relation_ops(&self.structure, s),
                ),
            ));
        }
        files
    }

    fn write(&self, ops: impl FnOnce(&mut String), opt: impl FnOnce(&mut String)) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("{\n \"operations\": ");
        ops(&mut out);
        out.push_str(",\n \"optionalOperations\": ");
        opt(&mut out);
        out.push_str(",\n \"rootTag\": ");
        json::write_string(self.tag, &mut out);
        out.push_str("\n}\n");
        out
    }

    /// The same files as patches (the generic model; the reference for `files`).
    #[cfg(test)]
    pub(crate) fn patches(&self) -> Vec<(FileKind, crate::patch::Patch)> {
        use crate::patch::{InstanceOp, Op, Patch};
        use serde_json::Map;
        let op = |code: u8, t: &str, p: Option<&Props>, select: Select| {
            let i = InstanceOp {
                tag: t.to_string(),
                props: selected(p, select)
                    .map(|(k, v)| (k.into_owned(), v.clone()))
                    .collect::<Map<_, _>>(),
                extra: Map::new(),
            };
            if code == 1 {
                Op::CreateInstance(i)
            } else {
                Op::UpdateInstance(i)
            }
        };
        let rel = |(l, m, r): &(&str, &str, &str)| Op::create_relation(m, l, r);
        let lists = [
            (
                FileKind::NewInst,
                self.instances
                    .iter()
                    .map(|(t, p)| op(1, t, *p, Select::Plain))
                    .collect::<Vec<_>>(),
                self.ancestors
                    .iter()
                    .map(|(t, p)| op(1, t, *p, Select::All))
                    .collect::<Vec<_>>(),
            ),
            (
                FileKind::UpdateInst,
                self.instances
                    .iter()
                    .filter(|(_, p)| has_complex(*p))
                    .map(|(t, p)| op(2, t, *p, Select::Complex))
                    .collect(),
                Vec::new(),
            ),
            (
                FileKind::NewRel,
                self.relations.iter().map(rel).collect(),
                self.structure.iter().map(rel).collect(),
            ),
        ];
        let mut out = Vec::new();
        for (kind, ops, opt) in lists {
            if ops.is_empty() && opt.is_empty() {
                continue;
            }
            let mut patch = Patch::new(self.tag);
            patch.operations = ops;
            patch.optional_operations = Some(opt);
            patch.sort();
            out.push((kind, patch));
        }
        out
    }
}

/// An array of instance operations at level 1 (items at level 2).
fn instance_ops(code: u8, list: &[(&str, Option<&Props>, Select)], out: &mut String) {
    out.push('[');
    for (n, (tag, props, select)) in list.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(if code == 1 {
            "\n  {\n   \"o\": 1,\n   \"p\": "
        } else {
            "\n  {\n   \"o\": 2,\n   \"p\": "
        });
        write_props(*props, *select, out);
        out.push_str(",\n   \"t\": ");
        json::write_string(tag, out);
        out.push_str("\n  }");
    }
    out.push_str("\n ]");
}

/// An array of relation creations at level 1.
fn relation_ops(list: &[(&str, &str, &str)], out: &mut String) {
    out.push('[');
    for (n, (l, m, r)) in list.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("\n  {\n   \"l\": ");
        json::write_string(l, out);
        out.push_str(",\n   \"m\": ");
        json::write_string(m, out);
        out.push_str(",\n   \"o\": 4,\n   \"r\": ");
        json::write_string(r, out);
        out.push_str("\n  }");
    }
    out.push_str("\n ]");
}

/// A property object at level 3 (entries at level 4).
fn write_props(props: Option<&Props>, select: Select, out: &mut String) {
    out.push('{');
    let mut entries: Vec<(Cow<'_, str>, &Value)> = selected(props, select).collect();
    entries.sort_by(|a, b| json::js_string_cmp(&a.0, &b.0));
    for (n, (k, v)) in entries.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("\n    ");
        json::write_string(&k, out);
        out.push_str(": ");
        write_value(v, out);
    }
    out.push_str("\n   }");
}

/// A property value at level 4: strings directly, anything else through the generic
/// writer, re-indented (deterministic output at level L is the level-0 output with L more
/// spaces after every newline; strings never hold a raw newline).
fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => json::write_string(s, out),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        Value::Number(n) if n.as_u64().is_some_and(|u| u < 1 << 53) => out.push_str(&n.to_string()),
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
        // Typed values, an empty object, unicode, escapes, big and float numbers, `?` keys.
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
        p.insert("f".into(), serde_json::json!(-3));
        p.insert("g".into(), serde_json::json!(9007199254740993u64));
        p.insert("?ff0230000000000000aa".into(), serde_json::json!(2));
        let mut cfg = DumpConfig::default();
        cfg.exclude.clear();
        let n = crate::snapshot::plan(&g, &cfg).unwrap().files.len();
        assert!(n > 10);
        let mut checked = 0;
        for c in crate::snapshot::dump::contents_for_tests(&g, &cfg) {
            let files = c.files();
            let patches = c.patches();
            assert_eq!(files.len(), patches.len());
            for ((k1, s), (k2, p)) in files.iter().zip(&patches) {
                assert_eq!(k1, k2);
                assert_eq!(s, &p.to_json_string());
                checked += 1;
            }
        }
        assert_eq!(checked, n);
    }
}
