//! Requests that wait on someone, and the alerts of those that wait too long.

use chrono::{DateTime, Utc};
use komek_core::RequestStatus;
use komek_core::lifecycle::AssignmentStatus;
use komek_runtime::events::{enqueue, subject};
use sqlx::PgConnection;

use super::Result;
use crate::events;
use crate::model::{RequestRow, request_columns};

/// Statuses a request can wait in (`komek_core::waiting::waiting` decides which waits).
pub(crate) fn waiting_statuses() -> Vec<i16> {
    [
        RequestStatus::New,
        RequestStatus::Triaged,
        RequestStatus::Escalated,
        RequestStatus::Dispatching,
    ]
    .iter()
    .map(|s| s.code() as i16)
    .collect()
}

/// A status's stage, as the SQL function `request_stage` gives it (migration 0024): the
/// statuses a request may wait in share stage 0, every other status is its own. Statements
/// that read by stage write the stages out (see [`waiting`]), so that their plan knows them.
pub(crate) fn stage(status: i16) -> i16 {
    if waiting_statuses().contains(&status) {
        0
    } else {
        status
    }
}

/// Takes the sweep for this transaction, so one replica sweeps at a time; false when another
/// holds it.
pub async fn take_sweep(tx: &mut PgConnection) -> Result<bool> {
    // Any constant that no other advisory lock of this database uses.
    const SWEEP: i64 = 0x6b6f_6d65_6b57_4149;
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SWEEP)
        .fetch_one(tx)
        .await?)
}

/// Every request in a status it may wait in, created at `created_by` or before (found by the
/// progress rows, which are indexed by stage and creation where the bodies are not: the
/// statuses that may wait are one stage, migrations 0024 and 0025).
///
/// A wait begins when the request is created or later, so one created less than the shortest
/// limit ago cannot be due: under a surge the thousands of requests of the last seconds, on
/// their way through triage and matching, are not read whole every sweep.
///
/// Their stage, 0, is written into the statement rather than worked out from the statuses
/// in it: the plan the server keeps for a prepared statement did not know which stages that
/// gave, and read the whole table (0.1–0.2 s every sweep at 1,300 calls a second); it now
/// goes by the index. A test holds every status that may wait to stage 0 ([`stage`]).
pub async fn waiting(tx: &mut PgConnection, created_by: DateTime<Utc>) -> Result<Vec<RequestRow>> {
    Ok(sqlx::query_as(
        "SELECT r.* FROM request_progress s JOIN requests r ON r.id = s.id \
         WHERE s.stage = 0 AND s.status = ANY($1) AND s.created_at <= $2 \
         ORDER BY s.created_at",
    )
    .bind(waiting_statuses())
    .bind(created_by)
    .fetch_all(tx)
    .await?)
}

/// Records another alert of `row`'s wait that began at `since` and enqueues its event, unless
/// the request changed since it was read. Returns whether it was alerted.
pub async fn alert(
    tx: &mut PgConnection,
    row: &RequestRow,
    since: DateTime<Utc>,
    alerts: i32,
    limit_secs: i32,
    now: DateTime<Utc>,
) -> Result<bool> {
    // The progress row alone is written; its version is checked as the row stands when
    // written, so a change committed since the sweep read it wins.
    let updated: Option<RequestRow> = sqlx::query_as(concat!(
        "WITH p AS ( \
           UPDATE request_progress SET waiting_since = $3, waiting_alerts = $4, \
             waiting_limit_secs = $5, waiting_alerted_at = $6 \
           WHERE id = $1 AND version = $2 RETURNING *) \
         SELECT ",
        request_columns!(),
        " FROM p JOIN request_bodies USING (id, created_at)"
    ))
    .bind(row.id)
    .bind(row.version)
    .bind(since)
    .bind(alerts)
    .bind(limit_secs)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(updated) = updated else {
        return Ok(false);
    };
    enqueue(
        tx,
        subject::REQUEST_WAITING,
        &events::request_waiting(&updated, now),
    )
    .await?;
    Ok(true)
}

/// The SQL condition "the request's current wait has been alerted", with its parameters
/// starting at `$n` and the request's columns named with `prefix` (a table alias and its
/// dot, or nothing): the statuses new, triaged, escalated, dispatching, then the assignment
/// statuses that ended a job unserved. Mirrors `komek_core::waiting::waiting`.
pub fn alerted_condition(n: usize, prefix: &str) -> String {
    format!(
        "({p}waiting_since IS NOT NULL AND {p}waiting_alerts > 0 AND {p}waiting_since = CASE \
           WHEN {p}status = ${new} THEN {p}created_at \
           WHEN {p}status = ${triaged} THEN \
             GREATEST({p}triaged_at, {p}escalated_at, {p}deferred_until, {p}created_at) \
           WHEN {p}status = ${escalated} THEN COALESCE({p}escalated_at, {p}created_at) \
           WHEN {p}status = ${dispatching} AND {p}assignment_status = ANY(${ended}) \
             THEN COALESCE({p}assignment_updated_at, {p}created_at) END)",
        p = prefix,
        new = n,
        triaged = n + 1,
        escalated = n + 2,
        dispatching = n + 3,
        ended = n + 4,
    )
}

/// The values of [`alerted_condition`]'s parameters, in order.
pub fn alerted_args() -> (i16, i16, i16, i16, Vec<i16>) {
    let ended = AssignmentStatus::codes(|s| !s.is_active());
    (
        RequestStatus::New.code() as i16,
        RequestStatus::Triaged.code() as i16,
        RequestStatus::Escalated.code() as i16,
        RequestStatus::Dispatching.code() as i16,
        ended,
    )
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    /// The sweep reads the requests that may wait and are old enough to be due, not the
    /// young ones nor those that wait on nobody.
    #[tokio::test]
    async fn the_sweep_reads_only_waiting_requests_created_by_its_bound() {
        let (_db, pool) = super::super::migrated().await;
        let now = Utc::now();
        let minutes = |m: i64| now - chrono::Duration::minutes(m);
        let requests = [
            ("old new", RequestStatus::New, minutes(5)),
            ("old escalated", RequestStatus::Escalated, minutes(3)),
            ("young new", RequestStatus::New, now),
            (
                "young triaged",
                RequestStatus::Triaged,
                now - chrono::Duration::seconds(30),
            ),
            ("old assigned", RequestStatus::Assigned, minutes(10)),
        ];
        for (i, (name, status, created_at)) in requests.iter().enumerate() {
            sqlx::query(
                "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, \
                   channel, caller_anonymous, description, status, created_at) \
                 VALUES ($1, $2, '', $3, 1, true, $4, $5, $6)",
            )
            .bind(Uuid::now_v7())
            .bind(Uuid::new_v4())
            .bind(format!("KMK-{i}"))
            .bind(name)
            .bind(status.code() as i16)
            .bind(created_at)
            .execute(&pool)
            .await
            .unwrap();
        }
        let mut tx = pool.begin().await.unwrap();
        let read: Vec<String> = waiting(&mut tx, minutes(1))
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.description)
            .collect();
        assert_eq!(read, ["old new", "old escalated"]);
    }
}
