//! Streams that lost what a service published to them get it back from the service's outbox
//! when the service starts: the events sent before the stream was made, and, for an empty
//! last-value stream, every current state.

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use komek_proto::events::v1::RequestEscalated;
use komek_runtime::events::{
    Bus, OutboxRelay, Restored, Snapshot, enqueue, restore_streams, streams, subject,
};
use komek_runtime::follow::ROSTER_GROUPS;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

mod common;
use common::setup;

fn event(n: i32) -> RequestEscalated {
    RequestEscalated {
        request: format!("requests/{n}"),
        attempts: n,
        ..Default::default()
    }
}

async fn commit_events(pool: &PgPool, subject: &str, range: std::ops::RangeInclusive<i32>) {
    let mut tx = pool.begin().await.unwrap();
    for n in range {
        enqueue(&mut tx, subject, &event(n)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// The message ids a stream holds.
async fn ids_in(bus: &Bus, name: &str) -> BTreeSet<String> {
    let mut stream = bus.jetstream.get_stream(name).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut ids = BTreeSet::new();
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            ids.insert(m.headers.get("Nats-Msg-Id").unwrap().to_string());
        }
    }
    ids
}

async fn outbox_ids(pool: &PgPool, prefix: &str) -> BTreeSet<String> {
    sqlx::query_scalar::<_, Uuid>("SELECT id FROM outbox WHERE starts_with(subject, $1)")
        .bind(prefix)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect()
}

/// Two groups' states, as the roster would enqueue them from its table.
fn two_groups(tx: &mut PgConnection) -> BoxFuture<'_, anyhow::Result<u64>> {
    Box::pin(async move {
        for id in ["g1", "g2"] {
            enqueue(tx, &subject::roster_group(id), &event(0)).await?;
        }
        Ok(2)
    })
}

const GROUPS: Snapshot = Snapshot {
    stream: streams::ROSTER,
    enqueue_all: two_groups,
};

#[tokio::test]
async fn a_stream_made_again_gets_the_events_sent_before_it_and_an_empty_last_value_stream_every_state()
 {
    let (nats, _db, pool, bus) = setup().await;
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    commit_events(&pool, subject::REQUEST_ESCALATED, 1..=3).await;
    commit_events(&pool, subject::ASSIGNMENT_OFFERED, 1..=2).await;
    commit_events(&pool, &subject::roster_group("g1"), 1..=1).await;
    assert_eq!(relay.relay_batch().await.unwrap(), 6);

    // Nothing was lost: a start changes nothing.
    let nothing = restore_streams(&pool, &bus, &[]).await.unwrap();
    assert_eq!(nothing, Restored::default());

    // The requests and roster streams go (as with a NATS that lost its store) and are made
    // again when a service connects; meanwhile one more event is published to the new one.
    for name in [streams::REQUESTS, streams::ROSTER] {
        bus.jetstream.delete_stream(name).await.unwrap();
    }
    let bus = Bus::connect(&nats.url(), "test-again").await.unwrap();
    commit_events(&pool, subject::REQUEST_ESCALATED, 4..=4).await;
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(ids_in(&bus, streams::REQUESTS).await.len(), 1);

    let restored = restore_streams(&pool, &bus, &[GROUPS]).await.unwrap();
    assert_eq!(
        restored,
        Restored {
            republished: vec![(streams::REQUESTS, 3)],
            snapshots: vec![(streams::ROSTER, 2)],
            completed: vec![streams::ROSTER],
        },
        "the three events sent before the stream was made go again; the assignments stream \
         kept its own; the empty roster stream gets every group from the table (not the old \
         state of g1 from the outbox), then the word it is complete"
    );
    while relay.relay_batch().await.unwrap() > 0 {}
    assert_eq!(
        ids_in(&bus, streams::REQUESTS).await,
        outbox_ids(&pool, "komek.request.").await,
        "the new stream holds every event of the outbox, each once"
    );
    assert_eq!(ids_in(&bus, streams::ASSIGNMENTS).await.len(), 2);
    let mut roster = bus.jetstream.get_stream(streams::ROSTER).await.unwrap();
    assert_eq!(roster.info().await.unwrap().state.messages, 3);
    let last = roster.info().await.unwrap().state.last_sequence;
    let complete = roster.get_raw_message(last).await.unwrap();
    assert_eq!(complete.subject.as_str(), ROSTER_GROUPS.complete());
    let g1 = roster
        .get_last_raw_message_by_subject(&subject::roster_group("g1"))
        .await
        .unwrap();
    assert_eq!(
        RequestEscalated::decode(g1.payload.as_ref()).unwrap(),
        event(0),
        "g1's state is the table's"
    );

    // Once given back, a start finds nothing missing.
    assert_eq!(
        restore_streams(&pool, &bus, &[GROUPS]).await.unwrap(),
        Restored::default()
    );
}

#[tokio::test]
async fn events_not_yet_sent_are_left_to_the_relay() {
    let (nats, _db, pool, bus) = setup().await;
    commit_events(&pool, subject::REQUEST_ESCALATED, 1..=2).await;
    bus.jetstream
        .delete_stream(streams::REQUESTS)
        .await
        .unwrap();
    let bus = Bus::connect(&nats.url(), "test-again").await.unwrap();
    assert_eq!(
        restore_streams(&pool, &bus, &[]).await.unwrap(),
        Restored::default(),
        "unsent rows are not counted as given back"
    );
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 2);
}

#[tokio::test]
async fn a_last_value_stream_with_states_but_no_word_it_is_complete_gets_the_word_only() {
    let (_nats, _db, pool, bus) = setup().await;
    // As streams were before the "complete" message existed: states, published long ago.
    bus.jetstream
        .publish(subject::roster_group("g1"), Default::default())
        .await
        .unwrap()
        .await
        .unwrap();
    let restored = restore_streams(&pool, &bus, &[GROUPS]).await.unwrap();
    assert_eq!(restored.snapshots, vec![]);
    assert_eq!(restored.completed, vec![streams::ROSTER]);
    let relay = OutboxRelay::new(pool.clone(), bus.clone());
    assert_eq!(relay.relay_batch().await.unwrap(), 1);
    assert_eq!(
        restore_streams(&pool, &bus, &[GROUPS]).await.unwrap(),
        Restored::default()
    );
}
