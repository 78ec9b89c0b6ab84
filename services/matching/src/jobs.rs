//! Job transitions. Every change of an assignment's status goes through [`transition`]: the
//! volunteer's answers and progress, a dispatcher's withdrawal, the ladder's expiry and a
//! request's closing. It writes the status with everything that comes with it, in the caller's
//! transaction, so no path can forget a part.

use std::collections::HashSet;
use std::sync::Arc;

use komek_core::AssignmentStatus;
use komek_runtime::batch::Batcher;
use komek_runtime::events::{Bus, Outgoing, enqueue, subject};
use komek_runtime::{db, metrics, trace};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use crate::events;
use crate::index::GroupIndex;
use crate::store::{self, AssignmentRow, Report};

/// Why a job could not change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a job that is {} cannot become {}", word(*.from), word(Some(*.to)))]
    CannotBecome {
        from: Option<AssignmentStatus>,
        to: AssignmentStatus,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// A status as people read it: `en route`, `on site`.
pub fn word(status: Option<AssignmentStatus>) -> String {
    status.map_or("unknown".into(), |s| {
        format!("{s:?}")
            .chars()
            .flat_map(|c| {
                let space = c.is_uppercase().then_some(' ');
                space.into_iter().chain(c.to_lowercase())
            })
            .collect::<String>()
            .trim_start()
            .to_string()
    })
}

/// Whether `from` may become `to` under the assignment lifecycle.
pub fn check(from: &AssignmentRow, to: AssignmentStatus) -> Result<(), Error> {
    let current = AssignmentStatus::from_stored(from.status);
    if !current.is_some_and(|c| c.can_become(to)) {
        return Err(Error::CannotBecome { from: current, to });
    }
    Ok(())
}

/// A change of status and why.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub to: AssignmentStatus,
    pub reason: &'a str,
    /// What the group reported with a progress step, if it reported anything.
    pub report: Option<Report<'a>>,
    /// The job ends because its request was closed (cancelled or merged).
    pub request_closed: bool,
}

impl<'a> Step<'a> {
    pub fn to(to: AssignmentStatus, reason: &'a str) -> Self {
        Self {
            to,
            reason,
            report: None,
            request_closed: false,
        }
    }
}

/// Moves `from` (locked by the caller) to `step.to`, if the lifecycle allows it:
/// - writes the status, the reason and the group's report;
/// - gives the group's place back at once when the job ended unserved (declined, expired,
///   withdrawn, aborted);
/// - when the job is completed, gives the place back, starts the group's rest (its
///   `rest_minutes`, which the next capacity take honours) and takes the job off the queues
///   (in a wide search, when the lead's is completed);
/// - announces `assignment.changed`, marked `sibling` when another assignment of its wide
///   search stands for the request.
pub async fn transition(
    tx: &mut PgConnection,
    index: &GroupIndex,
    from: &AssignmentRow,
    step: Step<'_>,
) -> Result<AssignmentRow, Error> {
    check(from, step.to)?;
    // The step belongs to the request's trace (kept with the offer), whoever takes it: the
    // volunteer's call, a dispatcher's, or the expiry sweep, each linked from its own trace.
    let span = step_span(from, step.to);
    if let Some(caller) = trace::traceparent_of(&tracing::Span::current()) {
        let offered = store::traceparent(tx, from.id).await?;
        trace::continue_trace(&span, offered.as_deref());
        trace::link(&span, &caller);
    }
    transition_in(tx, index, from, step).instrument(span).await
}

/// Most answers written in one statement.
const BATCH: usize = 128;

/// Statements writing answers at once: while one commits, the next gathers.
const WRITERS: usize = 2;

/// Writes the steps of [`step_as_read`]: those that arrive while a statement is written go
/// together in the next one ([`store::steps_as_read`]), and their events are handed to the
/// relay once it committed.
#[derive(Clone)]
pub struct Steps {
    writers: Batcher<store::StepAsRead, bool>,
}

impl Steps {
    /// Starts the writers; they stop when the last `Steps` is dropped.
    pub fn start(pool: PgPool, bus: Bus) -> Self {
        let warm = Arc::new(db::Warm::new(pool));
        let writers = Batcher::start(WRITERS, BATCH, move |steps| {
            let (warm, bus) = (warm.clone(), bus.clone());
            async move { write_steps(&warm, &bus, steps).await }
        });
        Self { writers }
    }
}

/// Reads the assignments answered by [`step_as_read`]'s callers, those that arrive while a
/// statement reads going together in the next one ([`store::read_for_answers`]): the read is
/// the one statement an accept has to itself, so under a surge one read a call was a round
/// trip and a wake-up on each side of it for every volunteer's tap.
#[derive(Clone)]
pub struct Reads {
    readers: Batcher<(Uuid, Uuid), Option<store::AsRead>>,
}

impl Reads {
    /// Starts the readers, on the connections the other answers keep (`warm`): a keeper of
    /// its own would hold idle connections of the pool besides theirs. They stop when the
    /// last `Reads` is dropped.
    pub fn start(warm: Arc<db::Warm>) -> Self {
        let readers = Batcher::start(WRITERS, BATCH, move |answers: Vec<(Uuid, Uuid)>| {
            let warm = warm.clone();
            async move {
                let read = warm
                    .statement(async |conn| store::read_for_answers(conn, &answers).await)
                    .await;
                read.unwrap_or_else(|err| {
                    tracing::debug!(error = %err, answers = answers.len(),
                        "answers not read together; each goes the locked way");
                    answers.iter().map(|_| None).collect()
                })
            }
        });
        Self { readers }
    }

    /// The assignment `id` as read for an answer under `key`, with the other answers of the
    /// moment. None when there is none or it could not be read: the locked way then decides,
    /// and says which.
    pub async fn read(&self, id: Uuid, key: Uuid) -> Option<store::AsRead> {
        self.readers.write((id, key)).await.flatten()
    }
}

async fn write_steps(warm: &db::Warm, bus: &Bus, steps: Vec<store::StepAsRead>) -> Vec<bool> {
    let mut written = vec![false; steps.len()];
    // One step per assignment in a statement: a second (another member's answer at the same
    // moment) would record its key and event beside the first's update. It is not written,
    // and takes the locked way.
    let (at, once) = first_of_each(steps, |s| s.read.row.id);
    let held = Uuid::now_v7();
    let stepped = warm
        .statement(async |conn| store::steps_as_read(conn, &once, held).await)
        .await;
    let stepped = stepped.unwrap_or_else(|err| {
        tracing::debug!(error = %err, answers = once.len(),
            "batch of answers failed; each goes the locked way");
        vec![false; once.len()]
    });
    let mut events = Vec::new();
    for ((i, step), ok) in at.into_iter().zip(once).zip(stepped) {
        written[i] = ok;
        if ok {
            events.push(step.event);
        }
    }
    bus.publish_committed(held, events);
    written
}

/// The first of `items` with each key, and where each was among them.
fn first_of_each<T, K: std::hash::Hash + Eq>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> (Vec<usize>, Vec<T>) {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .enumerate()
        .filter(|(_, item)| seen.insert(key(item)))
        .unzip()
}

/// [`transition`] of an assignment read without a lock ([`store::read_for_answers`]) and
/// answered under `answer` (its key and what it does: `accept`), for a step that writes its
/// status and reason alone (an accept of an offer to one group): written by `steps` with the
/// other answers of the moment in one statement, where the locked way takes a transaction of
/// five round trips for each. The step is checked against the row as read, and written only
/// if the row is still that version and the key still new. `Ok(None)` when it was not written (the row changed, the key was used,
/// or the step brings more than its status): the caller then takes the locked way.
pub async fn step_as_read(
    steps: &Steps,
    read: store::AsRead,
    answer: (Uuid, &'static str),
    volunteer: String,
    step: Step<'_>,
) -> Result<Option<AssignmentRow>, Error> {
    let from = &read.row;
    let more = from.wide
        || step.to.releases_at_once()
        || step.to == AssignmentStatus::Completed
        || step.report.is_some()
        || step.request_closed;
    if more || read.key_used {
        return Ok(None);
    }
    check(from, step.to)?;
    let span = step_span(from, step.to);
    if let Some(caller) = trace::traceparent_of(&tracing::Span::current()) {
        trace::continue_trace(&span, read.traceparent.as_deref());
        trace::link(&span, &caller);
    }
    // What `store::set_status` would return.
    let updated = AssignmentRow {
        status: step.to.code() as i16,
        reason: step.reason.to_string(),
        updated_at: read.now,
        version: from.version + 1,
        ..from.clone()
    };
    let event = span.in_scope(|| {
        Outgoing::new(
            subject::ASSIGNMENT_CHANGED,
            &events::changed(&updated, from.status, false, false),
        )
    });
    let write = store::StepAsRead {
        read,
        key: answer.0,
        action: answer.1,
        volunteer,
        status: step.to,
        reason: step.reason.to_string(),
        event: (Uuid::now_v7(), event),
    };
    if steps.writers.write(write).instrument(span).await != Some(true) {
        return Ok(None);
    }
    count_step(step.to);
    Ok(Some(updated))
}

/// The span of a step, in the request's trace (see [`transition`]).
fn step_span(from: &AssignmentRow, to: AssignmentStatus) -> tracing::Span {
    tracing::info_span!(
        "assignment.transition",
        assignment = %from.id,
        request = %from.request_id,
        to = word(Some(to)),
    )
}

/// Counted as the step is taken; a transaction that then fails is retried and counted again,
/// which the rates in the dashboards can bear.
fn count_step(to: AssignmentStatus) {
    metrics::count(
        "komek_assignment_steps_total",
        "Steps of offered jobs, by the status reached: accepted, declined, expired, en route, completed, withdrawn...",
        &[("to", &word(Some(to)))],
        1,
    );
}

async fn transition_in(
    tx: &mut PgConnection,
    index: &GroupIndex,
    from: &AssignmentRow,
    step: Step<'_>,
) -> Result<AssignmentRow, Error> {
    let updated = store::set_status(tx, from.id, step.to, step.reason, step.report).await?;
    count_step(step.to);
    if step.to.releases_at_once() {
        store::release(tx, from.group_id).await?;
    }
    if step.to == AssignmentStatus::Completed {
        store::release(tx, from.group_id).await?;
        // A wide search's supporter finishing its part leaves the search on the queues while
        // the lead is at it.
        if !from.wide || from.lead {
            store::finish_job(tx, from.request_id).await?;
        }
        let rest = index.get(from.group_id).map_or(0, |g| g.rest_minutes);
        store::start_rest(tx, from.group_id, rest).await?;
    }
    let sibling =
        updated.wide && !updated.lead && store::has_sibling_standing(tx, &updated).await?;
    enqueue(
        tx,
        subject::ASSIGNMENT_CHANGED,
        &events::changed(&updated, from.status, step.request_closed, sibling),
    )
    .await
    .map_err(store::Error::from)?;
    Ok(updated)
}

/// A supporter of a wide search takes the lead from a lead that gave it up, and is announced
/// as the request's job (its status unchanged).
pub async fn promote(tx: &mut PgConnection, id: Uuid) -> Result<AssignmentRow, Error> {
    let lead = store::promote(tx, id).await?;
    enqueue(
        tx,
        subject::ASSIGNMENT_CHANGED,
        &events::changed(&lead, lead.status, false, false),
    )
    .await
    .map_err(store::Error::from)?;
    tracing::info!(assignment = %lead.id, request = %lead.request_id, "supporter leads the search now");
    Ok(lead)
}

/// The lead finished a wide search: its offers still open are withdrawn (the apps show them
/// taken). Supporters on the way finish their own jobs.
pub async fn end_search(
    tx: &mut PgConnection,
    index: &GroupIndex,
    lead: &AssignmentRow,
) -> Result<(), Error> {
    for open in store::open_offers_of(tx, lead.request_id).await? {
        let step = Step {
            request_closed: true,
            ..Step::to(
                AssignmentStatus::Withdrawn,
                "the lead group finished the search",
            )
        };
        transition(tx, index, &open, step).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_first_answer_to_each_assignment() {
        let answers = vec![(7, "a"), (8, "b"), (7, "c"), (9, "d"), (8, "e")];
        let (at, once) = first_of_each(answers, |a| a.0);
        assert_eq!(at, [0, 1, 3]);
        assert_eq!(once, [(7, "a"), (8, "b"), (9, "d")]);
    }

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(word(Some(AssignmentStatus::EnRoute)), "en route");
        assert_eq!(word(Some(AssignmentStatus::Offered)), "offered");
        assert_eq!(word(None), "unknown");
    }
}
