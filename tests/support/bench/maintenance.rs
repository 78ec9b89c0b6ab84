//! Benchmark 3: keeping the matcher's index current against `UPDATE`s of a GiST-indexed
//! PostGIS table; what the index costs in memory per group; rebuilding it from the roster
//! stream as a starting matcher does.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use komek_core::matching::GroupView;
use komek_core::nearest::GeoIndex;
use komek_core::{Availability, GeoPoint};
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::events::{Bus, subject};
use komek_testkit::Nats;
use prost::Message;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::allocated;
use super::nearest::{groups, load, point, postgis};
use crate::nemesis::rng::Rng;

/// Groups in the maintenance runs and in the rebuild.
const GROUPS: usize = 100_000;

/// The next state of a group: a mobile team reporting where it is (moved up to about 1 km), or,
/// one time in four, a change of availability.
fn update(rng: &mut Rng, g: &GroupView) -> GroupView {
    let mut next = g.clone();
    if rng.below(4) == 0 {
        next.availability = if g.availability == Availability::Available {
            Availability::Busy
        } else {
            Availability::Available
        };
    } else {
        let from = g.position();
        let step = |rng: &mut Rng| (rng.below(2001) as f64 - 1000.0) / 111_000.0;
        let to = GeoPoint::new(
            (from.lat() + step(rng)).clamp(-90.0, 90.0),
            from.lon() + step(rng),
        )
        .expect("a step from a valid point");
        next.last_location = Some((to, Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap()));
    }
    next
}

pub async fn run(budget: Duration) -> anyhow::Result<String> {
    let mut out =
        String::from("### Keeping the index current: the matcher's index against PostGIS\n\n");
    let all = groups(GROUPS, 3);

    // Memory: the groups' records alone, then the index holding the same records.
    let before = allocated();
    let records = all.clone();
    let record_bytes = allocated().saturating_sub(before);
    drop(records);
    let before = allocated();
    let mut index = GeoIndex::default();
    for g in &all {
        index.upsert(g.clone());
    }
    let total_bytes = allocated().saturating_sub(before);
    let per = |b: usize| b as f64 / GROUPS as f64;

    // The index: updates prepared beforehand, applied one by one, timed in rounds.
    let mut rng = Rng::new(11);
    let mut current = all.clone();
    let mut index_rates = Vec::new();
    let started = Instant::now();
    while index_rates.len() < 5 || (index_rates.len() < 15 && started.elapsed() < budget) {
        let updates: Vec<GroupView> = (0..GROUPS)
            .map(|_| {
                let i = rng.below(current.len());
                let next = update(&mut rng, &current[i]);
                current[i] = next.clone();
                next
            })
            .collect();
        let t = Instant::now();
        for u in updates {
            index.upsert(u);
        }
        index_rates.push(GROUPS as f64 / t.elapsed().as_secs_f64());
    }
    index_rates.sort_by(f64::total_cmp);
    let index_rate = index_rates[index_rates.len() / 2];

    // PostGIS, durable settings: one UPDATE per transaction from 8 connections (each report
    // its own fact, committed as it comes), and 1,000 rows per statement.
    let (_pg, url, mut conn) = postgis().await?;
    load(&mut conn, &all).await?;
    sqlx::query("ALTER TABLE groups ADD COLUMN available boolean NOT NULL DEFAULT true")
        .execute(&mut conn)
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await?;
    let ids: Arc<Vec<String>> = Arc::new(all.iter().map(|g| g.id.clone()).collect());
    let done = Arc::new(AtomicU64::new(0));
    let secs = budget.max(Duration::from_secs(5));
    let deadline = Instant::now() + secs;
    let mut clients = Vec::new();
    for c in 0..8u64 {
        let (pool, ids, done) = (pool.clone(), ids.clone(), done.clone());
        let all = all.clone();
        clients.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + c);
            while Instant::now() < deadline {
                let i = rng.below(ids.len());
                let next = update(&mut rng, &all[i]);
                sqlx::query("UPDATE groups SET geog = $2::geography, available = $3 WHERE id = $1")
                    .bind(&ids[i])
                    .bind(point(next.position()))
                    .bind(next.availability == Availability::Available)
                    .execute(&pool)
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for c in clients {
        c.await??;
    }
    let single_rate = done.load(Ordering::Relaxed) as f64 / secs.as_secs_f64();

    let mut batch_done = 0u64;
    let t = Instant::now();
    while t.elapsed() < secs {
        let (mut bid, mut bgeog, mut bavail) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..1_000 {
            let i = rng.below(all.len());
            let next = update(&mut rng, &all[i]);
            bid.push(all[i].id.clone());
            bgeog.push(point(next.position()));
            bavail.push(next.availability == Availability::Available);
        }
        sqlx::query(
            "UPDATE groups SET geog = u.geog::geography, available = u.available \
             FROM unnest($1::text[], $2::text[], $3::bool[]) AS u(id, geog, available) \
             WHERE groups.id = u.id",
        )
        .bind(&bid)
        .bind(&bgeog)
        .bind(&bavail)
        .execute(&pool)
        .await?;
        batch_done += 1_000;
    }
    let batch_rate = batch_done as f64 / t.elapsed().as_secs_f64();

    writeln!(
        out,
        "{GROUPS} groups at jittered settlements; an update moves a group up to 1 km or, one \
         time in four, changes its availability.\n\n\
         | | updates per second | the index's advantage |\n|---|---|---|\n\
         | the matcher's index (`GeoIndex::upsert`, one thread) | {index_rate:.0} | |\n\
         | PostGIS, one `UPDATE` per transaction, 8 connections | {single_rate:.0} | **{:.0}×** |\n\
         | PostGIS, 1,000 rows per `UPDATE … FROM unnest`, 1 connection | {batch_rate:.0} | {:.0}× |\n",
        index_rate / single_rate,
        index_rate / batch_rate,
    )?;

    // Rebuild: the roster stream holding every group's state, read whole by a fresh index.
    let nats = Nats::start();
    let bus = Bus::connect(&nats.url(), "komek-bench").await?;
    let published = publish_states(&bus, &all).await?;
    let mut rebuilds = Vec::new();
    for _ in 0..3 {
        let (took, held) =
            komek_matching::rebuild::time_rebuild(&bus, Duration::from_secs(120)).await?;
        anyhow::ensure!(
            held == GROUPS,
            "the rebuilt index holds {held} groups of {GROUPS}"
        );
        rebuilds.push(took);
    }
    rebuilds.sort();
    writeln!(
        out,
        "\n| memory and start | figure |\n|---|---|\n\
         | bytes per group: the index with the groups' records | {:.0} |\n\
         | bytes per group: the records alone (`GroupView`, as the matcher keeps them) | {:.0} |\n\
         | **bytes per group: what the index adds** | **{:.0}** |\n\
         | rebuild of {GROUPS} groups from the roster stream ({published} messages), median of 3 | **{:.2} s** |\n",
        per(total_bytes),
        per(record_bytes),
        per(total_bytes.saturating_sub(record_bytes)),
        rebuilds[1].as_secs_f64(),
    )?;
    eprintln!(
        "maintenance: index {index_rate:.0}/s, PostGIS {single_rate:.0}/s and {batch_rate:.0}/s batched, rebuilds {rebuilds:?}"
    );
    Ok(out)
}

/// Publishes each group's state on the roster stream as the roster's relay would, then the
/// mark that says the stream is whole. Returns how many messages went.
async fn publish_states(bus: &Bus, all: &[GroupView]) -> anyhow::Result<usize> {
    let mut acks = Vec::new();
    let mut sent = 0;
    for g in all {
        let state = ev::GroupState {
            group: format!("groups/{}", Uuid::new_v4()),
            organization: format!("organizations/{}", Uuid::nil()),
            display_name: g.id.clone(),
            base_location: Some(pb::LatLng {
                latitude: g.base.lat(),
                longitude: g.base.lon(),
            }),
            service_area: Some(pb::ServiceArea {
                radius_km: 50.0,
                districts: vec![],
            }),
            skills: g
                .skills
                .iter()
                .map(|s| pb::GroupSkill {
                    skill: s.skill.code(),
                    certified_until: None,
                    payload_tonnes: 2.0,
                })
                .collect(),
            capacity: 2,
            availability: pb::Availability::Available as i32,
            revision: 1,
            ..Default::default()
        };
        let subject = subject::roster_group(state.group.trim_start_matches("groups/"));
        acks.push(
            bus.jetstream
                .publish(subject, state.encode_to_vec().into())
                .await?,
        );
        sent += 1;
        if acks.len() >= 2_000 {
            for a in acks.drain(..) {
                a.await?;
            }
        }
    }
    let complete = subject::complete(subject::ROSTER_GROUP_PREFIX);
    acks.push(bus.jetstream.publish(complete, Vec::new().into()).await?);
    for a in acks {
        a.await?;
    }
    Ok(sent + 1)
}
