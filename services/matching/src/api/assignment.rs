//! AssignmentService: what the volunteer app calls.

use std::sync::Arc;
use std::time::Duration;

use komek_core::AssignmentStatus;
use komek_proto::matching::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal};
use komek_runtime::boundary::{database, messaging, name, parse_name};
use komek_runtime::db;
use komek_runtime::events::{self, Bus, streams};
use komek_runtime::follow;
use komek_runtime::pump::{Pumps, ResponseStream};
use prost::Message;
use sqlx::{Connection, PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::placing_failed;
use crate::contact::Callers;
use crate::feed::{self, Offers};
use crate::index::GroupIndex;
use crate::jobs::{self, Step};
use crate::matcher::Matcher;
use crate::store::{self, AssignmentRow};
use crate::validate::{self, Answer};
use crate::{convert, ladder};

pub struct Assignments {
    pool: PgPool,
    /// Connections for the volunteers' answers, kept between calls (see [`db::Warm`]).
    warm: Arc<db::Warm>,
    bus: Bus,
    index: Arc<GroupIndex>,
    matcher: Arc<Matcher>,
    keepalive: Duration,
    pumps: Pumps,
    callers: Callers,
    /// The accepts read together and written together (`jobs::step_as_read`).
    reads: jobs::Reads,
    steps: jobs::Steps,
}

impl Assignments {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        index: Arc<GroupIndex>,
        matcher: Arc<Matcher>,
        keepalive: Duration,
        pumps: Pumps,
        callers: Callers,
    ) -> Self {
        let warm = Arc::new(db::Warm::new(pool.clone()));
        Self {
            reads: jobs::Reads::start(warm.clone()),
            warm,
            steps: jobs::Steps::start(pool.clone(), bus.clone()),
            pool,
            bus,
            index,
            matcher,
            keepalive,
            pumps,
            callers,
        }
    }

    /// The assignment as its group sees it: with the caller's contact once the group holds
    /// the job, unless it supports a wide search's lead (the lead alone calls the caller back;
    /// supporters go by the place).
    async fn for_group(&self, row: &AssignmentRow, volunteer: Uuid) -> api::Assignment {
        let mut out = convert::assignment(row);
        let supports = row.search_role() == pb::SearchRole::Support;
        if !supports && AssignmentStatus::from_stored(row.status).is_some_and(|s| s.holds_contact())
        {
            out.caller_contact = self.callers.reveal(row, volunteer).await;
            // Where to go, for the group that took the job.
            if let (Some(contact), Some(location)) = (&out.caller_contact, &mut out.location) {
                location.address = contact.address.clone();
            }
        }
        out
    }

    /// The assignment named in an answer, as [`Self::begin_locked`] locked it, if the
    /// volunteer is in its group.
    fn lock_for(
        &self,
        locked: Option<AssignmentRow>,
        volunteer: Uuid,
        doing: &str,
    ) -> Result<AssignmentRow, Status> {
        let Some(row) = locked else {
            return Err(Status::not_found("assignment not found"));
        };
        self.require_member(volunteer, &row, doing)?;
        Ok(row)
    }

    /// A transaction holding the assignment's row, with the row as locked (None when there is
    /// no such assignment). An offer to one group (nearly all) locks its row alone, in one
    /// statement; a wide search's answers lock the whole search first (see
    /// [`Self::lock_wide_search`]), so a row found wide is let go and locked again that way.
    /// Whether an assignment is wide never changes.
    async fn begin_locked<'c>(
        conn: &'c mut PgConnection,
        id: Uuid,
    ) -> Result<(sqlx::Transaction<'c, sqlx::Postgres>, Option<AssignmentRow>), Status> {
        let mut tx = conn.begin().await.map_err(database)?;
        let row = store::lock(&mut tx, id).await?;
        let Some(request) = row.as_ref().filter(|r| r.wide).map(|r| r.request_id) else {
            return Ok((tx, row));
        };
        Self::start_again(&mut tx).await?;
        Self::lock_wide_search(&mut tx, Some(request)).await?;
        let row = store::lock(&mut tx, id).await?;
        Ok((tx, row))
    }

    /// Rolls the transaction back and begins another on the same connection, under the same
    /// handle (a `Transaction` borrows its connection for as long as it is returned, so a
    /// second one could not be begun on it here).
    async fn start_again(tx: &mut PgConnection) -> Result<(), Status> {
        for statement in ["ROLLBACK", "BEGIN"] {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        }
        Ok(())
    }

    /// [`Self::begin_locked`] for an answer to an offer: the answer's key is recorded in the
    /// statement that locks the row, with whether it is new (false: a retry).
    async fn begin_answer<'c>(
        conn: &'c mut PgConnection,
        a: &Answer,
        action: &str,
        volunteer: Uuid,
    ) -> Result<
        (
            sqlx::Transaction<'c, sqlx::Postgres>,
            Option<(AssignmentRow, bool)>,
        ),
        Status,
    > {
        let by = name("volunteers", volunteer);
        let mut tx = conn.begin().await.map_err(database)?;
        let row = store::lock_and_record_action(&mut tx, a.id, a.key, action, &by).await?;
        let Some(request) = row
            .as_ref()
            .filter(|(r, _)| r.wide)
            .map(|(r, _)| r.request_id)
        else {
            return Ok((tx, row));
        };
        // Rolled back with the key; recorded again below.
        Self::start_again(&mut tx).await?;
        Self::lock_wide_search(&mut tx, Some(request)).await?;
        let row = store::lock_and_record_action(&mut tx, a.id, a.key, action, &by).await?;
        Ok((tx, row))
    }

    /// The usual accept, of an open offer to one group under a new key, read without a lock
    /// and written with the other answers of the moment if nothing changed meanwhile
    /// (`jobs::step_as_read`). None when it was not written, whatever the reason: the locked
    /// way then decides, errors and retries included.
    async fn accept_as_read(
        &self,
        answer: &Answer,
        volunteer: Uuid,
        reason: &str,
    ) -> Result<Option<AssignmentRow>, Status> {
        let Some(read) = self.reads.read(answer.id, answer.key).await else {
            return Ok(None);
        };
        if read.key_used || read.row.wide {
            return Ok(None);
        }
        if !matches!(
            self.answer(Some((read.row.clone(), true)), volunteer, "accept"),
            Ok(Ok(_))
        ) {
            return Ok(None);
        }
        let by = name("volunteers", volunteer);
        let step = Step::to(AssignmentStatus::Accepted, reason);
        Ok(jobs::step_as_read(&self.steps, read, (answer.key, "accept"), by, step).await?)
    }

    /// A volunteer acts only on its own groups' assignments.
    fn require_member(
        &self,
        volunteer: Uuid,
        row: &AssignmentRow,
        doing: &str,
    ) -> Result<(), Status> {
        if !self
            .index
            .is_member(volunteer, &name("groups", row.group_id))
        {
            return Err(out_of_scope(format!(
                "the volunteer is not a member of the group {doing}"
            )));
        }
        Ok(())
    }

    /// Locks every assignment of a wide search's request before the one answered or
    /// progressed: two groups answering at once are decided one after the other, and always
    /// lock in the same order. Nothing for an offer to one group.
    async fn lock_wide_search(tx: &mut PgConnection, request: Option<Uuid>) -> Result<(), Status> {
        if let Some(request) = request {
            store::lock_request(tx, request).await?;
        }
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<AssignmentRow, Status> {
        store::get(&self.pool, id)
            .await?
            .ok_or_else(|| Status::not_found("assignment not found"))
    }

    /// Validates an accept or decline of the open offer locked for it (see
    /// [`Self::begin_answer`]). `Ok(Err(row))` is a retry of an answer already given: the
    /// assignment as it is now.
    fn answer(
        &self,
        locked: Option<(AssignmentRow, bool)>,
        volunteer: Uuid,
        action: &str,
    ) -> Result<Result<AssignmentRow, AssignmentRow>, Status> {
        let (row, new_key) = match locked {
            Some((row, new_key)) => (Some(row), new_key),
            None => (None, false),
        };
        let row = self.lock_for(row, volunteer, "this offer was made to")?;
        if !new_key {
            return Ok(Err(row));
        }
        let status = AssignmentStatus::from_stored(row.status);
        // The same answer given before under another request_id (an app that lost the reply
        // and retried with a fresh key): the answer stands, and the caller gets where the
        // assignment is now.
        let given = match action {
            "accept" => status.is_some_and(AssignmentStatus::was_accepted),
            "decline" => status == Some(AssignmentStatus::Declined),
            _ => false,
        };
        if given {
            return Ok(Err(row));
        }
        if status != Some(AssignmentStatus::Offered) {
            let reason = if row.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", row.reason)
            };
            return Err(Status::failed_precondition(format!(
                "the offer is no longer open: it is {}{reason}",
                jobs::word(status)
            )));
        }
        if row.expire_at <= chrono::Utc::now() {
            return Err(Status::failed_precondition("the offer expired"));
        }
        // Between a deactivation and the sweep that passes its offers on, the group's offers
        // are still open; none of them may become a job.
        if action == "accept" && self.index.get(row.group_id).is_some_and(|g| !g.active) {
            return Err(Status::failed_precondition(
                "the group is deactivated; its offers go to other groups",
            ));
        }
        Ok(Ok(row))
    }
}

/// The volunteer a call acts as: the signed-in one. A `volunteer` field, when given, must name
/// the same volunteer: nobody answers for someone else.
fn acting_volunteer(principal: &Principal, field: &str) -> Result<Uuid, Status> {
    let me = principal
        .volunteer()
        .ok_or_else(|| out_of_scope("only a volunteer acts on offers"))?;
    if !field.is_empty() && field != principal.subject {
        return Err(out_of_scope(format!(
            "signed in as {}, cannot act as {field}",
            principal.subject
        )));
    }
    Ok(me)
}

#[tonic::async_trait]
impl api::assignment_service_server::AssignmentService for Assignments {
    type StreamOffersStream = ResponseStream<api::OfferEvent>;

    async fn stream_offers(
        &self,
        request: Request<api::StreamOffersRequest>,
    ) -> Result<Response<Self::StreamOffersStream>, Status> {
        let principal = auth::principal(&request)?;
        let volunteer = acting_volunteer(&principal, &request.get_ref().volunteer)?;
        let resume = validate::cursor(&request.get_ref().cursor)?;
        // A volunteer added a moment ago may not be in the index yet: the roster publishes
        // through its outbox, a little after its RPC returned.
        follow::catch_up(&*self.index, &self.bus, Duration::from_secs(5))
            .await
            .map_err(messaging)?;
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
            .map_err(messaging)?;
        let info = stream.info().await.map_err(messaging)?.clone();
        let identity = feed::stream_identity(&info);
        let info = info.state;
        let (start, open) = match resume {
            Some(cursor) => {
                let after = cursor.seq;
                if cursor.stream.is_some_and(|s| s != identity) {
                    return Err(Status::out_of_range(
                        "the feed was rebuilt since this cursor (a restore); reconnect without \
                         a cursor",
                    ));
                }
                if after + 1 < info.first_sequence || after > info.last_sequence {
                    return Err(Status::out_of_range(
                        "the cursor is older than the feed keeps, or not from it; reconnect \
                         without a cursor",
                    ));
                }
                (after, Vec::new())
            }
            None => (
                info.last_sequence,
                store::open_offers(&self.pool, &groups).await?,
            ),
        };
        let offers = Offers {
            volunteer,
            index: self.index.clone(),
            start,
            stream: identity,
            open,
            live: feed::follow(&self.bus, start).await.map_err(messaging)?,
            bus: self.bus.clone(),
            pool: self.pool.clone(),
            keepalive: self.keepalive,
        };
        Ok(Response::new(
            self.pumps
                .start(&principal, |feed| feed::pump(offers, feed)),
        ))
    }

    async fn accept_offer(
        &self,
        request: Request<api::AcceptOfferRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let volunteer = acting_volunteer(&principal, &req.volunteer)?;
        let answer = validate::answer(&req.name, &req.request_id)?;
        let reason = format!("accepted by {}", principal.subject);
        if let Some(accepted) = self.accept_as_read(&answer, volunteer, &reason).await? {
            tracing::info!(assignment = %accepted.id, request = %accepted.request_id, "offer accepted");
            return Ok(Response::new(self.for_group(&accepted, volunteer).await));
        }
        let mut conn = self.warm.acquire().await.map_err(database)?;
        let (mut tx, locked) = Self::begin_answer(&mut conn, &answer, "accept", volunteer).await?;
        let mut offer = match self.answer(locked, volunteer, "accept")? {
            Ok(offer) => offer,
            Err(current) => {
                drop(tx);
                return Ok(Response::new(self.for_group(&current, volunteer).await));
            }
        };
        let (accepted, events) = events::deferring(async {
            // The first group to accept a wide search leads it; the others support it.
            if offer.wide && !store::history(&mut tx, offer.request_id).await?.led {
                offer = store::make_lead(&mut tx, offer.id).await?;
            }
            // The group keeps the place the offer took.
            let step = Step::to(AssignmentStatus::Accepted, &reason);
            jobs::transition(&mut tx, &self.index, &offer, step).await
        })
        .await;
        let accepted = accepted?;
        // Its events go out the moment it commits.
        events::commit_publishing(tx, events, &self.bus)
            .await
            .map_err(database)?;
        conn.keep();
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
        let (answer, reason) = validate::decline(&req)?;
        let mut conn = self.warm.acquire().await.map_err(database)?;
        let (mut tx, locked) = Self::begin_answer(&mut conn, &answer, "decline", volunteer).await?;
        let offer = match self.answer(locked, volunteer, "decline")? {
            Ok(offer) => offer,
            Err(current) => return Ok(Response::new(convert::assignment(&current))),
        };
        let reason = if reason.is_empty() {
            format!("declined by {}", principal.subject)
        } else {
            format!("declined by {}: {reason}", principal.subject)
        };
        // The request moves on to the next group in the same transaction.
        let (declined, events) = events::deferring(Box::pin(ladder::close_and_move_on(
            &mut tx,
            &self.matcher,
            &offer,
            AssignmentStatus::Declined,
            &reason,
        )))
        .await;
        let declined = declined.map_err(placing_failed)?;
        events::commit_publishing(tx, events, &self.bus)
            .await
            .map_err(database)?;
        conn.keep();
        tracing::info!(assignment = %offer.id, request = %offer.request_id, "offer declined");
        Ok(Response::new(convert::assignment(&declined)))
    }

    async fn update_progress(
        &self,
        request: Request<api::UpdateProgressRequest>,
    ) -> Result<Response<api::Assignment>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let volunteer = acting_volunteer(&principal, &req.volunteer)?;
        let progress = validate::progress(&req)?;
        let next = progress.next;

        let mut conn = self.warm.acquire().await.map_err(database)?;
        let (mut tx, locked) = Self::begin_locked(&mut conn, progress.answer.id).await?;
        let row = self.lock_for(locked, volunteer, "doing this job")?;
        let step = format!("progress:{}", req.step);
        let key = progress.answer.key;
        if !store::record_action(&mut tx, key, row.id, &step, &principal.subject).await? {
            return Ok(Response::new(convert::assignment(&row)));
        }
        if progress.etag.is_some_and(|e| e != row.version) {
            return Err(Status::failed_precondition(
                "etag does not match; the assignment changed meanwhile",
            ));
        }
        // Checked here as well as in the transition: an abort goes through the ladder, which
        // reports failures as a consumer would.
        jobs::check(&row, next)?;
        let (updated, events) = events::deferring(Box::pin(async {
            if next == AssignmentStatus::Aborted {
                // The job goes back to the ladder: the next group is offered in this
                // transaction.
                return ladder::close_and_move_on(
                    &mut tx,
                    &self.matcher,
                    &row,
                    next,
                    &progress.reason,
                )
                .await
                .map_err(placing_failed);
            }
            let step = Step {
                report: Some(progress.report()),
                ..Step::to(next, &progress.reason)
            };
            let updated = jobs::transition(&mut tx, &self.index, &row, step).await?;
            if next == AssignmentStatus::Completed && updated.wide && updated.lead {
                jobs::end_search(&mut tx, &self.index, &updated).await?;
            }
            Ok(updated)
        }))
        .await;
        let updated = updated?;
        events::commit_publishing(tx, events, &self.bus)
            .await
            .map_err(database)?;
        conn.keep();
        tracing::info!(assignment = %row.id, status = ?next, "progress reported");
        Ok(Response::new(convert::assignment(&updated)))
    }

    async fn report_position(
        &self,
        request: Request<api::ReportPositionRequest>,
    ) -> Result<Response<api::ReportPositionResponse>, Status> {
        let principal = auth::principal(&request)?;
        let volunteer = acting_volunteer(&principal, "")?;
        let (id, point, at) = validate::position(request.get_ref())?;
        let row = self.get(id).await?;
        self.require_member(volunteer, &row, "doing this job")?;
        match store::record_position(&self.pool, id, point.lat(), point.lon(), at).await? {
            None => Err(Status::not_found("assignment not found")),
            Some(status) if status.is_on_the_way() => {
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
        let id = parse_name("assignments", &request.get_ref().name, "name")?;
        let row = self.get(id).await?;
        let Some(volunteer) = principal.volunteer() else {
            // Dispatchers and admins read any assignment (a regional dispatcher those of its
            // regions); the caller they see in intake.
            if !principal.covers_region(&row.region) {
                return Err(Status::not_found("assignment not found"));
            }
            return Ok(Response::new(convert::assignment(&row)));
        };
        self.require_member(volunteer, &row, "of this assignment")?;
        Ok(Response::new(self.for_group(&row, volunteer).await))
    }
}
