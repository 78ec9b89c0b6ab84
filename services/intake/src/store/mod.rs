//! All SQL of intake. This module only gathers its parts and names the one error they return.

mod creates;
pub mod erasure;
pub mod plans;
mod requests;
mod reveals;
pub mod stats;
mod status;
pub mod waiting;

pub use creates::Creates;
pub use requests::{
    cancel, create, find_by_idempotency_key, find_by_reference, get, get_many, list, notes_many,
    reveal,
};
pub use reveals::{Ask, Reveals};
pub use status::{lock, lock_many_at, save_many, set_status_by};

use komek_core::RequestStatus;

/// The PostgreSQL schema this service owns; no other service reads it.
pub const SCHEMA: &str = "intake";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub type Result<T> = std::result::Result<T, Error>;

/// A fresh database with intake's schema migrated, for the store's tests; the pool lives as
/// long as the returned database.
#[cfg(test)]
async fn migrated() -> (komek_testkit::TestDb, sqlx::PgPool) {
    let db = komek_testkit::TestDb::create().await;
    let pool = komek_runtime::db::connect_and_migrate(db.url(), SCHEMA, 2, &MIGRATOR)
        .await
        .unwrap();
    (db, pool)
}

/// What a store call can fail with; `api` maps each to its gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request_id was already used for a different request")]
    IdempotencyClash,
    #[error("request not found")]
    NotFound,
    #[error("request is {0:?} and cannot be cancelled")]
    NotCancellable(RequestStatus),
    #[error("request is {0:?}; only a finished request can be erased (cancel it first)")]
    NotFinished(RequestStatus),
    #[error("etag does not match; the request changed meanwhile")]
    EtagMismatch,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[cfg(test)]
mod schema_tests {
    /// Every column of the service's tables samples a bounded share at an analyse
    /// (`migrations/*_statistics_sample.sql`): none is left at the server's default.
    #[tokio::test]
    async fn no_column_is_analysed_at_the_default_sample() {
        let (_db, pool) = super::migrated().await;
        let left = komek_runtime::db::columns_at_default_statistics(&pool, super::SCHEMA)
            .await
            .unwrap();
        assert_eq!(left, Vec::<String>::new());
    }

    komek_runtime::schema_tests!();
}
