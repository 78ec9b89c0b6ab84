//! A request's status and what intake learns from triage and matching. The consumer reads the
//! requests a batch of events touches, applies the events to them in memory (`model`), and
//! writes each changed one back once, with the `request.status_changed` events, in the
//! batch's transaction.

use chrono::{DateTime, Utc};
use komek_core::RequestStatus;
use komek_runtime::db;
use komek_runtime::events::enqueue_many;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;
use crate::events;
use crate::model::{RequestRow, request_columns};

/// The requests `$1` names, their progress locked, in the order of their ids. The two rows of
/// a request share its id and creation time (`USING` leaves one column of each, so the
/// columns are named as in the view `requests`).
macro_rules! locked_requests {
    () => {
        "request_progress p JOIN request_bodies b USING (id, created_at) \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE OF p"
    };
}

/// Locks and reads requests inside a consumer's transaction, in the order of their ids (every
/// transaction that locks several takes them in that order, so none waits on another in a
/// circle). Requests this database never had are missing.
///
/// What is locked is the request's progress, the row its changes write (`save`): its body is
/// written once and only erasure and a change of key touch it again, so a lock on it would
/// only write its page (a lock is recorded in the row) and make vacuum visit it again.
pub async fn lock_many(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<RequestRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM ",
        locked_requests!(),
    ))
    .bind(ids)
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// Locks and reads one request.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<RequestRow>> {
    Ok(lock_many(tx, &[id]).await?.pop())
}

/// The transaction's time, which `now()` gives every statement of it.
pub async fn now(tx: &mut PgConnection) -> Result<DateTime<Utc>> {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(tx)
        .await
        .map_err(Into::into)
}

/// A row locked by [`lock_many_at`], with the transaction's time.
#[derive(sqlx::FromRow)]
struct LockedAt {
    locked_at: DateTime<Utc>,
    #[sqlx(flatten)]
    row: RequestRow,
}

/// [`lock_many`] and [`now`] in one round trip (the time is asked for apart only when none of
/// the requests is found).
pub async fn lock_many_at(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<(Vec<RequestRow>, DateTime<Utc>)> {
    let locked: Vec<LockedAt> = sqlx::query_as(concat!(
        "SELECT now() AS locked_at, ",
        request_columns!(),
        " FROM ",
        locked_requests!(),
    ))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let at = match locked.first() {
        Some(first) => first.locked_at,
        None => now(tx).await?,
    };
    Ok((locked.into_iter().map(|l| l.row).collect(), at))
}

/// Writes back what the consumer changes in a request it holds locked.
pub async fn save(tx: &mut PgConnection, r: &RequestRow) -> Result<()> {
    sqlx::query(
        "UPDATE request_progress SET category = $2, priority = $3, required_skills = $4, \
           possible_duplicate_of = $5, triaged_at = $6, escalated_at = $7, closed_at = $8, \
           status = $9, assigned_at = $10, resolved_at = $11, assignment_id = $12, \
           assignment_group = $13, assignment_group_name = $14, assignment_status = $15, \
           assignment_distance_m = $16, assignment_expire_at = $17, \
           assignment_updated_at = $18, organizations = $19, assignment_organization = $20, \
           assignment_organization_name = $21, outcome = $22, merged_into = $23, \
           deferred_until = $24, updated_at = $25, version = $26 \
         WHERE id = $1",
    )
    .bind(r.id)
    .bind(r.category)
    .bind(r.priority)
    .bind(&r.required_skills)
    .bind(r.possible_duplicate_of)
    .bind(r.triaged_at)
    .bind(r.escalated_at)
    .bind(r.closed_at)
    .bind(r.status)
    .bind(r.assigned_at)
    .bind(r.resolved_at)
    .bind(r.assignment_id)
    .bind(&r.assignment_group)
    .bind(&r.assignment_group_name)
    .bind(r.assignment_status)
    .bind(r.assignment_distance_m)
    .bind(r.assignment_expire_at)
    .bind(r.assignment_updated_at)
    .bind(&r.organizations)
    .bind(r.assignment_organization)
    .bind(&r.assignment_organization_name)
    .bind(r.outcome)
    .bind(r.merged_into)
    .bind(r.deferred_until)
    .bind(r.updated_at)
    .bind(r.version)
    .execute(tx)
    .await?;
    Ok(())
}

/// [`save`] for several requests, in one statement (a consumer's batch).
pub async fn save_many(tx: &mut PgConnection, rows: &[&RequestRow]) -> Result<()> {
    match rows {
        [] => return Ok(()),
        [one] => return save(tx, one).await,
        _ => {}
    }
    let col = |f: fn(&RequestRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<String>>();
    sqlx::query(
        "UPDATE request_progress AS r SET category = u.category, priority = u.priority, \
           required_skills = u.skills::int2[], possible_duplicate_of = u.duplicate_of, \
           triaged_at = u.triaged_at, escalated_at = u.escalated_at, closed_at = u.closed_at, \
           status = u.status, assigned_at = u.assigned_at, resolved_at = u.resolved_at, \
           assignment_id = u.assignment_id, assignment_group = u.group_name, \
           assignment_group_name = u.group_display, assignment_status = u.assignment_status, \
           assignment_distance_m = u.distance_m, assignment_expire_at = u.expire_at, \
           assignment_updated_at = u.assignment_updated_at, \
           organizations = u.organizations::uuid[], assignment_organization = u.organization, \
           assignment_organization_name = u.organization_name, outcome = u.outcome, \
           merged_into = u.merged_into, deferred_until = u.deferred_until, \
           updated_at = u.updated_at, version = u.version \
         FROM unnest($1::uuid[], $2::int2[], $3::int2[], $4::text[], $5::uuid[], \
           $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::int2[], \
           $10::timestamptz[], $11::timestamptz[], $12::uuid[], $13::text[], $14::text[], \
           $15::int2[], $16::float8[], $17::timestamptz[], $18::timestamptz[], $19::text[], \
           $20::uuid[], $21::text[], $22::int2[], $23::uuid[], $24::timestamptz[], \
           $25::timestamptz[], $26::int8[]) AS u(id, category, priority, skills, duplicate_of, \
           triaged_at, escalated_at, closed_at, status, assigned_at, resolved_at, \
           assignment_id, group_name, group_display, assignment_status, distance_m, expire_at, \
           assignment_updated_at, organizations, organization, organization_name, outcome, \
           merged_into, deferred_until, updated_at, version) \
         WHERE r.id = u.id",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.category).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.priority).collect::<Vec<_>>())
    .bind(col(|r| db::array_literal(&r.required_skills)))
    .bind(
        rows.iter()
            .map(|r| r.possible_duplicate_of)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.triaged_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.escalated_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.closed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.assigned_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.resolved_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.assignment_id).collect::<Vec<_>>())
    .bind(col(|r| r.assignment_group.clone()))
    .bind(col(|r| r.assignment_group_name.clone()))
    .bind(rows.iter().map(|r| r.assignment_status).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.assignment_distance_m)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.assignment_expire_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.assignment_updated_at)
            .collect::<Vec<_>>(),
    )
    .bind(col(|r| db::array_literal(&r.organizations)))
    .bind(
        rows.iter()
            .map(|r| r.assignment_organization)
            .collect::<Vec<_>>(),
    )
    .bind(col(|r| r.assignment_organization_name.clone()))
    .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.merged_into).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.deferred_until).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves a locked request to `next` on behalf of `actor` (empty for changes that follow other
/// events), writes it and enqueues its events (`events::status_events`).
pub async fn set_status_by(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
    actor: &str,
) -> Result<RequestRow> {
    let mut updated = row.clone();
    updated.move_to(next, now(&mut *tx).await?);
    save(&mut *tx, &updated).await?;
    let mut event = events::status_changed(&updated, row.status, reason);
    event.actor = actor.to_string();
    enqueue_many(tx, events::status_events(&event)).await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use komek_testkit::TestDb;

    use super::*;

    /// A migrated database with `n` new requests, their ids in order.
    async fn new_requests(n: usize) -> (TestDb, sqlx::PgPool, Vec<Uuid>) {
        let (db, pool) = super::super::migrated().await;
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        for (i, id) in ids.iter().enumerate() {
            sqlx::query(
                "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, \
                   channel, caller_anonymous, description, status) \
                 VALUES ($1, $2, '', $3, 1, true, 'Көмір керек', 1)",
            )
            .bind(id)
            .bind(Uuid::new_v4())
            .bind(format!("KMK-{i}"))
            .execute(&pool)
            .await
            .unwrap();
        }
        (db, pool, ids)
    }

    /// A change of status writes the request's progress alone, on its page with no index
    /// touched (a HOT update) while the request stays among the statuses that may wait,
    /// whoever writes it and however many at once; the body is not written. Through the view,
    /// as an operator's statement or the release before writes, each row is written only
    /// when a column of its own changed.
    #[tokio::test]
    async fn a_status_change_writes_the_progress_alone_and_stays_on_its_page() {
        let (_db, pool, ids) = new_requests(3).await;
        let statuses = |pool: sqlx::PgPool| async move {
            sqlx::query_as::<_, (Uuid, i16, i16)>(
                "SELECT id, status, stage FROM requests ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        };
        let written = "SELECT pg_stat_get_xact_tuples_updated($1::regclass), \
                         pg_stat_get_xact_tuples_hot_updated($1::regclass)";

        let mut tx = pool.begin().await.unwrap();
        let mut rows = lock_many(&mut tx, &ids).await.unwrap();
        // Two change status together (the consumer's batch), one alone (set_status_by's way).
        for r in &mut rows {
            r.status = RequestStatus::Triaged.code() as i16;
            r.category = 3;
        }
        save_many(&mut tx, &[&rows[0], &rows[1]]).await.unwrap();
        rows[2].status = RequestStatus::Escalated.code() as i16;
        save(&mut tx, &rows[2]).await.unwrap();
        let (_, progress_hot): (i64, i64) = sqlx::query_as(written)
            .bind("request_progress")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let (bodies, _): (i64, i64) = sqlx::query_as(written)
            .bind("request_bodies")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // New to triaged or escalated: statuses that may wait, one stage.
        assert_eq!(
            progress_hot, 3,
            "every change within the stage was a HOT update"
        );
        assert_eq!(bodies, 0, "no body was written");
        assert_eq!(
            statuses(pool.clone())
                .await
                .iter()
                .map(|(_, s, _)| *s)
                .collect::<Vec<_>>(),
            vec![
                RequestStatus::Triaged.code() as i16,
                RequestStatus::Triaged.code() as i16,
                RequestStatus::Escalated.code() as i16,
            ]
        );

        // A statement through the view from a session whose search_path leaves the schema out
        // (an operator's psql) finds its tables, and writes the progress alone.
        let cancelled = RequestStatus::Cancelled.code() as i16;
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL search_path TO public")
            .execute(&mut *tx)
            .await
            .unwrap();
        let schema = super::super::SCHEMA;
        let returned: i16 = sqlx::query_scalar(&format!(
            "UPDATE {schema}.requests SET status = $1 WHERE id = $2 RETURNING stage"
        ))
        .bind(cancelled)
        .bind(ids[0])
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(returned, cancelled, "the stage returned follows the status");
        let (bodies, _): (i64, i64) = sqlx::query_as(written)
            .bind(format!("{schema}.request_bodies"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(
            bodies, 0,
            "a change of status through the view left the body alone"
        );
        // And a change of the body, the body alone. (The counts are the session's not yet
        // reported, which may include the transaction before: compared, not taken as they are.)
        let progress_count = async |tx: &mut sqlx::PgConnection| -> i64 {
            let (n, _): (i64, i64) = sqlx::query_as(written)
                .bind(format!("{schema}.request_progress"))
                .fetch_one(tx)
                .await
                .unwrap();
            n
        };
        let before = progress_count(&mut tx).await;
        sqlx::query(&format!(
            "UPDATE {schema}.requests SET address = 'Abay St 1' WHERE id = $1"
        ))
        .bind(ids[1])
        .execute(&mut *tx)
        .await
        .unwrap();
        assert_eq!(
            progress_count(&mut tx).await,
            before,
            "a change of the body through the view left the progress alone"
        );
        tx.commit().await.unwrap();
        let now = statuses(pool.clone()).await;
        assert_eq!((now[0].1, now[0].2), (cancelled, cancelled));
        let address: String = sqlx::query_scalar("SELECT address FROM requests WHERE id = $1")
            .bind(ids[1])
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(address, "Abay St 1");
        for (id, status, stage) in now {
            let waits = crate::store::waiting::waiting_statuses().contains(&status);
            assert_eq!(stage, if waits { 0 } else { status }, "request {id}");
        }
    }

    /// An insert through the view, as the release before makes it, writes both rows with
    /// the tables' defaults; a request already there is left as it was and nothing is
    /// returned, as `ON CONFLICT DO NOTHING` does on a table, so a retry finds the first.
    #[tokio::test]
    async fn an_insert_through_the_view_writes_both_rows_once() {
        let (_db, pool) = super::super::migrated().await;
        let id = Uuid::now_v7();
        let insert = |code: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_as::<_, (i64, i16, i16)>(
                    "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, \
                       channel, caller_anonymous, description, status) \
                     VALUES ($1, $2, '', $3, 1, true, 'Отын керек', 2) \
                     ON CONFLICT DO NOTHING RETURNING version, status, stage",
                )
                .bind(id)
                .bind(Uuid::new_v4())
                .bind(code)
                .fetch_optional(&pool)
                .await
                .unwrap()
            }
        };
        assert_eq!(insert("KMK-1").await, Some((1, 2, 0)));
        assert_eq!(insert("KMK-2").await, None, "the same id again");
        let count = |table: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(count("request_bodies").await, 1);
        assert_eq!(count("request_progress").await, 1);
        let code: String = sqlx::query_scalar("SELECT reference_code FROM requests")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(code, "KMK-1", "the first stays");
    }

    /// A stage is the status itself, or 0 for every status a request may wait in (the waiting
    /// sweep's, which reads stage 0): the SQL function, the sweep and the stages the
    /// statements write out (`waiting::stage`) agree on all statuses.
    #[tokio::test]
    async fn the_statuses_that_may_wait_are_one_stage_and_every_other_its_own() {
        let (_db, pool) = super::super::migrated().await;
        for status in RequestStatus::ALL {
            let code = status.code() as i16;
            let stage: i16 = sqlx::query_scalar("SELECT request_stage($1)")
                .bind(code)
                .fetch_one(&pool)
                .await
                .unwrap();
            let waits = crate::store::waiting::waiting_statuses().contains(&code);
            assert_eq!(stage, if waits { 0 } else { code }, "{status:?}");
            assert_eq!(crate::store::waiting::stage(code), stage, "{status:?}");
        }
    }

    /// Requests written one by one and written together end up the same, column for column.
    #[tokio::test]
    async fn a_batch_writes_each_request_as_one_by_one_would() {
        let (_db, pool, ids) = new_requests(4).await;
        let mut tx = pool.begin().await.unwrap();
        let mut rows = lock_many(&mut tx, &ids).await.unwrap();
        let at = |s: i64| Some(Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap());
        for (i, r) in rows.iter_mut().enumerate() {
            let n = i as i16;
            r.category = 3 + n;
            r.priority = 2;
            r.required_skills = (0..=n).map(|s| s + 1).collect();
            r.possible_duplicate_of = (i % 2 == 0).then(Uuid::new_v4);
            r.triaged_at = at(1);
            r.escalated_at = if i == 1 { at(2) } else { None };
            r.closed_at = None;
            r.status = 4;
            r.assigned_at = at(3);
            r.resolved_at = None;
            r.assignment_id = Some(Uuid::new_v4());
            r.assignment_group = format!("groups/{i}");
            r.assignment_group_name = "Жастар \"Көмек\", {1}".into();
            r.assignment_status = 2;
            r.assignment_distance_m = 1234.5 + f64::from(n);
            r.assignment_expire_at = at(4);
            r.assignment_updated_at = at(5);
            r.organizations = (0..i).map(|_| Uuid::new_v4()).collect();
            r.assignment_organization = r.organizations.first().copied();
            r.assignment_organization_name = "Red Crescent \\ Қызыл Жарты Ай".into();
            r.outcome = 1;
            r.merged_into = None;
            r.deferred_until = at(6);
            r.updated_at = at(7).unwrap();
            r.version = 5 + i64::from(n);
        }
        let (one, together) = rows.split_at(1);
        save_many(&mut tx, &[&one[0]]).await.unwrap();
        save_many(&mut tx, &together.iter().collect::<Vec<_>>())
            .await
            .unwrap();
        let back = lock_many(&mut tx, &ids).await.unwrap();
        for (wrote, read) in rows.iter().zip(&back) {
            assert_eq!(format!("{wrote:?}"), format!("{read:?}"));
        }
    }

    /// An analyse (autovacuum's, under a surge about once a minute) gathers statistics only
    /// for the columns queries choose rows by: none for the payload, the sealed contact and
    /// the notes, which were most of its cost.
    #[tokio::test]
    async fn an_analyse_gathers_no_statistics_for_what_no_query_chooses_by() {
        let (_db, pool, _) = new_requests(3).await;
        sqlx::query("ANALYZE request_bodies, request_progress")
            .execute(&pool)
            .await
            .unwrap();
        let gathered: Vec<String> = sqlx::query_scalar(
            "SELECT attname::text FROM pg_stats WHERE schemaname = current_schema() \
               AND tablename IN ('request_bodies', 'request_progress')",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for chosen_by in ["id", "status", "region", "created_at", "description"] {
            assert!(
                gathered.iter().any(|c| c == chosen_by),
                "{chosen_by}: {gathered:?}"
            );
        }
        for unused in [
            "create_payload",
            "volunteer_note",
            "address",
            "caller_name_enc",
            "caller_phone_enc",
            "caller_blind_index",
            "cancel_reason",
            "erase_reason",
        ] {
            assert!(
                !gathered.iter().any(|c| c == unused),
                "{unused}: {gathered:?}"
            );
        }
    }
}
