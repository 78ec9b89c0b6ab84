//! Event payloads intake publishes. Caller name, phone, its keyed hash, the address and the
//! notes never appear here (see `komek.events.v1`).

use komek_core::RequestStatus;
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{name, place, timestamp};
use komek_runtime::events::{Outgoing, subject};

use crate::model::RequestRow;

pub fn location(row: &RequestRow) -> pb::Location {
    // The address can identify a caller's home; events carry settlement and district only.
    place(
        row.lat,
        row.lon,
        &row.settlement,
        &row.district,
        &row.region,
    )
}

pub fn quantity(row: &RequestRow) -> Option<pb::Quantity> {
    row.quantity_value.map(|value| pb::Quantity {
        value,
        unit: row.quantity_unit.clone(),
    })
}

pub fn wanted_window(row: &RequestRow) -> Option<pb::TimeWindow> {
    (row.wanted_start.is_some() || row.wanted_end.is_some()).then(|| pb::TimeWindow {
        start_time: row.wanted_start.map(timestamp),
        end_time: row.wanted_end.map(timestamp),
    })
}

pub fn request_created(row: &RequestRow) -> ev::RequestCreated {
    ev::RequestCreated {
        request: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        channel: row.channel.into(),
        location: Some(location(row)),
        operator_category: row.operator_category.into(),
        operator_priority: row.operator_priority.into(),
        people_count: row.people_count,
        quantity: quantity(row),
        wanted_window: wanted_window(row),
        create_time: Some(timestamp(row.created_at)),
    }
}

/// A request whose personal data is erased; `row` is the erased row.
pub fn erased(row: &RequestRow) -> ev::RequestErased {
    ev::RequestErased {
        request: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        erase_time: row.erased_at.map(timestamp),
    }
}

pub fn status_changed(row: &RequestRow, previous: i16, reason: &str) -> ev::RequestStatusChanged {
    ev::RequestStatusChanged {
        request: name("requests", row.id),
        status: row.status.into(),
        previous_status: previous.into(),
        reason: reason.to_string(),
        outcome: row.outcome.into(),
        region: row.region.clone(),
        change_time: Some(timestamp(row.updated_at)),
        actor: String::new(),
    }
}

/// What a change of status publishes: `request.status_changed`, and for a request called off
/// (cancelled or merged) `request.called_off` as well, with the same payload, which matching
/// follows alone.
pub fn status_events(event: &ev::RequestStatusChanged) -> Vec<Outgoing> {
    let mut out = vec![Outgoing::new(subject::REQUEST_STATUS_CHANGED, event)];
    if RequestStatus::from_code(event.status).is_some_and(RequestStatus::is_called_off) {
        out.push(Outgoing::new(subject::REQUEST_CALLED_OFF, event));
    }
    out
}

/// A request's wait past its limit, as alerted. `row` holds the alert just written.
pub fn request_waiting(row: &RequestRow, now: chrono::DateTime<chrono::Utc>) -> ev::RequestWaiting {
    let (state, since) = row
        .waiting()
        .map_or((0, None), |(s, since)| (s.code(), Some(timestamp(since))));
    let (category, priority) = row.judged();
    ev::RequestWaiting {
        request: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        state,
        since,
        limit_seconds: row.waiting_limit_secs,
        alerts: row.waiting_alerts,
        category: category.map_or(0, |c| c.code()),
        priority: priority.map_or(0, |p| p.code()),
        region: row.region.clone(),
        district: row.district.clone(),
        alert_time: Some(timestamp(now)),
    }
}
