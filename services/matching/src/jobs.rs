//! Job transitions. Every change of an assignment's status goes through [`transition`]: the
//! volunteer's answers and progress, a dispatcher's withdrawal, the ladder's expiry and a
//! request's closing. It writes the status with everything that comes with it, in the caller's
//! transaction, so no path can forget a part.

use komek_core::AssignmentStatus;
use komek_runtime::events::{Outgoing, enqueue, subject};
use komek_runtime::{metrics, trace};
use sqlx::PgConnection;
use tracing::Instrument;

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

/// [`transition`] in one statement, of an assignment read without a lock
/// ([`store::read_for_answer`]) and answered under `answer`'s key, for a step that writes its
/// status and reason alone (an accept of an offer to one group): two round trips where the
/// locked way takes five. The step is checked against the row as read, and written only if
/// the row is still that version and the key still new. `Ok(None)` when it was not written
/// (the row changed, the key was used, or the step brings more than its status): the caller
/// then takes the locked way. On `Some`, the events were written held: hand them to
/// `Bus::publish_committed`.
pub async fn step_as_read(
    conn: &mut PgConnection,
    read: &store::AsRead,
    answer: store::ActionKey<'_>,
    step: Step<'_>,
) -> Result<Option<(AssignmentRow, Vec<(uuid::Uuid, Outgoing)>)>, Error> {
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
    let events = vec![(uuid::Uuid::now_v7(), event)];
    let written = store::step_as_read(conn, read, answer, step.to, step.reason, &events)
        .instrument(span)
        .await?;
    if !written {
        return Ok(None);
    }
    count_step(step.to);
    Ok(Some((updated, events)))
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
pub async fn promote(tx: &mut PgConnection, id: uuid::Uuid) -> Result<AssignmentRow, Error> {
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
    fn statuses_read_as_words() {
        assert_eq!(word(Some(AssignmentStatus::EnRoute)), "en route");
        assert_eq!(word(Some(AssignmentStatus::Offered)), "offered");
        assert_eq!(word(None), "unknown");
    }
}
