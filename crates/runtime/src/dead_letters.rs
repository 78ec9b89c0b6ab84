//! Where a service keeps the messages its consumers gave up on (`sql/0002_dead_letters.sql`).
//! The consumer loop (`events`) keeps them; OperationsService (`ops`) lists and replays them.

use sqlx::PgPool;
use uuid::Uuid;

/// The header a replayed message carries its original id in; inboxes key on it.
pub const REPLAY_OF: &str = "Komek-Replay-Of";

/// A message as its consumer last failed on it.
pub struct Failed<'a> {
    pub consumer: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub payload: &'a [u8],
    pub error: &'a str,
    pub deliveries: i32,
}

/// Keeps a message its consumer gave up on. A message that failed before (a replay that failed
/// again) is updated, not doubled.
pub async fn keep(pool: &PgPool, f: &Failed<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dead_letters (id, consumer, subject, message_id, payload, error, deliveries) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (consumer, message_id) DO UPDATE SET error = EXCLUDED.error, \
           deliveries = EXCLUDED.deliveries, failed_at = now(), replayed_at = NULL",
    )
    .bind(Uuid::now_v7())
    .bind(f.consumer)
    .bind(f.subject)
    .bind(f.message_id)
    .bind(f.payload)
    .bind(f.error)
    .bind(f.deliveries)
    .execute(pool)
    .await?;
    Ok(())
}
