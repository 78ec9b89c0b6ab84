//! A volunteer's offer feed: the assignments stream, filtered to the volunteer's groups, with a
//! cursor on every event so a reconnecting app resumes exactly where it left off.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use futures::StreamExt;
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::name;
use komek_runtime::events::{Bus, PULL_EXPIRES, streams, subject};
use komek_runtime::pump::Feed;
use prost::Message;
use sqlx::PgPool;
use tonic::Status;
use uuid::Uuid;

use crate::convert;
use crate::index::GroupIndex;
use crate::store::{self, AssignmentRow};

/// A position in the assignments stream, and which stream: the stream's creation time in
/// nanoseconds. A stream made again (NATS lost its store, the database was restored from a
/// backup) numbers its messages afresh, so a position in the old one means nothing in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// None in cursors of the first form, given out before streams were told apart.
    pub stream: Option<i64>,
    pub seq: u64,
}

/// Cursors are versioned so their form can change: "v2.{stream}.{seq}"; "v1.{seq}" is still
/// read.
pub fn encode_cursor(stream: i64, seq: u64) -> String {
    format!("v2.{stream}.{seq}")
}

pub fn decode_cursor(cursor: &str) -> Option<Cursor> {
    if let Some(seq) = cursor.strip_prefix("v1.") {
        return Some(Cursor {
            stream: None,
            seq: seq.parse().ok()?,
        });
    }
    let (stream, seq) = cursor.strip_prefix("v2.")?.split_once('.')?;
    Some(Cursor {
        stream: Some(stream.parse().ok()?),
        seq: seq.parse().ok()?,
    })
}

/// The identity cursors carry of a stream: its creation time.
pub fn stream_identity(info: &async_nats::jetstream::stream::Info) -> i64 {
    i64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// What one offer stream follows.
pub struct Offers {
    pub volunteer: Uuid,
    pub index: Arc<GroupIndex>,
    /// Stream position the live feed starts after.
    pub start: u64,
    /// The stream's identity, for the cursors.
    pub stream: i64,
    /// Open offers read from the database on a fresh start, sent first as pending.
    pub open: Vec<AssignmentRow>,
    pub live: Ordered,
    /// To follow the stream again after the connection to NATS broke.
    pub bus: Bus,
    /// To read each offer's volunteer note, which its event does not carry.
    pub pool: PgPool,
    pub keepalive: Duration,
}

/// How long a feed tries to pick up again after NATS went away before it gives up and tells
/// the app to resume from its cursor.
const RECOVERY: Duration = Duration::from_secs(20);

/// The assignments stream after position `after`, read by an ordered consumer of this stream's
/// own. Short pulls, so that a restarted NATS shows within seconds.
pub async fn follow(bus: &Bus, after: u64) -> anyhow::Result<Ordered> {
    let stream = bus.jetstream.get_stream(streams::ASSIGNMENTS).await?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            filter_subject: "komek.assignment.>".into(),
            max_expires: PULL_EXPIRES,
            ..Default::default()
        })
        .await?;
    Ok(consumer.messages().await?)
}

fn event(
    kind: api::OfferEventKind,
    assignment: Option<api::Assignment>,
    stream: i64,
    cursor: u64,
) -> api::OfferEvent {
    api::OfferEvent {
        kind: kind as i32,
        assignment,
        cursor: encode_cursor(stream, cursor),
    }
}

/// Sends the open offers, then every event of the volunteer's groups, until the client goes.
/// Membership is checked per event, so joining or leaving a group takes effect on an open
/// stream.
pub async fn pump(offers: Offers, feed: Feed<api::OfferEvent>) {
    let Offers {
        volunteer,
        index,
        start,
        stream,
        open,
        mut live,
        bus,
        pool,
        keepalive,
    } = offers;
    let mut sent: HashSet<String> = HashSet::new();
    let mut cursor = start;
    // When this stream is next due a keepalive: only what it sends moves it, not the other
    // groups' events it skips, so a quiet stream on a busy system still hears on time.
    let mut due = tokio::time::Instant::now() + keepalive;
    let mut reconnects = bus.reconnects();
    for row in &open {
        sent.insert(name("assignments", row.id));
        let pending = event(
            api::OfferEventKind::Pending,
            Some(convert::assignment(row)),
            stream,
            cursor,
        );
        if !feed.send(pending).await {
            return;
        }
    }
    loop {
        let message = tokio::select! {
            m = live.next() => m,
            // NATS came back after a restart: the consumer this stream read from is gone with
            // it. Follow again from the cursor rather than wait to notice missing heartbeats.
            Ok(()) = reconnects.changed() => {
                if let Some(again) = recover(&bus, cursor).await {
                    live = again;
                }
                continue;
            }
            _ = tokio::time::sleep_until(due) => {
                // Keepalives carry the cursor too: events skipped for this volunteer still
                // move it, so a resume does not re-read them.
                if !feed.send(event(api::OfferEventKind::Keepalive, None, stream, cursor)).await {
                    return;
                }
                due = tokio::time::Instant::now() + keepalive;
                continue;
            }
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(err)) => {
                // NATS restarted or the connection broke: follow the stream again from this
                // stream's cursor, so the app misses nothing and need not reconnect.
                tracing::warn!(error = %err, cursor, "offer feed interrupted; following again");
                match recover(&bus, cursor).await {
                    Some(again) => {
                        live = again;
                        continue;
                    }
                    None => {
                        let status = Status::unavailable(format!(
                            "feed interrupted: {err}; resume with the last cursor"
                        ));
                        return feed.fail(status).await;
                    }
                }
            }
            None => return,
        };
        if let Ok(info) = message.info() {
            cursor = info.stream_sequence;
        }
        let Some(mut out) = offer_event(
            &message.subject,
            &message.payload,
            volunteer,
            &index,
            &mut sent,
        ) else {
            continue;
        };
        if let (api::OfferEventKind::Offered, Some(offer)) = (out.0, out.1.as_mut()) {
            offer.summary = summary(&pool, &offer.name).await;
        }
        if !feed.send(event(out.0, out.1, stream, cursor)).await {
            return;
        }
        due = tokio::time::Instant::now() + keepalive;
    }
}

/// The volunteer note of an offer, from matching's own row (blank once the request was
/// erased). A database that does not answer leaves it empty rather than hold the feed: the app
/// reads the whole offer with GetAssignment when it is opened.
async fn summary(pool: &PgPool, assignment: &str) -> String {
    let Ok(id) = komek_runtime::boundary::parse_name("assignments", assignment, "assignment")
    else {
        return String::new();
    };
    match store::get(pool, id).await {
        Ok(Some(row)) => row.volunteer_note,
        Ok(None) => String::new(),
        Err(err) => {
            tracing::warn!(error = %err, assignment, "offer's note not read; sent without it");
            String::new()
        }
    }
}

/// Follows the stream again after `cursor`, trying for [`RECOVERY`].
async fn recover(bus: &Bus, cursor: u64) -> Option<Ordered> {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while tokio::time::Instant::now() < deadline {
        match follow(bus, cursor).await {
            Ok(live) => return Some(live),
            Err(err) => tracing::debug!(error = %err, "offer feed not back yet"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// What a message of the assignments stream means to `volunteer`: nothing (another group's,
/// or a change the app does not show), or an event kind with its assignment.
fn offer_event(
    subject: &str,
    payload: &[u8],
    volunteer: Uuid,
    index: &GroupIndex,
    sent: &mut HashSet<String>,
) -> Option<(api::OfferEventKind, Option<api::Assignment>)> {
    match subject {
        subject::ASSIGNMENT_OFFERED => {
            let e = ev::AssignmentOffered::decode(payload).ok()?;
            if !index.is_member(volunteer, &e.group) {
                return None;
            }
            if !sent.insert(e.assignment.clone()) {
                // Already sent as pending: only the cursor moves past it, so a resume from
                // here does not send it again.
                return Some((api::OfferEventKind::Keepalive, None));
            }
            Some((api::OfferEventKind::Offered, Some(convert::offered(&e))))
        }
        subject::ASSIGNMENT_CHANGED => {
            let e = ev::AssignmentChanged::decode(payload).ok()?;
            if !index.is_member(volunteer, &e.group) {
                return None;
            }
            let kind = match pb::AssignmentStatus::try_from(e.status) {
                // A closed request is nobody's to take any more, as when another group took
                // it; a dispatcher taking the job back is a withdrawal.
                Ok(pb::AssignmentStatus::Withdrawn) if e.request_closed => {
                    api::OfferEventKind::Taken
                }
                Ok(pb::AssignmentStatus::Withdrawn) => api::OfferEventKind::Withdrawn,
                Ok(pb::AssignmentStatus::Expired) => api::OfferEventKind::Expired,
                _ => return None,
            };
            let assignment = api::Assignment {
                name: e.assignment,
                request: e.request,
                group: e.group,
                status: e.status,
                reason: e.reason,
                ..Default::default()
            };
            Some((kind, Some(assignment)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            stream: Some(1_764_000_000_123_456_789),
            seq: 42,
        };
        assert_eq!(
            decode_cursor(&encode_cursor(c.stream.unwrap(), 42)),
            Some(c)
        );
        assert_eq!(
            decode_cursor("v1.42"),
            Some(Cursor {
                stream: None,
                seq: 42
            })
        );
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor("v2.42"), None);
        assert_eq!(decode_cursor("v2.x.42"), None);
        assert_eq!(decode_cursor("v3.1.42"), None);
    }
}
