//! The AMQP face: declare the exchange and the command and deployment queues, consume,
//! execute, answer on the reply queue. Reconnects (every second) when the broker goes
//! away, until shutdown.

use super::exec;
use super::state::State;
use crate::orchestrator::protocol::{
    reply_queue_of, routing_key_with_role, status_line, unknown_command_line, IncomingMessage,
    ProtocolError,
};
use anyhow::{Context, Result};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Serve the bus until `shutdown` turns true; connection losses are retried.
pub async fn serve(
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
    ready: watch::Sender<bool>,
) {
    let mut announced = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match session(&state, &mut shutdown, &ready).await {
            Ok(()) => return,
            Err(e) => {
                if !announced {
                    tracing::warn!(
                        "bus {}: {e:#}; retrying every second",
                        state.opts.bus.describe()
                    );
                    announced = true;
                } else {
                    tracing::debug!("bus: {e:#}");
                }
                let _ = ready.send(false);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One connection's life: connect, declare the topology, then consume until shutdown
/// (`Ok`) or until the connection fails (`Err`, the caller reconnects).
async fn session(
    state: &Arc<State>,
    shutdown: &mut watch::Receiver<bool>,
    ready: &watch::Sender<bool>,
) -> Result<()> {
    let bus = &state.opts.bus;
    let conn = Connection::connect(&bus.amqp_uri(), ConnectionProperties::default())
        .await
        .with_context(|| format!("cannot connect to {}", bus.describe()))?;
    let channel = conn.create_channel().await?;
    channel.basic_qos(1, BasicQosOptions::default()).await?;
    let consumer = declare_and_consume(state, &channel).await?;
    let _ = ready.send(true);
    consume(state, &conn, &channel, consumer, shutdown).await
}

/// Declare the commands exchange and this server's queue, bind the command and deployment
/// routing keys (with the role suffix), and start consuming that queue.
async fn declare_and_consume(state: &State, channel: &Channel) -> Result<Consumer> {
    let bus = &state.opts.bus;
    channel
        .exchange_declare(
            bus.commands_exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("cannot declare exchange {}", bus.commands_exchange))?;
    let role = state.opts.role.as_deref();
    let keys = [
        routing_key_with_role(&bus.command_routing_key, role),
        routing_key_with_role(&bus.deployment_routing_key, role),
    ];
    // One queue per exchange and role: an active and a preview server never share one.
    let queue = format!(
        "{}.cadkit-orchestrator.{}",
        bus.commands_exchange,
        role.unwrap_or(crate::orchestrator::protocol::ACTIVE_ROLE)
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for key in &keys {
        channel
            .queue_bind(
                queue.as_str().into(),
                bus.commands_exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "cadkit-orchestrator".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(
        "bus ready: exchange {} keys {:?}",
        bus.commands_exchange,
        keys
    );
    Ok(consumer)
}

/// Record, handle and acknowledge each delivery in turn (prefetch 1: one command at a
/// time, as the reference orchestrator does); a shutdown closes the connection cleanly.
async fn consume(
    state: &Arc<State>,
    conn: &Connection,
    channel: &Channel,
    mut consumer: Consumer,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let delivery = tokio::select! {
            d = consumer.next() => d,
            _ = shutdown.changed() => {
                let _ = conn.close(200, "shutdown".into()).await;
                return Ok(());
            }
        };
        let Some(delivery) = delivery else {
            anyhow::bail!("consumer cancelled");
        };
        let delivery = delivery?;
        state.record(json!({
            "kind": "amqp",
            "exchange": delivery.exchange.as_str(),
            "routingKey": delivery.routing_key.as_str(),
            "body": redacted(&delivery.data),
        }));
        handle(state, channel, &delivery.data).await?;
        delivery.ack(BasicAckOptions::default()).await?;
    }
}

/// The body as JSON with `userPassword` replaced (raw text when not JSON).
fn redacted(body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            if let Some(c) = v
                .pointer_mut("/payload/content")
                .and_then(Value::as_object_mut)
            {
                if c.contains_key("userPassword") {
                    c.insert("userPassword".into(), json!("<password>"));
                }
            }
            v
        }
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

async fn handle(state: &Arc<State>, channel: &Channel, body: &[u8]) -> Result<()> {
    match IncomingMessage::parse(body) {
        Ok(IncomingMessage::Deployment(d)) => {
            let on = !d.gateway_service;
            let st = state.clone();
            let started = std::time::Instant::now();
            let res = tokio::task::spawn_blocking(move || {
                crate::env::sqlite::envcmd::maintenance(&st.opts.env, on)
            })
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}")));
            if let Err(e) = res {
                tracing::warn!("maintenance {on}: {e:#}");
            }
            state.maintenance.store(on, Ordering::SeqCst);
            tracing::info!(
                "maintenance {} in {} ms",
                if on { "on" } else { "off" },
                started.elapsed().as_millis()
            );
        }
        Ok(IncomingMessage::Command(c)) => {
            state.commands.fetch_add(1, Ordering::Relaxed);
            let name = c.command.name();
            let st = state.clone();
            let cmd = c.command.clone();
            let started = std::time::Instant::now();
            let generation = state.generation();
            // A panicking command is a failed command, not a lost connection (the message
            // would be redelivered forever).
            let res = tokio::task::spawn_blocking(move || exec::execute(&st, &cmd))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}")));
            if state.generation() != generation {
                // Read the new graph now, in the background: the next graphDef query (the
                // first thing a snapshot or an update asks) then finds it ready.
                let st = state.clone();
                tokio::task::spawn_blocking(move || st.warm_graph());
            }
            let Some(reply) = c.reply_queue.as_deref() else {
                tracing::warn!("command {name} without replyQueue: not answered");
                return Ok(());
            };
            match res {
                Ok(lines) => {
                    tracing::info!("command {name}: ok in {} ms", started.elapsed().as_millis());
                    for l in &lines {
                        publish(channel, reply, l).await?;
                    }
                    publish(channel, reply, &status_line(0)).await?;
                }
                Err(e) => {
                    tracing::warn!(
                        "command {name} failed after {} ms: {e:#}",
                        started.elapsed().as_millis()
                    );
                    publish(channel, reply, &format!("Command {name} failed: {e:#}")).await?;
                    publish(channel, reply, &status_line(1)).await?;
                }
            }
        }
        Err(ProtocolError::UnknownCommand(name)) => {
            tracing::warn!("unknown command {name:?}");
            if let Some(reply) = reply_queue_of(body) {
                publish(channel, &reply, &unknown_command_line(&name)).await?;
                publish(channel, &reply, &status_line(1)).await?;
            }
        }
        Err(e) => {
            tracing::warn!("unreadable message: {e}");
            if let Some(reply) = reply_queue_of(body) {
                publish(channel, &reply, &format!("Invalid message: {e}")).await?;
                publish(channel, &reply, &status_line(1)).await?;
            }
        }
    }
    Ok(())
}

async fn publish(channel: &Channel, queue: &str, line: &str) -> Result<()> {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            line.as_bytes(),
            BasicProperties::default(),
        )
        .await?
        .await?;
    Ok(())
}
