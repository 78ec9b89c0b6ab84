//! All SQL of triage.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A stored decision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub confidence: f64,
    pub fired_rules: Vec<String>,
    pub rules_version: String,
    pub overridden: bool,
    pub possible_duplicate_of: Option<Uuid>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub people_count: i32,
    pub cargo_tonnes: f64,
    pub decided_at: DateTime<Utc>,
    pub version: i64,
    pub fired_explanations: Vec<String>,
    pub caller_blind_index: Option<Vec<u8>>,
    pub request_created_at: DateTime<Utc>,
    pub merged_into: Option<Uuid>,
}

/// Inserts the first decision of a request; `None` when it was decided before.
pub async fn insert(tx: &mut PgConnection, d: &DecisionRow) -> sqlx::Result<Option<DecisionRow>> {
    sqlx::query_as(
        "INSERT INTO decisions (request_id, reference_code, category, priority, required_skills, \
           confidence, fired_rules, rules_version, possible_duplicate_of, lat, lon, settlement, \
           district, region, people_count, cargo_tonnes, fired_explanations, caller_blind_index, \
           request_created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
           $19) \
         ON CONFLICT (request_id) DO NOTHING RETURNING *",
    )
    .bind(d.request_id)
    .bind(&d.reference_code)
    .bind(d.category)
    .bind(d.priority)
    .bind(&d.required_skills)
    .bind(d.confidence)
    .bind(&d.fired_rules)
    .bind(&d.rules_version)
    .bind(d.possible_duplicate_of)
    .bind(d.lat)
    .bind(d.lon)
    .bind(&d.settlement)
    .bind(&d.district)
    .bind(&d.region)
    .bind(d.people_count)
    .bind(d.cargo_tonnes)
    .bind(&d.fired_explanations)
    .bind(&d.caller_blind_index)
    .bind(d.request_created_at)
    .fetch_optional(tx)
    .await
}

/// Earlier requests a new one might repeat: the same caller within `caller_secs`, or the same
/// category within `place_secs`, not merged away. Takes a transaction-scoped lock first, so two
/// replicas classifying at once see each other's decisions and link consistently.
pub async fn duplicate_candidates(
    tx: &mut PgConnection,
    request_id: Uuid,
    created_at: DateTime<Utc>,
    caller: Option<&[u8]>,
    category: i16,
    caller_secs: i64,
    place_secs: i64,
) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('komek.triage.duplicates'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query_as(
        "SELECT * FROM decisions WHERE request_id <> $1 AND merged_into IS NULL \
           AND request_created_at <= $2 AND ( \
             (caller_blind_index = $3 AND request_created_at >= $2 - make_interval(secs => $5)) \
             OR (category = $4 AND request_created_at >= $2 - make_interval(secs => $6))) \
         ORDER BY request_created_at LIMIT 500",
    )
    .bind(request_id)
    .bind(created_at)
    .bind(caller)
    .bind(category)
    .bind(caller_secs as f64)
    .bind(place_secs as f64)
    .fetch_all(tx)
    .await
}

pub async fn audit(
    tx: &mut PgConnection,
    d: &DecisionRow,
    actor: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit (request_id, actor, category, priority, required_skills, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.request_id)
    .bind(actor)
    .bind(d.category)
    .bind(d.priority)
    .bind(&d.required_skills)
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, request_id: Uuid) -> sqlx::Result<Option<DecisionRow>> {
    sqlx::query_as("SELECT * FROM decisions WHERE request_id = $1")
        .bind(request_id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub actor: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

pub async fn audit_page(
    pool: &PgPool,
    request_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT seq, actor, category, priority, required_skills, reason, created_at FROM audit \
         WHERE request_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(request_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A dispatcher's correction, already validated.
#[derive(Debug, Clone)]
pub struct Override {
    pub key: Uuid,
    pub category: Option<i16>,
    pub priority: Option<i16>,
    pub skills: Option<Vec<i16>>,
    pub reason: String,
    pub etag: Option<i64>,
    pub actor: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("no triage decision for this request yet")]
    NotFound,
    #[error("etag does not match; the decision changed meanwhile")]
    EtagMismatch,
    #[error("the request was merged into requests/{0}; change that one instead")]
    Merged(Uuid),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Applies an override with its audit entry and the re-published decision, in one
/// transaction. A retry with the same key returns the current decision and changes nothing.
pub async fn apply_override(
    pool: &PgPool,
    request_id: Uuid,
    o: &Override,
    event: impl FnOnce(&DecisionRow) -> komek_proto::events::v1::RequestTriaged,
) -> Result<(DecisionRow, bool), OverrideError> {
    let mut tx = pool.begin().await?;
    let current: DecisionRow =
        sqlx::query_as("SELECT * FROM decisions WHERE request_id = $1 FOR UPDATE")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(OverrideError::NotFound)?;
    let seen: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit WHERE request_key = $1)")
            .bind(o.key)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        return Ok((current, false));
    }
    if let Some(into) = current.merged_into {
        return Err(OverrideError::Merged(into));
    }
    if o.etag.is_some_and(|e| e != current.version) {
        return Err(OverrideError::EtagMismatch);
    }
    let updated: DecisionRow = sqlx::query_as(
        "UPDATE decisions SET category = COALESCE($2, category), priority = COALESCE($3, priority), \
           required_skills = COALESCE($4, required_skills), overridden = true, confidence = 1, \
           decided_at = now(), version = version + 1 WHERE request_id = $1 RETURNING *",
    )
    .bind(request_id)
    .bind(o.category)
    .bind(o.priority)
    .bind(&o.skills)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit (request_id, actor, category, priority, required_skills, reason, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(request_id)
    .bind(&o.actor)
    .bind(updated.category)
    .bind(updated.priority)
    .bind(&updated.required_skills)
    .bind(&o.reason)
    .bind(o.key)
    .execute(&mut *tx)
    .await?;
    komek_runtime::events::enqueue(
        &mut tx,
        komek_runtime::events::subject::REQUEST_TRIAGED,
        &event(&updated),
    )
    .await?;
    tx.commit().await?;
    Ok((updated, true))
}

/// A dispatcher's merge, already validated.
#[derive(Debug, Clone)]
pub struct Merge {
    pub key: Uuid,
    pub duplicate: Uuid,
    pub into: Uuid,
    pub reason: String,
    pub actor: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no triage decision for {0} yet")]
    NotFound(&'static str),
    #[error("the request was already merged into requests/{0}")]
    AlreadyMerged(Uuid),
    #[error("requests/{0} was itself merged into requests/{1}; merge into that one")]
    TargetMerged(Uuid, Uuid),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Merges a duplicate into the request it repeats: marks the decision, records the audit entry
/// and publishes `komek.request.merged`, in one transaction. A retry with the same key returns
/// the merged decision and changes nothing.
pub async fn merge(
    pool: &PgPool,
    m: &Merge,
    event: impl FnOnce(&DecisionRow) -> komek_proto::events::v1::RequestMerged,
) -> Result<(DecisionRow, bool), MergeError> {
    let mut tx = pool.begin().await?;
    // Both rows, locked in id order so two merges of the same pair cannot deadlock.
    let rows: Vec<DecisionRow> = sqlx::query_as(
        "SELECT * FROM decisions WHERE request_id = ANY($1) ORDER BY request_id FOR UPDATE",
    )
    .bind(vec![m.duplicate, m.into])
    .fetch_all(&mut *tx)
    .await?;
    let duplicate = rows
        .iter()
        .find(|r| r.request_id == m.duplicate)
        .ok_or(MergeError::NotFound("name"))?
        .clone();
    let target = rows
        .iter()
        .find(|r| r.request_id == m.into)
        .ok_or(MergeError::NotFound("merge_into"))?;
    let seen: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit WHERE request_key = $1)")
            .bind(m.key)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        return Ok((duplicate, false));
    }
    if let Some(into) = duplicate.merged_into {
        return Err(MergeError::AlreadyMerged(into));
    }
    if let Some(further) = target.merged_into {
        return Err(MergeError::TargetMerged(m.into, further));
    }
    let updated: DecisionRow = sqlx::query_as(
        "UPDATE decisions SET merged_into = $2, possible_duplicate_of = $2, \
           version = version + 1 WHERE request_id = $1 RETURNING *",
    )
    .bind(m.duplicate)
    .bind(m.into)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit (request_id, actor, category, priority, required_skills, reason, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(m.duplicate)
    .bind(&m.actor)
    .bind(updated.category)
    .bind(updated.priority)
    .bind(&updated.required_skills)
    .bind(format!("merged into requests/{}: {}", m.into, m.reason))
    .bind(m.key)
    .execute(&mut *tx)
    .await?;
    komek_runtime::events::enqueue(
        &mut tx,
        komek_runtime::events::subject::REQUEST_MERGED,
        &event(&updated),
    )
    .await?;
    tx.commit().await?;
    Ok((updated, true))
}
