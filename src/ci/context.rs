//! What the CI run is about: branch, commit, tag, pull/merge request, repository URL,
//! read the right way on each platform.
//!
//! | | branch | commit |
//! |---|---|---|
//! | GitHub | `GITHUB_HEAD_REF` on pull requests, else `GITHUB_REF_NAME` | `pull_request.head.sha` from `$GITHUB_EVENT_PATH` on pull requests, else `GITHUB_SHA` |
//! | GitLab | `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME` on merge requests, else `CI_COMMIT_BRANCH`, else `CI_COMMIT_REF_NAME` | `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` when set, else `CI_COMMIT_SHA` |
//! | Azure | `SYSTEM_PULLREQUEST_SOURCEBRANCH` on pull requests, else `BUILD_SOURCEBRANCH`, minus `refs/heads/` (never the last-segment-only `BUILD_SOURCEBRANCHNAME`) | `SYSTEM_PULLREQUEST_SOURCECOMMITID` on pull requests, else `BUILD_SOURCEVERSION` |
//! | none | the git checkout of the current folder (`HEAD`'s branch) | `HEAD` |
//!
//! On a tag build the "branch" is the tag name and [`Context::ref_kind`] is `Tag`.
//! Reading is done through a lookup function so tests pass a map instead of the process
//! environment; nothing here makes a network call.

use super::Platform;
use serde::Serialize;
use std::path::Path;

/// What kind of ref the run builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// A branch build.
    Branch,
    /// A tag build: `branch` then holds the tag name.
    Tag,
    /// A pull/merge request build: `branch` is its head branch.
    PullRequest,
    /// No CI variables say which (a plain shell): only git can tell.
    Unknown,
}

/// Branch, commit and friends of the current run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The CI system the values were read from.
    pub platform: Platform,
    /// What the run builds: branch, tag or pull request.
    pub ref_kind: RefKind,
    /// The branch name (head branch on PR/MR), or the tag name on tag builds.
    pub branch: Option<String>,
    /// Full commit SHA (head commit on PR/MR, never the synthetic merge commit).
    pub commit: Option<String>,
    /// The tag name on tag builds.
    pub tag: Option<String>,
    /// Pull/merge request number.
    pub pull_request: Option<String>,
    /// Full ref (`refs/heads/x`, `refs/tags/v1`, `refs/pull/1/merge`) when known.
    pub git_ref: Option<String>,
    /// Web URL of the repository (for the `org.opencontainers.image.source` label).
    pub repository_url: Option<String>,
    /// Where the branch came from (variable name), for the report.
    pub branch_source: Option<String>,
    /// Where the commit came from (variable name), for the report.
    pub commit_source: Option<String>,
}

impl Context {
    /// Read the context from the process environment (and, outside CI, the git checkout of
    /// the current folder).
    pub fn detect() -> Context {
        let mut ctx = Self::from_lookup(&|k| std::env::var(k).ok());
        if ctx.platform == Platform::None && (ctx.branch.is_none() || ctx.commit.is_none()) {
            ctx.fill_from_git(Path::new("."));
        }
        ctx
    }

    /// Read the context through `get` (a variable lookup; empty values count as unset).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Context {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let platform = Platform::from_lookup(&var);
        let mut c = Context {
            platform,
            ref_kind: RefKind::Unknown,
            branch: None,
            commit: None,
            tag: None,
            pull_request: None,
            git_ref: None,
            repository_url: None,
            branch_source: None,
            commit_source: None,
        };
        match platform {
            Platform::GitHub => github(&mut c, &var),
            Platform::GitLab => gitlab(&mut c, &var),
            Platform::Azure => azure(&mut c, &var),
            Platform::None => {}
        }
        c
    }

    /// Fill the missing branch/commit from the git checkout at `dir` (plain shell use).
    pub fn fill_from_git(&mut self, dir: &Path) {
        let Ok(repo) = git2::Repository::discover(dir) else {
            return;
        };
        let Ok(head) = repo.head() else { return };
        if self.branch.is_none() && head.is_branch() {
            if let Ok(name) = head.shorthand() {
                self.branch = Some(name.to_string());
                self.branch_source = Some("git HEAD".into());
                self.ref_kind = RefKind::Branch;
                self.git_ref = head.name().ok().map(str::to_string);
            }
        }
        if self.commit.is_none() {
            if let Some(oid) = head.target() {
                self.commit = Some(oid.to_string());
                self.commit_source = Some("git HEAD".into());
            }
        }
    }
}

/// A CI variable: `None` when unset or blank.
type Var<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The first of `names` that is set: (value, variable name).
fn pick(var: &Var, names: &[&str]) -> Option<(String, String)> {
    names
        .iter()
        .find_map(|n| var(n).map(|v| (v, n.to_string())))
}

/// GitHub Actions: a pull request (head branch, head SHA from the event) or a push.
fn github(c: &mut Context, var: &Var) {
    c.git_ref = var("GITHUB_REF");
    let event = var("GITHUB_EVENT_PATH").and_then(|p| read_event(Path::new(&p)));
    match var("GITHUB_HEAD_REF") {
        Some(head) => github_pull_request(c, var, event.as_ref(), head),
        None => github_push(c, var),
    }
    c.repository_url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY")) {
        (Some(server), Some(repo)) => Some(format!("{}/{}", server.trim_end_matches('/'), repo)),
        (None, Some(repo)) => Some(format!("https://github.com/{repo}")),
        _ => None,
    };
}

/// A pull request on GitHub: the head branch, and the head SHA from the event file.
fn github_pull_request(
    c: &mut Context,
    var: &Var,
    event: Option<&serde_json::Value>,
    head: String,
) {
    c.ref_kind = RefKind::PullRequest;
    c.branch = Some(head);
    c.branch_source = Some("GITHUB_HEAD_REF".into());
    let head_sha = event
        .and_then(|e| e.pointer("/pull_request/head/sha"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match head_sha {
        Some(sha) => {
            c.commit = Some(sha);
            c.commit_source = Some("GITHUB_EVENT_PATH:pull_request.head.sha".into());
        }
        None => {
            c.commit = var("GITHUB_SHA");
            c.commit_source = c.commit.as_ref().map(|_| "GITHUB_SHA".into());
        }
    }
    c.pull_request = event
        .and_then(|e| e.pointer("/pull_request/number"))
        .map(|n| n.to_string().trim_matches('"').to_string())
        .or_else(|| c.git_ref.as_deref().and_then(pr_number_from_ref));
}

/// A branch or tag push on GitHub.
fn github_push(c: &mut Context, var: &Var) {
    let is_tag = var("GITHUB_REF_TYPE").as_deref() == Some("tag")
        || c.git_ref
            .as_deref()
            .is_some_and(|r| r.starts_with("refs/tags/"));
    let name = var("GITHUB_REF_NAME").or_else(|| {
        c.git_ref.as_deref().map(|r| {
            r.trim_start_matches("refs/heads/")
                .trim_start_matches("refs/tags/")
                .to_string()
        })
    });
    c.branch_source = name.as_ref().map(|_| {
        if var("GITHUB_REF_NAME").is_some() {
            "GITHUB_REF_NAME".into()
        } else {
            "GITHUB_REF".into()
        }
    });
    c.ref_kind = if is_tag {
        c.tag = name.clone();
        RefKind::Tag
    } else if name.is_some() {
        RefKind::Branch
    } else {
        RefKind::Unknown
    };
    c.branch = name;
    c.commit = var("GITHUB_SHA");
    c.commit_source = c.commit.as_ref().map(|_| "GITHUB_SHA".into());
}

/// GitLab CI: merge request, tag or branch pipeline.
fn gitlab(c: &mut Context, var: &Var) {
    if let Some(iid) = var("CI_MERGE_REQUEST_IID") {
        c.ref_kind = RefKind::PullRequest;
        c.pull_request = Some(iid);
    }
    if let Some(tag) = var("CI_COMMIT_TAG") {
        c.ref_kind = RefKind::Tag;
        c.tag = Some(tag.clone());
        c.branch = Some(tag);
        c.branch_source = Some("CI_COMMIT_TAG".into());
        c.git_ref = c.tag.as_ref().map(|t| format!("refs/tags/{t}"));
    } else if let Some((b, src)) = pick(
        var,
        &[
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
            "CI_COMMIT_BRANCH",
            "CI_COMMIT_REF_NAME",
        ],
    ) {
        if c.ref_kind == RefKind::Unknown {
            c.ref_kind = RefKind::Branch;
        }
        c.git_ref = Some(format!("refs/heads/{b}"));
        c.branch = Some(b);
        c.branch_source = Some(src);
    }
    if let Some((sha, src)) = pick(
        var,
        &["CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "CI_COMMIT_SHA"],
    ) {
        c.commit = Some(sha);
        c.commit_source = Some(src);
    }
    c.repository_url = var("CI_PROJECT_URL");
}

/// Azure Pipelines: pull request validation or a branch/tag build.
fn azure(c: &mut Context, var: &Var) {
    c.git_ref = var("BUILD_SOURCEBRANCH");
    let pr_branch = var("SYSTEM_PULLREQUEST_SOURCEBRANCH");
    let is_pr = pr_branch.is_some()
        || c.git_ref
            .as_deref()
            .is_some_and(|r| r.starts_with("refs/pull/"));
    if is_pr {
        c.ref_kind = RefKind::PullRequest;
        c.pull_request = var("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER")
            .or_else(|| var("SYSTEM_PULLREQUEST_PULLREQUESTID"))
            .or_else(|| c.git_ref.as_deref().and_then(pr_number_from_ref));
        if let Some(b) = pr_branch {
            c.branch = Some(strip_heads(&b));
            c.branch_source = Some("SYSTEM_PULLREQUEST_SOURCEBRANCH".into());
        }
        if let Some((sha, src)) = pick(
            var,
            &["SYSTEM_PULLREQUEST_SOURCECOMMITID", "BUILD_SOURCEVERSION"],
        ) {
            c.commit = Some(sha);
            c.commit_source = Some(src);
        }
    } else {
        if let Some(r) = c.git_ref.clone() {
            if let Some(t) = r.strip_prefix("refs/tags/") {
                c.ref_kind = RefKind::Tag;
                c.tag = Some(t.to_string());
                c.branch = Some(t.to_string());
            } else {
                c.ref_kind = RefKind::Branch;
                c.branch = Some(strip_heads(&r));
            }
            c.branch_source = Some("BUILD_SOURCEBRANCH".into());
        }
        c.commit = var("BUILD_SOURCEVERSION");
        c.commit_source = c.commit.as_ref().map(|_| "BUILD_SOURCEVERSION".into());
    }
    c.repository_url = var("BUILD_REPOSITORY_URI");
}

fn read_event(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn strip_heads(r: &str) -> String {
    r.strip_prefix("refs/heads/").unwrap_or(r).to_string()
}

/// `refs/pull/12/merge` → `12`.
fn pr_number_from_ref(r: &str) -> Option<String> {
    let rest = r.strip_prefix("refs/pull/")?;
    let n = rest.split('/').next()?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ctx(vars: &[(&str, &str)]) -> Context {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Context::from_lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn github_push_tag_and_pull_request_with_head_sha_from_the_event() {
        let push = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/feature/x"),
            ("GITHUB_REF_NAME", "feature/x"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_SHA", "aaaa"),
            ("GITHUB_REPOSITORY", "Org/Repo"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        assert_eq!(push.ref_kind, RefKind::Branch);
        assert_eq!(push.branch.as_deref(), Some("feature/x"));
        assert_eq!(push.commit.as_deref(), Some("aaaa"));
        assert_eq!(
            push.repository_url.as_deref(),
            Some("https://github.com/Org/Repo")
        );

        let tag = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/tags/v1.2"),
            ("GITHUB_REF_NAME", "v1.2"),
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_SHA", "bbbb"),
        ]);
        assert_eq!(tag.ref_kind, RefKind::Tag);
        assert_eq!(tag.tag.as_deref(), Some("v1.2"));
        assert_eq!(tag.branch.as_deref(), Some("v1.2"));

        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request":{"number":42,"head":{"sha":"headsha","ref":"feat"}}}"#,
        )
        .unwrap();
        let pr = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_HEAD_REF", "feat"),
            ("GITHUB_SHA", "mergesha"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]);
        assert_eq!(pr.ref_kind, RefKind::PullRequest);
        assert_eq!(pr.branch.as_deref(), Some("feat"));
        assert_eq!(pr.commit.as_deref(), Some("headsha"));
        assert_eq!(pr.pull_request.as_deref(), Some("42"));

        // Without a readable event the merge SHA is all there is, and the PR number comes from the ref.
        let pr2 = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "feat"),
            ("GITHUB_SHA", "mergesha"),
        ]);
        assert_eq!(pr2.commit.as_deref(), Some("mergesha"));
        assert_eq!(pr2.pull_request.as_deref(), Some("7"));
    }

    #[test]
    fn gitlab_branch_tag_and_merge_request() {
        let b = ctx(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_REF_NAME", "develop"),
            ("CI_COMMIT_BRANCH", "develop"),
            ("CI_COMMIT_SHA", "cccc"),
            ("CI_PROJECT_URL", "https://gitlab.example/g/p"),
        ]);
        assert_eq!(
            (b.ref_kind, b.branch.as_deref(), b.commit.as_deref()),
            (RefKind::Branch, Some("develop"), Some("cccc"))
        );
        assert_eq!(
            b.repository_url.as_deref(),
            Some("https://gitlab.example/g/p")
        );
        let t = ctx(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_REF_NAME", "v2"),
            ("CI_COMMIT_TAG", "v2"),
            ("CI_COMMIT_SHA", "dddd"),
        ]);
        assert_eq!((t.ref_kind, t.tag.as_deref()), (RefKind::Tag, Some("v2")));
        let mr = ctx(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_REF_NAME", "refs/merge-requests/5/head"),
            ("CI_MERGE_REQUEST_IID", "5"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/JIRA-12_Foo"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "headsha"),
            ("CI_COMMIT_SHA", "mergedresult"),
        ]);
        assert_eq!(mr.ref_kind, RefKind::PullRequest);
        assert_eq!(mr.branch.as_deref(), Some("feature/JIRA-12_Foo"));
        assert_eq!(mr.commit.as_deref(), Some("headsha"));
        assert_eq!(mr.pull_request.as_deref(), Some("5"));
        // A plain MR pipeline (not merged results) leaves the SHA variable empty.
        let mr2 = ctx(&[
            ("GITLAB_CI", "true"),
            ("CI_MERGE_REQUEST_IID", "5"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "f"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
            ("CI_COMMIT_SHA", "head"),
        ]);
        assert_eq!(mr2.commit.as_deref(), Some("head"));
    }

    #[test]
    fn azure_uses_the_full_branch_not_the_last_segment() {
        let b = ctx(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/heads/feature/x"),
            ("BUILD_SOURCEBRANCHNAME", "x"),
            ("BUILD_SOURCEVERSION", "eeee"),
        ]);
        assert_eq!(b.branch.as_deref(), Some("feature/x"));
        assert_eq!(b.commit.as_deref(), Some("eeee"));
        let t = ctx(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/tags/v1"),
            ("BUILD_SOURCEVERSION", "ffff"),
        ]);
        assert_eq!((t.ref_kind, t.tag.as_deref()), (RefKind::Tag, Some("v1")));
        let pr = ctx(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/pull/9/merge"),
            ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/feature/y"),
            ("SYSTEM_PULLREQUEST_SOURCECOMMITID", "headsha"),
            ("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "9"),
            ("BUILD_SOURCEVERSION", "mergesha"),
        ]);
        assert_eq!(pr.ref_kind, RefKind::PullRequest);
        assert_eq!(pr.branch.as_deref(), Some("feature/y"));
        assert_eq!(pr.commit.as_deref(), Some("headsha"));
        assert_eq!(pr.pull_request.as_deref(), Some("9"));
    }

    #[test]
    fn plain_shell_reads_the_git_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let oid = repo
            .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let mut c = ctx(&[]);
        assert_eq!(c.platform, Platform::None);
        c.fill_from_git(dir.path());
        assert_eq!(c.commit, Some(oid.to_string()));
        assert!(c.branch.is_some());
    }
}
