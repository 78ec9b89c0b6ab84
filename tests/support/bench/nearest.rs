//! Benchmarks 2 and 3: the nearest eligible group from the matcher's index against PostGIS's
//! KNN and a brute-force scan, at 10k, 100k and 1M groups; keeping the index current against
//! `UPDATE`s of a GiST-indexed PostGIS table; the index's bytes per group.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{Duration as Age, TimeZone, Utc};
use komek_core::matching::{Evaluation, GroupView, Need, SkillGrant, judge};
use komek_core::nearest::GeoIndex;
use komek_core::{Availability, GeoPoint, Skill};
use komek_testkit::Postgres;
use sqlx::{Connection, PgConnection};

use super::{allocated, jittered_settlements, median_time, show};
use crate::nemesis::rng::Rng;

/// Groups at jittered settlements; one in five carries cargo, so the nearest eligible group is
/// usually not the nearest group.
pub fn groups(n: usize, seed: u64) -> Vec<GroupView> {
    let mut rng = Rng::new(seed);
    jittered_settlements(&mut rng, n)
        .into_iter()
        .enumerate()
        .map(|(i, base)| GroupView {
            id: format!("groups/{i:07}"),
            base,
            last_location: None,
            radius_km: 0.0,
            districts: vec![],
            skills: vec![SkillGrant::plain(if i % 5 == 0 {
                Skill::VehicleCargo
            } else {
                Skill::SocialCare
            })],
            availability: Availability::Available,
            capacity: 2,
            active_assignments: 0,
            schedule: None,
            office_hours: None,
            rest_until: None,
        })
        .collect()
}

fn need(location: GeoPoint) -> Need<'static> {
    Need {
        location,
        district: "",
        located_district: "",
        skills: &[Skill::VehicleCargo],
        cargo_tonnes: 0.0,
        excluded: &[],
        at_capacity: &[],
        resting: &[],
        now: Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap(),
        max_location_age: Age::minutes(30),
        urgent: false,
        area_factor: 1.0,
    }
}

/// Every group judged, the nearest eligible kept (ties: the lower id): the reference.
fn brute_force(groups: &[GroupView], at: GeoPoint) -> Option<Evaluation> {
    let need = need(at);
    let mut best: Option<Evaluation> = None;
    for g in groups {
        let e = judge(g, &need);
        if e.is_eligible()
            && best.as_ref().is_none_or(|b| {
                e.distance_m
                    .total_cmp(&b.distance_m)
                    .then_with(|| e.group.cmp(&b.group))
                    .is_lt()
            })
        {
            best = Some(e);
        }
    }
    best
}

fn indexed(index: &GeoIndex, at: GeoPoint) -> Option<Evaluation> {
    let need = need(at);
    index.search(&need).find(Evaluation::is_eligible)
}

const KNN: &str = "SELECT id, ST_Distance(geog, $1::geography, false) FROM groups \
                   WHERE cargo ORDER BY geog <-> $1::geography LIMIT 1";

pub fn point(p: GeoPoint) -> String {
    format!("SRID=4326;POINT({} {})", p.lon(), p.lat())
}

/// Loads the groups into `groups(id, geog, cargo)` with a GiST index on `geog`.
pub async fn load(conn: &mut PgConnection, groups: &[GroupView]) -> anyhow::Result<()> {
    sqlx::query("DROP TABLE IF EXISTS groups")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "CREATE TABLE groups (id text PRIMARY KEY, geog geography(Point, 4326) NOT NULL, \
         cargo boolean NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let mut copy = conn
        .copy_in_raw("COPY groups (id, geog, cargo) FROM STDIN")
        .await?;
    let mut chunk = String::new();
    for g in groups {
        let cargo = g.skills.iter().any(|s| s.skill == Skill::VehicleCargo);
        writeln!(chunk, "{}\t{}\t{}", g.id, point(g.base), cargo)?;
        if chunk.len() > 1 << 20 {
            copy.send(chunk.as_bytes()).await?;
            chunk.clear();
        }
    }
    copy.send(chunk.as_bytes()).await?;
    copy.finish().await?;
    sqlx::query("CREATE INDEX groups_geog ON groups USING gist (geog)")
        .execute(&mut *conn)
        .await?;
    sqlx::query("VACUUM ANALYZE groups")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn knn(conn: &mut PgConnection, at: GeoPoint) -> anyhow::Result<(String, f64)> {
    Ok(sqlx::query_as(KNN).bind(point(at)).fetch_one(conn).await?)
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// A PostgreSQL with durable settings and PostGIS in database `bench`: the server (stopped
/// when dropped), the database's URL and a connection to it.
pub async fn postgis() -> anyhow::Result<(Postgres, String, PgConnection)> {
    let pg = Postgres::start_durable(&[]);
    pg.create_database("bench").await;
    let url = pg.url("bench");
    let mut conn = PgConnection::connect(&url).await?;
    sqlx::query("CREATE EXTENSION postgis")
        .execute(&mut conn)
        .await
        .map_err(|e| {
            anyhow::anyhow!("{e} (PostGIS: apt-get install -y postgresql-15-postgis-3)")
        })?;
    Ok((pg, url, conn))
}

pub struct Sizes {
    pub sizes: Vec<usize>,
    pub queries: usize,
}

pub async fn run(budget: Duration, sizes: &Sizes) -> anyhow::Result<String> {
    let (_pg, _, mut conn) = postgis().await?;

    let mut table = String::from(
        "### Nearest eligible group: the matcher's index, PostGIS KNN, brute force\n\n\
         | groups | index | PostGIS KNN (GiST, sqlx) | brute force | index vs PostGIS | index vs brute force | same answers | bytes per group (index with records) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut costs = Vec::new();
    for &n in &sizes.sizes {
        let all = groups(n, n as u64);
        let mut rng = Rng::new(7 + n as u64);
        let queries = jittered_settlements(&mut rng, sizes.queries);

        let before = allocated();
        let mut index = GeoIndex::default();
        for g in &all {
            index.upsert(g.clone());
        }
        let bytes = allocated().saturating_sub(before) as f64 / n as f64;

        // A brute-force pass over a million groups takes a while: fewer queries as it grows.
        let brute_queries = &queries[..(sizes.queries * 10_000 / n).clamp(5, sizes.queries)];

        let t = Instant::now();
        load(&mut conn, &all).await?;
        eprintln!(
            "nearest {n}: PostGIS table and GiST index built in {:?}",
            t.elapsed()
        );
        for q in queries.iter().take(100) {
            knn(&mut conn, *q).await?;
        }

        // Rounds, each timing the three over the same queries one after the other, so a slow
        // spell of the machine falls on all three; a figure is the median of its rounds.
        let (mut t_index, mut t_pg, mut t_brute) = (Vec::new(), Vec::new(), Vec::new());
        let started = Instant::now();
        while t_index.len() < 5 || (t_index.len() < 21 && started.elapsed() < budget * 3) {
            t_index.push(
                median_time(Duration::ZERO, || {
                    for q in &queries {
                        std::hint::black_box(indexed(&index, *q));
                    }
                }) / queries.len() as u32,
            );
            let t = Instant::now();
            for q in &queries {
                std::hint::black_box(knn(&mut conn, *q).await?);
            }
            t_pg.push(t.elapsed() / queries.len() as u32);
            let t = Instant::now();
            for q in brute_queries {
                std::hint::black_box(brute_force(&all, *q));
            }
            t_brute.push(t.elapsed() / brute_queries.len() as u32);
        }
        let ratio_pg = median(
            t_pg.iter()
                .zip(&t_index)
                .map(|(p, i)| p.as_secs_f64() / i.as_secs_f64())
                .collect(),
        );
        let ratio_brute = median(
            t_brute
                .iter()
                .zip(&t_index)
                .map(|(b, i)| b.as_secs_f64() / i.as_secs_f64())
                .collect(),
        );
        let rounds = t_index.len();
        let (t_index, t_pg, t_brute) = (median(t_index), median(t_pg), median(t_brute));

        // Answers: the index against brute force on the brute-force queries, against PostGIS
        // on all; PostGIS measures on a sphere of its own radius, so a different group counts
        // as the same answer only when both are equally near to the metre.
        let mut same = 0;
        let mut checked = 0;
        for (i, q) in queries.iter().enumerate() {
            let ours = indexed(&index, *q).expect("cargo groups exist");
            let (id, metres) = knn(&mut conn, *q).await?;
            let mut agree = ours.group == id || (ours.distance_m - metres).abs() < 1.0;
            if i < brute_queries.len() {
                let reference = brute_force(&all, *q).expect("cargo groups exist");
                agree &= reference.group == ours.group;
            }
            checked += 1;
            same += usize::from(agree);
        }

        costs.push((n, t_index));
        writeln!(
            table,
            "| {n} | {} | {} | {} | **{ratio_pg:.0}×** | {ratio_brute:.0}× | {same} of {checked} | {bytes:.0} |",
            show(t_index),
            show(t_pg),
            show(t_brute),
        )?;
        eprintln!(
            "nearest {n}: index {t_index:?}, PostGIS {t_pg:?}, brute force {t_brute:?} ({rounds} rounds)"
        );
    }
    if let (Some((n0, t0)), Some((n1, t1))) = (costs.first(), costs.last()) {
        writeln!(
            table,
            "\nA search among {n1} groups costs **{:.2}×** one among {n0}.\n",
            t1.as_secs_f64() / t0.as_secs_f64()
        )?;
    }
    Ok(table)
}
