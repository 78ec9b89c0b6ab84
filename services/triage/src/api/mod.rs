//! The gRPC API: one module per proto service, handlers only. Failures of the store become
//! statuses here and nowhere else.

mod triage;

pub use triage::Triage;

use komek_runtime::boundary::database;
use tonic::Status;

use crate::store;

impl From<store::Error> for Status {
    fn from(err: store::Error) -> Self {
        use store::Error::*;
        match err {
            NotFound(_) => Status::not_found(err.to_string()),
            EtagMismatch | Merged(_) | AlreadyMerged(_) | TargetMerged(..) => {
                Status::failed_precondition(err.to_string())
            }
            Db(e) => database(e),
        }
    }
}
