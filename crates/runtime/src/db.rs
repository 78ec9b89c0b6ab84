//! PostgreSQL: each service keeps its tables in its own schema of a shared database, so
//! services can share a server without sharing tables, and a schema can later move to its own
//! server unchanged.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

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
    // Every connection of the pool sees only the service's schema (plus pg_catalog).
    let options = options.options([("search_path", schema)]);
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
