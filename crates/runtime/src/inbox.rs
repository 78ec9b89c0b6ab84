//! Inbox consumers: each message applied exactly once, in the transaction that records it in
//! the service's inbox, acked only after that commits; a failing message redelivered with
//! growing delays and, once its deliveries run out, kept as a dead letter.

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures::{FutureExt, StreamExt};
use prost::Message;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::Pace;
use crate::boundary::FieldViolation;
use crate::dead_letters::REPLAY_OF;
use crate::events::{self, Bus, Consumers, PULL_EXPIRES};
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

impl HandleError {
    /// Whether this is PostgreSQL giving up on a lock after `lock_timeout` (SQLSTATE 55P03).
    pub fn is_lock_timeout(&self) -> bool {
        let Self::Retry(err) = self else {
            return false;
        };
        err.chain().any(|cause| {
            cause
                .downcast_ref::<sqlx::Error>()
                .and_then(|e| e.as_database_error())
                .and_then(|e| e.code())
                .is_some_and(|code| code == "55P03")
        })
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
///
/// Messages that are waiting together are applied in one transaction, in stream order (see
/// [`consume`]); the optional methods let a handler see such a batch whole.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        message: Incoming<'a>,
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a;

    /// How long a transaction of several messages may wait for a row lock, when the handler
    /// takes locks it can name only while deciding (matching's groups, one per request placed):
    /// such a batch holds several in no set order, and another transaction may want two of
    /// them the other way round. Bounded well below PostgreSQL's `deadlock_timeout` (1 s), the
    /// batch is the one that gives way, before PostgreSQL picks a victim that may be a
    /// volunteer's call; its messages are then applied one per transaction, without the bound.
    /// None: no bound (a handler that takes its locks up front in [`Handler::lock`], in one
    /// order, cannot deadlock with another batch).
    fn batch_lock_timeout(&self) -> Option<Duration> {
        None
    }

    /// Whether this message means anything to this handler. Others are acknowledged without
    /// a transaction or an inbox row: a consumer of a whole stream skips the events it does
    /// not follow, and one that acts on a few values of an event (matching on a request's
    /// closure) skips the rest, which would otherwise each cost a transaction.
    fn wants(&self, _message: &Incoming<'_>) -> bool {
        true
    }

    /// Runs before the transaction of a batch, with its messages: what they need from
    /// elsewhere (another service) is asked for all of them at once, and kept for `handle`,
    /// which must still work when this was not called or failed.
    fn prefetch<'a>(&'a self, _batch: &'a [Incoming<'a>]) -> impl Future<Output = ()> + Send + 'a {
        async {}
    }

    /// Whether `prefetch` keeps what it read for each message until that message is applied,
    /// whatever else it is given meanwhile, and reads only what it does not hold yet: then the
    /// next batch is prefetched, in lots as its messages come, while one is applied.
    fn prefetches_ahead(&self) -> bool {
        false
    }

    /// How long a batch taken under load waits for more ([`Pace`]). A consumer off the path
    /// a caller or volunteer waits on can wait longer than [`crate::batch::LINGER`]: its
    /// batches are larger and fewer, and their transactions take less from those that are on it.
    fn linger(&self) -> Duration {
        crate::batch::LINGER
    }

    /// The first step of a transaction, with the messages it is about to apply (those not
    /// yet in the inbox): locks taken here for all of them at once, in one order, cannot
    /// deadlock with another replica's batch.
    fn lock<'a>(
        &'a self,
        _tx: &'a mut PgConnection,
        _batch: &'a [Incoming<'a>],
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a {
        async { Ok(()) }
    }

    /// After the transaction that applied `applied` committed: whoever waits in this process
    /// for their effect can look now.
    fn committed(&self, _applied: &[Incoming<'_>]) {}

    /// Applies the messages of a batch, in order, in the batch's transaction; a failure names
    /// the message it came from, when it came from one. By default each goes through `handle` in its own span; a
    /// handler whose messages touch the same rows may read and write them once for the whole
    /// batch instead.
    fn handle_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        batch: &'a [Traced<'a>],
    ) -> impl Future<Output = Result<(), (Option<usize>, HandleError)>> + Send + 'a {
        async move {
            for (i, t) in batch.iter().enumerate() {
                self.handle(&mut *tx, t.message)
                    .instrument(t.span.clone())
                    .await
                    .map_err(|e| (Some(i), e))?;
            }
            Ok(())
        }
    }
}

/// A message of a batch and the span it is applied in (continuing its publisher's trace).
pub struct Traced<'a> {
    pub message: Incoming<'a>,
    pub span: tracing::Span,
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

    fn wants(&self, message: &Incoming<'_>) -> bool {
        (**self).wants(message)
    }

    fn batch_lock_timeout(&self) -> Option<Duration> {
        (**self).batch_lock_timeout()
    }

    fn prefetch<'a>(&'a self, batch: &'a [Incoming<'a>]) -> impl Future<Output = ()> + Send + 'a {
        (**self).prefetch(batch)
    }

    fn prefetches_ahead(&self) -> bool {
        (**self).prefetches_ahead()
    }

    fn linger(&self) -> Duration {
        (**self).linger()
    }

    fn lock<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        batch: &'a [Incoming<'a>],
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a {
        (**self).lock(tx, batch)
    }

    fn committed(&self, applied: &[Incoming<'_>]) {
        (**self).committed(applied)
    }

    fn handle_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        batch: &'a [Traced<'a>],
    ) -> impl Future<Output = Result<(), (Option<usize>, HandleError)>> + Send + 'a {
        (**self).handle_batch(tx, batch)
    }
}

const REDELIVERIES: &str = "komek_consumer_redeliveries_total";
const REDELIVERIES_HELP: &str =
    "Messages a consumer got again (a failed or unacknowledged earlier delivery).";
const DEAD_LETTERS: &str = "komek_dead_letters_total";
const DEAD_LETTERS_HELP: &str = "Messages a consumer gave up on and kept as dead letters.";
const TRANSACTIONS: &str = "komek_consumer_transactions_total";
const TRANSACTIONS_HELP: &str = "Transactions in which a consumer applied messages (one a batch); komek_consumer_messages_total{outcome=\"applied\"} over it is the mean batch.";

/// Most messages applied in one transaction.
const BATCH: usize = 256;

/// A consumer's connection, kept from one transaction to the next. The pool tests every
/// connection that comes back to it with a round trip to the server, which a consumer taking
/// one from it per batch would pay per batch. A connection is given back after a failure, so
/// that the pool's test decides whether it is still fit (and finishes any rollback), and
/// after it sat idle as long as the pool would test it before handing it out: one broken
/// while the stream was quiet (the server restarted) is found by the pool, not by a batch.
struct Held {
    pool: PgPool,
    conn: Option<(PoolConnection<Postgres>, Instant)>,
}

impl Held {
    fn new(pool: PgPool) -> Self {
        Self { pool, conn: None }
    }

    async fn begin(&mut self) -> sqlx::Result<Transaction<'_, Postgres>> {
        self.begin_bounded(None).await
    }

    /// [`Held::begin`], the transaction waiting at most `lock_timeout` for any lock (set in
    /// the `BEGIN`'s round trip).
    async fn begin_bounded(
        &mut self,
        lock_timeout: Option<Duration>,
    ) -> sqlx::Result<Transaction<'_, Postgres>> {
        if self
            .conn
            .as_ref()
            .is_some_and(|(_, used)| used.elapsed() >= crate::db::CHECK_IDLE_AFTER)
        {
            self.conn = None;
        }
        let (conn, used) = match &mut self.conn {
            Some(held) => held,
            none => none.insert((self.pool.acquire().await?, Instant::now())),
        };
        *used = Instant::now();
        // A batch's statements are the same plan for one message or two hundred.
        match lock_timeout {
            None => crate::db::begin_generic(conn).await,
            Some(bound) => {
                let ms = bound.as_millis().max(1);
                conn.begin_with(format!(
                    "{}; SET LOCAL lock_timeout = '{ms}ms'",
                    crate::db::BEGIN_GENERIC
                ))
                .await
            }
        }
    }

    /// Gives the connection back after a transaction that failed.
    fn give_back(&mut self) {
        self.conn = None;
    }
}

/// Lists the counters of consumer `name` at zero, so "none yet" and "not reported" differ.
/// Adding zero to a counter that exists leaves it as it is.
fn list_at_zero(name: &'static str) {
    for (metric, help) in [
        (REDELIVERIES, REDELIVERIES_HELP),
        (DEAD_LETTERS, DEAD_LETTERS_HELP),
        (TRANSACTIONS, TRANSACTIONS_HELP),
    ] {
        metrics::count(metric, help, &[("consumer", name)], 0);
    }
}

/// Reports whether this replica has set consumer `name` up: a replica that serves calls while
/// JetStream will not make its consumers applies nothing, and says so here.
fn set_up(name: &'static str, done: bool) {
    metrics::set(
        "komek_consumer_set_up",
        "1 once this replica has set the consumer up, 0 while it still asks JetStream for it.",
        &[("consumer", name)],
        if done { 1.0 } else { 0.0 },
    );
}

/// [`consume_all`] of `consumers` once they are set up, asking for them again until they are
/// or `shutdown`. A service starts this and goes on to answer calls: in a cluster electing its
/// meta leader no consumer can be created for many seconds while the streams and PostgreSQL,
/// and so every call, are there, and a replica that waited for its consumers before serving
/// was down all that time.
pub async fn consume_once_set_up<H: Handler>(
    name: &'static str,
    consumers: Consumers,
    pool: PgPool,
    bus: Bus,
    handler: H,
    shutdown: CancellationToken,
) {
    let started = Instant::now();
    list_at_zero(name);
    set_up(name, false);
    loop {
        let made = tokio::select! {
            made = bus.consumers(&consumers) => made,
            _ = shutdown.cancelled() => return,
        };
        match made {
            Ok(made) => {
                let ms = started.elapsed().as_millis() as u64;
                tracing::info!(consumer = name, ms, "consumers set up");
                set_up(name, true);
                return consume_all(name, made, pool, bus, handler, shutdown).await;
            }
            // Each setup asks again for a minute by itself before it gives up.
            Err(err) => {
                tracing::warn!(consumer = name, error = %err, "consumers not set up; asking again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Consumes `consumer` until `shutdown`. Each message is applied in a transaction with its
/// inbox row, the transaction commits, then the message is acked; a message already in the
/// inbox is acked without applying it again.
///
/// Messages already waiting when one arrives are applied with it, up to [`BATCH`], in one
/// transaction and in stream order: under load one commit serves many messages (and a batch
/// waits [`crate::batch::LINGER`] for more, see [`Pace`]), while a lone message goes through
/// at once. When any message of a batch fails, the batch is rolled back and its messages are
/// applied again one by one, so each failure is retried or kept as a dead letter on its own
/// and the others go through. For a handler that prefetches ahead
/// ([`Handler::prefetches_ahead`]), the messages that come while a batch is applied are
/// prefetched meanwhile, in lots, and the lots ready when it commits make the next batch.
pub async fn consume<H: Handler>(
    name: &'static str,
    consumer: consumer::PullConsumer,
    pool: PgPool,
    bus: Bus,
    handler: H,
    shutdown: CancellationToken,
) {
    consume_all(name, vec![consumer], pool, bus, handler, shutdown).await
}

/// [`consume`] of several consumers as one: their messages are applied by one handler in the
/// same batches, with one inbox name (a message is applied once whichever of them delivers
/// it), one connection and one set of metrics, the lag summed. A batch keeps each consumer's
/// order; between consumers there is none, so the handler must not depend on one.
pub async fn consume_all<H: Handler>(
    name: &'static str,
    consumers: Vec<consumer::PullConsumer>,
    pool: PgPool,
    bus: Bus,
    handler: H,
    shutdown: CancellationToken,
) {
    let mut reconnects = bus.reconnects();
    let mut held = Held::new(pool);
    tokio::spawn(measure_lag(name, consumers.clone(), shutdown.clone()));
    list_at_zero(name);
    let mut pace = Pace::lingering(handler.linger());
    'pull: loop {
        let mut pulls = Vec::with_capacity(consumers.len());
        for consumer in &consumers {
            let pull = consumer
                .stream()
                .max_messages_per_batch(BATCH)
                .expires(PULL_EXPIRES)
                .heartbeat(PULL_EXPIRES / 2);
            match pull.messages().await {
                // Each pull says when it ends (None), and then all are pulled again.
                Ok(m) => pulls.push(m.map(Some).chain(futures::stream::iter([None])).boxed()),
                Err(err) => {
                    tracing::warn!(consumer = name, error = %err, "cannot pull; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'pull,
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        }
        let mut messages = futures::stream::select_all(pulls);
        if handler.prefetches_ahead() {
            let gathered = gather_and_apply(
                name,
                &mut messages,
                &mut held,
                &bus,
                &handler,
                &mut reconnects,
                &shutdown,
            );
            match gathered.await {
                Gathered::PullAgain => continue,
                Gathered::Stopped => return,
            }
        }
        loop {
            let next = tokio::select! {
                next = messages.next() => next.flatten(),
                // After a reconnect the pending pull is lost with the old connection: pull
                // again at once.
                Ok(()) = reconnects.changed() => break,
                _ = shutdown.cancelled() => return,
            };
            let first = match next {
                Some(Ok(m)) => m,
                Some(Err(err)) => {
                    tracing::warn!(consumer = name, error = %err, "pull failed");
                    continue;
                }
                None => break,
            };
            let mut batch = vec![first];
            let ended = take_more(name, &mut messages, &mut batch, &mut pace).await;
            apply_batch(name, &mut held, &bus, &handler, batch).await;
            if ended {
                break;
            }
        }
    }
}

/// Moves the messages already waiting in `messages` into `batch`, up to [`BATCH`], and under
/// load (see [`Pace`]) those that come within [`crate::batch::LINGER`]; true when a pull
/// ended among them (then all are pulled again).
async fn take_more<S, M, E>(
    name: &'static str,
    messages: &mut S,
    batch: &mut Vec<M>,
    pace: &mut Pace,
) -> bool
where
    S: futures::Stream<Item = Option<Result<M, E>>> + Unpin,
    E: std::fmt::Display,
{
    let mut ended = take_waiting(name, messages, batch);
    if let Some(until) = pace.until().filter(|_| !ended) {
        while batch.len() < BATCH {
            match tokio::time::timeout_at(until, messages.next()).await {
                Ok(Some(Some(Ok(m)))) => batch.push(m),
                Ok(Some(Some(Err(err)))) => {
                    tracing::warn!(consumer = name, error = %err, "pull failed");
                    break;
                }
                Ok(Some(None) | None) => {
                    ended = true;
                    break;
                }
                Err(_) => {
                    ended = take_waiting(name, messages, batch);
                    break;
                }
            }
        }
    }
    pace.took(batch.len());
    ended
}

/// Moves the messages already waiting in `messages` into `batch`, up to [`BATCH`]; true when
/// a pull ended among them.
fn take_waiting<S, M, E>(name: &'static str, messages: &mut S, batch: &mut Vec<M>) -> bool
where
    S: futures::Stream<Item = Option<Result<M, E>>> + Unpin,
    E: std::fmt::Display,
{
    while batch.len() < BATCH {
        match messages.next().now_or_never() {
            Some(Some(Some(Ok(m)))) => batch.push(m),
            Some(Some(Some(Err(err)))) => {
                tracing::warn!(consumer = name, error = %err, "pull failed");
                return false;
            }
            Some(Some(None) | None) => return true,
            None => return false,
        }
    }
    false
}

/// Why [`gather_and_apply`] returned.
enum Gathered {
    /// A pull ended, or the connection to NATS was made again (losing the pending pulls).
    PullAgain,
    Stopped,
}

/// Lots prefetched and not yet applied, at most: enough to keep a batch ready behind the one
/// being applied, few enough that what was read ahead stays fresh.
const LOTS_AHEAD: usize = 2;

/// [`consume_all`]'s loop for a handler that prefetches ahead, as two steps joined by a short
/// queue: one takes the messages as they come (each time all those waiting, up to [`BATCH`]),
/// has the handler prefetch them as a lot and queues the lot; the other applies every lot
/// queued, as one batch, while the first prefetches the next. When the first step returns,
/// its end of the queue goes with it: the second applies what is queued and ends, so every
/// message gathered is applied before this returns.
async fn gather_and_apply<H, S, E>(
    name: &'static str,
    messages: &mut S,
    held: &mut Held,
    bus: &Bus,
    handler: &H,
    reconnects: &mut tokio::sync::watch::Receiver<u64>,
    shutdown: &CancellationToken,
) -> Gathered
where
    H: Handler,
    S: futures::Stream<Item = Option<Result<jetstream::Message, E>>> + Unpin,
    E: std::fmt::Display,
{
    let (lots, mut queued) = tokio::sync::mpsc::channel::<Vec<jetstream::Message>>(LOTS_AHEAD);
    let mut pace = Pace::lingering(handler.linger());
    let gather = async move {
        loop {
            let next = tokio::select! {
                next = messages.next() => next.flatten(),
                // After a reconnect the pending pull is lost with the old connection.
                Ok(()) = reconnects.changed() => return Gathered::PullAgain,
                _ = shutdown.cancelled() => return Gathered::Stopped,
            };
            let mut lot = match next {
                Some(Ok(m)) => vec![m],
                Some(Err(err)) => {
                    tracing::warn!(consumer = name, error = %err, "pull failed");
                    continue;
                }
                None => return Gathered::PullAgain,
            };
            let ended = take_more(name, messages, &mut lot, &mut pace).await;
            let received: Vec<Incoming<'_>> = lot.iter().map(incoming).collect();
            handler.prefetch(&received).await;
            drop(received);
            if lots.send(lot).await.is_err() || ended {
                return Gathered::PullAgain;
            }
        }
    };
    let apply = async move {
        let mut carried = Vec::new();
        loop {
            let mut batch = std::mem::take(&mut carried);
            if batch.is_empty() {
                match queued.recv().await {
                    Some(lot) => batch = lot,
                    None => return,
                }
            }
            while batch.len() < BATCH {
                match queued.try_recv() {
                    Ok(lot) => batch.extend(lot),
                    Err(_) => break,
                }
            }
            if batch.len() > BATCH {
                carried = batch.split_off(BATCH);
            }
            apply_batch(name, held, bus, handler, batch).await;
        }
    };
    let (gathered, ()) = tokio::join!(gather, apply);
    gathered
}

fn incoming(m: &jetstream::Message) -> Incoming<'_> {
    Incoming {
        subject: m.subject.as_str(),
        payload: &m.payload,
    }
}

/// The span a message is applied in, continuing the trace that published it.
fn consume_span(name: &'static str, message: &jetstream::Message) -> tracing::Span {
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
    span
}

/// One more transaction that applied messages: the messages applied over these is the
/// consumer's mean batch.
fn count_transaction(name: &'static str) {
    metrics::count(TRANSACTIONS, TRANSACTIONS_HELP, &[("consumer", name)], 1);
}

fn count_outcome(name: &'static str, outcome: &str, n: u64) {
    if n > 0 {
        metrics::count(
            "komek_consumer_messages_total",
            "Messages a consumer handled, by outcome: applied, duplicate (already applied), skipped (a subject the consumer does not follow), failed (retried or given up), rejected.",
            &[("consumer", name), ("outcome", outcome)],
            n,
        );
    }
}

/// Applies the messages of `batch` that the handler wants, as few transactions as failures
/// allow, and acks the others.
async fn apply_batch<H: Handler>(
    name: &'static str,
    held: &mut Held,
    bus: &Bus,
    handler: &H,
    batch: Vec<jetstream::Message>,
) {
    let (wanted, skipped): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|m| handler.wants(&incoming(m)));
    let redelivered = wanted
        .iter()
        .chain(&skipped)
        .filter(|m| m.info().is_ok_and(|i| i.delivered > 1))
        .count();
    if redelivered > 0 {
        metrics::count(
            REDELIVERIES,
            REDELIVERIES_HELP,
            &[("consumer", name)],
            redelivered as u64,
        );
    }
    count_outcome(name, "skipped", skipped.len() as u64);
    let mut rest: &[jetstream::Message] = &wanted;
    while !rest.is_empty() {
        if rest.len() == 1 {
            apply(name, held, bus, handler, &rest[0]).await;
            break;
        }
        match apply_together(name, held, bus, handler, rest).await {
            Ok(applied) => {
                settle_together(name, rest, applied).await;
                break;
            }
            // The batch gave way on a lock (see `Handler::batch_lock_timeout`): each message
            // in a transaction of its own, which waits as long as it must.
            Err(Failure { error, .. }) if error.is_lock_timeout() => {
                tracing::debug!(
                    consumer = name,
                    messages = rest.len(),
                    "batch gave way on a lock; applying its messages one by one"
                );
                metrics::count(
                    "komek_consumer_batches_split_total",
                    "Batches a consumer rolled back and applied one message per transaction because they waited too long for a lock.",
                    &[("consumer", name)],
                    1,
                );
                for message in rest {
                    apply(name, held, bus, handler, message).await;
                }
                break;
            }
            // One message failed: those before it went through in the transaction rolled
            // back, so they go again without it; it is retried or kept as a dead letter as if
            // it had come alone (without running it twice); those after it come next.
            Err(Failure { at: Some(i), error }) => {
                let (before, after) = rest.split_at(i);
                match before.len() {
                    0 => {}
                    1 => apply(name, held, bus, handler, &before[0]).await,
                    _ => match apply_together(name, held, bus, handler, before).await {
                        Ok(applied) => settle_together(name, before, applied).await,
                        Err(_) => {
                            for message in before {
                                apply(name, held, bus, handler, message).await;
                            }
                        }
                    },
                }
                let failed = &after[0];
                settle(
                    name,
                    &held.pool,
                    bus,
                    failed,
                    &message_id(failed),
                    Err(error),
                )
                .await;
                rest = &after[1..];
            }
            // The transaction itself failed (the database went away, say): one by one.
            Err(Failure { at: None, error }) => {
                tracing::debug!(consumer = name, error = %error, messages = rest.len(),
                    "batch failed; applying its messages one by one");
                for message in rest {
                    apply(name, held, bus, handler, message).await;
                }
                break;
            }
        }
    }
    ack_all(name, &skipped).await;
}

/// A batch's transaction failed: at the message `at`, or (None) around them.
struct Failure {
    at: Option<usize>,
    error: HandleError,
}

impl<E: Into<HandleError>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            at: None,
            error: error.into(),
        }
    }
}

/// One transaction for all of `batch`: their inbox rows in one statement, the handler's locks,
/// then each message not yet applied, in order. Returns which were applied.
async fn apply_together<H: Handler>(
    name: &'static str,
    held: &mut Held,
    bus: &Bus,
    handler: &H,
    batch: &[jetstream::Message],
) -> Result<Vec<usize>, Failure> {
    let result = apply_together_on(name, held, bus, handler, batch).await;
    if result.is_err() {
        held.give_back();
    }
    result
}

async fn apply_together_on<H: Handler>(
    name: &'static str,
    held: &mut Held,
    bus: &Bus,
    handler: &H,
    batch: &[jetstream::Message],
) -> Result<Vec<usize>, Failure> {
    let ids: Vec<String> = batch.iter().map(message_id).collect();
    let received: Vec<Incoming<'_>> = batch.iter().map(incoming).collect();
    handler.prefetch(&received).await;
    let mut tx = held.begin_bounded(handler.batch_lock_timeout()).await?;
    let fresh: std::collections::HashSet<String> = sqlx::query_scalar(
        "INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::text[]) \
         ON CONFLICT DO NOTHING RETURNING message_id",
    )
    .bind(name)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    // A message published twice can sit in one batch twice: the first applies it.
    let mut taken = std::collections::HashSet::new();
    let apply: Vec<usize> = (0..batch.len())
        .filter(|&i| fresh.contains(&ids[i]) && taken.insert(&ids[i]))
        .collect();
    if apply.is_empty() {
        // Nothing written but what the inbox refused; ended here so the kept connection is
        // ready for the next batch.
        tx.rollback().await?;
        return Ok(apply);
    }
    let to_apply: Vec<Incoming<'_>> = apply.iter().map(|&i| received[i]).collect();
    handler.lock(&mut tx, &to_apply).await?;
    let traced: Vec<Traced<'_>> = apply
        .iter()
        .map(|&i| Traced {
            message: received[i],
            span: consume_span(name, &batch[i]),
        })
        .collect();
    // The batch's events go to the outbox in one statement, and out the moment it commits.
    let (handled, events) = events::deferring(handler.handle_batch(&mut tx, &traced)).await;
    handled.map_err(|(k, error)| Failure {
        at: k.map(|k| apply[k]),
        error,
    })?;
    events::commit_publishing(tx, events, bus).await?;
    handler.committed(&to_apply);
    Ok(apply)
}

/// After a batch committed (its events handed to the relay): its counts, every message acked.
async fn settle_together(name: &'static str, batch: &[jetstream::Message], applied: Vec<usize>) {
    let applied = applied.len();
    if applied > 0 {
        count_transaction(name);
    }
    count_outcome(name, "applied", applied as u64);
    count_outcome(name, "duplicate", (batch.len() - applied) as u64);
    if failpoint::fires(failpoint::CONSUMER_BEFORE_ACK) {
        // As a crash here would: committed, not acked; JetStream redelivers after ack_wait.
        return;
    }
    ack_all(name, batch).await;
}

/// Acknowledges messages whose effect is committed (or that need none).
async fn ack_all(name: &'static str, messages: &[jetstream::Message]) {
    for message in messages {
        if let Err(err) = message.ack().await {
            // Not fatal: the message comes back after ack_wait and the inbox skips it.
            tracing::warn!(consumer = name, error = %err, "ack failed");
        }
    }
}

/// Applies one message in a transaction of its own, then acks, naks or keeps it as a dead
/// letter by the outcome.
async fn apply<H: Handler>(
    name: &'static str,
    held: &mut Held,
    bus: &Bus,
    handler: &H,
    message: &jetstream::Message,
) {
    let id = message_id(message);
    let span = consume_span(name, message);
    let result: Result<bool, HandleError> = async {
        let received = incoming(message);
        // What it needs from another service is asked before the transaction opens, as for
        // a batch, so the transaction (and its locks) lasts only for the database's work.
        handler.prefetch(std::slice::from_ref(&received)).await;
        let mut tx = held.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            tx.commit().await?;
            return Ok(false);
        }
        handler
            .lock(&mut tx, std::slice::from_ref(&received))
            .await?;
        // Its events go out the moment it commits.
        let (handled, events) = events::deferring(handler.handle(&mut tx, received)).await;
        handled?;
        events::commit_publishing(tx, events, bus).await?;
        handler.committed(std::slice::from_ref(&received));
        Ok(true)
    }
    .instrument(span)
    .await;
    if result.is_err() {
        held.give_back();
    }
    settle(name, &held.pool, bus, message, &id, result).await;
}

/// Acks, naks or keeps as a dead letter one message by what applying it came to: applied
/// (true) or found already applied (false), or failed.
async fn settle(
    name: &'static str,
    pool: &PgPool,
    bus: &Bus,
    message: &jetstream::Message,
    id: &str,
    result: Result<bool, HandleError>,
) {
    let delivered = message.info().map_or(1, |i| i.delivered.max(1) as u64);
    count_outcome(
        name,
        match &result {
            Ok(true) => "applied",
            Ok(false) => "duplicate",
            Err(HandleError::Reject(_)) => "rejected",
            Err(HandleError::Retry(_)) => "failed",
        },
        1,
    );
    if matches!(result, Ok(true)) {
        count_transaction(name);
    }
    let ack = match result {
        Ok(fresh) => {
            if !fresh {
                tracing::debug!(consumer = name, message_id = %id, "duplicate skipped");
            }
            jetstream::AckKind::Ack
        }
        // Will never apply (it does not decode): kept for a person, not retried.
        Err(HandleError::Reject(reason)) => give_up(name, pool, bus, message, id, &reason).await,
        Err(HandleError::Retry(err)) if delivered >= bus.redelivery.max_deliveries => {
            give_up(name, pool, bus, message, id, &format!("{err:#}")).await
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

/// Keeps the consumers' lag in the metrics: messages not yet delivered to them, and delivered
/// ones not yet acknowledged, as the server counts them every 10 s.
async fn measure_lag(
    name: &'static str,
    mut consumers: Vec<consumer::PullConsumer>,
    shutdown: CancellationToken,
) {
    loop {
        let mut lag = Some((0, 0));
        for consumer in &mut consumers {
            match consumer.info().await {
                Ok(info) => {
                    lag = lag.map(|(p, a)| (p + info.num_pending, a + info.num_ack_pending as u64))
                }
                Err(err) => {
                    tracing::debug!(consumer = name, error = %err, "consumer lag not measured");
                    lag = None;
                }
            }
        }
        if let Some((pending, ack_pending)) = lag {
            metrics::set(
                "komek_consumer_pending",
                "Messages in the stream not yet delivered to the consumer.",
                &[("consumer", name)],
                pending as f64,
            );
            metrics::set(
                "komek_consumer_ack_pending",
                "Messages delivered to the consumer and not yet acknowledged.",
                &[("consumer", name)],
                ack_pending as f64,
            );
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::channel::mpsc;
    use tokio::time::Instant;

    use super::*;

    type Pulled = Option<Result<u32, String>>;

    /// A consumer takes what waits; under load (its last batch was not alone) it also takes
    /// what comes within the linger, and stops waiting when the pull ends.
    #[tokio::test(start_paused = true)]
    async fn under_load_a_batch_takes_what_comes_within_the_linger() {
        let (send, mut messages) = mpsc::unbounded::<Pulled>();
        let mut pace = Pace::default();

        send.unbounded_send(Some(Ok(1))).unwrap();
        let mut batch = vec![0];
        let started = Instant::now();
        assert!(!take_more("test", &mut messages, &mut batch, &mut pace).await);
        assert_eq!(batch, [0, 1], "what waits");
        assert_eq!(started.elapsed(), Duration::ZERO, "no wait before load");

        let later = send.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            later.unbounded_send(Some(Ok(3))).unwrap();
            tokio::time::sleep(crate::batch::LINGER).await;
            later.unbounded_send(Some(Ok(4))).unwrap();
        });
        let mut batch = vec![2];
        let started = Instant::now();
        assert!(!take_more("test", &mut messages, &mut batch, &mut pace).await);
        assert_eq!(
            batch,
            [2, 3],
            "one that came 2 ms later joined; one past it did not"
        );
        assert_eq!(started.elapsed(), crate::batch::LINGER);

        let mut batch = vec![messages.next().await.unwrap().unwrap().unwrap()];
        assert_eq!(batch, [4]);
        send.unbounded_send(None).unwrap();
        let started = Instant::now();
        assert!(take_more("test", &mut messages, &mut batch, &mut pace).await);
        assert_eq!(batch, [4]);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "the pull's end stops the wait"
        );
    }

    /// A consumer off the callers' path waits its own, longer linger: what comes within it
    /// joins the batch, though it came after the pipeline's 5 ms.
    #[tokio::test(start_paused = true)]
    async fn a_handler_with_a_longer_linger_takes_what_comes_within_it() {
        let linger = Duration::from_millis(20);
        assert!(linger > crate::batch::LINGER);
        let (send, mut messages) = mpsc::unbounded::<Pulled>();
        let mut pace = Pace::lingering(linger);
        send.unbounded_send(Some(Ok(1))).unwrap();
        let mut batch = vec![0];
        take_more("test", &mut messages, &mut batch, &mut pace).await;
        assert_eq!(batch, [0, 1]);

        let later = send.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(12)).await;
            later.unbounded_send(Some(Ok(3))).unwrap();
            tokio::time::sleep(linger).await;
            later.unbounded_send(Some(Ok(4))).unwrap();
        });
        let mut batch = vec![2];
        let started = Instant::now();
        assert!(!take_more("test", &mut messages, &mut batch, &mut pace).await);
        assert_eq!(batch, [2, 3], "12 ms later joined; past the linger did not");
        assert_eq!(started.elapsed(), linger);
    }
}
