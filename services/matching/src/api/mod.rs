//! The gRPC API: one module per proto service, handlers only. Failures of the store and of
//! placing a job become statuses here and nowhere else.

mod assignment;
mod dispatch;

pub use assignment::Assignments;
pub use dispatch::Dispatch;

use komek_runtime::boundary::{database, internal};
use komek_runtime::inbox::HandleError;
use tonic::Status;

use crate::matcher::ManualRefusal;
use crate::store;
use crate::{campaign, jobs};

impl From<store::Error> for Status {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Db(e) => database(e),
        }
    }
}

impl From<jobs::Error> for Status {
    fn from(err: jobs::Error) -> Self {
        match err {
            jobs::Error::CannotBecome { .. } => Status::failed_precondition(err.to_string()),
            jobs::Error::Store(e) => e.into(),
        }
    }
}

impl From<campaign::Error> for Status {
    fn from(err: campaign::Error) -> Self {
        match err {
            campaign::Error::NotTriaged(_) => Status::failed_precondition(err.to_string()),
            campaign::Error::Placing(e) => placing_failed(e),
            campaign::Error::Store(e) => e.into(),
        }
    }
}

/// A job could not be placed in a call's transaction.
fn placing_failed(err: HandleError) -> Status {
    match err {
        // The roster index lags the stream: worth a retry in a moment.
        HandleError::Retry(e) => Status::unavailable(format!("try again: {e}")),
        HandleError::Reject(e) => internal(e),
    }
}

/// Why the group a dispatcher chose could not be offered the job.
fn refusal(r: ManualRefusal, group: &str) -> Status {
    Status::failed_precondition(match r {
        ManualRefusal::UnknownGroup => format!("{group} is not in the roster"),
        ManualRefusal::Deactivated => format!("{group} is deactivated"),
        ManualRefusal::NoLocation => "the request has no coordinates to send a group to".into(),
        ManualRefusal::Full => format!("{group} has no free place"),
        ManualRefusal::Resting => format!("{group} is resting after a job"),
        ManualRefusal::AlreadyOffered => "the request was offered meanwhile".into(),
    })
}
