//! The git options of `cadkit snapshot` (flattened into the snapshot command with
//! `#[command(flatten)]`) and the call that runs one config entry's git flow.
//!
//! The token is never an option value: `--git.tokenEnv` names the environment variable that
//! holds it (default `CADKIT_GIT_TOKEN`), so it never appears on a command line.

use crate::env::Environment;
use crate::git::{self, message, Author, Backoff, SnapshotGitOptions, SnapshotGitReport};
use crate::snapshot::{GitConfig, SnapshotEntry};
use anyhow::{anyhow, bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Git options of the snapshot command.
#[derive(Debug, Clone, Args)]
pub struct GitArgs {
    /// Where entries with a `git` object are cloned (`<dir>/<name>`; reused: fetch + hard reset).
    #[arg(
        long = "snapshot.repositoriesDir",
        alias = "repositories-dir",
        env = "CADKIT_SNAPSHOT_REPOSITORIES_DIR",
        default_value = "/tmp/repositories"
    )]
    pub repositories_dir: PathBuf,
    /// Commit message template: {date} (yyyy.MM.dd HH:mm:ss, local), {folder}, {branch}, {count}.
    #[arg(
        long = "snapshot.commitMessage",
        alias = "commit-message",
        env = "CADKIT_SNAPSHOT_COMMIT_MESSAGE",
        default_value = message::DEFAULT_TEMPLATE
    )]
    pub commit_message: String,
    /// Commit author (and committer) name.
    #[arg(
        long = "git.authorName",
        alias = "git-author-name",
        env = "CADKIT_GIT_AUTHOR_NAME",
        default_value = "cadkit"
    )]
    pub git_author_name: String,
    /// Commit author (and committer) e-mail.
    #[arg(
        long = "git.authorEmail",
        alias = "git-author-email",
        env = "CADKIT_GIT_AUTHOR_EMAIL",
        default_value = "cadkit@localhost"
    )]
    pub git_author_email: String,
    /// Name of the environment variable holding the git token (used as the basic-auth
    /// password when the repository URL has none; user from the URL or x-access-token).
    #[arg(
        long = "git.tokenEnv",
        alias = "git-token-env",
        env = "CADKIT_GIT_TOKEN_ENV",
        default_value = "CADKIT_GIT_TOKEN"
    )]
    pub git_token_env: String,
    /// Push attempts before giving up when others keep pushing to the branch.
    #[arg(
        long = "git.maxAttempts",
        alias = "git-max-attempts",
        env = "CADKIT_GIT_MAX_ATTEMPTS",
        default_value_t = git::DEFAULT_MAX_ATTEMPTS,
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub git_max_attempts: u32,
    /// Create the branch on the first push when the remote lacks it (from the remote's
    /// default branch, or as the first commit of an empty repository).
    #[arg(long = "git.createBranch", alias = "git-create-branch", env = "CADKIT_GIT_CREATE_BRANCH", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub git_create_branch: Option<bool>,
    /// Clone depth (0 = full history; local repositories are always cloned in full).
    #[arg(
        long = "git.depth",
        alias = "git-depth",
        env = "CADKIT_GIT_DEPTH",
        default_value_t = 1
    )]
    pub git_depth: u32,
    /// Delete and clone again on every run instead of reusing the clone of an earlier run
    /// (fetch + hard reset, untracked files removed).
    #[arg(long = "git.freshClone", alias = "git-fresh-clone", env = "CADKIT_GIT_FRESH_CLONE", num_args = 0..=1, default_missing_value = "true", value_parser = super::parse_bool)]
    pub git_fresh_clone: Option<bool>,
}

impl GitArgs {
    /// The token from the variable named by `--git.tokenEnv`, if set and not empty.
    pub fn token(&self) -> Option<String> {
        std::env::var(&self.git_token_env)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_string())
    }

    /// Library options for one config entry. `output_dir` is the entry's `outputDir` (the
    /// snapshot folder inside the clone); `branch` and `commitMessage` of the entry win over
    /// the defaults.
    pub fn options(
        &self,
        name: &str,
        git: &GitConfig,
        output_dir: &str,
        dry_run: bool,
    ) -> SnapshotGitOptions {
        SnapshotGitOptions {
            name: name.to_string(),
            repo: git.repo.clone(),
            branch: git
                .branch
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| git::DEFAULT_BRANCH.to_string()),
            output_dir: output_dir.to_string(),
            repositories_dir: self.repositories_dir.clone(),
            commit_message: git
                .commit_message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| self.commit_message.clone()),
            author: Author {
                name: self.git_author_name.clone(),
                email: self.git_author_email.clone(),
            },
            token: self.token(),
            max_attempts: self.git_max_attempts,
            backoff: Backoff::default(),
            dry_run,
            create_branch: self.git_create_branch.unwrap_or(false),
            depth: self.git_depth,
            reuse_clone: !self.git_fresh_clone.unwrap_or(false),
        }
    }

    /// The git flow of one entry with a `git` object (called by `cadkit snapshot`): clone into
    /// `<repositoriesDir>/<name>`, dump into `<clone>/<outputDir>` (`outputDir` defaults to
    /// `default_dir`, the `--snapshot.dir` option), commit and push.
    pub fn snapshot_entry(
        &self,
        env: &dyn Environment,
        entry: &SnapshotEntry,
        default_dir: &Path,
        dry_run: bool,
    ) -> Result<SnapshotGitReport> {
        let Some(git) = &entry.git else {
            bail!(
                "snapshot config entry {:?} has no git object",
                entry.snapshooter.name
            );
        };
        let name = &entry.snapshooter.name;
        if name.is_empty() {
            bail!("a snapshot config entry with a git object needs snapshooter.name (the clone goes to <--snapshot.repositoriesDir>/<name>)");
        }
        let out = entry.output_dir(default_dir);
        let out = out
            .to_str()
            .ok_or_else(|| anyhow!("outputDir {} is not valid UTF-8", out.display()))?;
        let opts = self.options(name, git, out, dry_run);
        let report = git::snapshot_entry(env, entry, &opts)?;
        let g = &report.git;
        if g.dry_run && g.changed {
            eprintln!("dry run: would commit to {} of {}:", g.branch, g.repo);
            for (mark, list) in [
                ("A", &g.files.added),
                ("M", &g.files.changed),
                ("D", &g.files.deleted),
            ] {
                for p in list {
                    eprintln!("  {mark} {p}");
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        git: GitArgs,
    }

    #[test]
    fn defaults_and_entry_values() {
        let t = T::try_parse_from([
            "t",
            "--git.authorName",
            "Bot",
            "--git.createBranch",
            "--git.tokenEnv",
            "CADKIT_TEST_UNSET_TOKEN_VAR",
        ])
        .unwrap();
        assert_eq!(t.git.repositories_dir, PathBuf::from("/tmp/repositories"));
        assert_eq!(t.git.git_max_attempts, 8);
        let entry: GitConfig = serde_json::from_str(r#"{"repo":"https://h/r.git"}"#).unwrap();
        let o = t.git.options("p", &entry, "./snapshot", true);
        assert_eq!(o.branch, "develop");
        assert_eq!(o.commit_message, "Snapshot at {date} in {folder}");
        assert_eq!(o.author.name, "Bot");
        assert_eq!(o.author.email, "cadkit@localhost");
        assert!(o.create_branch && o.dry_run);
        assert_eq!(o.token, None);
        let entry: GitConfig = serde_json::from_str(
            r#"{"repo":"https://h/r.git","branch":"main","commitMessage":"m {date}"}"#,
        )
        .unwrap();
        let o = t.git.options("p", &entry, "./snapshot", false);
        assert_eq!(
            (o.branch.as_str(), o.commit_message.as_str()),
            ("main", "m {date}")
        );
        assert!(T::try_parse_from(["t", "--git.maxAttempts", "0"]).is_err());
    }
}
