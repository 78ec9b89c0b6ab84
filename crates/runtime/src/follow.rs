//! Followers of last-value streams. Such a stream keeps the latest message per key (a roster
//! group's state, an API key's state); every replica reads it whole from the start into memory
//! and then follows it, so it can answer from memory and never asks the owner's database.
//!
//! A [`LastValue`] is what a replica keeps; [`follow`] feeds it; [`Progress`] says how far it
//! has read, so a caller can wait until what existed a moment ago is known ([`catch_up`]).
//!
//! A stream is whole once its owner has published its "complete" message
//! ([`subject::complete`]) after every key's state. A stream made afresh (NATS lost its store,
//! the database was restored from a backup) is empty until the owner fills it again; until
//! then a follower has not caught up, so nobody takes an empty roster for a real one (a
//! matcher escalating every request) or refuses a valid key as unknown.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::StreamExt;
use prost::Message;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::{Bus, PULL_EXPIRES, streams, subject};

/// A stream that keeps the latest message per subject, and the prefix of its subjects.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub stream: &'static str,
    pub subject_prefix: &'static str,
}

/// Every API key's state, by key.
pub const ACCESS_KEYS: Source = Source {
    stream: streams::ACCESS,
    subject_prefix: subject::ACCESS_KEY_PREFIX,
};

/// Every volunteer group's state, by group.
pub const ROSTER_GROUPS: Source = Source {
    stream: streams::ROSTER,
    subject_prefix: subject::ROSTER_GROUP_PREFIX,
};

impl Source {
    /// The subject of the owner's "complete" message.
    pub fn complete(&self) -> String {
        subject::complete(self.subject_prefix)
    }
}

/// What a replica keeps of a last-value stream.
pub trait LastValue: Send + Sync + 'static {
    type Message: Message + Default;
    const SOURCE: Source;

    /// Applies one key's latest state, unless a newer one is already known (a state applied
    /// twice, or an older one after a newer, changes nothing). The error says why a state was
    /// ignored.
    fn apply(&self, message: &Self::Message) -> Result<(), String>;

    /// How far the stream has been applied.
    fn progress(&self) -> &Progress;
}

/// The stream sequence of the last message applied, and whether the owner's "complete"
/// message was among them.
#[derive(Debug, Default)]
pub struct Progress(watch::Sender<u64>, watch::Sender<bool>);

impl Progress {
    pub(crate) fn mark_complete(&self) {
        self.1.send_replace(true);
    }

    /// Whether the stream's owner has said it holds every key.
    pub fn is_complete(&self) -> bool {
        *self.1.borrow()
    }

    pub(crate) fn mark(&self, seq: u64) {
        self.0.send_if_modified(|s| {
            let newer = seq > *s;
            if newer {
                *s = seq;
            }
            newer
        });
    }

    /// Waits until every message up to `seq` is applied, at most `timeout`. Returns whether it
    /// got there.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until every message up to `seq` is applied and the stream is complete, at most
    /// `timeout` in all.
    pub async fn wait_whole(&self, seq: u64, timeout: Duration) -> bool {
        let mut complete = self.1.subscribe();
        tokio::time::timeout(timeout, async {
            complete.wait_for(|c| *c).await.is_ok() && self.wait_for(seq, timeout).await
        })
        .await
        .unwrap_or(false)
    }

    /// A receiver that changes with every message applied.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The sequence of the last message in the source's stream now.
pub async fn head(bus: &Bus, source: Source) -> anyhow::Result<u64> {
    // Getting the stream asks the server for its info already: one round trip, not two.
    let stream = bus.jetstream.get_stream(source.stream).await?;
    Ok(stream.cached_info().state.last_sequence)
}

/// Waits (at most `timeout`) until `target` has applied everything its stream held when this
/// was called, and the stream is complete. Returns whether it got there.
pub async fn catch_up<T: LastValue>(
    target: &T,
    bus: &Bus,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let head = head(bus, T::SOURCE).await?;
    Ok(target.progress().wait_whole(head, timeout).await)
}

/// Reads the stream from the start into `target`, then follows it until `shutdown`. When NATS
/// comes back after a restart it follows again at once from the last message applied; after an
/// error, a second later. Applying a state twice is harmless.
pub async fn follow<T: LastValue>(target: Arc<T>, bus: Bus, shutdown: CancellationToken) {
    let source = T::SOURCE;
    let mut reconnects = bus.reconnects();
    loop {
        match follow_once(&*target, &bus, &mut reconnects, &shutdown).await {
            Ok(()) if shutdown.is_cancelled() => return,
            Ok(()) => continue,
            Err(err) => {
                tracing::warn!(stream = source.stream, error = %err, "stream follower failed; restarting")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Follows from the message after the last applied until a reconnect (Ok), shutdown (Ok) or
/// an error.
async fn follow_once<T: LastValue>(
    target: &T,
    bus: &Bus,
    reconnects: &mut tokio::sync::watch::Receiver<u64>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let source = T::SOURCE;
    // Ask again soon rather than wait out the default 5 s when a stream's leader just went.
    let mut js = bus.jetstream.clone();
    js.set_timeout(Duration::from_secs(2));
    let stream = js.get_stream(source.stream).await?;
    let applied = *target.progress().subscribe().borrow();
    let deliver_policy = match applied {
        0 => consumer::DeliverPolicy::All,
        seq => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
    };
    // An ordered consumer is ephemeral and per replica: every replica sees every message.
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy,
            filter_subject: format!("{}.>", source.subject_prefix),
            max_expires: PULL_EXPIRES,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::select! {
            m = messages.next() => m,
            Ok(()) = reconnects.changed() => return Ok(()),
            _ = shutdown.cancelled() => return Ok(()),
        };
        let Some(message) = message else {
            return Ok(());
        };
        let message = message?;
        let seq = message.info().map_or(0, |i| i.stream_sequence);
        if message.subject.as_str() == source.complete() {
            target.progress().mark_complete();
            target.progress().mark(seq);
            continue;
        }
        let result = T::Message::decode(message.payload.as_ref())
            .map_err(|e| format!("undecodable: {e}"))
            .and_then(|state| target.apply(&state));
        if let Err(err) = result {
            tracing::error!(stream = source.stream, subject = %message.subject, error = %err,
                "state ignored");
        }
        target.progress().mark(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_waits_for_the_sequence_it_is_asked_for() {
        let p = Progress::default();
        assert!(!p.wait_for(3, Duration::from_millis(20)).await);
        p.mark(3);
        assert!(p.wait_for(3, Duration::from_millis(20)).await);
        // An older sequence never moves it back.
        p.mark(2);
        assert!(p.wait_for(3, Duration::from_millis(20)).await);
    }

    #[tokio::test]
    async fn a_stream_is_whole_only_once_its_owner_said_so() {
        let p = Progress::default();
        p.mark(3);
        assert!(!p.wait_whole(3, Duration::from_millis(20)).await);
        p.mark_complete();
        assert!(p.wait_whole(3, Duration::from_millis(20)).await);
        assert!(!p.wait_whole(4, Duration::from_millis(20)).await);
    }
}
