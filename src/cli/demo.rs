//! `cadkit demo`: the delivery pipeline on the bundled sample project.

use super::{GlobalArgs, Step};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// `demo`: run the delivery pipeline on the bundled sample project.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The sample project to run on (default: the one embedded in the binary).
    #[arg(long = "sample", env = "CADKIT_DEMO_SAMPLE")]
    pub sample: Option<PathBuf>,
    /// Where the demo works (default: a fresh temporary folder, removed at the end).
    #[arg(long = "workdir", env = "CADKIT_DEMO_WORKDIR")]
    pub workdir: Option<PathBuf>,
}

impl Step for DemoArgs {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        let report = crate::demo::run(&crate::demo::DemoRequest {
            sample: self.sample,
            workdir: self.workdir,
        })?;
        let out = crate::ci::Outputs::detect();
        super::emit(out, &report, global, crate::ci::Stdout::Report)?;
        Ok(0)
    }
}
