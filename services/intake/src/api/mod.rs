//! The gRPC API: one module per proto service, handlers only. Failures of the store become
//! statuses here and nowhere else.

mod intake;
mod partner;
mod places;
mod plans;

pub use intake::Intake;
pub use partner::Partner;
pub use places::Places;
pub use plans::Plans;

use komek_runtime::boundary::database;
use tonic::Status;

use crate::store;

impl From<store::Error> for Status {
    fn from(err: store::Error) -> Self {
        use store::Error::*;
        match err {
            IdempotencyClash => Status::already_exists(err.to_string()),
            NotFound => Status::not_found(err.to_string()),
            NotCancellable(_) | NotFinished(_) | EtagMismatch => {
                Status::failed_precondition(err.to_string())
            }
            Db(e) => database(e),
        }
    }
}
