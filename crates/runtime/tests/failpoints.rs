//! The event flow stopped at its dangerous moments, as a crash would stop it, against a real
//! nats-server and PostgreSQL: after a commit before the publish, after the publish before the
//! row is marked sent, after the effect before the ack. Nothing is lost and nothing is applied
//! twice. (Failpoints are per process: this file is its own test binary with one test.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use komek_proto::events::v1::RequestEscalated;
use komek_runtime::CancellationToken;
use komek_runtime::events::{
    Bus, OutboxRelay, Outgoing, enqueue, streams, subject, write_outbox_held,
};
use komek_runtime::failpoint::{
    self, CONSUMER_BEFORE_ACK, RELAY_BEFORE_MARK_SENT, RELAY_BEFORE_PUBLISH,
};
use komek_runtime::inbox::{HandleError, Handler, Incoming, consume};
use sqlx::{PgConnection, PgPool};

mod common;
use common::{effects, setup};

struct Counter(Arc<AtomicUsize>);

impl Handler for Counter {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let e: RequestEscalated = m.decode()?;
        sqlx::query("INSERT INTO effects (message) VALUES ($1)")
            .bind(e.request)
            .execute(tx)
            .await?;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn in_stream(bus: &Bus) -> u64 {
    let mut s = bus.jetstream.get_stream(streams::REQUESTS).await.unwrap();
    s.info().await.unwrap().state.messages
}

async fn commit_event(pool: &PgPool, request: &str) {
    let mut tx = pool.begin().await.unwrap();
    let event = RequestEscalated {
        request: request.into(),
        ..Default::default()
    };
    enqueue(&mut tx, subject::REQUEST_ESCALATED, &event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn commit_held_and_hand_over(pool: &PgPool, bus: &Bus, request: &str) {
    let event = RequestEscalated {
        request: request.into(),
        ..Default::default()
    };
    let events = vec![(
        uuid::Uuid::now_v7(),
        Outgoing::new(subject::REQUEST_ESCALATED, &event),
    )];
    let mut tx = pool.begin().await.unwrap();
    let batch = write_outbox_held(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    bus.publish_committed(batch, events);
}

/// As if the few seconds of every hold had gone by.
async fn pass_holds(pool: &PgPool) {
    sqlx::query("UPDATE outbox_pending_batches SET held_until = now() - interval '1 second'")
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn nothing_is_lost_or_doubled_when_the_flow_stops_at_its_dangerous_moments() {
    let (_nats, _db, pool, bus) = setup().await;
    let relay = OutboxRelay::new(pool.clone(), bus.clone());

    // Committed, not yet published: the event waits in the outbox for the next run.
    commit_event(&pool, "requests/a").await;
    failpoint::arm(RELAY_BEFORE_PUBLISH, 1);
    assert!(relay.relay_batch().await.is_err());
    assert_eq!(in_stream(&bus).await, 0);
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(in_stream(&bus).await, 1);

    // Published, not marked sent: the next run publishes it again under the same id, and
    // JetStream keeps one.
    commit_event(&pool, "requests/b").await;
    failpoint::arm(RELAY_BEFORE_MARK_SENT, 1);
    assert!(relay.relay_batch().await.is_err());
    assert_eq!(in_stream(&bus).await, 2);
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(
        in_stream(&bus).await,
        2,
        "the republished event was a duplicate"
    );

    // Handed over to the relay, stopped before the publish: the row waits out its hold in
    // the table, then goes from there.
    commit_held_and_hand_over(&pool, &bus, "requests/c").await;
    failpoint::arm(RELAY_BEFORE_PUBLISH, 1);
    assert!(relay.publish_handed().await.is_err());
    assert_eq!(in_stream(&bus).await, 2);
    assert_eq!(relay.relay_batch().await.unwrap(), 0, "still held");
    pass_holds(&pool).await;
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(in_stream(&bus).await, 3);

    // Handed over and published, stopped before the mark: once the hold has passed it is
    // published again from the table, and JetStream keeps one.
    commit_held_and_hand_over(&pool, &bus, "requests/d").await;
    failpoint::arm(RELAY_BEFORE_MARK_SENT, 1);
    assert!(relay.publish_handed().await.is_err());
    assert_eq!(in_stream(&bus).await, 4);
    pass_holds(&pool).await;
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(
        in_stream(&bus).await,
        4,
        "the republished event was a duplicate"
    );

    // Applied and committed, not acked: JetStream delivers it again after ack_wait, and the
    // inbox recognises it.
    failpoint::arm(CONSUMER_BEFORE_ACK, 1);
    let consumer = bus
        .durable_consumer(streams::REQUESTS, "test", "komek.request.>")
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume(
        "test",
        consumer.clone(),
        pool.clone(),
        bus.clone(),
        Counter(calls.clone()),
        stop.clone(),
    ));
    let mut consumer = consumer;
    let mut settled = false;
    for _ in 0..500 {
        let info = consumer.info().await.unwrap().clone();
        if effects(&pool).await.len() == 4 && info.num_ack_pending == 0 && info.num_pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert!(settled, "every message applied and acked within ack_wait");
    assert_eq!(
        effects(&pool).await,
        ["requests/a", "requests/b", "requests/c", "requests/d"]
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the redelivery found its inbox row"
    );
}
