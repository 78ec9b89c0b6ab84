//! A last-value stream follower against a real nats-server: it reads the stream whole, then
//! follows it, and says how far it has read and whether the stream's owner said it is whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use komek_proto::events::v1::GroupState;
use komek_runtime::CancellationToken;
use komek_runtime::events::{Bus, subject};
use komek_runtime::follow::{self, LastValue, Progress, ROSTER_GROUPS, Source};
use komek_testkit::Nats;
use prost::Message;

/// Group revisions by group: the smallest state a follower can keep.
#[derive(Default)]
struct Revisions {
    by_group: Mutex<HashMap<String, i64>>,
    progress: Progress,
}

impl LastValue for Revisions {
    type Message = GroupState;
    const SOURCE: Source = ROSTER_GROUPS;

    fn apply(&self, state: &GroupState) -> Result<(), String> {
        if state.group.is_empty() {
            return Err("no group".into());
        }
        let mut by_group = self.by_group.lock().unwrap();
        let known = by_group.entry(state.group.clone()).or_insert(0);
        *known = (*known).max(state.revision);
        Ok(())
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl Revisions {
    fn of(&self, group: &str) -> Option<i64> {
        self.by_group.lock().unwrap().get(group).copied()
    }
}

async fn publish(bus: &Bus, id: &str, payload: Vec<u8>) {
    bus.jetstream
        .publish(subject::roster_group(id), payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

fn state(id: &str, revision: i64) -> Vec<u8> {
    GroupState {
        group: format!("groups/{id}"),
        revision,
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn a_follower_reads_the_stream_whole_then_follows_it() {
    let nats = Nats::start();
    let bus = Bus::connect(&nats.url(), "test").await.unwrap();
    // Before anyone follows: the stream keeps only the last state of each group.
    publish(&bus, "a", state("a", 1)).await;
    publish(&bus, "b", state("b", 1)).await;
    publish(&bus, "a", state("a", 2)).await;

    let revisions = Arc::new(Revisions::default());
    let shutdown = CancellationToken::new();
    let following = tokio::spawn(follow::follow(
        revisions.clone(),
        bus.clone(),
        shutdown.clone(),
    ));
    // Until the roster says these are all its groups, the follower has not caught up, though
    // it read every message.
    assert!(
        !follow::catch_up(&*revisions, &bus, Duration::from_millis(500))
            .await
            .unwrap()
    );
    assert_eq!(revisions.of("groups/a"), Some(2));
    bus.jetstream
        .publish(ROSTER_GROUPS.complete(), Default::default())
        .await
        .unwrap()
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    assert!(follow::catch_up(&*revisions, &bus, wait).await.unwrap());
    assert_eq!(revisions.of("groups/a"), Some(2));
    assert_eq!(revisions.of("groups/b"), Some(1));

    // Live changes arrive; a message that cannot be applied is skipped, and still counts as
    // read, so waiting for it does not hang.
    publish(&bus, "b", state("b", 2)).await;
    publish(&bus, "c", b"not a group state".to_vec()).await;
    assert!(follow::catch_up(&*revisions, &bus, wait).await.unwrap());
    assert_eq!(revisions.of("groups/b"), Some(2));
    assert_eq!(revisions.of("groups/c"), None);

    shutdown.cancel();
    tokio::time::timeout(wait, following)
        .await
        .expect("the follower stops on shutdown")
        .unwrap();
}
