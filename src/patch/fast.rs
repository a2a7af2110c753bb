//! Fast validation of patch bytes, for builds that only need to know a file is valid.
//!
//! The full reader builds an ordered JSON tree of every value; on a build of 100k files
//! that dominates the time. This path deserialises into borrowed views (strings point into
//! the input, property values stay raw) and checks the same rules. It accepts exactly
//! what [`Patch::parse`](super::Patch::parse) accepts: anything it cannot decide — or any
//! error — is handed to the full reader, which produces the precise message.

use super::{is_tag, Patch, PatchError};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::path::Path;

#[derive(Deserialize)]
struct View<'a> {
    #[serde(rename = "rootTag", borrow)]
    root_tag: Cow<'a, str>,
    #[serde(borrow)]
    operations: Vec<OpView<'a>>,
    /// `null` is rejected (by `some`), as the full reader does.
    #[serde(
        rename = "optionalOperations",
        default,
        borrow,
        deserialize_with = "some"
    )]
    optional_operations: Option<Vec<OpView<'a>>>,
}

#[derive(Deserialize)]
struct OpView<'a> {
    o: u8,
    #[serde(borrow)]
    t: Option<Cow<'a, str>>,
    #[serde(borrow)]
    m: Option<Cow<'a, str>>,
    #[serde(borrow)]
    l: Option<Cow<'a, str>>,
    #[serde(borrow)]
    r: Option<Cow<'a, str>>,
    /// `None`: absent; `Some(None)`: null.
    #[serde(default, borrow, deserialize_with = "some")]
    f: Option<Option<Cow<'a, str>>>,
    /// `null` is rejected (by `some`), as the full reader does.
    #[serde(default, deserialize_with = "some")]
    p: Option<Props>,
}

/// A property object, checked while it is read: true when every value is valid.
struct Props(bool);

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Props, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Props;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Props, A::Error> {
                let mut ok = true;
                while let Some((_, v)) = map.next_entry::<serde::de::IgnoredAny, &'de RawValue>()? {
                    ok &= property_ok(v);
                }
                Ok(Props(ok))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn some<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A typed property value: only `c` (and `t` for references) matter.
#[derive(Deserialize)]
struct Typed<'a> {
    c: Option<u64>,
    #[serde(borrow)]
    t: Option<Cow<'a, str>>,
}

/// Check that `bytes` is a valid patch file; the error names the file, the JSON pointer
/// and the expectation, exactly as [`Patch::parse`] would.
pub fn validate(bytes: &[u8], file: &Path) -> Result<(), PatchError> {
    if fast_ok(bytes) {
        return Ok(());
    }
    Patch::parse(bytes, file).map(|_| ())
}

fn fast_ok(bytes: &[u8]) -> bool {
    let Ok(view) = serde_json::from_slice::<View>(bytes) else {
        return false;
    };
    (is_tag(&view.root_tag) || view.root_tag == "null")
        && view
            .operations
            .iter()
            .chain(view.optional_operations.iter().flatten())
            .all(op_ok)
}

fn op_ok(op: &OpView) -> bool {
    let tag = |v: &Option<Cow<str>>| v.as_deref().is_some_and(is_tag);
    match op.o {
        1 | 2 => tag(&op.t) && (op.p.is_some() || op.o == 1) && op.p.as_ref().is_none_or(|p| p.0),
        3 => {
            tag(&op.t)
                && op
                    .f
                    .as_ref()
                    .is_none_or(|f| f.as_deref().is_none_or(is_tag))
        }
        4 | 5 => tag(&op.m) && tag(&op.l) && tag(&op.r),
        _ => false,
    }
}

fn property_ok(raw: &RawValue) -> bool {
    let text = raw.get();
    if !text.starts_with('{') {
        // Scalars and arrays are accepted as they are; `null` removes a property.
        return true;
    }
    match serde_json::from_str::<Typed>(text) {
        Ok(Typed { c: Some(8), t }) => t.as_deref().is_some_and(is_tag),
        Ok(Typed { c: Some(4..=7), .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_full_reader_accepts_and_defers_the_rest() {
        let ok = br#"{"rootTag":"null","operations":[{"o":1,"t":"0178445f8bd56b198950","p":{"a":{"c":8,"t":"0178445f8bd56b198950"},"b":[1],"c":null}},{"o":3,"t":"0178445f8bd56b198950","f":null},{"o":4,"m":"0178445f8bd56b198950","l":"0178445f8bd56b198950","r":"0178445f8bd56b198950","lm":"x"}],"x":1}"#;
        assert!(fast_ok(ok));
        assert!(Patch::parse(ok, Path::new("a")).is_ok());
        for bad in [
            r#"{"rootTag":"x","operations":[]}"#,
            r#"{"rootTag":"null","operations":[{"o":2,"t":"0178445f8bd56b198950"}]}"#,
            r#"{"rootTag":"null","operations":[{"o":1,"t":"0178445f8bd56b198950","p":{"a":{"c":9}}}]}"#,
            r#"{"rootTag":"null","operations":[{"o":4,"m":"0178445f8bd56b198950","l":42,"r":"0178445f8bd56b198950"}]}"#,
            r#"{"rootTag":"null","operations":[{"o":3,"t":"0178445f8bd56b198950","f":"zz"}]}"#,
            r#"{"rootTag":"null"}"#,
            r#"{"rootTag":"null","operations":[],"optionalOperations":null}"#,
            r#"{"rootTag":"null","operations":[{"o":1,"t":"0178445f8bd56b198950","p":null}]}"#,
        ] {
            assert!(!fast_ok(bad.as_bytes()), "{bad}");
            let e = validate(bad.as_bytes(), Path::new("f.json")).unwrap_err();
            assert!(matches!(e, PatchError::Invalid { .. }), "{e}");
        }
    }
}
