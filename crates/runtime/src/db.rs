//! PostgreSQL: each service keeps its tables in its own schema of a shared database, so
//! services can share a server without sharing tables, and a schema can later move to its own
//! server unchanged.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

/// A pooled connection idle at least this long is checked before it is handed out.
pub(crate) const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Connects, creates `schema` when missing, and runs the service's migrations inside it.
pub async fn connect_and_migrate(
    url: &str,
    schema: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?;
    {
        let mut conn = PgConnection::connect_with(&options).await?;
        // Two replicas starting together may both try to create it; the lock orders them.
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('komek.schema.' || $1))")
            .bind(schema)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    // Every connection of the pool sees only the service's schema (plus pg_catalog). JIT is
    // off: a service's statements run in milliseconds, and a plan whose estimate crossed the
    // JIT threshold (a young table's statistics, a count over the open jobs) spent 0.3–0.9 s
    // compiling itself for an execution of 0.1 s (BENCHMARKS.md, step 52).
    let mut options = options.options([("search_path", schema), ("jit", "off")]);
    // Named in pg_stat_activity and the server's log by the service, unless the URL names it.
    if options.get_application_name().is_none() {
        options = options.application_name(&format!("komek-{schema}"));
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // By default the pool checks every connection with a round trip to the server before
        // handing it out (and sqlx checks it again when it comes back). Under load a connection
        // comes back and goes out again within milliseconds, and those checks were a tenth of
        // intake's CPU in the pipeline (RevealCaller and the reads take a connection a call).
        // A connection in use a moment ago is known to work, so only one idle for a while is
        // checked; one broken since its last use (the server restarted) fails that one use
        // and is closed by the check on its return.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// Connections kept between calls rather than given back to the pool. sqlx tests every
/// connection that comes back to its pool with a round trip to the server, so a handler that
/// takes one for each call (AcceptOffer, RevealCaller) paid a round trip per call for nothing
/// it needed. A connection is kept only after a call that went through ([`WarmConn::keep`]):
/// one dropped after a failure or an abandoned call goes back to the pool, whose test closes
/// a broken connection and finishes an interrupted exchange. At most [`WARM_KEPT`] are kept,
/// and one unused for [`CHECK_IDLE_AFTER`] goes back to the pool, which tests it before
/// handing it out again (the server may have restarted meanwhile) — at the keeper's next use;
/// when there is none, a task of its own closes it within another [`CHECK_IDLE_AFTER`], so that
/// connections kept by calls that stopped coming never starve the pool's other users.
///
/// Its connections plan every statement generically for as long as it has them (see
/// [`begin_generic`]; set for the session when one comes from the pool), so a call of one
/// statement ([`Warm::statement`]) needs no transaction around it; a connection it gives back
/// has the setting reset first, so the pool's other users plan as PostgreSQL chooses.
pub struct Warm {
    pool: PgPool,
    idle: Arc<std::sync::Mutex<Kept>>,
    /// Whether the task closing stale connections runs ([`Warm::sweep`]).
    sweeping: Arc<AtomicBool>,
}

/// The connections a [`Warm`] keeps, each with when it was kept, oldest first.
type Kept = Vec<(PoolConnection<Postgres>, Instant)>;

/// Connections a [`Warm`] keeps at most: what a burst of concurrent calls uses, well within
/// a pool's size, so the pool's other users are not starved.
pub const WARM_KEPT: usize = 4;

/// A connection taken from a [`Warm`]; it goes back to the pool when dropped, unless kept.
pub struct WarmConn<'a> {
    warm: &'a Warm,
    conn: Option<PoolConnection<Postgres>>,
}

impl Warm {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            idle: Arc::default(),
            sweeping: Arc::default(),
        }
    }

    /// The most recently kept connection still fresh, else one from the pool.
    pub async fn acquire(&self) -> sqlx::Result<WarmConn<'_>> {
        let (fresh, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let stale = Self::take_stale(&mut idle);
            (idle.pop().map(|(conn, _)| conn), stale)
        };
        // Outside the lock: each reset (a round trip, which also finds one a restart broke
        // and closes it) and back to the pool.
        stale.into_iter().for_each(give_back);
        let conn = match fresh {
            Some(conn) => conn,
            None => {
                let mut conn = self.pool.acquire().await?;
                sqlx::query(SESSION_GENERIC).execute(&mut *conn).await?;
                conn
            }
        };
        Ok(WarmConn {
            warm: self,
            conn: Some(conn),
        })
    }

    /// Kept connections idle too long, oldest first (they are kept in the order they came).
    fn take_stale(
        idle: &mut Vec<(PoolConnection<Postgres>, Instant)>,
    ) -> Vec<PoolConnection<Postgres>> {
        let fresh_from = idle
            .iter()
            .position(|(_, since)| since.elapsed() < CHECK_IDLE_AFTER)
            .unwrap_or(idle.len());
        idle.drain(..fresh_from).map(|(conn, _)| conn).collect()
    }

    fn keep(&self, conn: PoolConnection<Postgres>) {
        let surplus = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut surplus = Self::take_stale(&mut idle);
            if idle.len() < WARM_KEPT {
                idle.push((conn, Instant::now()));
            } else {
                surplus.push(conn);
            }
            surplus
        };
        surplus.into_iter().for_each(give_back);
        self.sweep();
    }

    /// Starts the task that closes kept connections once stale, unless it runs: it looks
    /// every [`CHECK_IDLE_AFTER`] and ends when none is kept.
    fn sweep(&self) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let (idle, sweeping) = (self.idle.clone(), self.sweeping.clone());
        runtime.spawn(async move {
            let kept = |idle: &std::sync::Mutex<Kept>| {
                !idle.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
            };
            loop {
                tokio::time::sleep(CHECK_IDLE_AFTER).await;
                let stale = Self::take_stale(&mut idle.lock().unwrap_or_else(|e| e.into_inner()));
                // Closed, not given back: the pool would count its idle time from now and hand
                // it out unchecked after a restart that came meanwhile. The pool opens another
                // when one is wanted.
                for conn in stale {
                    let _ = conn.close().await;
                }
                if kept(&idle) {
                    continue;
                }
                sweeping.store(false, Ordering::Release);
                // A connection kept since the look above found the task running and started
                // none: look again, and go on unless another task took over.
                if !kept(&idle) || sweeping.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }

    /// Runs `work`, one statement (its own transaction), on a connection of this keeper, on
    /// the statement's generic plan: one round trip where a transaction around it takes three
    /// (the `BEGIN` with its `SET LOCAL`, the statement, the `COMMIT`). The connection is kept
    /// for the next call when the statement went through, and goes back to the pool otherwise.
    /// Work of several statements that must commit together takes a connection
    /// ([`Warm::acquire`]) and begins its own transaction.
    pub async fn statement<T, E>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<sqlx::Error>,
    {
        let mut conn = self.acquire().await?;
        let out = work(&mut conn).await?;
        conn.keep();
        Ok(out)
    }

    /// How many connections are kept now.
    pub fn kept(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl WarmConn<'_> {
    /// The call went through: the connection is fit for the next one.
    pub fn keep(mut self) {
        if let Some(conn) = self.conn.take() {
            self.warm.keep(conn);
        }
    }
}

impl Drop for WarmConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            give_back(conn);
        }
    }
}

/// What a [`Warm`] sets on a connection it takes from the pool for as long as it has it.
const SESSION_GENERIC: &str = "SET plan_cache_mode = force_generic_plan";

/// Gives a connection of a [`Warm`] back to the pool with its plan setting reset, on a task
/// of its own (the reset is a round trip; a broken connection fails it and is closed, and the
/// pool opens another when one is wanted).
fn give_back(mut conn: PoolConnection<Postgres>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime to reset it on: closed by the drop, never handed out with the setting.
        drop(conn.detach());
        return;
    };
    runtime.spawn(async move {
        if sqlx::query("RESET plan_cache_mode")
            .execute(&mut *conn)
            .await
            .is_err()
        {
            let _ = conn.close().await;
        }
    });
}

impl std::ops::Deref for WarmConn<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a connection until kept")
    }
}

impl std::ops::DerefMut for WarmConn<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a connection until kept")
    }
}

/// Begins a transaction whose statements run on their generic plan: the plan a prepared
/// statement makes once for any parameters, instead of one made again for each call's values.
///
/// PostgreSQL plans a prepared statement for the values of its first five calls, then keeps
/// their plan only if it costs no more than theirs did. A statement over `unnest` of array
/// parameters is costed for ten elements when generic and for the actual count when custom,
/// so a connection whose first calls came one at a time (a quiet hour, the first calls after
/// a start) planned every later call again: at 100 requests a second this was 3 of the 7 ms a
/// request spent in statements. The batched statements of the event flow are the same plan
/// for any count (index lookups per element), so the generic one is made once and kept. The
/// setting is the transaction's own (`SET LOCAL`), sent with `BEGIN` in one round trip: a
/// connection given back to the pool carries nothing of it to its next user.
pub async fn begin_generic(
    conn: &mut PgConnection,
) -> sqlx::Result<sqlx::Transaction<'_, Postgres>> {
    conn.begin_with(BEGIN_GENERIC).await
}

/// The simple query [`begin_generic`] sends; more `SET LOCAL`s may follow it in the same
/// round trip.
pub const BEGIN_GENERIC: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// The columns of `schema`'s tables, and the expression columns of their indexes, that gather
/// statistics at the server's default target. Each service's `*_statistics_sample.sql`
/// migration gives every one a smaller target (why: there); its test asks that none be left,
/// so that a column or table added later does not sample 30,000 rows a minute again.
pub async fn columns_at_default_statistics(
    pool: &PgPool,
    schema: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT a.attrelid::regclass::text || '.' || a.attname \
         FROM pg_attribute a \
         JOIN pg_class r ON r.oid = a.attrelid \
         LEFT JOIN pg_index i ON i.indexrelid = a.attrelid \
         WHERE r.relnamespace = $1::regnamespace \
           AND a.attnum > 0 AND NOT a.attisdropped \
           AND coalesce(a.attstattarget, -1) < 0 \
           AND (r.relkind IN ('r', 'p') OR (r.relkind = 'i' AND i.indkey[a.attnum - 1] = 0)) \
         ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
}

/// The indexes of `schema`'s tables that another index of the same table already answers for:
/// not unique (a unique index is a constraint, not only a way in), of the same method, over
/// the same rows (predicate) and expressions, with key columns, operator classes and orders
/// that are the leading ones of the other's. Every row written pays for every index, and such
/// an index serves no lookup the other does not (each service's store tests ask for none).
pub async fn redundant_indexes(pool: &PgPool, schema: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT x.indexrelid::regclass::text || ' (as ' || \
           y.indexrelid::regclass::text || ')' \
         FROM pg_index x \
         JOIN pg_index y ON y.indrelid = x.indrelid AND y.indexrelid <> x.indexrelid \
         JOIN pg_class xc ON xc.oid = x.indexrelid \
         JOIN pg_class yc ON yc.oid = y.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         WHERE t.relnamespace = $1::regnamespace \
           AND NOT x.indisunique \
           AND xc.relam = yc.relam \
           AND x.indnkeyatts <= y.indnkeyatts \
           AND (x.indkey::int2[])[0:x.indnkeyatts - 1] \
             = (y.indkey::int2[])[0:x.indnkeyatts - 1] \
           AND (x.indclass::oid[])[0:x.indnkeyatts - 1] \
             = (y.indclass::oid[])[0:x.indnkeyatts - 1] \
           AND (x.indoption::int2[])[0:x.indnkeyatts - 1] \
             = (y.indoption::int2[])[0:x.indnkeyatts - 1] \
           AND pg_get_expr(x.indpred, x.indrelid) IS NOT DISTINCT FROM \
             pg_get_expr(y.indpred, y.indrelid) \
           AND pg_get_expr(x.indexprs, x.indrelid) IS NOT DISTINCT FROM \
             pg_get_expr(y.indexprs, y.indrelid) \
         ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
}

/// The schema tests every service's store runs on its own migrated schema, in the module
/// where it is called (which has `migrated()`, an async fn giving a fresh database and a pool
/// on it, and `SCHEMA` in its parent): no index another of its table already answers for
/// ([`redundant_indexes`]), and an outbox with only the indexes it is read by
/// ([`crate::events::OUTBOX_INDEXES`], migration `0007_outbox_keyed_by_id.sql`).
#[macro_export]
macro_rules! schema_tests {
    () => {
        /// No index of the service's tables repeats the leading columns of another over the
        /// same rows (`komek_runtime::db::redundant_indexes`): every row written pays for each
        /// index.
        #[tokio::test]
        async fn no_index_is_one_another_already_answers_for() {
            let (_db, pool) = super::migrated().await;
            let redundant = $crate::db::redundant_indexes(&pool, super::SCHEMA)
                .await
                .unwrap();
            assert_eq!(redundant, Vec::<String>::new());
        }

        /// The outbox has only the indexes its statements read
        /// (`migrations/*_outbox_keyed_by_id.sql`).
        #[tokio::test]
        async fn the_outbox_has_only_the_indexes_it_is_read_by() {
            let (_db, pool) = super::migrated().await;
            let indexes = $crate::db::index_definitions(&pool, super::SCHEMA, "outbox")
                .await
                .unwrap();
            assert_eq!(indexes, $crate::events::OUTBOX_INDEXES);
        }
    };
}

/// The indexes of `schema`'s table `table`, as `pg_get_indexdef` writes them without the
/// schema, by name.
pub async fn index_definitions(
    pool: &PgPool,
    schema: &str,
    table: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT replace(pg_get_indexdef(i.indexrelid), quote_ident($1) || '.', '') \
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE t.relnamespace = $1::regnamespace AND t.relname = $2 \
         ORDER BY c.relname",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await
}

/// Quotes an SQL identifier; schema names come from code, but quoting keeps them literal.
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// What a create with this idempotency key stored before, if anything: the row id and the
/// encoded request it came with. Tables that take creates have `id`, `idempotency_key` and
/// `create_payload` columns.
pub async fn created_with_key<'e, E>(
    executor: E,
    table: &str,
    key: uuid::Uuid,
) -> sqlx::Result<Option<(uuid::Uuid, Vec<u8>)>>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_as(&format!(
        "SELECT id, create_payload FROM {} WHERE idempotency_key = $1",
        quote_ident(table)
    ))
    .bind(key)
    .fetch_optional(executor)
    .await
}

/// The outcome of an idempotent create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The key is new.
    Fresh,
    /// The same key with the same payload: return the row `id` created first.
    Same(uuid::Uuid),
    /// The same key with a different payload.
    Clash,
}

/// Tells a retry from a clash for `key` in `table`.
pub async fn replay<'e, E>(
    executor: E,
    table: &str,
    key: uuid::Uuid,
    payload: &[u8],
) -> sqlx::Result<Replay>
where
    E: sqlx::PgExecutor<'e>,
{
    Ok(match created_with_key(executor, table, key).await? {
        None => Replay::Fresh,
        Some((id, stored)) if stored == payload => Replay::Same(id),
        Some(_) => Replay::Clash,
    })
}

/// One array per row, for a batch insert through `unnest`: `unnest` of an array of arrays
/// flattens it, so each row's array travels as its text form (`{1,4}`, `{"a","b"}`) in a
/// `text[]` and is cast back per row (`u.skills::int2[]`). Numbers and ids need no quoting.
pub fn array_literal<T: std::fmt::Display>(values: &[T]) -> String {
    let mut out = String::from("{");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// [`array_literal`] of strings: every element quoted, with `"` and `\` escaped, so any text
/// (commas, braces, quotes, the word NULL) comes back as it went.
pub fn text_array_literal<S: AsRef<str>>(values: &[S]) -> String {
    let mut out = String::from("{");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in v.as_ref().chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}
