//! Keeps each request's status current from triage and matching events.
//!
//! Events of the two streams can arrive in either order (an offer may be applied before the
//! triage verdict that led to it, an escalation before the decline it followed), so no event is
//! applied as a transition. Each adds what it says to the request's facts
//! (`komek_core::standing`), and the status is derived from the facts: the same whatever order
//! they were heard in.

use chrono::{DateTime, Utc};
use komek_core::standing::{AssignmentFact, Heard};
use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{from_timestamp, parse_name};
use komek_runtime::events::subject;
use komek_runtime::inbox::{HandleError, Handler, Incoming};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::RequestRow;
use crate::store::{self, AssignmentUpdate};

pub struct StatusKeeper;

impl Handler for StatusKeeper {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        match m.subject {
            subject::REQUEST_TRIAGED => triaged(tx, m.decode()?).await,
            subject::REQUEST_ESCALATED => {
                let e: ev::RequestEscalated = m.decode()?;
                let heard = Heard::Escalated(time(e.escalate_time.as_ref()));
                hear(tx, request_id(&e.request)?, heard, "no eligible group").await
            }
            subject::REQUEST_MERGED => merged(tx, m.decode()?).await,
            subject::REQUEST_DEFERRED => {
                let e: ev::RequestDeferred = m.decode()?;
                let until = time(e.dispatch_time.as_ref());
                store::set_deferred(tx, request_id(&e.request)?, until).await?;
                Ok(())
            }
            subject::ASSIGNMENT_OFFERED => offered(tx, m.decode()?).await,
            subject::ASSIGNMENT_CHANGED => changed(tx, m.decode()?).await,
            _ => Ok(()),
        }
    }

    /// Other events of the same streams (intake's own: created, status changes, waiting,
    /// erased) need nothing here.
    fn wants(&self, s: &str) -> bool {
        matches!(
            s,
            subject::REQUEST_TRIAGED
                | subject::REQUEST_ESCALATED
                | subject::REQUEST_MERGED
                | subject::REQUEST_DEFERRED
                | subject::ASSIGNMENT_OFFERED
                | subject::ASSIGNMENT_CHANGED
        )
    }
}

fn request_id(name: &str) -> Result<Uuid, HandleError> {
    Ok(parse_name("requests", name, "request")?)
}

fn time(t: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| from_timestamp(t, "time").ok())
        .unwrap_or_else(Utc::now)
}

/// The request, locked for this transaction; None for a request this database never had.
async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<RequestRow>, HandleError> {
    let row = store::lock(tx, id).await?;
    if row.is_none() {
        // Events for a request this database never had: nothing to keep current.
        tracing::warn!(request = %id, "event for unknown request");
    }
    Ok(row)
}

/// Adds what was heard to the request's facts and moves its status to what they say now.
async fn hear(
    tx: &mut PgConnection,
    id: Uuid,
    heard: Heard,
    reason: &str,
) -> Result<(), HandleError> {
    let Some(row) = lock(tx, id).await? else {
        return Ok(());
    };
    settle(tx, &row, heard, reason).await
}

async fn settle(
    tx: &mut PgConnection,
    row: &RequestRow,
    heard: Heard,
    reason: &str,
) -> Result<(), HandleError> {
    let mut facts = row.facts();
    facts.hear(heard);
    if facts != row.facts() {
        store::set_facts(tx, row.id, &facts).await?;
    }
    let next = facts.status();
    if next != row.status() {
        store::set_status(tx, row, next, reason).await?;
    }
    Ok(())
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
    hear(
        tx,
        id,
        Heard::Triaged(time(e.decide_time.as_ref())),
        "triaged",
    )
    .await
}

/// A dispatcher merged this request into another: it is closed as MERGED, unless it was
/// already finished (a resolved request keeps its outcome).
async fn merged(tx: &mut PgConnection, e: ev::RequestMerged) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let into = request_id(&e.merged_into)?;
    let Some(row) = lock(tx, id).await? else {
        return Ok(());
    };
    let heard = Heard::Closed(RequestStatus::Merged, time(e.merge_time.as_ref()));
    let mut facts = row.facts();
    facts.hear(heard);
    if facts.status() == RequestStatus::Merged {
        store::set_merged_into(tx, id, into).await?;
    }
    let reason = format!("merged into {}", e.merged_into);
    settle(tx, &row, heard, &reason).await
}

async fn offered(tx: &mut PgConnection, e: ev::AssignmentOffered) -> Result<(), HandleError> {
    let id = request_id(&e.request)?;
    let assignment_id = parse_name("assignments", &e.assignment, "assignment")?;
    let Some(row) = lock(tx, id).await? else {
        return Ok(());
    };
    let organization = parse_name("organizations", &e.organization, "organization").ok();
    if e.sibling {
        // Another offer of the same wide search stands for the request; this one only widens
        // the partners' scope.
        if organization.is_some() {
            store::set_assignment_scope(tx, row.id, organization).await?;
        }
        return Ok(());
    }
    let at = time(e.offer_time.as_ref());
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
        organization,
        organization_name: Some(&e.organization_display_name),
    };
    assignment(tx, &row, &update, AssignmentStatus::Offered, "offered").await
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
    if e.sibling {
        // A wide search's supporter, or an offer beside others still open: the lead, or the
        // offers standing for the request, say where it stands.
        return Ok(());
    }
    let Some(row) = lock(tx, id).await? else {
        return Ok(());
    };
    if status == AssignmentStatus::Completed {
        store::set_outcome(tx, id, e.outcome as i16).await?;
    }
    let update = AssignmentUpdate {
        assignment_id,
        group: &e.group,
        group_name: None,
        status: status.code() as i16,
        distance_m: None,
        expire_at: None,
        at: time(e.change_time.as_ref()),
        organization: None,
        organization_name: None,
    };
    assignment(tx, &row, &update, status, &e.reason).await
}

/// Keeps an assignment's change when it is the latest heard of (a change of an older
/// assignment arriving late must not hide the newer offer), then settles the status.
async fn assignment(
    tx: &mut PgConnection,
    row: &RequestRow,
    update: &AssignmentUpdate<'_>,
    status: AssignmentStatus,
    reason: &str,
) -> Result<(), HandleError> {
    let heard = Heard::Assignment(AssignmentFact {
        id: update.assignment_id.as_u128(),
        status,
        at: update.at,
    });
    let mut facts = row.facts();
    facts.hear(heard);
    let latest = facts
        .assignment
        .is_some_and(|a| a.id == update.assignment_id.as_u128());
    if latest && facts.assignment != row.facts().assignment {
        store::set_assignment(tx, row.id, update).await?;
    } else if update.organization.is_some() {
        // An older offer still widens the partner scope: its group's organisation was offered
        // the request.
        store::set_assignment_scope(tx, row.id, update.organization).await?;
    }
    let next = facts.status();
    if next != row.status() {
        store::set_status(tx, row, next, reason).await?;
    }
    Ok(())
}

/// A store failure in a handler is the database's (the others come from API calls): worth a
/// redelivery.
impl From<store::Error> for HandleError {
    fn from(err: store::Error) -> Self {
        HandleError::Retry(err.into())
    }
}
