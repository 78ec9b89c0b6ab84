//! Keeps each request's status current from triage and matching events.
//!
//! Events of the two streams can arrive in either order (an offer may be applied before the
//! triage verdict that led to it, an escalation before the decline it followed), so no event is
//! applied as a transition. Each adds what it says to the request's facts
//! (`komek_core::standing`), and the status is derived from the facts: the same whatever order
//! they were heard in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use komek_core::standing::{AssignmentFact, Heard};
use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{from_timestamp, parse_name};
use komek_runtime::events::{Outgoing, enqueue_many, subject};
use komek_runtime::inbox::{HandleError, Handler, Incoming, Traced};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events;
use crate::model::{AssignmentUpdate, RequestRow};
use crate::store;
use crate::waiters::Waiters;

pub struct StatusKeeper {
    waiters: Arc<Waiters>,
}

impl StatusKeeper {
    pub fn new(waiters: Arc<Waiters>) -> Self {
        Self { waiters }
    }
}

/// How long a status keeper's batch under load waits for more events.
const STATUS_LINGER: std::time::Duration = std::time::Duration::from_millis(20);

/// An event intake follows, decoded.
enum Event {
    Triaged(ev::RequestTriaged),
    Escalated(ev::RequestEscalated),
    Merged(ev::RequestMerged),
    Deferred(ev::RequestDeferred),
    Offered(ev::AssignmentOffered),
    Changed(ev::AssignmentChanged),
}

/// The request a message is about and what it says; None on a subject intake does not follow.
fn decode(m: &Incoming<'_>) -> Result<Option<(Uuid, Event)>, HandleError> {
    let event = match m.subject {
        subject::REQUEST_TRIAGED => {
            let e: ev::RequestTriaged = m.decode()?;
            (request_id(&e.request)?, Event::Triaged(e))
        }
        subject::REQUEST_ESCALATED => {
            let e: ev::RequestEscalated = m.decode()?;
            (request_id(&e.request)?, Event::Escalated(e))
        }
        subject::REQUEST_MERGED => {
            let e: ev::RequestMerged = m.decode()?;
            (request_id(&e.request)?, Event::Merged(e))
        }
        subject::REQUEST_DEFERRED => {
            let e: ev::RequestDeferred = m.decode()?;
            (request_id(&e.request)?, Event::Deferred(e))
        }
        subject::ASSIGNMENT_OFFERED => {
            let e: ev::AssignmentOffered = m.decode()?;
            (request_id(&e.request)?, Event::Offered(e))
        }
        subject::ASSIGNMENT_CHANGED => {
            let e: ev::AssignmentChanged = m.decode()?;
            (request_id(&e.request)?, Event::Changed(e))
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

impl Handler for StatusKeeper {
    /// Its consumers follow only these subjects; anything else needs nothing here.
    fn wants(&self, m: &Incoming<'_>) -> bool {
        matches!(
            m.subject,
            subject::REQUEST_TRIAGED
                | subject::REQUEST_ESCALATED
                | subject::REQUEST_MERGED
                | subject::REQUEST_DEFERRED
                | subject::ASSIGNMENT_OFFERED
                | subject::ASSIGNMENT_CHANGED
        )
    }

    /// Nobody's call waits on these batches but RevealCaller's, after a volunteer accepted:
    /// four times the pipeline's linger makes them about four times as large, and their
    /// transactions (some three a request) take less of the machine from triage and matching
    /// (BENCHMARKS.md, the pipeline's step 43).
    fn linger(&self) -> std::time::Duration {
        STATUS_LINGER
    }

    /// Wakes RevealCaller waiting on a request whose assignment change just committed.
    fn committed(&self, applied: &[Incoming<'_>]) {
        for m in applied {
            if let Ok(Some(e)) = m.decode_if::<ev::AssignmentChanged>(subject::ASSIGNMENT_CHANGED)
                && let Ok(id) = request_id(&e.request)
            {
                self.waiters.wake(id);
            }
        }
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let one = [Traced {
            message: m,
            span: tracing::Span::current(),
        }];
        self.handle_batch(tx, &one).await.map_err(|(_, e)| e)
    }

    /// Reads every request the batch is about at once (locked in id order), applies the
    /// events to them in order, then writes each changed request once and enqueues the status
    /// changes together.
    async fn handle_batch(
        &self,
        tx: &mut PgConnection,
        batch: &[Traced<'_>],
    ) -> Result<(), (Option<usize>, HandleError)> {
        let mut events = Vec::with_capacity(batch.len());
        for (i, t) in batch.iter().enumerate() {
            events.push(decode(&t.message).map_err(|e| (Some(i), e))?);
        }
        let ids: BTreeSet<Uuid> = events.iter().flatten().map(|(id, _)| *id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let db = |e: store::Error| (None, HandleError::from(e));
        let (rows, now) = store::lock_many_at(&mut *tx, &ids).await.map_err(db)?;
        let mut rows: HashMap<Uuid, RequestRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let mut changed = BTreeSet::new();
        let mut outgoing = Vec::new();
        for (i, (t, event)) in batch.iter().zip(events).enumerate() {
            let Some((id, event)) = event else { continue };
            let _span = t.span.enter();
            let Some(row) = rows.get_mut(&id) else {
                // Events for a request this database never had: nothing to keep current.
                tracing::warn!(request = %id, "event for unknown request");
                continue;
            };
            if apply(row, event, now, &mut outgoing).map_err(|e| (Some(i), e))? {
                changed.insert(id);
            }
        }
        let changed: Vec<&RequestRow> = changed.iter().map(|id| &rows[id]).collect();
        store::save_many(&mut *tx, &changed).await.map_err(db)?;
        enqueue_many(tx, outgoing)
            .await
            .map_err(|e| (None, HandleError::from(e)))?;
        Ok(())
    }
}

fn request_id(name: &str) -> Result<Uuid, HandleError> {
    Ok(parse_name("requests", name, "request")?)
}

fn time(t: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    t.and_then(|t| from_timestamp(t, "time").ok())
        .unwrap_or_else(Utc::now)
}

/// What one event changes in its request; whether it changed anything. A status change adds
/// its events to `out` (`events::status_events`).
fn apply(
    row: &mut RequestRow,
    event: Event,
    now: DateTime<Utc>,
    out: &mut Vec<Outgoing>,
) -> Result<bool, HandleError> {
    Ok(match event {
        Event::Triaged(e) => {
            let duplicate = (!e.possible_duplicate_of.is_empty())
                .then(|| request_id(&e.possible_duplicate_of))
                .transpose()?;
            let skills = e.required_skills.iter().map(|s| *s as i16).collect();
            row.set_triage(e.category as i16, e.priority as i16, skills, duplicate, now);
            let heard = Heard::Triaged(time(e.decide_time.as_ref()));
            settle(row, heard, "triaged", now, out);
            true
        }
        Event::Escalated(e) => {
            let heard = Heard::Escalated(time(e.escalate_time.as_ref()));
            settle(row, heard, "no eligible group", now, out)
        }
        // A dispatcher merged this request into another: it is closed as MERGED, unless it
        // was already finished (a resolved request keeps its outcome).
        Event::Merged(e) => {
            let into = request_id(&e.merged_into)?;
            let heard = Heard::Closed(RequestStatus::Merged, time(e.merge_time.as_ref()));
            let mut facts = row.facts();
            facts.hear(heard);
            let merged = facts.status() == RequestStatus::Merged;
            if merged {
                row.merged_into = Some(into);
                row.possible_duplicate_of = Some(into);
            }
            let reason = format!("merged into {}", e.merged_into);
            settle(row, heard, &reason, now, out) || merged
        }
        Event::Deferred(e) => {
            row.set_deferred(time(e.dispatch_time.as_ref()), now);
            true
        }
        Event::Offered(e) => {
            let organization = parse_name("organizations", &e.organization, "organization").ok();
            if e.sibling {
                // Another offer of the same wide search stands for the request; this one only
                // widens the partners' scope.
                return Ok(row.widen_scope(organization));
            }
            let update = AssignmentUpdate {
                assignment_id: parse_name("assignments", &e.assignment, "assignment")?,
                group: &e.group,
                group_name: Some(&e.group_display_name),
                status: AssignmentStatus::Offered.code() as i16,
                distance_m: Some(e.distance_meters),
                expire_at: e
                    .expire_time
                    .as_ref()
                    .and_then(|t| from_timestamp(t, "expire_time").ok()),
                at: time(e.offer_time.as_ref()),
                organization,
                organization_name: Some(&e.organization_display_name),
            };
            assignment(row, &update, AssignmentStatus::Offered, "offered", now, out)
        }
        Event::Changed(e) => {
            let assignment_id = parse_name("assignments", &e.assignment, "assignment")?;
            let Some(status) = AssignmentStatus::from_code(e.status) else {
                return Err(HandleError::Reject(format!(
                    "unknown assignment status {}",
                    e.status
                )));
            };
            if e.sibling {
                // A wide search's supporter, or an offer beside others still open: the lead,
                // or the offers standing for the request, say where it stands.
                return Ok(false);
            }
            let mut changed = false;
            if status == AssignmentStatus::Completed && row.outcome != e.outcome as i16 {
                row.outcome = e.outcome as i16;
                changed = true;
            }
            let update = AssignmentUpdate {
                assignment_id,
                group: &e.group,
                group_name: None,
                status: status.code() as i16,
                distance_m: None,
                expire_at: None,
                at: time(e.change_time.as_ref()),
                organization: None,
                organization_name: None,
            };
            assignment(row, &update, status, &e.reason, now, out) || changed
        }
    })
}

/// Adds what was heard to the request's facts and moves its status to what they say now;
/// whether anything changed.
fn settle(
    row: &mut RequestRow,
    heard: Heard,
    reason: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Outgoing>,
) -> bool {
    let mut facts = row.facts();
    facts.hear(heard);
    let mut changed = false;
    if facts != row.facts() {
        row.set_facts(&facts);
        changed = true;
    }
    move_to(row, facts.status(), reason, now, out) || changed
}

fn move_to(
    row: &mut RequestRow,
    next: RequestStatus,
    reason: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Outgoing>,
) -> bool {
    if next == row.status() {
        return false;
    }
    let previous = row.status;
    row.move_to(next, now);
    out.extend(events::status_events(&events::status_changed(
        row, previous, reason,
    )));
    true
}

/// Keeps an assignment's change when it is the latest heard of (a change of an older
/// assignment arriving late must not hide the newer offer), then settles the status.
fn assignment(
    row: &mut RequestRow,
    update: &AssignmentUpdate<'_>,
    status: AssignmentStatus,
    reason: &str,
    now: DateTime<Utc>,
    out: &mut Vec<Outgoing>,
) -> bool {
    let heard = Heard::Assignment(AssignmentFact {
        id: update.assignment_id.as_u128(),
        status,
        at: update.at,
    });
    let mut facts = row.facts();
    facts.hear(heard);
    let latest = facts
        .assignment
        .is_some_and(|a| a.id == update.assignment_id.as_u128());
    let mut changed = false;
    if latest && facts.assignment != row.facts().assignment {
        row.set_assignment(update, now);
        changed = true;
    } else {
        // An older offer still widens the partner scope: its group's organisation was
        // offered the request.
        changed |= row.widen_scope(update.organization);
    }
    move_to(row, facts.status(), reason, now, out) || changed
}

/// A store failure in a handler is the database's (the others come from API calls): worth a
/// redelivery.
impl From<store::Error> for HandleError {
    fn from(err: store::Error) -> Self {
        HandleError::Retry(err.into())
    }
}
