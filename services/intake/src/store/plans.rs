//! Recurring plans, their stops and what each occurrence did.

use chrono::{DateTime, Utc};
use komek_runtime::db::{self, Replay};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Error, Result};
use crate::model::{NewPlan, Plan, PlanRow, PlanRunRow, PlanStopRow};

async fn stops(conn: &mut PgConnection, plan: Uuid) -> Result<Vec<PlanStopRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM plan_stops WHERE plan_id = $1 ORDER BY position")
            .bind(plan)
            .fetch_all(conn)
            .await?,
    )
}

/// Stores a plan with its stops; a retry of the same CreatePlan returns the first.
pub async fn create_plan(pool: &PgPool, p: &NewPlan, payload: &[u8]) -> Result<Plan> {
    let mut tx = pool.begin().await?;
    let row: Option<PlanRow> = sqlx::query_as(
        "INSERT INTO plans (id, idempotency_key, create_payload, display_name, organization_id, \
           region, template, next_run_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING id, display_name, organization_id, region, template, next_run_at, paused_at, \
           pause_reason, created_at, updated_at, version",
    )
    .bind(p.id)
    .bind(p.idempotency_key)
    .bind(payload)
    .bind(&p.display_name)
    .bind(p.organization)
    .bind(&p.region)
    .bind(&p.template)
    .bind(p.next_run_at)
    .bind(&p.created_by)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return match db::replay(pool, "plans", p.idempotency_key, payload).await? {
            Replay::Same(id) => get_plan(pool, id).await,
            _ => Err(Error::IdempotencyClash),
        };
    };
    for (position, stop) in p.stops.iter().enumerate() {
        let caller = stop.caller.as_ref();
        sqlx::query(
            "INSERT INTO plan_stops (id, plan_id, position, stop, caller_name_enc, \
               caller_phone_enc, caller_key_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(stop.id)
        .bind(row.id)
        .bind(position as i32)
        .bind(&stop.stop)
        .bind(caller.and_then(|c| c.name.clone()))
        .bind(caller.and_then(|c| c.phone.clone()))
        .bind(caller.map(|c| c.key_id.clone()))
        .execute(&mut *tx)
        .await?;
    }
    let stops = stops(&mut tx, row.id).await?;
    tx.commit().await?;
    Ok(Plan { row, stops })
}

const PLAN_COLUMNS: &str = "id, display_name, organization_id, region, template, next_run_at, \
    paused_at, pause_reason, created_at, updated_at, version";

pub async fn get_plan(pool: &PgPool, id: Uuid) -> Result<Plan> {
    let mut conn = pool.acquire().await?;
    let row: PlanRow = sqlx::query_as(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    let stops = stops(&mut conn, id).await?;
    Ok(Plan { row, stops })
}

/// Newest first, after the keyset position; `scope` as for requests: (limited, organisation,
/// regions).
pub async fn list_plans(
    pool: &PgPool,
    region: &str,
    scope: (bool, Option<Uuid>, Vec<String>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Plan>> {
    let (after_t, after_id) = after.unzip();
    let mut conn = pool.acquire().await?;
    let rows: Vec<PlanRow> = sqlx::query_as(&format!(
        "SELECT {PLAN_COLUMNS} FROM plans WHERE ($1 = '' OR region = $1) \
           AND (NOT $2 OR organization_id = $3 OR region = ANY($4)) \
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6)) \
         ORDER BY created_at DESC, id DESC LIMIT $7"
    ))
    .bind(region)
    .bind(scope.0)
    .bind(scope.1)
    .bind(&scope.2)
    .bind(after_t)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let stops = stops(&mut conn, row.id).await?;
        out.push(Plan { row, stops });
    }
    Ok(out)
}

/// Pauses (with a reason) or resumes a plan. A resumed plan's next occurrence is `next_run_at`
/// (computed by the caller from now: what was missed is not made up).
pub async fn set_paused(
    pool: &PgPool,
    id: Uuid,
    pause: Option<&str>,
    next_run_at: Option<DateTime<Utc>>,
) -> Result<Plan> {
    let updated = sqlx::query(
        "UPDATE plans SET paused_at = CASE WHEN $2 THEN COALESCE(paused_at, now()) END, \
           pause_reason = $3, next_run_at = CASE WHEN $2 THEN next_run_at ELSE $4 END, \
           updated_at = now(), version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(pause.is_some())
    .bind(pause.unwrap_or_default())
    .bind(next_run_at)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    get_plan(pool, id).await
}

/// The plan whose occurrence is due longest ago, locked, skipping those another replica holds.
pub async fn next_due(tx: &mut PgConnection) -> Result<Option<Plan>> {
    let row: Option<PlanRow> = sqlx::query_as(&format!(
        "SELECT {PLAN_COLUMNS} FROM plans WHERE paused_at IS NULL AND next_run_at <= now() \
         ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stops = stops(tx, row.id).await?;
    Ok(Some(Plan { row, stops }))
}

/// Records what an occurrence did for a stop (once: a repeated run keeps the first record).
pub async fn record_run(
    tx: &mut PgConnection,
    stop: &PlanStopRow,
    occurrence: DateTime<Utc>,
    request: Option<Uuid>,
    skipped_reason: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plan_runs (stop_id, plan_id, occurrence_at, request_id, skipped_reason) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stop_id, occurrence_at) DO NOTHING",
    )
    .bind(stop.id)
    .bind(stop.plan_id)
    .bind(occurrence)
    .bind(request)
    .bind(skipped_reason)
    .execute(&mut *tx)
    .await?;
    if let Some(request) = request {
        sqlx::query("UPDATE plan_stops SET last_request_id = $2 WHERE id = $1")
            .bind(stop.id)
            .bind(request)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Moves a plan to its next occurrence (`None`: it has ended).
pub async fn advance(tx: &mut PgConnection, id: Uuid, next: Option<DateTime<Utc>>) -> Result<()> {
    sqlx::query(
        "UPDATE plans SET next_run_at = $2, updated_at = now(), version = version + 1 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(next)
    .execute(tx)
    .await?;
    Ok(())
}

/// A plan's runs, newest occurrence first, after the keyset position.
pub async fn list_runs(
    pool: &PgPool,
    plan: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<PlanRunRow>> {
    let (after_t, after_id) = after.unzip();
    Ok(sqlx::query_as(
        "SELECT r.stop_id, r.plan_id, r.occurrence_at, r.request_id, q.reference_code, \
           r.skipped_reason FROM plan_runs r LEFT JOIN requests q ON q.id = r.request_id \
         WHERE r.plan_id = $1 \
           AND ($2::timestamptz IS NULL OR (r.occurrence_at, r.stop_id) < ($2, $3)) \
         ORDER BY r.occurrence_at DESC, r.stop_id DESC LIMIT $4",
    )
    .bind(plan)
    .bind(after_t)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
