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
//! - [`steps`]: the product, one module per step (`tag`, `registry-auth`, `webhook`,
//!   `update`, `install`, `snapshot`), each a request in and a typed report out, on the
//!   domain modules;
//! - [`cli`]: the command line shared by every binary.
//!
//! Every public item is documented (`missing_docs` denied, no exception).

#![deny(missing_docs)]

pub mod build;
pub mod bundle;
pub mod ci;
// The CLI's doc comments are its `--help` text, written for a terminal (`host[:port]`,
// `<rootTag>`), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub mod cli;
pub mod demo;
pub mod docker_config;
pub mod env;
pub mod fsutil;
pub mod git;
pub mod graph;
pub mod http;
pub mod image;
pub mod json;
pub mod logging;
pub mod orchestrator;
pub mod patch;
pub mod receiver;
pub mod registry_auth;
pub mod retry;
pub mod snapshot;
pub mod steps;
pub mod tag;
pub mod update;
pub mod webhook;

/// The allocator of every cadkit binary. Reading and dumping a large environment makes
/// millions of small allocations (JSON values, tags, operations); with the system
/// allocator, freeing and refaulting memory took a third of a 100k-instance snapshot's
/// CPU time. mimalloc keeps freed pages for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
