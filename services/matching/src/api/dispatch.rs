//! DispatchService: the dispatcher's API. Queues, a live watch of a region, manual assignment
//! with an append-only audit log, explanations and campaigns.

use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_runtime::auth::{self, Principal};
use komek_runtime::boundary::{
    FieldViolation, database, internal, messaging, name, parse_name, timestamp,
};
use komek_runtime::events::{Bus, subject};
use komek_runtime::pages::Pages;
use komek_runtime::pump::{Pumps, ResponseStream};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{placing_failed, refusal};
use crate::config::Overdue;
use crate::jobs::{self, Step};
use crate::matcher::Matcher;
use crate::model::Job;
use crate::store::{self, AssignmentRow, NewAudit, QueueFilter};
use crate::validate::{self, Move};
use crate::{campaign, convert};

pub struct Dispatch {
    pool: PgPool,
    bus: Bus,
    matcher: Arc<Matcher>,
    overdue: Overdue,
    pages: Pages,
    pumps: Pumps,
}

impl Dispatch {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        matcher: Arc<Matcher>,
        overdue: Overdue,
        pages: Pages,
        pumps: Pumps,
    ) -> Self {
        Self {
            pool,
            bus,
            matcher,
            overdue,
            pages,
            pumps,
        }
    }

    /// A manual move, idempotent on `key`: runs `act` in a transaction unless the key was used
    /// before, in which case the assignment it made is returned as it is now.
    async fn manual<F>(&self, key: Uuid, act: F) -> Result<AssignmentRow, Status>
    where
        F: for<'t> FnOnce(
            &'t mut PgConnection,
        ) -> futures::future::BoxFuture<'t, Result<AssignmentRow, Status>>,
    {
        let mut tx = self.pool.begin().await.map_err(database)?;
        if let Some(done) = store::audit_by_key(&mut tx, key).await? {
            drop(tx);
            let id = done
                .assignment_id
                .ok_or_else(|| internal("audit entry without assignment"))?;
            return store::get(&self.pool, id)
                .await?
                .ok_or_else(|| internal("audited assignment missing"));
        }
        let row = act(&mut tx).await?;
        tx.commit().await.map_err(database)?;
        self.bus.wake_outbox();
        Ok(row)
    }

    /// Assigns or reassigns a request by hand, with its audit entry, in one transaction.
    async fn move_by_hand(
        &self,
        principal: &Principal,
        m: Move,
        action: Action,
    ) -> Result<AssignmentRow, Status> {
        let matcher = self.matcher.clone();
        let actor = principal.subject.clone();
        let regions = regions_of(principal);
        self.manual(m.key, move |tx| {
            Box::pin(async move {
                let job = job_of(tx, m.request_id, &regions).await?;
                let active = store::active_of(tx, m.request_id).await?;
                match (action, active.first()) {
                    // A wide search takes more groups beside those it has.
                    (Action::Assign, Some(active)) if active.wide => {}
                    (Action::Reassign, Some(active)) if active.wide => {
                        return Err(Status::failed_precondition(
                            "the request is a wide search with several groups: withdraw a \
                             group's assignment, or assign another group beside them",
                        ));
                    }
                    (Action::Assign, Some(active)) => {
                        return Err(Status::failed_precondition(format!(
                            "the request already has active assignments/{}; use ReassignRequest",
                            active.id
                        )));
                    }
                    (Action::Assign, None) => {}
                    (Action::Reassign, None) => {
                        return Err(Status::failed_precondition(
                            "the request has no active assignment; use AssignRequest",
                        ));
                    }
                    (Action::Reassign, Some(current)) if current.group_id == m.group_id => {
                        let v =
                            FieldViolation::new("group", "the group already holds this request");
                        return Err(v.into());
                    }
                    (Action::Reassign, Some(current)) => {
                        let note = format!("reassigned by {actor}: {}", m.reason);
                        let step = Step::to(AssignmentStatus::Withdrawn, &note);
                        jobs::transition(tx, matcher.index(), current, step).await?;
                    }
                }
                offer_audited(tx, &matcher, &job, &m, &actor, action.name()).await
            })
        })
        .await
    }
}

/// A dispatcher's move of a request to a group.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// To a group, when nothing is active.
    Assign,
    /// From the group holding it to another.
    Reassign,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Assign => "AssignRequest",
            Action::Reassign => "ReassignRequest",
        }
    }
}

/// The request named in an event, by subject.
fn request_of(subject: &str, payload: &[u8]) -> Option<String> {
    Some(match subject {
        subject::REQUEST_TRIAGED => ev::RequestTriaged::decode(payload).ok()?.request,
        subject::REQUEST_ESCALATED => ev::RequestEscalated::decode(payload).ok()?.request,
        subject::REQUEST_STATUS_CHANGED => ev::RequestStatusChanged::decode(payload).ok()?.request,
        subject::REQUEST_MERGED => ev::RequestMerged::decode(payload).ok()?.request,
        // A request waiting too long: screens redraw its queue so the alert shows at once.
        subject::REQUEST_WAITING => ev::RequestWaiting::decode(payload).ok()?.request,
        subject::ASSIGNMENT_OFFERED => ev::AssignmentOffered::decode(payload).ok()?.request,
        subject::ASSIGNMENT_CHANGED => ev::AssignmentChanged::decode(payload).ok()?.request,
        _ => return None,
    })
}

#[tonic::async_trait]
impl api::dispatch_service_server::DispatchService for Dispatch {
    type WatchRegionStream = ResponseStream<api::DispatchEvent>;

    async fn list_queue(
        &self,
        request: Request<api::ListQueueRequest>,
    ) -> Result<Response<api::ListQueueResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let page = self.pages.page(req, convert::decode_queue_token)?;
        let mut filter = validate::queue(req, page.clone())?;
        filter.regions = regions_of(&principal);
        (filter.en_route_within, filter.on_site_within) = self.overdue.limits();
        let rows = store::queue(&self.pool, &filter).await?;
        let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.assignment_id).collect();
        let assignments = store::get_many(&self.pool, &ids).await?;
        let items = rows
            .iter()
            .map(|row| {
                let assignment = row
                    .assignment_id
                    .and_then(|id| assignments.iter().find(|a| a.id == id));
                convert::queue_item(row, assignment)
            })
            .collect();
        Ok(Response::new(api::ListQueueResponse {
            items,
            next_page_token: self.pages.next(req, &page, &rows, convert::queue_token),
        }))
    }

    async fn watch_region(
        &self,
        request: Request<api::WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        let principal = auth::principal(&request)?;
        let region = validate::region(&request.get_ref().region)?;
        let mut events = self
            .bus
            .subscribe_all(&["komek.request.>", "komek.assignment.>"])
            .await
            .map_err(messaging)?;
        let pool = self.pool.clone();
        let (en_route_within, on_site_within) = self.overdue.limits();
        let regions = regions_of(&principal);
        let stream = self.pumps.start(&principal, |feed| async move {
            while let Some(message) = events.next().await {
                let Some(request) = request_of(&message.subject, &message.payload) else {
                    continue;
                };
                let Ok(id) = parse_name("requests", &request, "request") else {
                    continue;
                };
                let filter = QueueFilter {
                    request_id: Some(id),
                    region: region.clone(),
                    regions: regions.clone(),
                    limit: 1,
                    en_route_within,
                    on_site_within,
                    ..Default::default()
                };
                let rows = match store::queue(&pool, &filter).await {
                    Ok(rows) => rows,
                    Err(err) => return feed.fail(err.into()).await,
                };
                let Some(row) = rows.first() else {
                    // Another region's request, or one matching has not seen triaged yet.
                    continue;
                };
                let assignment = match row.assignment_id {
                    Some(a) => store::get(&pool, a).await.ok().flatten(),
                    None => None,
                };
                let mut item = convert::queue_item(row, assignment.as_ref());
                // Intake owns the request's status and says it in this event; matching's
                // tables may learn of it a moment later.
                if message.subject.as_str() == subject::REQUEST_STATUS_CHANGED
                    && let Ok(e) = ev::RequestStatusChanged::decode(message.payload.as_ref())
                {
                    item.request_status = e.status;
                    if RequestStatus::from_code(e.status).is_some_and(|s| s.is_final()) {
                        item.queue = api::Queue::Unspecified as i32;
                    }
                }
                let event = api::DispatchEvent {
                    item: Some(item),
                    change: message.subject.to_string(),
                    time: Some(timestamp(Utc::now())),
                };
                if !feed.send(event).await {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn assign_request(
        &self,
        request: Request<api::AssignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let r = request.get_ref();
        let m = validate::move_request(&r.request_id, &r.request, &r.group, &r.reason)?;
        let row = self.move_by_hand(&principal, m, Action::Assign).await?;
        Ok(Response::new(convert::assignment(&row)))
    }

    async fn reassign_request(
        &self,
        request: Request<api::ReassignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let r = request.get_ref();
        let m = validate::move_request(&r.request_id, &r.request, &r.group, &r.reason)?;
        let row = self.move_by_hand(&principal, m, Action::Reassign).await?;
        Ok(Response::new(convert::assignment(&row)))
    }

    async fn withdraw_assignment(
        &self,
        request: Request<api::WithdrawAssignmentRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let actor = principal.subject.clone();
        let (key, id, reason) = validate::withdraw(request.get_ref())?;
        let matcher = self.matcher.clone();
        let row = self
            .manual(key, move |tx| {
                Box::pin(async move {
                    let current = store::lock(tx, id).await?;
                    let Some(current) = current.filter(|a| principal.covers_region(&a.region))
                    else {
                        return Err(Status::not_found("assignment not found"));
                    };
                    let status = AssignmentStatus::from_stored(current.status);
                    if !status.is_some_and(|s| s.is_active()) {
                        return Err(Status::failed_precondition(format!(
                            "the assignment is {} and holds nothing to withdraw",
                            jobs::word(status)
                        )));
                    }
                    let note = format!("withdrawn by {actor}: {reason}");
                    let step = Step::to(AssignmentStatus::Withdrawn, &note);
                    let withdrawn = jobs::transition(tx, matcher.index(), &current, step).await?;
                    let audit = NewAudit {
                        key: Some(key),
                        actor: &actor,
                        action: "WithdrawAssignment",
                        request_id: current.request_id,
                        assignment_id: Some(current.id),
                        group_id: Some(current.group_id),
                        reason: &reason,
                    };
                    store::audit(tx, &audit).await?;
                    tracing::info!(assignment = %id, by = %actor, "withdrawn by hand");
                    Ok(withdrawn)
                })
            })
            .await?;
        Ok(Response::new(convert::assignment(&row)))
    }

    async fn explain_request(
        &self,
        request: Request<api::ExplainRequestRequest>,
    ) -> Result<Response<api::MatchExplanation>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_name("requests", &request.get_ref().request, "request")?;
        let regions = regions_of(&principal);
        if !regions.is_empty() {
            let mut tx = self.pool.begin().await.map_err(database)?;
            job_in(&mut tx, id, &regions).await?;
        }
        let rows = store::decisions(&self.pool, id).await?;
        if rows.is_empty() {
            return Err(Status::not_found(
                "no matching decision for this request yet",
            ));
        }
        let mut decisions = Vec::with_capacity(rows.len());
        for row in rows {
            let list = ev::CandidateList::decode(row.candidates.as_slice()).map_err(internal)?;
            let chosen = match row.assignment_id {
                Some(a) => store::get(&self.pool, a).await?.map(|a| a.group_id),
                None => None,
            };
            let display_name = |group: &str| {
                parse_name("groups", group, "group")
                    .ok()
                    .and_then(|g| self.matcher.index().get(g))
                    .map(|g| g.display_name)
                    .unwrap_or_default()
            };
            decisions.push(convert::decision(id, &row, list, chosen, display_name));
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
        let principal = auth::principal(&request)?;
        let asked = validate::campaign(request.get_ref())?;
        campaign::check_regions(&self.pool, &asked, &regions_of(&principal)).await?;
        let planned = campaign::create(&self.pool, &self.matcher, &asked).await?;
        if planned.offered {
            self.bus.wake_outbox();
        }
        Ok(Response::new(convert::campaign(
            &planned.campaign,
            &planned.items,
        )))
    }

    async fn get_campaign(
        &self,
        request: Request<api::GetCampaignRequest>,
    ) -> Result<Response<api::Campaign>, Status> {
        let id = parse_name("campaigns", &request.get_ref().name, "name")?;
        let Some((c, items)) = store::campaign(&self.pool, id).await? else {
            return Err(Status::not_found("campaign not found"));
        };
        Ok(Response::new(convert::campaign(&c, &items)))
    }

    async fn list_dispatch_audit(
        &self,
        request: Request<api::ListDispatchAuditRequest>,
    ) -> Result<Response<api::ListDispatchAuditResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let page = self.pages.page(req, |t| t.parse::<i64>().ok())?;
        let request_id = validate::audit_request(req)?;
        let regions = regions_of(&principal);
        let rows =
            store::audit_log(&self.pool, request_id, &regions, page.after, page.limit).await?;
        Ok(Response::new(api::ListDispatchAuditResponse {
            entries: rows.iter().map(convert::audit_entry).collect(),
            next_page_token: self.pages.next(req, &page, &rows, |r| r.id.to_string()),
        }))
    }
}

/// Offers the job to the group of a dispatcher's move and records the move, in `tx`.
async fn offer_audited(
    tx: &mut PgConnection,
    matcher: &Matcher,
    job: &Job,
    m: &Move,
    actor: &str,
    action: &str,
) -> Result<AssignmentRow, Status> {
    let offered = matcher
        .offer_manually(tx, job, m.group_id)
        .await
        .map_err(placing_failed)?
        .map_err(|r| refusal(r, &name("groups", m.group_id)))?;
    let audit = NewAudit {
        key: Some(m.key),
        actor,
        action,
        request_id: m.request_id,
        assignment_id: Some(offered.id),
        group_id: Some(m.group_id),
        reason: &m.reason,
    };
    store::audit(tx, &audit).await?;
    tracing::info!(request = %m.request_id, group = %m.group_id, by = %actor, action,
        "moved by hand");
    Ok(offered)
}

/// The job matching keeps for a request; a request outside a regional dispatcher's `regions`
/// does not exist for it.
async fn job_in(
    tx: &mut PgConnection,
    request_id: Uuid,
    regions: &[String],
) -> Result<Job, Status> {
    let jobs = store::jobs(tx, &[request_id]).await?;
    let Some(job) = jobs
        .first()
        .filter(|j| regions.is_empty() || regions.contains(&j.region))
    else {
        return Err(Status::not_found("no triaged request of that name"));
    };
    Ok(Job::from_row(job))
}

/// [`job_in`], refusing closed requests: nobody is sent to them.
async fn job_of(
    tx: &mut PgConnection,
    request_id: Uuid,
    regions: &[String],
) -> Result<Job, Status> {
    let job = job_in(tx, request_id, regions).await?;
    if store::is_closed(tx, request_id).await? {
        return Err(Status::failed_precondition("the request is closed"));
    }
    Ok(job)
}

/// A regional dispatcher's regions; empty for every region.
fn regions_of(principal: &Principal) -> Vec<String> {
    principal
        .region_limit()
        .map(<[String]>::to_vec)
        .unwrap_or_default()
}
