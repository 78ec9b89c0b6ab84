//! Gauges of matching's state for the metrics: groups in the index (every 5 s) and jobs waiting
//! in each dispatchers' queue by region (every 15 s, less often when counting them takes long).
//! Every replica measures the same database, so dashboards take the maximum over replicas,
//! not the sum.

use std::sync::Arc;
use std::time::{Duration, Instant};

use komek_runtime::CancellationToken;
use komek_runtime::metrics;
use sqlx::PgPool;

use crate::config::Overdue;
use crate::index::GroupIndex;
use crate::store::{self, QueueFilter};

/// The index is measured this often, the queues (a query over the open jobs) every third time
/// at most.
const EVERY: Duration = Duration::from_secs(5);

pub async fn run(pool: PgPool, index: Arc<GroupIndex>, overdue: Overdue, stop: CancellationToken) {
    metrics::declare_counter(
        crate::matcher::ESCALATIONS,
        crate::matcher::ESCALATIONS_HELP,
    );
    metrics::count(
        "komek_offers_total",
        "Offers made to groups (by the matcher or a dispatcher).",
        &[],
        0,
    );
    let mut queues_due = Instant::now();
    loop {
        metrics::set(
            "komek_matching_groups_indexed",
            "Volunteer groups in this replica's index.",
            &[],
            index.len() as f64,
        );
        if Instant::now() >= queues_due {
            let started = Instant::now();
            measure_queues(&pool, &overdue).await;
            // The measurement judges every job that may wait: with many waiting (a surge
            // nobody has taken yet) it can take seconds of the database, so it is made at
            // most a twentieth of the time.
            queues_due = Instant::now() + (3 * EVERY).max(20 * started.elapsed());
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn measure_queues(pool: &PgPool, overdue: &Overdue) {
    let (en_route_within, on_site_within) = overdue.limits();
    let filter = QueueFilter {
        limit: 1,
        en_route_within,
        on_site_within,
        ..Default::default()
    };
    match store::queue_depths(pool, &filter).await {
        Ok(rows) => {
            let depth = rows.into_iter().filter_map(|(queue, region, n)| {
                let queue = match queue {
                    1 => "escalated",
                    2 => "unassigned",
                    3 => "overdue",
                    _ => return None,
                };
                Some((
                    vec![("queue", queue.to_string()), ("region", region)],
                    n as f64,
                ))
            });
            metrics::set_all(
                "komek_queue_depth",
                "Jobs waiting in a dispatchers' queue (escalated, unassigned, overdue), by region.",
                depth.collect(),
            );
        }
        Err(err) => tracing::debug!(error = %err, "queue depths not measured"),
    }
}
