//! Gauges of matching's state for the metrics: groups in the index (every 5 s) and jobs waiting
//! in each dispatchers' queue by region (every 15 s). Every replica measures the same database, so dashboards take
//! the maximum over replicas, not the sum.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use komek_runtime::CancellationToken;
use komek_runtime::metrics;
use sqlx::PgPool;

use crate::config::Overdue;
use crate::index::GroupIndex;
use crate::store::{self, QueueFilter};

/// The index is measured this often, the queues (a query over the open jobs) every third time.
const EVERY: Duration = Duration::from_secs(5);

/// The most open jobs one measurement reads.
const MAX_JOBS: i64 = 100_000;

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
    for round in 0u64.. {
        metrics::set(
            "komek_matching_groups_indexed",
            "Volunteer groups in this replica's index.",
            &[],
            index.len() as f64,
        );
        if round % 3 == 0 {
            measure_queues(&pool, &overdue).await;
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
        limit: MAX_JOBS,
        en_route_within,
        on_site_within,
        ..Default::default()
    };
    match store::queue(pool, &filter).await {
        Ok(rows) => {
            let mut depth: BTreeMap<(&str, String), u64> = BTreeMap::new();
            for row in &rows {
                let queue = match row.queue {
                    1 => "escalated",
                    2 => "unassigned",
                    3 => "overdue",
                    _ => continue,
                };
                *depth.entry((queue, row.region.clone())).or_default() += 1;
            }
            metrics::set_all(
                "komek_queue_depth",
                "Jobs waiting in a dispatchers' queue (escalated, unassigned, overdue), by region.",
                depth
                    .into_iter()
                    .map(|((queue, region), n)| {
                        (
                            vec![("queue", queue.to_string()), ("region", region)],
                            n as f64,
                        )
                    })
                    .collect(),
            );
        }
        Err(err) => tracing::debug!(error = %err, "queue depths not measured"),
    }
}
