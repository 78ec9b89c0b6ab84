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
