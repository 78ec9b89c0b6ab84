//! Retention: every `retention_sweep_secs`, requests that finished more than `retention_secs`
//! ago have their caller identity, address and notes erased (`store::erasure`), in batches, each
//! with its `komek.request.erased` event. Replicas share the work: a batch skips the rows
//! another is erasing.

use std::time::Duration;

use chrono::Utc;
use komek_runtime::CancellationToken;
use komek_runtime::events::Bus;
use sqlx::PgPool;

use crate::store;

/// Requests erased per transaction: short transactions, steady progress through a backlog.
const BATCH: i64 = 200;

/// Sweeps every `every` until `shutdown`; `keep` is how long a finished request keeps its
/// personal data.
pub async fn run(
    pool: PgPool,
    bus: Bus,
    keep: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let Ok(keep) = chrono::Duration::from_std(keep) else {
        tracing::warn!("retention period out of range; nothing will be erased by age");
        return;
    };
    loop {
        match sweep(&pool, keep).await {
            Ok(0) => {}
            Ok(erased) => {
                tracing::info!(erased, "finished requests past their retention erased");
                bus.wake_outbox();
            }
            Err(err) => tracing::warn!(error = %err, "retention sweep failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Erases every request due, batch by batch. Returns how many.
async fn sweep(pool: &PgPool, keep: chrono::Duration) -> anyhow::Result<usize> {
    let before = Utc::now() - keep;
    let mut total = 0;
    loop {
        let erased = store::erasure::erase_expired(pool, before, BATCH).await?;
        for row in &erased {
            tracing::debug!(request = %row.id, reference = %row.reference_code,
                "request erased after its retention");
        }
        total += erased.len();
        if erased.len() < BATCH as usize {
            return Ok(total);
        }
    }
}
