//! Executing one AMQP command on the embedded environment: the reply lines.
//!
//! Each command returns its result lines; the caller sends them, then the status line
//! (`0` on success, `1` with the error as a line on failure).

use super::folders;
use super::state::{safe_join, State};
use crate::env::sqlite::envcmd;
use crate::orchestrator::protocol::{Command, CopySource};
use crate::patch::{FileKind, InstanceOp, Op, Patch};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;

/// Test hook (feature `fault-injection` only): a folder name; a `load` of that folder
/// applies it, then answers a failure, as an orchestrator whose import fails half-way
/// (the reference one loads a folder in one transaction, so a real failure changes nothing).
#[cfg(feature = "fault-injection")]
pub const FAIL_AFTER_LOAD_ENV: &str = "CADKIT_ORCHESTRATOR_FAIL_AFTER_LOAD";

#[cfg(feature = "fault-injection")]
fn fail_after_load(folder: Option<&str>) -> Result<()> {
    let Some(target) = std::env::var_os(FAIL_AFTER_LOAD_ENV) else {
        return Ok(());
    };
    if folder.is_some_and(|f| target == f) {
        bail!(
            "Import failed after loading {} (injected fault)",
            folder.unwrap_or_default()
        );
    }
    Ok(())
}

/// Run `cmd`; `Err` means status code 1 (its message becomes a reply line).
///
/// A dispatcher only: each command with more than a line of work has a function of its
/// own below, named after the command.
pub fn execute(state: &State, cmd: &Command) -> Result<Vec<String>> {
    let env_path = state.opts.env.as_path();
    match cmd {
        Command::ResetDb { .. } => reset_db(state),
        Command::Load {
            path_to_root_folder,
            use_backup_folder,
            ignore_relation_fail,
            ..
        } => load(
            state,
            path_to_root_folder.as_deref(),
            *use_backup_folder,
            *ignore_relation_fail,
        ),
        Command::LoadPatch { file_path, .. } => load_patch(state, file_path),
        Command::SetPassword {
            user_name,
            user_tag,
            user_password,
        } => set_password(state, user_tag, user_name, user_password),
        Command::CreateToken => Ok(vec![state.new_token()]),
        Command::CheckIfNodesExist { node_tags_array } => check_nodes(state, node_tags_array),
        Command::GetRootTags {
            root_folder,
            use_backup_folder,
        } => {
            let map = folders::root_tags(state, root_folder.as_deref(), *use_backup_folder)?;
            Ok(vec![serde_json::to_string(&map)?])
        }
        Command::UnzipPatches {
            use_backup_folder,
            file_path,
            folder_path,
        } => unzip_patches(
            state,
            *use_backup_folder,
            file_path.as_deref(),
            folder_path.as_deref(),
        ),
        Command::CopyPatches {
            sources,
            backup,
            destination_folder,
        } => copy_patches(state, sources, *backup, destination_folder),
        Command::LoadBinaryFiles { folder_path } => {
            let n = folders::load_binaries(state, folder_path.as_deref())?;
            Ok(vec![format!("Loaded {n} binary files")])
        }
        Command::UpdateNode {
            tag,
            node_properties_json,
        } => update_node(state, tag, node_properties_json),
        Command::StartGc { backup_folder, .. } => start_gc(state, *backup_folder),
        Command::CodeAsDataReadMode { activate } => read_mode(state, *activate),
        Command::RefreshSubscriptionCache => Ok(vec!["Subscription cache refreshed".into()]),
        Command::BroadcastRefreshApp => Ok(vec![envcmd::broadcast_refresh(env_path)?.to_string()]),
        Command::StatsDb => Ok(vec![envcmd::stats(env_path)?.to_string()]),
        Command::CheckDb => check_db(state),
        Command::UpdateDone { no_down_time } => {
            Ok(vec![format!("Update done (noDownTime: {no_down_time})")])
        }
    }
}

/// `resetDB`: an empty patch set applied with reset, so the database keeps only what the
/// embedded environment creates on its own.
fn reset_db(state: &State) -> Result<Vec<String>> {
    state.env()?.apply_patches(std::iter::empty(), true)?;
    state.changed();
    Ok(vec!["Database reset".into()])
}

/// `load`: a folder of the patches area (or of the backup area), the area itself when no
/// folder is named.
fn load(
    state: &State,
    path_to_root_folder: Option<&str>,
    use_backup_folder: bool,
    ignore_relation_fail: bool,
) -> Result<Vec<String>> {
    let area = state.area(use_backup_folder);
    let dir = match path_to_root_folder {
        Some(p) if !p.is_empty() => safe_join(area, p)?,
        _ => area.to_path_buf(),
    };
    let lines = folders::load_folder(state, &dir, ignore_relation_fail)?;
    #[cfg(feature = "fault-injection")]
    fail_after_load(path_to_root_folder)?;
    Ok(lines)
}

fn set_password(
    state: &State,
    user_tag: &str,
    user_name: &str,
    user_password: &str,
) -> Result<Vec<String>> {
    envcmd::update_user(&state.opts.env, user_tag, user_name, user_password)?;
    state.changed();
    Ok(vec![format!("Password set for user {user_tag}")])
}

/// `unzipPatches`: the reply is the JSON array of the paths written.
fn unzip_patches(
    state: &State,
    use_backup_folder: bool,
    file_path: Option<&str>,
    folder_path: Option<&str>,
) -> Result<Vec<String>> {
    let paths = folders::unzip(state, use_backup_folder, file_path, folder_path)?;
    Ok(vec![serde_json::to_string(&paths)?])
}

/// `copyPatches`: `sources` arrives as a JSON string inside the JSON body (the toolkit's
/// encoding), so it is parsed here, with the accepted shapes in the error.
fn copy_patches(
    state: &State,
    sources: &str,
    backup: bool,
    destination_folder: &str,
) -> Result<Vec<String>> {
    let sources: Vec<CopySource> = serde_json::from_str(sources).context(
        "sources must be a JSON array of {filePath, recursive} or {destinationFilePath, zip}",
    )?;
    folders::copy(state, &sources, backup, destination_folder)
}

/// `codeAsDataReadMode`: persisted in the environment and mirrored in the state, which the
/// HTTP face reads without opening the database.
fn read_mode(state: &State, activate: bool) -> Result<Vec<String>> {
    envcmd::read_mode(&state.opts.env, activate)?;
    state.read_mode.store(activate, Ordering::SeqCst);
    Ok(vec![format!("Code as data read mode: {activate}")])
}

/// `checkDB`: an incoherent database is a failed command (status 1), with the report.
fn check_db(state: &State) -> Result<Vec<String>> {
    let report = envcmd::check(&state.opts.env)?;
    if report.get("ok") != Some(&Value::Bool(true)) {
        bail!("Data is incoherent or corrupted: {report}");
    }
    Ok(vec![report.to_string()])
}

fn load_patch(state: &State, file_path: &str) -> Result<Vec<String>> {
    let path = safe_join(&state.opts.patches_dir, file_path)?;
    let Some(kind) = FileKind::of_path(&path) else {
        bail!("{file_path}: not a patch file (*.newInst.json, *.newRel.json, …)");
    };
    let patch = Patch::read(&path)?;
    let n = state.env()?.apply_patches([(kind, &patch)], false)?;
    state.changed();
    Ok(vec![format!("Loaded {file_path}: {n} operations")])
}

fn check_nodes(state: &State, node_tags_array: &str) -> Result<Vec<String>> {
    let tags: Vec<String> = serde_json::from_str(node_tags_array)
        .context("nodeTagsArray must be a JSON array of tags")?;
    let env = state.env()?;
    let mut out = Map::new();
    for t in tags {
        let exists = env.has_instance(&t)?;
        out.insert(t, Value::Bool(exists));
    }
    Ok(vec![Value::Object(out).to_string()])
}

/// UPDATE of an existing node only: a missing one (Draw in a runtime + Core environment) is
/// reported and skipped, where the embedded UPDATE semantics would create it.
fn update_node(state: &State, tag: &str, node_properties_json: &str) -> Result<Vec<String>> {
    let props: Map<String, Value> = serde_json::from_str(node_properties_json)
        .context("nodePropertiesJson must be a JSON object")?;
    let mut env = state.env()?;
    if !env.has_instance(tag)? {
        return Ok(vec![format!("Node {tag} does not exist: not updated")]);
    }
    let mut patch = Patch::new(tag);
    patch.operations.push(Op::UpdateInstance(InstanceOp {
        tag: tag.to_string(),
        props,
        extra: Map::new(),
    }));
    env.apply_patches([(FileKind::UpdateInst, &patch)], false)?;
    state.changed();
    Ok(vec![format!("Node {tag} updated")])
}

/// Checkpoint + compact; with `backup_folder`, also drop the diff folders of the backup area.
fn start_gc(state: &State, backup_folder: bool) -> Result<Vec<String>> {
    let mut lines = vec![envcmd::start_gc(&state.opts.env)?.to_string()];
    if backup_folder {
        for d in ["diff", "rollback_diff"] {
            let p = state.opts.backup_dir.join(d);
            if p.exists() {
                std::fs::remove_dir_all(&p)?;
                lines.push(format!("Backup folder {d} cleaned"));
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
