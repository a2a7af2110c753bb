//! The command line: the `cadkit` front door and the one-step binaries share these
//! definitions, so every command has the same options, env vars and behaviour whichever
//! binary runs it.
//!
//! Drop-in rules: the toolkit's command names (`buildCodeAsData`) and dotted option names
//! (`--codeAsData.mode`) work unchanged, as do its multi-letter short flags (`-pmd`), which
//! are rewritten to their long form before parsing. Values are never coerced: `0123` stays
//! the string `0123`.
//!
//! Exit codes: 0 success; 1 failure (bad usage included, as with the toolkit); 2 only
//! where a command documents it (`update --plan`: changes pending).

mod build;
pub use build::{BuildArgs, CleanArgs, DependenciesArgs};
mod demo;
mod envcmd;
pub use envcmd::{
    BroadcastRefreshArgs, CheckDbArgs, IsDbInitializedArgs, MaintenanceArgs, ReadModeArgs,
    StartGcArgs, StatsDbArgs, UpdateUserArgs, UpgradeConfigArgs,
};
mod install;
pub use install::{install, InstallArgs};
mod snapshot;
pub use demo::DemoArgs;
pub use snapshot::SnapshotArgs;
pub mod registry_auth;
pub mod tag;
pub use registry_auth::RegistryAuthArgs;
pub use tag::TagArgs;
pub mod webhook;
pub use webhook::WebhookArgs;
mod snapshot_git;
pub use snapshot_git::GitArgs;
mod image;
pub use image::ImageArgs;
mod update;
pub use update::UpdateArgs;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Log level: error, warn, info, verbose or debug (the toolkit's names).
    #[arg(
        short = 'l',
        long = "logLevel",
        env = "LOG_LEVEL",
        default_value = "info",
        global = true,
        alias = "log-level"
    )]
    pub log_level: String,
    /// Also write logs to logs/cadkit_<time>_<level>.log.
    #[arg(long = "saveLogs", env = "SAVE_LOGS", global = true, alias = "save-logs", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub save_logs: Option<bool>,
    /// Running inside the orchestrator's container (the toolkit refuses local builds there).
    #[arg(long = "runningInDocker", env = "RUNNING_IN_DOCKER", global = true, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub running_in_docker: Option<bool>,
    /// Print a JSON report of what was done on stdout (`json`), or nothing (`none`).
    #[arg(long = "report", env = "CADKIT_REPORT", global = true, value_parser = ["json", "none"])]
    pub report: Option<String>,
}

impl GlobalArgs {
    pub fn json_report(&self) -> bool {
        self.report.as_deref() == Some("json")
    }
}

/// Where `install` and `update` work: the embedded environment and the built
/// `dist/codeAsData` folder (the desired state).
#[derive(Debug, Clone, Args)]
pub struct EnvTarget {
    /// The embedded environment (an SQLite file, created if missing).
    #[arg(long = "env", env = "CADKIT_ENV", default_value = crate::env::DEFAULT_ENV_PATH)]
    pub env: std::path::PathBuf,
    /// The built codeAsData folder (holding import_order.json).
    #[arg(
        long = "codeAsData.workingDir",
        alias = "working-dir",
        env = "CADKIT_WORKING_DIR",
        default_value = "./dist/codeAsData"
    )]
    pub working_dir: std::path::PathBuf,
}

/// Strict booleans: `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`; anything else is an error.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, found {other:?}")),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "cadkit",
    version,
    about = "Code-as-data delivery in CI: build, snapshot, images, deploy (drop-in for the Olympe toolkit)",
    args_override_self = true
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Gather the patches of the project and its dependencies into the working dir.
    #[command(name = "buildCodeAsData", alias = "build")]
    Build(build::BuildArgs),
    /// Empty the working dir (dist/codeAsData).
    #[command(name = "cleanCodeAsData", alias = "clean")]
    Clean(build::CleanArgs),
    /// List the code-as-data dependencies as JSON on stdout.
    #[command(name = "dependencies", alias = "deps")]
    Dependencies(build::DependenciesArgs),
    /// Run the delivery pipeline on the bundled sample project; needs no server.
    Demo(demo::DemoArgs),
    /// Reset the embedded environment and load a built codeAsData folder.
    Install(install::InstallArgs),
    /// Converge the embedded environment to a built codeAsData folder (plan with --plan).
    #[command(name = "update")]
    Update(update::UpdateArgs),
    /// Switch maintenance mode on or off.
    #[command(name = "maintenance")]
    Maintenance(envcmd::MaintenanceArgs),
    /// Switch code-as-data read-only mode on or off.
    #[command(name = "codeAsDataReadMode")]
    CodeAsDataReadMode(envcmd::ReadModeArgs),
    /// Record a refresh notice for connected clients.
    #[command(name = "broadcastRefreshApp")]
    BroadcastRefreshApp(envcmd::BroadcastRefreshArgs),
    /// Set a user's login name and password.
    #[command(name = "updateUser")]
    UpdateUser(envcmd::UpdateUserArgs),
    /// Checkpoint and compact the environment database.
    #[command(name = "startGC")]
    StartGc(envcmd::StartGcArgs),
    /// Instance and relation counts per model and type, database size.
    #[command(name = "statsDB")]
    StatsDb(envcmd::StatsDbArgs),
    /// Referential integrity of the environment (exit 1 when incoherent).
    #[command(name = "checkDB")]
    CheckDb(envcmd::CheckDbArgs),
    /// Whether the environment holds the admin user and Olympe Libraries.
    #[command(name = "isDbInitialized")]
    IsDbInitialized(envcmd::IsDbInitializedArgs),
    /// Draw version deployed vs required by the codeAsData folder.
    #[command(name = "getUpgradeConfig")]
    GetUpgradeConfig(envcmd::UpgradeConfigArgs),
    /// Dump the environment's projects as patch files (snapshot config entries).
    Snapshot(snapshot::SnapshotArgs),
    /// Image tag `<branch>-<commit>`, image references, environments and OCI labels.
    Tag(tag::TagArgs),
    /// Write registry credentials (Docker config.json) for the next steps, without Docker.
    #[command(name = "registry-auth")]
    RegistryAuth(registry_auth::RegistryAuthArgs),
    /// Notify the deployment webhook that images were pushed (registry-shaped payloads).
    Webhook(webhook::WebhookArgs),
    /// Copy a folder onto a base image and push it (or write an OCI layout); no daemon.
    Image(image::ImageArgs),
}

/// A command that can run on its own (the `cadkit-<step>` binaries).
pub trait Step: Args + std::fmt::Debug {
    fn run(self, global: &GlobalArgs) -> Result<i32>;
}

impl Command {
    fn run(self, global: &GlobalArgs) -> Result<i32> {
        match self {
            Command::Build(a) => a.run(global),
            Command::Dependencies(a) => a.run(global),
            Command::Clean(a) => a.run(global),
            Command::Demo(a) => a.run(global),
            Command::Install(a) => a.run(global),
            Command::Update(a) => a.run(global),
            Command::Maintenance(a) => a.run(global),
            Command::CodeAsDataReadMode(a) => a.run(global),
            Command::BroadcastRefreshApp(a) => a.run(global),
            Command::UpdateUser(a) => a.run(global),
            Command::StartGc(a) => a.run(global),
            Command::StatsDb(a) => a.run(global),
            Command::CheckDb(a) => a.run(global),
            Command::IsDbInitialized(a) => a.run(global),
            Command::GetUpgradeConfig(a) => a.run(global),
            Command::Snapshot(a) => a.run(global),
            Command::Tag(a) => a.run(global),
            Command::RegistryAuth(a) => a.run(global),
            Command::Webhook(a) => a.run(global),
            Command::Image(a) => a.run(global),
        }
    }
}

/// Die quietly on a closed stdout (`cadkit statsDB | head`), as Unix tools do, instead of
/// panicking on the first write.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Entry point of the `cadkit` binary.
pub fn main() -> i32 {
    restore_sigpipe();
    let argv = prepare(std::env::args_os().collect());
    match Cli::try_parse_from(argv) {
        Ok(cli) => finish(&cli.global, |g| cli.command.run(g)),
        Err(e) => usage_error(e),
    }
}

#[derive(Debug, Parser)]
#[command(version, args_override_self = true)]
struct Single<T: Step> {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    step: T,
}

/// Entry point of a one-step binary such as `cadkit-build`.
pub fn main_step<T: Step>(name: &'static str) -> i32 {
    restore_sigpipe();
    let argv = prepare(std::env::args_os().collect());
    let cmd = <Single<T> as clap::CommandFactory>::command().name(name);
    match cmd
        .try_get_matches_from(argv)
        .and_then(|m| <Single<T> as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(s) => finish(&s.global, |g| s.step.run(g)),
        Err(e) => usage_error(e),
    }
}

fn usage_error(e: clap::Error) -> i32 {
    let code = if e.use_stderr() { 1 } else { 0 };
    let _ = e.print();
    code
}

fn finish(global: &GlobalArgs, run: impl FnOnce(&GlobalArgs) -> Result<i32>) -> i32 {
    crate::logging::init(&global.log_level, global.save_logs.unwrap_or(false));
    match run(global) {
        Ok(code) => code,
        Err(e) => {
            crate::ci::report_error(&e);
            1
        }
    }
}

/// The toolkit's multi-letter short flags and their long forms.
const SHORT_FLAGS: &[(&str, &str)] = &[
    ("-sl", "--saveLogs"),
    ("-rd", "--runningInDocker"),
    ("-cf", "--jsonConfig"),
    ("-df", "--downloadFolder"),
    ("-dm", "--depsMinifyJSON"),
    ("-pwd", "--codeAsData.workingDir"),
    ("-pmd", "--codeAsData.mode"),
    ("-sd", "--snapshot.dir"),
    ("-sc", "--snapshot.config"),
    ("-scm", "--snapshot.commitMessage"),
    ("-srd", "--snapshot.repositoriesDir"),
    ("-sbd", "--snapshot.businessDataDir"),
    ("-seu", "--snapshot.excludeUsers"),
    ("-sdb", "--snapshot.dumpBinaries"),
    ("-sdr", "--snapshot.dataRootTag"),
    ("-sud", "--snapshot.usersDataDir"),
    ("-id", "--import.debug"),
    ("-oif", "--orchestrator.importOrderFile"),
    ("-vf", "--versionFileName"),
    ("-ut", "--user.tag"),
    ("-un", "--user.name"),
    ("-up", "--user.password"),
    ("-ucl", "--update.useChangeLog"),
    ("-ucn", "--update.changeLogName"),
    ("-und", "--update.noDowntime"),
    ("-ugr", "--update.graphDefRateLimit"),
    ("-ex", "--update.excludeTags"),
    ("-inc", "--update.includeTags"),
    ("-if", "--import.ignoreRelationFail"),
    ("-ibu", "--import.backupUsers"),
    ("-ibb", "--import.backupBusinessData"),
    ("-it", "--import.timeout"),
    ("-bpr", "--bus.protocol"),
    ("-bh", "--bus.hostname"),
    ("-bp", "--bus.port"),
    ("-bu", "--bus.username"),
    ("-bpw", "--bus.password"),
    ("-bv", "--bus.vhost"),
    ("-bde", "--bus.commandsExchange"),
    ("-bcq", "--bus.commandRoutingKey"),
    ("-bdq", "--bus.deploymentRoutingKey"),
    ("-oh", "--orchestrator.host"),
    ("-op", "--orchestrator.port"),
    ("-ou", "--orchestrator.userName"),
    ("-opw", "--orchestrator.password"),
    ("-ocu", "--orchestrator.containerUser"),
    ("-opd", "--orchestrator.codeAsDataDir"),
];

/// Rewrite toolkit-style arguments into what clap parses: multi-letter short flags become
/// long ones, `--jsonConfig <json>` expands into dotted options placed last (the toolkit
/// merges it over everything else), and `CADKIT_*` variables fall back to the toolkit's.
pub fn prepare(argv: Vec<OsString>) -> Vec<OsString> {
    apply_env_fallbacks();
    let mut out = Vec::with_capacity(argv.len());
    let mut json_config = Vec::new();
    let mut iter = argv.into_iter();
    let mut after_dash_dash = false;
    while let Some(arg) = iter.next() {
        let s = arg.to_string_lossy().into_owned();
        if after_dash_dash || s == "--" {
            after_dash_dash = true;
            out.push(arg);
            continue;
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f.to_string(), Some(v.to_string())),
            _ => (s.clone(), None),
        };
        let long = SHORT_FLAGS
            .iter()
            .find(|(short, _)| *short == flag)
            .map(|(_, long)| long.to_string())
            .unwrap_or(flag);
        if long == "--jsonConfig" {
            let value = inline.or_else(|| iter.next().map(|v| v.to_string_lossy().into_owned()));
            if let Some(v) = value {
                match serde_json::from_str::<serde_json::Value>(&v) {
                    Ok(value) => flatten_json_config(&value, "", &mut json_config),
                    Err(e) => {
                        eprintln!("error: --jsonConfig is not valid JSON: {e}");
                        std::process::exit(1);
                    }
                }
            }
            continue;
        }
        match inline {
            Some(v) => out.push(OsString::from(format!("{long}={v}"))),
            None if long != s => out.push(OsString::from(long)),
            None => out.push(arg),
        }
    }
    out.extend(json_config.into_iter().map(OsString::from));
    out
}

fn flatten_json_config(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json_config(v, &key, out);
            }
        }
        serde_json::Value::String(s) => out.push(format!("--{prefix}={s}")),
        other => out.push(format!("--{prefix}={other}")),
    }
}

/// `CADKIT_<NAME>` wins over the toolkit's variable of the same option; both lose to a flag.
/// Options declare the `CADKIT_*` name to clap; this copies the toolkit's variable into it
/// when only the toolkit's is set.
const ENV_FALLBACKS: &[(&str, &str)] = &[
    ("CADKIT_SNAPSHOT_DIR", "SNAPSHOT_DATA_FOLDER"),
    ("CADKIT_SNAPSHOT_CONFIG", "SNAPSHOT_CONFIG"),
    ("CADKIT_SNAPSHOT_COMMIT_MESSAGE", "SNAPSHOT_COMMIT_MESSAGE"),
    ("CADKIT_SNAPSHOT_REPOSITORIES_DIR", "SNAPSHOT_REPOSITORIES"),
    (
        "CADKIT_SNAPSHOT_USERS_DATA_DIR",
        "SNAPSHOT_USER_DATA_FOLDER",
    ),
    (
        "CADKIT_SNAPSHOT_BUSINESS_DATA_DIR",
        "SNAPSHOT_BUSINESS_DATA_FOLDER",
    ),
    ("CADKIT_UPDATE_USE_CHANGE_LOG", "UPDATE_USE_CHANGELOG"),
    ("CADKIT_UPDATE_NO_DOWNTIME", "UPDATE_NO_DOWNTIME"),
    ("CADKIT_UPDATE_EXCLUDED_TAGS", "UPDATE_EXCLUDED_TAGS"),
    ("CADKIT_UPDATE_INCLUDED_TAGS", "UPDATE_INCLUDED_TAGS"),
    ("CADKIT_IMPORT_BACKUP_USERS", "BACKUP_USERS"),
    ("CADKIT_IMPORT_BACKUP_BUSINESS_DATA", "BACKUP_BUSINESS_DATA"),
    ("CADKIT_IMPORT_IGNORE_RELATION_FAIL", "IGNORE_RELATION_FAIL"),
    ("CADKIT_USER_TAG", "DRAW_USERTAG"),
    ("CADKIT_USER_NAME", "DRAW_USERNAME"),
    ("CADKIT_USER_PASSWORD", "DRAW_PASSWORD"),
];

fn apply_env_fallbacks() {
    // An empty `CADKIT_*` counts as unset: CI templates map every input to a variable,
    // and an input left blank must fall through to the next source, not become "".
    let empty: Vec<OsString> = std::env::vars_os()
        .filter(|(k, v)| v.is_empty() && k.to_string_lossy().starts_with("CADKIT_"))
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        // Single-threaded at this point: nothing else reads the environment yet.
        std::env::remove_var(k);
    }
    for (ours, theirs) in ENV_FALLBACKS {
        if std::env::var_os(ours).is_none() {
            if let Some(v) = std::env::var_os(theirs) {
                // Single-threaded at this point: nothing else reads the environment yet.
                std::env::set_var(ours, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        prepare(v.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn toolkit_short_flags_and_json_config_become_long_options() {
        assert_eq!(
            args(&[
                "cadkit",
                "buildCodeAsData",
                "-pmd",
                "project",
                "-pwd=out",
                "-cf",
                r#"{"snapshot":{"dir":"0123"}}"#
            ]),
            [
                "cadkit",
                "buildCodeAsData",
                "--codeAsData.mode",
                "project",
                "--codeAsData.workingDir=out",
                "--snapshot.dir=0123"
            ]
        );
    }

    #[test]
    fn digits_stay_strings() {
        let cli = Cli::try_parse_from(args(&["cadkit", "build", "--snapshot.dir", "007"])).unwrap();
        let Command::Build(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.snapshot_dir.to_str(), Some("007"));
    }
}
