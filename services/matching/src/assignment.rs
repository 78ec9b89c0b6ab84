//! AssignmentService: what the volunteer app calls.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use komek_core::AssignmentStatus;
use komek_core::GeoPoint;
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_runtime::convert::{from_timestamp, name, parse_name, parse_request_id, timestamp};
use komek_runtime::events::{Bus, HandleError, enqueue, streams, subject};
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal};

use crate::contact::Callers;
use crate::index::{self, GroupIndex};
use crate::ladder;
use crate::matcher::Matcher;
use crate::store::{self, AssignmentRow};

pub struct Assignments {
    pool: PgPool,
    bus: Bus,
    index: Arc<GroupIndex>,
    matcher: Arc<Matcher>,
    keepalive: Duration,
    shutdown: CancellationToken,
    callers: Callers,
}

impl Assignments {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        index: Arc<GroupIndex>,
        matcher: Arc<Matcher>,
        keepalive: Duration,
        shutdown: CancellationToken,
        callers: Callers,
    ) -> Self {
        Self {
            pool,
            bus,
            index,
            matcher,
            keepalive,
            shutdown,
            callers,
        }
    }

    /// The assignment as its group sees it: with the caller's contact once the group holds
    /// the job.
    async fn for_group(&self, row: &AssignmentRow, volunteer: Uuid) -> api::Assignment {
        let mut out = to_api(row);
        if AssignmentStatus::from_code(row.status.into()).is_some_and(|s| s.holds_contact()) {
            out.caller_contact = self.callers.reveal(row, volunteer).await;
        }
        out
    }

    /// Validates an accept or decline and locks the open offer it answers. `Ok(Err(row))` is a
    /// retry of an answer already given: the assignment as it is now.
    async fn answer(
        &self,
        tx: &mut sqlx::PgConnection,
        a: &Answer,
        action: &str,
    ) -> Result<Result<AssignmentRow, AssignmentRow>, Status> {
        let row = store::lock(tx, a.id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found("assignment not found"))?;
        if !self
            .index
            .is_member(a.volunteer, &name("groups", row.group_id))
        {
            return Err(out_of_scope(
                "the volunteer is not a member of the group this offer was made to",
            ));
        }
        let fresh = store::record_action(tx, a.key, a.id, action, &name("volunteers", a.volunteer))
            .await
            .map_err(internal)?;
        if !fresh {
            return Ok(Err(row));
        }
        let status = AssignmentStatus::from_code(row.status.into());
        if status != Some(AssignmentStatus::Offered) {
            return Err(Status::failed_precondition(format!(
                "the offer is no longer open: it is {}{}",
                status.map_or("unknown".into(), |s| format!("{s:?}").to_lowercase()),
                if row.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", row.reason)
                }
            )));
        }
        if row.expire_at <= chrono::Utc::now() {
            return Err(Status::failed_precondition("the offer expired"));
        }
        Ok(Ok(row))
    }
}

/// An accept or decline, validated.
struct Answer {
    id: Uuid,
    key: Uuid,
    volunteer: Uuid,
}

/// The volunteer a call acts as: the signed-in one. A `volunteer` field, when given, must name
/// the same volunteer: nobody answers for someone else.
fn acting_volunteer(principal: &Principal, field: &str) -> Result<Uuid, Status> {
    let me = principal
        .volunteer()
        .ok_or_else(|| out_of_scope("only a volunteer acts on offers"))?;
    if field.is_empty() || field == principal.subject {
        Ok(me)
    } else {
        Err(out_of_scope(format!(
            "signed in as {}, cannot act as {field}",
            principal.subject
        )))
    }
}

fn validate_answer(
    name: &str,
    request_id: &str,
    volunteer: Uuid,
    mut v: Vec<FieldViolation>,
) -> Result<Answer, Status> {
    let id = parse_name("assignments", name, "name")
        .map_err(|e| v.push(e))
        .ok();
    let key = parse_request_id(request_id).map_err(|e| v.push(e)).ok();
    if !v.is_empty() {
        return Err(invalid_argument(&v));
    }
    Ok(Answer {
        id: id.unwrap(),
        key: key.unwrap(),
        volunteer,
    })
}

fn placing_failed(err: HandleError) -> Status {
    match err {
        // The roster index lags the stream: worth a retry in a moment.
        HandleError::Retry(e) => Status::unavailable(format!("try again: {e}")),
        HandleError::Reject(e) => Status::internal(e),
    }
}

/// Cursors are positions in the assignments stream, versioned so their form can change.
fn encode_cursor(seq: u64) -> String {
    format!("v1.{seq}")
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    cursor.strip_prefix("v1.")?.parse().ok()
}

/// An offer as the volunteer sees it: settlement and district, never the address or caller.
pub(crate) fn to_api(row: &AssignmentRow) -> api::Assignment {
    api::Assignment {
        name: name("assignments", row.id),
        request: name("requests", row.request_id),
        reference_code: row.reference_code.clone(),
        group: name("groups", row.group_id),
        status: row.status.into(),
        category: row.category.into(),
        priority: row.priority.into(),
        required_skills: row.required_skills.iter().map(|s| i32::from(*s)).collect(),
        location: Some(pb::Location {
            point: Some(pb::LatLng {
                latitude: row.lat,
                longitude: row.lon,
            }),
            address: String::new(),
            settlement: row.settlement.clone(),
            district: row.district.clone(),
            region: row.region.clone(),
        }),
        distance_meters: row.distance_m,
        summary: String::new(),
        offer_time: Some(timestamp(row.offered_at)),
        expire_time: Some(timestamp(row.expire_at)),
        update_time: Some(timestamp(row.updated_at)),
        caller_contact: None,
        outcome: row.outcome.into(),
        reason: row.reason.clone(),
        etag: row.version.to_string(),
    }
}

fn offered_to_api(e: &ev::AssignmentOffered) -> api::Assignment {
    api::Assignment {
        name: e.assignment.clone(),
        request: e.request.clone(),
        reference_code: e.reference_code.clone(),
        group: e.group.clone(),
        status: pb::AssignmentStatus::Offered as i32,
        category: e.category,
        priority: e.priority,
        required_skills: e.required_skills.clone(),
        location: e.location.clone(),
        distance_meters: e.distance_meters,
        offer_time: e.offer_time,
        expire_time: e.expire_time,
        update_time: e.offer_time,
        etag: "1".into(),
        ..Default::default()
    }
}

type OfferStream = Pin<Box<dyn futures::Stream<Item = Result<api::OfferEvent, Status>> + Send>>;

#[tonic::async_trait]
impl api::assignment_service_server::AssignmentService for Assignments {
    type StreamOffersStream = OfferStream;

    async fn stream_offers(
        &self,
        request: Request<api::StreamOffersRequest>,
    ) -> Result<Response<Self::StreamOffersStream>, Status> {
        let volunteer =
            acting_volunteer(&auth::principal(&request)?, &request.get_ref().volunteer)?;
        let resume = match request.get_ref().cursor.as_str() {
            "" => None,
            c => Some(decode_cursor(c).ok_or_else(|| {
                invalid_argument(&[FieldViolation::new("cursor", "not a cursor from this feed")])
            })?),
        };
        // A volunteer added a moment ago may not be in the index yet: the roster publishes
        // through its outbox, a little after its RPC returned.
        let head = index::roster_head(&self.bus).await.map_err(internal)?;
        self.index.wait_for(head, Duration::from_secs(5)).await;
        let groups = self
            .index
            .wait_for_membership(volunteer, Duration::from_secs(5))
            .await;
        if groups.is_empty() {
            return Err(Status::not_found("volunteer is not a member of any group"));
        }

        // The feed is the assignments stream; a cursor is a position in it. On a fresh start
        // the open offers are read from the database after noting the stream's head, and the
        // feed continues after that head, so nothing falls between the two (an offer seen both
        // ways is sent once). A resumed stream replays exactly the events after its cursor.
        let mut stream = self
            .bus
            .jetstream
            .get_stream(streams::ASSIGNMENTS)
            .await
            .map_err(internal)?;
        let info = stream.info().await.map_err(internal)?.state.clone();
        let (start, open) = match resume {
            Some(after) => {
                if after + 1 < info.first_sequence || after > info.last_sequence {
                    return Err(Status::out_of_range(
                        "the cursor is older than the feed keeps, or not from it; reconnect \
                         without a cursor",
                    ));
                }
                (after, Vec::new())
            }
            None => {
                let open = store::open_offers(&self.pool, &groups)
                    .await
                    .map_err(internal)?;
                (info.last_sequence, open)
            }
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start + 1,
                },
                filter_subject: "komek.assignment.>".into(),
                ..Default::default()
            })
            .await
            .map_err(internal)?;
        let mut live = consumer.messages().await.map_err(internal)?;

        let (tx, rx) = mpsc::channel(64);
        let keepalive = self.keepalive;
        let index = self.index.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut sent: HashSet<String> = HashSet::new();
            let mut cursor = start;
            for row in &open {
                let event = api::OfferEvent {
                    kind: api::OfferEventKind::Pending as i32,
                    assignment: Some(to_api(row)),
                    cursor: encode_cursor(cursor),
                };
                sent.insert(name("assignments", row.id));
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            // Membership is checked per event, so joining or leaving a group takes effect on
            // an open stream.
            loop {
                let message = tokio::select! {
                    m = live.next() => m,
                    _ = tokio::time::sleep(keepalive) => {
                        // Keepalives carry the cursor too: events skipped for this volunteer
                        // still move it, so a resume does not re-read them.
                        let ping = api::OfferEvent {
                            kind: api::OfferEventKind::Keepalive as i32,
                            assignment: None,
                            cursor: encode_cursor(cursor),
                        };
                        if tx.send(Ok(ping)).await.is_err() { return; }
                        continue;
                    }
                    _ = tx.closed() => return,
                    // Ends the stream so the server can drain on shutdown.
                    _ = shutdown.cancelled() => return,
                };
                let message = match message {
                    Some(Ok(m)) => m,
                    Some(Err(err)) => {
                        let _ = tx
                            .send(Err(Status::unavailable(format!(
                                "feed interrupted: {err}; resume with the last cursor"
                            ))))
                            .await;
                        return;
                    }
                    None => return,
                };
                if let Ok(info) = message.info() {
                    cursor = info.stream_sequence;
                }
                let event = match message.subject.as_str() {
                    subject::ASSIGNMENT_OFFERED => {
                        let Ok(e) = ev::AssignmentOffered::decode(message.payload.as_ref()) else {
                            continue;
                        };
                        if !index.is_member(volunteer, &e.group) {
                            continue;
                        }
                        if sent.insert(e.assignment.clone()) {
                            api::OfferEvent {
                                kind: api::OfferEventKind::Offered as i32,
                                assignment: Some(offered_to_api(&e)),
                                cursor: encode_cursor(cursor),
                            }
                        } else {
                            // Already sent as pending: only the cursor moves past it, so a
                            // resume from here does not send it again.
                            api::OfferEvent {
                                kind: api::OfferEventKind::Keepalive as i32,
                                assignment: None,
                                cursor: encode_cursor(cursor),
                            }
                        }
                    }
                    subject::ASSIGNMENT_CHANGED => {
                        let Ok(e) = ev::AssignmentChanged::decode(message.payload.as_ref()) else {
                            continue;
                        };
                        if !index.is_member(volunteer, &e.group) {
                            continue;
                        }
                        let kind = match pb::AssignmentStatus::try_from(e.status) {
                            Ok(pb::AssignmentStatus::Withdrawn) => api::OfferEventKind::Withdrawn,
                            Ok(pb::AssignmentStatus::Expired) => api::OfferEventKind::Expired,
                            _ => continue,
                        };
                        api::OfferEvent {
                            kind: kind as i32,
                            assignment: Some(api::Assignment {
                                name: e.assignment,
                                request: e.request,
                                group: e.group,
                                status: e.status,
                                reason: e.reason,
                                ..Default::default()
                            }),
                            cursor: encode_cursor(cursor),
                        }
                    }
                    _ => continue,
                };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn accept_offer(
        &self,
        request: Request<api::AcceptOfferRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let volunteer = acting_volunteer(&principal, &req.volunteer)?;
        let answer = validate_answer(&req.name, &req.request_id, volunteer, vec![])?;
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let offer = match self.answer(&mut tx, &answer, "accept").await? {
            Ok(offer) => offer,
            Err(current) => {
                drop(tx);
                return Ok(Response::new(self.for_group(&current, volunteer).await));
            }
        };
        let reason = format!("accepted by {}", principal.subject);
        // The group keeps the capacity unit the offer took.
        let accepted = store::set_status(
            &mut tx,
            offer.id,
            AssignmentStatus::Accepted.code() as i16,
            &reason,
            false,
        )
        .await
        .map_err(internal)?;
        enqueue(
            &mut tx,
            subject::ASSIGNMENT_CHANGED,
            &ladder::changed(&accepted, offer.status),
        )
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        self.bus.wake_outbox();
        tracing::info!(assignment = %offer.id, request = %offer.request_id, "offer accepted");
        Ok(Response::new(self.for_group(&accepted, volunteer).await))
    }

    async fn decline_offer(
        &self,
        request: Request<api::DeclineOfferRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let volunteer = acting_volunteer(&principal, &req.volunteer)?;
        let reason = req.reason.trim();
        let mut v = Vec::new();
        if reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            v.push(FieldViolation::new(
                "reason",
                "at most 500 printable characters",
            ));
        }
        let answer = validate_answer(&req.name, &req.request_id, volunteer, v)?;
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let offer = match self.answer(&mut tx, &answer, "decline").await? {
            Ok(offer) => offer,
            Err(current) => return Ok(Response::new(to_api(&current))),
        };
        let reason = if reason.is_empty() {
            format!("declined by {}", principal.subject)
        } else {
            format!("declined by {}: {reason}", principal.subject)
        };
        // The request moves on to the next group in the same transaction.
        let declined = ladder::close_and_move_on(
            &mut tx,
            &self.matcher,
            &offer,
            AssignmentStatus::Declined,
            &reason,
        )
        .await
        .map_err(placing_failed)?;
        tx.commit().await.map_err(internal)?;
        self.bus.wake_outbox();
        tracing::info!(assignment = %offer.id, request = %offer.request_id, "offer declined");
        Ok(Response::new(to_api(&declined)))
    }

    async fn update_progress(
        &self,
        request: Request<api::UpdateProgressRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let volunteer = acting_volunteer(&principal, &req.volunteer)?;
        let mut v = Vec::new();
        let next = match api::ProgressStep::try_from(req.step) {
            Ok(api::ProgressStep::EnRoute) => Some(AssignmentStatus::EnRoute),
            Ok(api::ProgressStep::OnSite) => Some(AssignmentStatus::OnSite),
            Ok(api::ProgressStep::Completed) => Some(AssignmentStatus::Completed),
            Ok(api::ProgressStep::Aborted) => Some(AssignmentStatus::Aborted),
            _ => {
                v.push(FieldViolation::new(
                    "step",
                    "en route, on site, completed or aborted",
                ));
                None
            }
        };
        let completed = next == Some(AssignmentStatus::Completed);
        let aborted = next == Some(AssignmentStatus::Aborted);
        if completed
            && !matches!(pb::Outcome::try_from(req.outcome), Ok(o) if o != pb::Outcome::Unspecified)
        {
            v.push(FieldViolation::new(
                "outcome",
                "required when the job is completed",
            ));
        }
        let reason = req.reason.trim();
        if aborted && reason.is_empty() {
            v.push(FieldViolation::new(
                "reason",
                "required when the job is aborted",
            ));
        }
        for (field, value, max) in [
            ("reason", reason, 500),
            ("note", req.note.trim(), 2000),
            ("proof_uri", req.proof_uri.trim(), 2000),
        ] {
            if value.chars().count() > max || value.chars().any(char::is_control) {
                v.push(FieldViolation::new(
                    field,
                    format!("at most {max} printable characters"),
                ));
            }
        }
        let etag = if req.etag.is_empty() {
            None
        } else {
            req.etag
                .parse::<i64>()
                .map_err(|_| {
                    v.push(FieldViolation::new(
                        "etag",
                        "not an etag of this assignment",
                    ))
                })
                .ok()
        };
        let answer = validate_answer(&req.name, &req.request_id, volunteer, v)?;
        let next = next.expect("validated");

        let mut tx = self.pool.begin().await.map_err(internal)?;
        let row = store::lock(&mut tx, answer.id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found("assignment not found"))?;
        let group = name("groups", row.group_id);
        if !self.index.is_member(answer.volunteer, &group) {
            return Err(out_of_scope(
                "the volunteer is not a member of the group doing this job",
            ));
        }
        let step = format!("progress:{}", req.step);
        if !store::record_action(&mut tx, answer.key, answer.id, &step, &principal.subject)
            .await
            .map_err(internal)?
        {
            return Ok(Response::new(to_api(&row)));
        }
        if etag.is_some_and(|e| e != row.version) {
            return Err(Status::failed_precondition(
                "etag does not match; the assignment changed meanwhile",
            ));
        }
        let current = AssignmentStatus::from_code(row.status.into());
        if !current.is_some_and(|c| c.can_become(next)) {
            return Err(Status::failed_precondition(format!(
                "a job that is {} cannot become {}",
                current.map_or("unknown".into(), |c| format!("{c:?}").to_lowercase()),
                format!("{next:?}").to_lowercase()
            )));
        }
        let updated = if aborted {
            // The job goes back to the ladder: the next group is offered in this transaction.
            ladder::close_and_move_on(&mut tx, &self.matcher, &row, next, reason)
                .await
                .map_err(placing_failed)?
        } else {
            let outcome = if completed { req.outcome as i16 } else { 0 };
            let updated = store::set_progress(
                &mut tx,
                row.id,
                next.code() as i16,
                reason,
                outcome,
                req.note.trim(),
                req.proof_uri.trim(),
            )
            .await
            .map_err(internal)?;
            if completed {
                // The place is free again once the group has rested.
                store::release(&mut tx, row.group_id)
                    .await
                    .map_err(internal)?;
                store::finish_job(&mut tx, row.request_id)
                    .await
                    .map_err(internal)?;
                let rest = self.index.get(row.group_id).map_or(0, |g| g.rest_minutes);
                store::start_rest(&mut tx, row.group_id, rest)
                    .await
                    .map_err(internal)?;
            }
            enqueue(
                &mut tx,
                subject::ASSIGNMENT_CHANGED,
                &ladder::changed(&updated, row.status),
            )
            .await
            .map_err(internal)?;
            updated
        };
        tx.commit().await.map_err(internal)?;
        self.bus.wake_outbox();
        tracing::info!(assignment = %row.id, status = ?next, "progress reported");
        Ok(Response::new(to_api(&updated)))
    }

    async fn report_position(
        &self,
        request: Request<api::ReportPositionRequest>,
    ) -> Result<Response<api::ReportPositionResponse>, Status> {
        let principal = auth::principal(&request)?;
        let volunteer = acting_volunteer(&principal, "")?;
        let req = request.into_inner();
        let mut v = Vec::new();
        let id = parse_name("assignments", &req.name, "name")
            .map_err(|e| v.push(e))
            .ok();
        let point = match req.location {
            Some(p) => GeoPoint::new(p.latitude, p.longitude)
                .map_err(|e| v.push(FieldViolation::new("location", e.to_string())))
                .ok(),
            None => {
                v.push(FieldViolation::new("location", "required"));
                None
            }
        };
        let now = chrono::Utc::now();
        let at = match &req.fix_time {
            None => Some(now),
            Some(t) => from_timestamp(t, "fix_time")
                .map_err(|e| v.push(e))
                .ok()
                .filter(|at| {
                    // Phones' clocks drift a little; a fix from the future or of yesterday is
                    // a broken clock or a replay.
                    let fresh = *at <= now + chrono::Duration::minutes(2)
                        && *at >= now - chrono::Duration::hours(6);
                    if !fresh {
                        v.push(FieldViolation::new(
                            "fix_time",
                            "within the last 6 hours and not in the future",
                        ));
                    }
                    fresh
                }),
        };
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let (id, point, at) = (id.unwrap(), point.unwrap(), at.unwrap());
        let row = store::get(&self.pool, id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found("assignment not found"))?;
        if !self
            .index
            .is_member(volunteer, &name("groups", row.group_id))
        {
            return Err(out_of_scope(
                "the volunteer is not a member of the group doing this job",
            ));
        }
        let status = store::record_position(&self.pool, id, point.lat(), point.lon(), at)
            .await
            .map_err(internal)?;
        match status {
            None => Err(Status::not_found("assignment not found")),
            Some(6 | 7) => {
                // Positions are live information, not history: they go out on plain NATS for
                // whoever watches now, and only the latest is kept.
                let fix = pb::LatLng {
                    latitude: point.lat(),
                    longitude: point.lon(),
                };
                let _ = self
                    .bus
                    .client
                    .publish(
                        format!("komek.live.position.{id}"),
                        fix.encode_to_vec().into(),
                    )
                    .await;
                Ok(Response::new(api::ReportPositionResponse {}))
            }
            Some(_) => Err(Status::failed_precondition(
                "positions are reported only while en route or on site",
            )),
        }
    }

    async fn get_assignment(
        &self,
        request: Request<api::GetAssignmentRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let id: Uuid = parse_name("assignments", &request.get_ref().name, "name")
            .map_err(|v| invalid_argument(&[v]))?;
        let row = store::get(&self.pool, id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found("assignment not found"))?;
        match principal.volunteer() {
            // Dispatchers and admins read any assignment; the caller they see in intake.
            None => Ok(Response::new(to_api(&row))),
            Some(volunteer)
                if self
                    .index
                    .is_member(volunteer, &name("groups", row.group_id)) =>
            {
                Ok(Response::new(self.for_group(&row, volunteer).await))
            }
            Some(_) => Err(out_of_scope(
                "the volunteer is not a member of the group of this assignment",
            )),
        }
    }
}
