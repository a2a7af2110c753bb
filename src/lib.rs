//! cadkit: code-as-data delivery in CI.
//!
//! One library, thin binaries. Modules are named after the domain:
//! - [`patch`]: the patch file model (read, validate, write byte-exact);
//! - [`build`]: `buildCodeAsData` and `dependencies`;
//! - [`ci`]: the CI platform layer (GitHub, GitLab, Azure, plain shell);
//! - [`graph`], [`env`](mod@env): the composition graph and the environments holding it;
//! - [`snapshot`], [`git`]: the dumper (graph → deterministic patch files) and its git flow;
//! - [`orchestrator`]: the orchestrator protocol (AMQP + HTTP) and the reference server;
//! - [`update`]: converging an environment to its patches (plan, apply, lock, drift);
//! - [`image`]: daemonless OCI images;
//! - [`steps`]: the CI steps around images (`tag`, `registry-auth`, `webhook`), one module
//!   each, on the domain modules [`tag`], [`registry_auth`], [`webhook`];
//! - [`cli`]: the command line shared by every binary.
//!
//! Modules marked `#[deny(missing_docs)]` below have every public item documented; the
//! mark keeps them so.

#[deny(missing_docs)]
pub mod build;
#[deny(missing_docs)]
pub mod bundle;
#[deny(missing_docs)]
pub mod ci;
// The CLI's doc comments are its `--help` text, written for a terminal (`host[:port]`,
// `<rootTag>`), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub mod cli;
#[deny(missing_docs)]
pub mod demo;
#[deny(missing_docs)]
pub mod docker_config;
pub mod env;
#[deny(missing_docs)]
pub mod fsutil;
#[deny(missing_docs)]
pub mod git;
#[deny(missing_docs)]
pub mod graph;
#[deny(missing_docs)]
pub mod http;
#[deny(missing_docs)]
pub mod image;
#[deny(missing_docs)]
pub mod json;
#[deny(missing_docs)]
pub mod logging;
pub mod orchestrator;
#[deny(missing_docs)]
pub mod patch;
#[deny(missing_docs)]
pub mod receiver;
#[deny(missing_docs)]
pub mod registry_auth;
#[deny(missing_docs)]
pub mod retry;
#[deny(missing_docs)]
pub mod snapshot;
pub mod steps;
#[deny(missing_docs)]
pub mod tag;
pub mod update;
#[deny(missing_docs)]
pub mod webhook;
