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

mod backup;
pub use backup::{SnapshotBackupArgs, SnapshotDataArgs};
mod build;
pub use build::{BuildArgs, CleanArgs, DependenciesArgs};
pub mod bus;
mod demo;
mod envcmd;
pub use envcmd::{
    BroadcastRefreshArgs, CheckDbArgs, ClearGraphDefCacheArgs, CreatePatchesBackupArgs,
    IsDbInitializedArgs, MaintenanceArgs, ReadModeArgs, RestoreArgs, StartGcArgs, StatsDbArgs,
    UpdateUserArgs, UpgradeConfigArgs,
};
mod install;
pub use install::InstallArgs;
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
mod bundle;
mod receiver;
pub use bundle::BundleArgs;
pub use receiver::ReceiverArgs;
mod orchestrator;
pub use orchestrator::OrchestratorArgs;
mod argv;
pub mod toolkit;

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
    /// The toolkit's local work folder (`/tmp/toolkit`): where `update` against an
    /// orchestrator writes its diff files before uploading them.
    #[arg(long = "downloadFolder", env = "DOWNLOAD_FOLDER", global = true)]
    pub download_folder: Option<std::path::PathBuf>,
    /// Print a JSON report of what was done on stdout (`json`), or nothing (`none`).
    #[arg(long = "report", env = "CADKIT_REPORT", global = true, value_parser = ["json", "none"])]
    pub report: Option<String>,
}

impl GlobalArgs {
    /// Whether `--report json` was asked (the report, not the toolkit's bytes, on stdout).
    pub fn json_report(&self) -> bool {
        self.report.as_deref() == Some("json")
    }

    /// What a command prints on stdout, the same for every command: `--report json` the
    /// report, `--report none` nothing, and without `--report` the command's `default`
    /// (its report, or the toolkit's bytes for a toolkit command that prints a value).
    pub fn stdout(&self, default: crate::ci::Stdout) -> crate::ci::Stdout {
        match self.report.as_deref() {
            Some("json") => crate::ci::Stdout::Report,
            Some("none") => crate::ci::Stdout::Nothing,
            _ => default,
        }
    }
}

/// The one output path of a command: its typed report wrapped in the envelope, redacted,
/// written to the report file, CI outputs already set on `out`; stdout per
/// [`GlobalArgs::stdout`].
pub(crate) fn emit<R: serde::Serialize>(
    out: crate::ci::Outputs,
    report: &R,
    global: &GlobalArgs,
    default: crate::ci::Stdout,
) -> Result<()> {
    out.finish_report_as(report, global.stdout(default))?;
    Ok(())
}

/// Where `install` and `update` work: the embedded environment and the built
/// `dist/codeAsData` folder (the desired state).
#[derive(Debug, Clone, Args)]
pub struct EnvTarget {
    /// The embedded environment (an SQLite file, created if missing; default
    /// .cadkit/env.sqlite).
    #[arg(long = "env", env = "CADKIT_ENV")]
    pub env: Option<std::path::PathBuf>,
    /// Or an orchestrator (`--bus.*` / `--orchestrator.*`, `RABBITMQ_*` / `ORCHESTRATOR_*`).
    #[command(flatten)]
    pub remote: bus::RemoteArgs,
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
    /// Clear the orchestrator's graphDef cache.
    #[command(name = "clearGraphDefCache")]
    ClearGraphDefCache(envcmd::ClearGraphDefCacheArgs),
    /// Zip the orchestrator's patches into its backup area (rollback point).
    #[command(name = "createPatchesBackup")]
    CreatePatchesBackup(envcmd::CreatePatchesBackupArgs),
    /// Load the users saved in the orchestrator's backup area.
    #[command(name = "restoreUsers")]
    RestoreUsers(envcmd::RestoreArgs),
    /// Load the business data saved in the orchestrator's backup area.
    #[command(name = "restoreBusinessData")]
    RestoreBusinessData(envcmd::RestoreArgs),
    /// Dump the orchestrator's users and upload them to its backup area.
    #[command(name = "snapshotUsers")]
    SnapshotUsers(backup::SnapshotBackupArgs),
    /// Dump the orchestrator's business data and upload it to its backup area.
    #[command(name = "snapshotBusinessData")]
    SnapshotBusinessData(backup::SnapshotBackupArgs),
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
    /// Serve the asynchronous deployment API (registry notifications, bundles).
    Receiver(receiver::ReceiverArgs),
    /// Pack a built codeAsData folder and its project metadata into a checked zip.
    Bundle(bundle::BundleArgs),
    /// Run the reference orchestrator (AMQP + HTTP) over the embedded environment.
    Orchestrator(orchestrator::OrchestratorArgs),
}

/// A command that can run on its own (the `cadkit-<step>` binaries).
pub trait Step: Args + std::fmt::Debug {
    /// Turn the arguments into the step's request, run the step, hand its report to the
    /// one output path; the process exit code (an error is printed and exits 1).
    fn run(self, global: &GlobalArgs) -> Result<i32>;
}

/// Whether `CADKIT_DRY_RUN` asks for a dry run (what a pipeline's `dry-run: true` sets).
fn dry_run_from_env() -> bool {
    std::env::var("CADKIT_DRY_RUN")
        .ok()
        .and_then(|v| parse_bool(&v).ok())
        .unwrap_or(false)
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
            Command::ClearGraphDefCache(a) => a.run(global),
            Command::CreatePatchesBackup(a) => a.run(global),
            Command::RestoreUsers(a) => a.run_restore(false, global),
            Command::RestoreBusinessData(a) => a.run_restore(true, global),
            Command::SnapshotUsers(a) => a.run_snapshot(false, global),
            Command::SnapshotBusinessData(a) => a.run_snapshot(true, global),
            Command::Snapshot(a) => a.run(global),
            Command::Tag(a) => a.run(global),
            Command::RegistryAuth(a) => a.run(global),
            Command::Webhook(a) => a.run(global),
            Command::Image(a) => a.run(global),
            Command::Receiver(a) => a.run(global),
            Command::Bundle(a) => a.run(global),
            Command::Orchestrator(a) => a.run(global),
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
    let argv = match prepare(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => return bad_arguments(&e),
    };
    let cmd =
        argv::without_empty_variables(<Cli as clap::CommandFactory>::command(), &argv::process_env);
    match cmd
        .try_get_matches_from(argv)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
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
    let toolkit_name = match name.trim_start_matches("cadkit-") {
        "build" => "buildCodeAsData",
        other => other,
    };
    let argv = match prepare_step(
        std::env::args_os().collect(),
        toolkit_name,
        &<Single<T> as clap::CommandFactory>::command(),
    ) {
        Ok(argv) => argv,
        Err(e) => return bad_arguments(&e),
    };
    let cmd =
        argv::without_empty_variables(single_command::<T>(name, toolkit_name), &argv::process_env);
    match cmd
        .try_get_matches_from(argv)
        .and_then(|m| <Single<T> as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(s) => finish(&s.global, |g| s.step.run(g)),
        Err(e) => usage_error(e),
    }
}

/// The one-step binary's parser, described as `cadkit <command>` is: without this, its
/// help would open with the doc of whichever flattened argument group clap saw last.
fn single_command<T: Step>(name: &'static str, toolkit_name: &str) -> clap::Command {
    let cmd = <Single<T> as clap::CommandFactory>::command().name(name);
    let full = <Cli as clap::CommandFactory>::command();
    let Some(sub) = full.find_subcommand(toolkit_name) else {
        return cmd;
    };
    let cmd = match sub.get_about() {
        Some(a) => cmd.about(a.clone()),
        None => cmd.about(None::<&str>),
    };
    match sub.get_long_about() {
        Some(a) => cmd.long_about(a.clone()),
        None => cmd.long_about(None::<&str>),
    }
}

/// A command line that cannot even be rewritten (e.g. `--jsonConfig` that is not JSON):
/// printed once, exit 1 as for any usage error.
fn bad_arguments(message: &str) -> i32 {
    eprintln!("error: {message}");
    1
}

fn usage_error(e: clap::Error) -> i32 {
    let code = if e.use_stderr() { 1 } else { 0 };
    let _ = e.print();
    code
}

fn finish(global: &GlobalArgs, run: impl FnOnce(&GlobalArgs) -> Result<i32>) -> i32 {
    crate::logging::init(&global.log_level, global.save_logs.unwrap_or(false));
    toolkit::emit_notes();
    bus::set_download_folder(global.download_folder.clone());
    match run(global) {
        Ok(code) => code,
        Err(e) => {
            crate::ci::report_error(&e);
            1
        }
    }
}

/// Rewrite toolkit-style arguments into what clap parses (short flags, the guide's
/// spellings, `--jsonConfig`, toolkit variables: all arguments, the process environment is
/// never written), then take out the toolkit options of the command that cadkit's command
/// does not declare ([`toolkit::strip`]).
pub fn prepare(argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    prepare_with(argv, &argv::process_env)
}

/// [`prepare`] with the variables of `get`; the toolkit's variables become arguments of
/// the command ([`argv::variable_arguments`]).
fn prepare_with(argv: Vec<OsString>, get: argv::Lookup) -> Result<Vec<OsString>, String> {
    let root = <Cli as clap::CommandFactory>::command();
    let mut out = argv::rewrite(argv, &root)?;
    let found = out.iter().enumerate().skip(1).find_map(|(i, a)| {
        let a = a.to_str()?;
        root.find_subcommand(a).map(|sub| (i, sub))
    });
    if let Some((i, sub)) = found {
        let rest = out.split_off(i + 1);
        let name = sub.get_name().to_string();
        out.extend(argv::variable_arguments(sub, get));
        out.extend(toolkit::strip(rest, &name, sub, &root));
    }
    Ok(out)
}

/// [`prepare`] for a one-step binary: `cmd` is the step's whole command line.
fn prepare_step(
    argv: Vec<OsString>,
    toolkit_name: &str,
    cmd: &clap::Command,
) -> Result<Vec<OsString>, String> {
    let mut out = argv::rewrite(argv, cmd)?;
    let rest = out.split_off(1.min(out.len()));
    out.extend(argv::variable_arguments(cmd, &argv::process_env));
    out.extend(toolkit::strip(rest, toolkit_name, cmd, cmd));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        prepare(v.iter().map(OsString::from).collect())
            .unwrap()
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
    fn optional_value_booleans_never_swallow_the_next_word() {
        for argv in [
            &["cadkit", "-rd", "buildCodeAsData"][..],
            &["cadkit", "--saveLogs", "buildCodeAsData"],
            &[
                "cadkit",
                "--runningInDocker",
                "build",
                "--dry-run",
                "-pmd",
                "project",
            ],
        ] {
            let cli = Cli::try_parse_from(args(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert!(matches!(cli.command, Command::Build(_)), "{argv:?}");
        }
        let cli = Cli::try_parse_from(args(&["cadkit", "-sl", "false", "tag", "--dry-run", "0"]))
            .unwrap();
        assert_eq!(cli.global.save_logs, Some(false));
        let Command::Tag(t) = cli.command else {
            panic!()
        };
        assert_eq!(t.dry_run, Some(false));
        let cli = Cli::try_parse_from(args(&["cadkit", "-rd", "1", "build"])).unwrap();
        assert_eq!(cli.global.running_in_docker, Some(true));
    }

    /// The toolkit's reference table (olympe-formats §3), per command, minus the `--bus.*` /
    /// `--orchestrator.*` connection options (the orchestrator client brings them): every
    /// option parses in its long form and with its short flag.
    #[test]
    fn every_toolkit_option_is_accepted_by_the_commands_it_applies_to() {
        const GLOBAL: &[(&str, &str, &str)] = &[
            ("-l", "--logLevel", "debug"),
            ("-sl", "--saveLogs", "false"),
            ("-rd", "--runningInDocker", "false"),
            ("-df", "--downloadFolder", "/tmp/tk"),
        ];
        const WORKING_DIR: (&str, &str, &str) = ("-pwd", "--codeAsData.workingDir", "out");
        const MODE: (&str, &str, &str) = ("-pmd", "--codeAsData.mode", "project");
        const SNAPSHOT_DIR: (&str, &str, &str) = ("-sd", "--snapshot.dir", "snap");
        const BUSINESS: &[(&str, &str, &str)] = &[
            ("-sbd", "--snapshot.businessDataDir", "data"),
            ("-seu", "--snapshot.excludeUsers", "true"),
            ("-sdb", "--snapshot.dumpBinaries", "true"),
            ("-sdr", "--snapshot.dataRootTag", "10000000000000000000"),
        ];
        const USERS: (&str, &str, &str) = ("-sud", "--snapshot.usersDataDir", "users");
        const IMPORT_ORDER: (&str, &str, &str) = (
            "-oif",
            "--orchestrator.importOrderFile",
            "import_order.json",
        );
        const VERSION_FILE: (&str, &str, &str) = ("-vf", "--versionFileName", "version.json");
        const SNAPSHOT_OPTIONS: &[(&str, &str, &str)] = &[
            ("-sc", "--snapshot.config", "conf.json"),
            ("-scm", "--snapshot.commitMessage", "m {folder}"),
            ("-srd", "--snapshot.repositoriesDir", "/tmp/repos"),
        ];
        const USER: &[(&str, &str, &str)] = &[
            ("-ut", "--user.tag", "014831d95fd7d12b8568"),
            ("-un", "--user.name", "admin"),
            ("-up", "--user.password", "secret-pw"),
        ];
        const INSTALL_ONLY: &[(&str, &str, &str)] = &[
            ("-id", "--import.debug", "true"),
            ("-ucn", "--update.changeLogName", "change_log.txt"),
            ("-if", "--import.ignoreRelationFail", "true"),
            ("-ibu", "--import.backupUsers", "false"),
            ("-ibb", "--import.backupBusinessData", "false"),
            ("-it", "--import.timeout", "3600000"),
        ];
        const UPDATE_ONLY: &[(&str, &str, &str)] = &[
            ("-ucl", "--update.useChangeLog", "false"),
            ("-und", "--update.noDowntime", "true"),
            ("-ugr", "--update.graphDefRateLimit", "5"),
            ("-ex", "--update.excludeTags", "[]"),
            ("-inc", "--update.includeTags", "[]"),
        ];
        let mut install: Vec<(&str, &str, &str)> = vec![SNAPSHOT_DIR, USERS, WORKING_DIR];
        install.extend_from_slice(SNAPSHOT_OPTIONS);
        install.extend_from_slice(USER);
        install.extend_from_slice(BUSINESS);
        install.extend([IMPORT_ORDER, MODE, VERSION_FILE]);
        install.extend_from_slice(INSTALL_ONLY);
        let mut update = install.clone();
        update.extend_from_slice(UPDATE_ONLY);
        let mut build = vec![
            WORKING_DIR,
            MODE,
            SNAPSHOT_DIR,
            USERS,
            IMPORT_ORDER,
            VERSION_FILE,
        ];
        build.extend_from_slice(BUSINESS);
        type Opt<'a> = (&'a str, &'a str, &'a str);
        let table: Vec<(&str, Vec<Opt>)> = vec![
            ("buildCodeAsData", build),
            ("cleanCodeAsData", vec![WORKING_DIR]),
            ("dependencies", vec![("-dm", "--depsMinifyJSON", "true")]),
            ("snapshot", SNAPSHOT_OPTIONS.to_vec()),
            ("install", install),
            ("update", update),
            ("updateUser", USER.to_vec()),
            (
                "snapshotUsers",
                [SNAPSHOT_OPTIONS, &[SNAPSHOT_DIR, USERS]].concat(),
            ),
            (
                "snapshotBusinessData",
                [SNAPSHOT_OPTIONS, &[SNAPSHOT_DIR], BUSINESS].concat(),
            ),
            ("getUpgradeConfig", vec![VERSION_FILE]),
        ];
        let mut failures = Vec::new();
        for (command, options) in &table {
            for (short, long, value) in options.iter().chain(GLOBAL) {
                for flag in [short, long] {
                    let argv = ["cadkit", command, flag, value];
                    if let Err(e) = Cli::try_parse_from(args(&argv)) {
                        let first = e.to_string().lines().next().unwrap_or_default().to_string();
                        failures.push(format!("{argv:?}: {first}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_guides_snapshot_spellings_are_aliases() {
        let cli = Cli::try_parse_from(args(&[
            "cadkit",
            "buildCodeAsData",
            "--snapshot.userDataDir",
            "people",
        ]))
        .unwrap();
        let Command::Build(b) = cli.command else {
            panic!()
        };
        assert_eq!(b.users_data_dir, "people");
        Cli::try_parse_from(args(&[
            "cadkit",
            "snapshot",
            "--snapshot.repositoryDir",
            "/tmp/r",
        ]))
        .unwrap();
    }

    #[test]
    fn json_config_takes_any_toolkit_key_of_the_command() {
        let cli = Cli::try_parse_from(args(&[
            "cadkit",
            "buildCodeAsData",
            "-cf",
            r#"{"snapshot":{"userDataDir":"people","dumpBinaries":true},"codeAsData":{"mode":"project"},"logLevel":"debug"}"#,
        ]))
        .unwrap();
        assert_eq!(cli.global.log_level, "debug");
        let Command::Build(b) = cli.command else {
            panic!()
        };
        assert_eq!(
            (b.users_data_dir.as_str(), b.mode.as_str()),
            ("people", "project")
        );
        for (command, json) in [
            (
                "install",
                r#"{"import":{"timeout":5,"backupUsers":false},"user":{"password":"pw-pw"}}"#,
            ),
            (
                "update",
                r#"{"update":{"graphDefRateLimit":2,"noDowntime":true},"snapshot":{"dir":"s"}}"#,
            ),
            (
                "snapshot",
                r#"{"snapshot":{"commitMessage":"x {folder}","repositoryDir":"/r"}}"#,
            ),
        ] {
            Cli::try_parse_from(args(&["cadkit", command, "-cf", json]))
                .unwrap_or_else(|e| panic!("{command} {json}: {e}"));
        }
    }

    /// The toolkit's variables become arguments of the command (the process environment is
    /// never written): `CADKIT_*` wins over them unless empty, and a flag wins over both.
    #[test]
    fn toolkit_variables_become_arguments() {
        let parse = |argv: &[&str], vars: &[(&str, &str)]| {
            let get = |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            };
            let argv = prepare_with(argv.iter().map(OsString::from).collect(), &get).unwrap();
            let cmd = argv::without_empty_variables(<Cli as clap::CommandFactory>::command(), &get);
            let m = cmd.try_get_matches_from(argv).unwrap();
            let Command::Build(b) = <Cli as clap::FromArgMatches>::from_arg_matches(&m)
                .unwrap()
                .command
            else {
                panic!()
            };
            b.snapshot_dir.to_string_lossy().into_owned()
        };
        let toolkit = ("SNAPSHOT_DATA_FOLDER", "from-toolkit");
        assert_eq!(parse(&["cadkit", "build"], &[toolkit]), "from-toolkit");
        assert_eq!(
            parse(&["cadkit", "build", "--snapshot.dir", "flag"], &[toolkit]),
            "flag"
        );
        assert_eq!(
            parse(&["cadkit", "build", "-pmd", "all", "-sd=flag"], &[toolkit]),
            "flag"
        );
        // `CADKIT_*` is read by clap itself (the process environment): only its absence is
        // observable here, as is an empty one falling through to the toolkit's.
        let argv = prepare_with(
            ["cadkit", "build"].iter().map(OsString::from).collect(),
            &|k| match k {
                "CADKIT_SNAPSHOT_DIR" => Some("ours".into()),
                "SNAPSHOT_DATA_FOLDER" => Some("theirs".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(argv, ["cadkit", "build"]);
        let argv = prepare_with(
            ["cadkit", "build"].iter().map(OsString::from).collect(),
            &|k| match k {
                "CADKIT_SNAPSHOT_DIR" => Some("".into()),
                "SNAPSHOT_DATA_FOLDER" => Some("theirs".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(argv, ["cadkit", "build", "--snapshot.dir=theirs"]);
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
