//! The git options of `cadkit snapshot` (flattened into the snapshot command with
//! `#[command(flatten)]`), turned into the step's [`GitDefaults`].
//!
//! The token is never an option value: `--git.tokenEnv` names the environment variable that
//! holds it (default `CADKIT_GIT_TOKEN`), so it never appears on a command line.

use crate::git::{self, message, Author};
use crate::steps::snapshot::GitDefaults;
use clap::Args;
use std::path::PathBuf;

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

    /// The git settings of every entry with a `git` object (the token read from the
    /// variable named by `--git.tokenEnv`).
    pub fn defaults(&self) -> GitDefaults {
        GitDefaults {
            repositories_dir: self.repositories_dir.clone(),
            commit_message: self.commit_message.clone(),
            author: Author {
                name: self.git_author_name.clone(),
                email: self.git_author_email.clone(),
            },
            token: self.token(),
            max_attempts: self.git_max_attempts,
            create_branch: self.git_create_branch.unwrap_or(false),
            depth: self.git_depth,
            reuse_clone: !self.git_fresh_clone.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::GitConfig;
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
        let o = t.git.defaults().options("p", &entry, "./snapshot", true);
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
        let o = t.git.defaults().options("p", &entry, "./snapshot", false);
        assert_eq!(
            (o.branch.as_str(), o.commit_message.as_str()),
            ("main", "m {date}")
        );
        assert!(T::try_parse_from(["t", "--git.maxAttempts", "0"]).is_err());
    }
}
