//! DispatchService: the dispatcher's API. Campaigns and explanations are served; queues and
//! manual assignment are not yet, and answer UNIMPLEMENTED so clients can tell.

use std::pin::Pin;
use std::sync::Arc;

use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_runtime::convert::{name, parse_name, timestamp};
use komek_runtime::events::Bus;
use komek_runtime::grpc::{internal, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::campaign;
use crate::matcher::Matcher;
use crate::store;

pub struct Dispatch {
    pool: PgPool,
    bus: Bus,
    matcher: Arc<Matcher>,
}

impl Dispatch {
    pub fn new(pool: PgPool, bus: Bus, matcher: Arc<Matcher>) -> Self {
        Self { pool, bus, matcher }
    }
}

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
        request: Request<api::ExplainRequestRequest>,
    ) -> Result<Response<api::MatchExplanation>, Status> {
        let id = parse_name("requests", &request.get_ref().request, "request")
            .map_err(|v| invalid_argument(&[v]))?;
        let rows = store::decisions(&self.pool, id).await.map_err(internal)?;
        if rows.is_empty() {
            return Err(Status::not_found(
                "no matching decision for this request yet",
            ));
        }
        let mut decisions = Vec::with_capacity(rows.len());
        for row in rows {
            let list = ev::CandidateList::decode(row.candidates.as_slice()).map_err(internal)?;
            let chosen = match row.assignment_id {
                Some(a) => store::get(&self.pool, a)
                    .await
                    .map_err(internal)?
                    .map(|a| name("groups", a.group_id)),
                None => None,
            };
            decisions.push(api::MatchDecision {
                request: name("requests", id),
                attempt: row.attempt,
                candidates: list
                    .candidates
                    .into_iter()
                    .map(|c| api::Candidate {
                        group_display_name: parse_name("groups", &c.group, "group")
                            .ok()
                            .and_then(|g| self.matcher.index().get(g))
                            .map(|g| g.display_name)
                            .unwrap_or_default(),
                        chosen: chosen.as_deref() == Some(c.group.as_str()),
                        group: c.group,
                        distance_meters: c.distance_meters,
                        reasons: c.reasons,
                    })
                    .collect(),
                assignment: row
                    .assignment_id
                    .map(|a| name("assignments", a))
                    .unwrap_or_default(),
                escalated: row.escalated,
                decide_time: Some(timestamp(row.decided_at)),
            });
        }
        Ok(Response::new(api::MatchExplanation {
            request: name("requests", id),
            decisions,
        }))
    }
    async fn create_campaign(
        &self,
        request: Request<api::CreateCampaignRequest>,
    ) -> Result<Response<api::Campaign>, Status> {
        let (campaign, offered) =
            campaign::create(&self.pool, &self.matcher, request.get_ref()).await?;
        if offered {
            self.bus.wake_outbox();
        }
        Ok(Response::new(campaign))
    }
    async fn get_campaign(
        &self,
        request: Request<api::GetCampaignRequest>,
    ) -> Result<Response<api::Campaign>, Status> {
        let id = parse_name("campaigns", &request.get_ref().name, "name")
            .map_err(|v| invalid_argument(&[v]))?;
        match store::campaign(&self.pool, id).await.map_err(internal)? {
            Some((c, items)) => Ok(Response::new(campaign::to_api(&c, &items))),
            None => Err(Status::not_found("campaign not found")),
        }
    }
    async fn list_dispatch_audit(
        &self,
        _: Request<api::ListDispatchAuditRequest>,
    ) -> Result<Response<api::ListDispatchAuditResponse>, Status> {
        unimplemented("ListDispatchAudit")
    }
}
