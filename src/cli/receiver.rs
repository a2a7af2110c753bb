//! `receiver`: serve the asynchronous deployment API (see docs/receiver.md).

use super::{GlobalArgs, Step};
use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `receiver`: serve the asynchronous deployment API.
#[derive(Debug, Args)]
pub struct ReceiverArgs {
    /// The receiver config file (environments, registry, repository, tag rule).
    #[arg(long, env = "CADKIT_RECEIVER_CONFIG")]
    pub config: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port, printed on stdout).
    #[arg(long, env = "CADKIT_RECEIVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

impl Step for ReceiverArgs {
    fn run(self, _global: &GlobalArgs) -> Result<i32> {
        let secret = std::env::var("CADKIT_RECEIVER_SECRET")
            .ok()
            .filter(|s| !s.is_empty());
        let req = crate::receiver::ServeRequest {
            config: self.config,
            listen: self.listen,
            tokens: crate::receiver::auth::Tokens::from_env(),
            secret,
        };
        crate::http::serve(crate::receiver::serve(req))
            .context("cannot start the async runtime")??;
        Ok(0)
    }
}
