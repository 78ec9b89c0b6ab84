//! DispatchService: the dispatcher's API. Queues, manual assignment, explanations and
//! campaigns are not served yet; every method answers UNIMPLEMENTED so clients can tell.

use std::pin::Pin;

use komek_proto::matching::v1 as api;
use tonic::{Request, Response, Status};

pub struct Dispatch;

fn unimplemented<T>(what: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not available on this server yet"
    )))
}

type EventStream = Pin<Box<dyn futures::Stream<Item = Result<api::DispatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl api::dispatch_service_server::DispatchService for Dispatch {
    type WatchRegionStream = EventStream;

    async fn list_queue(
        &self,
        _: Request<api::ListQueueRequest>,
    ) -> Result<Response<api::ListQueueResponse>, Status> {
        unimplemented("ListQueue")
    }
    async fn watch_region(
        &self,
        _: Request<api::WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        unimplemented("WatchRegion")
    }
    async fn assign_request(
        &self,
        _: Request<api::AssignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        unimplemented("AssignRequest")
    }
    async fn reassign_request(
        &self,
        _: Request<api::ReassignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        unimplemented("ReassignRequest")
    }
    async fn withdraw_assignment(
        &self,
        _: Request<api::WithdrawAssignmentRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        unimplemented("WithdrawAssignment")
    }
    async fn explain_request(
        &self,
        _: Request<api::ExplainRequestRequest>,
    ) -> Result<Response<api::MatchExplanation>, Status> {
        unimplemented("ExplainRequest")
    }
    async fn create_campaign(
        &self,
        _: Request<api::CreateCampaignRequest>,
    ) -> Result<Response<api::Campaign>, Status> {
        unimplemented("CreateCampaign")
    }
    async fn get_campaign(
        &self,
        _: Request<api::GetCampaignRequest>,
    ) -> Result<Response<api::Campaign>, Status> {
        unimplemented("GetCampaign")
    }
    async fn list_dispatch_audit(
        &self,
        _: Request<api::ListDispatchAuditRequest>,
    ) -> Result<Response<api::ListDispatchAuditResponse>, Status> {
        unimplemented("ListDispatchAudit")
    }
}
