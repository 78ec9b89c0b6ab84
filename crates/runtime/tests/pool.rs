//! The services' connection pool (`db::connect_and_migrate`) checks a connection before handing
//! it out only when it has been idle for a while. A server restart must still cost at most one
//! failed use of a connection, and none of one that had been idle.

use std::time::Duration;

use komek_runtime::db::{WARM_KEPT, Warm, begin_generic, connect_and_migrate};
use komek_testkit::{PgStop, Postgres};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgPool};

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

async fn backend(conn: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_kept_connection_serves_the_next_call_and_one_not_kept_goes_back_to_the_pool() {
    let (_pg, pool) = server().await;
    let warm = Warm::new(pool.clone());
    let mut conn = warm.acquire().await.unwrap();
    let first = backend(&mut conn).await;
    conn.keep();
    assert_eq!(warm.kept(), 1);
    let mut conn = warm.acquire().await.unwrap();
    assert_eq!(warm.kept(), 0, "handed out again");
    assert_eq!(backend(&mut conn).await, first, "the same connection");
    // Not kept (the call failed or was abandoned): the pool of one has it back.
    drop(conn);
    assert_eq!(warm.kept(), 0);
    assert_eq!(one(&pool).await.unwrap(), 1);
}

#[tokio::test]
async fn a_call_abandoned_inside_its_transaction_leaves_nothing_behind() {
    let (pg, pool) = server().await;
    sqlx::query("CREATE TABLE t (n INT)")
        .execute(&pool)
        .await
        .unwrap();
    let warm = Warm::new(pool.clone());
    let mut conn = warm.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    drop(conn);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // The same connection (the pool has one), out of the abandoned transaction: what it
    // writes now is committed at once, for another connection to see.
    let mut conn = warm.acquire().await.unwrap();
    sqlx::query("INSERT INTO t VALUES (2)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut other = sqlx::PgConnection::connect(&pg.url("pool")).await.unwrap();
    let seen: Vec<i32> = sqlx::query_scalar("SELECT n FROM pooled.t")
        .fetch_all(&mut other)
        .await
        .unwrap();
    assert_eq!(seen, vec![2]);
}

#[tokio::test]
async fn a_kept_connection_idle_over_a_restart_goes_back_to_the_pool_to_be_checked() {
    let (mut pg, pool) = server().await;
    let warm = Warm::new(pool.clone());
    let mut conn = warm.acquire().await.unwrap();
    backend(&mut conn).await;
    conn.keep();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    pg.stop(PgStop::Immediate);
    pg.start_again();
    let mut conn = warm.acquire().await.unwrap();
    let n: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *conn)
        .await
        .expect("an idle kept connection is not handed out unchecked");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn no_more_connections_are_kept_than_the_bound() {
    let pg = Postgres::start();
    pg.create_database("pool").await;
    let pool = connect_and_migrate(&pg.url("pool"), "pooled", 8, &Migrator::DEFAULT)
        .await
        .unwrap();
    let warm = Warm::new(pool.clone());
    let mut conns = Vec::new();
    for _ in 0..WARM_KEPT + 2 {
        let mut conn = warm.acquire().await.unwrap();
        backend(&mut conn).await;
        conns.push(conn);
    }
    for conn in conns {
        conn.keep();
    }
    assert_eq!(warm.kept(), WARM_KEPT);
}

/// Connections kept by calls that then stopped coming leave the keeper by themselves once
/// idle (closed, the pool opening others), where before they waited for the keeper's next use:
/// a keeper of a pool's every connection starved its other users.
#[tokio::test]
async fn kept_connections_left_unused_go_back_to_the_pool() {
    let pg = Postgres::start();
    pg.create_database("pool").await;
    let pool = connect_and_migrate(&pg.url("pool"), "pooled", 2, &Migrator::DEFAULT)
        .await
        .unwrap();
    let warm = Warm::new(pool.clone());
    let (mut a, mut b) = (warm.acquire().await.unwrap(), warm.acquire().await.unwrap());
    backend(&mut a).await;
    backend(&mut b).await;
    a.keep();
    b.keep();
    assert_eq!(warm.kept(), 2);
    let soon = Duration::from_millis(300);
    assert!(
        tokio::time::timeout(soon, pool.acquire()).await.is_err(),
        "the keeper holds the pool's two connections"
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(warm.kept(), 0);
    let conn = tokio::time::timeout(soon, pool.acquire()).await;
    assert!(matches!(conn, Ok(Ok(_))), "room in the pool again");
}

/// How often PostgreSQL planned `statement`, prepared on this connection, for its own call
/// (custom) and how often it took the plan made once (generic).
async fn plans(conn: &mut sqlx::PgConnection, statement: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT custom_plans, generic_plans FROM pg_prepared_statements WHERE statement = $1",
    )
    .bind(statement)
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_statement_over_an_array_in_a_generic_transaction_is_not_planned_for_each_call() {
    let (_pg, pool) = server().await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); \
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10000) g; \
         ANALYZE items",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    const READ: &str = "SELECT i.name FROM unnest($1::int[]) AS u(id) JOIN items i USING (id)";
    let read = async |conn: &mut sqlx::PgConnection, id: i32| {
        let names: Vec<String> = sqlx::query_scalar(READ)
            .bind(vec![id])
            .fetch_all(conn)
            .await
            .unwrap();
        assert_eq!(names, [format!("item {id}")]);
    };
    // Called one id at a time, the statement is planned again for every call: its plan for
    // one element costs less than the generic plan, costed for ten.
    for id in 1..=10 {
        read(&mut conn, id).await;
    }
    let (custom, _) = plans(&mut conn, READ).await;
    assert_eq!(custom, 10, "PostgreSQL keeps planning each call");

    for id in 11..=20 {
        let mut tx = begin_generic(&mut conn).await.unwrap();
        read(&mut tx, id).await;
        tx.commit().await.unwrap();
    }
    assert_eq!(
        plans(&mut conn, READ).await,
        (10, 10),
        "in a generic transaction every call takes the plan made once"
    );
    // The setting was the transactions' own: outside them the connection plans as before.
    read(&mut conn, 21).await;
    assert_eq!(plans(&mut conn, READ).await, (11, 10));
}

async fn plan_mode(conn: &mut sqlx::PgConnection) -> String {
    sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// A keeper's statement runs alone, in its own transaction, on the plan made once; the
/// connection goes back to the pool (after a failed call) planning as PostgreSQL chooses.
#[tokio::test]
async fn a_kept_statement_needs_no_transaction_and_leaves_no_setting_in_the_pool() {
    let (_pg, pool) = server().await;
    sqlx::query("CREATE TABLE items (id int PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    const READ: &str = "SELECT count(*) FROM unnest($1::int[]) AS u(id) JOIN items i USING (id)";
    let warm = Warm::new(pool.clone());
    let (mode, first_tx, second_tx, pid) = warm
        .statement(async |conn| {
            let mode = plan_mode(conn).await;
            let txid = async |conn: &mut sqlx::PgConnection| -> i64 {
                sqlx::query_scalar("SELECT txid_current()")
                    .fetch_one(conn)
                    .await
                    .unwrap()
            };
            let (first, second) = (txid(conn).await, txid(conn).await);
            Ok::<_, sqlx::Error>((mode, first, second, backend(conn).await))
        })
        .await
        .unwrap();
    assert_eq!(mode, "force_generic_plan");
    assert_ne!(
        first_tx, second_tx,
        "each statement is a transaction of its own"
    );
    for id in 1..=10 {
        let n: i64 = warm
            .statement(async |conn| {
                sqlx::query_scalar(READ)
                    .bind(vec![id])
                    .fetch_one(conn)
                    .await
            })
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
    let (custom, generic) = warm
        .statement(async |conn| Ok::<_, sqlx::Error>(plans(conn, READ).await))
        .await
        .unwrap();
    assert_eq!((custom, generic), (0, 10), "the plan made once, every call");
    assert_eq!(warm.kept(), 1);

    // A call that failed: its connection goes back to the pool of one, reset.
    let failed = warm
        .statement(async |conn| {
            sqlx::query("SELECT 1 / 0").execute(conn).await?;
            Ok::<_, sqlx::Error>(())
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(warm.kept(), 0);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        backend(&mut conn).await,
        pid,
        "the same connection, not closed"
    );
    assert_eq!(plan_mode(&mut conn).await, "auto");
}

/// A connection the keeper has no room for goes back to the pool reset too.
#[tokio::test]
async fn a_connection_beyond_the_bound_goes_back_to_the_pool_without_the_setting() {
    let pg = Postgres::start();
    pg.create_database("pool").await;
    let pool = connect_and_migrate(
        &pg.url("pool"),
        "pooled",
        WARM_KEPT as u32 + 1,
        &Migrator::DEFAULT,
    )
    .await
    .unwrap();
    let warm = Warm::new(pool.clone());
    let mut conns = Vec::new();
    for _ in 0..=WARM_KEPT {
        let mut conn = warm.acquire().await.unwrap();
        assert_eq!(plan_mode(&mut conn).await, "force_generic_plan");
        conns.push(conn);
    }
    for conn in conns {
        conn.keep();
    }
    assert_eq!(warm.kept(), WARM_KEPT);
    // The pool is full: the one connection it can hand out is the one given back.
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(plan_mode(&mut conn).await, "auto");
}

/// A service's connections plan without JIT compilation, even for a statement whose estimate
/// is far above the server's threshold for it.
#[tokio::test]
async fn a_services_connections_do_not_compile_their_plans() {
    let (_pg, pool) = server().await;
    let jit: String = sqlx::query_scalar("SHOW jit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jit, "off");
    // EXPLAIN names the JIT's work when the plan would use it.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 1000) b",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!plan.iter().any(|line| line.contains("JIT")), "{plan:#?}");
}
