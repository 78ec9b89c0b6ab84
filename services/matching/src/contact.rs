//! Matching's intake client. The caller's contact, fetched for the group that accepted a job:
//! matching never stores it, it passes from intake's answer to the volunteer's. And each
//! triaged request's volunteer note, which events do not carry.

use std::collections::HashMap;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1 as api;
use komek_runtime::auth::{Credentials, ServiceBearer};
use komek_runtime::boundary::name;
use komek_runtime::config::Upstream;
use komek_runtime::spread::Spread;
use tonic::service::interceptor::InterceptedService;
use uuid::Uuid;

use crate::store::AssignmentRow;

/// Why a volunteer note could not be read.
#[derive(Debug)]
pub enum NoteError {
    /// Intake does not know the request.
    Unknown,
    /// Intake did not answer, or failed: worth asking again later.
    Unavailable(String),
}

#[derive(Clone)]
pub struct Callers {
    client: IntakeServiceClient<InterceptedService<Spread, ServiceBearer>>,
}

impl Callers {
    /// Every `every`, until `stop`: the notes of jobs placed while intake could not give them,
    /// written into the jobs and their offers.
    pub async fn fill_pending_notes(
        self,
        pool: sqlx::PgPool,
        every: Duration,
        stop: komek_runtime::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let pending = match crate::store::notes_pending(&pool, 100).await {
                Ok(p) => p,
                Err(err) => {
                    tracing::warn!(error = %err, "pending notes not read; retrying");
                    continue;
                }
            };
            for request_id in pending {
                let note = match self.volunteer_note(&name("requests", request_id)).await {
                    Ok(note) => note,
                    Err(NoteError::Unknown) => String::new(),
                    Err(NoteError::Unavailable(why)) => {
                        tracing::debug!(%request_id, why, "volunteer note still not available");
                        break;
                    }
                };
                match crate::store::fill_note(&pool, request_id, &note).await {
                    Ok(()) => tracing::info!(%request_id, "volunteer note filled in late"),
                    Err(err) => tracing::warn!(error = %err, "volunteer note not written"),
                }
            }
        }
    }

    pub fn new(upstream: &Upstream, credentials: Credentials) -> anyhow::Result<Self> {
        let channel = komek_runtime::grpc::upstream_channel(upstream)?;
        Ok(Self {
            client: IntakeServiceClient::with_interceptor(
                channel,
                ServiceBearer::new(credentials, "matching"),
            ),
        })
    }

    /// The volunteer note of `request` ("requests/{id}"), which offers carry: events do not,
    /// so that erasing the request in intake leaves no copy in the streams. Empty once erased.
    pub async fn volunteer_note(&self, request: &str) -> Result<String, NoteError> {
        let mut call = tonic::Request::new(intake::GetRequestRequest {
            name: request.to_string(),
        });
        call.set_timeout(Duration::from_secs(5));
        match self.client.clone().get_request(call).await {
            Ok(reply) => Ok(reply.into_inner().volunteer_note),
            Err(status) if status.code() == tonic::Code::NotFound => Err(NoteError::Unknown),
            Err(status) => Err(NoteError::Unavailable(format!(
                "{:?} {}",
                status.code(),
                status.message()
            ))),
        }
    }

    /// The volunteer notes of several requests in one call, by name; an error when intake
    /// cannot answer for all of them (then each is asked for alone).
    pub async fn volunteer_notes(
        &self,
        requests: Vec<String>,
    ) -> Result<HashMap<String, String>, tonic::Status> {
        let mut call = tonic::Request::new(intake::BatchGetRequestsRequest {
            names: requests.clone(),
            // Only what is read here, which intake reads without the rest of each row.
            read_mask: Some(prost_types::FieldMask {
                paths: ["volunteer_note"].map(String::from).to_vec(),
            }),
        });
        call.set_timeout(Duration::from_secs(5));
        let reply = self.client.clone().batch_get_requests(call).await?;
        Ok(requests
            .into_iter()
            .zip(
                reply
                    .into_inner()
                    .requests
                    .into_iter()
                    .map(|r| r.volunteer_note),
            )
            .collect())
    }

    /// The contact for `volunteer` of the group holding `row`, or None when intake cannot give
    /// it now (the app asks again with GetAssignment).
    pub async fn reveal(&self, row: &AssignmentRow, volunteer: Uuid) -> Option<api::CallerContact> {
        let mut request = tonic::Request::new(intake::RevealCallerRequest {
            request: name("requests", row.request_id),
            assignment: name("assignments", row.id),
            volunteer: name("volunteers", volunteer),
        });
        // Intake waits up to 5 s to learn of a fresh accept.
        request.set_timeout(Duration::from_secs(8));
        match self.client.clone().reveal_caller(request).await {
            Ok(caller) => {
                let c = caller.into_inner();
                Some(api::CallerContact {
                    display_name: c.display_name,
                    phone: c.phone,
                    preferred_language: c.preferred_language,
                    address: c.address,
                })
            }
            Err(status) => {
                tracing::warn!(assignment = %row.id, code = ?status.code(),
                    message = status.message(), "caller contact not available");
                None
            }
        }
    }
}
