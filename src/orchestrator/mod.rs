//! The Olympe orchestrator: the protocol shared by cadkit's client and its reference server.
//!
//! - [`protocol`]: the wire format of `@olympeio/toolkit` 1.2.3 (AMQP command and deployment
//!   messages, reply lines, HTTP paths, graphDef queries, defaults), typed and documented;
//! - [`server`]: `cadkit orchestrator`, a reference orchestrator over the embedded SQLite
//!   environment that speaks that protocol (for local development, demos and tests).

pub mod protocol;
pub mod server;
