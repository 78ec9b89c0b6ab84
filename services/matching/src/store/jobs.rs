//! Triaged requests as the matcher keeps them, and the requests intake closed.

use std::collections::HashSet;

use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;

/// A triaged request as the matcher keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub cargo_tonnes: f64,
    pub volunteer_note: String,
    pub people_count: i32,
    pub quantity_value: f64,
    pub quantity_unit: String,
}

pub async fn upsert_job(tx: &mut PgConnection, j: &JobRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (request_id, reference_code, category, priority, required_skills, lat, \
           lon, settlement, district, region, cargo_tonnes, volunteer_note, people_count, \
           quantity_value, quantity_unit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (request_id) DO UPDATE SET category = EXCLUDED.category, \
           priority = EXCLUDED.priority, required_skills = EXCLUDED.required_skills, \
           cargo_tonnes = EXCLUDED.cargo_tonnes, volunteer_note = EXCLUDED.volunteer_note, \
           people_count = EXCLUDED.people_count, quantity_value = EXCLUDED.quantity_value, \
           quantity_unit = EXCLUDED.quantity_unit, updated_at = now()",
    )
    .bind(j.request_id)
    .bind(&j.reference_code)
    .bind(j.category)
    .bind(j.priority)
    .bind(&j.required_skills)
    .bind(j.lat)
    .bind(j.lon)
    .bind(&j.settlement)
    .bind(&j.district)
    .bind(&j.region)
    .bind(j.cargo_tonnes)
    .bind(&j.volunteer_note)
    .bind(j.people_count)
    .bind(j.quantity_value)
    .bind(&j.quantity_unit)
    .execute(tx)
    .await?;
    Ok(())
}

/// [`upsert_job`] for several requests, in one statement; each request at most once in
/// `rows`.
pub async fn upsert_jobs(tx: &mut PgConnection, rows: &[JobRow]) -> Result<()> {
    match rows {
        [] => return Ok(()),
        [one] => return upsert_job(tx, one).await,
        _ => {}
    }
    let text = |f: fn(&JobRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(
        "INSERT INTO jobs (request_id, reference_code, category, priority, required_skills, lat, \
           lon, settlement, district, region, cargo_tonnes, volunteer_note, people_count, \
           quantity_value, quantity_unit) \
         SELECT u.request_id, u.reference_code, u.category, u.priority, u.skills::int2[], u.lat, \
           u.lon, u.settlement, u.district, u.region, u.cargo, u.note, u.people, u.quantity, \
           u.unit \
         FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::int2[], $5::text[], \
           $6::float8[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::float8[], \
           $12::text[], $13::int4[], $14::float8[], $15::text[]) WITH ORDINALITY AS u(request_id, \
           reference_code, category, priority, skills, lat, lon, settlement, district, region, \
           cargo, note, people, quantity, unit, n) \
         ORDER BY u.n \
         ON CONFLICT (request_id) DO UPDATE SET category = EXCLUDED.category, \
           priority = EXCLUDED.priority, required_skills = EXCLUDED.required_skills, \
           cargo_tonnes = EXCLUDED.cargo_tonnes, volunteer_note = EXCLUDED.volunteer_note, \
           people_count = EXCLUDED.people_count, quantity_value = EXCLUDED.quantity_value, \
           quantity_unit = EXCLUDED.quantity_unit, updated_at = now()",
    )
    .bind(rows.iter().map(|j| j.request_id).collect::<Vec<_>>())
    .bind(text(|j| &j.reference_code))
    .bind(rows.iter().map(|j| j.category).collect::<Vec<_>>())
    .bind(rows.iter().map(|j| j.priority).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|j| komek_runtime::db::array_literal(&j.required_skills))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|j| j.lat).collect::<Vec<_>>())
    .bind(rows.iter().map(|j| j.lon).collect::<Vec<_>>())
    .bind(text(|j| &j.settlement))
    .bind(text(|j| &j.district))
    .bind(text(|j| &j.region))
    .bind(rows.iter().map(|j| j.cargo_tonnes).collect::<Vec<_>>())
    .bind(text(|j| &j.volunteer_note))
    .bind(rows.iter().map(|j| j.people_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|j| j.quantity_value).collect::<Vec<_>>())
    .bind(text(|j| &j.quantity_unit))
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn jobs(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<JobRow>> {
    sqlx::query_as(
        "SELECT request_id, reference_code, category, priority, required_skills, lat, \
           lon, settlement, district, region, cargo_tonnes, volunteer_note, people_count, \
           quantity_value, quantity_unit FROM jobs WHERE request_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// The job needs no more attention (done, or its request closed): queues stop looking at it.
pub async fn finish_job(tx: &mut PgConnection, request_id: Uuid) -> Result<()> {
    sqlx::query("UPDATE jobs SET open = false WHERE request_id = $1")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Remembers a closed request; idempotent. Whether it was not closed before.
pub async fn close_request(tx: &mut PgConnection, request_id: Uuid, status: i16) -> Result<bool> {
    let closed = sqlx::query(
        "INSERT INTO closed_requests (request_id, status) VALUES ($1, $2) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(status)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    finish_job(tx, request_id).await?;
    Ok(closed)
}

pub async fn is_closed(tx: &mut PgConnection, request_id: Uuid) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM closed_requests WHERE request_id = $1)")
        .bind(request_id)
        .fetch_one(tx)
        .await
        .map_err(Into::into)
}

/// Keeps the job of `request_id` until `until`, when it is judged again.
pub async fn defer_job(
    tx: &mut PgConnection,
    request_id: Uuid,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    sqlx::query("UPDATE jobs SET deferred_until = $2 WHERE request_id = $1")
        .bind(request_id)
        .bind(until)
        .execute(tx)
        .await?;
    Ok(())
}

/// The open job whose wait for office hours has ended longest ago, taken off the wait and
/// locked; replicas skip one another's.
pub async fn next_released(tx: &mut PgConnection) -> Result<Option<JobRow>> {
    let row: Option<JobRow> = sqlx::query_as(
        "SELECT * FROM jobs WHERE open AND deferred_until <= now() \
         ORDER BY deferred_until LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(job) = &row {
        sqlx::query("UPDATE jobs SET deferred_until = NULL WHERE request_id = $1")
            .bind(job.request_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(row)
}

/// The key of the advisory lock a transaction storing jobs shares (see [`erase_notes`]).
const PLACING_KEY: i64 = 0x6b6f_6d65_6b2d_706c; // "komek-pl"

/// Which of `requests` were erased before their job was stored, forgetting that they were:
/// their volunteer notes, read before the erasure, must not be stored. First it takes the
/// lock an erasure waits for (see [`erase_notes`]); a transaction that stores jobs calls this
/// before it.
pub async fn erased_before_placing(
    tx: &mut PgConnection,
    requests: &[Uuid],
) -> Result<HashSet<Uuid>> {
    if requests.is_empty() {
        return Ok(HashSet::new());
    }
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(PLACING_KEY)
        .execute(&mut *tx)
        .await?;
    let erased: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM erased_unplaced WHERE request_id = ANY($1) RETURNING request_id",
    )
    .bind(requests)
    .fetch_all(tx)
    .await?;
    Ok(erased.into_iter().collect())
}

/// Blanks the words kept of an erased request: the volunteer note of its job and of every
/// offer, and each group's report (its note and proof link). Returns how many offers there were.
///
/// First it waits for every transaction storing jobs (see [`erased_before_placing`]): one may
/// be storing this request's job with a note read before the erasure, which this update would
/// not see until it commits. When there is no job yet, the request is remembered as erased.
pub async fn erase_notes(tx: &mut PgConnection, request_id: Uuid) -> Result<u64> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PLACING_KEY)
        .execute(&mut *tx)
        .await?;
    // No longer pending either: a note read before the erasure is not filled in late.
    let job = sqlx::query(
        "UPDATE jobs SET volunteer_note = '', note_pending = false WHERE request_id = $1",
    )
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    if job.rows_affected() == 0 {
        sqlx::query("INSERT INTO erased_unplaced (request_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query(
        "UPDATE assignments SET volunteer_note = '', note = '', proof_uri = '' \
         WHERE request_id = $1",
    )
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// Marks a job whose volunteer note intake could not give when it was placed.
pub async fn mark_note_pending(tx: &mut PgConnection, request_id: Uuid) -> Result<()> {
    sqlx::query("UPDATE jobs SET note_pending = true WHERE request_id = $1")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Jobs still waiting for their volunteer note, at most `limit`.
pub async fn notes_pending(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT request_id FROM jobs WHERE note_pending LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await?,
    )
}

/// Writes the volunteer note intake gave late into the job and the offers made without it.
pub async fn fill_note(pool: &sqlx::PgPool, request_id: Uuid, note: &str) -> Result<()> {
    // Only while the job still waits for it: an erasure since the note was read took the job
    // off the waiting list, and the offers get the note only with the job.
    sqlx::query(
        "WITH job AS ( \
           UPDATE jobs SET volunteer_note = $2, note_pending = false \
           WHERE request_id = $1 AND note_pending RETURNING request_id) \
         UPDATE assignments SET volunteer_note = $2 \
         WHERE request_id IN (SELECT request_id FROM job) AND volunteer_note = ''",
    )
    .bind(request_id)
    .bind(note)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use komek_testkit::TestDb;

    use super::*;

    fn job(n: i16) -> JobRow {
        JobRow {
            request_id: Uuid::now_v7(),
            reference_code: format!("KMK-{n}"),
            category: 3 + n,
            priority: 1 + n % 3,
            required_skills: (0..n).map(|s| s + 2).collect(),
            lat: (n % 2 == 0).then_some(43.30348),
            lon: (n % 2 == 0).then_some(77.24085),
            settlement: "Talgar".into(),
            district: "Talgar District".into(),
            region: "Almaty Region".into(),
            cargo_tonnes: 1.5 * f64::from(n),
            volunteer_note: format!("Көмір керек, \"{n}\", {{үй}}"),
            people_count: i32::from(n),
            quantity_value: 0.25 * f64::from(n),
            quantity_unit: "т".into(),
        }
    }

    /// A database of its own with matching's tables.
    async fn migrated() -> (TestDb, sqlx::PgPool) {
        let db = TestDb::create().await;
        let pool = komek_runtime::db::connect_and_migrate(
            db.url(),
            super::super::SCHEMA,
            4,
            &super::super::MIGRATOR,
        )
        .await
        .unwrap();
        (db, pool)
    }

    /// Autovacuum's analyses of `assignments` and `jobs`, once a minute under a surge, gather
    /// statistics for the columns queries choose rows by, and none for the notes, reasons and
    /// figures, which were much of their cost.
    #[tokio::test]
    async fn an_analyse_gathers_no_statistics_for_what_no_query_chooses_by() {
        let (_db, pool) = migrated().await;
        let targets = [
            (
                "assignments",
                komek_testkit::statistics_targets(&pool, "assignments").await,
            ),
            (
                "jobs",
                komek_testkit::statistics_targets(&pool, "jobs").await,
            ),
        ];
        let target = |table: &str, column: &str| {
            targets
                .iter()
                .find(|(t, _)| *t == table)
                .and_then(|(_, columns)| columns.get(column).copied())
                .unwrap_or_else(|| panic!("{table}.{column}: {targets:?}"))
        };
        for (table, chosen_by) in [
            ("assignments", "request_id"),
            ("assignments", "group_id"),
            ("assignments", "status"),
            ("assignments", "expire_at"),
            ("jobs", "request_id"),
            ("jobs", "open"),
            ("jobs", "region"),
            ("jobs", "deferred_until"),
        ] {
            assert_ne!(target(table, chosen_by), 0, "{table}.{chosen_by}");
        }
        for (table, unused) in [
            ("assignments", "note"),
            ("assignments", "reason"),
            ("assignments", "volunteer_note"),
            ("assignments", "traceparent"),
            ("jobs", "volunteer_note"),
            ("jobs", "required_skills"),
        ] {
            assert_eq!(target(table, unused), 0, "{table}.{unused}");
        }
    }

    /// Jobs made together are the jobs made one by one, and a job made again takes its new
    /// verdict, column for column.
    #[tokio::test]
    async fn jobs_made_together_are_stored_as_one_by_one() {
        let (_db, pool) = migrated().await;
        let mut conn = pool.acquire().await.unwrap();
        let mut rows: Vec<JobRow> = (0..4).map(job).collect();
        upsert_job(&mut conn, &rows[0]).await.unwrap();
        // The first again with a new verdict, and three new ones.
        rows[0].category = 9;
        rows[0].required_skills = vec![7, 8];
        rows[0].volunteer_note = "Жаңа".into();
        upsert_jobs(&mut conn, &rows).await.unwrap();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.request_id).collect();
        let mut back = jobs(&mut conn, &ids).await.unwrap();
        back.sort_by_key(|r| r.request_id);
        rows.sort_by_key(|r| r.request_id);
        assert_eq!(format!("{back:?}"), format!("{rows:?}"));
    }

    async fn note_of(pool: &sqlx::PgPool, id: Uuid) -> String {
        sqlx::query_scalar("SELECT volunteer_note FROM jobs WHERE request_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// An erasure that comes while a job is being stored with the request's note waits for
    /// it and blanks it; one that comes before the job is stored is found by the transaction
    /// that stores it, once.
    #[tokio::test]
    async fn an_erasure_racing_the_placement_leaves_no_note() {
        let (_db, pool) = migrated().await;
        let erase = |id: Uuid| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                erase_notes(&mut tx, id).await.unwrap();
                tx.commit().await.unwrap();
            })
        };

        // Erased while its job is being stored.
        let first = job(1);
        let mut placing = pool.begin().await.unwrap();
        let erased = erased_before_placing(&mut placing, &[first.request_id])
            .await
            .unwrap();
        assert!(erased.is_empty());
        upsert_job(&mut placing, &first).await.unwrap();
        let erasing = erase(first.request_id);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !erasing.is_finished(),
            "the erasure waits for the job being stored"
        );
        placing.commit().await.unwrap();
        erasing.await.unwrap();
        assert_eq!(note_of(&pool, first.request_id).await, "");

        // Erased before its job is stored: found once, by the transaction that stores it.
        let second = job(2);
        erase(second.request_id).await.unwrap();
        let mut placing = pool.begin().await.unwrap();
        let ids = [second.request_id, first.request_id];
        let erased = erased_before_placing(&mut placing, &ids).await.unwrap();
        assert_eq!(erased, HashSet::from([second.request_id]));
        placing.commit().await.unwrap();
        let mut again = pool.begin().await.unwrap();
        assert!(
            erased_before_placing(&mut again, &ids)
                .await
                .unwrap()
                .is_empty(),
            "forgotten once its job was stored"
        );
    }

    /// A note read for a job waiting for it is filled in, unless the request was erased since:
    /// then the job keeps no note.
    #[tokio::test]
    async fn a_note_read_before_an_erasure_is_not_filled_in_late() {
        let (_db, pool) = migrated().await;
        let mut conn = pool.acquire().await.unwrap();
        let (mut waiting, mut erased) = (job(1), job(2));
        waiting.volunteer_note.clear();
        erased.volunteer_note.clear();
        for j in [&waiting, &erased] {
            upsert_job(&mut conn, j).await.unwrap();
            mark_note_pending(&mut conn, j.request_id).await.unwrap();
        }
        let mut tx = pool.begin().await.unwrap();
        erase_notes(&mut tx, erased.request_id).await.unwrap();
        tx.commit().await.unwrap();
        for j in [&waiting, &erased] {
            fill_note(&pool, j.request_id, "Кілт көршіде")
                .await
                .unwrap();
        }
        assert_eq!(note_of(&pool, waiting.request_id).await, "Кілт көршіде");
        assert_eq!(note_of(&pool, erased.request_id).await, "");
        assert!(notes_pending(&pool, 10).await.unwrap().is_empty());
    }
}
