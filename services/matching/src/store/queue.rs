//! Dispatchers' queues, computed from the open jobs.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use komek_core::AssignmentStatus;

use super::Result;

/// Where a job stands for dispatchers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    /// 1 escalated, 2 unassigned, 3 overdue, 0 in no queue.
    pub queue: i16,
    pub since: DateTime<Utc>,
    pub assignment_id: Option<Uuid>,
    pub assignment_status: Option<i16>,
    pub closed_status: Option<i16>,
    /// The last decision's candidates, for an escalation's reasons.
    pub candidates: Option<Vec<u8>>,
    /// The last decision's own reasons, when it looked at no candidate.
    pub reasons: Option<Vec<i16>>,
}

/// Queue filters, validated.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub queue: Option<i16>,
    pub request_id: Option<Uuid>,
    pub region: String,
    pub district: String,
    pub categories: Vec<i16>,
    pub min_priority: i16,
    /// Keyset: (priority, since, request) of the last item of the previous page.
    pub after: Option<(i16, DateTime<Utc>, Uuid)>,
    pub limit: i64,
    /// A regional dispatcher's regions; empty is every region.
    pub regions: Vec<String>,
    /// Seconds an accepted job may wait before it is en route, by priority code 1..=4.
    pub en_route_within: [f64; 4],
    /// Seconds a job may stay on site.
    pub on_site_within: f64,
}

/// The open jobs with their queue and the time they wait since, filtered: the body of
/// [`queue`] and [`queue_depths`], whose parameters [`bind_filter`] binds.
macro_rules! queued {
    () => {
        "WITH state AS ( \
           SELECT j.request_id, j.reference_code, j.category, j.priority, j.lat, j.lon, \
             j.settlement, j.district, j.region, j.updated_at, \
             a.id AS assignment_id, a.status AS assignment_status, a.updated_at AS a_updated, \
             d.escalated, d.decided_at, d.candidates, d.reasons, c.status AS closed_status \
           FROM jobs j \
           LEFT JOIN LATERAL (SELECT id, status, updated_at FROM assignments \
               WHERE request_id = j.request_id \
               ORDER BY status = ANY ($16) DESC, lead DESC, offered_at DESC, id DESC LIMIT 1) a \
             ON true \
           LEFT JOIN LATERAL (SELECT escalated, decided_at, candidates, reasons FROM decisions \
               WHERE request_id = j.request_id ORDER BY seq DESC LIMIT 1) d ON true \
           LEFT JOIN closed_requests c ON c.request_id = j.request_id \
           WHERE (j.open AND $1::uuid IS NULL) OR j.request_id = $1 \
         ), queued AS ( \
           SELECT *, CASE \
             WHEN closed_status IS NOT NULL THEN 0 \
             WHEN assignment_status = $13 THEN 0 \
             WHEN assignment_status = $14 AND a_updated < now() - make_interval(secs => ($9::float8[])[priority]) THEN 3 \
             WHEN assignment_status = $15 AND a_updated < now() - make_interval(secs => $10) THEN 3 \
             WHEN assignment_status = ANY ($16) THEN 0 \
             WHEN escalated THEN 1 \
             ELSE 2 END::smallint AS queue, \
           CASE WHEN assignment_status IN ($14, $15) THEN a_updated \
             WHEN escalated AND (assignment_status IS NULL OR NOT assignment_status = ANY ($16)) \
               THEN decided_at \
             ELSE greatest(updated_at, coalesce(a_updated, updated_at)) END AS since \
           FROM state \
         ) \
         SELECT request_id, reference_code, category, priority, lat, lon, settlement, district, \
           region, queue, since, assignment_id, assignment_status, closed_status, \
           CASE WHEN queue = 1 THEN candidates END AS candidates, \
           CASE WHEN queue = 1 THEN reasons END AS reasons \
         FROM queued \
         WHERE ($2::smallint IS NULL OR queue = $2) \
           AND ($3 = '' OR region = $3) AND ($4 = '' OR district = $4) \
           AND (cardinality($5::smallint[]) = 0 OR category = ANY ($5)) \
           AND (cardinality($17::text[]) = 0 OR region = ANY ($17)) \
           AND priority >= $6 \
           AND ($7::smallint IS NULL OR priority < $7 OR (priority = $7 AND (since, request_id) > ($8, $11)))"
    };
}

/// Jobs by queue, most urgent first, then longest waiting. A job is escalated when its last
/// decision escalated and nothing is active; unassigned when nothing is active otherwise;
/// overdue when accepted and not en route in time, or on site too long. A wide search is judged
/// by its lead when the lead is on it, else by any active assignment, else by the latest.
pub async fn queue(pool: &PgPool, f: &QueueFilter) -> Result<Vec<QueueRow>> {
    let query = sqlx::query_as(concat!(
        queued!(),
        " ORDER BY priority DESC, since, request_id LIMIT $12"
    ));
    bind_filter(query, f)
        .fetch_all(pool)
        .await
        .map_err(Into::into)
}

/// How many jobs wait in each queue (1 escalated, 2 unassigned, 3 overdue), by region: counted
/// where they are, so that a measurement over every open job sends a few rows, not the jobs.
pub async fn queue_depths(pool: &PgPool, f: &QueueFilter) -> Result<Vec<(i16, String, i64)>> {
    // `$12` (the page's size) has no use here; it is named so that the filter binds alike.
    let query = sqlx::query_as(concat!(
        "SELECT queue, region, count(*) FROM (",
        queued!(),
        ") q WHERE queue > 0 AND $12::int8 IS NOT NULL GROUP BY queue, region"
    ));
    bind_filter(query, f)
        .fetch_all(pool)
        .await
        .map_err(Into::into)
}

fn bind_filter<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    f: &'q QueueFilter,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    let (after_p, after_t, after_id) = match f.after {
        Some((p, t, id)) => (Some(p), Some(t), Some(id)),
        None => (None, None, None),
    };
    query
        .bind(f.request_id)
        .bind(f.queue)
        .bind(&f.region)
        .bind(&f.district)
        .bind(&f.categories)
        .bind(f.min_priority)
        .bind(after_p)
        .bind(after_t)
        .bind(f.en_route_within.to_vec())
        .bind(f.on_site_within)
        .bind(after_id)
        .bind(f.limit)
        .bind(AssignmentStatus::Completed.code() as i16)
        // Accepted and on site are the statuses a job can be overdue in.
        .bind(AssignmentStatus::Accepted.code() as i16)
        .bind(AssignmentStatus::OnSite.code() as i16)
        .bind(AssignmentStatus::codes(AssignmentStatus::is_active))
        .bind(&f.regions)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use komek_testkit::TestDb;

    use super::super::{JobRow, MIGRATOR, SCHEMA, record_decision, upsert_job};
    use super::*;

    fn job(region: &str) -> JobRow {
        JobRow {
            request_id: Uuid::now_v7(),
            reference_code: "KMK-7".into(),
            category: 3,
            priority: 2,
            required_skills: vec![2],
            lat: Some(43.30348),
            lon: Some(77.24085),
            settlement: "Talgar".into(),
            district: "Talgar District".into(),
            region: region.into(),
            cargo_tonnes: 2.0,
            volunteer_note: String::new(),
            people_count: 1,
            quantity_value: 2.0,
            quantity_unit: "т".into(),
        }
    }

    /// The depths counted where the jobs are match the queue's own rows counted by queue and
    /// region, and leave out jobs in no queue.
    #[tokio::test]
    async fn depths_count_the_queues_by_region() {
        let db = TestDb::create().await;
        let pool = komek_runtime::db::connect_and_migrate(db.url(), SCHEMA, 2, &MIGRATOR)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        for region in ["Almaty Region", "Almaty Region", "Abai Region"] {
            upsert_job(&mut conn, &job(region)).await.unwrap();
        }
        let escalated = job("Almaty Region");
        upsert_job(&mut conn, &escalated).await.unwrap();
        record_decision(&mut conn, escalated.request_id, 1, None, &[], &[1])
            .await
            .unwrap();
        let closed = job("Abai Region");
        upsert_job(&mut conn, &closed).await.unwrap();
        let cancelled = komek_core::RequestStatus::Cancelled.code() as i16;
        super::super::close_request(&mut conn, closed.request_id, cancelled)
            .await
            .unwrap();

        let filter = QueueFilter {
            limit: 100,
            en_route_within: [600.0; 4],
            on_site_within: 3600.0,
            ..Default::default()
        };
        let mut depths = queue_depths(&pool, &filter).await.unwrap();
        depths.sort();
        assert_eq!(
            depths,
            [
                (1, "Almaty Region".to_string(), 1),
                (2, "Abai Region".to_string(), 1),
                (2, "Almaty Region".to_string(), 2),
            ]
        );
        let mut counted = BTreeMap::<(i16, String), i64>::new();
        for row in queue(&pool, &filter).await.unwrap() {
            if row.queue > 0 {
                *counted.entry((row.queue, row.region)).or_default() += 1;
            }
        }
        let counted: Vec<_> = counted.into_iter().map(|((q, r), n)| (q, r, n)).collect();
        assert_eq!(depths, counted);
    }
}
