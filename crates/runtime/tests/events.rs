//! The outbox relay and inbox consumers against a real nats-server and PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::stream;
use komek_proto::events::v1::RequestEscalated;
use komek_runtime::CancellationToken;
use komek_runtime::events::{
    Bus, OutboxRelay, Outgoing, enqueue, streams, subject, write_outbox_held,
};
use komek_runtime::inbox::{HandleError, Handler, Incoming, consume};
use prost::Message;

mod common;
use common::{effects, outcome_count, setup};
use sqlx::{PgConnection, PgPool};

fn event(n: i32) -> RequestEscalated {
    RequestEscalated {
        request: format!("requests/{n}"),
        attempts: n,
        ..Default::default()
    }
}

/// Publishes `body` on a subject of the requests stream, and waits for the stream to take it.
async fn publish_test(bus: &Bus, body: &str) {
    bus.jetstream
        .publish(
            format!("{}.test", subject::REQUEST_ESCALATED),
            body.to_string().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn stream_messages(bus: &Bus, name: &str) -> u64 {
    let mut s = bus.jetstream.get_stream(name).await.unwrap();
    s.info().await.unwrap().state.messages
}

/// The requests stream holds `event(1)`, `event(2)` … in order, each under its id.
async fn assert_requests_stream_holds(bus: &Bus, ids: &[uuid::Uuid]) {
    let s = bus.jetstream.get_stream(streams::REQUESTS).await.unwrap();
    for (seq, id) in (1..).zip(ids) {
        let m = s.get_raw_message(seq).await.unwrap();
        assert_eq!(
            m.headers.get("Nats-Msg-Id").unwrap().as_str(),
            id.to_string()
        );
        assert_eq!(
            RequestEscalated::decode(m.payload.as_ref()).unwrap(),
            event(seq as i32)
        );
    }
}

#[tokio::test]
async fn committed_rows_are_published_with_their_id_and_marked_sent() {
    let (_nats, _db, pool, bus) = setup().await;
    let mut tx = pool.begin().await.unwrap();
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(
            enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(n))
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();

    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 3);
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        0,
        "sent rows are not sent again"
    );
    let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unsent, 0);

    assert_requests_stream_holds(&bus, &ids).await;

    // A relay that died after publishing but before marking publishes again: JetStream drops
    // the repeat by its message id.
    sqlx::query("UPDATE outbox SET sent_at = NULL WHERE id = $1")
        .bind(ids[1])
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(stream_messages(&bus, streams::REQUESTS).await, 3);
}

/// Events as a writer holds them for its relay: ids of their own, in order.
fn held_events(range: std::ops::RangeInclusive<i32>) -> Vec<(uuid::Uuid, Outgoing)> {
    range
        .map(|n| {
            (
                uuid::Uuid::now_v7(),
                Outgoing::new(subject::REQUEST_ESCALATED, &event(n)),
            )
        })
        .collect()
}

/// Commits `events` held; returns their batch id.
async fn commit_held(pool: &PgPool, events: &[(uuid::Uuid, Outgoing)]) -> uuid::Uuid {
    let mut tx = pool.begin().await.unwrap();
    let batch = write_outbox_held(&mut tx, events).await.unwrap();
    tx.commit().await.unwrap();
    batch
}

/// Rows not yet published: written unsent, or held and still waiting.
async fn unsent(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL) \
              + (SELECT count(*) FROM outbox_pending) \
              + (SELECT coalesce(sum(cardinality(events)), 0) FROM outbox_pending_batches)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn events_handed_over_after_commit_are_published_in_order_then_marked_sent() {
    let (_nats, _db, pool, bus) = setup().await;
    let events = held_events(1..=3);
    let ids: Vec<uuid::Uuid> = events.iter().map(|(id, _)| *id).collect();
    let batch = commit_held(&pool, &events).await;
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(
        relay.relay_batch().await.unwrap(),
        0,
        "the table's reader leaves held rows to their writer"
    );
    bus.publish_committed(batch, events);

    let stop = CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));
    let mut marked = false;
    for _ in 0..100 {
        if stream_messages(&bus, streams::REQUESTS).await == 3 && unsent(&pool).await == 0 {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.unwrap();
    assert!(marked, "published and marked sent within five seconds");
    assert_requests_stream_holds(&bus, &ids).await;
}

/// A relay far behind takes a backlog of handed events larger than the publishes the
/// JetStream context lets wait for their PubAck at once (5,000): it publishes them all, in
/// order, rather than waiting for a free place that only its own waiting could free.
#[tokio::test]
async fn a_backlog_of_handed_events_beyond_the_acks_in_flight_is_published_whole() {
    let (_nats, _db, pool, bus) = setup().await;
    let events = held_events(1..=6_000);
    let ids: Vec<uuid::Uuid> = events.iter().map(|(id, _)| *id).collect();
    let batch = commit_held(&pool, &events).await;
    bus.publish_committed(batch, events);
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    let published = tokio::time::timeout(Duration::from_secs(60), relay.publish_handed())
        .await
        .expect("the relay does not wait for itself")
        .unwrap();
    assert_eq!(
        published,
        vec![batch],
        "the batch, once every event of it was acknowledged"
    );
    assert_eq!(stream_messages(&bus, streams::REQUESTS).await, 6_000);
    let s = bus.jetstream.get_stream(streams::REQUESTS).await.unwrap();
    for seq in [1, 5_001, 6_000] {
        let m = s.get_raw_message(seq).await.unwrap();
        assert_eq!(
            m.headers.get("Nats-Msg-Id").unwrap().as_str(),
            ids[seq as usize - 1].to_string()
        );
    }
}

#[tokio::test]
async fn a_held_row_its_writer_never_published_goes_from_the_table_once_its_hold_passed() {
    let (_nats, _db, pool, bus) = setup().await;
    // Committed, then the writer stopped before handing the event over.
    let events = held_events(1..=1);
    commit_held(&pool, &events).await;
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 0);
    assert_eq!(stream_messages(&bus, streams::REQUESTS).await, 0);
    let hold: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM held_until - now())::float8 FROM outbox_pending_batches",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!((1.0..=30.0).contains(&hold), "held for {hold} s");
    // Here the hold has passed.
    sqlx::query("UPDATE outbox_pending_batches SET held_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(stream_messages(&bus, streams::REQUESTS).await, 1);
    assert_eq!(unsent(&pool).await, 0);
}

/// The outbox row's version: it changes whenever the row is written again.
async fn row_version(pool: &PgPool, id: uuid::Uuid) -> (String, String) {
    sqlx::query_as("SELECT ctid::text, xmin::text FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_held_row_is_published_and_marked_without_its_outbox_row_written_again() {
    let (_nats, _db, pool, bus) = setup().await;
    let events = held_events(1..=2);
    let ids: Vec<uuid::Uuid> = events.iter().map(|(id, _)| *id).collect();
    let batch = commit_held(&pool, &events).await;
    let before = row_version(&pool, ids[0]).await;
    // A relay of the release before looks for unsent rows by sent_at alone: it finds none.
    let seen_by_old: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(seen_by_old, 0);
    assert_eq!(
        unsent(&pool).await,
        2,
        "both wait, in their batch's one row"
    );

    bus.publish_committed(batch, events);
    let stop = CancellationToken::new();
    let running = tokio::spawn(OutboxRelay::new(pool.clone(), bus.clone()).run(stop.clone()));
    for _ in 0..100 {
        if unsent(&pool).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.unwrap();
    assert_eq!(unsent(&pool).await, 0, "marked within five seconds");
    assert_requests_stream_holds(&bus, &ids).await;
    assert_eq!(
        row_version(&pool, ids[0]).await,
        before,
        "the mark deleted the batch's row and left the outbox row as written"
    );
}

/// A batch of many events is taken whole by the table's reader once its hold has passed,
/// whatever room a round has left, and its row goes only with all of them published.
#[tokio::test]
async fn a_batch_its_writer_never_published_goes_whole_once_its_hold_passed() {
    let (_nats, _db, pool, bus) = setup().await;
    let first = held_events(1..=3);
    let second = held_events(4..=5);
    commit_held(&pool, &first).await;
    commit_held(&pool, &second).await;
    sqlx::query("UPDATE outbox_pending_batches SET held_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 5);
    let ids: Vec<uuid::Uuid> = first.iter().chain(&second).map(|(id, _)| *id).collect();
    assert_requests_stream_holds(&bus, &ids).await;
    assert_eq!(unsent(&pool).await, 0);
}

/// Writes one held event as an earlier release left it (`write`, binding the event's id,
/// subject and payload), then checks that the table's reader leaves it while held and
/// publishes it once `pass_hold` has moved its hold into the past.
async fn a_row_left_by_an_earlier_release_goes_once_its_hold_passed(write: &str, pass_hold: &str) {
    let (_nats, _db, pool, bus) = setup().await;
    let (id, event) = held_events(1..=1).remove(0);
    sqlx::query(write)
        .bind(id)
        .bind(event.subject.as_ref())
        .bind(&event.payload)
        .execute(&pool)
        .await
        .unwrap();
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 0, "held");
    assert_eq!(unsent(&pool).await, 1);
    sqlx::query(pass_hold).execute(&pool).await.unwrap();
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_requests_stream_holds(&bus, &[id]).await;
    assert_eq!(unsent(&pool).await, 0);
}

/// A held row as the release before wrote it, waiting in a row of its own in outbox_pending
/// (during a rolling upgrade, or left by a replica that stopped), is still published once its
/// hold has passed.
#[tokio::test]
async fn a_held_row_waiting_alone_goes_from_the_table_once_its_hold_passed() {
    a_row_left_by_an_earlier_release_goes_once_its_hold_passed(
        "WITH o AS (INSERT INTO outbox (id, subject, payload, held_until, sent_at) \
           VALUES ($1, $2, $3, now() + interval '5 seconds', now()) RETURNING id, held_until) \
         INSERT INTO outbox_pending (id, held_until) SELECT id, held_until FROM o",
        "UPDATE outbox_pending SET held_until = now() - interval '1 second'",
    )
    .await;
}

/// As writers before outbox_pending left it: unsent, held, no row waiting elsewhere.
#[tokio::test]
async fn a_held_row_written_unsent_goes_from_the_table_once_its_hold_passed() {
    a_row_left_by_an_earlier_release_goes_once_its_hold_passed(
        "INSERT INTO outbox (id, subject, payload, held_until) \
         VALUES ($1, $2, $3, now() + interval '5 seconds')",
        "UPDATE outbox SET held_until = now() - interval '1 second'",
    )
    .await;
}

#[tokio::test]
async fn housekeeping_keeps_a_held_row_that_still_waits_however_old() {
    let (_nats, _db, pool, bus) = setup().await;
    let events = held_events(1..=1);
    commit_held(&pool, &events).await;
    sqlx::query("UPDATE outbox SET created_at = now() - interval '30 days', sent_at = now() - interval '30 days'")
        .execute(&pool)
        .await
        .unwrap();
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(relay.housekeeping(week, week).await.unwrap(), (0, 0));
    sqlx::query("UPDATE outbox_pending_batches SET held_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(relay.housekeeping(week, week).await.unwrap(), (1, 0));
}

#[tokio::test]
async fn housekeeping_removes_only_old_sent_rows() {
    let (_nats, _db, pool, bus) = setup().await;
    let mut tx = pool.begin().await.unwrap();
    let sent = enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    relay.relay_batch().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let unsent = enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(2))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE outbox SET created_at = now() - interval '30 days', sent_at = now() - interval '30 days' WHERE id = $1")
        .bind(sent)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET created_at = now() - interval '30 days' WHERE id = $1")
        .bind(unsent)
        .execute(&pool)
        .await
        .unwrap();
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(relay.housekeeping(week, week).await.unwrap(), (1, 0));
    let left: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        vec![unsent],
        "an unsent row is never deleted, however old"
    );
}

#[tokio::test]
async fn rolled_back_change_publishes_nothing() {
    let (_nats, _db, pool, bus) = setup().await;
    let mut tx = pool.begin().await.unwrap();
    enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(1))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 0);
    assert_eq!(stream_messages(&bus, streams::REQUESTS).await, 0);
}

/// Records each message it applies; fails the first `fail_first` calls after writing.
struct Recorder {
    calls: Arc<AtomicUsize>,
    fail_first: usize,
}

impl Handler for Recorder {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        sqlx::query("INSERT INTO effects (message) VALUES ($1)")
            .bind(String::from_utf8_lossy(m.payload).into_owned())
            .execute(tx)
            .await?;
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(HandleError::Retry(anyhow::anyhow!("database hiccup")));
        }
        Ok(())
    }
}

/// Runs `handler` as the consumer "test" of the requests stream until the token is cancelled.
async fn consume_requests<H: Handler>(
    bus: &Bus,
    pool: &PgPool,
    handler: H,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let consumer = bus
        .durable_consumer(streams::REQUESTS, "test", "komek.request.>")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume(
        "test",
        consumer,
        pool.clone(),
        bus.clone(),
        handler,
        stop.clone(),
    ));
    (stop, task)
}

async fn wait_for_effects(pool: &PgPool, n: usize) {
    for _ in 0..200 {
        if effects(pool).await.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_message_delivered_twice_is_applied_once() {
    let (_nats, _db, pool, bus) = setup().await;
    // A short duplicate window lets the same message id into the stream twice, as happens
    // when a relay republishes after the window.
    bus.jetstream
        .create_stream(stream::Config {
            name: "DUPES".into(),
            subjects: vec!["dupes.>".into()],
            duplicate_window: Duration::from_millis(200),
            ..Default::default()
        })
        .await
        .unwrap();
    for body in ["a", "a", "b"] {
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(body.into())
            .message_id(format!("id-{body}"));
        bus.jetstream
            .send_publish("dupes.x", publish)
            .await
            .unwrap()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(
        stream_messages(&bus, "DUPES").await,
        3,
        "both copies of a are in the stream"
    );

    let consumer = bus
        .durable_consumer("DUPES", "test", "dupes.>")
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume(
        "test",
        consumer,
        pool.clone(),
        bus.clone(),
        Recorder {
            calls: calls.clone(),
            fail_first: 0,
        },
        stop.clone(),
    ));
    wait_for_effects(&pool, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(effects(&pool).await, vec!["a", "b"]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the repeat never reached the handler"
    );
}

#[tokio::test]
async fn a_failed_handler_leaves_no_effect_and_the_message_comes_back() {
    let (_nats, _db, pool, bus) = setup().await;
    let mut tx = pool.begin().await.unwrap();
    enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(7))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    OutboxRelay::new(pool.clone(), bus.clone())
        .relay_batch()
        .await
        .unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let (stop, task) = consume_requests(
        &bus,
        &pool,
        Recorder {
            calls: calls.clone(),
            fail_first: 1,
        },
    )
    .await;
    wait_for_effects(&pool, 1).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "failed once, then applied");
    assert_eq!(
        effects(&pool).await.len(),
        1,
        "the failed attempt's write was rolled back"
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inbox, 1);
}

#[tokio::test]
async fn a_message_that_keeps_failing_becomes_a_dead_letter_and_replays_once_fixed() {
    use komek_proto::ops::v1 as ops;
    use komek_proto::ops::v1::operations_service_server::OperationsService;
    use komek_runtime::events::Redelivery;
    use komek_runtime::ops::Operations;
    use komek_runtime::pages::{PageTokens, Pages};

    let (_nats, _db, pool, mut bus) = setup().await;
    // Three deliveries, 50 ms apart, instead of minutes.
    bus.redelivery = Redelivery {
        backoff: vec![Duration::from_millis(50)],
        max_deliveries: 3,
    };
    let mut tx = pool.begin().await.unwrap();
    enqueue(&mut tx, subject::REQUEST_ESCALATED, &event(9))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    OutboxRelay::new(pool.clone(), bus.clone())
        .relay_batch()
        .await
        .unwrap();
    // And one that can never be applied.
    bus.jetstream
        .publish(subject::REQUEST_ESCALATED, "not a message".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let (stop, task) = consume_requests(
        &bus,
        &pool,
        Rejecting(Recorder {
            calls: calls.clone(),
            fail_first: usize::MAX,
        }),
    )
    .await;
    let dead = |pool: PgPool| async move {
        sqlx::query_as::<_, (String, i32)>(
            "SELECT error, deliveries FROM dead_letters ORDER BY deliveries DESC",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let mut letters = Vec::new();
    for _ in 0..200 {
        letters = dead(pool.clone()).await;
        if letters.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0].1, 3, "given up after its third delivery");
    assert!(letters[0].0.contains("database hiccup"), "{letters:?}");
    assert_eq!(letters[1].1, 1, "what cannot be read is not retried");
    // Given up means no more deliveries.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(effects(&pool).await.is_empty());

    // The cause is fixed; a person replays it.
    stop.cancel();
    task.await.unwrap();
    let (stop, task) = consume_requests(
        &bus,
        &pool,
        Rejecting(Recorder {
            calls: calls.clone(),
            fail_first: 0,
        }),
    )
    .await;
    let operations = Operations::new(
        pool.clone(),
        bus.clone(),
        Pages::new(PageTokens::new([1; 32]), 10),
    );
    let listed = operations
        .list_dead_letters(tonic::Request::new(ops::ListDeadLettersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(listed.len(), 2);
    let stuck = listed.iter().find(|d| d.deliveries == 3).unwrap();
    for _ in 0..2 {
        let replayed = operations
            .replay_dead_letter(tonic::Request::new(ops::ReplayDeadLetterRequest {
                name: stuck.name.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(replayed.replay_time.is_some());
    }
    wait_for_effects(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        effects(&pool).await.len(),
        1,
        "applied once, however often it is replayed"
    );
    let waiting = operations
        .list_dead_letters(tonic::Request::new(ops::ListDeadLettersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(waiting.len(), 1, "only the unreadable one still waits");
}

/// A recorder that rejects payloads that are not events.
struct Rejecting(Recorder);

impl Handler for Rejecting {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        m.decode::<RequestEscalated>()?;
        self.0.handle(tx, m).await
    }
}

/// Adds one to the slot its message names, as matching takes a group's place: a lock on a
/// row known only when the message is read. Records the size of each batch it is given.
struct SlotTaker {
    bound: Option<Duration>,
    batches: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl Handler for SlotTaker {
    fn batch_lock_timeout(&self) -> Option<Duration> {
        self.bound
    }

    async fn prefetch(&self, batch: &[Incoming<'_>]) {
        self.batches.lock().unwrap().push(batch.len());
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let slot: i32 = String::from_utf8_lossy(m.payload).parse().unwrap();
        sqlx::query("UPDATE slots SET n = n + 1 WHERE id = $1")
            .bind(slot)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO effects (message) VALUES ($1)")
            .bind(slot.to_string())
            .execute(tx)
            .await?;
        Ok(())
    }
}

/// A batch takes slot 1, then waits for slot 2, which another transaction holds; that one
/// then wants slot 1: a deadlock. It must be the batch that gives way, and the other
/// transaction (a volunteer's call, in matching) that goes through. Gives None when the two
/// messages did not come in one batch: then there was no deadlock to see.
async fn batch_meets_a_transaction_taking_its_rows_the_other_way(
    bound: Option<Duration>,
) -> Option<Result<(), sqlx::Error>> {
    let (_nats, _db, pool, bus) = setup().await;
    sqlx::raw_sql(
        "CREATE TABLE slots (id INT PRIMARY KEY, n INT NOT NULL); \
         INSERT INTO slots VALUES (1, 0), (2, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for slot in ["1", "2"] {
        publish_test(&bus, slot).await;
    }
    let mut other = pool.begin().await.unwrap();
    // The other side looks for a deadlock after 300 ms of waiting: before the batch's own
    // check (PostgreSQL's default, 1 s), after the batch's bound.
    sqlx::query("SET LOCAL deadlock_timeout = '300ms'")
        .execute(&mut *other)
        .await
        .unwrap();
    sqlx::query("UPDATE slots SET n = n + 100 WHERE id = 2")
        .execute(&mut *other)
        .await
        .unwrap();

    let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop, task) = consume_requests(
        &bus,
        &pool,
        SlotTaker {
            bound,
            batches: batches.clone(),
        },
    )
    .await;
    // The batch holds slot 1 and waits for slot 2.
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let theirs = sqlx::query("UPDATE slots SET n = n + 100 WHERE id = 1")
        .execute(&mut *other)
        .await;
    match theirs {
        Ok(_) => other.commit().await.unwrap(),
        Err(_) => other.rollback().await.unwrap(),
    }
    wait_for_effects(&pool, 2).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(effects(&pool).await, vec!["1", "2"], "each applied once");
    if batches.lock().unwrap().first() != Some(&2) {
        return None;
    }
    Some(theirs.map(|_| ()))
}

/// Plays the scenario above until both messages come in one batch. The server hands a pull's
/// messages over one by one, so now and then the consumer sees the first before the second
/// has arrived and takes it alone: no deadlock can happen then, and that run says nothing.
async fn deadlock_between_a_batch_and_a_transaction(
    bound: Option<Duration>,
) -> Result<(), sqlx::Error> {
    for _ in 0..5 {
        if let Some(outcome) = batch_meets_a_transaction_taking_its_rows_the_other_way(bound).await
        {
            return outcome;
        }
    }
    panic!("in five runs the two messages never came in one batch");
}

#[tokio::test]
async fn a_batch_that_waits_too_long_for_a_lock_gives_way_and_goes_one_by_one() {
    deadlock_between_a_batch_and_a_transaction(Some(Duration::from_millis(50)))
        .await
        .expect("the other transaction went through");
}

#[tokio::test]
async fn without_the_bound_postgresql_picks_the_other_side_as_the_deadlock_victim() {
    // The case above would fail without the bound: this is what happens then.
    let err = deadlock_between_a_batch_and_a_transaction(None)
        .await
        .expect_err("a deadlock, broken by failing the other transaction");
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("40P01")
    );
}

/// A consumer keeps its connection from one transaction to the next. One broken while the
/// stream was quiet (the server restarted) must be found before the next message is taken, not
/// by it: that message is applied at its first delivery, nothing failed or waits for a retry.
#[tokio::test]
async fn a_consumer_quiet_over_a_database_restart_applies_the_next_message_at_once() {
    let nats = komek_testkit::Nats::start();
    let mut pg = komek_testkit::Postgres::start();
    pg.create_database("kept").await;
    let pool = komek_runtime::db::connect_and_migrate(
        &pg.url("kept"),
        "kept",
        2,
        &sqlx::migrate::Migrator::DEFAULT,
    )
    .await
    .unwrap();
    for sql in [
        include_str!("../sql/0001_events.sql"),
        include_str!("../sql/0002_dead_letters.sql"),
        include_str!("../sql/0003_trace_context.sql"),
        include_str!("../sql/0004_outbox_held.sql"),
        include_str!("../sql/0005_outbox_pending.sql"),
        include_str!("../sql/0006_outbox_pending_batches.sql"),
        include_str!("../sql/0007_outbox_keyed_by_id.sql"),
        "CREATE TABLE effects (message TEXT NOT NULL)",
    ] {
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    }
    let bus = Bus::connect(&nats.url(), "test").await.unwrap();
    let consumer = bus
        .durable_consumer(streams::REQUESTS, "kept", "komek.request.>")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(consume(
        "kept",
        consumer,
        pool.clone(),
        bus.clone(),
        Recorder {
            calls: calls.clone(),
            fail_first: 0,
        },
        stop.clone(),
    ));
    publish_test(&bus, "before").await;
    wait_for_effects(&pool, 1).await;
    // Quiet for longer than the pool lets a connection sit unchecked, then the server restarts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    pg.stop(komek_testkit::PgStop::Immediate);
    pg.start_again();
    publish_test(&bus, "after").await;
    wait_for_effects(&pool, 2).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(effects(&pool).await, vec!["after", "before"]);
    let failed = outcome_count("kept", "failed");
    assert!(
        failed.unwrap_or(0) == 0,
        "no message failed on the broken connection: {failed:?}"
    );
}

/// Enqueues two events per message; fails on the message "bad" after enqueueing.
struct Announcer;

impl Handler for Announcer {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let body = String::from_utf8_lossy(m.payload).into_owned();
        for part in ["first", "second"] {
            enqueue(&mut *tx, subject::REQUEST_ESCALATED, &event(0)).await?;
            sqlx::query("INSERT INTO effects (message) VALUES ($1)")
                .bind(format!("{body}-{part}"))
                .execute(&mut *tx)
                .await?;
        }
        if body == "bad" {
            return Err(HandleError::Reject("bad".into()));
        }
        Ok(())
    }
}

/// A batch's events are held back and written together before its commit: every applied
/// message's events are in the outbox, in the order they were enqueued, and a message whose
/// transaction rolled back left none.
#[tokio::test]
async fn a_batch_writes_the_events_of_its_applied_messages_in_order() {
    let (_nats, _db, pool, bus) = setup().await;
    for body in ["a", "b", "bad", "c"] {
        publish_test(&bus, body).await;
    }
    let (stop, task) = consume_requests(&bus, &pool, Announcer).await;
    wait_for_effects(&pool, 6).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        effects(&pool).await,
        vec![
            "a-first", "a-second", "b-first", "b-second", "c-first", "c-second"
        ]
    );
    let outbox: Vec<(i64, uuid::Uuid)> = sqlx::query_as("SELECT seq, id FROM outbox ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        outbox.len(),
        6,
        "two events for each applied message, none for the bad one"
    );
    // Ids are drawn as the events are enqueued: the outbox keeps that order.
    let mut ids: Vec<uuid::Uuid> = outbox.iter().map(|(_, id)| *id).collect();
    let enqueued = ids.clone();
    ids.sort();
    assert_eq!(ids, enqueued);
}

/// Prefetches ahead: records what it was given, and holds the message "gate" in its
/// transaction until the test lets it go.
struct AheadRecorder {
    prefetched: Arc<std::sync::Mutex<Vec<String>>>,
    applied: Arc<std::sync::Mutex<Vec<String>>>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Handler for AheadRecorder {
    fn prefetches_ahead(&self) -> bool {
        true
    }

    async fn prefetch(&self, batch: &[Incoming<'_>]) {
        let mut prefetched = self.prefetched.lock().unwrap();
        for m in batch {
            let body = String::from_utf8_lossy(m.payload).into_owned();
            if !prefetched.contains(&body) {
                prefetched.push(body);
            }
        }
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let body = String::from_utf8_lossy(m.payload).into_owned();
        if body == "gate" {
            self.gate.acquire().await.unwrap().forget();
        }
        sqlx::query("INSERT INTO effects (message) VALUES ($1)")
            .bind(&body)
            .execute(tx)
            .await?;
        self.applied.lock().unwrap().push(body);
        Ok(())
    }
}

/// While a batch is being applied, the messages that arrive meanwhile are prefetched: the
/// next batch is ready when it commits. Each is then applied once, in stream order, however
/// many lots they were prefetched in.
#[tokio::test]
async fn the_next_batch_is_prefetched_while_one_is_applied() {
    let (_nats, _db, pool, bus) = setup().await;
    let prefetched = Arc::new(std::sync::Mutex::new(Vec::new()));
    let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handler = AheadRecorder {
        prefetched: prefetched.clone(),
        applied: applied.clone(),
        gate: gate.clone(),
    };
    let (stop, task) = consume_requests(&bus, &pool, handler).await;
    publish_test(&bus, "gate").await;
    let later: Vec<String> = (1..=20).map(|i| format!("m{i}")).collect();
    // The gate's batch is being applied once it was prefetched (before its transaction).
    for _ in 0..200 {
        if !prefetched.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for body in &later {
        publish_test(&bus, body).await;
    }
    let mut ahead = false;
    for _ in 0..200 {
        ahead = prefetched.lock().unwrap().contains(&later[0]);
        if ahead {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        ahead,
        "a later message was prefetched while the gate's batch was held: {:?}",
        prefetched.lock().unwrap()
    );
    assert!(
        effects(&pool).await.is_empty(),
        "nothing was committed while it was prefetched"
    );
    gate.add_permits(1);
    wait_for_effects(&pool, 21).await;
    stop.cancel();
    task.await.unwrap();
    let mut expected = vec!["gate".to_string()];
    expected.extend(later);
    assert_eq!(*applied.lock().unwrap(), expected, "in stream order");
    expected.sort();
    assert_eq!(effects(&pool).await, expected, "each committed once");
}
