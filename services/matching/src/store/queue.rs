//! Dispatchers' queues, computed from the open jobs.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
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

/// Jobs by queue, most urgent first, then longest waiting. A job is escalated when its last
/// decision escalated and nothing is active; unassigned when nothing is active otherwise;
/// overdue when accepted and not en route in time, or on site too long. A wide search is judged
/// by its lead when the lead is on it, else by any active assignment, else by the latest.
pub async fn queue(pool: &PgPool, f: &QueueFilter) -> Result<Vec<QueueRow>> {
    let (after_p, after_t, after_id) = match f.after {
        Some((p, t, id)) => (Some(p), Some(t), Some(id)),
        None => (None, None, None),
    };
    sqlx::query_as(
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
           AND ($7::smallint IS NULL OR priority < $7 OR (priority = $7 AND (since, request_id) > ($8, $11))) \
         ORDER BY priority DESC, since, request_id LIMIT $12",
    )
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
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
