//! Reading a patch: the JSON value checked against the model field by field, each
//! error naming the file, the JSON pointer and what was expected.

use super::{is_tag, DeleteOp, InstanceOp, Layout, Op, Patch, PatchError, RelationOp};
use crate::json;
use serde_json::{Map, Value};
use std::path::Path;

/// Validating conversion from JSON to the model, tracking the JSON pointer for errors.
pub(super) struct Reader<'a> {
    pub(super) file: &'a Path,
}

impl Reader<'_> {
    fn invalid(&self, pointer: String, expected: &str, found: Option<&Value>) -> PatchError {
        PatchError::Invalid {
            file: self.file.to_path_buf(),
            pointer: if pointer.is_empty() {
                "/".into()
            } else {
                pointer
            },
            expected: expected.into(),
            found: describe(found),
        }
    }

    pub(super) fn patch(&self, value: Value) -> Result<Patch, PatchError> {
        let Value::Object(mut obj) = value else {
            return Err(self.invalid(String::new(), "a JSON object", Some(&value)));
        };
        let root_tag = match obj.shift_remove("rootTag") {
            Some(Value::String(s)) if is_tag(&s) || s == "null" => s,
            other => {
                return Err(self.invalid(
                    "/rootTag".into(),
                    "a 20-hex tag (or \"null\")",
                    other.as_ref(),
                ))
            }
        };
        let operations = match obj.shift_remove("operations") {
            Some(v) => self.ops(v, "/operations")?,
            None => return Err(self.invalid("/operations".into(), "an array of operations", None)),
        };
        let optional_operations = match obj.shift_remove("optionalOperations") {
            Some(v) => Some(self.ops(v, "/optionalOperations")?),
            None => None,
        };
        Ok(Patch {
            root_tag,
            operations,
            optional_operations,
            extra: obj,
            layout: Layout::Deterministic,
        })
    }

    fn ops(&self, value: Value, pointer: &str) -> Result<Vec<Op>, PatchError> {
        let Value::Array(items) = value else {
            return Err(self.invalid(pointer.into(), "an array of operations", Some(&value)));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| self.op(v, &format!("{pointer}/{i}")))
            .collect()
    }

    fn tag(
        &self,
        obj: &mut Map<String, Value>,
        key: &str,
        pointer: &str,
    ) -> Result<String, PatchError> {
        match obj.shift_remove(key) {
            Some(Value::String(s)) if is_tag(&s) => Ok(s),
            other => Err(self.invalid(format!("{pointer}/{key}"), "a 20-hex tag", other.as_ref())),
        }
    }

    fn op(&self, value: Value, pointer: &str) -> Result<Op, PatchError> {
        let Value::Object(mut obj) = value else {
            return Err(self.invalid(pointer.into(), "an operation object", Some(&value)));
        };
        let code = match obj.shift_remove("o") {
            Some(Value::Number(n)) if (1..=5).contains(&n.as_u64().unwrap_or(0)) => {
                n.as_u64().unwrap_or(0)
            }
            other => {
                return Err(self.invalid(
                    format!("{pointer}/o"),
                    "an operation code 1 to 5",
                    other.as_ref(),
                ))
            }
        };
        Ok(match code {
            1 | 2 => {
                let tag = self.tag(&mut obj, "t", pointer)?;
                let props = match obj.shift_remove("p") {
                    Some(Value::Object(p)) => p,
                    None if code == 1 => Map::new(),
                    other => {
                        return Err(self.invalid(
                            format!("{pointer}/p"),
                            "an object of properties",
                            other.as_ref(),
                        ))
                    }
                };
                for (key, v) in &props {
                    self.property(v, &format!("{pointer}/p/{}", escape_pointer(key)))?;
                }
                let op = InstanceOp {
                    tag,
                    props,
                    extra: obj,
                };
                if code == 1 {
                    Op::CreateInstance(op)
                } else {
                    Op::UpdateInstance(op)
                }
            }
            3 => {
                let tag = self.tag(&mut obj, "t", pointer)?;
                let follow = match obj.shift_remove("f") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if is_tag(&s) => Some(s),
                    other => {
                        return Err(self.invalid(
                            format!("{pointer}/f"),
                            "a 20-hex follow-rule tag or null",
                            other.as_ref(),
                        ))
                    }
                };
                Op::DeleteInstance(DeleteOp {
                    tag,
                    follow,
                    extra: obj,
                })
            }
            _ => {
                let rel = RelationOp {
                    rel: self.tag(&mut obj, "m", pointer)?,
                    from: self.tag(&mut obj, "l", pointer)?,
                    to: self.tag(&mut obj, "r", pointer)?,
                };
                if code == 4 {
                    Op::CreateRelation(rel, obj)
                } else {
                    Op::DeleteRelation(rel, obj)
                }
            }
        })
    }

    /// Property values are JSON scalars or typed objects `{c: 4..8, …}`; a complex
    /// property (`c:8`) must reference an instance tag.
    fn property(&self, value: &Value, pointer: &str) -> Result<(), PatchError> {
        let Value::Object(obj) = value else {
            return Ok(());
        };
        match obj.get("c").and_then(Value::as_u64) {
            Some(8) => match obj.get("t") {
                Some(Value::String(t)) if is_tag(t) => Ok(()),
                other => Err(self.invalid(format!("{pointer}/t"), "a 20-hex tag", other)),
            },
            Some(4..=7) => Ok(()),
            _ => Err(self.invalid(
                format!("{pointer}/c"),
                "a typed value with c in 4..8",
                obj.get("c"),
            )),
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A short description of a JSON value for error messages.
fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing".into(),
        Some(v) => {
            let s = json::to_compact(v);
            if s.chars().count() > 40 {
                format!("{}…", s.chars().take(40).collect::<String>())
            } else {
                s
            }
        }
    }
}
