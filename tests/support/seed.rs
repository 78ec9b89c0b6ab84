//! Matching's tables filled straight through SQL, for the load generators: thousands of jobs
//! at real settlements in a few seconds, each in the state matching would leave it in.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::ops::Range;

use sqlx::PgPool;
use uuid::Uuid;

use crate::settlements::all;

/// What a seeded job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Completed,
    Escalated,
    Cancelled,
    Offered,
    Accepted,
}

/// Inserts the jobs numbered `range`, job `i` doing `fate(i)`, with their assignments and
/// decisions, then refreshes the planner's statistics. Returns one assignment to read back as
/// a baseline.
pub async fn seed_jobs(pool: &PgPool, range: Range<usize>, fate: impl Fn(usize) -> Fate) -> Uuid {
    let places = all();
    let mut sample = Uuid::nil();
    for chunk in range.collect::<Vec<_>>().chunks(1000) {
        let mut tx = pool.begin().await.unwrap();
        for &i in chunk {
            let place = &places[(i * 37) % places.len()];
            let request = Uuid::now_v7();
            let priority = (i % 4 + 1) as i16;
            sqlx::query(
                "INSERT INTO matching.jobs (request_id, reference_code, category, priority, \
                   required_skills, lat, lon, settlement, district, region, updated_at, open) \
                 VALUES ($1, $2, 3, $3, '{2}', $4, $5, $6, $7, $8, \
                   now() - make_interval(mins => $9), $10)",
            )
            .bind(request)
            .bind(format!("LOAD-{i}"))
            .bind(priority)
            .bind(place.lat)
            .bind(place.lon)
            .bind(&place.name_en)
            .bind(&place.district)
            .bind(&place.region)
            .bind((i % 10_000) as i32)
            // As matching leaves them: finished and cancelled jobs are no longer open.
            .bind(!matches!(fate(i), Fate::Completed | Fate::Cancelled))
            .execute(&mut *tx)
            .await
            .unwrap();
            let status: Option<i16> = match fate(i) {
                Fate::Completed => Some(8),
                Fate::Offered => Some(1),
                Fate::Accepted => Some(2),
                _ => None,
            };
            if let Some(status) = status {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO matching.assignments (id, request_id, group_id, status, attempt, \
                       category, priority, lat, lon, distance_m, expire_at) \
                     VALUES ($1, $2, $3, $4, 1, 3, $5, $6, $7, 1000, now() + interval '1 hour')",
                )
                .bind(id)
                .bind(request)
                .bind(Uuid::from_u128(i as u128 % 500))
                .bind(status)
                .bind(priority)
                .bind(place.lat)
                .bind(place.lon)
                .execute(&mut *tx)
                .await
                .unwrap();
                sample = id;
            }
            sqlx::query(
                "INSERT INTO matching.decisions (request_id, attempt, assignment_id, escalated, \
                   candidates) VALUES ($1, 1, NULL, $2, '')",
            )
            .bind(request)
            .bind(fate(i) == Fate::Escalated)
            .execute(&mut *tx)
            .await
            .unwrap();
            if fate(i) == Fate::Cancelled {
                sqlx::query(
                    "INSERT INTO matching.closed_requests (request_id, status) VALUES ($1, 10)",
                )
                .bind(request)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    sample
}
