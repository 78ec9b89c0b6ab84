//! What the runtime's integration tests share: a nats-server, a database with the outbox,
//! inbox and dead-letter tables, a table handlers write their effects to, and a bus.

use komek_runtime::events::Bus;
use komek_testkit::{Nats, TestDb};
use sqlx::PgPool;

pub async fn setup() -> (Nats, TestDb, PgPool, Bus) {
    let nats = Nats::start();
    let db = TestDb::create().await;
    let pool = PgPool::connect(db.url()).await.unwrap();
    for sql in [
        include_str!("../../sql/0001_events.sql"),
        include_str!("../../sql/0002_dead_letters.sql"),
        include_str!("../../sql/0003_trace_context.sql"),
        include_str!("../../sql/0004_outbox_held.sql"),
        include_str!("../../sql/0005_outbox_pending.sql"),
        include_str!("../../sql/0006_outbox_pending_batches.sql"),
        include_str!("../../sql/0007_outbox_keyed_by_id.sql"),
        "CREATE TABLE effects (message TEXT NOT NULL)",
    ] {
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    }
    let bus = Bus::connect(&nats.url(), "test").await.unwrap();
    (nats, db, pool, bus)
}

/// The effects handlers wrote, in order of their text. Not every test binary reads them.
#[allow(dead_code)]
pub async fn effects(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT message FROM effects ORDER BY message")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// How many messages `consumer` handled with `outcome`, as its metrics say; None before the
/// first. Not every test binary reads them.
#[allow(dead_code)]
pub fn outcome_count(consumer: &str, outcome: &str) -> Option<u64> {
    komek_runtime::metrics::render()
        .lines()
        .find(|l| {
            l.starts_with("komek_consumer_messages_total")
                && l.contains(&format!("consumer=\"{consumer}\""))
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}
