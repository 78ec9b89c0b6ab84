//! SQL of API keys. Every change enqueues the key's new state in the same transaction, so every
//! service's keyring learns it.

use komek_runtime::db::{self, Replay};
use komek_runtime::events::{enqueue, subject};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Error, Result};
use crate::events;
use crate::model::{KeyRow, NewKey, Subject};

const COLUMNS: &str = "id, display_name, role, subject, regions, secret_hash, expire_at, creator, \
    created_at, revoked_at, revoke_reason, revision";

pub enum Created {
    Fresh(KeyRow),
    /// A retry: the key created first, whose secret is gone.
    Replayed(KeyRow),
}

async fn publish(tx: &mut PgConnection, k: &KeyRow) -> Result<()> {
    enqueue(
        tx,
        &subject::access_key(&k.id.to_string()),
        &events::key_state(k),
    )
    .await?;
    Ok(())
}

/// Enqueues the state of every key, revoked ones included, for an empty access stream (see
/// `komek_runtime::events::restore_streams`). Returns how many.
pub async fn publish_all(tx: &mut PgConnection) -> Result<u64> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))
        .fetch_all(&mut *tx)
        .await?;
    for row in &rows {
        publish(tx, row).await?;
    }
    Ok(rows.len() as u64)
}

pub async fn create(
    pool: &PgPool,
    new: &NewKey,
    subject_kind: Subject,
    payload: &[u8],
) -> Result<Created> {
    let mut tx = pool.begin().await?;
    match db::replay(&mut *tx, "api_keys", new.request_id, payload).await? {
        Replay::Same(id) => return Ok(Created::Replayed(get(pool, id).await?)),
        Replay::Clash => return Err(Error::IdempotencyClash("api key")),
        Replay::Fresh => {}
    }
    let exists = match subject_kind {
        Subject::Volunteer(id) => {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM volunteers WHERE id = $1)")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
        }
        Subject::Organization(id) => {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
        }
        Subject::Named => true,
    };
    if !exists {
        return Err(Error::NotFound("subject"));
    }
    let row: KeyRow = sqlx::query_as(&format!(
        "INSERT INTO api_keys (id, idempotency_key, create_payload, display_name, role, subject, \
           regions, secret_hash, expire_at, creator) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.request_id)
    .bind(payload)
    .bind(&new.display_name)
    .bind(new.role)
    .bind(&new.subject)
    .bind(&new.regions)
    .bind(&new.secret_hash)
    .bind(new.expire_at)
    .bind(&new.creator)
    .fetch_one(&mut *tx)
    .await?;
    publish(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Created::Fresh(row))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<KeyRow> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound("api key"))
}

pub async fn list(
    pool: &PgPool,
    subject: Option<&str>,
    include_revoked: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<KeyRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys \
         WHERE ($1::text IS NULL OR subject = $1) AND ($2 OR revoked_at IS NULL) \
           AND ($3::uuid IS NULL OR id > $3) \
         ORDER BY id LIMIT $4"
    ))
    .bind(subject)
    .bind(include_revoked)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Revokes a key; revoking a revoked key changes nothing and returns it.
pub async fn revoke(pool: &PgPool, id: Uuid, reason: &str) -> Result<KeyRow> {
    let mut tx = pool.begin().await?;
    let revoked: Option<KeyRow> = sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = now(), revoke_reason = $2, revision = revision + 1 \
         WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = revoked else {
        return get(pool, id).await;
    };
    publish(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Revokes every live key of `subject` ("volunteers/{id}") in `tx`, publishing each.
pub(super) async fn revoke_all_of(
    tx: &mut PgConnection,
    subject: &str,
    reason: &str,
) -> Result<u64> {
    let revoked: Vec<KeyRow> = sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = now(), revoke_reason = $2, revision = revision + 1 \
         WHERE subject = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(subject)
    .bind(reason)
    .fetch_all(&mut *tx)
    .await?;
    for row in &revoked {
        publish(tx, row).await?;
    }
    Ok(revoked.len() as u64)
}
