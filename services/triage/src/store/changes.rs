//! A dispatcher's changes to a decision: an override or a merge, each with its audit entry and
//! its event in one transaction, idempotent on the call's key.

use komek_proto::events::v1 as ev;
use komek_runtime::events::{enqueue, subject};
use sqlx::PgPool;
use uuid::Uuid;

use super::{DecisionRow, Error};

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

/// Applies an override with its audit entry and the re-published decision, in one
/// transaction. A retry with the same key returns the current decision and changes nothing.
pub async fn apply_override(
    pool: &PgPool,
    request_id: Uuid,
    o: &Override,
    event: impl FnOnce(&DecisionRow) -> ev::RequestTriaged,
) -> Result<(DecisionRow, bool), Error> {
    let mut tx = pool.begin().await?;
    let current: DecisionRow =
        sqlx::query_as("SELECT * FROM decisions WHERE request_id = $1 FOR UPDATE")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("name"))?;
    let seen: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit WHERE request_key = $1)")
            .bind(o.key)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        return Ok((current, false));
    }
    if let Some(into) = current.merged_into {
        return Err(Error::Merged(into));
    }
    if o.etag.is_some_and(|e| e != current.version) {
        return Err(Error::EtagMismatch);
    }
    let updated: DecisionRow = sqlx::query_as(
        "UPDATE decisions SET category = COALESCE($2, category), priority = COALESCE($3, priority), \
           required_skills = COALESCE($4, required_skills), overridden = true, confidence = 1, \
           unclassified = false, \
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
    enqueue(&mut tx, subject::REQUEST_TRIAGED, &event(&updated)).await?;
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

/// Merges a duplicate into the request it repeats: marks the decision, records the audit entry
/// and publishes `komek.request.merged`, in one transaction. A retry with the same key returns
/// the merged decision and changes nothing.
pub async fn merge(
    pool: &PgPool,
    m: &Merge,
    event: impl FnOnce(&DecisionRow) -> ev::RequestMerged,
) -> Result<(DecisionRow, bool), Error> {
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
        .ok_or(Error::NotFound("name"))?
        .clone();
    let target = rows
        .iter()
        .find(|r| r.request_id == m.into)
        .ok_or(Error::NotFound("merge_into"))?;
    let seen: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit WHERE request_key = $1)")
            .bind(m.key)
            .fetch_one(&mut *tx)
            .await?;
    if seen {
        return Ok((duplicate, false));
    }
    if let Some(into) = duplicate.merged_into {
        return Err(Error::AlreadyMerged(into));
    }
    if let Some(further) = target.merged_into {
        return Err(Error::TargetMerged(m.into, further));
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
    enqueue(&mut tx, subject::REQUEST_MERGED, &event(&updated)).await?;
    tx.commit().await?;
    Ok((updated, true))
}
