//! What triage reads of a request from intake rather than from its event: the call note, the
//! volunteer note and the keyed hash of the caller's phone. Events never carry them, so that
//! erasing a request in intake leaves no copy in the streams.

use std::collections::HashMap;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_runtime::auth::{Credentials, ServiceBearer};
use komek_runtime::config::Upstream;
use komek_runtime::inbox::HandleError;
use komek_runtime::spread::Spread;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;

/// A request's words as intake keeps them; empty once it is erased.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    pub description: String,
    pub volunteer_note: String,
    pub caller_blind_index: Option<Vec<u8>>,
}

fn notes(r: intake::Request) -> Notes {
    Notes {
        description: r.description,
        volunteer_note: r.volunteer_note,
        caller_blind_index: (!r.caller_blind_index.is_empty()).then_some(r.caller_blind_index),
    }
}

#[derive(Clone)]
pub struct Intake {
    client: IntakeServiceClient<InterceptedService<Spread, ServiceBearer>>,
}

impl Intake {
    pub fn new(upstream: &Upstream, credentials: Credentials) -> anyhow::Result<Self> {
        let channel = komek_runtime::grpc::upstream_channel(upstream)?;
        Ok(Self {
            client: IntakeServiceClient::with_interceptor(
                channel,
                ServiceBearer::new(credentials, "triage"),
            ),
        })
    }

    /// The notes of several requests in one call, by name; an error when intake cannot answer
    /// for all of them (then each is asked for alone).
    pub async fn notes_of_many(
        &self,
        requests: Vec<String>,
    ) -> Result<HashMap<String, Notes>, tonic::Status> {
        let mut call = tonic::Request::new(intake::BatchGetRequestsRequest {
            names: requests.clone(),
            // Only what is read here, which intake reads without the rest of each row.
            read_mask: Some(prost_types::FieldMask {
                paths: ["description", "volunteer_note", "caller_blind_index"]
                    .map(String::from)
                    .to_vec(),
            }),
        });
        call.set_timeout(Duration::from_secs(5));
        let reply = self.client.clone().batch_get_requests(call).await?;
        Ok(requests
            .into_iter()
            .zip(reply.into_inner().requests.into_iter().map(notes))
            .collect())
    }

    /// The notes of `request` ("requests/{id}"). Intake unreachable or failing is a passing
    /// failure: the event is delivered again later.
    pub async fn notes(&self, request: &str) -> Result<Notes, HandleError> {
        let mut call = tonic::Request::new(intake::GetRequestRequest {
            name: request.to_string(),
        });
        call.set_timeout(Duration::from_secs(5));
        match self.client.clone().get_request(call).await {
            Ok(reply) => Ok(notes(reply.into_inner())),
            // The event named a request intake has never had: asking again will not help.
            Err(status) if status.code() == Code::NotFound => Err(HandleError::Reject(format!(
                "intake does not know {request}"
            ))),
            Err(status) => Err(HandleError::Retry(anyhow::anyhow!(
                "reading {request} from intake: {:?} {}",
                status.code(),
                status.message()
            ))),
        }
    }
}
