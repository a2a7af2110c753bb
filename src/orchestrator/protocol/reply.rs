//! The answers to commands: reply queues (named by the client, which declares them before
//! publishing, since the toolkit's messages carry no AMQP `reply_to`) and the text lines
//! sent on them, the last one a status line.

use serde_json::Value;

/// Prefix of every reply queue name.
pub const REPLY_QUEUE_PREFIX: &str = "OLYMPE_TOOLKIT_REPLY_QUEUE_";
/// Start of the terminal reply line.
pub const STATUS_LINE_PREFIX: &str = "Command finished with status code:";
/// Marker of the orchestrator's answer to a command it does not know.
pub const UNKNOWN_COMMAND: &str = "Unknown command";

/// The `replyQueue` of a raw body, whatever else is wrong with it (to answer errors).
pub fn reply_queue_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/payload/content/replyQueue")?
        .as_str()
        .map(str::to_string)
}

/// A fresh per-process reply-queue prefix: `OLYMPE_TOOLKIT_REPLY_QUEUE_<random base 36>_`.
pub fn reply_queue_prefix() -> String {
    let mut n: u64 = rand::random::<u64>() % 100_000_000_000_000_000;
    let mut digits = Vec::new();
    while n > 0 || digits.is_empty() {
        let d = (n % 36) as u32;
        digits.push(std::char::from_digit(d, 36).expect("digit < 36"));
        n /= 36;
    }
    let random: String = digits.iter().rev().collect::<String>().to_uppercase();
    format!("{REPLY_QUEUE_PREFIX}{random}_")
}

/// The reply queue of the `counter`-th command (counting from 1) of a process.
pub fn reply_queue_name(prefix: &str, counter: u64) -> String {
    format!("{prefix}{counter}")
}

/// The terminal reply line.
pub fn status_line(code: i32) -> String {
    format!("{STATUS_LINE_PREFIX} {code}")
}

/// The answer to an unknown command.
pub fn unknown_command_line(name: &str) -> String {
    format!("{UNKNOWN_COMMAND}: {name}")
}

/// One reply message, classified the way the toolkit does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyLine {
    /// A result line (newlines already replaced by spaces).
    Result(String),
    /// The terminal line: success iff it ends with ` 0`.
    Finished {
        /// The status code was `0`.
        success: bool,
        /// The whole line, for error messages.
        line: String,
    },
    /// The orchestrator does not know the command.
    UnknownCommand(String),
}

impl ReplyLine {
    /// Classify a reply body: `Unknown command` anywhere first, then the status prefix.
    pub fn classify(message: &str) -> Self {
        let line = message.replace('\n', " ");
        if line.contains(UNKNOWN_COMMAND) {
            ReplyLine::UnknownCommand(line)
        } else if line.starts_with(STATUS_LINE_PREFIX) {
            ReplyLine::Finished {
                success: line.ends_with(" 0"),
                line,
            }
        } else {
            ReplyLine::Result(line)
        }
    }
}
