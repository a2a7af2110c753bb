//! `snapshotUsers` and `snapshotBusinessData`: dump users / business data of an
//! orchestrator and upload them to its backup area (see
//! [`crate::env::orchestrator::backup`]); and the `snapshot.*` options `install` shares.

use super::bus::BackupFoldersArgs;
use super::{parse_bool, GlobalArgs, Step};
use crate::env::orchestrator::backup::SnapshotRequest;
use crate::steps::envcmd::EnvCommand;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// The toolkit's `snapshot.*` options of a users / business-data dump.
#[derive(Debug, Args, Clone)]
pub struct SnapshotDataArgs {
    /// Local folder the users and business data are written under.
    #[arg(
        long = "snapshot.dir",
        env = "CADKIT_SNAPSHOT_DIR",
        default_value = "./snapshot"
    )]
    pub dir: PathBuf,
    /// The users and business-data folders.
    #[command(flatten)]
    pub folders: BackupFoldersArgs,
    /// Where projects holding business data are looked for.
    #[arg(long = "snapshot.dataRootTag", default_value = crate::patch::tags::HOME)]
    pub data_root_tag: String,
    /// Leave User instances out of the business data.
    #[arg(long = "snapshot.excludeUsers", env = "CADKIT_SNAPSHOT_EXCLUDE_USERS", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub exclude_users: bool,
    /// Also dump binary contents (not available through graphDef: a warning).
    #[arg(long = "snapshot.dumpBinaries", env = "CADKIT_SNAPSHOT_DUMP_BINARIES", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub dump_binaries: bool,
}

impl SnapshotDataArgs {
    /// The library request.
    pub fn request(&self) -> SnapshotRequest {
        SnapshotRequest {
            dir: self.dir.clone(),
            users_dir: self.folders.users_dir.clone(),
            business_data_dir: self.folders.business_data_dir.clone(),
            data_root_tag: self.data_root_tag.clone(),
            exclude_users: self.exclude_users,
            dump_binaries: self.dump_binaries,
        }
    }
}

/// `snapshotUsers` / `snapshotBusinessData` (orchestrator only: an embedded environment
/// keeps its users and data across `install` by itself).
#[derive(Debug, Args)]
pub struct SnapshotBackupArgs {
    /// The orchestrator dumped (the embedded environment needs no backup).
    #[command(flatten)]
    pub env: super::envcmd::EnvArg,
    /// Where the dump goes, locally and in the backup area.
    #[command(flatten)]
    pub snapshot: SnapshotDataArgs,
}

impl SnapshotBackupArgs {
    /// Dump and upload users (`business` false) or business data.
    pub fn run_snapshot(self, business: bool, global: &GlobalArgs) -> Result<i32> {
        let command = EnvCommand::SnapshotData {
            business,
            request: self.snapshot.request(),
        };
        self.env.run(command, global)
    }
}

impl Step for SnapshotBackupArgs {
    /// As `snapshotUsers` (the one-step binary).
    fn run(self, g: &GlobalArgs) -> Result<i32> {
        self.run_snapshot(false, g)
    }
}
