//! A request's status and what intake learns from triage and matching: each change in the
//! consumer's transaction, with its `request.status_changed` event.

use komek_core::standing::Facts;
use komek_core::{AssignmentStatus, RequestStatus};
use komek_runtime::events::{enqueue, subject};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;
use crate::events;
use crate::model::RequestRow;

/// Locks and reads a request inside a consumer's transaction.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<RequestRow>> {
    sqlx::query_as("SELECT * FROM requests WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Moves the request to `next` and enqueues `request.status_changed`.
pub async fn set_status(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
) -> Result<RequestRow> {
    set_status_by(tx, row, next, reason, "").await
}

/// [`set_status`] on behalf of `actor`, which the event names. The first acceptance and the
/// resolution are timestamped for partners' statistics; a request heard of only once it was
/// under way counts as accepted then.
pub async fn set_status_by(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
    actor: &str,
) -> Result<RequestRow> {
    let updated: RequestRow = sqlx::query_as(
        "UPDATE requests SET status = $2, updated_at = now(), version = version + 1, \
           assigned_at = CASE WHEN $2 = ANY ($3) THEN coalesce(assigned_at, now()) \
             ELSE assigned_at END, \
           resolved_at = CASE WHEN $2 = $4 THEN now() ELSE resolved_at END \
         WHERE id = $1 RETURNING *",
    )
    .bind(row.id)
    .bind(next.code() as i16)
    .bind(
        [
            RequestStatus::Assigned,
            RequestStatus::InProgress,
            RequestStatus::Resolved,
        ]
        .map(|s| s.code() as i16),
    )
    .bind(RequestStatus::Resolved.code() as i16)
    .fetch_one(&mut *tx)
    .await?;
    let mut event = events::status_changed(&updated, row.status, reason);
    event.actor = actor.to_string();
    enqueue(tx, subject::REQUEST_STATUS_CHANGED, &event).await?;
    Ok(updated)
}

/// The facts heard about a request besides its assignment (kept by [`set_assignment`]).
pub async fn set_facts(tx: &mut PgConnection, id: Uuid, facts: &Facts) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET triaged_at = $2, escalated_at = $3, closed_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(facts.triaged_at)
    .bind(facts.escalated_at)
    .bind(facts.closed.map(|(_, at)| at))
    .execute(tx)
    .await?;
    Ok(())
}

/// The matcher will judge the request again at `until`, when an office opens; the latest
/// deferral heard wins (a re-triage may defer it again).
pub async fn set_deferred(
    tx: &mut PgConnection,
    id: Uuid,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET deferred_until = $2, updated_at = now(), version = version + 1 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(until)
    .execute(tx)
    .await?;
    Ok(())
}

/// Triage's verdict.
pub async fn set_triage(
    tx: &mut PgConnection,
    id: Uuid,
    category: i16,
    priority: i16,
    skills: &[i16],
    possible_duplicate_of: Option<Uuid>,
) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET category = $2, priority = $3, required_skills = $4, \
           possible_duplicate_of = $5, updated_at = now(), version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(category)
    .bind(priority)
    .bind(skills)
    .bind(possible_duplicate_of)
    .execute(tx)
    .await?;
    Ok(())
}

/// The latest offer or assignment of the request, as the matcher reported it.
pub struct AssignmentUpdate<'a> {
    pub assignment_id: Uuid,
    pub group: &'a str,
    pub group_name: Option<&'a str>,
    pub status: i16,
    pub distance_m: Option<f64>,
    pub expire_at: Option<chrono::DateTime<chrono::Utc>>,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The group's organisation, on offers: it joins the request's partner scope.
    pub organization: Option<Uuid>,
    /// The organisation's name, when the event says it.
    pub organization_name: Option<&'a str>,
}

pub async fn set_assignment(
    tx: &mut PgConnection,
    id: Uuid,
    a: &AssignmentUpdate<'_>,
) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET assignment_id = $2, assignment_group = $3, \
           assignment_group_name = COALESCE($4, assignment_group_name), assignment_status = $5, \
           assignment_distance_m = COALESCE($6, assignment_distance_m), \
           assignment_expire_at = CASE WHEN $5 = $10 THEN $7 ELSE NULL END, \
           assignment_updated_at = $8, updated_at = now(), version = version + 1, \
           organizations = CASE WHEN $9::uuid IS NULL OR $9 = ANY (organizations) \
             THEN organizations ELSE array_append(organizations, $9) END, \
           assignment_organization = COALESCE($9, assignment_organization), \
           assignment_organization_name = CASE WHEN $9::uuid IS NULL \
             THEN assignment_organization_name ELSE COALESCE($11, '') END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(a.assignment_id)
    .bind(a.group)
    .bind(a.group_name)
    .bind(a.status)
    .bind(a.distance_m)
    .bind(a.expire_at)
    .bind(a.at)
    .bind(a.organization)
    .bind(AssignmentStatus::Offered.code() as i16)
    .bind(a.organization_name)
    .execute(tx)
    .await?;
    Ok(())
}

/// Adds an organisation whose group was offered the request to its partner scope.
pub async fn set_assignment_scope(
    tx: &mut PgConnection,
    id: Uuid,
    organization: Option<Uuid>,
) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET organizations = array_append(organizations, $2) \
         WHERE id = $1 AND $2::uuid IS NOT NULL AND NOT ($2 = ANY (organizations))",
    )
    .bind(id)
    .bind(organization)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn set_outcome(tx: &mut PgConnection, id: Uuid, outcome: i16) -> Result<()> {
    sqlx::query("UPDATE requests SET outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records the request a duplicate was merged into.
pub async fn set_merged_into(tx: &mut PgConnection, id: Uuid, into: Uuid) -> Result<()> {
    sqlx::query("UPDATE requests SET merged_into = $2, possible_duplicate_of = $2 WHERE id = $1")
        .bind(id)
        .bind(into)
        .execute(tx)
        .await?;
    Ok(())
}
