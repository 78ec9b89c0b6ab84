//! Assignments: offers and the jobs they become, with the idempotency keys of their answers.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;
use std::sync::LazyLock;

use komek_core::AssignmentStatus;

/// The predicate of the partial unique index `assignments_one_active_per_request`: a request
/// has at most one active assignment. An insert names it so PostgreSQL infers the index.
pub static ONE_ACTIVE_PER_REQUEST: LazyLock<String> = LazyLock::new(|| {
    let codes: Vec<String> = AssignmentStatus::codes(AssignmentStatus::is_active)
        .iter()
        .map(i16::to_string)
        .collect();
    format!("status IN ({})", codes.join(", "))
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub request_id: Uuid,
    pub group_id: Uuid,
    pub status: i16,
    pub attempt: i32,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub lat: f64,
    pub lon: f64,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub distance_m: f64,
    pub offered_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reason: String,
    pub outcome: i16,
    pub version: i64,
    pub cargo_tonnes: f64,
    /// What the offer tells the group: copied from the job when offered.
    pub volunteer_note: String,
    pub people_count: i32,
    pub quantity_value: f64,
    pub quantity_unit: String,
    /// Where the group last reported itself on the way, and when.
    pub position_lat: Option<f64>,
    pub position_lon: Option<f64>,
    pub position_at: Option<DateTime<Utc>>,
}

/// What the matcher knows of a request's history: how many offers it had, which groups
/// already said no, and whether one is active now.
pub struct History {
    pub attempts: i32,
    pub excluded_groups: Vec<Uuid>,
    pub active: bool,
}

pub async fn history(tx: &mut PgConnection, request_id: Uuid) -> Result<History> {
    let rows: Vec<(Uuid, i16)> =
        sqlx::query_as("SELECT group_id, status FROM assignments WHERE request_id = $1")
            .bind(request_id)
            .fetch_all(tx)
            .await?;
    let is = |s: i16, holds: fn(AssignmentStatus) -> bool| {
        AssignmentStatus::from_stored(s).is_some_and(holds)
    };
    Ok(History {
        attempts: rows.len() as i32,
        active: rows
            .iter()
            .any(|(_, s)| is(*s, AssignmentStatus::is_active)),
        // Groups whose job ended unserved are not offered the same request again by the
        // matcher; a dispatcher may still choose them.
        excluded_groups: rows
            .iter()
            .filter(|(_, s)| is(*s, AssignmentStatus::ended_unserved))
            .map(|(g, _)| *g)
            .collect(),
    })
}

/// Keeps the trace an offer was made in (see `trace` in the runtime).
pub async fn keep_traceparent(tx: &mut PgConnection, id: Uuid, traceparent: &str) -> Result<()> {
    sqlx::query("UPDATE assignments SET traceparent = $2 WHERE id = $1")
        .bind(id)
        .bind(traceparent)
        .execute(tx)
        .await?;
    Ok(())
}

/// The trace an offer was made in, when it was made in one.
pub async fn traceparent(tx: &mut PgConnection, id: Uuid) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT traceparent FROM assignments WHERE id = $1")
            .bind(id)
            .fetch_optional(tx)
            .await?;
    Ok(row.and_then(|r| r.0))
}

/// Records an offer; `None` when the request already has an active assignment.
pub async fn insert_offer(
    tx: &mut PgConnection,
    a: &AssignmentRow,
) -> Result<Option<AssignmentRow>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO assignments (id, request_id, group_id, status, attempt, reference_code, \
               category, priority, required_skills, lat, lon, settlement, district, region, \
               distance_m, offered_at, expire_at, cargo_tonnes, volunteer_note, people_count, \
               quantity_value, quantity_unit) \
             VALUES ($1, $2, $3, {offered}, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
               $16, $17, $18, $19, $20, $21) \
             ON CONFLICT (request_id) WHERE {ONE_ACTIVE_PER_REQUEST} DO NOTHING RETURNING *",
            offered = AssignmentStatus::Offered.code(),
            ONE_ACTIVE_PER_REQUEST = *ONE_ACTIVE_PER_REQUEST,
        )
    });
    sqlx::query_as(&SQL)
        .bind(a.id)
        .bind(a.request_id)
        .bind(a.group_id)
        .bind(a.attempt)
        .bind(&a.reference_code)
        .bind(a.category)
        .bind(a.priority)
        .bind(&a.required_skills)
        .bind(a.lat)
        .bind(a.lon)
        .bind(&a.settlement)
        .bind(&a.district)
        .bind(&a.region)
        .bind(a.distance_m)
        .bind(a.offered_at)
        .bind(a.expire_at)
        .bind(a.cargo_tonnes)
        .bind(&a.volunteer_note)
        .bind(a.people_count)
        .bind(a.quantity_value)
        .bind(&a.quantity_unit)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Open offers to any of `groups`.
pub async fn open_offers(pool: &PgPool, groups: &[Uuid]) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE group_id = ANY($1) AND status = $2 AND expire_at > now() \
         ORDER BY offered_at",
    )
    .bind(groups)
    .bind(AssignmentStatus::Offered.code() as i16)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(Into::into)
}

/// Assignments by id, in one read.
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = ANY ($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
        .map_err(Into::into)
}

/// The active assignments of a request, locked.
pub async fn active_of(tx: &mut PgConnection, request_id: Uuid) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE request_id = $1 AND status = ANY($2) FOR UPDATE",
    )
    .bind(request_id)
    .bind(AssignmentStatus::codes(AssignmentStatus::is_active))
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// Locks an assignment for a state change.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Records an accept or decline key; false when the key was seen before.
pub async fn record_action(
    tx: &mut PgConnection,
    key: Uuid,
    assignment: Uuid,
    action: &str,
    volunteer: &str,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO assignment_actions (request_key, assignment_id, action, volunteer) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_key) DO NOTHING",
    )
    .bind(key)
    .bind(assignment)
    .bind(action)
    .bind(volunteer)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What a group reports with a progress step.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub outcome: i16,
    pub note: &'a str,
    pub proof_uri: &'a str,
}

/// Writes an assignment's new status and reason, and the group's report when there is one.
/// `jobs::transition` calls this with everything else a change of status brings.
pub async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: AssignmentStatus,
    reason: &str,
    report: Option<Report<'_>>,
) -> Result<AssignmentRow> {
    sqlx::query_as(
        "UPDATE assignments SET status = $2, reason = $3, outcome = COALESCE($4, outcome), \
           note = COALESCE($5, note), proof_uri = COALESCE($6, proof_uri), updated_at = now(), \
           version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(status.code() as i16)
    .bind(reason)
    .bind(report.map(|r| r.outcome))
    .bind(report.map(|r| r.note))
    .bind(report.map(|r| r.proof_uri))
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// The next open offer past its expiry, locked; replicas sweeping at once skip each other's.
pub async fn next_expired(tx: &mut PgConnection) -> Result<Option<AssignmentRow>> {
    // The status is written into the statement, not bound: the planner then uses the partial
    // index of open offers (`assignments_open_expiry`), whose predicate it must see.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT * FROM assignments WHERE status = {} AND expire_at <= now() \
             ORDER BY expire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            AssignmentStatus::Offered.code()
        )
    });
    sqlx::query_as(&SQL)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// The oldest open offer to one of `groups`, locked, skipping offers another replica holds.
pub async fn next_offer_to(
    tx: &mut PgConnection,
    groups: &[Uuid],
) -> Result<Option<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE status = $1 AND group_id = ANY($2) \
         ORDER BY offered_at LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .bind(AssignmentStatus::Offered.code() as i16)
    .bind(groups)
    .fetch_optional(tx)
    .await
    .map_err(Into::into)
}

/// Records a position fix of a job on its way or on site, unless a later fix is already
/// recorded. Returns the job's status, or `None` when there is no such assignment.
pub async fn record_position(
    pool: &PgPool,
    id: Uuid,
    lat: f64,
    lon: f64,
    at: DateTime<Utc>,
) -> Result<Option<AssignmentStatus>> {
    let status: Option<i16> = sqlx::query_scalar("SELECT status FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let status = status.and_then(AssignmentStatus::from_stored);
    if status.is_some_and(AssignmentStatus::is_on_the_way) {
        sqlx::query(
            "UPDATE assignments SET position_lat = $2, position_lon = $3, position_at = $4 \
             WHERE id = $1 AND status = ANY($5) AND (position_at IS NULL OR position_at < $4)",
        )
        .bind(id)
        .bind(lat)
        .bind(lon)
        .bind(at)
        .bind(AssignmentStatus::codes(AssignmentStatus::is_on_the_way))
        .execute(pool)
        .await?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_names_the_predicate_of_the_one_active_index() {
        // The index is created by a migration; the insert must name the same predicate, or
        // PostgreSQL cannot infer which index the conflict is about.
        let migration = include_str!("../../migrations/0002_assignments.sql");
        assert!(
            migration.contains(&format!("WHERE {};", *ONE_ACTIVE_PER_REQUEST)),
            "{}",
            *ONE_ACTIVE_PER_REQUEST
        );
    }
}
