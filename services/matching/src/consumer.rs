//! What matching does with the events it consumes: a triaged request is placed (offered or
//! escalated); a request intake closed (cancelled, or merged into another) has its active
//! assignment withdrawn, the group's place given back, and is remembered so a late
//! `request.triaged` does not offer it again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::parse_name;
use komek_runtime::events::subject;
use komek_runtime::failpoint;
use komek_runtime::inbox::{HandleError, Handler, Incoming, Traced};
use sqlx::PgConnection;
use tracing::Instrument;

use crate::contact::{Callers, NoteError};
use crate::index::GroupIndex;
use crate::matcher::Matcher;
use crate::model::Job;
use crate::{jobs, store};

/// Every store failure in a handler is the database's: worth a redelivery. The database's
/// own error is passed on as it is, so the consumer can tell a lock it gave up on.
impl From<store::Error> for HandleError {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Db(e) => e.into(),
        }
    }
}

/// A move the lifecycle refuses will be refused again: no redelivery.
impl From<jobs::Error> for HandleError {
    fn from(err: jobs::Error) -> Self {
        match err {
            jobs::Error::Store(e) => e.into(),
            refused => HandleError::Reject(refused.to_string()),
        }
    }
}

/// How long a batch of placements or withdrawals waits for a group's row before it gives
/// way (see `Handler::batch_lock_timeout`): a placement holds its group's row for a few
/// milliseconds, and PostgreSQL looks for deadlocks after a second.
const BATCH_LOCK_TIMEOUT: Duration = Duration::from_millis(50);

/// Places each triaged request, with its volunteer note read from intake.
pub struct Triaged {
    matcher: Arc<Matcher>,
    intake: Callers,
    /// What was read for the requests about to be placed, before their transaction (see
    /// `Handler::prefetches_ahead`): taken out as each is placed, dropped when older than
    /// [`KEEP_PREFETCHED`].
    prefetched: Mutex<HashMap<String, Prefetched>>,
}

/// A request's volunteer note as read from intake, and whether the group index caught up with
/// the roster stream after the request arrived.
struct Prefetched {
    note: String,
    caught_up: bool,
    at: Instant,
}

/// How long a note read ahead is used: a batch is placed well within it. Its message coming
/// again later (after a failure) reads it again, so a note erased meanwhile is not used.
const KEEP_PREFETCHED: Duration = Duration::from_secs(10);

impl Triaged {
    pub fn new(matcher: Arc<Matcher>, intake: Callers) -> Self {
        Self {
            matcher,
            intake,
            prefetched: Mutex::default(),
        }
    }
}

impl Handler for Triaged {
    /// Placing takes a group's place, a lock on its row found only while deciding.
    fn batch_lock_timeout(&self) -> Option<Duration> {
        Some(BATCH_LOCK_TIMEOUT)
    }

    /// Reads the volunteer notes of the requests not read yet in one call, and catches the
    /// group index up once for them: while the batch before them is placed, when the consumer
    /// gathers them ahead.
    async fn prefetch(&self, batch: &[Incoming<'_>]) {
        let names: Vec<String> = {
            let mut prefetched = self.prefetched.lock().expect("prefetch lock");
            prefetched.retain(|_, p| p.at.elapsed() < KEEP_PREFETCHED);
            batch
                .iter()
                .filter_map(|m| {
                    m.decode_if::<ev::RequestTriaged>(subject::REQUEST_TRIAGED)
                        .ok()
                        .flatten()
                        .map(|t| t.request)
                })
                .filter(|r| !prefetched.contains_key(r))
                .collect()
        };
        if names.is_empty() {
            return;
        }
        // Once for them: every one of them arrived before this. The roster's stream and intake
        // are asked at the same time: each is a round trip of its own.
        let (caught_up, notes) =
            tokio::join!(self.matcher.catch_up(), self.intake.volunteer_notes(names));
        let notes = notes.unwrap_or_else(|status| {
            tracing::debug!(error = %status, "notes of a batch not read at once");
            HashMap::new()
        });
        let caught_up = caught_up.is_ok();
        let at = Instant::now();
        let mut prefetched = self.prefetched.lock().expect("prefetch lock");
        for (request, note) in notes {
            prefetched.insert(
                request,
                Prefetched {
                    note,
                    caught_up,
                    at,
                },
            );
        }
    }

    fn prefetches_ahead(&self) -> bool {
        true
    }

    /// Makes the batch's jobs in one statement, then places its requests in order, holding
    /// back their decisions to write them in one statement at the end.
    async fn handle_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        batch: &'a [Traced<'a>],
    ) -> Result<(), (Option<usize>, HandleError)> {
        let mut ready = Vec::with_capacity(batch.len());
        for (i, t) in batch.iter().enumerate() {
            let r = self
                .ready(t.message)
                .instrument(t.span.clone())
                .await
                .map_err(|e| (Some(i), e))?;
            ready.push(r);
        }
        let ids: Vec<uuid::Uuid> = ready.iter().flatten().map(|r| r.job.request_id).collect();
        let erased = store::erased_before_placing(&mut *tx, &ids)
            .await
            .map_err(|e| (None, e.into()))?;
        for r in ready.iter_mut().flatten() {
            if erased.contains(&r.job.request_id) {
                r.forget_note();
            }
        }
        // A request twice in the batch keeps its last verdict, as one after the other would.
        let mut last: HashMap<uuid::Uuid, usize> = HashMap::new();
        for (i, r) in ready.iter().enumerate() {
            if let Some(r) = r {
                last.insert(r.job.request_id, i);
            }
        }
        let mut rows: Vec<(usize, store::JobRow)> = last
            .into_values()
            .filter_map(|i| ready[i].as_ref().map(|r| (i, r.job.to_row())))
            .collect();
        rows.sort_by_key(|(i, _)| *i);
        let rows: Vec<store::JobRow> = rows.into_iter().map(|(_, row)| row).collect();
        store::upsert_jobs(&mut *tx, &rows)
            .await
            .map_err(|e| (None, e.into()))?;
        // Every request's closure and offers in one statement. A request twice in the batch
        // uses them once: its second placement reads them again, after its first.
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.request_id).collect();
        let mut known = store::closed_and_histories(&mut *tx, &ids)
            .await
            .map_err(|e| (None, e.into()))?;
        let (placed, decisions) = store::holding_decisions(async {
            // What placing a request usually is, an offer to the nearest eligible group with
            // room, is done for the whole batch in one statement, a group at most once; the
            // rest, and a request whose group had no room after all, are placed one by one
            // after it, in the batch's order.
            let mut groups = HashSet::new();
            let mut plans = Vec::with_capacity(ready.len());
            for r in &ready {
                let state = r.as_ref().and_then(|r| known.remove(&r.job.request_id));
                let first = match (r, &state) {
                    (Some(r), Some((closed, history))) if !r.pending && r.caught_up => self
                        .matcher
                        .first_offer(&r.job, *closed, history)
                        .filter(|f| groups.insert(f.row.group_id)),
                    _ => None,
                };
                plans.push((state, first));
            }
            let offers: Vec<(&store::AssignmentRow, i32)> = plans
                .iter()
                .filter_map(|(_, first)| first.as_ref().map(|f| (&f.row, f.capacity)))
                .collect();
            let taken = store::take_and_offer_many(&mut *tx, &offers)
                .await
                .map_err(|e| (None, e.into()))?;
            let took = |t: &store::TakeOffer| !matches!(t, store::TakeOffer::NotTaken);
            if taken.iter().any(took) && failpoint::fires(failpoint::MATCHER_AFTER_TAKE) {
                return Err((None, failpoint::crash(failpoint::MATCHER_AFTER_TAKE).into()));
            }
            let mut taken = taken.into_iter();
            for (i, ((t, r), (state, first))) in batch.iter().zip(&ready).zip(plans).enumerate() {
                let Some(r) = r else { continue };
                if let Some(first) = first {
                    let span =
                        tracing::info_span!(parent: &t.span, "match", request = %r.job.request_id);
                    let done = match taken.next().expect("an answer for every offer") {
                        store::TakeOffer::Offered(row) => self
                            .matcher
                            .announce(&mut *tx, &r.job, *row, first.candidates)
                            .instrument(span)
                            .await
                            .map(|_| true),
                        // Placed by another replica meanwhile (a duplicate delivery): the
                        // place taken here goes back.
                        store::TakeOffer::AlreadyOffered => {
                            store::release(&mut *tx, first.row.group_id)
                                .await
                                .map(|()| true)
                                .map_err(Into::into)
                        }
                        store::TakeOffer::NotTaken => Ok(false),
                    };
                    if done.map_err(|e| (Some(i), e))? {
                        continue;
                    }
                }
                // Boxed: placing is a large future, and a batch awaits one at a time.
                Box::pin(self.place(&mut *tx, r, state))
                    .instrument(t.span.clone())
                    .await
                    .map_err(|e| (Some(i), e))?;
            }
            Ok(())
        })
        .await;
        placed?;
        store::record_decisions(tx, decisions)
            .await
            .map_err(|e| (None, e.into()))
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let Some(mut r) = self.ready(m).await? else {
            return Ok(());
        };
        if !store::erased_before_placing(tx, &[r.job.request_id])
            .await?
            .is_empty()
        {
            r.forget_note();
        }
        store::upsert_job(tx, &r.job.to_row()).await?;
        self.place(tx, &r, None).await
    }
}

/// A triaged request ready to be placed.
struct Ready {
    job: Job,
    /// Its volunteer note could not be read: placed without it, the note follows.
    pending: bool,
    /// The group index caught up with the roster after the request arrived.
    caught_up: bool,
}

impl Ready {
    /// The request was erased after its note was read: it is placed without it.
    fn forget_note(&mut self) {
        self.job.summary.clear();
        self.pending = false;
    }
}

impl Triaged {
    /// The job of a triaged request, with its volunteer note as read for its batch or asked
    /// for now; None for a message on another subject.
    async fn ready(&self, m: Incoming<'_>) -> Result<Option<Ready>, HandleError> {
        let Some(triaged) = m.decode_if::<ev::RequestTriaged>(subject::REQUEST_TRIAGED)? else {
            return Ok(None);
        };
        let request_id = parse_name("requests", &triaged.request, "request")?;
        let (kept, caught_up) = match self
            .prefetched
            .lock()
            .expect("prefetch lock")
            .remove(&triaged.request)
            .filter(|p| p.at.elapsed() < KEEP_PREFETCHED)
        {
            Some(p) => (Some(p.note), p.caught_up),
            None => (None, false),
        };
        // The note says what to do, but a search must not wait for it: when intake cannot give
        // it now, the request is placed without it and the note follows (see
        // `Callers::fill_pending_notes`).
        let read = match kept {
            Some(note) => Ok(note),
            None => self.intake.volunteer_note(&triaged.request).await,
        };
        let (summary, pending) = match read {
            Ok(note) => (note, false),
            Err(NoteError::Unknown) => (String::new(), false),
            Err(NoteError::Unavailable(why)) => {
                tracing::warn!(request = %request_id, why, "volunteer note not available; placing without it");
                (String::new(), true)
            }
        };
        Ok(Some(Ready {
            job: Job::from_triaged(&triaged, request_id, summary),
            pending,
            caught_up,
        }))
    }

    /// Places a request whose job is stored; `known`: its closure and history, when read.
    async fn place(
        &self,
        tx: &mut PgConnection,
        r: &Ready,
        known: Option<(bool, store::History)>,
    ) -> Result<(), HandleError> {
        if r.pending {
            store::mark_note_pending(tx, r.job.request_id).await?;
        }
        if !r.caught_up {
            self.matcher.catch_up().await?;
        }
        self.matcher.place_known(tx, &r.job, known).await
    }
}

/// Forgets the volunteer note, and the progress notes volunteers wrote, of a request erased in
/// intake.
pub struct Erasures;

impl Handler for Erasures {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let Some(e) = m.decode_if::<ev::RequestErased>(subject::REQUEST_ERASED)? else {
            return Ok(());
        };
        let request_id = parse_name("requests", &e.request, "request")?;
        let assignments = store::erase_notes(tx, request_id).await?;
        tracing::info!(request = %request_id, assignments, "request's notes erased");
        Ok(())
    }
}

/// Follows `request.called_off`: a request cancelled or merged takes its group off.
pub struct Closures {
    pub index: Arc<GroupIndex>,
}

impl Handler for Closures {
    /// A withdrawal gives its group's place back, a lock on the group's row.
    fn batch_lock_timeout(&self) -> Option<Duration> {
        Some(BATCH_LOCK_TIMEOUT)
    }

    /// Only a request called off means anything; the subject says it, and a message whose
    /// status says otherwise is let go without a transaction.
    fn wants(&self, m: &Incoming<'_>) -> bool {
        // One that does not decode is wanted, so that it is rejected and logged.
        m.decode_if::<ev::RequestStatusChanged>(subject::REQUEST_CALLED_OFF)
            .map_or(true, |e| {
                e.is_some_and(|e| {
                    RequestStatus::from_code(e.status).is_some_and(RequestStatus::is_called_off)
                })
            })
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let Some(e) = m.decode_if::<ev::RequestStatusChanged>(subject::REQUEST_CALLED_OFF)? else {
            return Ok(());
        };
        if !RequestStatus::from_code(e.status).is_some_and(RequestStatus::is_called_off) {
            return Ok(());
        }
        let request_id = parse_name("requests", &e.request, "request")?;
        // Closed before: by this change's `request.status_changed`, which the consumer this
        // one took over from followed. Its audit and withdrawals are done.
        if !store::close_request(tx, request_id, e.status as i16).await? {
            return Ok(());
        }
        let reason = if e.reason.is_empty() {
            "request closed".to_string()
        } else {
            format!("request closed: {}", e.reason)
        };
        let active = store::active_of(tx, request_id).await?;
        if !e.actor.is_empty() {
            // A person closed it (a dispatcher's cancel): the dispatch audit says who and why.
            store::audit(
                tx,
                &store::NewAudit {
                    key: None,
                    actor: &e.actor,
                    action: "CancelRequest",
                    request_id,
                    assignment_id: active.first().map(|a| a.id),
                    group_id: active.first().map(|a| a.group_id),
                    reason: &e.reason,
                },
            )
            .await?;
        }
        for active in active {
            let step = jobs::Step {
                request_closed: true,
                ..jobs::Step::to(AssignmentStatus::Withdrawn, &reason)
            };
            jobs::transition(tx, &self.index, &active, step).await?;
            tracing::info!(
                assignment = %active.id,
                request = %request_id,
                "assignment withdrawn: request closed"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn status_changed(status: RequestStatus) -> Vec<u8> {
        ev::RequestStatusChanged {
            request: "requests/7f0c1a52-08d3-4c55-9d63-2b8a6a3e2f10".into(),
            status: status.code(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn closures_take_only_cancelled_and_merged_requests() {
        let closures = Closures {
            index: Arc::new(GroupIndex::default()),
        };
        let wants = |status| {
            closures.wants(&Incoming {
                subject: subject::REQUEST_CALLED_OFF,
                payload: &status_changed(status),
            })
        };
        assert!(wants(RequestStatus::Cancelled));
        assert!(wants(RequestStatus::Merged));
        for &status in RequestStatus::ALL {
            if matches!(status, RequestStatus::Cancelled | RequestStatus::Merged) {
                continue;
            }
            assert!(!wants(status), "{status:?} needs no transaction");
        }
        let garbage = Incoming {
            subject: subject::REQUEST_CALLED_OFF,
            payload: b"\xff\xff\xff",
        };
        assert!(closures.wants(&garbage), "kept, to be rejected and logged");
        let elsewhere = Incoming {
            subject: subject::REQUEST_STATUS_CHANGED,
            payload: &status_changed(RequestStatus::Cancelled),
        };
        assert!(
            !closures.wants(&elsewhere),
            "every status change is intake's; a closure comes as called off"
        );
    }
}
