//! The append-only audit log of decisions (UPDATE and DELETE on it are rules that do nothing).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{DecisionRow, Result};

/// The audit entries of decisions `actor` made, in one statement, in their order.
pub async fn audit_many(
    tx: &mut PgConnection,
    decisions: &[DecisionRow],
    actor: &str,
    reason: &str,
) -> Result<()> {
    if decisions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit (request_id, actor, category, priority, required_skills, reason) \
         SELECT u.request_id, $2, u.category, u.priority, u.skills::int2[], $6 \
         FROM unnest($1::uuid[], $3::int2[], $4::int2[], $5::text[]) WITH ORDINALITY \
           AS u(request_id, category, priority, skills, n) \
         ORDER BY u.n",
    )
    .bind(decisions.iter().map(|d| d.request_id).collect::<Vec<_>>())
    .bind(actor)
    .bind(decisions.iter().map(|d| d.category).collect::<Vec<_>>())
    .bind(decisions.iter().map(|d| d.priority).collect::<Vec<_>>())
    .bind(
        decisions
            .iter()
            .map(|d| komek_runtime::db::array_literal(&d.required_skills))
            .collect::<Vec<_>>(),
    )
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
