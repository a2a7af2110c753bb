//! JSON output that matches what the Olympe toolkit writes, byte for byte.
//!
//! The toolkit (a Node.js program) writes patch files with `json-stringify-deterministic`
//! (sorted keys, one-space indentation) and small metadata files with `JSON.stringify`.
//! Both differ from `serde_json`'s output in number formatting (JavaScript prints `1` for
//! `1.0` and `1e21` for `1e21`), key order (UTF-16 code-unit order) and the way empty
//! arrays and objects are laid out (`[` newline indentation `]`). Reproducing those rules
//! exactly is what makes a snapshot written by cadkit diff cleanly against one written by
//! the toolkit.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Serialise like `json-stringify-deterministic` with `space: ' '`, plus the trailing
/// newline the toolkit's dumper appends: the patch-file format.
pub fn to_deterministic(value: &Value) -> String {
    let mut out = String::with_capacity(4096);
    write_deterministic(value, 0, &mut out);
    out.push('\n');
    out
}

/// Serialise like JavaScript's `JSON.stringify(value)` with no indentation: keys in
/// insertion order (serde_json is built with `preserve_order`).
pub fn to_compact(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_compact(value, &mut out);
    out
}

/// Serialise like `JSON.stringify(value, null, indent)`; used for the `dependencies` report.
pub fn to_pretty(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_pretty(value, indent, 0, &mut out);
    out
}

fn newline_indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push(' ');
    }
}

fn write_deterministic(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(level + 1, out);
                write_deterministic(item, level + 1, out);
            }
            newline_indent(level, out);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(level + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_deterministic(item, level + 1, out);
            }
            newline_indent(level, out);
            out.push('}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_compact(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_compact(item, out);
            }
            out.push('}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_pretty(value: &Value, indent: usize, level: usize, out: &mut String) {
    let pad = |n: usize, out: &mut String| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * indent));
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(level + 1, out);
                write_pretty(item, indent, level + 1, out);
            }
            pad(level, out);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(level + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_pretty(item, indent, level + 1, out);
            }
            pad(level, out);
            out.push('}');
        }
        other => write_compact(other, out),
    }
}

/// Keys ordered the way JavaScript's default `Array.prototype.sort` orders strings:
/// by UTF-16 code units (differs from byte order only above U+FFFF).
fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| js_string_cmp(a.0, b.0));
    entries
}

/// Compare two strings by UTF-16 code units, as JavaScript does.
pub fn js_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_scalar(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(_) | Value::Object(_) => unreachable!("containers are handled by callers"),
    }
}

/// JavaScript number formatting: what `JSON.parse` then `JSON.stringify` gives.
fn write_number(n: &serde_json::Number, out: &mut String) {
    const SAFE: u64 = 1 << 53;
    if let Some(u) = n.as_u64() {
        if u <= SAFE {
            out.push_str(itoa_u64(u).as_str());
            return;
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= SAFE {
            out.push_str(&i.to_string());
            return;
        }
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0'); // JSON.stringify(-0) is "0"
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format(f));
}

fn itoa_u64(u: u64) -> String {
    u.to_string()
}

/// `JSON.stringify` string escaping: `"` `\` and control characters only; everything
/// else, non-ASCII included, is written raw.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<&str> = match ch {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{08}' => Some("\\b"),
            '\u{0c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", ch as u32)),
        }
        start = i + ch.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deterministic_layout_matches_the_toolkit() {
        let v =
            json!({"rootTag": "a", "operations": [{"o": 1, "p": {}}], "optionalOperations": []});
        assert_eq!(
            to_deterministic(&v),
            "{\n \"operations\": [\n  {\n   \"o\": 1,\n   \"p\": {\n   }\n  }\n ],\n \"optionalOperations\": [\n ],\n \"rootTag\": \"a\"\n}\n"
        );
    }

    #[test]
    fn numbers_are_formatted_like_javascript() {
        let v: Value =
            serde_json::from_str("[1.0, 0.0012, 20093.5, -0.0, 1e21, 1e-7, 9007199254740993, -3]")
                .unwrap();
        assert_eq!(
            to_compact(&v),
            "[1,0.0012,20093.5,0,1e+21,1e-7,9007199254740992,-3]"
        );
    }

    #[test]
    fn strings_escape_only_what_json_stringify_escapes() {
        let v = json!("a\"b\\c\n\u{1}é😀\u{2028}");
        assert_eq!(to_compact(&v), "\"a\\\"b\\\\c\\n\\u0001é😀\u{2028}\"");
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        let v = json!({"\u{ffff}": 1, "😀": 2, "b": 3, "B": 4});
        assert_eq!(
            to_deterministic(&v),
            "{\n \"B\": 4,\n \"b\": 3,\n \"😀\": 2,\n \"\u{ffff}\": 1\n}\n"
        );
    }

    #[test]
    fn pretty_matches_json_stringify_with_indent() {
        let v = json!([{"name": "x", "n": []}]);
        assert_eq!(
            to_pretty(&v, 4),
            "[\n    {\n        \"name\": \"x\",\n        \"n\": []\n    }\n]"
        );
    }
}
