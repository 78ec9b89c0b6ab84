//! The gRPC API: one module per proto service, handlers only. Failures of the store become
//! statuses here and nowhere else.

mod access;
mod roster;

pub use access::Access;
pub use roster::Roster;

use komek_runtime::boundary::{FieldViolation, database};
use tonic::Status;
use uuid::Uuid;

use crate::store;

impl From<store::Error> for Status {
    fn from(err: store::Error) -> Self {
        use store::Error::*;
        match err {
            // A key's subject names a volunteer or organisation the roster does not know: the
            // request is at fault, not a missing resource.
            NotFound("subject") => FieldViolation::new(
                "api_key.subject",
                "no such volunteer or organisation in the roster",
            )
            .into(),
            IdempotencyClash(_) => Status::already_exists(err.to_string()),
            NotFound(_) => Status::not_found(err.to_string()),
            EtagMismatch(_) => Status::failed_precondition(err.to_string()),
            Db(e) => database(e),
        }
    }
}

/// The roster's lists page by id: a page starts after the last id of the page before.
fn uuid_position(position: &str) -> Option<Uuid> {
    Uuid::parse_str(position).ok()
}
