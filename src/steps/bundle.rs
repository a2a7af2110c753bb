//! `bundle`: pack a built codeAsData folder and its project metadata into a checked zip
//! ([`crate::bundle::bundle`]) and set the step's CI outputs (`bundle`, `sha256`).

use crate::bundle::{self, BundleReport, BundleRequest};
use crate::ci::Outputs;
use anyhow::Result;

/// Write the bundle and set the CI outputs on `out`.
pub fn run(req: &BundleRequest, out: &mut Outputs) -> Result<BundleReport> {
    let report = bundle::bundle(req)?;
    out.set("bundle", &report.output.to_string_lossy())?;
    out.set("sha256", &report.sha256)?;
    Ok(report)
}
