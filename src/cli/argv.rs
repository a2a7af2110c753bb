//! Toolkit-style command lines → what clap parses, without touching the process
//! environment: the toolkit's multi-letter short flags, the guide's spellings,
//! `--jsonConfig` and the toolkit's variables all become arguments.

use std::ffi::{OsStr, OsString};

/// Looks a variable up (the process environment, or a test's table).
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment.
pub(super) fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// The toolkit's multi-letter short flags and their long forms.
pub(super) const SHORT_FLAGS: &[(&str, &str)] = &[
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

/// Multi-letter short flags become long ones, the guide's spellings become the toolkit's
/// names, and `--jsonConfig <json>` expands into dotted options placed last (the toolkit
/// merges it over everything else).
pub(super) fn rewrite(argv: Vec<OsString>, root: &clap::Command) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut json_config = Vec::new();
    let bools = optional_value_booleans(root);
    let mut iter = argv.into_iter().peekable();
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
            .chain(super::toolkit::SPELLINGS)
            .find(|(short, _)| *short == flag)
            .map(|(_, long)| long.to_string())
            .unwrap_or(flag);
        if long == "--jsonConfig" {
            let value = inline.or_else(|| iter.next().map(|v| v.to_string_lossy().into_owned()));
            if let Some(v) = value {
                match serde_json::from_str::<serde_json::Value>(&v) {
                    Ok(value) => flatten_json_config(&value, "", &mut json_config),
                    Err(e) => return Err(format!("--jsonConfig is not valid JSON: {e}")),
                }
            }
            continue;
        }
        match inline {
            Some(v) => out.push(OsString::from(format!("{long}={v}"))),
            // An optional-value boolean takes the next word only when it is a boolean
            // (`-rd buildCodeAsData` runs the build); it never swallows a command or path.
            None if bools.contains(&long) => {
                let next = iter.peek().and_then(|n| n.to_str()).map(str::to_string);
                let value = match next.as_deref() {
                    Some("true" | "false" | "1" | "0") => {
                        iter.next();
                        next.unwrap_or_default()
                    }
                    _ => "true".to_string(),
                };
                out.push(OsString::from(format!("{long}={value}")));
            }
            None if long != s => out.push(OsString::from(long)),
            None => out.push(arg),
        }
    }
    out.extend(json_config.into_iter().map(|a| {
        // The guide's spellings work in --jsonConfig too.
        let renamed = super::toolkit::SPELLINGS.iter().find_map(|(guide, name)| {
            a.strip_prefix(&format!("{guide}="))
                .map(|v| format!("{name}={v}"))
        });
        OsString::from(renamed.unwrap_or(a))
    }));
    Ok(out)
}

/// Long names (aliases included) of every optional-value boolean option (`num_args = 0..=1`,
/// missing value `true`, `parse_bool`) of every command: `prepare` binds their value itself so that clap
/// never takes the next word (a command name, a path) as the value.
fn optional_value_booleans(root: &clap::Command) -> std::collections::HashSet<String> {
    fn collect(cmd: &clap::Command, out: &mut std::collections::HashSet<String>) {
        for arg in cmd.get_arguments() {
            // Every optional-value option of cadkit is such a boolean (`parse_bool`).
            if arg.get_num_args() == Some((0..=1).into()) {
                let names = arg
                    .get_long()
                    .into_iter()
                    .chain(arg.get_all_aliases().unwrap_or_default());
                out.extend(names.map(|n| format!("--{n}")));
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut out = std::collections::HashSet::new();
    collect(root, &mut out);
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
/// Options declare the `CADKIT_*` name to clap; [`variable_arguments`] turns the toolkit's
/// variable into an argument when only the toolkit's is set.
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
    ("CADKIT_SNAPSHOT_EXCLUDE_USERS", "SNAPSHOTER_EXCLUDE_USERS"),
    ("CADKIT_SNAPSHOT_DUMP_BINARIES", "DUMP_BINARY_FILES"),
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

/// Arguments standing for the toolkit variables of `cmd`'s options: `--<long>=<value>` for
/// each option whose `CADKIT_*` variable is unset or empty while the toolkit's is set.
/// They go before the user's arguments, so a flag still wins (`args_override_self`).
pub(super) fn variable_arguments(cmd: &clap::Command, get: Lookup) -> Vec<OsString> {
    let set = |name: &str| get(name).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let (Some(ours), Some(long)) = (arg.get_env().and_then(OsStr::to_str), arg.get_long())
        else {
            continue;
        };
        if set(ours).is_some() {
            continue;
        }
        let theirs = ENV_FALLBACKS.iter().find(|(o, _)| *o == ours);
        if let Some(value) = theirs.and_then(|(_, theirs)| set(theirs)) {
            let mut a = OsString::from(format!("--{long}="));
            a.push(value);
            out.push(a);
        }
    }
    out
}

/// `cmd` with the `CADKIT_*` variables that are set but empty ignored: CI templates map
/// every input to a variable, and an input left blank must fall through to the next
/// source (toolkit variable, default), not become `""`. (Clap reads variables when the
/// command is built: this drops the value it read.)
pub(super) fn without_empty_variables(cmd: clap::Command, get: Lookup) -> clap::Command {
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.mut_args(|a| {
        let empty = a
            .get_env()
            .and_then(OsStr::to_str)
            .is_some_and(|n| n.starts_with("CADKIT_") && get(n).is_some_and(|v| v.is_empty()));
        if empty {
            a.env(None::<&str>)
        } else {
            a
        }
    });
    for name in subs {
        cmd = cmd.mut_subcommand(name, |s| without_empty_variables(s, get));
    }
    cmd
}
