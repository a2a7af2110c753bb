//! cadkit's one integration test binary (see `README.md` beside this file): one module per
//! area, shared helpers in `common`. Two tiers:
//! - hermetic (always compiled): needs only cargo, git, bash and the crate itself
//!   (in-process servers on 127.0.0.1 included); `cargo test` runs exactly these;
//! - services (`--features services`, which `scripts/test` enables): real servers and
//!   tools installed by `scripts/setup` (docker-registry, lighttpd git server, skopeo,
//!   umoci, gitlab-ci-local, the Python venv) and the reference npm packages.

// A test crate: its helpers are `pub` for the modules, and failing fast with `unwrap` is
// how a test reports (the crate-wide lints in Cargo.toml are for the library).
#![allow(unreachable_pub, clippy::unwrap_used)]

mod common;

// Hermetic tier.
mod build;
mod ci_packaging;
mod demo;
mod dry_run;
mod report_shape;
mod schema;
mod secrets;
mod snapshot_cli;
mod snapshot_dump;
mod snapshot_packaging;
mod tag_cli;
mod toolkit_cli;
mod update;
mod webhook;

// Services tier.
#[cfg(feature = "services")]
mod azure_templates;
#[cfg(feature = "services")]
mod build_compat;
#[cfg(feature = "services")]
mod ci_lint;
#[cfg(feature = "services")]
mod env_sqlite;
#[cfg(feature = "services")]
mod github_actions;
#[cfg(feature = "services")]
mod gitlab_ci_local;
#[cfg(feature = "services")]
mod image;
#[cfg(feature = "services")]
mod orchestrator_binaries;
#[cfg(feature = "services")]
mod orchestrator_client;
#[cfg(feature = "services")]
mod orchestrator_client_e2e;
#[cfg(feature = "services")]
mod orchestrator_rollback;
#[cfg(feature = "services")]
mod orchestrator_toolkit;
#[cfg(feature = "services")]
mod orchestrator_users;
#[cfg(feature = "services")]
mod orchestrator_wire;
#[cfg(feature = "services")]
mod patch_roundtrip;
#[cfg(feature = "services")]
mod receiver;
#[cfg(feature = "services")]
mod receiver_faults;
#[cfg(feature = "services")]
mod receiver_registry;
#[cfg(feature = "services")]
mod registry_auth;
#[cfg(feature = "services")]
mod snapshot_action;
#[cfg(feature = "services")]
mod snapshot_core;
#[cfg(feature = "services")]
mod snapshot_git;
#[cfg(feature = "services")]
mod snapshot_gitlab;
