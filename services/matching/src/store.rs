//! All SQL of matching.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Active statuses, as in the partial unique index `assignments_one_active_per_request`.
pub const ACTIVE: [i16; 4] = [1, 2, 6, 7];

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
}

/// What the matcher knows of a request's history: how many offers it had, which groups
/// already said no, and whether one is active now.
pub struct History {
    pub attempts: i32,
    pub excluded_groups: Vec<Uuid>,
    pub active: bool,
}

pub async fn history(tx: &mut PgConnection, request_id: Uuid) -> sqlx::Result<History> {
    let rows: Vec<(Uuid, i16)> =
        sqlx::query_as("SELECT group_id, status FROM assignments WHERE request_id = $1")
            .bind(request_id)
            .fetch_all(tx)
            .await?;
    Ok(History {
        attempts: rows.len() as i32,
        active: rows.iter().any(|(_, s)| ACTIVE.contains(s)),
        // Declined (3), expired (4), withdrawn (5) and aborted (9) jobs are not offered to the
        // same group again by the matcher; a dispatcher may still choose that group.
        excluded_groups: rows
            .iter()
            .filter(|(_, s)| matches!(s, 3 | 4 | 5 | 9))
            .map(|(g, _)| *g)
            .collect(),
    })
}

/// What taking a place from a group came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Taken,
    Full,
    Resting,
}

/// Takes one unit of the group's capacity, unless it is full or resting after a job. The CHECK
/// on group_load backs this up should two replicas race.
///
/// Only a successful take locks the group's row, and a decision stops at its first success,
/// so a transaction holds at most one group lock: replicas checking the same groups in
/// different orders wait for each other but never deadlock.
pub async fn take_capacity(
    tx: &mut PgConnection,
    group: Uuid,
    capacity: i32,
) -> sqlx::Result<Take> {
    sqlx::query(
        "INSERT INTO group_load (group_id, capacity) VALUES ($1, $2) \
         ON CONFLICT (group_id) DO NOTHING",
    )
    .bind(group)
    .bind(capacity.max(0))
    .execute(&mut *tx)
    .await?;
    // The roster's capacity may have changed since the row was made; the new one applies.
    let taken = sqlx::query(
        "UPDATE group_load SET active = active + 1, capacity = $2 \
         WHERE group_id = $1 AND active < $2 AND (rest_until IS NULL OR rest_until <= now())",
    )
    .bind(group)
    .bind(capacity)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 1 {
        return Ok(Take::Taken);
    }
    let resting: bool = sqlx::query_scalar(
        "SELECT COALESCE(rest_until > now(), false) FROM group_load WHERE group_id = $1",
    )
    .bind(group)
    .fetch_one(&mut *tx)
    .await?;
    Ok(if resting { Take::Resting } else { Take::Full })
}

/// Starts a group's rest after a finished job.
pub async fn start_rest(tx: &mut PgConnection, group: Uuid, minutes: i32) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE group_load SET rest_until = now() + make_interval(mins => $2) WHERE group_id = $1",
    )
    .bind(group)
    .bind(minutes.max(0))
    .execute(tx)
    .await?;
    Ok(())
}

/// Records a progress step with its note and outcome.
pub async fn set_progress(
    tx: &mut PgConnection,
    id: Uuid,
    status: i16,
    reason: &str,
    outcome: i16,
    note: &str,
    proof_uri: &str,
) -> sqlx::Result<AssignmentRow> {
    sqlx::query_as(
        "UPDATE assignments SET status = $2, reason = $3, outcome = $4, note = $5, \
           proof_uri = $6, updated_at = now(), version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(outcome)
    .bind(note)
    .bind(proof_uri)
    .fetch_one(tx)
    .await
}

/// Gives back a unit taken in this transaction.
pub async fn release(tx: &mut PgConnection, group: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE group_load SET active = active - 1 WHERE group_id = $1 AND active > 0")
        .bind(group)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records an offer; `None` when the request already has an active assignment.
pub async fn insert_offer(
    tx: &mut PgConnection,
    a: &AssignmentRow,
) -> sqlx::Result<Option<AssignmentRow>> {
    sqlx::query_as(
        "INSERT INTO assignments (id, request_id, group_id, status, attempt, reference_code, \
           category, priority, required_skills, lat, lon, settlement, district, region, distance_m, \
           offered_at, expire_at, cargo_tonnes) \
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (request_id) WHERE status IN (1, 2, 6, 7) DO NOTHING RETURNING *",
    )
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
    .fetch_optional(tx)
    .await
}

/// Open offers to any of `groups`.
pub async fn open_offers(pool: &PgPool, groups: &[Uuid]) -> sqlx::Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE group_id = ANY($1) AND status = 1 AND expire_at > now() \
         ORDER BY offered_at",
    )
    .bind(groups)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Remembers a closed request; idempotent.
pub async fn close_request(
    tx: &mut PgConnection,
    request_id: Uuid,
    status: i16,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO closed_requests (request_id, status) VALUES ($1, $2) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    finish_job(tx, request_id).await
}

/// The job needs no more attention (done, or its request closed): queues stop looking at it.
pub async fn finish_job(tx: &mut PgConnection, request_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET open = false WHERE request_id = $1")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Assignments by id, in one read.
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = ANY ($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

pub async fn is_closed(tx: &mut PgConnection, request_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM closed_requests WHERE request_id = $1)")
        .bind(request_id)
        .fetch_one(tx)
        .await
}

/// The active assignments of a request, locked.
pub async fn active_of(
    tx: &mut PgConnection,
    request_id: Uuid,
) -> sqlx::Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE request_id = $1 AND status = ANY($2) FOR UPDATE",
    )
    .bind(request_id)
    .bind(ACTIVE.to_vec())
    .fetch_all(tx)
    .await
}

/// Locks an assignment for a state change.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
}

/// Records an accept or decline key; false when the key was seen before.
pub async fn record_action(
    tx: &mut PgConnection,
    key: Uuid,
    assignment: Uuid,
    action: &str,
    volunteer: &str,
) -> sqlx::Result<bool> {
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

/// Moves an assignment to `status`; `release` gives the group's capacity unit back.
pub async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: i16,
    reason: &str,
    release: bool,
) -> sqlx::Result<AssignmentRow> {
    let row: AssignmentRow = sqlx::query_as(
        "UPDATE assignments SET status = $2, reason = $3, updated_at = now(), \
           version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    if release {
        sqlx::query("UPDATE group_load SET active = active - 1 WHERE group_id = $1 AND active > 0")
            .bind(row.group_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(row)
}

/// The next open offer past its expiry, locked; replicas sweeping at once skip each other's.
pub async fn next_expired(tx: &mut PgConnection) -> sqlx::Result<Option<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE status = 1 AND expire_at <= now() \
         ORDER BY expire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(tx)
    .await
}

/// A triaged request as the matcher keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub cargo_tonnes: f64,
}

pub async fn upsert_job(tx: &mut PgConnection, j: &JobRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO jobs (request_id, reference_code, category, priority, required_skills, lat, \
           lon, settlement, district, region, cargo_tonnes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (request_id) DO UPDATE SET category = EXCLUDED.category, \
           priority = EXCLUDED.priority, required_skills = EXCLUDED.required_skills, \
           cargo_tonnes = EXCLUDED.cargo_tonnes, updated_at = now()",
    )
    .bind(j.request_id)
    .bind(&j.reference_code)
    .bind(j.category)
    .bind(j.priority)
    .bind(&j.required_skills)
    .bind(j.lat)
    .bind(j.lon)
    .bind(&j.settlement)
    .bind(&j.district)
    .bind(&j.region)
    .bind(j.cargo_tonnes)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn jobs(tx: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as(
        "SELECT request_id, reference_code, category, priority, required_skills, lat, \
           lon, settlement, district, region, cargo_tonnes FROM jobs WHERE request_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(tx)
    .await
}

/// Places taken per group now.
pub async fn loads(tx: &mut PgConnection) -> sqlx::Result<Vec<(Uuid, i32)>> {
    sqlx::query_as("SELECT group_id, active FROM group_load")
        .fetch_all(tx)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: Uuid,
    pub display_name: String,
    pub total_distance_m: f64,
    pub greedy_distance_m: f64,
    pub unassigned_count: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignItemRow {
    pub request_id: Uuid,
    pub group_id: Option<Uuid>,
    pub distance_m: f64,
}

pub async fn campaign_by_key(tx: &mut PgConnection, key: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM campaigns WHERE request_key = $1")
        .bind(key)
        .fetch_optional(tx)
        .await
}

pub async fn insert_campaign(
    tx: &mut PgConnection,
    c: &CampaignRow,
    key: Uuid,
    validate_only: bool,
    items: &[CampaignItemRow],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO campaigns (id, request_key, display_name, validate_only, total_distance_m, \
           greedy_distance_m, unassigned_count) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id)
    .bind(key)
    .bind(&c.display_name)
    .bind(validate_only)
    .bind(c.total_distance_m)
    .bind(c.greedy_distance_m)
    .bind(c.unassigned_count)
    .execute(&mut *tx)
    .await?;
    for (i, item) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campaign_items (campaign_id, position, request_id, group_id, distance_m) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id)
        .bind(i as i32)
        .bind(item.request_id)
        .bind(item.group_id)
        .bind(item.distance_m)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn campaign(
    pool: &PgPool,
    id: Uuid,
) -> sqlx::Result<Option<(CampaignRow, Vec<CampaignItemRow>)>> {
    let Some(c): Option<CampaignRow> = sqlx::query_as(
        "SELECT id, display_name, total_distance_m, greedy_distance_m, unassigned_count, \
           created_at FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let items = sqlx::query_as(
        "SELECT request_id, group_id, distance_m FROM campaign_items WHERE campaign_id = $1 \
         ORDER BY position",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some((c, items)))
}

/// Records one matching decision with the groups it considered.
pub async fn record_decision(
    tx: &mut PgConnection,
    request_id: Uuid,
    attempt: i32,
    assignment_id: Option<Uuid>,
    candidates: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO decisions (request_id, attempt, assignment_id, escalated, candidates) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request_id)
    .bind(attempt)
    .bind(assignment_id)
    .bind(assignment_id.is_none())
    .bind(candidates)
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub attempt: i32,
    pub assignment_id: Option<Uuid>,
    pub escalated: bool,
    pub candidates: Vec<u8>,
    pub decided_at: DateTime<Utc>,
}

pub async fn decisions(pool: &PgPool, request_id: Uuid) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query_as(
        "SELECT attempt, assignment_id, escalated, candidates, decided_at FROM decisions \
         WHERE request_id = $1 ORDER BY seq",
    )
    .bind(request_id)
    .fetch_all(pool)
    .await
}

/// Records a position fix of an active job, unless a later fix is already recorded. Returns
/// the job's status, or `None` when there is no such assignment.
pub async fn record_position(
    pool: &PgPool,
    id: Uuid,
    lat: f64,
    lon: f64,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<i16>> {
    let status: Option<i16> = sqlx::query_scalar("SELECT status FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    if matches!(status, Some(6 | 7)) {
        sqlx::query(
            "UPDATE assignments SET position_lat = $2, position_lon = $3, position_at = $4 \
             WHERE id = $1 AND status IN (6, 7) AND (position_at IS NULL OR position_at < $4)",
        )
        .bind(id)
        .bind(lat)
        .bind(lon)
        .bind(at)
        .execute(pool)
        .await?;
    }
    Ok(status)
}

/// One entry of the dispatch audit log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub request_id: Uuid,
    pub assignment_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewAudit<'a> {
    pub key: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub request_id: Uuid,
    pub assignment_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub reason: &'a str,
}

pub async fn audit(tx: &mut PgConnection, a: &NewAudit<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dispatch_audit (request_key, actor, action, request_id, assignment_id, \
           group_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.key)
    .bind(a.actor)
    .bind(a.action)
    .bind(a.request_id)
    .bind(a.assignment_id)
    .bind(a.group_id)
    .bind(a.reason)
    .execute(tx)
    .await?;
    Ok(())
}

/// The audit entry a call with this idempotency key made, if any.
pub async fn audit_by_key(tx: &mut PgConnection, key: Uuid) -> sqlx::Result<Option<AuditRow>> {
    sqlx::query_as("SELECT * FROM dispatch_audit WHERE request_key = $1")
        .bind(key)
        .fetch_optional(tx)
        .await
}

/// Audit entries, newest first, optionally of one request; keyset on id.
pub async fn audit_log(
    pool: &PgPool,
    request_id: Option<Uuid>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT * FROM dispatch_audit WHERE ($1::uuid IS NULL OR request_id = $1) \
           AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(request_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Where a job stands for dispatchers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    /// 1 escalated, 2 unassigned, 3 overdue, 0 in no queue.
    pub queue: i16,
    pub since: DateTime<Utc>,
    pub assignment_id: Option<Uuid>,
    pub assignment_status: Option<i16>,
    pub closed_status: Option<i16>,
    /// The last decision's candidates, for an escalation's reasons.
    pub candidates: Option<Vec<u8>>,
}

/// Queue filters, validated.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub queue: Option<i16>,
    pub request_id: Option<Uuid>,
    pub region: String,
    pub district: String,
    pub categories: Vec<i16>,
    pub min_priority: i16,
    /// Keyset: (priority, since, request) of the last item of the previous page.
    pub after: Option<(i16, DateTime<Utc>, Uuid)>,
    pub limit: i64,
    /// Seconds an accepted job may wait before it is en route, by priority code 1..=4.
    pub en_route_within: [f64; 4],
    /// Seconds a job may stay on site.
    pub on_site_within: f64,
}

/// Jobs by queue, most urgent first, then longest waiting. A job is escalated when its last
/// decision escalated and nothing is active; unassigned when nothing is active otherwise;
/// overdue when accepted and not en route in time, or on site too long.
pub async fn queue(pool: &PgPool, f: &QueueFilter) -> sqlx::Result<Vec<QueueRow>> {
    let (after_p, after_t, after_id) = match f.after {
        Some((p, t, id)) => (Some(p), Some(t), Some(id)),
        None => (None, None, None),
    };
    sqlx::query_as(
        "WITH state AS ( \
           SELECT j.request_id, j.reference_code, j.category, j.priority, j.lat, j.lon, \
             j.settlement, j.district, j.region, j.updated_at, \
             a.id AS assignment_id, a.status AS assignment_status, a.updated_at AS a_updated, \
             d.escalated, d.decided_at, d.candidates, c.status AS closed_status \
           FROM jobs j \
           LEFT JOIN LATERAL (SELECT id, status, updated_at FROM assignments \
               WHERE request_id = j.request_id ORDER BY offered_at DESC, id DESC LIMIT 1) a ON true \
           LEFT JOIN LATERAL (SELECT escalated, decided_at, candidates FROM decisions \
               WHERE request_id = j.request_id ORDER BY seq DESC LIMIT 1) d ON true \
           LEFT JOIN closed_requests c ON c.request_id = j.request_id \
           WHERE (j.open AND $1::uuid IS NULL) OR j.request_id = $1 \
         ), queued AS ( \
           SELECT *, CASE \
             WHEN closed_status IS NOT NULL THEN 0 \
             WHEN assignment_status = 8 THEN 0 \
             WHEN assignment_status = 2 AND a_updated < now() - make_interval(secs => ($9::float8[])[priority]) THEN 3 \
             WHEN assignment_status = 7 AND a_updated < now() - make_interval(secs => $10) THEN 3 \
             WHEN assignment_status IN (1, 2, 6, 7) THEN 0 \
             WHEN escalated THEN 1 \
             ELSE 2 END::smallint AS queue, \
           CASE WHEN assignment_status IN (2, 7) THEN a_updated \
             WHEN escalated AND (assignment_status IS NULL OR assignment_status NOT IN (1, 2, 6, 7)) \
               THEN decided_at \
             ELSE greatest(updated_at, coalesce(a_updated, updated_at)) END AS since \
           FROM state \
         ) \
         SELECT request_id, reference_code, category, priority, lat, lon, settlement, district, \
           region, queue, since, assignment_id, assignment_status, closed_status, \
           CASE WHEN queue = 1 THEN candidates END AS candidates \
         FROM queued \
         WHERE ($2::smallint IS NULL OR queue = $2) \
           AND ($3 = '' OR region = $3) AND ($4 = '' OR district = $4) \
           AND (cardinality($5::smallint[]) = 0 OR category = ANY ($5)) \
           AND priority >= $6 \
           AND ($7::smallint IS NULL OR priority < $7 OR (priority = $7 AND (since, request_id) > ($8, $11))) \
         ORDER BY priority DESC, since, request_id LIMIT $12",
    )
    .bind(f.request_id)
    .bind(f.queue)
    .bind(&f.region)
    .bind(&f.district)
    .bind(&f.categories)
    .bind(f.min_priority)
    .bind(after_p)
    .bind(after_t)
    .bind(f.en_route_within.to_vec())
    .bind(f.on_site_within)
    .bind(after_id)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}
