//! Consumers of one subject each taking over from a consumer of a wider filter, against a real
//! nats-server and PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use komek_runtime::CancellationToken;
use komek_runtime::events::{Bus, Consumers};
use komek_runtime::inbox::{HandleError, Handler, Incoming, consume_all, consume_once_set_up};
use sqlx::PgConnection;

mod common;
use common::{effects, outcome_count, setup};

const STREAM: &str = "TAKEOVER";

/// A stream holding, in order, `a1 b2 c3 a4 b5 c6` on the subjects `take.a`, `take.b` and
/// `take.c`, each published with its body as its message id.
async fn stream_of_three_subjects(bus: &Bus) {
    bus.jetstream
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec!["take.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    for body in ["a1", "b2", "c3", "a4", "b5", "c6"] {
        let publish = jetstream::message::PublishMessage::build()
            .payload(body.into())
            .message_id(body);
        bus.jetstream
            .send_publish(format!("take.{}", &body[..1]), publish)
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// The bodies of the messages waiting for `consumer`, acked as they come.
async fn take_waiting(consumer: &PullConsumer) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut messages = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        bodies.push(String::from_utf8_lossy(&m.payload).into_owned());
        m.double_ack().await.unwrap();
    }
    bodies
}

async fn exists(bus: &Bus, consumer: &str) -> bool {
    let stream = bus.jetstream.get_stream(STREAM).await.unwrap();
    match stream.consumer_info(consumer).await {
        Ok(_) => true,
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => false,
        Err(e) => panic!("consumer info: {e}"),
    }
}

#[tokio::test]
async fn successors_start_after_what_their_predecessor_acknowledged_and_replace_it() {
    let (_nats, _db, _pool, bus) = setup().await;
    stream_of_three_subjects(&bus).await;
    let old = bus.durable_consumer(STREAM, "old", "take.>").await.unwrap();
    // The predecessor acked the first three and was handed the fourth, which it never acked
    // (it stopped mid-batch): its ack floor is the third message.
    let mut messages = old.fetch().max_messages(4).messages().await.unwrap();
    for _ in 0..4 {
        let m = messages.next().await.unwrap().unwrap();
        if m.info().unwrap().stream_sequence <= 3 {
            m.double_ack().await.unwrap();
        }
    }
    drop(messages);

    let successors = [("new-a", "take.a"), ("new-b", "take.b")];
    let new = bus
        .durable_consumers_after(STREAM, "old", &successors)
        .await
        .unwrap();
    assert!(!exists(&bus, "old").await, "the predecessor is deleted");
    assert_eq!(
        take_waiting(&new[0]).await,
        vec!["a4"],
        "a1 was acked by the predecessor; a4, handed to it but not acked, is not lost"
    );
    assert_eq!(take_waiting(&new[1]).await, vec!["b5"]);

    // A second start (another replica, a restart) finds the successors and keeps where they
    // are: nothing is handed over again.
    let again = bus
        .durable_consumers_after(STREAM, "old", &successors)
        .await
        .unwrap();
    assert!(take_waiting(&again[0]).await.is_empty());
    assert!(take_waiting(&again[1]).await.is_empty());
}

#[tokio::test]
async fn without_a_predecessor_successors_start_at_the_beginning() {
    let (_nats, _db, _pool, bus) = setup().await;
    stream_of_three_subjects(&bus).await;
    let new = bus
        .durable_consumers_after(STREAM, "never-there", &[("new-c", "take.c")])
        .await
        .unwrap();
    assert_eq!(take_waiting(&new[0]).await, vec!["c3", "c6"]);
}

/// Records each message it applies.
struct Recorder(Arc<AtomicUsize>);

impl Handler for Recorder {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        sqlx::query("INSERT INTO effects (message) VALUES ($1)")
            .bind(String::from_utf8_lossy(m.payload).into_owned())
            .execute(tx)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn consumers_taken_together_apply_each_message_once_under_one_inbox_name() {
    let (_nats, _db, pool, bus) = setup().await;
    stream_of_three_subjects(&bus).await;
    // The predecessor applied a4 under the shared name but went before acking it.
    sqlx::query("INSERT INTO inbox (consumer, message_id) VALUES ('shared', 'a4')")
        .execute(&pool)
        .await
        .unwrap();
    let consumers = bus
        .durable_consumers_after(
            STREAM,
            "never-there",
            &[("shared-a", "take.a"), ("shared-b", "take.b")],
        )
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume_all(
        "shared",
        consumers,
        pool.clone(),
        bus.clone(),
        Recorder(calls.clone()),
        stop.clone(),
    ));
    for _ in 0..100 {
        if effects(&pool).await.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for a4 to be delivered and found in the inbox, and for anything more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(effects(&pool).await, vec!["a1", "b2", "b5"]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a4 never reached the handler"
    );
    assert_eq!(outcome_count("shared", "applied"), Some(3));
    assert_eq!(outcome_count("shared", "duplicate"), Some(1));
    assert_eq!(
        outcome_count("shared", "skipped"),
        None,
        "the server hands over only the subjects followed: take.c never arrives"
    );
}

#[tokio::test]
async fn consumers_that_cannot_be_set_up_yet_are_consumed_once_they_can_be() {
    let (_nats, _db, pool, bus) = setup().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    // The stream is not there yet, so no consumer of it can be made until it is.
    let late = tokio::spawn(consume_once_set_up(
        "late",
        Consumers::Durable {
            stream: STREAM,
            durable: "late",
            filter_subject: "take.>",
        },
        pool.clone(),
        bus.clone(),
        Recorder(calls.clone()),
        stop.clone(),
    ));
    let never = tokio::spawn(consume_once_set_up(
        "never",
        Consumers::Durable {
            stream: "NEVER_THERE",
            durable: "never",
            filter_subject: "never.>",
        },
        pool.clone(),
        bus.clone(),
        Recorder(Arc::default()),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!late.is_finished(), "gave up on a consumer not there yet");
    stream_of_three_subjects(&bus).await;
    for _ in 0..200 {
        if effects(&pool).await.len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        effects(&pool).await,
        vec!["a1", "a4", "b2", "b5", "c3", "c6"]
    );
    assert!(exists(&bus, "late").await);
    // Stopping ends both, the one still asking for its stream too.
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), late)
        .await
        .expect("stopped")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), never)
        .await
        .expect("stopped while still asking")
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}
