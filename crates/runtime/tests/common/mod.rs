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
        "CREATE TABLE effects (message TEXT NOT NULL)",
    ] {
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    }
    let bus = Bus::connect(&nats.url(), "test").await.unwrap();
    (nats, db, pool, bus)
}
