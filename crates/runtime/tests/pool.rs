//! The services' connection pool (`db::connect_and_migrate`) checks a connection before handing
//! it out only when it has been idle for a while. A server restart must still cost at most one
//! failed use of a connection, and none of one that had been idle.

use std::time::Duration;

use komek_runtime::db::connect_and_migrate;
use komek_testkit::{PgStop, Postgres};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

async fn one(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT 1").fetch_one(pool).await
}

/// A server with database `pool`, and a pool of one connection to it (so every use is the
/// same connection until it is replaced).
async fn server() -> (Postgres, PgPool) {
    let pg = Postgres::start();
    pg.create_database("pool").await;
    let pool = connect_and_migrate(&pg.url("pool"), "pooled", 1, &Migrator::DEFAULT)
        .await
        .unwrap();
    assert_eq!(one(&pool).await.unwrap(), 1);
    (pg, pool)
}

#[tokio::test]
async fn a_connection_broken_by_a_restart_fails_once_at_most_then_is_replaced() {
    let (mut pg, pool) = server().await;
    pg.stop(PgStop::Immediate);
    pg.start_again();
    // Used a moment ago, the connection may go out unchecked and fail; its return to the
    // pool finds it broken and closes it.
    let first = one(&pool).await;
    // Let the pool's check on return finish (it runs on its own task).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = one(&pool).await;
    assert_eq!(
        second.as_ref().ok(),
        Some(&1),
        "after one failed use ({first:?}) the pool has a working connection: {second:?}"
    );
}

#[tokio::test]
async fn a_connection_idle_over_a_restart_is_checked_and_replaced_before_use() {
    let (mut pg, pool) = server().await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    pg.stop(PgStop::Immediate);
    pg.start_again();
    assert_eq!(
        one(&pool).await.unwrap(),
        1,
        "an idle connection is checked before it goes out"
    );
}
