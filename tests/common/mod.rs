//! Shared test harness: reference packages, servers on loopback, temp projects.
#![allow(dead_code)]

pub mod ci_steps;
pub mod image;
pub mod orchestrator;
pub mod rabbit;
pub mod receiver;
pub mod reference;
