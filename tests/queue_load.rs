//! Load generator for dispatchers' queues: how ListQueue keeps up as matching accumulates jobs.
//! Starts the four services on a private NATS and PostgreSQL, fills matching's tables with a
//! season of jobs at real settlements (most finished, some escalated, some under way, some
//! cancelled), then a surge of jobs that groups have accepted, and times ListQueue pages against
//! GetAssignment, a primary-key read through the same gRPC stack, gate and pool.
//!
//! Usage: cargo run --release -p komek-tests --bin komek-queue-load [JOBS...]
//! (default 2000 20000). Method and figures: BENCHMARKS.md.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::{Duration, Instant};

use komek_proto::matching::v1 as matching;
use komek_tests::System;
use komek_tests::seed::{Fate, seed_jobs};
use sqlx::PgPool;

/// Jobs of the surge that follows the season: groups at work on nearly all of them.
const SURGE: usize = 20_000;

/// What a job of the surge is doing: one in twenty escalated, as in the season, the rest
/// accepted by a group and within the time to set out.
fn surge_fate(i: usize) -> Fate {
    match i % 20 {
        0 => Fate::Escalated,
        _ => Fate::Accepted,
    }
}

/// What a seeded job is doing, in proportions of a winter season.
fn fate(i: usize) -> Fate {
    match i % 100 {
        0..=84 => Fate::Completed,
        85..=89 => Fate::Escalated,
        90..=94 => Fate::Cancelled,
        95..=97 => Fate::Offered,
        _ => Fate::Accepted,
    }
}

fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() * 9 / 10]))
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("job counts"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![2000, 20_000]
    } else {
        sizes
    };
    // The dispatcher's rate limit would pace the load generator rather than the service.
    let system = System::start_tuned(|c| {
        c.base.auth.rate_limits.dispatcher = komek_runtime::auth::gate::RateLimit {
            per_second: 1e9,
            burst: u32::MAX,
        }
    })
    .await;
    let pool = PgPool::connect(system.db.url()).await.unwrap();
    let mut dispatch = system.dispatch_client().await;
    let mut reader = system.assignment_client().await;
    let mut seeded = 0;
    println!(
        "jobs          GetAssignment p50/p90 ms   ListQueue(escalated, 50) p50/p90 ms   ratio of p50"
    );
    // The season's sizes, then a surge on top of the largest.
    let season = *sizes.last().unwrap();
    let stages = sizes
        .iter()
        .map(|&size| (size, format!("{size}")))
        .chain([(season + SURGE, format!("{season}+{SURGE}"))]);
    for (size, label) in stages {
        let fate_of = |i: usize| if i < season { fate(i) } else { surge_fate(i) };
        let sample = seed_jobs(&pool, seeded..size, fate_of).await;
        seeded = size;
        let rounds = 200;
        let mut base = Vec::new();
        let mut queue = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            reader
                .get_assignment(matching::GetAssignmentRequest {
                    name: format!("assignments/{sample}"),
                })
                .await
                .unwrap();
            base.push(t.elapsed());
            let t = Instant::now();
            let page = dispatch
                .list_queue(matching::ListQueueRequest {
                    queue: matching::Queue::Escalated as i32,
                    page_size: 50,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            queue.push(t.elapsed());
            // One job in twenty is escalated.
            assert_eq!(page.items.len(), 50.min(size / 20));
        }
        let (b50, b90) = summary(base);
        let (q50, q90) = summary(queue);
        println!(
            "{label:<13} {b50:>8.2} / {b90:<8.2}            {q50:>8.2} / {q90:<8.2}                      {:.1}x",
            q50 / b50
        );
    }
    system.stop().await;
}
