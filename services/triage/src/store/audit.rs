//! The append-only audit log of decisions (UPDATE and DELETE on it are rules that do nothing).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{DecisionRow, Result};

pub async fn audit(
    tx: &mut PgConnection,
    d: &DecisionRow,
    actor: &str,
    reason: &str,
) -> Result<()> {
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
) -> Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT seq, actor, category, priority, required_skills, reason, created_at FROM audit \
         WHERE request_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(request_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
