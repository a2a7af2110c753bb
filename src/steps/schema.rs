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

/// One step's report type: its schema as printed and its own fields that clash with the
/// envelope.
struct Step {
    name: &'static str,
    schema: Schema,
    clashes: Vec<String>,
}

fn step<R: JsonSchema>(name: &'static str) -> Step {
    Step {
        name,
        schema: schema::<R>(),
        clashes: envelope_clashes::<R>(),
    }
}

/// Every step and command with a typed report, by name (a command's toolkit name).
fn steps() -> Vec<Step> {
    use super::envcmd as env;
    vec![
        step::<crate::build::BuildReport>("build"),
        step::<crate::image::ImageReport>("image"),
        step::<super::registry_auth::Report>("registry-auth"),
        step::<super::tag::Report>("tag"),
        step::<super::webhook::Report>("webhook"),
        step::<super::update::UpdateStepReport>("update"),
        step::<super::clean::Report>("cleanCodeAsData"),
        step::<crate::bundle::BundleReport>("bundle"),
        step::<super::install::InstallStepReport>("install"),
        step::<super::snapshot::Report>("snapshot"),
        step::<crate::env::orchestrator::backup::SnapshotReport>("snapshotUsers"),
        step::<crate::env::orchestrator::backup::SnapshotReport>("snapshotBusinessData"),
        step::<env::RestoreReport>("restoreUsers"),
        step::<env::RestoreReport>("restoreBusinessData"),
        step::<env::ModesReport>("maintenance"),
        step::<env::ModesReport>("codeAsDataReadMode"),
        step::<env::BroadcastRefreshReport>("broadcastRefreshApp"),
        step::<env::UpdateUserReport>("updateUser"),
        step::<env::StartGcReport>("startGC"),
        step::<env::StatsDbReport>("statsDB"),
        step::<env::CheckDbReport>("checkDB"),
        step::<env::IsDbInitializedReport>("isDbInitialized"),
        step::<env::UpgradeConfigReport>("getUpgradeConfig"),
        step::<env::ClearGraphDefCacheReport>("clearGraphDefCache"),
        step::<env::CreatePatchesBackupReport>("createPatchesBackup"),
        step::<env::DryRunReport>("environment-dry-run"),
    ]
}

/// Every step with a typed report and the schema of its printed report, by step name.
pub fn all() -> Vec<(&'static str, Schema)> {
    steps()
        .into_iter()
        .map(
            |Step {
                 name, mut schema, ..
             }| {
                schema.insert("title".into(), format!("cadkit {name} report").into());
                (name, schema)
            },
        )
        .collect()
}

fn schema<R: JsonSchema>() -> Schema {
    schemars::schema_for!(Envelope<R>)
}

/// The step's own top-level fields that are also envelope fields (must be none); for a
/// report that is one of several shapes (`anyOf`/`oneOf`), those of every shape.
pub fn envelope_clashes<R: JsonSchema>() -> Vec<String> {
    let own = schemars::schema_for!(R);
    let mut props = Vec::new();
    collect_properties(own.as_value(), own.as_value(), &mut props);
    props.sort();
    props.dedup();
    props
        .into_iter()
        .filter(|k| ENVELOPE_FIELDS.contains(&k.as_str()))
        .collect()
}

/// Top-level property names of `schema`, through `anyOf`/`oneOf`/`allOf` and local `$ref`s.
fn collect_properties(root: &serde_json::Value, schema: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(target) = schema
        .get("$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        collect_properties(root, target, out);
    }
    if let Some(p) = schema.get("properties").and_then(|p| p.as_object()) {
        out.extend(p.keys().cloned());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for sub in schema
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            collect_properties(root, sub, out);
        }
    }
}

/// [`envelope_clashes`] of every step in [`all`], as `step: field`.
pub fn all_envelope_clashes() -> Vec<String> {
    steps()
        .into_iter()
        .flat_map(|s| {
            s.clashes
                .into_iter()
                .map(move |f| format!("{}: {f}", s.name))
        })
        .collect()
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
