//! The one git wrapper of cadkit (libgit2 through `git2`): snapshot into a clone, commit what
//! changed in the snapshot folder, push, and on a rejected push regenerate on the new tip.
//!
//! Flow of [`snapshot_and_push`]:
//! 1. `<repositoriesDir>/<name>` is deleted (only if cadkit made it, or it is empty) and a
//!    fresh clone of `branch` is made there, shallow (depth 1) unless the remote is a local
//!    path (libgit2's local transport has no shallow fetch) or `depth` is 0. Fresh each run:
//!    nothing from an earlier, possibly interrupted run can leak into the commit.
//! 2. The producer closure fills `<clone>/<outputDir>` (it must leave the folder in its
//!    final state: files it no longer produces must be gone).
//! 3. Additions, changes and deletions *inside the snapshot folder only* are staged; when the
//!    tree equals the tip's, nothing is committed or pushed (`changed: false`).
//! 4. Commit with the message template and the configured author, push `HEAD:refs/heads/<branch>`.
//! 5. Rejected (someone pushed meanwhile): wait (exponential backoff with jitter), fetch the new
//!    tip at depth 1, hard-reset onto it (untracked files removed), call the producer again
//!    and go to 3. Snapshot files are derived data: they are regenerated, never merged.
//!
//! Credentials come from the URL (`https://user:token@host/…`) or from a token (basic-auth
//! password, user from the URL or `x-access-token`). They are handed to libgit2 through the
//! credentials callback only: the URL given to libgit2 (and stored in the clone's config)
//! has no user-info, and every error, log line and report goes through a [`Redactor`].

mod entry;
pub mod message;
pub mod redact;

pub use entry::{snapshot_entry, SnapshotGitReport};
pub use redact::{redact_url, Redactor};

use anyhow::{anyhow, bail, Context, Result};
use git2::{
    build::CheckoutBuilder, Cred, CredentialType, Direction, ErrorCode, FetchOptions,
    IndexAddOption, Oid, PushOptions, RemoteCallbacks, Repository, RepositoryInitOptions,
    ResetType, Signature,
};
use serde::{Deserialize, Serialize};

use std::cell::{Cell, RefCell};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The toolkit's default branch.
pub const DEFAULT_BRANCH: &str = "develop";
/// Default number of push attempts.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// User name sent with a token when the URL names none (GitHub's convention; others accept any).
pub const TOKEN_USER: &str = "x-access-token";

/// Commit author (also used as committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "cadkit".into(),
            email: "cadkit@localhost".into(),
        }
    }
}

/// Capped exponential backoff with full jitter: before retry `n` (1-based) wait a random time
/// in `[0, d]` with `d = min(max, base * 2^(n-1))` (racers spread out instead of colliding
/// again in lockstep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The wait before retry `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max);
        let factor: f64 = rand::rng().random_range(0.0..=1.0);
        exp.mul_f64(factor)
    }
}

/// Everything one snapshot-and-push needs. `Debug` masks the URL's credentials and the token.
#[derive(Clone)]
pub struct SnapshotGitOptions {
    /// Entry name: the clone goes to `<repositories_dir>/<name>`.
    pub name: String,
    /// Remote URL (may hold credentials; never logged as is).
    pub repo: String,
    pub branch: String,
    /// The snapshot folder inside the clone (`outputDir` of the entry, e.g. `./snapshot`).
    pub output_dir: String,
    pub repositories_dir: PathBuf,
    /// Message template (`{date}`, `{folder}`, `{branch}`, `{count}`).
    pub commit_message: String,
    pub author: Author,
    /// Token used as basic-auth password when the URL holds no password.
    pub token: Option<String>,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Clone, produce and report what would be committed; commit and push nothing.
    pub dry_run: bool,
    /// When the remote has no `branch`: create it from the remote's default branch (or as a
    /// first commit in an empty repository) instead of failing.
    pub create_branch: bool,
    /// Clone depth; 0 = full history. Local remotes are always cloned in full.
    pub depth: u32,
    /// Reuse the clone of an earlier run (fetch + hard reset) instead of cloning afresh.
    pub reuse_clone: bool,
}

impl std::fmt::Debug for SnapshotGitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotGitOptions")
            .field("name", &self.name)
            .field("repo", &Redactor::new(self.token.iter()).redact(&self.repo))
            .field("branch", &self.branch)
            .field("output_dir", &self.output_dir)
            .field("repositories_dir", &self.repositories_dir)
            .field("commit_message", &self.commit_message)
            .field("author", &self.author)
            .field("token", &self.token.as_ref().map(|_| redact::MASK))
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("dry_run", &self.dry_run)
            .field("create_branch", &self.create_branch)
            .field("depth", &self.depth)
            .field("reuse_clone", &self.reuse_clone)
            .finish()
    }
}

impl SnapshotGitOptions {
    /// Options with the defaults for everything but the entry's own values.
    pub fn new(name: &str, repo: &str, output_dir: &str, repositories_dir: &Path) -> Self {
        SnapshotGitOptions {
            name: name.into(),
            repo: repo.into(),
            branch: DEFAULT_BRANCH.into(),
            output_dir: output_dir.into(),
            repositories_dir: repositories_dir.into(),
            commit_message: message::DEFAULT_TEMPLATE.into(),
            author: Author::default(),
            token: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            dry_run: false,
            create_branch: false,
            depth: 1,
            reuse_clone: true,
        }
    }
}

/// Paths (relative to the repository root, `/`-separated) per kind of change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
}

impl FileChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }
    pub fn total(&self) -> usize {
        self.added.len() + self.changed.len() + self.deleted.len()
    }
}

/// What a snapshot-and-push did. Serialised as the step's JSON report; no field ever holds
/// a credential (`repo` is redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitReport {
    pub name: String,
    /// Remote URL, credentials masked.
    pub repo: String,
    pub branch: String,
    /// Snapshot folder, relative to the repository root.
    pub folder: String,
    /// Where the clone is.
    pub work_tree: PathBuf,
    pub dry_run: bool,
    /// The snapshot differs from the branch tip (a commit was, or in dry run would be, made).
    pub changed: bool,
    /// A commit reached the remote.
    pub pushed: bool,
    /// The commit pushed (full id), if any.
    pub commit: Option<String>,
    /// The tip the snapshot was compared with (None for an empty remote).
    pub base: Option<String>,
    /// The rendered commit message, if a commit was made or would be made.
    pub message: Option<String>,
    /// Push attempts (1 when the first push went through; 0 when nothing was pushed).
    pub attempts: u32,
    pub files: FileChanges,
    /// The branch did not exist on the remote and was created by this push.
    pub created_branch: bool,
}

impl GitReport {
    /// Step outputs for the CI layer (`$GITHUB_OUTPUT`, GitLab dotenv, Azure variables):
    /// `changed`, `pushed`, `commit` (empty when none), `branch`, `files-added`,
    /// `files-changed`, `files-deleted` (counts) and `attempts`.
    pub fn outputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("changed", self.changed.to_string()),
            ("pushed", self.pushed.to_string()),
            ("commit", self.commit.clone().unwrap_or_default()),
            ("branch", self.branch.clone()),
            ("files-added", self.files.added.len().to_string()),
            ("files-changed", self.files.changed.len().to_string()),
            ("files-deleted", self.files.deleted.len().to_string()),
            ("attempts", self.attempts.to_string()),
        ]
    }
}

/// Failures callers may branch on. Messages never hold credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// Credentials missing or refused.
    Auth,
    /// The branch does not exist on the remote (and `create_branch` is off).
    BranchMissing,
    /// Every push attempt was rejected because others kept pushing.
    RetriesExhausted,
    /// The server refused the push for a reason a retry cannot fix (hook, protection).
    PushRefused,
    /// Anything else (network, file system, producer).
    Other,
}

/// The error returned by this module: a redacted message and its kind.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
enum GitError {
    #[error("{op} {repo}: authentication failed ({detail}). Fix: put a valid user and token in the URL (user:token before the host, URL-encoded) or set the token variable (CADKIT_GIT_TOKEN by default)")]
    Auth {
        op: String,
        repo: String,
        detail: String,
    },
    #[error("the remote {repo} has no branch {branch:?}. Fix: create it (from a clone: `git push origin HEAD:{branch}`), set \"branch\" in the git entry of the snapshot config to an existing branch, or pass --git.createBranch to create it on the first push")]
    BranchMissing { repo: String, branch: String },
    #[error("push to {repo} branch {branch:?} still rejected after {attempts} attempts (others kept pushing); last rejection: {last}. Fix: retry later or raise --git.maxAttempts")]
    RetriesExhausted {
        repo: String,
        branch: String,
        attempts: u32,
        last: String,
    },
    #[error("push to {repo} branch {branch:?} refused by the server: {reason}. Fix: allow this author to push to the branch (branch protection, hooks) or snapshot to another branch")]
    PushRefused {
        repo: String,
        branch: String,
        reason: String,
    },
}

impl GitError {
    fn kind(&self) -> FailureKind {
        match self {
            GitError::Auth { .. } => FailureKind::Auth,
            GitError::BranchMissing { .. } => FailureKind::BranchMissing,
            GitError::RetriesExhausted { .. } => FailureKind::RetriesExhausted,
            GitError::PushRefused { .. } => FailureKind::PushRefused,
        }
    }
}

/// A remote URL split into what libgit2 sees and the credentials kept aside.
#[derive(Clone)]
pub struct Remote {
    /// URL without user-info (or the local path).
    pub url: String,
    /// URL for logs and reports.
    pub shown: String,
    user: Option<String>,
    password: Option<String>,
    /// A local path or file:// URL (no shallow fetch there).
    pub local: bool,
    redactor: Redactor,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.shown)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Split `repo` into a clean URL and credentials; `token` is used as the password when
    /// the URL has none (with the URL's user, or `x-access-token`).
    pub fn parse(repo: &str, token: Option<&str>) -> Result<Remote> {
        let token = token.filter(|t| !t.is_empty());
        let mut redactor = Redactor::default();
        if let Some(t) = token {
            redactor.add(t);
        }
        let scp_like = regex::Regex::new(r"^[^/@:\s]+@[^/:\s]+:")
            .expect("valid regex")
            .is_match(repo);
        let parsed = url::Url::parse(repo).ok().filter(|u| u.scheme().len() > 1);
        if scp_like || parsed.as_ref().is_some_and(|u| u.scheme() == "ssh") {
            bail!(
                "git repository {}: SSH is not supported; use an https:// URL with a token",
                redactor.redact(repo)
            );
        }
        let Some(mut u) = parsed else {
            // A plain path (or a Windows drive path, whose "scheme" is one letter).
            return Ok(Remote {
                url: repo.to_string(),
                shown: redactor.redact(repo),
                user: None,
                password: None,
                local: true,
                redactor,
            });
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let url_user = Some(u.username()).filter(|s| !s.is_empty()).map(decode);
        let url_password = u.password().map(decode);
        // The password is a secret in every spelling; the user name only when it is the
        // token itself (`https://<token>@host/…`). Masking an ordinary user name such as `git`
        // would mangle every message; URL user-info is masked by the redactor anyway.
        if let Some(p) = u.password() {
            redactor.add(p);
        }
        if let Some(p) = &url_password {
            redactor.add(p);
        }
        let (user, password) = match (url_user, url_password, token) {
            (u, Some(p), _) => (Some(u.unwrap_or_default()), Some(p)),
            (u, None, Some(t)) => (Some(u.unwrap_or_else(|| TOKEN_USER.into())), Some(t.into())),
            // `https://<token>@host/…`: a token as user name, empty password.
            (Some(u), None, None) => {
                redactor.add(&u);
                (Some(u), Some(String::new()))
            }
            (None, None, None) => (None, None),
        };
        let _ = u.set_username("");
        let _ = u.set_password(None);
        let local = u.scheme() == "file";
        let url = u.to_string();
        Ok(Remote {
            shown: redactor.redact(&url),
            url,
            user,
            password,
            local,
            redactor,
        })
    }

    /// The redactor knowing this remote's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// Credentials callback state for one network operation.
struct Auth<'a> {
    remote: &'a Remote,
    calls: Cell<u32>,
    refused: Cell<bool>,
}

impl<'a> Auth<'a> {
    fn new(remote: &'a Remote) -> Self {
        Auth {
            remote,
            calls: Cell::new(0),
            refused: Cell::new(false),
        }
    }

    fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        let mut cb = RemoteCallbacks::new();
        cb.credentials(move |_url, _user, allowed| {
            let n = self.calls.get() + 1;
            self.calls.set(n);
            let (Some(user), Some(password)) = (&self.remote.user, &self.remote.password) else {
                self.refused.set(true);
                return Err(git2::Error::from_str(
                    "the server asks for credentials and none are configured",
                ));
            };
            if n > 1 {
                // libgit2 asks again when the server refused the previous answer.
                self.refused.set(true);
                return Err(git2::Error::from_str("the server refused the credentials"));
            }
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                self.refused.set(true);
                return Err(git2::Error::from_str(
                    "the server wants a credential type other than user name and password",
                ));
            }
            Cred::userpass_plaintext(user, password)
        });
        cb
    }

    /// Turn a libgit2 error into an error naming the remote, redacted, typed when it is an
    /// authentication failure.
    fn error(&self, what: &str, e: git2::Error) -> anyhow::Error {
        let detail = self.remote.redactor.redact(e.message());
        let forbidden = e.class() == git2::ErrorClass::Http && detail.contains("status code: 403");
        if self.refused.get()
            || forbidden
            || e.code() == ErrorCode::Auth
            || (e.class() == git2::ErrorClass::Http && detail.contains("401"))
        {
            let detail = if forbidden {
                format!("{detail}: the credentials are valid but may not access this repository (a token without write access?)")
            } else {
                detail
            };
            GitError::Auth {
                op: what.to_string(),
                repo: self.remote.shown.clone(),
                detail,
            }
            .into()
        } else {
            anyhow!("{what} {}: {detail}", self.remote.shown)
        }
    }
}

/// Snapshot into a clone of `opts.branch`, commit the snapshot folder when it changed, push;
/// on a rejected push regenerate on the new tip and retry. `produce` gets the absolute
/// snapshot folder (created, holding the tip's files) and must leave it in its final state;
/// it is called once per attempt.
pub fn snapshot_and_push<F>(opts: &SnapshotGitOptions, mut produce: F) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    set_network_timeouts();
    let remote = Remote::parse(&opts.repo, opts.token.as_deref()).map_err(|e| {
        // The message is redacted already; mask the token again in case it was pasted in.
        let r = Redactor::new(opts.token.iter());
        anyhow::Error::new(Failure {
            kind: FailureKind::Other,
            message: r.redact(&format!("{e:#}")),
        })
    })?;
    run(opts, &remote, &mut produce).map_err(|e| {
        let kind = e
            .chain()
            .find_map(|c| c.downcast_ref::<GitError>())
            .map(GitError::kind)
            .unwrap_or(FailureKind::Other);
        anyhow::Error::new(Failure {
            kind,
            message: remote.redactor.redact(&format!("{e:#}")),
        })
    })
}

/// The snapshot folder as a clean relative path inside the clone (`./a/b/` → `a/b`).
pub fn normalize_folder(output_dir: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in Path::new(output_dir).components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| anyhow!("outputDir {output_dir:?} is not valid UTF-8"))?
                    .to_string(),
            ),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => bail!(
                "outputDir {output_dir:?} leaves the repository (`..`): use a folder inside the repository"
            ),
        }
    }
    if parts.is_empty() {
        bail!("outputDir {output_dir:?} is the repository root: use a sub-folder (e.g. ./snapshot); only the snapshot folder is committed");
    }
    if parts[0] == ".git" {
        bail!("outputDir {output_dir:?} is inside .git");
    }
    Ok(parts.join("/"))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.contains('\0')
    {
        bail!("snapshot entry name {name:?} cannot be a folder name under --snapshot.repositoriesDir: use a plain name such as my-project");
    }
    Ok(())
}

/// Extra fetches when the tip has not moved yet after a rejected push.
const STALE_TIP_REFETCHES: u32 = 4;

/// Marker written into the `.git` of every clone cadkit makes: only such folders are deleted.
const CLONE_MARKER: &str = "cadkit-snapshot-clone";

/// Remove an earlier clone, refusing to delete anything cadkit did not create.
fn clear_work_tree(dir: &Path) -> Result<()> {
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

struct Clone<'r> {
    repo: Repository,
    remote: &'r Remote,
    branch: String,
    depth: u32,
}

/// What the remote advertises: the branch tip, and the default branch (ref name, tip).
type RemoteRefs = (Option<Oid>, Option<(String, Oid)>);

enum PushOutcome {
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
    fn ls_remote(&self) -> Result<RemoteRefs> {
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
    fn fetch(&self, src: &str) -> Result<Oid> {
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
    fn reset_to(&self, tip: Oid) -> Result<()> {
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
    fn stage(&self, folder: &str, base: Option<Oid>) -> Result<(Oid, FileChanges)> {
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

    fn commit(&self, tree: Oid, base: Option<Oid>, author: &Author, message: &str) -> Result<Oid> {
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

    fn push(&self) -> Result<PushOutcome> {
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
/// the run instead of hanging the CI job.
fn set_network_timeouts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: libgit2 global options, set once before any git operation of this module
        // and never changed afterwards.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(30_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(300_000);
        }
    });
}

/// Proxy from git's `http.proxy` config or the `http_proxy`/`https_proxy` variables.
fn proxy<'a>() -> git2::ProxyOptions<'a> {
    let mut p = git2::ProxyOptions::new();
    p.auto();
    p
}

/// Server refusals a retry cannot fix.
fn is_permanent_refusal(reason: &str) -> bool {
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

/// An exclusive lock on `<repositoriesDir>/.<name>.lock`, held while the clone is used;
/// released when dropped (the file is closed). Another run waits for it.
fn lock_clone(repositories_dir: &Path, name: &str) -> Result<std::fs::File> {
    let path = repositories_dir.join(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating the lock file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            tracing::info!(
                "waiting for another cadkit run using {}",
                repositories_dir.join(name).display()
            );
            // SAFETY: as above; blocks until the other run closes its lock file.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    Ok(file)
}

struct Prepared<'r> {
    clone: Clone<'r>,
    base: Option<Oid>,
    created_branch: bool,
}

/// A clone made by cadkit for the same remote URL: it can be fetched and reset instead of
/// being deleted and cloned again.
fn is_reusable(work_tree: &Path, remote: &Remote) -> bool {
    if !work_tree.join(".git").join(CLONE_MARKER).is_file() {
        return false;
    }
    let Ok(repo) = Repository::open(work_tree) else {
        return false;
    };
    let same_url = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(|u| u == remote.url))
        .unwrap_or(false);
    same_url
}

/// Make `work_tree` a clone of the branch tip: a fresh one (`fresh`: delete and init), or
/// the existing cadkit clone fetched and hard-reset (untracked and ignored files removed,
/// so nothing from an earlier run survives). A reused clone needs the branch on the remote.
fn prepare<'r>(
    opts: &SnapshotGitOptions,
    remote: &'r Remote,
    branch: &str,
    work_tree: &Path,
    fresh: bool,
) -> Result<Prepared<'r>> {
    let repo = if fresh {
        clear_work_tree(work_tree)?;
        tracing::info!(
            "cloning {} (branch {branch}) into {}",
            remote.shown,
            work_tree.display()
        );
        let mut init = RepositoryInitOptions::new();
        init.initial_head(branch).no_reinit(true);
        let repo = Repository::init_opts(work_tree, &init)
            .with_context(|| format!("creating the clone {}", work_tree.display()))?;
        std::fs::write(
            repo.path().join(CLONE_MARKER),
            "Made by cadkit snapshot; reused (fetch + hard reset) or re-cloned on each run.\n",
        )?;
        repo.remote("origin", &remote.url)
            .map_err(|e| anyhow!("adding remote {}: {}", remote.shown, e.message()))?;
        repo
    } else {
        let repo = Repository::open(work_tree)?;
        // An interrupted run may have left a lock behind; nothing else writes this clone.
        let _ = std::fs::remove_file(repo.path().join("index.lock"));
        repo
    };
    let clone = Clone {
        repo,
        remote,
        branch: branch.to_string(),
        depth: opts.depth,
    };
    let (tip, default) = clone.ls_remote()?;
    if tip.is_none() && !fresh {
        bail!("branch {branch} is not on the remote");
    }
    let mut created_branch = false;
    let base = match (tip, default) {
        (Some(_), _) => Some(clone.fetch(branch)?),
        (None, _) if !opts.create_branch => {
            return Err(GitError::BranchMissing {
                repo: remote.shown.clone(),
                branch: branch.to_string(),
            }
            .into())
        }
        (None, Some((default_ref, _))) => {
            let src = default_ref.trim_start_matches("refs/heads/").to_string();
            tracing::info!("branch {branch} does not exist on the remote: creating it from {src}");
            created_branch = true;
            Some(clone.fetch(&src)?)
        }
        (None, None) => {
            tracing::info!("the remote is empty: branch {branch} starts with this snapshot");
            created_branch = true;
            None
        }
    };
    if let Some(b) = base {
        clone.reset_to(b)?;
    }
    Ok(Prepared {
        clone,
        base,
        created_branch,
    })
}

fn run<F>(opts: &SnapshotGitOptions, remote: &Remote, produce: &mut F) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    check_name(&opts.name)?;
    let folder = normalize_folder(&opts.output_dir)?;
    let branch = opts.branch.trim().to_string();
    if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        bail!("git branch {:?} is not a valid branch name", opts.branch);
    }
    let max_attempts = opts.max_attempts.max(1);
    let work_tree = opts.repositories_dir.join(&opts.name);
    std::fs::create_dir_all(&opts.repositories_dir).with_context(|| {
        format!(
            "creating --snapshot.repositoriesDir {}",
            opts.repositories_dir.display()
        )
    })?;
    // One run at a time per clone folder (CI jobs sharing a runner and repositoriesDir).
    let _lock = lock_clone(&opts.repositories_dir, &opts.name)?;
    let reusable = opts.reuse_clone && is_reusable(&work_tree, remote);
    let prepared = if reusable {
        tracing::info!(
            "updating the clone {} of {} (branch {branch})",
            work_tree.display(),
            remote.shown
        );
        match prepare(opts, remote, &branch, &work_tree, false) {
            Ok(p) => p,
            Err(e) if e.chain().any(|c| c.downcast_ref::<GitError>().is_some()) => return Err(e),
            Err(e) => {
                tracing::info!("cloning afresh: {e:#}");
                prepare(opts, remote, &branch, &work_tree, true)?
            }
        }
    } else {
        prepare(opts, remote, &branch, &work_tree, true)?
    };
    let Prepared {
        clone,
        mut base,
        mut created_branch,
    } = prepared;
    tracing::debug!(
        "clone ready at {} (shallow: {})",
        base.map(|b| b.to_string())
            .unwrap_or_else(|| "an empty branch".into()),
        clone.repo.is_shallow()
    );

    let abs_folder = work_tree.join(&folder);
    let mut attempts = 0u32;
    loop {
        std::fs::create_dir_all(&abs_folder)
            .with_context(|| format!("creating the snapshot folder {}", abs_folder.display()))?;
        produce(&abs_folder)
            .with_context(|| format!("producing the snapshot into {}", abs_folder.display()))?;
        let (tree, files) = clone.stage(&folder, base)?;
        let mut report = GitReport {
            name: opts.name.clone(),
            repo: remote.shown.clone(),
            branch: branch.clone(),
            folder: folder.clone(),
            work_tree: work_tree.clone(),
            dry_run: opts.dry_run,
            changed: !files.is_empty(),
            pushed: false,
            commit: None,
            base: base.map(|b| b.to_string()),
            message: None,
            attempts,
            files,
            created_branch: false,
        };
        if report.files.is_empty() {
            tracing::info!("no change in {folder}: nothing to commit");
            return Ok(report);
        }
        let msg = message::render(
            &opts.commit_message,
            message::Values {
                // The guide: `{folder}` is the outputDir value from the configuration.
                folder: &opts.output_dir,
                branch: &branch,
                count: report.files.total(),
            },
        );
        report.message = Some(msg.clone());
        if opts.dry_run {
            tracing::info!(
                "dry run: would commit {} added, {} changed, {} deleted in {folder} to {branch}",
                report.files.added.len(),
                report.files.changed.len(),
                report.files.deleted.len()
            );
            for (mark, list) in [
                ("A", &report.files.added),
                ("M", &report.files.changed),
                ("D", &report.files.deleted),
            ] {
                for p in list {
                    tracing::info!("  {mark} {p}");
                }
            }
            return Ok(report);
        }
        let commit = clone.commit(tree, base, &opts.author, &msg)?;
        attempts += 1;
        tracing::info!(
            "committed {} ({} added, {} changed, {} deleted); pushing to {} (attempt {attempts}/{max_attempts})",
            &commit.to_string()[..8],
            report.files.added.len(),
            report.files.changed.len(),
            report.files.deleted.len(),
            remote.shown
        );
        let last_rejection = match clone.push()? {
            PushOutcome::Pushed => {
                tracing::info!("pushed {commit} to {branch}");
                report.pushed = true;
                report.commit = Some(commit.to_string());
                report.attempts = attempts;
                report.created_branch = created_branch;
                return Ok(report);
            }
            PushOutcome::Rejected(reason) => reason,
        };
        if attempts >= max_attempts {
            return Err(GitError::RetriesExhausted {
                repo: remote.shown.clone(),
                branch,
                attempts,
                last: last_rejection,
            }
            .into());
        }
        let wait = opts.backoff.delay(attempts);
        tracing::warn!(
            "push rejected ({last_rejection}); regenerating on the new tip in {} ms (attempt {}/{max_attempts} next)",
            wait.as_millis(),
            attempts + 1
        );
        std::thread::sleep(wait);
        let mut new_tip = clone.fetch(&branch)?;
        // A push refused while another one was still updating the ref ("failed to update
        // ref") can be followed by a fetch that still sees the old tip: wait for the new one
        // a little (bounded) rather than spend an attempt on a push that must fail again.
        for n in 1..=STALE_TIP_REFETCHES {
            if Some(new_tip) != base {
                break;
            }
            let wait = opts.backoff.base.saturating_mul(n);
            tracing::debug!(
                "the tip of {branch} has not moved yet; fetching again in {} ms ({n}/{STALE_TIP_REFETCHES})",
                wait.as_millis()
            );
            std::thread::sleep(wait);
            new_tip = clone.fetch(&branch)?;
        }
        tracing::debug!("new tip of {branch}: {new_tip}");
        clone.reset_to(new_tip)?;
        base = Some(new_tip);
        // The branch exists now (someone else's push created it if we meant to).
        created_branch = false;
    }
}

/// Create a bare repository at `path` with one commit on `branch` (a README), unless a
/// repository is already there. For local use (the demo, tests): the snapshot can then be
/// pushed to it with `repo` = the path.
pub fn ensure_local_bare_repo(path: &Path, branch: &str) -> Result<()> {
    if Repository::open_bare(path).is_ok() {
        return Ok(());
    }
    let mut init = RepositoryInitOptions::new();
    init.bare(true).initial_head(branch);
    let repo = Repository::init_opts(path, &init)
        .with_context(|| format!("creating the bare repository {}", path.display()))?;
    let blob = repo.blob(b"Snapshots written by cadkit.\n")?;
    let mut tb = repo.treebuilder(None)?;
    tb.insert("README.md", blob, 0o100644)?;
    let tree = repo.find_tree(tb.write()?)?;
    let sig = Signature::now("cadkit", "cadkit@localhost")?;
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        "Initial commit",
        &tree,
        &[],
    )?;
    Ok(())
}

/// Snapshot into a local bare repository (created when absent), for the demo: same flow as
/// [`snapshot_and_push`] with a path as the remote and a full (non-shallow) clone.
pub fn snapshot_to_local_repo<F>(
    bare: &Path,
    branch: &str,
    output_dir: &str,
    repositories_dir: &Path,
    produce: F,
) -> Result<GitReport>
where
    F: FnMut(&Path) -> Result<()>,
{
    ensure_local_bare_repo(bare, branch)?;
    let abs = std::path::absolute(bare)?;
    let name = abs
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("snapshot")
        .to_string();
    let mut opts = SnapshotGitOptions::new(
        &name,
        abs.to_str()
            .ok_or_else(|| anyhow!("{} is not valid UTF-8", abs.display()))?,
        output_dir,
        repositories_dir,
    );
    opts.branch = branch.into();
    opts.depth = 0;
    snapshot_and_push(&opts, produce)
}

/// A Markdown step summary: counts and the first `max_paths` paths of each kind.
pub fn step_summary(report: &GitReport, max_paths: usize) -> String {
    let mut s = String::new();
    let title = if report.dry_run {
        "Snapshot (dry run)"
    } else {
        "Snapshot"
    };
    s.push_str(&format!(
        "### {title}: `{}` → `{}`\n\n",
        report.folder, report.branch
    ));
    let outcome = match (&report.commit, report.changed, report.dry_run) {
        (Some(c), _, _) => format!(
            "Committed `{}` in {} attempt(s).",
            &c[..c.len().min(12)],
            report.attempts
        ),
        (None, true, true) => "Changes found; nothing committed (dry run).".to_string(),
        (None, false, _) => "No change: nothing committed.".to_string(),
        (None, true, false) => "Changes found but not pushed.".to_string(),
    };
    s.push_str(&outcome);
    s.push_str("\n\n| | Files | First paths |\n|---|---:|---|\n");
    for (label, list) in [
        ("Added", &report.files.added),
        ("Changed", &report.files.changed),
        ("Deleted", &report.files.deleted),
    ] {
        let mut shown: Vec<String> = list
            .iter()
            .take(max_paths)
            .map(|p| format!("`{}`", p.replace('|', "\\|").replace('`', "'")))
            .collect();
        if list.len() > max_paths {
            shown.push(format!("… {} more", list.len() - max_paths));
        }
        s.push_str(&format!(
            "| {label} | {} | {} |\n",
            list.len(),
            shown.join("<br>")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_split_off_and_redacted() {
        let r = Remote::parse("https://bob:t%2Fk%40n@git.example.com/a/b.git", None).unwrap();
        assert_eq!(r.url, "https://git.example.com/a/b.git");
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.password.as_deref(), Some("t/k@n"));
        assert!(!r.local);
        assert_eq!(
            r.redactor().redact("x t/k@n y t%2Fk%40n z"),
            "x *** y *** z"
        );

        // An ordinary user name is not masked in messages (only in URLs).
        assert_eq!(r.redactor().redact("bob/git"), "bob/git");

        let r = Remote::parse("https://git.example.com/a.git", Some("envtoken")).unwrap();
        assert_eq!(r.user.as_deref(), Some(TOKEN_USER));
        assert_eq!(r.password.as_deref(), Some("envtoken"));

        let r = Remote::parse("https://ghp_abc@git.example.com/a.git", None).unwrap();
        assert_eq!(r.user.as_deref(), Some("ghp_abc"));
        assert_eq!(r.password.as_deref(), Some(""));
        assert_eq!(r.shown, "https://git.example.com/a.git");
        assert_eq!(r.redactor().redact("ghp_abc"), "***");

        let r = Remote::parse("/srv/git/a.git", Some("t")).unwrap();
        assert!(r.local);
        assert_eq!(r.url, "/srv/git/a.git");
        assert!(Remote::parse("file:///srv/a.git", None).unwrap().local);
        assert!(Remote::parse("git@github.com:acme/a.git", None).is_err());
        assert!(Remote::parse("ssh://git@host/a.git", None).is_err());
    }

    #[test]
    fn options_debug_hides_credentials() {
        let mut o = SnapshotGitOptions::new(
            "p",
            "https://u:s3cret@h/r.git",
            "snapshot",
            Path::new("/tmp/r"),
        );
        o.token = Some("tok3n".into());
        let d = format!("{o:?}");
        assert!(!d.contains("s3cret") && !d.contains("tok3n"), "{d}");
        assert!(d.contains("https://***@h/r.git"), "{d}");
    }

    #[test]
    fn folders_are_normalised_and_confined() {
        assert_eq!(normalize_folder("./snapshot/").unwrap(), "snapshot");
        assert_eq!(normalize_folder("a/./b").unwrap(), "a/b");
        assert_eq!(normalize_folder("/abs/x").unwrap(), "abs/x");
        assert!(normalize_folder(".").is_err());
        assert!(normalize_folder("../x").is_err());
        assert!(normalize_folder(".git/x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("my-project").is_ok());
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for n in 1..=10 {
            let d = b.delay(n);
            let cap = Duration::from_millis((100u64 << (n - 1)).min(1000));
            assert!(d <= cap, "retry {n}: {d:?} vs {cap:?}");
        }
    }

    #[test]
    fn permanent_refusals_are_not_retried() {
        assert!(is_permanent_refusal(
            "refs/heads/main: pre-receive hook declined"
        ));
        assert!(is_permanent_refusal(
            "refs/heads/main: protected branch hook declined"
        ));
        assert!(!is_permanent_refusal(
            "refs/heads/main: failed to update ref"
        ));
        assert!(!is_permanent_refusal("refs/heads/main: fetch first"));
    }

    #[test]
    fn summary_table_lists_counts_and_first_paths() {
        let report = GitReport {
            name: "p".into(),
            repo: "https://h/r.git".into(),
            branch: "develop".into(),
            folder: "snapshot".into(),
            work_tree: "/tmp/r/p".into(),
            dry_run: false,
            changed: true,
            pushed: true,
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            base: None,
            message: Some("m".into()),
            attempts: 2,
            files: FileChanges {
                added: vec![
                    "snapshot/a.json".into(),
                    "snapshot/b.json".into(),
                    "snapshot/c|d.json".into(),
                ],
                changed: vec![],
                deleted: vec!["snapshot/old.json".into()],
            },
            created_branch: false,
        };
        let outputs = report.outputs();
        assert_eq!(outputs[0], ("changed", "true".to_string()));
        assert_eq!(outputs[4], ("files-added", "3".to_string()));
        let md = step_summary(&report, 2);
        assert!(
            md.contains("Committed `0123456789ab` in 2 attempt(s)."),
            "{md}"
        );
        assert!(
            md.contains("| Added | 3 | `snapshot/a.json`<br>`snapshot/b.json`<br>… 1 more |"),
            "{md}"
        );
        assert!(md.contains("| Changed | 0 |  |"), "{md}");
        assert!(md.contains("| Deleted | 1 | `snapshot/old.json` |"), "{md}");
    }
}
