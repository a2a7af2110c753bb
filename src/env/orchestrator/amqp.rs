//! The AMQP side of the protocol: commands and their reply lines, deployment messages.
//!
//! Same wire format as the toolkit (`AmqpClient` + `OrchestratorCommand`): a command is
//! `{"messageFamily":0,"payload":{"c":16,"content":{…,"replyQueue":"…"}}}` published on
//! `bus.commandsExchange` with the command routing key (+ role suffix); the reply queue is
//! declared non-durable and auto-delete before publishing and consumed with auto-ack; each
//! reply is a text line, the last one `Command finished with status code: <n>`.
//!
//! Beyond the toolkit: connection attempts are bounded and the error names the broker;
//! every command has a timeout; a lost connection ends the command at once with a clear
//! error instead of waiting for the timeout; bodies holding secrets are never logged.

use super::config::OrchestratorConfig;
use super::OrchestratorError;
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const COMMAND_REQUEST: u8 = 16;
const DEPLOY_SERVICE: u8 = 17;
const FINISHED: &str = "Command finished with status code:";

/// Commands whose body or replies hold a secret (never logged, even at trace level).
const SENSITIVE: &[&str] = &["setPassword", "createToken"];

/// One connection and one channel per process, as in the toolkit.
pub struct Bus {
    conn: Connection,
    channel: Channel,
    queue_prefix: String,
    counter: AtomicU64,
    /// The next command's reply queue, declared and consumed while the previous command
    /// ran: each costs two broker round trips, which an update's ten commands in a row
    /// otherwise wait for one after the other.
    ready: std::sync::Mutex<Option<Reply>>,
}

/// A reply queue, declared (non-durable, auto-delete) and consumed with auto-ack.
struct Reply {
    queue: String,
    consumer: lapin::Consumer,
}

fn uri(cfg: &OrchestratorConfig) -> AMQPUri {
    let b = &cfg.bus;
    AMQPUri {
        scheme: if b.protocol == "amqps" {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: b.username.clone(),
                password: b.password.expose().to_string(),
            },
            host: b.hostname.clone(),
            port: b.port,
        },
        vhost: b.vhost.clone(),
        query: AMQPQueryString {
            connection_timeout: Some(10_000),
            ..Default::default()
        },
    }
}

async fn open(cfg: &OrchestratorConfig) -> Result<(Connection, Channel), lapin::Error> {
    let conn = Connection::connect_uri(uri(cfg), ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel.basic_qos(20, BasicQosOptions::default()).await?;
    Ok((conn, channel))
}

impl Bus {
    /// Connect with bounded retries; the error names the broker (never the password).
    pub async fn connect(cfg: &OrchestratorConfig) -> Result<Bus, OrchestratorError> {
        let b = &cfg.bus;
        let mut attempt = 0;
        loop {
            tracing::debug!("connecting to the bus at {}", cfg.bus_address());
            match open(cfg).await {
                Ok((conn, channel)) => {
                    let rand: u64 = rand::random::<u64>() % 36u64.pow(11);
                    return Ok(Bus {
                        conn,
                        channel,
                        queue_prefix: format!(
                            "OLYMPE_TOOLKIT_REPLY_QUEUE_{}_",
                            base36(rand).to_uppercase()
                        ),
                        counter: AtomicU64::new(0),
                        ready: std::sync::Mutex::new(None),
                    });
                }
                Err(e) if attempt < b.connect_retries => {
                    attempt += 1;
                    tracing::warn!(
                        "bus {}:{} not reachable ({e}); retry {attempt}/{} in {:?}",
                        b.hostname,
                        b.port,
                        b.connect_retries,
                        b.connect_retry_delay
                    );
                    tokio::time::sleep(b.connect_retry_delay).await;
                }
                Err(e) => {
                    return Err(OrchestratorError::BusUnreachable {
                        host: b.hostname.clone(),
                        port: b.port,
                        attempts: attempt + 1,
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    /// Send one command and collect its result lines (the terminal line excluded).
    pub async fn command(
        &self,
        cfg: &OrchestratorConfig,
        content: Map<String, Value>,
        timeout: Duration,
        use_role: bool,
    ) -> Result<Vec<String>, OrchestratorError> {
        let name = content
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        match tokio::time::timeout(timeout, self.run(cfg, content, use_role, &name)).await {
            Ok(r) => r,
            Err(_) => Err(OrchestratorError::Timeout {
                command: name,
                after: timeout,
            }),
        }
    }

    async fn run(
        &self,
        cfg: &OrchestratorConfig,
        mut content: Map<String, Value>,
        use_role: bool,
        name: &str,
    ) -> Result<Vec<String>, OrchestratorError> {
        let lost = |e: lapin::Error| OrchestratorError::BusLost {
            command: name.to_string(),
            reason: e.to_string(),
        };
        let ready = self.ready.lock().expect("lock").take();
        let reply = match ready {
            Some(r) => r,
            None => self.reply_queue().await.map_err(lost)?,
        };
        content.insert("replyQueue".into(), Value::String(reply.queue.clone()));
        let key = if use_role {
            cfg.with_role(&cfg.bus.command_routing_key)
        } else {
            cfg.bus.command_routing_key.clone()
        };
        self.publish(cfg, &key, message(COMMAND_REQUEST, content), name)
            .await
            .map_err(lost)?;
        // The next reply queue is made ready while the orchestrator works on this command
        // (a failure here is left to the next command, which then declares its own).
        let next = async {
            if let Ok(r) = self.reply_queue().await {
                self.ready.lock().expect("lock").get_or_insert(r);
            }
        };
        let (result, ()) = futures_util::join!(self.replies(reply.consumer, name, lost), next);
        result
    }

    /// A fresh reply queue (`<prefix><n>`, n counting this process's commands).
    async fn reply_queue(&self) -> Result<Reply, lapin::Error> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let queue = format!("{}{n}", self.queue_prefix);
        let opts = QueueDeclareOptions {
            durable: false,
            auto_delete: true,
            ..Default::default()
        };
        self.channel
            .queue_declare(queue.as_str().into(), opts, FieldTable::default())
            .await?;
        let consume = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let consumer = self
            .channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                consume,
                FieldTable::default(),
            )
            .await?;
        Ok(Reply { queue, consumer })
    }

    /// The reply lines of command `name` up to its terminal line.
    async fn replies(
        &self,
        mut consumer: lapin::Consumer,
        name: &str,
        lost: impl Fn(lapin::Error) -> OrchestratorError,
    ) -> Result<Vec<String>, OrchestratorError> {
        let sensitive = SENSITIVE.contains(&name);
        let mut lines = Vec::new();
        while let Some(d) = consumer.next().await {
            let d = d.map_err(&lost)?;
            let line = String::from_utf8_lossy(&d.data).replace('\n', " ");
            if !sensitive {
                tracing::debug!("{name}: {line}");
            }
            if line.contains("Unknown command") {
                return Err(OrchestratorError::TooOld {
                    command: name.to_string(),
                });
            }
            if let Some(code) = line.strip_prefix(FINISHED) {
                if code.trim() == "0" {
                    return Ok(lines);
                }
                return Err(OrchestratorError::CommandFailed {
                    command: name.to_string(),
                    status: code.trim().to_string(),
                    lines: if sensitive { Vec::new() } else { lines },
                });
            }
            lines.push(line);
        }
        Err(OrchestratorError::BusLost {
            command: name.to_string(),
            reason: "the reply queue was closed".into(),
        })
    }

    async fn publish(
        &self,
        cfg: &OrchestratorConfig,
        key: &str,
        body: Value,
        name: &str,
    ) -> Result<(), lapin::Error> {
        let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
        if !SENSITIVE.contains(&name) {
            tracing::trace!("publish to {key}: {}", String::from_utf8_lossy(&bytes));
        } else {
            tracing::trace!("publish {name} to {key} (body not logged: it holds a secret)");
        }
        self.channel
            .basic_publish(
                cfg.bus.commands_exchange.as_str().into(),
                key.into(),
                BasicPublishOptions::default(),
                &bytes,
                BasicProperties::default(),
            )
            .await?
            .await?;
        Ok(())
    }

    /// The maintenance deployment message (fire-and-forget, as in the toolkit).
    pub async fn deployment(
        &self,
        cfg: &OrchestratorConfig,
        maintenance_on: bool,
    ) -> Result<(), OrchestratorError> {
        let mut content = Map::new();
        content.insert("gateway_service".into(), Value::Bool(!maintenance_on));
        let key = cfg.with_role(&cfg.bus.deployment_routing_key);
        self.publish(cfg, &key, message(DEPLOY_SERVICE, content), "deployment")
            .await
            .map_err(|e| OrchestratorError::BusLost {
                command: "maintenance".into(),
                reason: e.to_string(),
            })
    }

    /// Close the connection (AMQP reply code 200), ignoring errors: used at the end of a
    /// run, when there is nothing left to do about a broken connection.
    pub async fn close(&self) {
        let _ = self.conn.close(200, "bye".into()).await;
    }
}

fn message(c: u8, content: Map<String, Value>) -> Value {
    json!({"messageFamily": 0, "payload": {"c": c, "content": Value::Object(content)}})
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_message_has_the_toolkit_shape() {
        let mut c = Map::new();
        c.insert("command".into(), json!("statsDB"));
        c.insert("replyQueue".into(), json!("Q_1"));
        assert_eq!(
            serde_json::to_string(&message(16, c)).unwrap(),
            r#"{"messageFamily":0,"payload":{"c":16,"content":{"command":"statsDB","replyQueue":"Q_1"}}}"#
        );
        assert_eq!(base36(36 * 36 + 35), "10z");
    }
}
