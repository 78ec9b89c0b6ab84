//! Matching's rows and events as its APIs show them. Volunteers see settlement and district,
//! never the address or the caller.

use chrono::{DateTime, Utc};
use komek_core::{AssignmentStatus, IneligibleReason, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{name, name_or_empty, place, timestamp};
use prost::Message;
use uuid::Uuid;

use crate::store::{AssignmentRow, AuditRow, CampaignItemRow, CampaignRow, DecisionRow, QueueRow};

/// An offer as the volunteer sees it: settlement and district, never the address or caller.
pub fn assignment(row: &AssignmentRow) -> api::Assignment {
    api::Assignment {
        name: name("assignments", row.id),
        request: name("requests", row.request_id),
        reference_code: row.reference_code.clone(),
        group: name("groups", row.group_id),
        status: row.status.into(),
        category: row.category.into(),
        priority: row.priority.into(),
        required_skills: row.required_skills.iter().map(|s| i32::from(*s)).collect(),
        location: Some(place(
            Some(row.lat),
            Some(row.lon),
            &row.settlement,
            &row.district,
            &row.region,
        )),
        distance_meters: row.distance_m,
        summary: row.volunteer_note.clone(),
        offer_time: Some(timestamp(row.offered_at)),
        expire_time: Some(timestamp(row.expire_at)),
        update_time: Some(timestamp(row.updated_at)),
        caller_contact: None,
        outcome: row.outcome.into(),
        reason: row.reason.clone(),
        etag: row.version.to_string(),
        position: match (row.position_lat, row.position_lon) {
            (Some(latitude), Some(longitude)) => Some(pb::LatLng {
                latitude,
                longitude,
            }),
            _ => None,
        },
        position_time: row.position_at.map(timestamp),
        wide_search: row.wide,
        search_round: row.search_round,
        search_role: row.search_role() as i32,
        people_count: row.people_count,
        quantity: (row.quantity_value > 0.0 || !row.quantity_unit.is_empty()).then(|| {
            pb::Quantity {
                value: row.quantity_value,
                unit: row.quantity_unit.clone(),
            }
        }),
    }
}

/// An offer as its event announced it; its summary (the volunteer note) is not in the event.
pub fn offered(e: &ev::AssignmentOffered) -> api::Assignment {
    api::Assignment {
        name: e.assignment.clone(),
        request: e.request.clone(),
        reference_code: e.reference_code.clone(),
        group: e.group.clone(),
        status: pb::AssignmentStatus::Offered as i32,
        category: e.category,
        priority: e.priority,
        required_skills: e.required_skills.clone(),
        location: e.location.clone(),
        distance_meters: e.distance_meters,
        offer_time: e.offer_time,
        expire_time: e.expire_time,
        update_time: e.offer_time,
        etag: "1".into(),
        people_count: e.people_count,
        quantity: e.quantity.clone(),
        wide_search: e.wide_search,
        search_round: e.search_round,
        ..Default::default()
    }
}

/// What a request's status is, as far as matching can tell.
fn request_status(row: &QueueRow) -> RequestStatus {
    if let Some(closed) = row
        .closed_status
        .and_then(|c| RequestStatus::from_code(c.into()))
    {
        return closed;
    }
    match row
        .assignment_status
        .and_then(|s| AssignmentStatus::from_code(s.into()))
    {
        _ if row.queue == 1 => RequestStatus::Escalated,
        Some(AssignmentStatus::Offered) => RequestStatus::Dispatching,
        Some(AssignmentStatus::Accepted) => RequestStatus::Assigned,
        Some(AssignmentStatus::EnRoute | AssignmentStatus::OnSite) => RequestStatus::InProgress,
        Some(AssignmentStatus::Completed) => RequestStatus::Resolved,
        Some(_) => RequestStatus::Dispatching,
        None => RequestStatus::Triaged,
    }
}

pub fn queue_item(row: &QueueRow, assignment: Option<&AssignmentRow>) -> api::QueueItem {
    let mut reasons: Vec<i32> = Vec::new();
    if row.queue == 1 {
        let candidates = row
            .candidates
            .as_deref()
            .and_then(|c| ev::CandidateList::decode(c).ok())
            .map(|l| l.candidates)
            .unwrap_or_default();
        for c in &candidates {
            for r in &c.reasons {
                if !reasons.contains(r) {
                    reasons.push(*r);
                }
            }
        }
        let own = row.reasons.as_deref().unwrap_or_default();
        reasons.extend(own.iter().map(|r| i32::from(*r)));
        // Decisions recorded before their own reasons were kept: inferred from the job.
        if candidates.is_empty() && own.is_empty() {
            reasons.push(if row.lat.is_none() {
                IneligibleReason::NoLocation.code()
            } else {
                IneligibleReason::NoGroups.code()
            });
        }
        reasons.sort();
    }
    api::QueueItem {
        request: name("requests", row.request_id),
        reference_code: row.reference_code.clone(),
        category: row.category.into(),
        priority: row.priority.into(),
        location: Some(place(
            row.lat,
            row.lon,
            &row.settlement,
            &row.district,
            &row.region,
        )),
        request_status: request_status(row).code(),
        assignment: assignment.map(self::assignment),
        escalation_reasons: reasons,
        since_time: Some(timestamp(row.since)),
        queue: row.queue.into(),
    }
}

pub fn queue_token(row: &QueueRow) -> String {
    format!(
        "v1.{}.{}.{}",
        row.priority,
        row.since.timestamp_micros(),
        row.request_id.simple()
    )
}

pub fn decode_queue_token(token: &str) -> Option<(i16, DateTime<Utc>, Uuid)> {
    let mut parts = token.strip_prefix("v1.")?.split('.');
    let priority = parts.next()?.parse().ok()?;
    let since = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    Some((priority, since, id))
}

pub fn audit_entry(r: &AuditRow) -> api::DispatchAuditEntry {
    api::DispatchAuditEntry {
        actor: r.actor.clone(),
        action: r.action.clone(),
        request: name("requests", r.request_id),
        assignment: name_or_empty("assignments", r.assignment_id),
        group: name_or_empty("groups", r.group_id),
        reason: r.reason.clone(),
        create_time: Some(timestamp(r.created_at)),
    }
}

pub fn campaign(c: &CampaignRow, items: &[CampaignItemRow]) -> api::Campaign {
    api::Campaign {
        name: name("campaigns", c.id),
        display_name: c.display_name.clone(),
        items: items
            .iter()
            .map(|i| api::CampaignItem {
                request: name("requests", i.request_id),
                group: name_or_empty("groups", i.group_id),
                distance_meters: i.distance_m,
            })
            .collect(),
        total_distance_meters: c.total_distance_m,
        greedy_total_distance_meters: c.greedy_distance_m,
        unassigned_count: c.unassigned_count,
        create_time: Some(timestamp(c.created_at)),
    }
}

/// One decision of a request's ladder: the groups it looked at, which it chose, and why the
/// others were not.
pub fn decision(
    request_id: Uuid,
    row: &DecisionRow,
    list: ev::CandidateList,
    chosen: Option<Uuid>,
    display_name: impl Fn(&str) -> String,
) -> api::MatchDecision {
    let chosen = chosen.map(|g| name("groups", g));
    api::MatchDecision {
        request: name("requests", request_id),
        attempt: row.attempt,
        candidates: list
            .candidates
            .into_iter()
            .map(|c| api::Candidate {
                group_display_name: display_name(&c.group),
                chosen: chosen.as_deref() == Some(c.group.as_str()),
                group: c.group,
                distance_meters: c.distance_meters,
                reasons: c.reasons,
            })
            .collect(),
        assignment: name_or_empty("assignments", row.assignment_id),
        escalated: row.escalated,
        decide_time: Some(timestamp(row.decided_at)),
        reasons: row.reasons.iter().map(|r| i32::from(*r)).collect(),
    }
}
