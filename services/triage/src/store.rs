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
}

/// Inserts the first decision of a request; `None` when it was decided before.
pub async fn insert(tx: &mut PgConnection, d: &DecisionRow) -> sqlx::Result<Option<DecisionRow>> {
    sqlx::query_as(
        "INSERT INTO decisions (request_id, reference_code, category, priority, required_skills, \
           confidence, fired_rules, rules_version, possible_duplicate_of, lat, lon, settlement, \
           district, region, people_count, cargo_tonnes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
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
    .fetch_optional(tx)
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
