//! Assignments: offers and the jobs they become, with the idempotency keys of their answers.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;
use std::sync::LazyLock;

use komek_core::AssignmentStatus;

fn active_codes() -> String {
    let codes: Vec<String> = AssignmentStatus::codes(AssignmentStatus::is_active)
        .iter()
        .map(i16::to_string)
        .collect();
    codes.join(", ")
}

/// The predicate of the partial unique index `assignments_one_active_per_request`: a request
/// offered to one group at a time has at most one active assignment. An insert names it so
/// PostgreSQL infers the index.
pub static ONE_ACTIVE_PER_REQUEST: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}) AND NOT wide", active_codes()));

/// The predicate of `assignments_one_active_per_group_of_a_wide_search`: a wide search has at
/// most one active assignment per group.
pub static ONE_ACTIVE_PER_GROUP: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}) AND wide", active_codes()));

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
    /// One of several offers of a wide search, in this round (from 1), and whether this group
    /// leads it (see `komek_core::wide`).
    pub wide: bool,
    pub search_round: i32,
    pub lead: bool,
}

impl AssignmentRow {
    /// The group's part in a wide search: lead, support (accepted after the lead), or none
    /// (not a wide search, or not accepted).
    pub fn search_role(&self) -> komek_proto::types::v1::SearchRole {
        use komek_proto::types::v1::SearchRole;
        let took = AssignmentStatus::from_stored(self.status).is_some_and(|s| s.took_the_job());
        match (self.wide, self.lead, took) {
            (true, true, _) => SearchRole::Lead,
            (true, false, true) => SearchRole::Support,
            _ => SearchRole::Unspecified,
        }
    }
}

/// What the matcher knows of a request's history: how many offers it had, which groups
/// already said no, whether one is active now, and for a wide search its last round, whether a
/// lead holds it (accepted, on its way, on site or done) and who supports it now (accepted or
/// on the way, in the order they were offered: the nearest of the earliest round first).
pub struct History {
    pub attempts: i32,
    pub excluded_groups: Vec<Uuid>,
    pub active: bool,
    pub round: i32,
    pub led: bool,
    pub supporters: Vec<Uuid>,
}

pub async fn history(tx: &mut PgConnection, request_id: Uuid) -> Result<History> {
    Ok(closed_and_history(tx, request_id).await?.1)
}

/// A row of [`closed_and_history`]: the closure, then an offer's id, group, status, round
/// and lead (all empty when there is no offer).
type StateRow = (
    bool,
    Option<Uuid>,
    Option<Uuid>,
    Option<i16>,
    Option<i32>,
    Option<bool>,
);

/// Whether the request is closed (cancelled or merged in intake), and its history of offers,
/// in one statement: what placing a request reads first.
pub async fn closed_and_history(
    tx: &mut PgConnection,
    request_id: Uuid,
) -> Result<(bool, History)> {
    // One row at least (the closure), with the offers' columns empty when there are none.
    let rows: Vec<StateRow> =
        sqlx::query_as(
            "SELECT c.closed, a.id, a.group_id, a.status, a.search_round, a.lead \
             FROM (SELECT EXISTS (SELECT 1 FROM closed_requests WHERE request_id = $1) AS closed) c \
             LEFT JOIN assignments a ON a.request_id = $1 \
             ORDER BY a.id",
        )
        .bind(request_id)
        .fetch_all(tx)
        .await?;
    let closed = rows.first().is_some_and(|r| r.0);
    let rows: Vec<(Uuid, Uuid, i16, i32, bool)> = rows
        .into_iter()
        .filter_map(|(_, id, group, status, round, lead)| {
            Some((id?, group?, status?, round?, lead?))
        })
        .collect();
    let is = |s: i16, holds: fn(AssignmentStatus) -> bool| {
        AssignmentStatus::from_stored(s).is_some_and(holds)
    };
    let history = History {
        attempts: rows.len() as i32,
        active: rows
            .iter()
            .any(|(_, _, s, _, _)| is(*s, AssignmentStatus::is_active)),
        // Groups whose job ended unserved are not offered the same request again by the
        // matcher; a dispatcher may still choose them.
        excluded_groups: rows
            .iter()
            .filter(|(_, _, s, _, _)| is(*s, AssignmentStatus::ended_unserved))
            .map(|(_, g, _, _, _)| *g)
            .collect(),
        round: rows.iter().map(|(_, _, _, r, _)| *r).max().unwrap_or(0),
        led: rows
            .iter()
            .any(|(_, _, s, _, lead)| *lead && is(*s, AssignmentStatus::took_the_job)),
        supporters: rows
            .iter()
            .filter(|(_, _, s, _, lead)| !*lead && is(*s, AssignmentStatus::holds_contact))
            .map(|(id, _, _, _, _)| *id)
            .collect(),
    };
    Ok((closed, history))
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

/// Records an offer; `None` when the request already has an active assignment (one of a wide
/// search's: when the group already has one for the request).
pub async fn insert_offer(
    tx: &mut PgConnection,
    a: &AssignmentRow,
) -> Result<Option<AssignmentRow>> {
    fn sql(conflict: &str) -> String {
        format!(
            "INSERT INTO assignments (id, request_id, group_id, status, attempt, reference_code, \
               category, priority, required_skills, lat, lon, settlement, district, region, \
               distance_m, offered_at, expire_at, cargo_tonnes, volunteer_note, people_count, \
               quantity_value, quantity_unit, wide, search_round) \
             VALUES ($1, $2, $3, {offered}, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
               $16, $17, $18, $19, $20, $21, $22, $23) \
             ON CONFLICT {conflict} DO NOTHING RETURNING *",
            offered = AssignmentStatus::Offered.code(),
        )
    }
    static ONE: LazyLock<String> =
        LazyLock::new(|| sql(&format!("(request_id) WHERE {}", *ONE_ACTIVE_PER_REQUEST)));
    static WIDE: LazyLock<String> = LazyLock::new(|| {
        sql(&format!(
            "(request_id, group_id) WHERE {}",
            *ONE_ACTIVE_PER_GROUP
        ))
    });
    sqlx::query_as(if a.wide { &WIDE } else { &ONE })
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
        .bind(a.wide)
        .bind(a.search_round)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Locks every assignment of a request, in one order, so that two groups accepting a wide
/// search at once are decided one after the other.
pub async fn lock_request(tx: &mut PgConnection, request_id: Uuid) -> Result<()> {
    sqlx::query("SELECT id FROM assignments WHERE request_id = $1 ORDER BY id FOR UPDATE")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Makes an offer being accepted the lead of its wide search: the first group to accept.
pub async fn make_lead(tx: &mut PgConnection, id: Uuid) -> Result<AssignmentRow> {
    sqlx::query_as("UPDATE assignments SET lead = true WHERE id = $1 RETURNING *")
        .bind(id)
        .fetch_one(tx)
        .await
        .map_err(Into::into)
}

/// Makes a supporter the lead of its wide search, after the lead gave up. Its change time
/// moves past the transaction's start, so intake hears it after the lead's abort written in
/// the same transaction.
pub async fn promote(tx: &mut PgConnection, id: Uuid) -> Result<AssignmentRow> {
    sqlx::query_as(
        "UPDATE assignments SET lead = true, reason = 'leads the search: the lead group gave it up', \
           updated_at = clock_timestamp(), version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// Whether another assignment of `row`'s wide search stands for the request: a lead that holds
/// it, or an offer or job still active.
pub async fn has_sibling_standing(tx: &mut PgConnection, row: &AssignmentRow) -> Result<bool> {
    let holding = AssignmentStatus::codes(AssignmentStatus::took_the_job);
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE request_id = $1 AND id <> $2 \
           AND ((lead AND status = ANY($3)) OR status = ANY($4)))",
    )
    .bind(row.request_id)
    .bind(row.id)
    .bind(holding)
    .bind(AssignmentStatus::codes(AssignmentStatus::is_active))
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// The open offers of a request, locked.
pub async fn open_offers_of(tx: &mut PgConnection, request_id: Uuid) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE request_id = $1 AND status = $2 ORDER BY id FOR UPDATE",
    )
    .bind(request_id)
    .bind(AssignmentStatus::Offered.code() as i16)
    .fetch_all(tx)
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
    fn the_insert_names_the_predicates_of_the_one_active_indexes() {
        // The index is created by a migration; the insert must name the same predicate, or
        // PostgreSQL cannot infer which index the conflict is about.
        let migration = include_str!("../../migrations/0018_wide_search.sql");
        for predicate in [&*ONE_ACTIVE_PER_REQUEST, &*ONE_ACTIVE_PER_GROUP] {
            assert!(
                migration.contains(&format!("WHERE {predicate};")),
                "{predicate}"
            );
        }
    }
}
