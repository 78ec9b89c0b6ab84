//! The event backbone: JetStream streams, the connection to NATS, and the transactional outbox
//! and its relay. The consumers that apply each message exactly once are `inbox`.
//!
//! Architecture invariant: a service never publishes directly. It writes an outbox row in the
//! transaction that changes its state ([`enqueue`]); the [`OutboxRelay`] publishes the row with
//! `Nats-Msg-Id` set to the row's id and marks it sent only after JetStream acknowledged it. A
//! crash between publish and mark re-publishes the same id, which JetStream's duplicate window
//! and the consumers' inbox both discard.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{self, consumer, stream};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{failpoint, metrics, trace};

/// Subjects, one per event type; payloads are `komek.events.v1` messages.
pub mod subject {
    pub const REQUEST_CREATED: &str = "komek.request.created";
    pub const REQUEST_TRIAGED: &str = "komek.request.triaged";
    pub const REQUEST_STATUS_CHANGED: &str = "komek.request.status_changed";
    /// A request cancelled or merged (`RequestStatus::is_called_off`), with the same payload
    /// as its `request.status_changed`: the one change matching acts on, apart, so that the
    /// server hands it alone and not every status change (three a request) only for it to be
    /// skipped.
    pub const REQUEST_CALLED_OFF: &str = "komek.request.called_off";
    pub const REQUEST_ESCALATED: &str = "komek.request.escalated";
    pub const REQUEST_MERGED: &str = "komek.request.merged";
    pub const REQUEST_WAITING: &str = "komek.request.waiting";
    pub const REQUEST_DEFERRED: &str = "komek.request.deferred";
    pub const REQUEST_ERASED: &str = "komek.request.erased";
    pub const ASSIGNMENT_OFFERED: &str = "komek.assignment.offered";
    pub const ASSIGNMENT_CHANGED: &str = "komek.assignment.changed";
    /// Followed by `.{group id}`; the roster stream keeps only the last message per subject.
    pub const ROSTER_GROUP_PREFIX: &str = "komek.roster.group";

    pub fn roster_group(group_id: &str) -> String {
        format!("{ROSTER_GROUP_PREFIX}.{group_id}")
    }

    /// The message the owner of a last-value stream publishes after the state of every key:
    /// the stream is whole. Keys are UUIDs, so "complete" is never one.
    pub fn complete(prefix: &str) -> String {
        format!("{prefix}.complete")
    }

    /// Followed by `.{key id}`; the access stream keeps only the last message per subject.
    pub const ACCESS_KEY_PREFIX: &str = "komek.access.key";

    pub fn access_key(key_id: &str) -> String {
        format!("{ACCESS_KEY_PREFIX}.{key_id}")
    }
}

/// Stream names.
pub mod streams {
    pub const REQUESTS: &str = "KOMEK_REQUESTS";
    pub const ASSIGNMENTS: &str = "KOMEK_ASSIGNMENTS";
    pub const ROSTER: &str = "KOMEK_ROSTER";
    pub const ACCESS: &str = "KOMEK_ACCESS";

    pub const ALL: [&str; 4] = [REQUESTS, ASSIGNMENTS, ROSTER, ACCESS];
}

/// The JetStream stream definitions, each kept in `replicas` copies. Every service ensures all
/// of them at start, so start order does not matter.
fn stream_configs(replicas: usize) -> Vec<stream::Config> {
    let duplicate_window = Duration::from_secs(120);
    let streams = vec![
        stream::Config {
            name: streams::REQUESTS.into(),
            subjects: vec!["komek.request.>".into()],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(90 * 24 * 3600),
            duplicate_window,
            ..Default::default()
        },
        stream::Config {
            name: streams::ASSIGNMENTS.into(),
            subjects: vec!["komek.assignment.>".into()],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(90 * 24 * 3600),
            duplicate_window,
            ..Default::default()
        },
        stream::Config {
            name: streams::ROSTER.into(),
            subjects: vec![format!("{}.>", subject::ROSTER_GROUP_PREFIX)],
            storage: stream::StorageType::File,
            // The latest state of each group is all a reader needs to rebuild.
            max_messages_per_subject: 1,
            duplicate_window,
            ..Default::default()
        },
        stream::Config {
            name: streams::ACCESS.into(),
            subjects: vec![format!("{}.>", subject::ACCESS_KEY_PREFIX)],
            storage: stream::StorageType::File,
            // The latest state of each key, revoked ones included, so a revocation is never
            // forgotten.
            max_messages_per_subject: 1,
            duplicate_window,
            ..Default::default()
        },
    ];
    streams
        .into_iter()
        .map(|c| stream::Config {
            num_replicas: replicas,
            ..c
        })
        .collect()
}

/// Whether a stream as it is differs from how it should be in what Komek sets.
fn differs(current: &stream::Config, wanted: &stream::Config) -> bool {
    // The server reports "no limit" as -1 where the client's default says 0.
    let per_subject = |c: &stream::Config| c.max_messages_per_subject.max(0);
    current.num_replicas.max(1) != wanted.num_replicas.max(1)
        || current.subjects != wanted.subjects
        || current.max_age != wanted.max_age
        || per_subject(current) != per_subject(wanted)
        || current.duplicate_window != wanted.duplicate_window
}

/// Creates the stream, or brings an existing one to `config` (its replicas above all): a
/// stream created on a laptop at one copy gets three once the cluster is configured.
async fn ensure_stream(js: &jetstream::Context, config: &stream::Config) -> anyhow::Result<()> {
    match js.get_stream(&config.name).await {
        Ok(mut stream) => {
            let current = stream.info().await?.config.clone();
            if differs(&current, config) {
                js.update_stream(config).await?;
                tracing::info!(
                    stream = %config.name,
                    replicas = config.num_replicas,
                    "stream brought to its configuration"
                );
            }
            Ok(())
        }
        // Only a stream the server says is missing is created: an unanswered request (a
        // cluster electing a leader) is asked again.
        Err(err) if not_found(&err) => {
            js.create_stream(config.clone()).await?;
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

fn not_found(err: &jetstream::context::GetStreamError) -> bool {
    matches!(
        err.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Durable pull consumers that one handler consumes as one ([`crate::inbox::consume_all`]).
#[derive(Clone, Debug)]
pub enum Consumers {
    /// One consumer of `stream`, for the subjects of `filter_subject`.
    Durable {
        stream: &'static str,
        durable: &'static str,
        filter_subject: &'static str,
    },
    /// Consumers of one subject each taking over from `predecessor`
    /// ([`Bus::durable_consumers_after`]): (durable name, filter subject).
    After {
        stream: &'static str,
        predecessor: &'static str,
        successors: Vec<(&'static str, &'static str)>,
    },
}

/// A connection to NATS with JetStream, and what this process's outbox relay is asked to do.
#[derive(Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    relay: Arc<RelayWork>,
    /// Counts the connections made to NATS: it moves when the client reconnects.
    connections: watch::Receiver<u64>,
    /// How consumers retry a message their handler failed on.
    pub redelivery: Redelivery,
}

/// What the relay of a process is asked to do, by the writers of that process.
#[derive(Default)]
struct RelayWork {
    wake: Notify,
    /// Rows were committed by [`write_outbox`]: read the outbox.
    poll: AtomicBool,
    /// Events committed by [`write_outbox_held`], in the order they were handed over, each
    /// transaction's with the id of its row in `outbox_pending_batches`.
    handed: std::sync::Mutex<Handed>,
}

/// Handed-over events: each transaction's batch id and its events, in the order handed over.
#[derive(Default)]
struct Handed {
    batches: Vec<(Uuid, Vec<(Uuid, Outgoing)>)>,
    /// Events in `batches`.
    events: usize,
}

/// The outbox's indexes in every service's schema, as [`crate::db::index_definitions`] gives
/// them: each is written for every event, and each is read (by id: the relay's marks, the held
/// batches, housekeeping; unsent rows in order: the relay's poll).
pub const OUTBOX_INDEXES: &[&str] = &[
    "CREATE UNIQUE INDEX outbox_pkey ON outbox USING btree (id)",
    "CREATE INDEX outbox_unsent ON outbox USING btree (seq) WHERE (sent_at IS NULL)",
];

/// Most handed-over events waiting for the relay.
const MAX_HANDED: usize = 65_536;

/// How long the relays of other processes, and this one's poll, leave a held row alone: far
/// beyond the moment between its commit and its publish, so the row is published twice only
/// when its process stopped in between (or NATS refused it), and then within seconds.
pub const HOLD: Duration = Duration::from_secs(5);

/// How a consumer retries a message whose handler failed: after growing delays, until it has
/// been delivered `max_deliveries` times; then the message is kept as a dead letter (see
/// [`crate::ops`]) for a person to replay.
///
/// The delivery limit is counted here, not set on the JetStream consumer: the server would drop
/// the message at its limit, while here it is dropped only once the dead letter is stored.
/// A database that is down fails the handler and the dead letter alike, so its messages wait
/// for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redelivery {
    /// The delay after each failed delivery; the last one repeats.
    pub backoff: Vec<Duration>,
    pub max_deliveries: u64,
}

impl Default for Redelivery {
    fn default() -> Self {
        Self {
            backoff: [1, 2, 5, 10, 30, 60, 120, 300]
                .map(Duration::from_secs)
                .to_vec(),
            max_deliveries: 10,
        }
    }
}

impl Redelivery {
    /// The delay before delivery `delivered + 1`.
    pub fn delay(&self, delivered: u64) -> Duration {
        let i = (delivered.max(1) - 1) as usize;
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

impl Bus {
    /// Live messages of every subject in `subjects`, as one stream (plain NATS: what is
    /// published from now on, for watchers that re-read state after a reconnect).
    pub async fn subscribe_all(
        &self,
        subjects: &[&str],
    ) -> anyhow::Result<futures::stream::SelectAll<async_nats::Subscriber>> {
        let mut all = Vec::with_capacity(subjects.len());
        for s in subjects {
            all.push(self.client.subscribe(s.to_string()).await?);
        }
        Ok(futures::stream::select_all(all))
    }

    /// Connects to one server and creates the streams when missing, at one copy each.
    pub async fn connect(url: &str, name: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, name, 1).await
    }

    /// Connects to any of `urls` (separated by commas) and ensures the streams at `replicas`
    /// copies each, changing streams that exist with other settings.
    pub async fn connect_with(urls: &str, name: &str, replicas: usize) -> anyhow::Result<Self> {
        let servers: Vec<&str> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if servers.is_empty() {
            anyhow::bail!("nats_url: no server given");
        }
        if replicas == 0 || replicas > 5 {
            anyhow::bail!("stream_replicas: 1 to 5 copies");
        }
        let (connected, connections) = watch::channel(0u64);
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            // A server that restarts is back within a second or two: try often, not with the
            // client's default backoff of up to 4 s.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(10) as u64)
            })
            .event_callback(move |event| {
                if matches!(event, async_nats::Event::Connected) {
                    connected.send_modify(|n| *n += 1);
                }
                std::future::ready(())
            })
            .connect(servers)
            .await?;
        let jetstream = jetstream::new(client.clone());
        // Setting the streams up asks again soon rather than waiting out the default 5 s for
        // a server that will not answer (a stream whose leader just went).
        let mut setup = jetstream.clone();
        setup.set_timeout(SETUP_TIMEOUT);
        // A cluster starting with us elects its leader first; a stream whose leader just went
        // needs a new one. Keep asking for two minutes, then give up (a supervisor starts the
        // service again).
        let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
        for config in stream_configs(replicas) {
            let name = config.name.clone();
            let mut attempt: u64 = 0;
            while let Err(e) = ensure_stream(&setup, &config).await {
                // Replicas starting together race to create a missing stream, and the loser's
                // create fails ("subjects overlap"); by the next look the stream is there.
                attempt += 1;
                if tokio::time::Instant::now() > give_up {
                    anyhow::bail!("creating stream {name}: {e}");
                }
                tracing::info!(stream = %name, error = %e, attempt, "stream not ready; asking again");
                tokio::time::sleep(Duration::from_millis((100 * attempt).min(1000))).await;
            }
        }
        Ok(Self {
            client,
            jetstream,
            relay: Arc::default(),
            connections,
            redelivery: Redelivery::default(),
        })
    }

    /// Changes each time the client connects again after losing NATS. Pulls and consumers
    /// made before are not to be trusted then (an ordered consumer lives in the server's
    /// memory): followers start again from where they were.
    pub fn reconnects(&self) -> watch::Receiver<u64> {
        let mut rx = self.connections.clone();
        rx.mark_unchanged();
        rx
    }

    /// Tells the relay that new outbox rows were committed, so it reads and publishes them
    /// without waiting for its next poll.
    pub fn wake_outbox(&self) {
        self.relay.poll.store(true, Ordering::Release);
        self.relay.wake.notify_one();
    }

    /// Hands events just committed held, under the batch id they were written with
    /// ([`write_outbox_held`], [`held_outbox_ctes`]), to this process's relay, which publishes
    /// them as they are, without reading them back (see [`OutboxRelay`]). They must be every
    /// event the batch wrote: once they are published the batch's row is deleted, and with it
    /// the only sign that any of its events still waited.
    pub fn publish_committed(&self, batch: Uuid, events: Vec<(Uuid, Outgoing)>) {
        if events.is_empty() {
            return;
        }
        {
            let mut handed = self.relay.handed.lock().unwrap_or_else(|e| e.into_inner());
            // Beyond this the relay has fallen far behind (or none runs here): the rows wait
            // out their hold and go the polled way.
            if handed.events + events.len() > MAX_HANDED {
                return;
            }
            handed.events += events.len();
            handed.batches.push((batch, events));
        }
        self.relay.wake.notify_one();
    }

    /// The JetStream context for setting consumers up at start: a request the server does
    /// not answer (a stream or consumer whose leader just went, in a cluster) is asked again
    /// after [`SETUP_TIMEOUT`], where the default waits 5 s, and a start asks several.
    fn setup(&self) -> jetstream::Context {
        let mut setup = self.jetstream.clone();
        setup.set_timeout(SETUP_TIMEOUT);
        setup
    }

    /// The consumers `which` names, created when missing (see [`Bus::durable_consumer`] and
    /// [`Bus::durable_consumers_after`]).
    pub async fn consumers(
        &self,
        which: &Consumers,
    ) -> anyhow::Result<Vec<consumer::PullConsumer>> {
        match which {
            Consumers::Durable {
                stream,
                durable,
                filter_subject,
            } => Ok(vec![
                self.durable_consumer(stream, durable, filter_subject)
                    .await?,
            ]),
            Consumers::After {
                stream,
                predecessor,
                successors,
            } => {
                self.durable_consumers_after(stream, predecessor, successors)
                    .await
            }
        }
    }

    /// A durable pull consumer on `stream`, created when missing. Handlers skip subjects they
    /// do not need.
    pub async fn durable_consumer(
        &self,
        stream: &str,
        durable: &str,
        filter_subject: &str,
    ) -> anyhow::Result<consumer::PullConsumer> {
        // A cluster starting with us may still be electing the stream's or the consumer's
        // leader: ask again for a minute rather than fail the start.
        asking_again(&format!("consumer {durable} on {stream}"), || {
            self.make_durable_consumer(stream, durable, filter_subject)
        })
        .await
    }

    async fn make_durable_consumer(
        &self,
        stream: &str,
        durable: &str,
        filter_subject: &str,
    ) -> anyhow::Result<consumer::PullConsumer> {
        let stream = self.setup().get_stream(stream).await?;
        let config = pull_config(durable, filter_subject, consumer::DeliverPolicy::All);
        Ok(stream.get_or_create_consumer(durable, config).await?)
    }

    /// Durable pull consumers of one subject each that take over from `predecessor`, a
    /// consumer of the same stream with a wider filter, which is then deleted. The server
    /// filters for each successor, where the predecessor was handed every message of its
    /// filter only for the consumer to skip the ones it does not act on (a delivery and an
    /// ack each). Consume them together under the predecessor's inbox name
    /// ([`crate::inbox::consume_all`]).
    ///
    /// A successor created while the predecessor exists starts right after the predecessor's
    /// ack floor, the last message before which every one was applied and acked: nothing it
    /// had not applied is missed, and what it applied past the floor the successors find in
    /// the inbox they share with it. Without a predecessor (a new installation, or one that
    /// took over already) a missing successor starts at the stream's beginning, as every
    /// durable consumer does. A successor that exists is used as it is.
    pub async fn durable_consumers_after(
        &self,
        stream: &str,
        predecessor: &str,
        successors: &[(&str, &str)],
    ) -> anyhow::Result<Vec<consumer::PullConsumer>> {
        asking_again(
            &format!("consumers after {predecessor} on {stream}"),
            || self.make_consumers_after(stream, predecessor, successors),
        )
        .await
    }

    async fn make_consumers_after(
        &self,
        stream: &str,
        predecessor: &str,
        successors: &[(&str, &str)],
    ) -> anyhow::Result<Vec<consumer::PullConsumer>> {
        let stream = self.setup().get_stream(stream).await?;
        // The floor only moves forward, so reading it once before the successors are
        // created can only start them earlier than needed, never later.
        let start = match stream.consumer_info(predecessor).await {
            Ok(info) => Some(info.ack_floor.stream_sequence + 1),
            Err(err) if err.kind() == ConsumerInfoErrorKind::NotFound => None,
            Err(err) => return Err(err.into()),
        };
        let deliver_policy = match start {
            Some(start_sequence) => consumer::DeliverPolicy::ByStartSequence { start_sequence },
            None => consumer::DeliverPolicy::All,
        };
        let mut consumers = Vec::with_capacity(successors.len());
        for &(durable, filter_subject) in successors {
            let config = pull_config(durable, filter_subject, deliver_policy);
            consumers.push(stream.get_or_create_consumer(durable, config).await?);
        }
        if let Some(start) = start {
            // Only once every successor exists: a start that fails halfway finds the
            // predecessor again and its floor where the successors made so far began.
            if let Err(err) = stream.delete_consumer(predecessor).await {
                // Another replica may have deleted it first.
                match stream.consumer_info(predecessor).await {
                    Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {}
                    _ => return Err(err.into()),
                }
            }
            tracing::info!(
                predecessor,
                start,
                "consumers took over from their predecessor, which is deleted"
            );
        }
        Ok(consumers)
    }
}

/// A durable consumer's settings: explicit acks, redelivered after 30 s without one.
fn pull_config(
    durable: &str,
    filter_subject: &str,
    deliver_policy: consumer::DeliverPolicy,
) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(durable.into()),
        // One subject (wildcards allowed): several filters need nats-server 2.10, and Debian
        // 12 ships 2.9.
        filter_subject: filter_subject.into(),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        deliver_policy,
        ..Default::default()
    }
}

/// Adds an event to the outbox inside the caller's transaction. Returns its message id.
/// The row keeps the caller's trace, which the publish and the consumers continue.
pub async fn enqueue<M: Message>(
    tx: &mut PgConnection,
    subject: &str,
    event: &M,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let event = Outgoing {
        subject: subject.to_string().into(),
        payload: event.encode_to_vec(),
        traceparent: trace::current_traceparent(),
    };
    write_outbox(tx, vec![(id, event)]).await?;
    Ok(id)
}

/// An event to enqueue with others ([`enqueue_many`]).
pub struct Outgoing {
    pub subject: std::borrow::Cow<'static, str>,
    pub payload: Vec<u8>,
    /// The trace of what caused it (`trace::current_traceparent` where it was built).
    pub traceparent: Option<String>,
}

impl Outgoing {
    /// `event` on `subject`, in the current trace.
    pub fn new<M: Message>(subject: &'static str, event: &M) -> Self {
        Self {
            subject: subject.into(),
            payload: event.encode_to_vec(),
            traceparent: trace::current_traceparent(),
        }
    }
}

/// Adds events to the outbox inside the caller's transaction, in one statement and in their
/// order (the relay publishes them in it).
pub async fn enqueue_many(tx: &mut PgConnection, events: Vec<Outgoing>) -> sqlx::Result<()> {
    let events = events.into_iter().map(|e| (Uuid::now_v7(), e)).collect();
    write_outbox(tx, events).await
}

tokio::task_local! {
    /// The events enqueued inside [`deferring`], in their order.
    static DEFERRED: std::cell::RefCell<Vec<(Uuid, Outgoing)>>;
}

/// Runs `work` holding back the events it enqueues, and returns them with its outcome, to be
/// written with [`write_outbox`] in one statement before its transaction commits: a consumer's
/// batch that enqueues an event per message then pays one statement for all of them. Only
/// for work whose transaction commits after that write and that does not read the outbox
/// (nothing but the relay reads it).
pub async fn deferring<T>(work: impl Future<Output = T>) -> (T, Vec<(Uuid, Outgoing)>) {
    DEFERRED
        .scope(std::cell::RefCell::new(Vec::new()), async move {
            let out = work.await;
            (out, DEFERRED.with(|held| held.take()))
        })
        .await
}

/// Writes events to the outbox with the ids they were given, in one statement, in their order;
/// inside [`deferring`] they are held back instead.
pub async fn write_outbox(
    tx: &mut PgConnection,
    events: Vec<(Uuid, Outgoing)>,
) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut events = Some(events);
    let _ = DEFERRED.try_with(|held| {
        held.borrow_mut()
            .extend(events.take().into_iter().flatten())
    });
    let Some(events) = events else {
        return Ok(());
    };
    insert_outbox(tx, &events, None).await
}

/// Writes events to the outbox as [`write_outbox`] does, held for this process: once the
/// transaction has committed, the writer hands them to [`Bus::publish_committed`] with the
/// batch id returned, and this process's relay publishes them at once, without reading them
/// back in a transaction of its own; every relay leaves the rows alone for [`HOLD`] (they are
/// published from the table only if this process stopped before it published them). Only for
/// subjects whose consumers take events in any order: a row of a last-value stream goes
/// through [`write_outbox`].
pub async fn write_outbox_held(
    tx: &mut PgConnection,
    events: &[(Uuid, Outgoing)],
) -> sqlx::Result<Uuid> {
    let batch = Uuid::now_v7();
    insert_outbox(tx, events, Some(batch)).await?;
    Ok(batch)
}

async fn insert_outbox(
    tx: &mut PgConnection,
    events: &[(Uuid, Outgoing)],
    held: Option<Uuid>,
) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Rows come out of unnest in the arrays' order, and take their sequence numbers in it.
    static HELD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let events = "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[])";
        format!("WITH {} SELECT 1", held_outbox_ctes(events, 5, 6))
    });
    let (ids, subjects, payloads, traces) = outbox_columns(events);
    let query = if held.is_some() {
        sqlx::query(&HELD)
    } else {
        sqlx::query(
            "INSERT INTO outbox (id, subject, payload, traceparent) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[])",
        )
    };
    let query = query.bind(ids).bind(subjects).bind(payloads).bind(traces);
    let query = match held {
        Some(batch) => query.bind(HOLD).bind(batch),
        None => query,
    };
    query.execute(tx).await?;
    Ok(())
}

type OutboxColumns<'e> = (Vec<Uuid>, Vec<&'e str>, Vec<&'e [u8]>, Vec<Option<&'e str>>);

fn outbox_columns(events: &[(Uuid, Outgoing)]) -> OutboxColumns<'_> {
    (
        events.iter().map(|(id, _)| *id).collect(),
        events.iter().map(|(_, e)| e.subject.as_ref()).collect(),
        events.iter().map(|(_, e)| e.payload.as_slice()).collect(),
        events
            .iter()
            .map(|(_, e)| e.traceparent.as_deref())
            .collect(),
    )
}

/// The part of a statement that writes events held, as [`write_outbox_held`] does: two
/// data-modifying CTEs for its `WITH` list. `events` is a query of the statement giving each
/// event's id, subject, payload and traceparent, in the order they are to be published (it
/// may read the statement's other CTEs: a change written in one statement with the events of
/// what it changed); `$hold` is bound to [`HOLD`] and `$batch` to a fresh id for the batch
/// (`Uuid::now_v7()`). Once the statement's transaction has committed, hand every event
/// written, no more and no fewer, to [`Bus::publish_committed`] under that batch id.
pub fn held_outbox_ctes(events: &str, hold: usize, batch: usize) -> String {
    // The hold counts from the write (the transaction's last statement), not from its start.
    // Held rows are written sent, and wait together in one row of outbox_pending_batches
    // (`sql/0006_outbox_pending_batches.sql`); a statement that writes none writes no row.
    format!(
        "held_written AS ( \
           INSERT INTO outbox (id, subject, payload, traceparent, held_until, sent_at) \
           SELECT e.*, clock_timestamp() + ${hold}::interval, now() FROM ({events}) e \
           RETURNING id, seq, held_until), \
         held_pending AS ( \
           INSERT INTO outbox_pending_batches (id, held_until, events) \
           SELECT ${batch}::uuid, max(held_until), array_agg(id ORDER BY seq) \
           FROM held_written HAVING count(*) > 0)"
    )
}

/// Commits `tx` with `events` (as [`deferring`] returns them) written held, and hands them
/// to the relay: the way for work that wants its events out the moment it commits.
pub async fn commit_publishing(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    events: Vec<(Uuid, Outgoing)>,
    bus: &Bus,
) -> sqlx::Result<()> {
    let batch = write_outbox_held(&mut tx, &events).await?;
    tx.commit().await?;
    bus.publish_committed(batch, events);
    Ok(())
}

/// The current state of every key of a last-value stream a service feeds, enqueued in the
/// caller's transaction; returns how many states. The outbox keeps sent rows only a week, so
/// a last-value stream that lost its messages is rebuilt from the tables, not from the outbox.
pub type EnqueueAll =
    for<'c> fn(&'c mut PgConnection) -> futures::future::BoxFuture<'c, anyhow::Result<u64>>;

/// A last-value stream and how its owner fills it again.
#[derive(Clone, Copy)]
pub struct Snapshot {
    pub stream: &'static str,
    pub enqueue_all: EnqueueAll,
}

/// What [`restore_streams`] found and did, per stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Outbox rows published before the stream was made, marked unsent to go again.
    pub republished: Vec<(&'static str, u64)>,
    /// Current states enqueued into empty last-value streams.
    pub snapshots: Vec<(&'static str, u64)>,
    /// Last-value streams that were not complete, with their "complete" message enqueued.
    pub completed: Vec<&'static str>,
}

/// Whether `stream` holds a message on `subject`.
async fn has_message(bus: &Bus, stream: &str, subject: &str) -> anyhow::Result<bool> {
    let stream = bus.jetstream.get_stream(stream).await?;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How long a request setting streams or consumers up waits for its answer before it is
/// asked again.
const SETUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks `ask` until it answers, for a minute: the streams were ensured a moment ago, but a
/// cluster may be between leaders.
async fn asking_again<T, F, Fut>(what: &str, mut ask: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let err = match ask().await {
            Ok(answer) => return Ok(answer),
            Err(e) => e,
        };
        if tokio::time::Instant::now() > give_up {
            return Err(err.context(what.to_string()));
        }
        tracing::info!(what, error = %err, "stream not ready; asking again");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Gives the streams back what this service published to them and they no longer hold.
///
/// PostgreSQL is the record; the streams carry it to the other services. A stream made after an
/// outbox row was sent cannot hold that row's message: its NATS lost the store, or this
/// database was restored from a backup beside a fresh NATS. Such rows are marked unsent, so the
/// relay publishes them again in their order; consumers apply the ones they had not yet (those
/// their restored inbox does not list) and skip the rest. A last-value stream in `snapshots`
/// is instead filled from the tables: without its "complete" message, it gets the current state
/// of every key when it is empty, then that message (see [`crate::follow`]).
///
/// Runs at start, before the relay: every row to go again is committed before any is sent, so
/// the states enqueued here follow the older rows of their subjects.
pub async fn restore_streams(
    pool: &PgPool,
    bus: &Bus,
    snapshots: &[Snapshot],
) -> anyhow::Result<Restored> {
    let mut restored = Restored::default();
    let mut tx = pool.begin().await?;
    for config in stream_configs(1) {
        let name = streams::ALL
            .into_iter()
            .find(|s| *s == config.name)
            .expect("every stream is named in streams::ALL");
        let info =
            asking_again(&format!("reading stream {name}"), || fetch_info(bus, name)).await?;
        let created = chrono::DateTime::from_timestamp_nanos(
            i64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(i64::MAX),
        );
        let prefix = config.subjects[0].trim_end_matches('>');
        if let Some(snapshot) = snapshots.iter().find(|s| s.stream == name) {
            let complete = subject::complete(prefix.trim_end_matches('.'));
            let whole = asking_again(&format!("looking for {complete}"), || {
                has_message(bus, name, &complete)
            })
            .await?;
            if !whole {
                if info.state.messages == 0 {
                    let n = (snapshot.enqueue_all)(&mut tx).await?;
                    if n > 0 {
                        tracing::warn!(
                            stream = name,
                            states = n,
                            "stream empty; publishing every state again"
                        );
                        restored.snapshots.push((name, n));
                    }
                }
                enqueue(&mut tx, &complete, &()).await?;
                restored.completed.push(name);
            }
            // Never the old rows: published after the current states, they would stand as
            // the last state of their keys.
            continue;
        }
        let again = sqlx::query(
            "UPDATE outbox SET sent_at = NULL WHERE sent_at < $1 AND starts_with(subject, $2)",
        )
        .bind(created)
        .bind(prefix)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if again > 0 {
            tracing::warn!(
                stream = name,
                events = again,
                stream_created = %created,
                "the stream was made after these events were published; publishing them again"
            );
            restored.republished.push((name, again));
        }
    }
    tx.commit().await?;
    bus.wake_outbox();
    Ok(restored)
}

async fn fetch_info(bus: &Bus, name: &str) -> anyhow::Result<stream::Info> {
    let mut stream = bus.jetstream.get_stream(name).await?;
    Ok(stream.info().await?.clone())
}

/// Publishes committed outbox rows in order and marks them sent after the PubAck.
///
/// Two ways in. Events handed over by this process's writers ([`Bus::publish_committed`]) are
/// published as they are, and marked sent in one statement for all that were acknowledged in
/// the last [`MARK_EVERY`] (their batches' rows in `outbox_pending_batches` deleted): under a trickle of
/// requests a transaction to read back and lock each event just written was most of what its
/// publish cost the database. Rows committed by
/// [`write_outbox`], by other replicas, left by a crash or by NATS refusing them, or marked
/// unsent by [`restore_streams`] are read from the table, locked, published and marked in one
/// transaction ([`Self::relay_batch`]); it skips held rows until their hold has passed.
pub struct OutboxRelay {
    pool: PgPool,
    bus: Bus,
    poll: Duration,
}

const RELAY_BATCH: i64 = 256;

/// Most publishes a relay has waiting for their PubAck at once. The JetStream context lets
/// 5,000 wait (async-nats's `max_ack_inflight`, shared by the process) and holds the next
/// publish until one is acknowledged and awaited; a relay that sent a long backlog of handed
/// events before awaiting the first ack waited for itself for ever. Past this many it awaits
/// the oldest before sending the next, which keeps the pipe full and leaves room for others.
const PUBLISH_WINDOW: usize = 1024;

/// An outbox row read by the relay: id, subject, payload, trace context, and how it waits.
type TableRow = (Uuid, String, Vec<u8>, Option<String>, Waits);

/// How an outbox row read by the relay waits to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[repr(i32)]
enum Waits {
    /// Written unsent (`sent_at` NULL).
    Unsent = 0,
    /// Held, in a row of its own in `outbox_pending` (written by the release before).
    Pending = 1,
    /// Held, in its transaction's row of `outbox_pending_batches`.
    InBatch = 2,
}

/// Handed-over events acknowledged by JetStream wait at most this long to be marked sent, or
/// until there are [`MARK_BATCH`] of them.
const MARK_EVERY: Duration = Duration::from_millis(200);
const MARK_BATCH: usize = 1024;

const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// How often the relay measures its backlog for the metrics.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Sent outbox rows are kept a week for inspection.
const OUTBOX_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// An inbox row matters while its message can still come back: the streams keep messages 90
/// days, so rows a day older than that can go.
const INBOX_RETENTION: Duration = Duration::from_secs(91 * 24 * 3600);

/// Batch ids of published events not yet marked sent.
#[derive(Default)]
struct Marks {
    ids: Vec<Uuid>,
    since: Option<tokio::time::Instant>,
    running: tokio::task::JoinSet<()>,
}

impl Marks {
    fn add(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        let before = self.ids.len();
        self.ids.extend(ids);
        if before == 0 && !self.ids.is_empty() {
            self.since = Some(tokio::time::Instant::now());
        }
    }

    /// How long until the marks are due; None when there are none.
    fn due_in(&self) -> Option<Duration> {
        if self.ids.len() >= MARK_BATCH {
            return Some(Duration::ZERO);
        }
        self.since
            .map(|since| MARK_EVERY.saturating_sub(since.elapsed()))
    }

    /// Marks the waiting ids sent, in a task of its own so publishing goes on meanwhile.
    fn flush(&mut self, pool: &PgPool) {
        let ids = std::mem::take(&mut self.ids);
        self.since = None;
        if ids.is_empty() {
            return;
        }
        // Finished marks are collected here; their outcome was logged by the task.
        while self.running.try_join_next().is_some() {}
        let pool = pool.clone();
        self.running.spawn(async move {
            // A mark that fails leaves the rows unsent: once their hold has passed they are
            // published again under the same ids, which JetStream's window and the inboxes
            // discard.
            if let Err(err) = mark_sent(&pool, &ids).await {
                tracing::warn!(error = %err, rows = ids.len(), "published rows not marked sent");
            }
        });
    }
}

/// Sets the backlog gauges every `every` until `shutdown`. A relay that cannot publish (NATS
/// gone, a stream refusing, a round that never ends) shows here first.
async fn measure_backlog_every(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(err) = measure_backlog(&pool).await {
            tracing::debug!(error = %err, "outbox backlog not measured");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Sets the backlog gauges: unsent rows and the age of the oldest.
async fn measure_backlog(pool: &PgPool) -> sqlx::Result<()> {
    let (unsent, oldest): (i64, f64) = sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 \
         FROM (SELECT created_at FROM outbox WHERE sent_at IS NULL \
               UNION ALL \
               SELECT o.created_at FROM outbox_pending p JOIN outbox o USING (id) \
               UNION ALL \
               SELECT o.created_at FROM outbox_pending_batches b \
                 JOIN outbox o ON o.id = ANY (b.events)) waiting",
    )
    .fetch_one(pool)
    .await?;
    metrics::set(
        "komek_outbox_unsent",
        "Outbox rows committed and not yet published.",
        &[],
        unsent as f64,
    );
    metrics::set(
        "komek_outbox_oldest_unsent_seconds",
        "Age of the oldest unpublished outbox row, in seconds (0 when none waits).",
        &[],
        oldest,
    );
    Ok(())
}

/// Handed-over events are all held rows, in batches: marking them sent deletes their
/// batches' rows.
async fn mark_sent(pool: &PgPool, batches: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox_pending_batches WHERE id = ANY($1)")
        .bind(batches)
        .execute(pool)
        .await?;
    Ok(())
}

impl OutboxRelay {
    pub fn new(pool: PgPool, bus: Bus) -> Self {
        // Polling covers rows committed by other replicas; local commits wake the relay at once.
        Self {
            pool,
            bus,
            poll: Duration::from_millis(500),
        }
    }

    /// Runs until `shutdown`, then publishes what is left once more, marks it and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        // The backlog is measured beside the relay, not between its rounds: a relay stuck in
        // a round (a publish that never returns, a lock it waits on) is what the gauges are
        // there to show, and from inside its loop they would stop at their last value.
        let measuring = tokio::spawn(measure_backlog_every(
            self.pool.clone(),
            BACKLOG_EVERY,
            shutdown.clone(),
        ));
        // Ends with the relay, however the relay ends.
        let _measuring = tokio_util::task::AbortOnDropHandle::new(measuring);
        let mut last_housekeeping = tokio::time::Instant::now();
        let mut last_poll: Option<tokio::time::Instant> = None;
        let mut marks = Marks::default();
        loop {
            if last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
                last_housekeeping = tokio::time::Instant::now();
                if let Err(err) = self.housekeeping(OUTBOX_RETENTION, INBOX_RETENTION).await {
                    tracing::warn!(error = %err, "outbox housekeeping failed");
                }
            }
            // Handed-over events first: they were committed before anything the poll finds
            // of this process's writers since.
            loop {
                match self.publish_handed().await {
                    Ok(published) if published.is_empty() => break,
                    Ok(published) => marks.add(published),
                    Err(err) => {
                        tracing::warn!(error = %err,
                            "handed-over events not published; they go from the table after their hold");
                    }
                }
            }
            let asked = self.bus.relay.poll.swap(false, Ordering::AcqRel);
            if asked || last_poll.is_none_or(|t| t.elapsed() >= self.poll) {
                last_poll = Some(tokio::time::Instant::now());
                loop {
                    match self.relay_batch().await {
                        Ok(n) if n == RELAY_BATCH as usize => continue,
                        Ok(_) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, "outbox relay failed; retrying");
                            break;
                        }
                    }
                }
            }
            if shutdown.is_cancelled() {
                marks.flush(&self.pool);
                while marks.running.join_next().await.is_some() {}
                return;
            }
            if marks.due_in() == Some(Duration::ZERO) {
                marks.flush(&self.pool);
            }
            let next_poll =
                last_poll.map_or(Duration::ZERO, |t| self.poll.saturating_sub(t.elapsed()));
            let wait = marks.due_in().map_or(next_poll, |m| m.min(next_poll));
            tokio::select! {
                _ = self.bus.relay.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Publishes the events handed over since the last call, in their order, and returns the
    /// ids of their batches once JetStream acknowledged every event (to be marked sent).
    /// Those not acknowledged stay unsent in the table and go from there once their hold has
    /// passed.
    pub async fn publish_handed(&self) -> anyhow::Result<Vec<Uuid>> {
        let handed = std::mem::take(
            &mut *self
                .bus
                .relay
                .handed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if handed.batches.is_empty() {
            return Ok(Vec::new());
        }
        if failpoint::fires(failpoint::RELAY_BEFORE_PUBLISH) {
            return Err(failpoint::crash(failpoint::RELAY_BEFORE_PUBLISH));
        }
        let batches: Vec<Uuid> = handed.batches.iter().map(|(batch, _)| *batch).collect();
        self.publish(handed.batches.into_iter().flat_map(|(_, events)| {
            events
                .into_iter()
                .map(|(id, e)| (id, e.subject.into_owned(), e.payload, e.traceparent))
        }))
        .await?;
        Ok(batches)
    }

    /// Publishes rows in their order, up to [`PUBLISH_WINDOW`] sent ahead of the oldest
    /// acknowledgement awaited, and returns their ids once every one was acknowledged.
    async fn publish(
        &self,
        rows: impl Iterator<Item = (Uuid, String, Vec<u8>, Option<String>)>,
    ) -> anyhow::Result<Vec<Uuid>> {
        let mut ids = Vec::new();
        let mut acks = std::collections::VecDeque::with_capacity(PUBLISH_WINDOW);
        for (id, subject, payload, traceparent) in rows {
            // One span per event, in the trace that wrote it; the message carries this span
            // on to the consumers.
            let span = tracing::info_span!(
                "publish",
                otel.name = %format!("{subject} publish"),
                otel.kind = "producer",
                messaging.system = "nats",
                messaging.destination.name = %subject,
                messaging.message.id = %id,
            );
            trace::continue_trace(&span, traceparent.as_deref());
            let mut publish = jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .message_id(id.to_string());
            if let Some(value) = trace::traceparent_of(&span).or(traceparent) {
                publish = publish.header(trace::TRACEPARENT, value.as_str());
            }
            if acks.len() == PUBLISH_WINDOW
                && let Some(oldest) = acks.pop_front()
            {
                oldest.await?;
            }
            acks.push_back(
                self.bus
                    .jetstream
                    .send_publish(subject, publish)
                    .instrument(span)
                    .await?,
            );
            ids.push(id);
        }
        for ack in acks {
            ack.await?;
        }
        if failpoint::fires(failpoint::RELAY_BEFORE_MARK_SENT) {
            return Err(failpoint::crash(failpoint::RELAY_BEFORE_MARK_SENT));
        }
        metrics::count(
            "komek_outbox_published_total",
            "Outbox rows published to JetStream (acknowledged by it).",
            &[],
            ids.len() as u64,
        );
        Ok(ids)
    }

    /// Deletes outbox rows sent longer than `sent_for` ago and inbox rows older than `inbox_for`.
    /// Unsent rows, held ones still waiting among them, are never deleted. Returns how many
    /// rows of each went.
    pub async fn housekeeping(
        &self,
        sent_for: Duration,
        inbox_for: Duration,
    ) -> sqlx::Result<(u64, u64)> {
        let outbox = sqlx::query(
            "DELETE FROM outbox WHERE sent_at < now() - $1::interval \
             AND NOT EXISTS (SELECT 1 FROM outbox_pending p WHERE p.id = outbox.id) \
             AND id NOT IN (SELECT unnest(events) FROM outbox_pending_batches)",
        )
        .bind(sent_for)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let inbox = sqlx::query("DELETE FROM inbox WHERE received_at < now() - $1::interval")
            .bind(inbox_for)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((outbox, inbox))
    }

    /// Publishes up to one batch read from the table. Rows stay locked until marked, so two
    /// relays never publish the same row at the same time (they could after a crash, which
    /// dedupe absorbs). Held rows are left to their writer until the hold has passed.
    pub async fn relay_batch(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        // Rows written unsent (and held rows of the release before last, which wrote them
        // so), then held rows whose hold has passed: those of the release before, each
        // waiting in outbox_pending, and this release's, waiting by transaction in
        // outbox_pending_batches (a batch is taken whole, however many events it has). Held
        // rows are only of subjects whose consumers take events in any order, so the sets
        // need no order between them.
        let mut rows: Vec<TableRow> = sqlx::query_as(
            "SELECT id, subject, payload, traceparent, 0 FROM outbox WHERE sent_at IS NULL \
             AND (held_until IS NULL OR held_until < now()) \
             ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(RELAY_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let room = RELAY_BATCH - rows.len() as i64;
        if room > 0 {
            rows.extend(
                sqlx::query_as::<_, TableRow>(
                    "SELECT o.id, o.subject, o.payload, o.traceparent, 1 \
                     FROM (SELECT id FROM outbox_pending WHERE held_until < now() \
                           LIMIT $1 FOR UPDATE SKIP LOCKED) p \
                     JOIN outbox o USING (id) ORDER BY o.seq",
                )
                .bind(room)
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        let room = RELAY_BATCH - rows.len() as i64;
        let mut batches: Vec<Uuid> = Vec::new();
        if room > 0 {
            batches = sqlx::query_scalar(
                "SELECT id FROM outbox_pending_batches WHERE held_until < now() \
                 LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
        }
        if !batches.is_empty() {
            rows.extend(
                sqlx::query_as::<_, TableRow>(
                    "SELECT o.id, o.subject, o.payload, o.traceparent, 2 \
                     FROM outbox o WHERE o.id IN \
                       (SELECT unnest(events) FROM outbox_pending_batches WHERE id = ANY($1)) \
                     ORDER BY o.seq",
                )
                .bind(&batches)
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        if rows.is_empty() {
            return Ok(0);
        }
        if failpoint::fires(failpoint::RELAY_BEFORE_PUBLISH) {
            return Err(failpoint::crash(failpoint::RELAY_BEFORE_PUBLISH));
        }
        let ids_where = |waits: Waits| -> Vec<Uuid> {
            rows.iter()
                .filter(|row| row.4 == waits)
                .map(|row| row.0)
                .collect()
        };
        let (pending, unsent) = (ids_where(Waits::Pending), ids_where(Waits::Unsent));
        let ids = self
            .publish(rows.into_iter().map(|(id, s, p, t, _)| (id, s, p, t)))
            .await?;
        if !unsent.is_empty() {
            sqlx::query("UPDATE outbox SET sent_at = now() WHERE id = ANY($1)")
                .bind(&unsent)
                .execute(&mut *tx)
                .await?;
        }
        if !pending.is_empty() {
            sqlx::query("DELETE FROM outbox_pending WHERE id = ANY($1)")
                .bind(&pending)
                .execute(&mut *tx)
                .await?;
        }
        if !batches.is_empty() {
            sqlx::query("DELETE FROM outbox_pending_batches WHERE id = ANY($1)")
                .bind(&batches)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::debug!(count = ids.len(), "outbox rows published");
        Ok(ids.len())
    }
}

/// How long one pull waits for messages. The server sends idle heartbeats at half of it, so a
/// restarted server or a broken connection shows within seconds, not after the client's
/// defaults (heartbeats every 15 s, pulls of 30 s), and consumers and streams recover as soon
/// as the server is back.
pub const PULL_EXPIRES: Duration = Duration::from_secs(4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_as_the_server_reports_it_does_not_differ_from_its_configuration() {
        for wanted in stream_configs(3) {
            // What the server answers for a stream created from `wanted`.
            let reported = stream::Config {
                max_messages_per_subject: if wanted.max_messages_per_subject == 0 {
                    -1
                } else {
                    wanted.max_messages_per_subject
                },
                max_messages: -1,
                max_bytes: -1,
                ..wanted.clone()
            };
            assert!(!differs(&reported, &wanted), "{}", wanted.name);
            let one_copy = stream::Config {
                num_replicas: 1,
                ..reported
            };
            assert!(differs(&one_copy, &wanted), "{}", wanted.name);
        }
    }
}
