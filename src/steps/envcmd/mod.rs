//! The toolkit's environment commands as one step: [`run`] runs an [`EnvCommand`] on the
//! selected environment and returns its typed report ([`report`] holds the report types,
//! one per command, embedded or orchestrator shaped).

pub mod report;
mod run;

pub use report::*;
pub use run::{run, EnvCommand, EnvRequest, EnvStepReport};
