//! All SQL of intake.

use komek_core::RequestStatus;
use komek_core::reference::ReferenceCode;
use komek_runtime::db::{self, Replay};
use komek_runtime::events::{enqueue, subject};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub mod stats;

use crate::events;
use crate::model::{ListFilter, NewRequest, RequestRow};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request_id was already used for a different request")]
    IdempotencyClash,
    #[error("not found")]
    NotFound,
    #[error("request is {0:?} and cannot be cancelled")]
    NotCancellable(RequestStatus),
    #[error("etag does not match; the request changed meanwhile")]
    EtagMismatch,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates the request and its `request.created` event in one transaction. Returns the row and
/// whether it is new; a retry with the same key and payload returns the original row.
pub async fn create(
    pool: &PgPool,
    new: &NewRequest,
    payload: &[u8],
) -> Result<(RequestRow, bool), Error> {
    // A fresh reference code collides with an existing one about once in 10^12 draws at a
    // million requests; a few retries make it certain.
    for _ in 0..5 {
        let code = ReferenceCode::from_bits(random_bits());
        let mut tx = pool.begin().await?;
        let inserted: Option<RequestRow> = sqlx::query_as(
            "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, channel, \
               caller_anonymous, caller_language, lat, lon, address, settlement, district, region, \
               description, operator_category, operator_priority, people_count, quantity_value, \
               quantity_unit, wanted_start, wanted_end, status, caller_name_enc, caller_phone_enc, \
               caller_key_id, caller_blind_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
               $18, $19, $20, $21, $22, $23, $24, $25, $26) \
             ON CONFLICT DO NOTHING RETURNING *",
        )
        .bind(new.id)
        .bind(new.idempotency_key)
        .bind(payload)
        .bind(code.as_str())
        .bind(new.channel.code() as i16)
        .bind(new.anonymous)
        .bind(new.language.map_or(0, |l| l.code() as i16))
        .bind(new.point.map(|p| p.lat()))
        .bind(new.point.map(|p| p.lon()))
        .bind(&new.address)
        .bind(&new.settlement)
        .bind(&new.district)
        .bind(&new.region)
        .bind(&new.description)
        .bind(new.operator_category.map_or(0, |c| c.code() as i16))
        .bind(new.operator_priority.map_or(0, |p| p.code() as i16))
        .bind(new.people_count)
        .bind(new.quantity.as_ref().map(|q| q.0))
        .bind(new.quantity.as_ref().map_or("", |q| q.1.as_str()))
        .bind(new.wanted_start)
        .bind(new.wanted_end)
        .bind(RequestStatus::New.code() as i16)
        .bind(new.caller.as_ref().and_then(|c| c.name.clone()))
        .bind(new.caller.as_ref().and_then(|c| c.phone.clone()))
        .bind(new.caller.as_ref().map(|c| c.key_id.clone()))
        .bind(new.caller.as_ref().and_then(|c| c.blind_index.clone()))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = inserted {
            enqueue(
                &mut tx,
                subject::REQUEST_CREATED,
                &events::request_created(&row),
            )
            .await?;
            tx.commit().await?;
            return Ok((row, true));
        }
        tx.rollback().await?;
        // Nothing inserted: either this key was used before, or the code collided.
        match db::replay(pool, "requests", new.idempotency_key, payload).await? {
            Replay::Same(id) => return Ok((get(pool, id).await?, false)),
            Replay::Clash => return Err(Error::IdempotencyClash),
            Replay::Fresh => continue,
        }
    }
    Err(Error::Db(sqlx::Error::Protocol(
        "could not draw a unique reference code".into(),
    )))
}

fn random_bits() -> u64 {
    let bytes = Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap())
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<RequestRow, Error> {
    sqlx::query_as("SELECT * FROM requests WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn find_by_reference(pool: &PgPool, code: &ReferenceCode) -> Result<RequestRow, Error> {
    sqlx::query_as("SELECT * FROM requests WHERE reference_code = $1")
        .bind(code.as_str())
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

/// Newest first, keyset-paginated on (created_at, id).
pub async fn list(pool: &PgPool, f: &ListFilter) -> Result<Vec<RequestRow>, Error> {
    let (after_t, after_id) = f.after.unzip();
    let text = (!f.text.is_empty()).then(|| format!("%{}%", escape_like(&f.text)));
    let rows = sqlx::query_as(
        "SELECT * FROM requests WHERE \
           (cardinality($1::smallint[]) = 0 OR status = ANY($1)) \
           AND (cardinality($2::smallint[]) = 0 OR category = ANY($2)) \
           AND (cardinality($3::smallint[]) = 0 OR priority = ANY($3)) \
           AND ($4 = '' OR region = $4) AND ($5 = '' OR district = $5) \
           AND ($6::timestamptz IS NULL OR created_at >= $6) \
           AND ($7::timestamptz IS NULL OR created_at < $7) \
           AND ($8::text IS NULL OR description ILIKE $8 OR settlement ILIKE $8) \
           AND ($9::timestamptz IS NULL OR (created_at, id) < ($9, $10)) \
           AND ($12::uuid IS NULL OR $12 = ANY (organizations) OR region = ANY ($13)) \
         ORDER BY created_at DESC, id DESC LIMIT $11",
    )
    .bind(&f.statuses)
    .bind(&f.categories)
    .bind(&f.priorities)
    .bind(&f.region)
    .bind(&f.district)
    .bind(f.created_after)
    .bind(f.created_before)
    .bind(text)
    .bind(after_t)
    .bind(after_id)
    .bind(f.limit)
    .bind(f.scope.sql_args().0)
    .bind(f.scope.sql_args().1)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Cancels the request unless it is finished; publishes the status change.
pub async fn cancel(
    pool: &PgPool,
    id: Uuid,
    reason: &str,
    etag: Option<i64>,
    actor: &str,
) -> Result<RequestRow, Error> {
    let mut tx = pool.begin().await?;
    let row: RequestRow = sqlx::query_as("SELECT * FROM requests WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
    if row.status == RequestStatus::Cancelled.code() as i16 {
        // Cancelling twice is a retry, not an error.
        return Ok(row);
    }
    if etag.is_some_and(|v| v != row.version) {
        return Err(Error::EtagMismatch);
    }
    let current = status_of(&row);
    if !current.can_become(RequestStatus::Cancelled) {
        return Err(Error::NotCancellable(current));
    }
    let updated = set_status_by(&mut tx, &row, RequestStatus::Cancelled, reason, actor).await?;
    let updated: RequestRow = sqlx::query_as(
        "UPDATE requests SET cancel_reason = $2, cancelled_by = $3 WHERE id = $1 RETURNING *",
    )
    .bind(updated.id)
    .bind(reason)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated)
}

pub fn status_of(row: &RequestRow) -> RequestStatus {
    RequestStatus::from_code(row.status.into()).unwrap_or(RequestStatus::New)
}

/// Locks and reads a request inside a consumer's transaction.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM requests WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
}

/// Moves the request to `next` and enqueues `request.status_changed`. The caller checked that
/// the move is allowed.
pub async fn set_status(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
) -> Result<RequestRow, sqlx::Error> {
    set_status_by(tx, row, next, reason, "").await
}

/// [`set_status`] on behalf of `actor`, which the event names. The first acceptance and the
/// resolution are timestamped for partners' statistics.
pub async fn set_status_by(
    tx: &mut PgConnection,
    row: &RequestRow,
    next: RequestStatus,
    reason: &str,
    actor: &str,
) -> Result<RequestRow, sqlx::Error> {
    let updated: RequestRow = sqlx::query_as(
        "UPDATE requests SET status = $2, updated_at = now(), version = version + 1, \
           assigned_at = CASE WHEN $2 = $3 THEN coalesce(assigned_at, now()) ELSE assigned_at END, \
           resolved_at = CASE WHEN $2 = $4 THEN now() ELSE resolved_at END \
         WHERE id = $1 RETURNING *",
    )
    .bind(row.id)
    .bind(next.code() as i16)
    .bind(RequestStatus::Assigned.code() as i16)
    .bind(RequestStatus::Resolved.code() as i16)
    .fetch_one(&mut *tx)
    .await?;
    let mut event = events::status_changed(&updated, row.status, reason);
    event.actor = actor.to_string();
    enqueue(tx, subject::REQUEST_STATUS_CHANGED, &event).await?;
    Ok(updated)
}

/// Records that the caller's contact was shown for `assignment`.
pub async fn record_reveal(
    pool: &PgPool,
    request: Uuid,
    assignment: Uuid,
    volunteer: &str,
    principal: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO caller_reveals (request_id, assignment_id, volunteer, principal) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(request)
    .bind(assignment)
    .bind(volunteer)
    .bind(principal)
    .execute(pool)
    .await?;
    Ok(())
}

/// Triage's verdict.
pub async fn set_triage(
    tx: &mut PgConnection,
    id: Uuid,
    category: i16,
    priority: i16,
    skills: &[i16],
    possible_duplicate_of: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE requests SET category = $2, priority = $3, required_skills = $4, \
           possible_duplicate_of = $5, updated_at = now(), version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(category)
    .bind(priority)
    .bind(skills)
    .bind(possible_duplicate_of)
    .execute(tx)
    .await?;
    Ok(())
}

/// The latest offer or assignment of the request, as the matcher reported it.
pub struct AssignmentUpdate<'a> {
    pub assignment_id: Uuid,
    pub group: &'a str,
    pub group_name: Option<&'a str>,
    pub status: i16,
    pub distance_m: Option<f64>,
    pub expire_at: Option<chrono::DateTime<chrono::Utc>>,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The group's organisation, on offers: it joins the request's partner scope.
    pub organization: Option<Uuid>,
}

pub async fn set_assignment(
    tx: &mut PgConnection,
    id: Uuid,
    a: &AssignmentUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE requests SET assignment_id = $2, assignment_group = $3, \
           assignment_group_name = COALESCE($4, assignment_group_name), assignment_status = $5, \
           assignment_distance_m = COALESCE($6, assignment_distance_m), \
           assignment_expire_at = CASE WHEN $5 = 1 THEN $7 ELSE NULL END, \
           assignment_updated_at = $8, updated_at = now(), version = version + 1, \
           organizations = CASE WHEN $9::uuid IS NULL OR $9 = ANY (organizations) \
             THEN organizations ELSE array_append(organizations, $9) END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(a.assignment_id)
    .bind(a.group)
    .bind(a.group_name)
    .bind(a.status)
    .bind(a.distance_m)
    .bind(a.expire_at)
    .bind(a.at)
    .bind(a.organization)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn set_outcome(tx: &mut PgConnection, id: Uuid, outcome: i16) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records the request a duplicate was merged into.
pub async fn set_merged_into(tx: &mut PgConnection, id: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE requests SET merged_into = $2, possible_duplicate_of = $2 WHERE id = $1")
        .bind(id)
        .bind(into)
        .execute(tx)
        .await?;
    Ok(())
}
