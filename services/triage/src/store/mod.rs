//! All SQL of triage. This module only gathers its parts and names the one error they return.

mod audit;
mod changes;
mod decisions;
mod learning;

pub use audit::{AuditRow, audit_many, audit_page};
pub use changes::{Merge, Override, apply_override, merge};
pub use decisions::{
    DecisionRow, Probe, duplicate_candidates, erase, get, insert_many, take_erased, take_locks,
};
pub use learning::overridden;
use uuid::Uuid;

/// The PostgreSQL schema this service owns; no other service reads it.
pub const SCHEMA: &str = "triage";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A fresh database with triage's schema migrated, for the store's tests; the pool lives as
/// long as the returned database.
#[cfg(test)]
pub(crate) async fn migrated() -> (komek_testkit::TestDb, sqlx::PgPool) {
    let db = komek_testkit::TestDb::create().await;
    let pool = komek_runtime::db::connect_and_migrate(db.url(), SCHEMA, 2, &MIGRATOR)
        .await
        .unwrap();
    (db, pool)
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a store call can fail with; `api` maps each to its gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No decision for the request named in this field.
    #[error("{0}: no triage decision for this request yet")]
    NotFound(&'static str),
    #[error("etag does not match; the decision changed meanwhile")]
    EtagMismatch,
    #[error("the request was merged into requests/{0}; change that one instead")]
    Merged(Uuid),
    #[error("the request was already merged into requests/{0}")]
    AlreadyMerged(Uuid),
    #[error("requests/{0} was itself merged into requests/{1}; merge into that one")]
    TargetMerged(Uuid, Uuid),
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
