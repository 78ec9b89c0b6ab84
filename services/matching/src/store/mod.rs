//! All SQL of matching. This module only gathers its parts and names the one error they
//! return.

mod assignments;
mod audit;
mod campaigns;
mod capacity;
mod decisions;
mod jobs;
mod queue;

pub use assignments::*;
pub use audit::*;
pub use campaigns::*;
pub use capacity::*;
pub use decisions::*;
pub use jobs::*;
pub use queue::*;

/// The PostgreSQL schema this service owns; no other service reads it.
pub const SCHEMA: &str = "matching";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A fresh database with matching's schema migrated, for the store's tests; the pool lives as
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
