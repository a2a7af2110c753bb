pub mod snapshot;
pub mod update;
