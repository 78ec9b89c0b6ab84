//! The dispatch audit log: append-only, idempotent on the call's key.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;

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

pub async fn audit(tx: &mut PgConnection, a: &NewAudit<'_>) -> Result<()> {
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
pub async fn audit_by_key(tx: &mut PgConnection, key: Uuid) -> Result<Option<AuditRow>> {
    sqlx::query_as("SELECT * FROM dispatch_audit WHERE request_key = $1")
        .bind(key)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Audit entries, newest first, optionally of one request; keyset on id.
pub async fn audit_log(
    pool: &PgPool,
    request_id: Option<Uuid>,
    regions: &[String],
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT * FROM dispatch_audit WHERE ($1::uuid IS NULL OR request_id = $1) \
           AND ($2::bigint IS NULL OR id < $2) \
           AND (cardinality($4::text[]) = 0 \
             OR request_id IN (SELECT request_id FROM jobs WHERE region = ANY ($4))) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(request_id)
    .bind(before)
    .bind(limit)
    .bind(regions)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
