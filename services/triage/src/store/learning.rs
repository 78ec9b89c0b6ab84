//! Overridden decisions, read back as labelled examples.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::Result;

/// A decision a dispatcher changed: its note and what the dispatcher chose.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverriddenRow {
    pub request_id: Uuid,
    pub note: String,
    pub region: String,
    pub category: i16,
    pub priority: i16,
}

/// Decisions overridden at or after `since` whose category or priority the dispatcher changed
/// from what triage said first (its automatic audit entry), oldest first. Notes stored before the note was kept are left out: they teach nothing.
pub async fn overridden(pool: &PgPool, since: Option<DateTime<Utc>>) -> Result<Vec<OverriddenRow>> {
    sqlx::query_as(
        "SELECT d.request_id, d.note, d.region, d.category, d.priority \
         FROM decisions d \
         JOIN LATERAL (SELECT category, priority FROM audit \
           WHERE audit.request_id = d.request_id AND actor = 'services/triage' \
           ORDER BY seq LIMIT 1) a ON true \
         WHERE d.overridden AND d.note <> '' AND d.merged_into IS NULL \
           AND ($1::timestamptz IS NULL OR d.decided_at >= $1) \
           AND (d.category <> a.category OR d.priority <> a.priority) \
         ORDER BY d.decided_at, d.request_id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
