//! Inbox consumers: each message applied exactly once, in the transaction that records it in
//! the service's inbox, acked only after that commits; a failing message redelivered with
//! growing delays and, once its deliveries run out, kept as a dead letter.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::boundary::FieldViolation;
use crate::dead_letters::REPLAY_OF;
use crate::events::{Bus, PULL_EXPIRES};
use crate::{failpoint, metrics, trace};

/// What a handler says about a message it could not apply.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// A passing failure (database busy, say): the message is redelivered later.
    #[error("retry: {0}")]
    Retry(#[from] anyhow::Error),
    /// The message can never be applied (it does not decode): it is logged and dropped.
    #[error("reject: {0}")]
    Reject(String),
}

impl From<sqlx::Error> for HandleError {
    fn from(err: sqlx::Error) -> Self {
        Self::Retry(err.into())
    }
}

impl From<prost::DecodeError> for HandleError {
    fn from(err: prost::DecodeError) -> Self {
        Self::Reject(err.to_string())
    }
}

/// A name in an event that does not parse can never be applied.
impl From<FieldViolation> for HandleError {
    fn from(v: FieldViolation) -> Self {
        Self::Reject(format!("{}: {}", v.field, v.description))
    }
}

/// One message, as a handler gets it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub subject: &'a str,
    pub payload: &'a [u8],
}

impl Incoming<'_> {
    /// The payload as `M`; a payload that does not decode is rejected.
    pub fn decode<M: Message + Default>(&self) -> Result<M, HandleError> {
        Ok(M::decode(self.payload)?)
    }

    /// The payload as `M` when the message is on `subject`; None on any other subject.
    pub fn decode_if<M: Message + Default>(&self, subject: &str) -> Result<Option<M>, HandleError> {
        if self.subject != subject {
            return Ok(None);
        }
        self.decode().map(Some)
    }
}

/// Applies one message inside the transaction that also records it in the inbox.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: Incoming<'a>,
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a;
}

/// A shared handler, for a service that also calls it outside the consumer.
impl<H: Handler> Handler for std::sync::Arc<H> {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: Incoming<'a>,
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a {
        (**self).handle(tx, message)
    }
}

const REDELIVERIES: &str = "komek_consumer_redeliveries_total";
const REDELIVERIES_HELP: &str =
    "Messages a consumer got again (a failed or unacknowledged earlier delivery).";
const DEAD_LETTERS: &str = "komek_dead_letters_total";
const DEAD_LETTERS_HELP: &str = "Messages a consumer gave up on and kept as dead letters.";

/// Consumes `consumer` until `shutdown`: each message is applied in one transaction with its
/// inbox row, the transaction commits, then the message is acked. A message already in the
/// inbox is acked without applying it again.
pub async fn consume<H: Handler>(
    name: &'static str,
    consumer: consumer::PullConsumer,
    pool: PgPool,
    bus: Bus,
    handler: H,
    shutdown: CancellationToken,
) {
    let mut reconnects = bus.reconnects();
    tokio::spawn(measure_lag(name, consumer.clone(), shutdown.clone()));
    // Listed at zero from the start, so "none yet" and "not reported" differ.
    for (metric, help) in [
        (REDELIVERIES, REDELIVERIES_HELP),
        (DEAD_LETTERS, DEAD_LETTERS_HELP),
    ] {
        metrics::count(metric, help, &[("consumer", name)], 0);
    }
    loop {
        let pull = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_EXPIRES / 2);
        let mut messages = match pull.messages().await {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(consumer = name, error = %err, "cannot pull; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.cancelled() => return,
                }
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                // After a reconnect the pending pull is lost with the old connection: pull
                // again at once.
                Ok(()) = reconnects.changed() => break,
                _ = shutdown.cancelled() => return,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(err)) => {
                    tracing::warn!(consumer = name, error = %err, "pull failed");
                    continue;
                }
                None => break,
            };
            let span = tracing::info_span!(
                "consume",
                otel.name = %format!("{} process", message.subject),
                otel.kind = "consumer",
                messaging.system = "nats",
                messaging.consumer.group.name = name,
                messaging.destination.name = %message.subject,
            );
            let parent = message
                .headers
                .as_ref()
                .and_then(|h| h.get(trace::TRACEPARENT))
                .map(|v| v.as_str());
            trace::continue_trace(&span, parent);
            apply(name, &pool, &bus, &handler, message)
                .instrument(span)
                .await;
        }
    }
}

async fn apply<H: Handler>(
    name: &'static str,
    pool: &PgPool,
    bus: &Bus,
    handler: &H,
    message: jetstream::Message,
) {
    let id = message_id(&message);
    let result: Result<bool, HandleError> = async {
        let mut tx = pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            let incoming = Incoming {
                subject: message.subject.as_str(),
                payload: &message.payload,
            };
            handler.handle(&mut tx, incoming).await?;
        }
        tx.commit().await?;
        Ok(fresh)
    }
    .await;
    let delivered = message.info().map_or(1, |i| i.delivered.max(1) as u64);
    if delivered > 1 {
        metrics::count(REDELIVERIES, REDELIVERIES_HELP, &[("consumer", name)], 1);
    }
    let outcome = match &result {
        Ok(true) => "applied",
        Ok(false) => "duplicate",
        Err(HandleError::Reject(_)) => "rejected",
        Err(HandleError::Retry(_)) => "failed",
    };
    metrics::count(
        "komek_consumer_messages_total",
        "Messages a consumer handled, by outcome: applied, duplicate (already applied), failed (retried or given up), rejected.",
        &[("consumer", name), ("outcome", outcome)],
        1,
    );
    let ack = match result {
        Ok(fresh) => {
            if fresh {
                bus.wake_outbox();
            } else {
                tracing::debug!(consumer = name, message_id = %id, "duplicate skipped");
            }
            jetstream::AckKind::Ack
        }
        // Will never apply (it does not decode): kept for a person, not retried.
        Err(HandleError::Reject(reason)) => give_up(name, pool, bus, &message, &id, &reason).await,
        Err(HandleError::Retry(err)) if delivered >= bus.redelivery.max_deliveries => {
            give_up(name, pool, bus, &message, &id, &format!("{err:#}")).await
        }
        Err(HandleError::Retry(err)) => {
            let delay = bus.redelivery.delay(delivered);
            tracing::warn!(consumer = name, message_id = %id, error = %err, delivered, ?delay,
                "message will be retried");
            jetstream::AckKind::Nak(Some(delay))
        }
    };
    if failpoint::fires(failpoint::CONSUMER_BEFORE_ACK) {
        // As a crash here would: committed, not acked; JetStream redelivers after ack_wait.
        return;
    }
    if let Err(err) = message.ack_with(ack).await {
        // Not fatal: the message comes back after ack_wait and the inbox skips it.
        tracing::warn!(consumer = name, error = %err, "ack failed");
    }
}

/// Keeps a message its consumer gives up on as a dead letter, and says to drop it from the
/// stream; while the dead letter cannot be stored (the database is down), the message stays.
async fn give_up(
    name: &'static str,
    pool: &PgPool,
    bus: &Bus,
    message: &jetstream::Message,
    id: &str,
    error: &str,
) -> jetstream::AckKind {
    let delivered = message.info().map_or(1, |i| i.delivered.max(1));
    let failed = crate::dead_letters::Failed {
        consumer: name,
        subject: message.subject.as_str(),
        message_id: id,
        payload: &message.payload,
        error,
        deliveries: delivered as i32,
    };
    match crate::dead_letters::keep(pool, &failed).await {
        Ok(()) => {
            metrics::count(DEAD_LETTERS, DEAD_LETTERS_HELP, &[("consumer", name)], 1);
            // Alert-worthy: a message of the system's flow is stuck until a person acts.
            tracing::error!(consumer = name, message_id = %id, subject = %message.subject,
                deliveries = delivered, %error,
                "message given up and kept as a dead letter; list and replay it with OperationsService");
            jetstream::AckKind::Term
        }
        Err(err) => {
            let delay = bus.redelivery.delay(delivered as u64);
            tracing::warn!(consumer = name, message_id = %id, error = %err, ?delay,
                "cannot keep the dead letter yet; the message stays");
            jetstream::AckKind::Nak(Some(delay))
        }
    }
}

/// Keeps the consumer's lag in the metrics: messages not yet delivered to it, and delivered
/// ones not yet acknowledged, as the server counts them every 10 s.
async fn measure_lag(
    name: &'static str,
    mut consumer: consumer::PullConsumer,
    shutdown: CancellationToken,
) {
    loop {
        match consumer.info().await {
            Ok(info) => {
                metrics::set(
                    "komek_consumer_pending",
                    "Messages in the stream not yet delivered to the consumer.",
                    &[("consumer", name)],
                    info.num_pending as f64,
                );
                metrics::set(
                    "komek_consumer_ack_pending",
                    "Messages delivered to the consumer and not yet acknowledged.",
                    &[("consumer", name)],
                    info.num_ack_pending as f64,
                );
            }
            Err(err) => tracing::debug!(consumer = name, error = %err, "consumer lag not measured"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The message's id: the original's for a replay, else the publisher's `Nats-Msg-Id`, else the
/// stream position for messages published without one.
fn message_id(message: &jetstream::Message) -> String {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    if let Some(id) =
        header(REPLAY_OF).or_else(|| header(async_nats::header::NATS_MESSAGE_ID.as_ref()))
    {
        return id;
    }
    match message.info() {
        Ok(info) => format!("{}:{}", info.stream, info.stream_sequence),
        Err(_) => String::new(),
    }
}
