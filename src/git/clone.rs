//! One clone of the remote branch and the operations a run does on it: ask the remote for
//! its tips, fetch, hard-reset, stage the snapshot folder, commit, push.

use super::remote::{proxy, Auth, Remote};
use super::report::{FileChanges, GitError};
use super::Author;
use anyhow::{bail, Context, Result};
use git2::{
    build::CheckoutBuilder, Direction, ErrorCode, FetchOptions, IndexAddOption, Oid, PushOptions,
    Repository, ResetType, Signature,
};
use std::cell::RefCell;
use std::path::Path;

/// Extra fetches when the tip has not moved yet after a rejected push.
pub(crate) const STALE_TIP_REFETCHES: u32 = 4;

/// Marker written into the `.git` of every clone cadkit makes: only such folders are deleted.
pub(crate) const CLONE_MARKER: &str = "cadkit-snapshot-clone";

/// Remove an earlier clone, refusing to delete anything cadkit did not create.
pub(crate) fn clear_work_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let ours = dir.join(".git").join(CLONE_MARKER).is_file();
    let is_empty = dir.is_dir() && std::fs::read_dir(dir)?.next().is_none();
    if !ours && !is_empty {
        bail!(
            "{} exists and is not a clone made by cadkit; refusing to delete it. Fix: remove it, or choose another --snapshot.repositoriesDir",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("removing the old clone {}", dir.display()))
}

pub(crate) struct Clone<'r> {
    pub(crate) repo: Repository,
    pub(crate) remote: &'r Remote,
    pub(crate) branch: String,
    pub(crate) depth: u32,
}

/// What the remote advertises: the branch tip, and the default branch (ref name, tip).
type RemoteRefs = (Option<Oid>, Option<(String, Oid)>);

pub(crate) enum PushOutcome {
    Pushed,
    /// Retryable (someone pushed meanwhile), with the server's or libgit2's reason.
    Rejected(String),
}

impl Clone<'_> {
    fn fetch_options<'a>(&self, auth: &'a Auth<'a>) -> FetchOptions<'a> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(auth.callbacks());
        fo.download_tags(git2::AutotagOption::None);
        fo.proxy_options(proxy());
        if self.depth > 0 && !self.remote.local {
            fo.depth(self.depth as i32);
        }
        fo
    }

    /// The remote's refs: (branch tip, default branch name and tip).
    pub(crate) fn ls_remote(&self) -> Result<RemoteRefs> {
        let mut remote = self.repo.find_remote("origin")?;
        let auth = Auth::new(self.remote);
        let conn = remote
            .connect_auth(Direction::Fetch, Some(auth.callbacks()), Some(proxy()))
            .map_err(|e| auth.error("connecting to", e))?;
        let heads = conn.list().map_err(|e| auth.error("listing refs of", e))?;
        let wanted = format!("refs/heads/{}", self.branch);
        let mut tip = None;
        let mut head_target = None;
        let mut by_name = std::collections::HashMap::new();
        for h in heads {
            if h.name() == wanted {
                tip = Some(h.oid());
            }
            if h.name() == "HEAD" {
                head_target = h.symref_target().map(str::to_string);
            }
            by_name.insert(h.name().to_string(), h.oid());
        }
        let default = conn
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_string))
            .or(head_target)
            .or_else(|| {
                by_name
                    .keys()
                    .filter(|k| k.starts_with("refs/heads/"))
                    .min()
                    .cloned()
            })
            .and_then(|r| by_name.get(&r).map(|oid| (r, *oid)));
        Ok((tip, default))
    }

    /// Fetch `refs/heads/<src>` (depth-limited) and return its tip.
    pub(crate) fn fetch(&self, src: &str) -> Result<Oid> {
        let mut remote = self.repo.find_remote("origin")?;
        let auth = Auth::new(self.remote);
        let mut fo = self.fetch_options(&auth);
        let tracking = format!("refs/remotes/origin/{src}");
        remote
            .fetch(
                &[format!("+refs/heads/{src}:{tracking}")],
                Some(&mut fo),
                None,
            )
            .map_err(|e| auth.error(&format!("fetching branch {src:?} from"), e))?;
        drop(fo);
        self.repo
            .refname_to_id(&tracking)
            .with_context(|| format!("branch {src:?} is gone from {}", self.remote.shown))
    }

    /// Point the local branch at `tip` and make the work tree match it exactly.
    pub(crate) fn reset_to(&self, tip: Oid) -> Result<()> {
        let commit = self.repo.find_commit(tip)?;
        let local = format!("refs/heads/{}", self.branch);
        self.repo
            .reference(&local, tip, true, "cadkit: reset to the remote tip")?;
        self.repo.set_head(&local)?;
        self.repo
            .reset(commit.as_object(), ResetType::Hard, None)
            .context("resetting the clone onto the remote tip")?;
        // libgit2's hard reset replaces the checkout strategy with a plain FORCE, which keeps
        // untracked files: remove them (and ignored ones) with a second checkout, so the
        // work tree is exactly the tip.
        let mut co = CheckoutBuilder::new();
        co.force().remove_untracked(true).remove_ignored(true);
        self.repo
            .checkout_head(Some(&mut co))
            .context("cleaning the clone (untracked files)")?;
        Ok(())
    }

    /// Stage the snapshot folder and list how its tree differs from `base`.
    pub(crate) fn stage(&self, folder: &str, base: Option<Oid>) -> Result<(Oid, FileChanges)> {
        let mut index = self.repo.index()?;
        index.update_all([folder], None)?;
        index.add_all([folder], IndexAddOption::DEFAULT, None)?;
        index.write()?;
        let tree_id = index.write_tree()?;
        let new_tree = self.repo.find_tree(tree_id)?;
        let base_tree = match base {
            Some(b) => Some(self.repo.find_commit(b)?.tree()?),
            None => None,
        };
        let diff = self
            .repo
            .diff_tree_to_tree(base_tree.as_ref(), Some(&new_tree), None)?;
        let mut files = FileChanges::default();
        let prefix = format!("{folder}/");
        for d in diff.deltas() {
            let path = d
                .new_file()
                .path()
                .or_else(|| d.old_file().path())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if !path.starts_with(&prefix) {
                // Only the snapshot folder is ours; nothing else is staged, so this is unreachable
                // unless the producer wrote outside it, and then it is not committed.
                continue;
            }
            match d.status() {
                git2::Delta::Added | git2::Delta::Copied | git2::Delta::Untracked => {
                    files.added.push(path)
                }
                git2::Delta::Deleted => files.deleted.push(path),
                _ => files.changed.push(path),
            }
        }
        Ok((tree_id, files))
    }

    pub(crate) fn commit(
        &self,
        tree: Oid,
        base: Option<Oid>,
        author: &Author,
        message: &str,
    ) -> Result<Oid> {
        let sig = Signature::now(&author.name, &author.email).with_context(|| {
            format!("invalid commit author {:?} <{}>", author.name, author.email)
        })?;
        let tree = self.repo.find_tree(tree)?;
        let parent = match base {
            Some(b) => Some(self.repo.find_commit(b)?),
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        Ok(self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?)
    }

    pub(crate) fn push(&self) -> Result<PushOutcome> {
        let mut remote = self.repo.find_remote("origin")?;
        let auth = Auth::new(self.remote);
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let mut cb = auth.callbacks();
        cb.push_update_reference(|refname, status| {
            if let Some(s) = status {
                *rejected.borrow_mut() = Some(format!("{refname}: {s}"));
            }
            Ok(())
        });
        let mut po = PushOptions::new();
        po.remote_callbacks(cb);
        po.proxy_options(proxy());
        // HEAD is the local branch of the same name (set by `reset_to` or the first commit).
        let spec = format!("refs/heads/{b}:refs/heads/{b}", b = self.branch);
        let result = remote.push(&[spec.as_str()], Some(&mut po));
        drop(po);
        match result {
            Ok(()) => match rejected.into_inner() {
                None => Ok(PushOutcome::Pushed),
                Some(reason) => {
                    let reason = self.remote.redactor.redact(&reason);
                    if is_permanent_refusal(&reason) {
                        Err(GitError::PushRefused {
                            repo: self.remote.shown.clone(),
                            branch: self.branch.clone(),
                            reason,
                        }
                        .into())
                    } else {
                        Ok(PushOutcome::Rejected(reason))
                    }
                }
            },
            Err(e) if e.code() == ErrorCode::NotFastForward => Ok(PushOutcome::Rejected(
                self.remote.redactor.redact(e.message()),
            )),
            Err(e) => Err(auth.error("pushing to", e)),
        }
    }
}

/// Network timeouts of libgit2 (process-wide, set once): a server that stops answering fails
/// Server refusals a retry cannot fix.
pub(crate) fn is_permanent_refusal(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "hook declined",
        "protected",
        "permission",
        "not allowed",
        "denied",
    ]
    .iter()
    .any(|k| r.contains(k))
        && !r.contains("non-fast-forward")
}
