//! Every matching decision of a request, with the candidates it looked at.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;

/// Records one matching decision with the groups it considered.
pub async fn record_decision(
    tx: &mut PgConnection,
    request_id: Uuid,
    attempt: i32,
    assignment_id: Option<Uuid>,
    candidates: &[u8],
    reasons: &[i16],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO decisions (request_id, attempt, assignment_id, escalated, candidates, \
           reasons) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(request_id)
    .bind(attempt)
    .bind(assignment_id)
    .bind(assignment_id.is_none())
    .bind(candidates)
    .bind(reasons)
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
    pub reasons: Vec<i16>,
}

pub async fn decisions(pool: &PgPool, request_id: Uuid) -> Result<Vec<DecisionRow>> {
    sqlx::query_as(
        "SELECT attempt, assignment_id, escalated, candidates, decided_at, reasons FROM decisions \
         WHERE request_id = $1 ORDER BY seq",
    )
    .bind(request_id)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
