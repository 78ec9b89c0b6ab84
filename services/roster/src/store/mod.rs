//! All SQL of the roster. This module only gathers its parts and names the one error they
//! return.

mod groups;
mod imports;
pub mod keys;
mod organizations;
mod volunteers;

pub use groups::{
    create_group, get_group, is_member, list_groups, replace_group, set_active as set_group_active,
    set_availability, set_location,
};
pub use imports::{ImportCounts, import, import_done};
pub use organizations::{
    create_organization, get_organization, list_organizations, update_organization,
};
pub use volunteers::{
    create_volunteer, get_volunteer, list_volunteers, set_active as set_volunteer_active,
    update_volunteer,
};

use komek_runtime::events::{Snapshot, streams};

/// How the roster fills its last-value streams again when they are found empty.
pub const SNAPSHOTS: [Snapshot; 2] = [
    Snapshot {
        stream: streams::ROSTER,
        enqueue_all: |tx| Box::pin(async move { Ok(groups::publish_all(tx).await?) }),
    },
    Snapshot {
        stream: streams::ACCESS,
        enqueue_all: |tx| Box::pin(async move { Ok(keys::publish_all(tx).await?) }),
    },
];

/// The PostgreSQL schema this service owns; no other service reads it.
pub const SCHEMA: &str = "roster";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A fresh database with roster's schema migrated, for the store's tests; the pool lives as
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
    #[error("request_id was already used for a different {0}")]
    IdempotencyClash(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("etag does not match; the {0} changed meanwhile")]
    EtagMismatch(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[cfg(test)]
mod schema_tests {
    komek_runtime::schema_tests!();
}
