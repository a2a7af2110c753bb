//! `bundle`: pack a built `dist/codeAsData` and its project metadata into a checked zip.

use super::{GlobalArgs, Step};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `bundle`: pack a built codeAsData folder and its project metadata into a checked
/// zip.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The built codeAsData folder (holding import_order.json).
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: PathBuf,
    /// Metadata: a project.json (name, version, description, author) or the package.json.
    #[arg(long, env = "CADKIT_BUNDLE_PROJECT", default_value = "package.json")]
    pub project: PathBuf,
    /// The zip to write.
    #[arg(
        long,
        short = 'o',
        env = "CADKIT_BUNDLE_OUTPUT",
        default_value = "dist/bundle.zip"
    )]
    pub output: PathBuf,
}

impl Step for BundleArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let req = crate::bundle::BundleRequest {
            dist: self.working_dir,
            project: None,
            project_file: Some(self.project),
            output: self.output,
        };
        let mut out = crate::ci::Outputs::detect();
        let report = crate::steps::bundle::run(&req, &mut out)?;
        super::emit(out, &report, global, crate::ci::Stdout::Report)?;
        Ok(0)
    }
}
