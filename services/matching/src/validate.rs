//! Requests of matching's APIs checked into the values its domain and store take. Each
//! function reports every field at fault at once.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use komek_core::{AssignmentStatus, Category, GeoPoint, Priority};
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{
    self, FieldViolation, Text, Violations, optional_code, optional_etag, optional_name,
    optional_timestamp, parse_name, parse_request_id,
};
use komek_runtime::pages::Page;
use tonic::Status;
use uuid::Uuid;

use crate::store::{QueueFilter, Report};

/// The most requests one campaign places.
pub const MAX_REQUESTS: usize = 2000;

const DECLINE_REASON: Text = Text::line(500);
const MOVE_REASON: Text = Text::line(500).required();
const NOTE: Text = Text::line(2000);
const NAME: Text = Text::line(200).required();
const PLACE: Text = Text::line(200);

/// An accept, decline or progress step: the assignment and the call's key.
pub struct Answer {
    pub id: Uuid,
    pub key: Uuid,
}

pub fn answer(name: &str, request_id: &str) -> Result<Answer, Status> {
    let mut v = Violations::new();
    let (id, key) = answer_into(name, request_id, &mut v);
    let (id, key) = v.finish((id, key))?;
    Ok(Answer { id, key })
}

fn answer_into(name: &str, request_id: &str, v: &mut Violations) -> (Option<Uuid>, Option<Uuid>) {
    (
        v.take(parse_name("assignments", name, "name")),
        v.take(parse_request_id(request_id)),
    )
}

/// A decline: the answer and the volunteer's reason, if any.
pub fn decline(req: &api::DeclineOfferRequest) -> Result<(Answer, String), Status> {
    let mut v = Violations::new();
    let reason = v.take(DECLINE_REASON.parse(&req.reason, "reason"));
    let (id, key) = answer_into(&req.name, &req.request_id, &mut v);
    let (reason, id, key) = v.finish((reason, id, key))?;
    Ok((Answer { id, key }, reason))
}

/// A progress step as the group reported it.
pub struct Progress {
    pub answer: Answer,
    pub next: AssignmentStatus,
    pub reason: String,
    pub outcome: i16,
    pub note: String,
    pub proof_uri: String,
    pub etag: Option<i64>,
}

impl Progress {
    /// What the store keeps of the report: an outcome only for a completed job.
    pub fn report(&self) -> Report<'_> {
        Report {
            outcome: self.outcome,
            note: &self.note,
            proof_uri: &self.proof_uri,
        }
    }
}

pub fn progress(req: &api::UpdateProgressRequest) -> Result<Progress, Status> {
    let mut v = Violations::new();
    let next = match api::ProgressStep::try_from(req.step) {
        Ok(api::ProgressStep::EnRoute) => Some(AssignmentStatus::EnRoute),
        Ok(api::ProgressStep::OnSite) => Some(AssignmentStatus::OnSite),
        Ok(api::ProgressStep::Completed) => Some(AssignmentStatus::Completed),
        Ok(api::ProgressStep::Aborted) => Some(AssignmentStatus::Aborted),
        _ => {
            v.add("step", "en route, on site, completed or aborted");
            None
        }
    };
    let completed = next == Some(AssignmentStatus::Completed);
    let outcome_given =
        matches!(pb::Outcome::try_from(req.outcome), Ok(o) if o != pb::Outcome::Unspecified);
    if completed && !outcome_given {
        v.add("outcome", "required when the job is completed");
    }
    let reason = v.take(DECLINE_REASON.parse(&req.reason, "reason"));
    if next == Some(AssignmentStatus::Aborted) && req.reason.trim().is_empty() {
        v.add("reason", "required when the job is aborted");
    }
    let note = v.take(NOTE.parse(&req.note, "note"));
    let proof_uri = v.take(NOTE.parse(&req.proof_uri, "proof_uri"));
    let etag = v.take(optional_etag(&req.etag, "etag"));
    let (id, key) = answer_into(&req.name, &req.request_id, &mut v);
    let (next, reason, note, proof_uri, etag, id, key) =
        v.finish((next, reason, note, proof_uri, etag, id, key))?;
    Ok(Progress {
        answer: Answer { id, key },
        next,
        reason,
        outcome: if completed { req.outcome as i16 } else { 0 },
        note,
        proof_uri,
        etag,
    })
}

/// A position fix: the assignment, where, and when (now, when not given).
pub fn position(
    req: &api::ReportPositionRequest,
) -> Result<(Uuid, GeoPoint, DateTime<Utc>), Status> {
    let mut v = Violations::new();
    let id = v.take(parse_name("assignments", &req.name, "name"));
    let point = v.take(komek_runtime::boundary::geo_point(
        req.location.as_ref(),
        "location",
    ));
    let now = Utc::now();
    let at = v
        .take(optional_timestamp(req.fix_time.as_ref(), "fix_time"))
        .map(|at| at.unwrap_or(now));
    // Phones' clocks drift a little; a fix from the future or of yesterday is a broken clock
    // or a replay.
    let fresh = |at: &DateTime<Utc>| {
        *at <= now + chrono::Duration::minutes(2) && *at >= now - chrono::Duration::hours(6)
    };
    if at.as_ref().is_some_and(|at| !fresh(at)) {
        v.add("fix_time", "within the last 6 hours and not in the future");
    }
    v.finish((id, point, at))
}

/// Offer streams' cursors are positions in the assignments stream, versioned so their form
/// can change.
pub fn cursor(value: &str) -> Result<Option<crate::feed::Cursor>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    crate::feed::decode_cursor(value)
        .map(Some)
        .ok_or_else(|| FieldViolation::new("cursor", "not a cursor from this feed"))
}

/// An assign or reassign by a dispatcher.
pub struct Move {
    pub key: Uuid,
    pub request_id: Uuid,
    pub group_id: Uuid,
    pub reason: String,
}

pub fn move_request(key: &str, request: &str, group: &str, reason: &str) -> Result<Move, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(key));
    let request_id = v.take(parse_name("requests", request, "request"));
    let group_id = v.take(parse_name("groups", group, "group"));
    let reason = v.take(MOVE_REASON.parse(reason, "reason"));
    let (key, request_id, group_id, reason) = v.finish((key, request_id, group_id, reason))?;
    Ok(Move {
        key,
        request_id,
        group_id,
        reason,
    })
}

/// A withdrawal: its key, the assignment and the reason.
pub fn withdraw(req: &api::WithdrawAssignmentRequest) -> Result<(Uuid, Uuid, String), Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let id = v.take(parse_name("assignments", &req.name, "name"));
    let reason = v.take(MOVE_REASON.parse(&req.reason, "reason"));
    v.finish((key, id, reason))
}

/// A queue's filters on `page`; the overdue limits are the caller's to add.
pub fn queue(
    req: &api::ListQueueRequest,
    page: Page<(i16, DateTime<Utc>, Uuid)>,
) -> Result<QueueFilter, Status> {
    let mut v = Violations::new();
    let queue = match api::Queue::try_from(req.queue) {
        Ok(q) if q != api::Queue::Unspecified => Some(q as i16),
        _ => {
            v.add("queue", "ESCALATED, UNASSIGNED or OVERDUE");
            None
        }
    };
    for (i, c) in req.categories.iter().enumerate() {
        if Category::from_code(*c).is_none() {
            v.add(format!("categories[{i}]"), "a category");
        }
    }
    let min_priority = v
        .take(optional_code(
            req.min_priority,
            Priority::from_code,
            "min_priority",
        ))
        .map(|p| p.map_or(0, |p| p.code() as i16));
    let region = v.take(region(&req.region));
    let district = v.take(PLACE.parse(&req.district, "district"));
    let (queue, min_priority, region, district) =
        v.finish((queue, min_priority, region, district))?;
    Ok(QueueFilter {
        queue: Some(queue),
        region,
        district,
        categories: req.categories.iter().map(|c| *c as i16).collect(),
        min_priority,
        after: page.after,
        limit: page.limit,
        ..Default::default()
    })
}

/// A region filter, in any of the forms `boundary::region` takes.
pub fn region(value: &str) -> Result<String, FieldViolation> {
    PLACE
        .parse(value, "region")
        .and_then(|r| boundary::region(&r, "region"))
}

/// The dispatch audit's filter: a request, if any.
pub fn audit_request(req: &api::ListDispatchAuditRequest) -> Result<Option<Uuid>, FieldViolation> {
    optional_name("requests", &req.request, "request")
}

/// A campaign as a dispatcher asked for it.
pub struct Campaign {
    pub key: Uuid,
    pub display_name: String,
    pub requests: Vec<Uuid>,
    pub validate_only: bool,
}

pub fn campaign(req: &api::CreateCampaignRequest) -> Result<Campaign, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let display_name = v.take(NAME.parse(&req.display_name, "display_name"));
    if req.requests.is_empty() || req.requests.len() > MAX_REQUESTS {
        v.add("requests", format!("1 to {MAX_REQUESTS} requests"));
    }
    let mut seen = HashSet::new();
    let mut requests = Vec::new();
    for (i, r) in req.requests.iter().enumerate() {
        let field = format!("requests[{i}]");
        match v.take(parse_name("requests", r, &field)) {
            Some(id) if !seen.insert(id) => v.add(field, "listed twice"),
            Some(id) => requests.push(id),
            None => {}
        }
    }
    let (key, display_name) = v.finish((key, display_name))?;
    Ok(Campaign {
        key,
        display_name,
        requests,
        validate_only: req.validate_only,
    })
}
