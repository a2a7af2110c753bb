//! Logs on stderr through `tracing`, with the toolkit's level names.
//!
//! The toolkit accepts `verbose, debug, log, info, warn, error, fatal` (winston order:
//! error < warn < info < verbose < debug). Only cadkit's own events are shown below
//! `warn`: dependencies (HTTP clients, git) stay at `warn`, so a debug run never prints a
//! request header that could hold a credential.

use std::io::IsTerminal;
use std::path::PathBuf;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Map a toolkit level name to a `tracing` level; unknown names give `info`, as in the toolkit.
pub fn level_of(name: &str) -> (tracing::Level, bool) {
    use tracing::Level;
    match name.to_ascii_lowercase().as_str() {
        "fatal" | "error" => (Level::ERROR, true),
        "warn" | "warning" => (Level::WARN, true),
        "info" | "log" => (Level::INFO, true),
        "verbose" => (Level::DEBUG, true),
        "debug" | "trace" | "silly" => (Level::TRACE, true),
        _ => (Level::INFO, false),
    }
}

/// The time of a log line: to the second, or to the millisecond at `verbose` and below,
/// where the lines are read to see how long each step took.
#[derive(Clone, Copy)]
struct Clock {
    millis: bool,
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let format = if self.millis {
            "%H:%M:%S%.3f"
        } else {
            "%H:%M:%S"
        };
        write!(w, "[{}]", chrono::Local::now().format(format))
    }
}

/// Install the global subscriber. Returns the log file path when `save_logs` is set.
/// Colours only on a terminal and never with `NO_COLOR`.
pub fn init(level_name: &str, save_logs: bool) -> Option<PathBuf> {
    let (level, known) = level_of(level_name);
    let clock = Clock {
        millis: level >= tracing::Level::DEBUG,
    };
    let filter = || EnvFilter::new(format!("warn,cadkit={}", level.as_str().to_lowercase()));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .with_timer(clock)
        .with_filter(filter());
    let mut path = None;
    let file_layer = if save_logs {
        // No colons in the name: the toolkit's `:` makes files Windows cannot open.
        let name = format!(
            "logs/cadkit_{}_{}.log",
            chrono::Local::now().format("%Y-%m-%dT%H-%M-%S"),
            level_name
        );
        let _ = std::fs::create_dir_all("logs");
        match std::fs::File::create(&name) {
            Ok(f) => {
                path = Some(PathBuf::from(&name));
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::sync::Mutex::new(f))
                        .with_ansi(false)
                        .with_timer(clock)
                        .with_filter(filter()),
                )
            }
            Err(e) => {
                eprintln!("warning: cannot create log file {name}: {e}");
                None
            }
        }
    } else {
        None
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    if !known {
        tracing::warn!("unknown log level {level_name:?}, using info");
    }
    path
}
