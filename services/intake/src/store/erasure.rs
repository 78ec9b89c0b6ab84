//! Erasure of a finished request's personal data: the caller's sealed name and phone, the keyed
//! hash of the phone, the address, the call note, the volunteer note and the create call as
//! fingerprinted for idempotency. The row keeps its facts for statistics.

use chrono::{DateTime, Utc};
use komek_core::RequestStatus;
use komek_runtime::events::{enqueue, subject};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Error, Result, lock};
use crate::events;
use crate::model::{RequestRow, request_columns};

/// Who erased a request when its retention ran out.
pub const RETENTION: &str = "retention";

/// Erases request `id` on behalf of `by`. Returns the row and whether it was erased now (false:
/// it had been already, and is returned as it is).
pub async fn erase(pool: &PgPool, id: Uuid, by: &str, reason: &str) -> Result<(RequestRow, bool)> {
    let mut tx = pool.begin().await?;
    let row = lock(&mut tx, id).await?.ok_or(Error::NotFound)?;
    if row.erased_at.is_some() {
        return Ok((row, false));
    }
    if !row.status().is_finished() {
        return Err(Error::NotFinished(row.status()));
    }
    let erased = erase_locked(&mut tx, id, by, reason).await?;
    tx.commit().await?;
    Ok((erased, true))
}

/// Blanks the row's personal data and enqueues `request.erased`, in the caller's transaction.
async fn erase_locked(
    tx: &mut PgConnection,
    id: Uuid,
    by: &str,
    reason: &str,
) -> Result<RequestRow> {
    let row: RequestRow = sqlx::query_as(concat!(
        "UPDATE requests SET description = '', volunteer_note = '', address = '', \
           caller_name_enc = NULL, caller_phone_enc = NULL, caller_key_id = NULL, \
           caller_blind_index = NULL, create_payload = '\\x', \
           erased_at = now(), erased_by = $2, erase_reason = $3, \
           updated_at = now(), version = version + 1 \
         WHERE id = $1 RETURNING ",
        request_columns!()
    ))
    .bind(id)
    .bind(by)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    enqueue(tx, subject::REQUEST_ERASED, &events::erased(&row)).await?;
    Ok(row)
}

fn finished_statuses() -> Vec<i16> {
    RequestStatus::ALL
        .iter()
        .filter(|s| s.is_finished())
        .map(|s| s.code() as i16)
        .collect()
}

/// Erases up to `limit` requests that finished before `before` and are not erased yet, in one
/// transaction; rows another replica is erasing are skipped. Returns the erased rows.
pub async fn erase_expired(
    pool: &PgPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<RequestRow>> {
    let mut tx = pool.begin().await?;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM requests \
         WHERE erased_at IS NULL AND coalesce(closed_at, resolved_at) < $1 AND status = ANY($2) \
         ORDER BY coalesce(closed_at, resolved_at) LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(before)
    .bind(finished_statuses())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut erased = Vec::with_capacity(due.len());
    for id in due {
        erased.push(erase_locked(&mut tx, id, RETENTION, "retention period ended").await?);
    }
    tx.commit().await?;
    Ok(erased)
}
