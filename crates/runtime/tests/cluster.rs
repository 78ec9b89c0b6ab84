//! Komek's streams on a three-node NATS cluster: the number of copies is configuration, a
//! stream made at one copy gets three when the configuration says so, and with three copies
//! the streams keep taking and serving events while one node is down.

use std::time::Duration;

use komek_runtime::events::{Bus, streams};
use komek_testkit::NatsCluster;

async fn replicas_of(bus: &Bus, stream: &str) -> (usize, usize) {
    let mut s = bus.jetstream.get_stream(stream).await.unwrap();
    let info = s.info().await.unwrap();
    let peers = info.cluster.as_ref().map_or(0, |c| c.replicas.len());
    (info.config.num_replicas, peers + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_take_the_configured_copies_and_survive_a_node() {
    let mut cluster = NatsCluster::start();

    // A first start at one copy, as on a laptop.
    let one = Bus::connect_with(&cluster.urls(), "one-copy", 1)
        .await
        .unwrap();
    assert_eq!(replicas_of(&one, streams::REQUESTS).await.0, 1);

    // The configuration now says three: the existing streams are brought to three copies.
    let three = Bus::connect_with(&cluster.urls(), "three-copies", 3)
        .await
        .unwrap();
    for stream in [
        streams::REQUESTS,
        streams::ASSIGNMENTS,
        streams::ROSTER,
        streams::ACCESS,
    ] {
        let mut settled = false;
        for _ in 0..50 {
            if replicas_of(&three, stream).await == (3, 3) {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(settled, "{stream}: {:?}", replicas_of(&three, stream).await);
    }

    let publish = |bus: Bus, n: u32| async move {
        bus.jetstream
            .publish("komek.request.created", format!("event {n}").into())
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence
    };
    let before = publish(three.clone(), 1).await;

    // One node goes: the client moves to another, and two copies of three still take events.
    cluster.kill_node(0);
    let mut sequence = 0;
    for attempt in 0..50 {
        // While the client moves to another node, or the stream elects a new leader, a
        // publish fails or its acknowledgement does not come: try again.
        if let Ok(Ok(ack)) = tokio::time::timeout(
            Duration::from_secs(2),
            three
                .jetstream
                .publish("komek.request.created", format!("event {attempt}").into()),
        )
        .await
            && let Ok(Ok(a)) = tokio::time::timeout(Duration::from_secs(2), ack).await
        {
            sequence = a.sequence;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(sequence > before, "an event was taken with a node down");

    // It comes back and catches up; the stream still has every event. Publishing waits until
    // every copy is current again: a node just restarted can answer as the stream's leader from
    // its old state for a moment (nats-server 2.9), and an event taken then would be numbered
    // from before the outage.
    cluster.start_node(0);
    let mut caught_up = false;
    for _ in 0..100 {
        if let Ok(mut s) = three.jetstream.get_stream(streams::REQUESTS).await
            && let Ok(info) = s.info().await
            && info.state.last_sequence >= sequence
            && info.cluster.as_ref().is_some_and(|c| {
                c.leader.is_some()
                    && c.replicas.len() == 2
                    && c.replicas.iter().all(|r| r.current && !r.offline)
            })
        {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(caught_up, "the restarted node did not catch up");
    let after = publish(three.clone(), 3).await;
    assert!(after > sequence);
    let mut s = three.jetstream.get_stream(streams::REQUESTS).await.unwrap();
    assert_eq!(s.info().await.unwrap().state.last_sequence, after);

    // Several URLs are one setting; an empty one or a bad count is refused.
    assert!(Bus::connect_with(" , ", "none", 1).await.is_err());
    assert!(Bus::connect_with(&cluster.url(1), "zero", 0).await.is_err());
    drop(one);
}
