//! Keeps each request's status current from triage and matching events.
//!
//! Events of the two streams can arrive in either order (an offer may be applied before the
//! triage verdict), so every update is guarded by the request lifecycle: a move the state
//! machine refuses is skipped, never forced.

use chrono::{DateTime, Utc};
use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{from_timestamp, parse_name};
use komek_runtime::events::{HandleError, Handler, Incoming, subject};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::{self, AssignmentUpdate};

pub struct StatusKeeper;

impl Handler for StatusKeeper {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        match m.subject {
            subject::REQUEST_TRIAGED => triaged(tx, m.decode()?).await,
            subject::REQUEST_ESCALATED => {
                let e: ev::RequestEscalated = m.decode()?;
                let id = request_id(&e.request)?;
                advance(tx, id, RequestStatus::Escalated, "no eligible group").await
            }
            subject::REQUEST_MERGED => merged(tx, m.decode()?).await,
            subject::ASSIGNMENT_OFFERED => offered(tx, m.decode()?).await,
            subject::ASSIGNMENT_CHANGED => changed(tx, m.decode()?).await,
            // Other events of the same streams (intake's own status changes) need nothing here.
            _ => Ok(()),
        }
    }
}

fn request_id(name: &str) -> Result<Uuid, HandleError> {
    Ok(parse_name("requests", name, "request")?)
}

fn time(t: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| from_timestamp(t, "time").ok())
        .unwrap_or_else(Utc::now)
}

async fn triaged(tx: &mut PgConnection, e: ev::RequestTriaged) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let duplicate = (!e.possible_duplicate_of.is_empty())
        .then(|| request_id(&e.possible_duplicate_of))
        .transpose()?;
    let skills: Vec<i16> = e.required_skills.iter().map(|s| *s as i16).collect();
    store::set_triage(
        tx,
        id,
        e.category as i16,
        e.priority as i16,
        &skills,
        duplicate,
    )
    .await?;
    // A re-triage (a dispatcher's override) of a request already being dispatched changes what
    // it needs, not where it stands; an escalated one goes back to the matcher.
    let current = store::lock(tx, id).await?.map(|row| row.status());
    if matches!(current, Some(RequestStatus::New | RequestStatus::Escalated)) {
        advance(tx, id, RequestStatus::Triaged, "triaged").await?;
    }
    Ok(())
}

/// A dispatcher merged this request into another: it is closed as MERGED, unless it already
/// finished (a resolved request keeps its outcome).
async fn merged(tx: &mut PgConnection, e: ev::RequestMerged) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let into = request_id(&e.merged_into)?;
    let Some(row) = store::lock(tx, id).await? else {
        tracing::warn!(request = %id, "merge of unknown request");
        return Ok(());
    };
    if row.status().can_become(RequestStatus::Merged) {
        store::set_merged_into(tx, id, into).await?;
        let reason = format!("merged into {}", e.merged_into);
        advance(tx, id, RequestStatus::Merged, &reason).await?;
    }
    Ok(())
}

/// Moves a request to `next` when its lifecycle allows it from where it is now.
async fn advance(
    tx: &mut PgConnection,
    id: Uuid,
    next: RequestStatus,
    reason: &str,
) -> Result<(), HandleError> {
    let Some(row) = store::lock(tx, id).await? else {
        // Events for a request this database never had: nothing to keep current.
        tracing::warn!(request = %id, "event for unknown request");
        return Ok(());
    };
    let current = row.status();
    if current != next && current.can_become(next) {
        store::set_status(tx, &row, next, reason).await?;
    }
    Ok(())
}

async fn offered(tx: &mut PgConnection, e: ev::AssignmentOffered) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let assignment_id = parse_name("assignments", &e.assignment, "assignment")?;
    let Some(row) = store::lock(tx, id).await? else {
        return Ok(());
    };
    let at = time(e.offer_time.as_ref());
    // A change of an older assignment arriving late must not hide the newer offer.
    if row.assignment_updated_at.is_some_and(|prev| prev > at) {
        return Ok(());
    }
    let update = AssignmentUpdate {
        assignment_id,
        group: &e.group,
        group_name: Some(&e.group_display_name),
        status: AssignmentStatus::Offered.code() as i16,
        distance_m: Some(e.distance_meters),
        expire_at: e
            .expire_time
            .as_ref()
            .and_then(|t| from_timestamp(t, "expire_time").ok()),
        at,
        organization: parse_name("organizations", &e.organization, "organization").ok(),
    };
    store::set_assignment(tx, id, &update).await?;
    advance(tx, id, RequestStatus::Dispatching, "offered").await
}

async fn changed(tx: &mut PgConnection, e: ev::AssignmentChanged) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let assignment_id = parse_name("assignments", &e.assignment, "assignment")?;
    let Some(status) = AssignmentStatus::from_code(e.status) else {
        return Err(HandleError::Reject(format!(
            "unknown assignment status {}",
            e.status
        )));
    };
    let Some(row) = store::lock(tx, id).await? else {
        return Ok(());
    };
    let at = time(e.change_time.as_ref());
    if row
        .assignment_id
        .is_some_and(|current| current != assignment_id)
        && row.assignment_updated_at.is_some_and(|prev| prev > at)
    {
        return Ok(());
    }
    let update = AssignmentUpdate {
        assignment_id,
        group: &e.group,
        group_name: None,
        status: status.code() as i16,
        distance_m: None,
        expire_at: None,
        at,
        organization: None,
    };
    store::set_assignment(tx, id, &update).await?;
    let next = match status {
        AssignmentStatus::Offered => RequestStatus::Dispatching,
        AssignmentStatus::Accepted => RequestStatus::Assigned,
        AssignmentStatus::EnRoute | AssignmentStatus::OnSite => RequestStatus::InProgress,
        AssignmentStatus::Completed => {
            store::set_outcome(tx, id, e.outcome as i16).await?;
            RequestStatus::Resolved
        }
        AssignmentStatus::Declined
        | AssignmentStatus::Expired
        | AssignmentStatus::Withdrawn
        | AssignmentStatus::Aborted => {
            // The matcher offers the next group or escalates in the same transaction, and an
            // escalation travels on the other stream: it may be here first and must stay.
            if row.status() == RequestStatus::Escalated {
                return Ok(());
            }
            RequestStatus::Dispatching
        }
    };
    advance(tx, id, next, &e.reason).await
}

/// A store failure in a handler is the database's (the others come from API calls): worth a
/// redelivery.
impl From<store::Error> for HandleError {
    fn from(err: store::Error) -> Self {
        HandleError::Retry(err.into())
    }
}
