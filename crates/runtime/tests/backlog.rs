//! The outbox backlog gauges against a real nats-server and PostgreSQL while the relay is
//! stuck in a round. (The gauges are per process: this file is its own test binary with one
//! test.)

use std::time::Duration;

use komek_proto::events::v1::RequestEscalated;
use komek_runtime::CancellationToken;
use komek_runtime::events::{OutboxRelay, enqueue, streams, subject};
use sqlx::PgPool;

mod common;
use common::setup;

/// The gauge's value as the metrics endpoint would serve it; None before it was first set.
fn gauge(name: &str) -> Option<f64> {
    komek_runtime::metrics::render()
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// Waits until `name` satisfies `good`, for at most `within`; returns its last value.
async fn gauge_until(name: &str, within: Duration, good: impl Fn(f64) -> bool) -> Option<f64> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = gauge(name);
        if value.is_some_and(&good) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn waiting_for_a_lock(pool: &PgPool) -> bool {
    sqlx::query_scalar("SELECT count(*) > 0 FROM pg_locks WHERE NOT granted")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_relay_stuck_in_a_round_shows_its_backlog_growing_older() {
    let (_nats, _db, pool, bus) = setup().await;
    // An event committed five minutes ago and not yet published.
    let mut tx = pool.begin().await.unwrap();
    let event = RequestEscalated {
        request: "requests/stuck".into(),
        ..Default::default()
    };
    enqueue(&mut tx, subject::REQUEST_ESCALATED, &event)
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET created_at = now() - interval '300 seconds'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // A session that keeps the outbox from being locked for publishing (as a long migration
    // would) while reading it stays possible: the relay's round waits on it.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE outbox IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(OutboxRelay::new(pool.clone(), bus.clone()).run(shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !waiting_for_a_lock(&pool).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never waited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let first = gauge_until(
        "komek_outbox_oldest_unsent_seconds",
        Duration::from_secs(10),
        |v| v >= 300.0,
    )
    .await
    .expect("the backlog was measured");
    assert!(first >= 300.0, "{first}");
    assert_eq!(gauge("komek_outbox_unsent"), Some(1.0));
    // Measured again while the round still waits: the age goes on rising.
    let later = gauge_until(
        "komek_outbox_oldest_unsent_seconds",
        Duration::from_secs(20),
        |v| v >= first + 4.0,
    )
    .await
    .unwrap();
    assert!(
        later >= first + 4.0,
        "the gauge stopped at {later} while the relay was stuck (first {first})"
    );
    assert!(waiting_for_a_lock(&pool).await, "the relay is still stuck");

    // Let go, the relay publishes and the backlog empties.
    blocker.commit().await.unwrap();
    let unsent = gauge_until("komek_outbox_unsent", Duration::from_secs(20), |v| v == 0.0).await;
    assert_eq!(unsent, Some(0.0));
    assert_eq!(gauge("komek_outbox_oldest_unsent_seconds"), Some(0.0));
    let mut stream = bus.jetstream.get_stream(streams::REQUESTS).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
    shutdown.cancel();
    relay.await.unwrap();
}
