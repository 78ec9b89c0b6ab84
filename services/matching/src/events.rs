//! The events matching publishes, built from its rows and decisions. Offers carry settlement
//! and district, never the address or the caller.

use chrono::Utc;
use komek_core::IneligibleReason;
use komek_core::matching::Evaluation;
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{name, timestamp};
use uuid::Uuid;

use crate::model::Job;
use crate::store::AssignmentRow;

/// An assignment that moved from `previous` to its current status; `request_closed` when it was
/// withdrawn because its request closed; `sibling` when another assignment of its wide search
/// stands for the request.
pub fn changed(
    row: &AssignmentRow,
    previous: i16,
    request_closed: bool,
    sibling: bool,
) -> ev::AssignmentChanged {
    ev::AssignmentChanged {
        wide_search: row.wide,
        search_role: row.search_role() as i32,
        sibling,
        assignment: name("assignments", row.id),
        request: name("requests", row.request_id),
        group: name("groups", row.group_id),
        status: row.status.into(),
        previous_status: previous.into(),
        reason: row.reason.clone(),
        outcome: row.outcome.into(),
        change_time: Some(timestamp(row.updated_at)),
        request_closed,
    }
}

/// The group a new offer went to, as the index knows it.
pub struct OfferedTo {
    pub display_name: String,
    pub organization: String,
    pub organization_display_name: String,
}

/// A new offer; `sibling` when another offer of its wide search stands for the request.
pub fn offered(
    row: &AssignmentRow,
    job: &Job,
    to: OfferedTo,
    candidates: Vec<ev::CandidateScore>,
    sibling: bool,
) -> ev::AssignmentOffered {
    ev::AssignmentOffered {
        wide_search: row.wide,
        search_round: row.search_round,
        sibling,
        assignment: name("assignments", row.id),
        request: name("requests", row.request_id),
        reference_code: row.reference_code.clone(),
        group: name("groups", row.group_id),
        group_display_name: to.display_name,
        category: job.category,
        priority: job.priority,
        required_skills: job.required_skills.clone(),
        location: Some(pb::Location {
            address: String::new(),
            ..job.location.clone()
        }),
        distance_meters: row.distance_m,
        attempt: row.attempt,
        offer_time: Some(timestamp(row.offered_at)),
        expire_time: Some(timestamp(row.expire_at)),
        candidates,
        organization: to.organization,
        organization_display_name: to.organization_display_name,
        people_count: job.people_count,
        quantity: job.quantity.clone(),
    }
}

pub fn escalated(
    request_id: Uuid,
    reasons: &[IneligibleReason],
    attempts: i32,
    candidates: Vec<ev::CandidateScore>,
) -> ev::RequestEscalated {
    ev::RequestEscalated {
        request: name("requests", request_id),
        reasons: reasons.iter().map(|r| r.code()).collect(),
        attempts,
        escalate_time: Some(timestamp(Utc::now())),
        candidates,
    }
}

/// A job waiting for office hours, with the groups judged.
pub fn deferred(
    request_id: Uuid,
    until: chrono::DateTime<Utc>,
    candidates: Vec<ev::CandidateScore>,
) -> ev::RequestDeferred {
    ev::RequestDeferred {
        request: name("requests", request_id),
        dispatch_time: Some(timestamp(until)),
        candidates,
        defer_time: Some(timestamp(Utc::now())),
    }
}

/// The groups a decision looked at, as published and stored.
pub fn scores(ranked: &[Evaluation]) -> Vec<ev::CandidateScore> {
    ranked
        .iter()
        .map(|e| ev::CandidateScore {
            group: e.group.clone(),
            distance_meters: e.distance_m,
            reasons: e.reasons.iter().map(|r| r.code()).collect(),
        })
        .collect()
}
