//! DispatchService: the dispatcher's API. Queues, a live watch of a region, manual assignment
//! with an append-only audit log, explanations and campaigns.

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use komek_core::{AssignmentStatus, Category, IneligibleReason, Priority, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_runtime::auth;
use komek_runtime::convert::{name, parse_name, parse_request_id, timestamp};
use komek_runtime::events::{Bus, HandleError, enqueue, subject};
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::OfferTtl;
use crate::assignment::to_api;
use crate::campaign;
use crate::ladder;
use crate::matcher::{Job, ManualRefusal, Matcher};
use crate::store::{self, AssignmentRow, NewAudit, QueueFilter, QueueRow};

/// When accepted or on-site jobs count as overdue.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub en_route_within: OfferTtl,
    pub on_site_max_secs: u64,
}

pub struct Dispatch {
    pool: PgPool,
    bus: Bus,
    matcher: Arc<Matcher>,
    overdue: Overdue,
    max_page_size: u32,
    shutdown: CancellationToken,
}

impl Dispatch {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        matcher: Arc<Matcher>,
        overdue: Overdue,
        max_page_size: u32,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pool,
            bus,
            matcher,
            overdue,
            max_page_size,
            shutdown,
        }
    }

    fn deadlines(&self) -> ([f64; 4], f64) {
        let t = &self.overdue.en_route_within;
        (
            [t.low_secs, t.normal_secs, t.high_secs, t.critical_secs].map(|s| s as f64),
            self.overdue.on_site_max_secs as f64,
        )
    }

    /// A manual move, idempotent on `key`: runs `act` in a transaction unless the key was used
    /// before, in which case the assignment it made is returned as it is now.
    async fn manual<F>(&self, key: Uuid, act: F) -> Result<AssignmentRow, Status>
    where
        F: for<'t> FnOnce(
            &'t mut PgConnection,
        ) -> futures::future::BoxFuture<'t, Result<AssignmentRow, Status>>,
    {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        if let Some(done) = store::audit_by_key(&mut tx, key).await.map_err(internal)? {
            drop(tx);
            let id = done
                .assignment_id
                .ok_or_else(|| Status::internal("audit entry without assignment"))?;
            return store::get(&self.pool, id)
                .await
                .map_err(internal)?
                .ok_or_else(|| Status::internal("audited assignment missing"));
        }
        let row = act(&mut tx).await?;
        tx.commit().await.map_err(internal)?;
        self.bus.wake_outbox();
        Ok(row)
    }
}

fn placing_failed(err: HandleError) -> Status {
    match err {
        HandleError::Retry(e) => Status::unavailable(format!("try again: {e}")),
        HandleError::Reject(e) => Status::internal(e),
    }
}

fn refusal(r: ManualRefusal, group: &str) -> Status {
    Status::failed_precondition(match r {
        ManualRefusal::UnknownGroup => format!("{group} is not in the roster"),
        ManualRefusal::NoLocation => "the request has no coordinates to send a group to".into(),
        ManualRefusal::Full => format!("{group} has no free place"),
        ManualRefusal::Resting => format!("{group} is resting after a job"),
        ManualRefusal::AlreadyOffered => "the request was offered meanwhile".into(),
    })
}

/// What a request's status is, as far as matching can tell.
fn request_status(row: &QueueRow) -> RequestStatus {
    if let Some(closed) = row
        .closed_status
        .and_then(|c| RequestStatus::from_code(c.into()))
    {
        return closed;
    }
    match row
        .assignment_status
        .and_then(|s| AssignmentStatus::from_code(s.into()))
    {
        _ if row.queue == 1 => RequestStatus::Escalated,
        Some(AssignmentStatus::Offered) => RequestStatus::Dispatching,
        Some(AssignmentStatus::Accepted) => RequestStatus::Assigned,
        Some(AssignmentStatus::EnRoute | AssignmentStatus::OnSite) => RequestStatus::InProgress,
        Some(AssignmentStatus::Completed) => RequestStatus::Resolved,
        Some(_) => RequestStatus::Dispatching,
        None => RequestStatus::Triaged,
    }
}

fn queue_item(row: &QueueRow, assignment: Option<&AssignmentRow>) -> api::QueueItem {
    let mut reasons: Vec<i32> = Vec::new();
    if row.queue == 1 {
        let candidates = row
            .candidates
            .as_deref()
            .and_then(|c| ev::CandidateList::decode(c).ok())
            .map(|l| l.candidates)
            .unwrap_or_default();
        for c in &candidates {
            for r in &c.reasons {
                if !reasons.contains(r) {
                    reasons.push(*r);
                }
            }
        }
        if candidates.is_empty() {
            reasons.push(if row.lat.is_none() {
                IneligibleReason::NoLocation.code()
            } else {
                IneligibleReason::NoGroups.code()
            });
        }
        reasons.sort();
    }
    api::QueueItem {
        request: name("requests", row.request_id),
        reference_code: row.reference_code.clone(),
        category: row.category.into(),
        priority: row.priority.into(),
        location: Some(pb::Location {
            point: row
                .lat
                .zip(row.lon)
                .map(|(latitude, longitude)| pb::LatLng {
                    latitude,
                    longitude,
                }),
            address: String::new(),
            settlement: row.settlement.clone(),
            district: row.district.clone(),
            region: row.region.clone(),
        }),
        request_status: request_status(row).code(),
        assignment: assignment.map(to_api),
        escalation_reasons: reasons,
        since_time: Some(timestamp(row.since)),
        queue: row.queue.into(),
    }
}

fn queue_token(row: &QueueRow) -> String {
    format!(
        "v1.{}.{}.{}",
        row.priority,
        row.since.timestamp_micros(),
        row.request_id.simple()
    )
}

fn parse_queue_token(token: &str) -> Option<(i16, DateTime<Utc>, Uuid)> {
    let mut parts = token.strip_prefix("v1.")?.split('.');
    let priority = parts.next()?.parse().ok()?;
    let since = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    Some((priority, since, id))
}

fn reason_arg(reason: &str, v: &mut Vec<FieldViolation>) -> String {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            "reason",
            "required: 1 to 500 printable characters",
        ));
    }
    reason.to_string()
}

/// An assign or reassign, validated.
struct Move {
    key: Uuid,
    request_id: Uuid,
    group_id: Uuid,
    reason: String,
}

fn validate_move(key: &str, request: &str, group: &str, reason: &str) -> Result<Move, Status> {
    let mut v = Vec::new();
    let key = parse_request_id(key).map_err(|e| v.push(e)).ok();
    let request_id = parse_name("requests", request, "request")
        .map_err(|e| v.push(e))
        .ok();
    let group_id = parse_name("groups", group, "group")
        .map_err(|e| v.push(e))
        .ok();
    let reason = reason_arg(reason, &mut v);
    match (key, request_id, group_id) {
        (Some(key), Some(request_id), Some(group_id)) if v.is_empty() => Ok(Move {
            key,
            request_id,
            group_id,
            reason,
        }),
        _ => Err(invalid_argument(&v)),
    }
}

/// The request named in an event, by subject.
fn request_of(subject: &str, payload: &[u8]) -> Option<String> {
    Some(match subject {
        subject::REQUEST_TRIAGED => ev::RequestTriaged::decode(payload).ok()?.request,
        subject::REQUEST_ESCALATED => ev::RequestEscalated::decode(payload).ok()?.request,
        subject::REQUEST_STATUS_CHANGED => ev::RequestStatusChanged::decode(payload).ok()?.request,
        subject::REQUEST_MERGED => ev::RequestMerged::decode(payload).ok()?.request,
        subject::ASSIGNMENT_OFFERED => ev::AssignmentOffered::decode(payload).ok()?.request,
        subject::ASSIGNMENT_CHANGED => ev::AssignmentChanged::decode(payload).ok()?.request,
        _ => return None,
    })
}

type EventStream = Pin<Box<dyn futures::Stream<Item = Result<api::DispatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl api::dispatch_service_server::DispatchService for Dispatch {
    type WatchRegionStream = EventStream;

    async fn list_queue(
        &self,
        request: Request<api::ListQueueRequest>,
    ) -> Result<Response<api::ListQueueResponse>, Status> {
        let req = request.into_inner();
        let mut v = Vec::new();
        let queue = match api::Queue::try_from(req.queue) {
            Ok(q) if q != api::Queue::Unspecified => Some(q as i16),
            _ => {
                v.push(FieldViolation::new(
                    "queue",
                    "ESCALATED, UNASSIGNED or OVERDUE",
                ));
                None
            }
        };
        if req.page_size < 0 {
            v.push(FieldViolation::new("page_size", "must not be negative"));
        }
        let after = if req.page_token.is_empty() {
            None
        } else {
            let parsed = parse_queue_token(&req.page_token);
            if parsed.is_none() {
                v.push(FieldViolation::new(
                    "page_token",
                    "not a token from an earlier response",
                ));
            }
            parsed
        };
        for (i, c) in req.categories.iter().enumerate() {
            if Category::from_code(*c).is_none() {
                v.push(FieldViolation::new(
                    format!("categories[{i}]"),
                    "a category",
                ));
            }
        }
        let min_priority = match req.min_priority {
            0 => 0,
            p => match Priority::from_code(p) {
                Some(p) => p.code() as i16,
                None => {
                    v.push(FieldViolation::new("min_priority", "a priority"));
                    0
                }
            },
        };
        for (field, value) in [("region", &req.region), ("district", &req.district)] {
            if value.chars().count() > 200 {
                v.push(FieldViolation::new(field, "at most 200 characters"));
            }
        }
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let limit = match req.page_size {
            0 => 50.min(self.max_page_size),
            n => (n as u32).min(self.max_page_size),
        };
        let (en_route_within, on_site_within) = self.deadlines();
        let filter = QueueFilter {
            queue,
            request_id: None,
            region: req.region.trim().to_string(),
            district: req.district.trim().to_string(),
            categories: req.categories.iter().map(|c| *c as i16).collect(),
            min_priority,
            after,
            limit: i64::from(limit),
            en_route_within,
            on_site_within,
        };
        let rows = store::queue(&self.pool, &filter).await.map_err(internal)?;
        let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.assignment_id).collect();
        let assignments = store::get_many(&self.pool, &ids).await.map_err(internal)?;
        let items = rows
            .iter()
            .map(|row| {
                let assignment = row
                    .assignment_id
                    .and_then(|id| assignments.iter().find(|a| a.id == id));
                queue_item(row, assignment)
            })
            .collect();
        let next_page_token = match rows.last() {
            Some(last) if rows.len() as i64 == filter.limit => queue_token(last),
            _ => String::new(),
        };
        Ok(Response::new(api::ListQueueResponse {
            items,
            next_page_token,
        }))
    }

    async fn watch_region(
        &self,
        request: Request<api::WatchRegionRequest>,
    ) -> Result<Response<Self::WatchRegionStream>, Status> {
        let region = request.get_ref().region.trim().to_string();
        if region.chars().count() > 200 {
            return Err(invalid_argument(&[FieldViolation::new(
                "region",
                "at most 200 characters",
            )]));
        }
        let mut requests = self
            .bus
            .client
            .subscribe("komek.request.>")
            .await
            .map_err(internal)?;
        let mut assignments = self
            .bus
            .client
            .subscribe("komek.assignment.>")
            .await
            .map_err(internal)?;
        let (tx, rx) = mpsc::channel(64);
        let pool = self.pool.clone();
        let shutdown = self.shutdown.clone();
        let (en_route_within, on_site_within) = self.deadlines();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = requests.next() => m,
                    m = assignments.next() => m,
                    _ = tx.closed() => return,
                    _ = shutdown.cancelled() => return,
                };
                let Some(message) = message else { return };
                let Some(request) = request_of(&message.subject, &message.payload) else {
                    continue;
                };
                let Ok(id) = parse_name("requests", &request, "request") else {
                    continue;
                };
                let filter = QueueFilter {
                    request_id: Some(id),
                    region: region.clone(),
                    limit: 1,
                    en_route_within,
                    on_site_within,
                    ..Default::default()
                };
                let rows = match store::queue(&pool, &filter).await {
                    Ok(rows) => rows,
                    Err(err) => {
                        let _ = tx.send(Err(internal(err))).await;
                        return;
                    }
                };
                let Some(row) = rows.first() else {
                    // Another region's request, or one matching has not seen triaged yet.
                    continue;
                };
                let assignment = match row.assignment_id {
                    Some(a) => store::get(&pool, a).await.ok().flatten(),
                    None => None,
                };
                let mut item = queue_item(row, assignment.as_ref());
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
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn assign_request(
        &self,
        request: Request<api::AssignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let m = validate_move(&req.request_id, &req.request, &req.group, &req.reason)?;
        let matcher = self.matcher.clone();
        let row = self
            .manual(m.key, move |tx| {
                Box::pin(async move {
                    let job = job_of(tx, m.request_id).await?;
                    if let Some(active) = store::active_of(tx, m.request_id)
                        .await
                        .map_err(internal)?
                        .first()
                    {
                        return Err(Status::failed_precondition(format!(
                            "the request already has active assignments/{}; use ReassignRequest",
                            active.id
                        )));
                    }
                    offer_audited(tx, &matcher, &job, &m, &actor, "AssignRequest").await
                })
            })
            .await?;
        Ok(Response::new(to_api(&row)))
    }

    async fn reassign_request(
        &self,
        request: Request<api::ReassignRequestRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let m = validate_move(&req.request_id, &req.request, &req.group, &req.reason)?;
        let matcher = self.matcher.clone();
        let row = self
            .manual(m.key, move |tx| {
                Box::pin(async move {
                    let job = job_of(tx, m.request_id).await?;
                    let active = store::active_of(tx, m.request_id).await.map_err(internal)?;
                    let Some(current) = active.first() else {
                        return Err(Status::failed_precondition(
                            "the request has no active assignment; use AssignRequest",
                        ));
                    };
                    if current.group_id == m.group_id {
                        return Err(invalid_argument(&[FieldViolation::new(
                            "group",
                            "the group already holds this request",
                        )]));
                    }
                    let note = format!("reassigned by {actor}: {}", m.reason);
                    withdraw(tx, current, &note).await?;
                    offer_audited(tx, &matcher, &job, &m, &actor, "ReassignRequest").await
                })
            })
            .await?;
        Ok(Response::new(to_api(&row)))
    }

    async fn withdraw_assignment(
        &self,
        request: Request<api::WithdrawAssignmentRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let mut v = Vec::new();
        let key = parse_request_id(&req.request_id)
            .map_err(|e| v.push(e))
            .ok();
        let id = parse_name("assignments", &req.name, "name")
            .map_err(|e| v.push(e))
            .ok();
        let reason = reason_arg(&req.reason, &mut v);
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let (key, id) = (key.unwrap(), id.unwrap());
        let row = self
            .manual(key, move |tx| {
                Box::pin(async move {
                    let current = store::lock(tx, id)
                        .await
                        .map_err(internal)?
                        .ok_or_else(|| Status::not_found("assignment not found"))?;
                    let status = AssignmentStatus::from_code(current.status.into());
                    if !status.is_some_and(|s| s.is_active()) {
                        return Err(Status::failed_precondition(format!(
                            "the assignment is {} and holds nothing to withdraw",
                            status.map_or("unknown".into(), |s| format!("{s:?}").to_lowercase())
                        )));
                    }
                    let note = format!("withdrawn by {actor}: {reason}");
                    let withdrawn = withdraw(tx, &current, &note).await?;
                    store::audit(
                        tx,
                        &NewAudit {
                            key: Some(key),
                            actor: &actor,
                            action: "WithdrawAssignment",
                            request_id: current.request_id,
                            assignment_id: Some(current.id),
                            group_id: Some(current.group_id),
                            reason: &reason,
                        },
                    )
                    .await
                    .map_err(internal)?;
                    tracing::info!(assignment = %id, by = %actor, "withdrawn by hand");
                    Ok(withdrawn)
                })
            })
            .await?;
        Ok(Response::new(to_api(&row)))
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
        request: Request<api::ListDispatchAuditRequest>,
    ) -> Result<Response<api::ListDispatchAuditResponse>, Status> {
        let req = request.into_inner();
        let mut v = Vec::new();
        let request_id = (!req.request.is_empty())
            .then(|| {
                parse_name("requests", &req.request, "request")
                    .map_err(|e| v.push(e))
                    .ok()
            })
            .flatten();
        let before = (!req.page_token.is_empty())
            .then(|| {
                req.page_token
                    .parse::<i64>()
                    .map_err(|_| {
                        v.push(FieldViolation::new(
                            "page_token",
                            "not a token from an earlier response",
                        ))
                    })
                    .ok()
            })
            .flatten();
        if req.page_size < 0 {
            v.push(FieldViolation::new("page_size", "must not be negative"));
        }
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let limit = match req.page_size {
            0 => 50.min(self.max_page_size),
            n => (n as u32).min(self.max_page_size),
        };
        let rows = store::audit_log(&self.pool, request_id, before, i64::from(limit))
            .await
            .map_err(internal)?;
        let next_page_token = match rows.last() {
            Some(last) if rows.len() as u32 == limit => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(api::ListDispatchAuditResponse {
            entries: rows
                .iter()
                .map(|r| api::DispatchAuditEntry {
                    actor: r.actor.clone(),
                    action: r.action.clone(),
                    request: name("requests", r.request_id),
                    assignment: r
                        .assignment_id
                        .map(|a| name("assignments", a))
                        .unwrap_or_default(),
                    group: r.group_id.map(|g| name("groups", g)).unwrap_or_default(),
                    reason: r.reason.clone(),
                    create_time: Some(timestamp(r.created_at)),
                })
                .collect(),
            next_page_token,
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
    store::audit(
        tx,
        &NewAudit {
            key: Some(m.key),
            actor,
            action,
            request_id: m.request_id,
            assignment_id: Some(offered.id),
            group_id: Some(m.group_id),
            reason: &m.reason,
        },
    )
    .await
    .map_err(internal)?;
    tracing::info!(request = %m.request_id, group = %m.group_id, by = %actor, action,
        "moved by hand");
    Ok(offered)
}

/// The job matching keeps for a request, refusing closed or unknown requests.
async fn job_of(tx: &mut PgConnection, request_id: Uuid) -> Result<Job, Status> {
    if store::is_closed(tx, request_id).await.map_err(internal)? {
        return Err(Status::failed_precondition("the request is closed"));
    }
    let jobs = store::jobs(tx, &[request_id]).await.map_err(internal)?;
    let job = jobs
        .first()
        .ok_or_else(|| Status::not_found("no triaged request of that name"))?;
    Ok(Job::from_row(job))
}

/// Withdraws an active assignment, gives the group's place back and announces it.
async fn withdraw(
    tx: &mut PgConnection,
    current: &AssignmentRow,
    reason: &str,
) -> Result<AssignmentRow, Status> {
    let withdrawn = store::set_status(
        tx,
        current.id,
        AssignmentStatus::Withdrawn.code() as i16,
        reason,
        true,
    )
    .await
    .map_err(internal)?;
    enqueue(
        tx,
        subject::ASSIGNMENT_CHANGED,
        &ladder::changed(&withdrawn, current.status),
    )
    .await
    .map_err(internal)?;
    Ok(withdrawn)
}
