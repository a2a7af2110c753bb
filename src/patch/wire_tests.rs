use super::*;
use crate::patch::read::Reader;
use std::path::Path;

/// The full reader's answer for `text`.
fn full(text: &str) -> Result<Patch, crate::patch::PatchError> {
    let v: Value = serde_json::from_str(text).unwrap();
    Reader {
        file: Path::new("f.json"),
    }
    .patch(v)
}

fn wire(text: &str) -> Option<Patch> {
    serde_json::from_str::<WirePatch>(text).ok().map(|w| w.0)
}

const T1: &str = "0123456789abcdef0123";
const T2: &str = "00000000000000000001";

/// What the one-pass reader accepts, it reads as the full reader does: operations of each
/// code, extras of operations and of the document in their order, typed properties.
#[test]
fn the_one_pass_reader_agrees_with_the_full_reader() {
    let docs = [
        format!(
            r#"{{"operations":[{{"o":1,"t":"{T1}","p":{{"{T2}":"n","x":{{"c":8,"t":"{T2}"}},"y":null}},"s":1,"a":[1]}},
               {{"t":"{T1}","o":2,"p":{{"{T2}":{{"c":5,"v":1.5}}}}}},
               {{"o":3,"t":"{T1}","f":null}},{{"o":3,"t":"{T1}","f":"{T2}","z":true}},{{"o":3,"t":"{T1}"}},
               {{"l":"{T1}","m":"{T2}","o":4,"r":"{T2}","lm":"{T1}"}},{{"o":5,"m":"{T2}","l":"{T1}","r":"{T2}"}}],
               "rootTag":"{T1}","zz":1,"aa":{{"b":2}},"optionalOperations":[{{"o":1,"t":"{T2}"}}]}}"#
        ),
        r#"{"rootTag":"null","operations":[]}"#.to_string(),
    ];
    for d in &docs {
        let w = wire(d).expect("read in one pass");
        assert_eq!(w, full(d).unwrap(), "{d}");
    }
}

/// Whatever it does not decide, it leaves to the full reader: an error, a duplicate field,
/// fields of another code (kept as extras by the full reader), a null list.
#[test]
fn the_one_pass_reader_gives_up_on_what_it_does_not_decide() {
    let cases = [
        format!(r#"{{"rootTag":"{T1}","operations":[{{"o":1,"t":"{T1}","l":"{T2}"}}]}}"#),
        format!(
            r#"{{"rootTag":"{T1}","operations":[{{"o":4,"m":"{T2}","l":"{T1}","r":"{T2}","t":"{T1}"}}]}}"#
        ),
        format!(r#"{{"rootTag":"{T1}","operations":[{{"o":3,"t":"{T1}","p":{{}}}}]}}"#),
        format!(r#"{{"rootTag":"{T1}","operations":[{{"o":1,"t":"{T1}","t":"{T2}"}}]}}"#),
        format!(r#"{{"rootTag":"{T1}","operations":[],"x":1,"x":2}}"#),
        format!(r#"{{"rootTag":"{T1}","operations":[],"operations":[]}}"#),
        format!(r#"{{"rootTag":"{T1}","operations":[],"optionalOperations":null}}"#),
        format!(r#"{{"rootTag":"{T1}","operations":[{{"o":2,"t":"{T1}"}}]}}"#),
        format!(
            r#"{{"rootTag":"{T1}","operations":[{{"o":1,"t":"{T1}","p":{{"a":{{"c":9}}}}}}]}}"#
        ),
        format!(r#"{{"rootTag":"{T1}","operations":[{{"o":6,"t":"{T1}"}}]}}"#),
        r#"{"rootTag":"bad","operations":[]}"#.to_string(),
        r#"{"operations":[]}"#.to_string(),
    ];
    for c in &cases {
        assert!(wire(c).is_none(), "{c}");
    }
    // Through `Patch::parse`, the full reader then keeps or refuses them as before.
    let kept = Patch::parse(cases[0].as_bytes(), Path::new("f.json")).unwrap();
    let mut expected = full(&cases[0]).unwrap();
    expected.layout = crate::patch::Layout::Compact;
    assert_eq!(kept, expected);
    let Op::CreateInstance(i) = &kept.operations[0] else {
        panic!("{kept:?}")
    };
    assert_eq!(i.extra.get("l"), Some(&Value::String(T2.into())));
    let err = Patch::parse(cases[7].as_bytes(), Path::new("f.json")).unwrap_err();
    assert_eq!(err.to_string(), full(&cases[7]).unwrap_err().to_string());
    assert!(err.to_string().contains("/operations/0/p"), "{err}");
}

/// NDJSON answers: every line an operation (blank lines skipped), or the full reader.
#[test]
fn ndjson_lines_are_read_in_one_pass_or_left_whole() {
    let a = format!("{{\"o\":1,\"t\":\"{T1}\"}}\n\n{{\"o\":4,\"m\":\"{T2}\",\"l\":\"{T1}\",\"r\":\"{T2}\"}}\r\n");
    let ops = ndjson_ops(a.as_bytes()).unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1].code(), 4);
    assert!(ndjson_ops(format!("{{\"o\":1,\"t\":\"{T1}\"}}\n{{\"o\":9}}").as_bytes()).is_none());
    assert_eq!(ndjson_ops(b"").unwrap(), vec![]);
}
