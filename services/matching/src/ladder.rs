//! The offer ladder: an offer that is declined or lapses goes to the next eligible group, in the
//! same transaction that closes it, until the attempts run out and dispatchers take over.

use std::sync::Arc;
use std::time::Duration;

use komek_core::AssignmentStatus;
use komek_runtime::CancellationToken;
use komek_runtime::events::Bus;
use komek_runtime::inbox::HandleError;
use sqlx::{PgConnection, PgPool};

use crate::jobs;
use crate::matcher::Matcher;
use crate::model::Job;
use crate::store::{self, AssignmentRow};

/// Ends an offer or job unserved (declined, expired, aborted), and offers the request to the
/// next group, all in `tx`.
pub async fn close_and_move_on(
    tx: &mut PgConnection,
    matcher: &Matcher,
    offer: &AssignmentRow,
    status: AssignmentStatus,
    reason: &str,
) -> Result<AssignmentRow, HandleError> {
    let step = jobs::Step::to(status, reason);
    let closed = jobs::transition(tx, matcher.index(), offer, step).await?;
    matcher.place(tx, &Job::from_offer(&closed)).await?;
    Ok(closed)
}

/// Expires every open offer past its time, one transaction each.
pub async fn sweep_expired(pool: &PgPool, matcher: &Matcher) -> Result<usize, HandleError> {
    let mut expired = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(offer) = store::next_expired(&mut tx).await? else {
            return Ok(expired);
        };
        close_and_move_on(
            &mut tx,
            matcher,
            &offer,
            AssignmentStatus::Expired,
            "no answer in time",
        )
        .await?;
        tx.commit().await?;
        tracing::info!(assignment = %offer.id, request = %offer.request_id, "offer expired");
        expired += 1;
    }
}

/// Withdraws every open offer to a deactivated group and offers its request to the next group,
/// one transaction each. Every replica sees the deactivation in its index; the row lock and the
/// status check decide which one passes each offer on.
pub async fn sweep_deactivated(pool: &PgPool, matcher: &Matcher) -> Result<usize, HandleError> {
    let groups = matcher.index().deactivated();
    if groups.is_empty() {
        return Ok(0);
    }
    let mut passed = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(offer) = store::next_offer_to(&mut tx, &groups).await? else {
            return Ok(passed);
        };
        close_and_move_on(
            &mut tx,
            matcher,
            &offer,
            AssignmentStatus::Withdrawn,
            "the group was deactivated",
        )
        .await?;
        tx.commit().await?;
        tracing::info!(assignment = %offer.id, group = %offer.group_id, "offer of a deactivated group passed on");
        passed += 1;
    }
}

/// Judges again every job whose wait for office hours is over, one transaction each.
pub async fn sweep_deferred(pool: &PgPool, matcher: &Matcher) -> Result<usize, HandleError> {
    let mut released = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(row) = store::next_released(&mut tx).await? else {
            return Ok(released);
        };
        matcher.place(&mut tx, &Job::from_row(&row)).await?;
        tx.commit().await?;
        tracing::info!(request = %row.request_id, "office hours began: judged again");
        released += 1;
    }
}

/// Sweeps for expired offers, offers of deactivated groups and jobs waiting for office hours,
/// every `interval` until `stop`.
pub async fn run_expiry(
    pool: PgPool,
    bus: Bus,
    matcher: Arc<Matcher>,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        match sweep_expired(&pool, &matcher).await {
            Ok(0) => {}
            Ok(_) => bus.wake_outbox(),
            Err(err) => tracing::warn!(error = %err, "offer expiry sweep failed; retrying"),
        }
        match sweep_deactivated(&pool, &matcher).await {
            Ok(0) => {}
            Ok(_) => bus.wake_outbox(),
            Err(err) => tracing::warn!(error = %err, "deactivated groups' sweep failed; retrying"),
        }
        match sweep_deferred(&pool, &matcher).await {
            Ok(0) => {}
            Ok(_) => bus.wake_outbox(),
            Err(err) => tracing::warn!(error = %err, "office hours sweep failed; retrying"),
        }
    }
}
