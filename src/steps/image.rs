//! `image`: build a frontend, backend or code-as-data image without a Docker daemon and
//! push it (or write an OCI layout) with [`crate::image::run`], then set the step's CI
//! outputs (`digest`, `references`, `reference`, `size`, `unchanged`) and a summary table.

use crate::ci::Outputs;
use crate::image::{self, ImageReport, ImageRequest};
use anyhow::Result;

/// Build and push (or, with `dry_run`, only plan) the image and set the CI outputs on
/// `out`.
pub fn run(req: &ImageRequest, out: &mut Outputs) -> Result<ImageReport> {
    let report = image::run(req)?;
    out.set("digest", &report.digest)?;
    out.set("references", &report.references.join(","))?;
    if let Some(first) = report.references.first() {
        out.set("reference", first)?;
    }
    out.set("size", &report.size.to_string())?;
    out.set("unchanged", if report.unchanged { "true" } else { "false" })?;
    let mut md = format!(
        "### Image ({:?}{})\n\n| reference | digest |\n|---|---|\n",
        report.kind,
        if report.dry_run { ", dry run" } else { "" }
    );
    for r in &report.references {
        md.push_str(&format!("| `{r}` | `{}` |\n", report.digest));
    }
    out.summary(&md)?;
    Ok(report)
}
