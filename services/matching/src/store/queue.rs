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

/// Jobs with their queue and the time they wait since, filtered: the body of [`queue`] and
/// [`queue_depths`], whose parameters [`bind_filter`] binds. `queued!(one)` reads the job of
/// the request `$1`, in a queue or not; `queued!(waiting)` the open jobs in a queue, judging
/// only those that may be in one.
macro_rules! queued {
    (one) => {
        concat!(
            "WITH state AS (",
            state_of!(),
            "WHERE j.request_id = $1), ",
            judged!()
        )
    };
    (waiting) => {
        concat!(
            "WITH ",
            may_wait!(),
            ", state AS (",
            state_of!(),
            "WHERE $1::uuid IS NULL AND j.open \
               AND j.request_id IN (SELECT request_id FROM may_wait)), ",
            judged!(),
            " AND queue > 0"
        )
    };
}

/// Open jobs that may be in a queue, a superset of those that are: a job is escalated or
/// unassigned only with no active assignment, overdue only with an assignment accepted or on
/// site for longer than the shortest of the limits. Both are read from indexes that hold only
/// such rows, so a backlog of jobs that groups are working on (a surge: tens of thousands
/// accepted) costs nothing here, where judging each open job took seconds of the database.
/// The statuses are written out because the partial indexes' predicates must be provable
/// from the query's text; the test `the_statuses_written_in_the_queries_are_the_lifecycles`
/// keeps them true.
macro_rules! may_wait {
    () => {
        "may_wait AS ( \
           SELECT j.request_id FROM jobs j \
           WHERE j.open \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.request_id = j.request_id \
               AND a.status IN (1, 2, 6, 7) AND NOT a.wide) \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.request_id = j.request_id \
               AND a.status IN (1, 2, 6, 7) AND a.wide) \
           UNION \
           SELECT request_id FROM assignments \
           WHERE status IN (2, 7) AND updated_at < now() - make_interval(secs => \
             least(($9::float8[])[1], ($9::float8[])[2], ($9::float8[])[3], \
               ($9::float8[])[4], $10)))"
    };
}

/// A job with its judged assignment, last decision and closing; ends with a `FROM`, for the
/// jobs' `WHERE`.
macro_rules! state_of {
    () => {
        " \
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
           LEFT JOIN closed_requests c ON c.request_id = j.request_id "
    };
}

/// The queue of each job of `state`, and the filter; ends in the `WHERE` of the filter.
macro_rules! judged {
    () => {
        "queued AS ( \
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
/// With a request in the filter, its job in whatever queue, or in none; without, the jobs in
/// a queue.
pub async fn queue(pool: &PgPool, f: &QueueFilter) -> Result<Vec<QueueRow>> {
    let query = match f.request_id {
        Some(_) => sqlx::query_as(concat!(
            queued!(one),
            " ORDER BY priority DESC, since, request_id LIMIT $12"
        )),
        None => sqlx::query_as(concat!(
            queued!(waiting),
            " ORDER BY priority DESC, since, request_id LIMIT $12"
        )),
    };
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
        queued!(waiting),
        ") q WHERE $12::int8 IS NOT NULL GROUP BY queue, region"
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

    /// Records an assignment of `request` to a new group, in `status` since `ago` seconds.
    async fn assign(
        conn: &mut sqlx::PgConnection,
        request: Uuid,
        status: AssignmentStatus,
        ago: f64,
        wide: bool,
        lead: bool,
    ) {
        sqlx::query(
            "INSERT INTO assignments (id, request_id, group_id, status, attempt, category, \
               priority, lat, lon, distance_m, offered_at, expire_at, updated_at, wide, lead) \
             VALUES ($1, $2, $3, $4, 1, 3, 2, 43.30348, 77.24085, 1200, \
               now() - make_interval(secs => $5), now() + interval '15 minutes', \
               now() - make_interval(secs => $5), $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(request)
        .bind(Uuid::now_v7())
        .bind(status.code() as i16)
        .bind(ago)
        .bind(wide)
        .bind(lead)
        .execute(conn)
        .await
        .unwrap();
    }

    /// The lists of the queues judge only the jobs that may wait, and miss none: every open job
    /// the queue of its own request puts in a queue is listed and counted there, in every way
    /// a job can come to wait or to be worked on (escalated, unassigned, declined, offered,
    /// accepted or on site within the limits or past them, en route, a wide search, closed).
    #[tokio::test]
    async fn the_lists_find_every_job_in_a_queue_and_only_those() {
        use AssignmentStatus::*;
        let db = TestDb::create().await;
        let pool = komek_runtime::db::connect_and_migrate(db.url(), SCHEMA, 2, &MIGRATOR)
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        // Limits of ten minutes to set out and an hour on site; times in seconds ago.
        let (en_route_within, on_site_within) = ([600.0; 4], 3600.0);
        let mut jobs = BTreeMap::new();
        for (name, region) in [
            ("unassigned", "Almaty Region"),
            ("escalated", "Almaty Region"),
            ("declined", "Abai Region"),
            ("offered", "Almaty Region"),
            ("accepted lately", "Almaty Region"),
            ("accepted long ago", "Abai Region"),
            ("on site lately", "Almaty Region"),
            ("on site too long", "Almaty Region"),
            ("en route long", "Almaty Region"),
            ("wide, lead stalled", "Abai Region"),
            ("wide, all offered", "Almaty Region"),
            ("wide, all declined", "Almaty Region"),
            ("closed", "Abai Region"),
        ] {
            let j = job(region);
            upsert_job(&mut conn, &j).await.unwrap();
            jobs.insert(name, j.request_id);
        }
        record_decision(&mut conn, jobs["escalated"], 1, None, &[], &[1])
            .await
            .unwrap();
        for (name, status, ago, wide, lead) in [
            ("declined", Declined, 900.0, false, false),
            ("offered", Offered, 5.0, false, false),
            ("accepted lately", Accepted, 60.0, false, false),
            ("accepted long ago", Accepted, 700.0, false, false),
            ("on site lately", OnSite, 700.0, false, false),
            ("on site too long", OnSite, 4000.0, false, false),
            ("en route long", EnRoute, 5000.0, false, false),
            ("wide, lead stalled", Accepted, 700.0, true, true),
            ("wide, lead stalled", Offered, 5.0, true, false),
            ("wide, all offered", Offered, 5.0, true, false),
            ("wide, all offered", Offered, 5.0, true, false),
            ("wide, all declined", Declined, 900.0, true, false),
            ("wide, all declined", Declined, 900.0, true, false),
            ("closed", Accepted, 700.0, false, false),
        ] {
            assign(&mut conn, jobs[name], status, ago, wide, lead).await;
        }
        let cancelled = komek_core::RequestStatus::Cancelled.code() as i16;
        super::super::close_request(&mut conn, jobs["closed"], cancelled)
            .await
            .unwrap();

        let filter = QueueFilter {
            limit: 100,
            en_route_within,
            on_site_within,
            ..Default::default()
        };
        // Each job judged alone, as the dispatchers' live feed judges a changed request.
        let mut judged_alone = BTreeMap::new();
        for (name, id) in &jobs {
            let one = QueueFilter {
                request_id: Some(*id),
                ..filter.clone()
            };
            let rows = queue(&pool, &one).await.unwrap();
            assert_eq!(rows.len(), 1, "{name}");
            if rows[0].queue > 0 {
                judged_alone.insert(*name, rows[0].queue);
            }
        }
        assert_eq!(
            judged_alone,
            BTreeMap::from([
                ("unassigned", 2),
                ("escalated", 1),
                ("declined", 2),
                ("accepted long ago", 3),
                ("on site too long", 3),
                ("wide, lead stalled", 3),
                ("wide, all declined", 2),
            ])
        );

        let name_of = |id: Uuid| *jobs.iter().find(|(_, j)| **j == id).unwrap().0;
        let listed: BTreeMap<&str, i16> = queue(&pool, &filter)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (name_of(row.request_id), row.queue))
            .collect();
        assert_eq!(listed, judged_alone);
        for q in 1..=3 {
            let one_queue = QueueFilter {
                queue: Some(q),
                ..filter.clone()
            };
            let listed: Vec<&str> = queue(&pool, &one_queue)
                .await
                .unwrap()
                .into_iter()
                .map(|row| name_of(row.request_id))
                .collect();
            let expected: Vec<&str> = judged_alone
                .iter()
                .filter(|(_, queue)| **queue == q)
                .map(|(name, _)| *name)
                .collect();
            let mut sorted = listed.clone();
            sorted.sort();
            assert_eq!(sorted, expected, "queue {q}");
        }

        let mut counted = BTreeMap::<(i16, String), i64>::new();
        for (name, queue) in &judged_alone {
            let region = if ["declined", "accepted long ago", "wide, lead stalled"].contains(name) {
                "Abai Region"
            } else {
                "Almaty Region"
            };
            *counted.entry((*queue, region.to_string())).or_default() += 1;
        }
        let mut depths = queue_depths(&pool, &filter).await.unwrap();
        depths.sort();
        let counted: Vec<_> = counted.into_iter().map(|((q, r), n)| (q, r, n)).collect();
        assert_eq!(depths, counted);
    }

    /// The statuses the lists write out to use the partial indexes are the lifecycle's: the
    /// active ones, and those a job can be overdue in.
    #[test]
    fn the_statuses_written_in_the_queries_are_the_lifecycles() {
        let active = AssignmentStatus::codes(AssignmentStatus::is_active);
        assert_eq!(active, [1, 2, 6, 7]);
        assert_eq!(AssignmentStatus::Accepted.code(), 2);
        assert_eq!(AssignmentStatus::OnSite.code(), 7);
        let sql = queued!(waiting);
        assert_eq!(sql.matches("a.status IN (1, 2, 6, 7)").count(), 2);
        assert_eq!(sql.matches("WHERE status IN (2, 7)").count(), 1);
    }
}
