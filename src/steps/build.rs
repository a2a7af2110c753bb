//! `buildCodeAsData`: gather the patches of a project and of its npm dependencies into
//! the working dir ([`crate::build::build`]), then set the step's CI outputs
//! (`working-dir`, `files`, `patches`), its warnings and a summary table.

use crate::build::{self, BuildReport, BuildRequest};
use crate::ci::Outputs;
use anyhow::Result;

/// Build (or, with `dry_run`, only plan) and set the CI outputs on `out`; a dry run also
/// says on stderr what each module would write.
pub fn run(req: &BuildRequest, out: &mut Outputs) -> Result<BuildReport> {
    let report = build::build(req)?;
    if req.dry_run {
        for m in &report.modules {
            eprintln!(
                "would write {} files to {}/{}",
                m.files,
                report.working_dir.display(),
                m.path
            );
        }
    }
    for w in &report.warnings {
        out.report_warning(w);
    }
    out.set("working-dir", &report.working_dir.to_string_lossy())?;
    out.set("files", &report.files.to_string())?;
    out.set("patches", &report.patches.to_string())?;
    let mut md = String::from("### Code as data\n\n| module | files |\n|---|---|\n");
    for m in &report.modules {
        md.push_str(&format!("| `{}` | {} |\n", m.name, m.files));
    }
    out.summary(&md)?;
    Ok(report)
}
