//! Job transitions. Every change of an assignment's status goes through [`transition`]: the
//! volunteer's answers and progress, a dispatcher's withdrawal, the ladder's expiry and a
//! request's closing. It writes the status with everything that comes with it, in the caller's
//! transaction, so no path can forget a part.

use komek_core::AssignmentStatus;
use komek_runtime::events::{enqueue, subject};
use sqlx::PgConnection;

use crate::events;
use crate::index::GroupIndex;
use crate::store::{self, AssignmentRow, Report};

/// A change of status and why.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub to: AssignmentStatus,
    pub reason: &'a str,
    /// What the group reported with a progress step, if it reported anything.
    pub report: Option<Report<'a>>,
}

impl<'a> Step<'a> {
    pub fn to(to: AssignmentStatus, reason: &'a str) -> Self {
        Self {
            to,
            reason,
            report: None,
        }
    }
}

/// Moves `from` (locked by the caller, who checked the move is allowed) to `step.to`:
/// - writes the status, the reason and the group's report;
/// - gives the group's place back at once when the job ended unserved (declined, expired,
///   withdrawn, aborted);
/// - when the job is completed, gives the place back, starts the group's rest (its
///   `rest_minutes`, which the next capacity take honours) and takes the job off the queues;
/// - announces `assignment.changed`.
pub async fn transition(
    tx: &mut PgConnection,
    index: &GroupIndex,
    from: &AssignmentRow,
    step: Step<'_>,
) -> store::Result<AssignmentRow> {
    debug_assert!(
        AssignmentStatus::from_stored(from.status).is_some_and(|s| s.can_become(step.to)),
        "{} cannot become {:?}",
        from.status,
        step.to
    );
    let updated = store::set_status(tx, from.id, step.to, step.reason, step.report).await?;
    if step.to.releases_at_once() {
        store::release(tx, from.group_id).await?;
    }
    if step.to == AssignmentStatus::Completed {
        store::release(tx, from.group_id).await?;
        store::finish_job(tx, from.request_id).await?;
        let rest = index.get(from.group_id).map_or(0, |g| g.rest_minutes);
        store::start_rest(tx, from.group_id, rest).await?;
    }
    enqueue(
        tx,
        subject::ASSIGNMENT_CHANGED,
        &events::changed(&updated, from.status),
    )
    .await?;
    Ok(updated)
}
