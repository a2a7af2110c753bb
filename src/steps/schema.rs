//! The output contract: the JSON Schema of each step's report as printed, i.e. the step's
//! own fields plus the envelope [`Outputs::finish`](crate::ci::Outputs::finish) adds
//! (`dryRun`, `outputs`, `warnings`). The schemas are committed under `schema/<step>.json`;
//! a test checks they equal [`all`] (refresh them with
//! `CADKIT_WRITE_SCHEMAS=1 cargo test --test all schema::`, see `schema/README.md`).

use crate::ci::outputs::ENVELOPE_FIELDS;
use schemars::{JsonSchema, Schema};
use std::collections::BTreeMap;

/// A step report as printed: the step's fields, then the envelope's.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase")]
pub struct Envelope<R> {
    /// The step's own fields.
    #[schemars(flatten)]
    pub report: R,
    /// Nothing was written: outputs are only listed.
    pub dry_run: bool,
    /// The CI outputs set (or, in a dry run, that would have been set), by name.
    pub outputs: BTreeMap<String, String>,
    /// Warnings of the step and of the CI layer, redacted (absent when none).
    pub warnings: Option<Vec<String>>,
}

/// Every step with a typed report and the schema of its printed report, by step name.
pub fn all() -> Vec<(&'static str, Schema)> {
    let steps = vec![
        ("build", schema::<crate::build::BuildReport>()),
        ("image", schema::<crate::image::ImageReport>()),
        ("registry-auth", schema::<super::registry_auth::Report>()),
        ("tag", schema::<super::tag::Report>()),
        ("webhook", schema::<super::webhook::Report>()),
    ];
    steps
        .into_iter()
        .map(|(step, mut s)| {
            s.insert("title".into(), format!("cadkit {step} report").into());
            (step, s)
        })
        .collect()
}

fn schema<R: JsonSchema>() -> Schema {
    schemars::schema_for!(Envelope<R>)
}

/// The step's own top-level fields that are also envelope fields (must be none).
pub fn envelope_clashes<R: JsonSchema>() -> Vec<String> {
    let own = schemars::schema_for!(R);
    let props = own
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    props
        .into_iter()
        .filter(|k| ENVELOPE_FIELDS.contains(&k.as_str()))
        .collect()
}

/// [`envelope_clashes`] of every step in [`all`], as `step: field`.
pub fn all_envelope_clashes() -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |step: &str, fields: Vec<String>| {
        out.extend(fields.into_iter().map(|f| format!("{step}: {f}")));
    };
    add("build", envelope_clashes::<crate::build::BuildReport>());
    add("image", envelope_clashes::<crate::image::ImageReport>());
    add(
        "registry-auth",
        envelope_clashes::<super::registry_auth::Report>(),
    );
    add("tag", envelope_clashes::<super::tag::Report>());
    add("webhook", envelope_clashes::<super::webhook::Report>());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_step_report_uses_an_envelope_field() {
        assert_eq!(super::all_envelope_clashes(), Vec::<String>::new());
    }

    #[test]
    fn every_schema_lists_the_envelope_and_the_step_field() {
        for (step, s) in super::all() {
            let props = s.get("properties").and_then(|p| p.as_object()).unwrap();
            for f in ["dryRun", "outputs", "warnings"] {
                assert!(props.contains_key(f), "{step}: {f}");
            }
            assert!(!props.is_empty(), "{step}");
        }
    }
}
