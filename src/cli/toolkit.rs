//! The toolkit's option table (`@olympeio/toolkit` 1.2.3, `olympe-formats.md` §3), per
//! command, so that a job written for `npx olympe` runs unchanged on cadkit.
//!
//! Options a cadkit command declares itself are parsed by clap as usual. The others of the
//! toolkit's table for that command configure something the embedded environment does not
//! have (a business-data dump during a build, an import timeout, the admin user of a fresh
//! install…): they are accepted, with their short flags and through `--jsonConfig`, and
//! taken out before parsing; a value other than the toolkit's default is reported as a
//! warning (never silently ignored). The `--bus.*` / `--orchestrator.*` connection options
//! are not in this table: they come with the orchestrator client.

use std::ffi::OsString;
use std::sync::Mutex;

/// One toolkit option: long name, default (as the toolkit documents it), boolean or not.
#[derive(Debug, Clone, Copy)]
pub struct ToolkitOption {
    /// The long option, without dashes (`snapshot.dir`).
    pub long: &'static str,
    /// The default the toolkit documents (empty: none).
    pub default: &'static str,
    /// Whether it is a boolean (taking `true`/`false`, or nothing).
    pub boolean: bool,
    /// The toolkit's environment variable of the option, if it has one.
    pub env: Option<&'static str>,
}

const fn opt(long: &'static str, default: &'static str) -> ToolkitOption {
    ToolkitOption {
        long,
        default,
        boolean: false,
        env: None,
    }
}

const fn flag(long: &'static str, default: &'static str) -> ToolkitOption {
    ToolkitOption {
        long,
        default,
        boolean: true,
        env: None,
    }
}

impl ToolkitOption {
    const fn var(self, env: &'static str) -> ToolkitOption {
        ToolkitOption {
            env: Some(env),
            ..self
        }
    }
}

const WORKING_DIR: &[ToolkitOption] = &[opt("--codeAsData.workingDir", "./dist/codeAsData")];
const MODE: &[ToolkitOption] = &[opt("--codeAsData.mode", "all")];
const SNAPSHOT_DIR: &[ToolkitOption] =
    &[opt("--snapshot.dir", "./snapshot").var("SNAPSHOT_DATA_FOLDER")];
const SNAPSHOT_CONFIG: &[ToolkitOption] =
    &[opt("--snapshot.config", "./snapshot/snapshot-config.json").var("SNAPSHOT_CONFIG")];
const SNAPSHOT_OPTIONS: &[ToolkitOption] = &[
    opt("--snapshot.commitMessage", "Snapshot at {date} in {folder}")
        .var("SNAPSHOT_COMMIT_MESSAGE"),
    opt("--snapshot.repositoriesDir", "/tmp/repositories").var("SNAPSHOT_REPOSITORIES"),
];
const BUSINESS_DATA: &[ToolkitOption] = &[
    opt("--snapshot.businessDataDir", "data").var("SNAPSHOT_BUSINESS_DATA_FOLDER"),
    flag("--snapshot.excludeUsers", "false").var("SNAPSHOTER_EXCLUDE_USERS"),
    flag("--snapshot.dumpBinaries", "false").var("DUMP_BINARY_FILES"),
    opt("--snapshot.dataRootTag", "10000000000000000000"),
];
const USERS: &[ToolkitOption] =
    &[opt("--snapshot.usersDataDir", "users").var("SNAPSHOT_USER_DATA_FOLDER")];
const IMPORT_DEBUG: &[ToolkitOption] = &[flag("--import.debug", "false").var("LOAD_PATCHES_DEBUG")];
const IMPORT_ORDER: &[ToolkitOption] =
    &[opt("--orchestrator.importOrderFile", "import_order.json")];
const VERSION_FILE: &[ToolkitOption] = &[opt("--versionFileName", "version.json")];
const USER: &[ToolkitOption] = &[
    opt("--user.tag", "014831d95fd7d12b8568").var("DRAW_USERTAG"),
    opt("--user.name", "admin").var("DRAW_USERNAME"),
    opt("--user.password", "admin").var("DRAW_PASSWORD"),
];
const INSTALL_EXTRA: &[ToolkitOption] = &[
    opt("--update.changeLogName", "change_log.txt"),
    flag("--import.ignoreRelationFail", "false").var("IGNORE_RELATION_FAIL"),
    flag("--import.backupUsers", "true").var("BACKUP_USERS"),
    flag("--import.backupBusinessData", "true").var("BACKUP_BUSINESS_DATA"),
    opt("--import.timeout", "3600000").var("RESET_DB_TIMEOUT"),
];
const UPDATE_OPTIONS: &[ToolkitOption] = &[
    flag("--update.useChangeLog", "true").var("UPDATE_USE_CHANGELOG"),
    flag("--update.noDowntime", "false").var("UPDATE_NO_DOWNTIME"),
    opt("--update.graphDefRateLimit", "5").var("GRAPHDEF_MAX_CONCURRENT_CALLS"),
    opt("--update.excludeTags", "[]").var("UPDATE_EXCLUDED_TAGS"),
    opt("--update.includeTags", "[]").var("UPDATE_INCLUDED_TAGS"),
];
const DEPENDENCIES: &[ToolkitOption] = &[flag("--depsMinifyJSON", "false")];

const INSTALL: &[&[ToolkitOption]] = &[
    SNAPSHOT_CONFIG,
    SNAPSHOT_OPTIONS,
    SNAPSHOT_DIR,
    USER,
    BUSINESS_DATA,
    USERS,
    IMPORT_DEBUG,
    WORKING_DIR,
    IMPORT_ORDER,
    MODE,
    VERSION_FILE,
    INSTALL_EXTRA,
];

/// The toolkit's option groups of `command` (its name as the toolkit spells it).
pub fn options_of(command: &str) -> Vec<ToolkitOption> {
    let groups: Vec<&[ToolkitOption]> = match command {
        "buildCodeAsData" => vec![
            WORKING_DIR,
            MODE,
            BUSINESS_DATA,
            USERS,
            SNAPSHOT_DIR,
            IMPORT_ORDER,
            VERSION_FILE,
        ],
        "cleanCodeAsData" => vec![WORKING_DIR],
        "dependencies" => vec![DEPENDENCIES],
        "snapshot" => vec![SNAPSHOT_CONFIG, SNAPSHOT_OPTIONS],
        "install" => INSTALL.to_vec(),
        "update" => INSTALL.iter().copied().chain([UPDATE_OPTIONS]).collect(),
        "updateUser" => vec![USER],
        "snapshotUsers" => vec![SNAPSHOT_CONFIG, SNAPSHOT_OPTIONS, SNAPSHOT_DIR, USERS],
        "snapshotBusinessData" => vec![
            SNAPSHOT_CONFIG,
            SNAPSHOT_OPTIONS,
            SNAPSHOT_DIR,
            BUSINESS_DATA,
        ],
        "restoreUsers" => vec![SNAPSHOT_DIR, USERS, IMPORT_DEBUG],
        "restoreBusinessData" => vec![SNAPSHOT_DIR, BUSINESS_DATA, IMPORT_DEBUG],
        "getUpgradeConfig" => vec![VERSION_FILE],
        _ => vec![],
    };
    groups.into_iter().flatten().copied().collect()
}

/// The guide's spellings of two snapshot options, and the toolkit's names they stand for.
pub const SPELLINGS: &[(&str, &str)] = &[
    ("--snapshot.userDataDir", "--snapshot.usersDataDir"),
    ("--snapshot.repositoryDir", "--snapshot.repositoriesDir"),
];

/// Notes on options taken out by [`strip`], emitted once logging is set up.
static NOTES: Mutex<Vec<(bool, String)>> = Mutex::new(Vec::new());

/// Log the notes [`strip`] collected: a warning for a value other than the toolkit's
/// default, a debug line otherwise.
pub fn emit_notes() {
    let notes = NOTES.lock().map(|mut n| std::mem::take(&mut *n));
    for (warn, note) in notes.unwrap_or_default() {
        if warn {
            tracing::warn!("{note}");
        } else {
            tracing::debug!("{note}");
        }
    }
}

/// Whether `long` (e.g. `--snapshot.dir`) is declared by `cmd` (or globally by `root`).
fn declared(cmd: &clap::Command, root: &clap::Command, long: &str) -> bool {
    let name = long.trim_start_matches("--");
    [cmd, root].iter().any(|c| {
        c.get_arguments().any(|a| {
            a.get_long() == Some(name) || a.get_all_aliases().unwrap_or_default().contains(&name)
        })
    })
}

/// Take out of `args` (long forms, after the command name) the toolkit options of `command`
/// that `cmd` does not declare, with their values; note each one.
pub fn strip(
    args: Vec<OsString>,
    command: &str,
    cmd: &clap::Command,
    root: &clap::Command,
) -> Vec<OsString> {
    let table = options_of(command);
    let mut given: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let s = arg.to_string_lossy().into_owned();
        if s == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (s.clone(), None),
        };
        let Some(o) = table.iter().find(|o| o.long == flag) else {
            out.push(arg);
            continue;
        };
        if declared(cmd, root, o.long) {
            out.push(arg);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let next = iter.peek().and_then(|n| n.to_str()).map(str::to_string);
                match next {
                    Some(v) if !o.boolean || matches!(v.as_str(), "true" | "false" | "1" | "0") => {
                        iter.next();
                        v
                    }
                    _ if o.boolean => "true".to_string(),
                    _ => String::new(),
                }
            }
        };
        let differs = value != o.default;
        let shown = if o.long.contains("password") {
            "***"
        } else {
            value.as_str()
        };
        let note = format!(
            "{} {shown} has no effect on cadkit's {command} (the embedded environment has nothing it configures); accepted for compatibility with the toolkit",
            o.long
        );
        if let Ok(mut n) = NOTES.lock() {
            n.push((differs, note));
        }
        given.push(o.long);
    }
    note_variables(&table, &given, command, cmd, root);
    out
}

/// The toolkit variables of options without effect, set to something else than the
/// toolkit's default (and not overridden on the command line): warned about too.
fn note_variables(
    table: &[ToolkitOption],
    given: &[&str],
    command: &str,
    cmd: &clap::Command,
    root: &clap::Command,
) {
    for o in table {
        let Some(var) = o.env else { continue };
        if given.contains(&o.long) || declared(cmd, root, o.long) {
            continue;
        }
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        if value.is_empty() || value == o.default {
            continue;
        }
        let shown = if o.long.contains("password") {
            "***"
        } else {
            value.as_str()
        };
        let note = format!(
            "{var}={shown} ({}) has no effect on cadkit's {command} (the embedded environment has nothing it configures)",
            o.long
        );
        if let Ok(mut n) = NOTES.lock() {
            n.push((true, note));
        }
    }
}
