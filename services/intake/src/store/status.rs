//! A request's status and what intake learns from triage and matching. The consumer reads the
//! requests a batch of events touches, applies the events to them in memory (`model`), and
//! writes each changed one back once, with the `request.status_changed` events, in the
//! batch's transaction.

use chrono::{DateTime, Utc};
use komek_core::RequestStatus;
use komek_runtime::events::{Outgoing, enqueue_many, subject};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;
use crate::events;
use crate::model::RequestRow;

/// Locks and reads requests inside a consumer's transaction, in the order of their ids (every
/// transaction that locks several takes them in that order, so none waits on another in a
/// circle). Requests this database never had are missing.
pub async fn lock_many(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<RequestRow>> {
    sqlx::query_as("SELECT * FROM requests WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .fetch_all(tx)
        .await
        .map_err(Into::into)
}

/// Locks and reads one request.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<RequestRow>> {
    Ok(lock_many(tx, &[id]).await?.pop())
}

/// The transaction's time, which `now()` gives every statement of it.
pub async fn now(tx: &mut PgConnection) -> Result<DateTime<Utc>> {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(tx)
        .await
        .map_err(Into::into)
}

/// Writes back what the consumer changes in a request it holds locked.
pub async fn save(tx: &mut PgConnection, r: &RequestRow) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET category = $2, priority = $3, required_skills = $4, \
           possible_duplicate_of = $5, triaged_at = $6, escalated_at = $7, closed_at = $8, \
           status = $9, assigned_at = $10, resolved_at = $11, assignment_id = $12, \
           assignment_group = $13, assignment_group_name = $14, assignment_status = $15, \
           assignment_distance_m = $16, assignment_expire_at = $17, \
           assignment_updated_at = $18, organizations = $19, assignment_organization = $20, \
           assignment_organization_name = $21, outcome = $22, merged_into = $23, \
           deferred_until = $24, updated_at = $25, version = $26 \
         WHERE id = $1",
    )
    .bind(r.id)
    .bind(r.category)
    .bind(r.priority)
    .bind(&r.required_skills)
    .bind(r.possible_duplicate_of)
    .bind(r.triaged_at)
    .bind(r.escalated_at)
    .bind(r.closed_at)
    .bind(r.status)
    .bind(r.assigned_at)
    .bind(r.resolved_at)
    .bind(r.assignment_id)
    .bind(&r.assignment_group)
    .bind(&r.assignment_group_name)
    .bind(r.assignment_status)
    .bind(r.assignment_distance_m)
    .bind(r.assignment_expire_at)
    .bind(r.assignment_updated_at)
    .bind(&r.organizations)
    .bind(r.assignment_organization)
    .bind(&r.assignment_organization_name)
    .bind(r.outcome)
    .bind(r.merged_into)
    .bind(r.deferred_until)
    .bind(r.updated_at)
    .bind(r.version)
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves a locked request to `next` on behalf of `actor` (empty for changes that follow other
/// events), writes it and enqueues `request.status_changed`.
pub async fn set_status_by(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
    actor: &str,
) -> Result<RequestRow> {
    let mut updated = row.clone();
    updated.move_to(next, now(&mut *tx).await?);
    save(&mut *tx, &updated).await?;
    let mut event = events::status_changed(&updated, row.status, reason);
    event.actor = actor.to_string();
    enqueue_many(
        tx,
        &[Outgoing::new(subject::REQUEST_STATUS_CHANGED, &event)],
    )
    .await?;
    Ok(updated)
}
