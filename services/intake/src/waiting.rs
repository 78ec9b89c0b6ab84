//! Requests that wait too long: every `waiting_sweep_secs` one replica looks at every request
//! that waits on someone (`komek_core::waiting`), alerts each whose wait has passed its limit
//! once more (a `komek.request.waiting` event, and the request shown as waiting too long), and
//! sets the gauge of how many wait too long now.

use std::time::Duration;

use chrono::Utc;
use komek_core::waiting::{Limits, WaitingState, next_alert};
use komek_runtime::CancellationToken;
use komek_runtime::events::Bus;
use komek_runtime::metrics;
use sqlx::PgPool;

use crate::store;

const LATE: &str = "komek_requests_waiting_too_long";
const LATE_HELP: &str = "Requests that have waited in their state (new, triaged, escalated, unassigned) past its limit, by state and priority.";

/// Sweeps every `every` until `shutdown`.
pub async fn run(
    pool: PgPool,
    bus: Bus,
    limits: Limits,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match sweep(&pool, &limits).await {
            Ok(Some(0)) | Ok(None) => {}
            Ok(Some(alerted)) => {
                tracing::info!(alerted, "requests waiting too long alerted");
                bus.wake_outbox();
            }
            Err(err) => tracing::warn!(error = %err, "waiting requests not swept; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One sweep: alerts what is due, in one transaction, and sets the gauge. `None` when another
/// replica is sweeping.
pub async fn sweep(pool: &PgPool, limits: &Limits) -> anyhow::Result<Option<usize>> {
    let mut tx = pool.begin().await?;
    if !store::waiting::take_sweep(&mut tx).await? {
        return Ok(None);
    }
    let now = Utc::now();
    let mut late: std::collections::BTreeMap<(WaitingState, &str), usize> = Default::default();
    let mut alerted = 0;
    // A wait is measured from the request's creation or a later fact; a fact stamped by
    // another service's clock a moment before the creation is alerted that moment late.
    let created_by = now - chrono::Duration::from_std(limits.shortest()).unwrap_or_default();
    for row in store::waiting::waiting(&mut tx, created_by).await? {
        let Some((state, since)) = row.waiting() else {
            continue;
        };
        let (category, priority) = row.judged();
        let limit = limits.limit(state, category, priority);
        if now < next_alert(since, limit, 0) {
            continue;
        }
        *late
            .entry((state, priority.map_or("unknown", |p| p.slug())))
            .or_default() += 1;
        let given = if row.waiting_since == Some(since) {
            u32::try_from(row.waiting_alerts).unwrap_or(0)
        } else {
            0
        };
        if now < next_alert(since, limit, given) {
            continue;
        }
        let limit_secs = i32::try_from(limit.as_secs()).unwrap_or(i32::MAX);
        let alerts = i32::try_from(given + 1).unwrap_or(i32::MAX);
        if store::waiting::alert(&mut tx, &row, since, alerts, limit_secs, now).await? {
            tracing::info!(
                request = %row.id,
                reference = %row.reference_code,
                state = state.slug(),
                alerts,
                "request waits too long"
            );
            alerted += 1;
        }
    }
    tx.commit().await?;
    for state in WaitingState::ALL {
        for priority in ["critical", "high", "normal", "low", "unknown"] {
            let n = late.get(&(state, priority)).copied().unwrap_or(0);
            metrics::set(
                LATE,
                LATE_HELP,
                &[("state", state.slug()), ("priority", priority)],
                n as f64,
            );
        }
    }
    Ok(Some(alerted))
}
