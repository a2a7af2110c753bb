//! Shared test harness: the command builder that isolates the binaries from the caller's
//! CI, servers on loopback (registry, git server), reference packages, temp projects.
#![allow(dead_code)]

// Hermetic helpers.
pub mod ci_steps;
pub mod cmd;
pub mod reference;
pub mod update;

// Helpers of the services tier (servers and tools installed by scripts/setup).
#[cfg(feature = "services")]
pub mod gitserver;
#[cfg(feature = "services")]
pub mod image;
#[cfg(feature = "services")]
pub mod registry;
#[cfg(feature = "services")]
pub mod snapshot;
#[cfg(feature = "services")]
pub mod tools;

pub use cmd::{cadkit, cadkit_bin, command};
#[cfg(feature = "services")]
pub mod orchestrator;
#[cfg(feature = "services")]
pub mod orchestrator_cli;
#[cfg(feature = "services")]
pub mod rabbit;
#[cfg(feature = "services")]
pub mod receiver;
