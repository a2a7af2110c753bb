//! The code-as-data patch model: reading, validating and writing patch files.
//!
//! A patch file is one JSON object `{rootTag, operations, optionalOperations}` whose
//! operations create, update and delete instances and relations of the composition graph.
//! Readers must accept any key order and whitespace (hand-built runtime patches are single
//! line, dumper-written ones are pretty-printed), keep fields they do not know, and reject
//! corrupt files with an error that names the file, the JSON pointer and what was expected.
//! Writers reproduce the toolkit's determinism rules so a re-dump of an unchanged graph is
//! byte-identical and git diffs stay minimal.

use crate::json;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

mod fast;
mod read;
mod wire;
pub use wire::ndjson_ops;
pub mod tags;

pub use fast::validate;

/// Why a patch file could not be read. Callers branch on the variant: `Invalid` is a user
/// error to fix in the file, `Io` usually an environment problem.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not valid JSON: {message} (line {line}, column {column})", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, without its position.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The file is JSON but not a patch: something has the wrong shape.
    #[error("{}: {pointer}: expected {expected}, found {found}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// JSON pointer of the offending value (`/` for the whole document).
        pointer: String,
        /// What the model expects there.
        expected: String,
        /// What the file holds there, abridged.
        found: String,
    },
}

/// The five patch file kinds, declared in application order: relations are removed before
/// the instances they point at, instances exist before relations are created between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `*.delRel.json`: relation deletions, applied first.
    DelRel,
    /// `*.delInst.json`: instance deletions.
    DelInst,
    /// `*.newInst.json`: instance creations.
    NewInst,
    /// `*.updateInst.json`: property updates.
    UpdateInst,
    /// `*.newRel.json`: relation creations, applied last.
    NewRel,
}

impl FileKind {
    /// Every kind, in application order.
    pub const ALL: [FileKind; 5] = [
        FileKind::DelRel,
        FileKind::DelInst,
        FileKind::NewInst,
        FileKind::UpdateInst,
        FileKind::NewRel,
    ];

    /// The file-name suffix, e.g. `.newInst.json`.
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::DelRel => ".delRel.json",
            FileKind::DelInst => ".delInst.json",
            FileKind::NewInst => ".newInst.json",
            FileKind::UpdateInst => ".updateInst.json",
            FileKind::NewRel => ".newRel.json",
        }
    }

    /// The kind of a patch file from its name, `None` for any other file.
    pub fn of_path(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_str()?;
        FileKind::ALL
            .into_iter()
            .find(|k| name.ends_with(k.suffix()))
    }

    /// The file kind an operation is written to by the dumper.
    pub fn of_op(op: &Op) -> FileKind {
        match op {
            Op::CreateInstance(_) => FileKind::NewInst,
            Op::UpdateInstance(_) => FileKind::UpdateInst,
            Op::DeleteInstance(_) => FileKind::DelInst,
            Op::CreateRelation(..) => FileKind::NewRel,
            Op::DeleteRelation(..) => FileKind::DelRel,
        }
    }
}

/// How the file was laid out, so a rewrite of an unchanged file gives the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Dumper style: sorted keys, one-space indentation, trailing newline.
    #[default]
    Deterministic,
    /// Hand-built style: one line, keys in source order, no trailing newline.
    Compact,
}

/// CREATE (`o:1`) or UPDATE (`o:2`) of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceOp {
    /// The instance's tag.
    pub tag: String,
    /// Property tag → value; a `null` value in an UPDATE removes the property.
    pub props: Map<String, Value>,
    /// Fields this model does not interpret (`s`, `m`, …), kept for round trips.
    pub extra: Map<String, Value>,
}

/// DELETE of an instance (`o:3`) with the follow rule that decides the cascade.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteOp {
    /// The instance's tag.
    pub tag: String,
    /// The follow rule whose relations the deletion cascades through, if any.
    pub follow: Option<String>,
    /// Fields this model does not interpret, kept as they are.
    pub extra: Map<String, Value>,
}

/// CREATE (`o:4`) or DELETE (`o:5`) of the relation `from -rel-> to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelationOp {
    /// The relation type's tag.
    pub rel: String,
    /// The origin instance's tag.
    pub from: String,
    /// The destination instance's tag.
    pub to: String,
}

/// One patch operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `o:1`: create an instance (merging properties when it exists).
    CreateInstance(InstanceOp),
    /// `o:2`: set properties (`null` removes one).
    UpdateInstance(InstanceOp),
    /// `o:3`: delete an instance and its relations.
    DeleteInstance(DeleteOp),
    /// Relation plus any extra fields (`lm`, `rm`, …).
    CreateRelation(RelationOp, Map<String, Value>),
    /// `o:5`: delete a relation, plus any extra fields.
    DeleteRelation(RelationOp, Map<String, Value>),
}

impl Op {
    /// The operation code `o`.
    pub fn code(&self) -> u8 {
        match self {
            Op::CreateInstance(_) => 1,
            Op::UpdateInstance(_) => 2,
            Op::DeleteInstance(_) => 3,
            Op::CreateRelation(..) => 4,
            Op::DeleteRelation(..) => 5,
        }
    }

    /// The instance tag of operations 1..3.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => Some(&i.tag),
            Op::DeleteInstance(d) => Some(&d.tag),
            _ => None,
        }
    }

    /// The relation of operations 4 and 5.
    pub fn relation(&self) -> Option<&RelationOp> {
        match self {
            Op::CreateRelation(r, _) | Op::DeleteRelation(r, _) => Some(r),
            _ => None,
        }
    }

    /// A CREATE relation operation with no extra fields.
    pub fn create_relation(rel: &str, from: &str, to: &str) -> Op {
        Op::CreateRelation(
            RelationOp {
                rel: rel.into(),
                from: from.into(),
                to: to.into(),
            },
            Map::new(),
        )
    }

    /// The JSON form with the one-letter keys (key order o, t, p, f, m, l, r, extras).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("o".into(), Value::from(self.code()));
        match self {
            Op::CreateInstance(i) | Op::UpdateInstance(i) => {
                m.insert("t".into(), Value::String(i.tag.clone()));
                m.insert("p".into(), Value::Object(i.props.clone()));
                m.extend(i.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Op::DeleteInstance(d) => {
                m.insert("t".into(), Value::String(d.tag.clone()));
                m.insert(
                    "f".into(),
                    d.follow.clone().map(Value::String).unwrap_or(Value::Null),
                );
                m.extend(d.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Op::CreateRelation(r, extra) | Op::DeleteRelation(r, extra) => {
                m.insert("m".into(), Value::String(r.rel.clone()));
                m.insert("l".into(), Value::String(r.from.clone()));
                m.insert("r".into(), Value::String(r.to.clone()));
                m.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        Value::Object(m)
    }
}

/// The dumper's operation order: by `o`; instance operations by tag then first property
/// key; relation operations by origin, then relation type, then destination.
pub fn compare_ops(a: &Op, b: &Op) -> Ordering {
    a.code().cmp(&b.code()).then_with(|| match (a, b) {
        (
            Op::CreateRelation(x, _) | Op::DeleteRelation(x, _),
            Op::CreateRelation(y, _) | Op::DeleteRelation(y, _),
        ) => json::js_string_cmp(&x.from, &y.from)
            .then_with(|| json::js_string_cmp(&x.rel, &y.rel))
            .then_with(|| json::js_string_cmp(&x.to, &y.to)),
        _ => {
            let first_key = |op: &Op| match op {
                Op::CreateInstance(i) | Op::UpdateInstance(i) => i.props.keys().next().cloned(),
                _ => None,
            };
            json::js_string_cmp(a.tag().unwrap_or(""), b.tag().unwrap_or(""))
                .then_with(|| first_key(a).cmp(&first_key(b)))
        }
    })
}

/// Sort operations in place with the dumper's order (stable).
pub fn sort_ops(ops: &mut [Op]) {
    ops.sort_by(compare_ops);
}

/// One patch file.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// The root the file belongs to; the literal `"null"` in update-diff files.
    pub root_tag: String,
    /// The operations, applied in order.
    pub operations: Vec<Op>,
    /// Structure operations linking the root into the hierarchy; absent in older files.
    pub optional_operations: Option<Vec<Op>>,
    /// Top-level fields this model does not interpret.
    pub extra: Map<String, Value>,
    /// How the file was laid out, so rewriting it gives the same bytes.
    pub layout: Layout,
}

impl Patch {
    /// An empty patch of `root_tag`, laid out like the dumper's.
    pub fn new(root_tag: impl Into<String>) -> Patch {
        Patch {
            root_tag: root_tag.into(),
            operations: Vec::new(),
            optional_operations: Some(Vec::new()),
            extra: Map::new(),
            layout: Layout::Deterministic,
        }
    }

    /// Read and validate a patch file.
    pub fn read(path: &Path) -> Result<Patch, PatchError> {
        let bytes = std::fs::read(path).map_err(|source| PatchError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Patch::parse(&bytes, path)
    }

    /// Parse and validate patch bytes; `file` is only used in error messages.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Patch, PatchError> {
        let layout = if bytes.first() == Some(&b'{') && !bytes.contains(&b'\n') {
            Layout::Compact
        } else {
            Layout::Deterministic
        };
        // The one-pass reader decides the ordinary file; the full reader the rest, with
        // its precise errors.
        if let Ok(wire::WirePatch(mut patch)) = serde_json::from_slice(bytes) {
            patch.layout = layout;
            return Ok(patch);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| PatchError::Syntax {
            file: file.to_path_buf(),
            message: e
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let mut patch = read::Reader { file }.patch(value)?;
        patch.layout = layout;
        Ok(patch)
    }

    /// Validate an already-parsed patch document (graphDef answers arrive as JSON values:
    /// no need to print and re-read them); `file` is only used in error messages.
    pub fn from_value(value: Value, file: &Path) -> Result<Patch, PatchError> {
        read::Reader { file }.patch(value)
    }

    /// The file content with the patch's layout.
    pub fn to_json_string(&self) -> String {
        match self.layout {
            Layout::Deterministic => json::to_deterministic(&self.to_value()),
            Layout::Compact => json::to_compact(&self.to_value()),
        }
    }

    /// The patch as a JSON value, fields in the file's order (`rootTag`, `operations`,
    /// `optionalOperations`, then the rest).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("rootTag".into(), Value::String(self.root_tag.clone()));
        m.insert(
            "operations".into(),
            Value::Array(self.operations.iter().map(Op::to_value).collect()),
        );
        if let Some(opt) = &self.optional_operations {
            m.insert(
                "optionalOperations".into(),
                Value::Array(opt.iter().map(Op::to_value).collect()),
            );
        }
        m.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(m)
    }

    /// Sort both operation arrays with the dumper's order.
    pub fn sort(&mut self) {
        sort_ops(&mut self.operations);
        if let Some(opt) = &mut self.optional_operations {
            sort_ops(opt);
        }
    }

    /// All operations, structure operations included.
    pub fn all_ops(&self) -> impl Iterator<Item = &Op> {
        self.operations
            .iter()
            .chain(self.optional_operations.iter().flatten())
    }
}

/// True for a 20-character lowercase hexadecimal tag.
pub fn is_tag(s: &str) -> bool {
    s.len() == 20
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            self.suffix()
                .trim_start_matches('.')
                .trim_end_matches(".json"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Patch, PatchError> {
        Patch::parse(s.as_bytes(), Path::new("snapshot/x/Item.newInst.json"))
    }

    #[test]
    fn errors_name_the_file_the_pointer_and_the_expectation() {
        let e = parse(r#"{"rootTag":"0178445f8bd56b198950","operations":[{"o":1,"t":"0178445f8bd56b198950","p":{}},{"o":4,"m":"0178445f8bd56b198950","l":42,"r":"0178445f8bd56b198950"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "snapshot/x/Item.newInst.json: /operations/1/l: expected a 20-hex tag, found 42"
        );
        let e = parse(r#"{"rootTag":"x","operations":[]}"#).unwrap_err();
        assert!(
            e.to_string().contains("/rootTag: expected a 20-hex tag"),
            "{e}"
        );
        let e = parse("{\"rootTag\":").unwrap_err();
        assert!(matches!(e, PatchError::Syntax { line: 1, .. }), "{e}");
        let e = parse(r#"{"rootTag":"null","operations":[{"o":2,"t":"0178445f8bd56b198950","p":{"a/b":{"c":9}}}]}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("/operations/0/p/a~1b/c: expected a typed value"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_order_survive_a_compact_round_trip() {
        let src = r#"{"rootTag":"100000000000000000dd","operations":[{"o":1,"t":"ff021000000000000001","p":{"z":1,"a":{"c":7,"r":1,"g":2,"b":3,"a":1}},"s":"x"},{"o":4,"m":"ff02200000000000000f","l":"100000000000000000dd","r":"ff021000000000000001","lm":"ff021000000000000001"},{"o":3,"t":"ff021000000000000001","f":null}],"optionalOperations":[],"x-extra":true}"#;
        let p = parse(src).unwrap();
        assert_eq!(p.layout, Layout::Compact);
        assert_eq!(p.to_json_string(), src);
    }

    #[test]
    fn dumper_order_sorts_by_code_then_tag_then_relation_ends() {
        let mut ops = vec![
            Op::create_relation(
                "b0000000000000000000",
                "a0000000000000000000",
                "c0000000000000000000",
            ),
            Op::create_relation(
                "a0000000000000000000",
                "a0000000000000000000",
                "d0000000000000000000",
            ),
            Op::CreateInstance(InstanceOp {
                tag: "f0000000000000000000".into(),
                props: Map::new(),
                extra: Map::new(),
            }),
            Op::CreateInstance(InstanceOp {
                tag: "10000000000000000000".into(),
                props: Map::new(),
                extra: Map::new(),
            }),
        ];
        sort_ops(&mut ops);
        assert_eq!(ops[0].tag(), Some("10000000000000000000"));
        assert_eq!(ops[1].tag(), Some("f0000000000000000000"));
        assert_eq!(ops[2].relation().unwrap().rel, "a0000000000000000000");
    }

    #[test]
    fn file_kinds_follow_application_order() {
        let names = FileKind::ALL.map(|k| k.suffix());
        assert_eq!(
            names,
            [
                ".delRel.json",
                ".delInst.json",
                ".newInst.json",
                ".updateInst.json",
                ".newRel.json"
            ]
        );
        assert_eq!(
            FileKind::of_path(Path::new("a/.P.newRel.json")),
            Some(FileKind::NewRel)
        );
        assert_eq!(FileKind::of_path(Path::new("a/import_order.json")), None);
    }
}
