//! A volunteer's offer feed: the assignments stream, filtered to the volunteer's groups, with a
//! cursor on every event so a reconnecting app resumes exactly where it left off.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Ordered;
use futures::StreamExt;
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::name;
use komek_runtime::events::subject;
use komek_runtime::pump::Feed;
use prost::Message;
use tonic::Status;
use uuid::Uuid;

use crate::convert;
use crate::index::GroupIndex;
use crate::store::AssignmentRow;

/// Cursors are positions in the assignments stream, versioned so their form can change.
pub fn encode_cursor(seq: u64) -> String {
    format!("v1.{seq}")
}

pub fn decode_cursor(cursor: &str) -> Option<u64> {
    cursor.strip_prefix("v1.")?.parse().ok()
}

/// What one offer stream follows.
pub struct Offers {
    pub volunteer: Uuid,
    pub index: Arc<GroupIndex>,
    /// Stream position the live feed starts after.
    pub start: u64,
    /// Open offers read from the database on a fresh start, sent first as pending.
    pub open: Vec<AssignmentRow>,
    pub live: Ordered,
    pub keepalive: Duration,
}

fn event(
    kind: api::OfferEventKind,
    assignment: Option<api::Assignment>,
    cursor: u64,
) -> api::OfferEvent {
    api::OfferEvent {
        kind: kind as i32,
        assignment,
        cursor: encode_cursor(cursor),
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
        open,
        mut live,
        keepalive,
    } = offers;
    let mut sent: HashSet<String> = HashSet::new();
    let mut cursor = start;
    // When this stream is next due a keepalive: only what it sends moves it, not the other
    // groups' events it skips, so a quiet stream on a busy system still hears on time.
    let mut due = tokio::time::Instant::now() + keepalive;
    for row in &open {
        sent.insert(name("assignments", row.id));
        let pending = event(
            api::OfferEventKind::Pending,
            Some(convert::assignment(row)),
            cursor,
        );
        if !feed.send(pending).await {
            return;
        }
    }
    loop {
        let message = tokio::select! {
            m = live.next() => m,
            _ = tokio::time::sleep_until(due) => {
                // Keepalives carry the cursor too: events skipped for this volunteer still
                // move it, so a resume does not re-read them.
                if !feed.send(event(api::OfferEventKind::Keepalive, None, cursor)).await {
                    return;
                }
                due = tokio::time::Instant::now() + keepalive;
                continue;
            }
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(err)) => {
                let status = Status::unavailable(format!(
                    "feed interrupted: {err}; resume with the last cursor"
                ));
                return feed.fail(status).await;
            }
            None => return,
        };
        if let Ok(info) = message.info() {
            cursor = info.stream_sequence;
        }
        let Some(out) = offer_event(
            &message.subject,
            &message.payload,
            volunteer,
            &index,
            &mut sent,
        ) else {
            continue;
        };
        if !feed.send(event(out.0, out.1, cursor)).await {
            return;
        }
        due = tokio::time::Instant::now() + keepalive;
    }
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
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor("v2.42"), None);
    }
}
