//! Retiring a PII key: callers' data stored under a key named in `pii.retire` is encrypted
//! again with the current key, a batch of rows at a time, so that the retired key can then be
//! removed from the configuration. The number of rows under each key is a metric, so the
//! operator sees when none is left.

use std::sync::Arc;
use std::time::Duration;

use komek_runtime::{CancellationToken, metrics};
use sqlx::PgPool;
use uuid::Uuid;

use crate::pii::Vault;

/// Rows per transaction: short enough that a row is locked only for a moment.
const BATCH: i64 = 200;

/// How often the work is looked for again: a replica with an older configuration may still
/// have written under a retired key.
const EVERY: Duration = Duration::from_secs(3600);

const ROWS: &str = "komek_caller_data_rows";
const ROWS_HELP: &str = "Requests whose caller name or phone is encrypted under each PII key.";

/// Encrypts again what is under retired keys, then every [`EVERY`], until `shutdown`.
pub async fn run(pool: PgPool, vault: Arc<Vault>, shutdown: CancellationToken) {
    loop {
        if !vault.retired_key_ids().is_empty() {
            match rekey(&pool, &vault).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(rows = n, "caller data encrypted again with the current key")
                }
                Err(err) => {
                    tracing::warn!(error = %err, "encrypting caller data again failed; retrying later")
                }
            }
        }
        if let Err(err) = count_by_key(&pool, &vault).await {
            tracing::debug!(error = %err, "caller data not counted");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Encrypts every row under a retired key again with the current key. Returns how many.
pub async fn rekey(pool: &PgPool, vault: &Vault) -> anyhow::Result<u64> {
    let mut total = 0;
    // In id order, after the last row seen: a row that does not open is passed over, not
    // read again and again.
    let mut after = Uuid::nil();
    loop {
        let (seen, last) = rekey_batch(pool, vault, after).await?;
        total += seen;
        match last {
            Some(id) => after = id,
            None => return Ok(total),
        }
    }
}

type Sealed = (Uuid, String, Option<Vec<u8>>, Option<Vec<u8>>);

/// One batch after `after`: how many rows were encrypted again, and the last row looked at
/// (None when there were none).
async fn rekey_batch(
    pool: &PgPool,
    vault: &Vault,
    after: Uuid,
) -> anyhow::Result<(u64, Option<Uuid>)> {
    let mut tx = pool.begin().await?;
    // Rows another replica is re-encrypting are skipped, not waited for.
    let rows: Vec<Sealed> = sqlx::query_as(
        "SELECT id, caller_key_id, caller_name_enc, caller_phone_enc FROM request_bodies \
         WHERE caller_key_id = ANY($1) AND id > $2 ORDER BY id LIMIT $3 \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(vault.retired_key_ids())
    .bind(after)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok((0, None));
    };
    let mut done = 0;
    for (id, key_id, name, phone) in &rows {
        let again = |field: &str, sealed: &Option<Vec<u8>>| -> Result<Option<Vec<u8>>, String> {
            let Some(sealed) = sealed else {
                return Ok(None);
            };
            let plain = vault
                .open(key_id, *id, field, sealed)
                .map_err(|e| e.to_string())?;
            Ok(Some(vault.seal(*id, field, &plain)))
        };
        let (name, phone) = match (
            again("caller.display_name", name),
            again("caller.phone", phone),
        ) {
            (Ok(name), Ok(phone)) => (name, phone),
            (Err(err), _) | (_, Err(err)) => {
                // Left as it is: still readable with the old key, if ever.
                tracing::error!(request = %id, key = %key_id, error = %err, "caller data does not open; left under its key");
                continue;
            }
        };
        sqlx::query(
            "UPDATE request_bodies SET caller_name_enc = $2, caller_phone_enc = $3, \
               caller_key_id = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(name)
        .bind(phone)
        .bind(vault.current_key_id())
        .execute(&mut *tx)
        .await?;
        done += 1;
    }
    tx.commit().await?;
    Ok((done, Some(last)))
}

/// Sets the rows-per-key gauge, and warns of rows under a key that is not configured.
async fn count_by_key(pool: &PgPool, vault: &Vault) -> sqlx::Result<()> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT caller_key_id, count(*) FROM requests WHERE caller_key_id IS NOT NULL \
         GROUP BY caller_key_id",
    )
    .fetch_all(pool)
    .await?;
    let mut keys: Vec<&str> = vault.retired_key_ids().iter().map(String::as_str).collect();
    keys.push(vault.current_key_id());
    for key in keys {
        let n = counts.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
        metrics::set(ROWS, ROWS_HELP, &[("key", key)], n as f64);
    }
    for (key, n) in &counts {
        if !vault.knows(key) {
            metrics::set(ROWS, ROWS_HELP, &[("key", key.as_str())], *n as f64);
            tracing::error!(key = %key, rows = n, "caller data under a PII key that is not configured cannot be read");
        }
    }
    Ok(())
}
