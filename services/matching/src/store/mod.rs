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

pub type Result<T> = std::result::Result<T, Error>;

/// What a store call can fail with; `api` maps each to its gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
