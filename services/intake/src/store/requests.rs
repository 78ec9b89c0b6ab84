//! Requests as operators and partners create, read, list and cancel them.

use komek_core::reference::ReferenceCode;
use komek_core::{AssignmentStatus, RequestStatus};
use komek_runtime::db;
use komek_runtime::events::{enqueue, subject};
use sqlx::{FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Error, Result, set_status_by};
use crate::events;
use crate::model::{CallerContact, ListFilter, NewRequest, NotesRow, RequestRow, request_columns};
use crate::validate::same_fingerprint;

/// Creates the request and its `request.created` event in one transaction. Returns the row and
/// whether it is new; a retry with the same key and payload returns the original row.
pub async fn create(pool: &PgPool, new: &NewRequest, payload: &[u8]) -> Result<(RequestRow, bool)> {
    // A fresh reference code collides with an existing one about once in 10^12 draws at a
    // million requests; a few retries make it certain.
    for _ in 0..5 {
        let code = ReferenceCode::from_bits(random_bits());
        let mut tx = pool.begin().await?;
        let inserted: Option<RequestRow> = sqlx::query_as(concat!(
            "WITH bodies AS ( \
               INSERT INTO request_bodies (id, idempotency_key, create_payload, reference_code, \
                 channel, caller_anonymous, caller_language, lat, lon, address, settlement, \
                 district, region, description, operator_category, operator_priority, \
                 people_count, quantity_value, quantity_unit, wanted_start, wanted_end, \
                 caller_name_enc, caller_phone_enc, caller_key_id, caller_blind_index, \
                 volunteer_note) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $23, $24, $25, $26, $27) \
               ON CONFLICT DO NOTHING RETURNING *), \
             progress AS ( \
               INSERT INTO request_progress (id, created_at, updated_at, status) \
               SELECT id, created_at, created_at, $22 FROM bodies RETURNING *) \
             SELECT ",
            request_columns!(),
            " FROM bodies JOIN progress USING (id, created_at)"
        ))
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
        .bind(&new.volunteer_note)
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
        match db::created_with_key(pool, "request_bodies", new.idempotency_key).await? {
            Some((id, stored)) if same_fingerprint(&stored, payload) => {
                return Ok((get(pool, id).await?, false));
            }
            Some(_) => return Err(Error::IdempotencyClash),
            None => continue,
        }
    }
    Err(Error::Db(sqlx::Error::Protocol(
        "could not draw a unique reference code".into(),
    )))
}

pub(super) fn random_bits() -> u64 {
    let bytes = Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap())
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<RequestRow> {
    sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

/// The requests with these ids that exist, in no particular order. On a connection `warm`
/// keeps, and on the plan made once for any count of ids (see `db::Warm`): the
/// services ask for one request at a time as often as for many.
pub async fn get_many(warm: &db::Warm, ids: &[Uuid]) -> Result<Vec<RequestRow>> {
    warm.statement(async |conn| {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(conn)
        .await?)
    })
    .await
}

/// The words of several requests (missing ones are left out): [`get_many`] for a read that
/// asks only for them, without the rest of each wide row.
pub async fn notes_many(warm: &db::Warm, ids: &[Uuid]) -> Result<Vec<NotesRow>> {
    warm.statement(async |conn| {
        Ok(sqlx::query_as(
            "SELECT id, region, organizations, description, volunteer_note, caller_blind_index \
             FROM requests WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(conn)
        .await?)
    })
    .await
}

/// The request created under this idempotency key, if any.
pub async fn find_by_idempotency_key(pool: &PgPool, key: Uuid) -> Result<Option<RequestRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

pub async fn find_by_reference(pool: &PgPool, code: &ReferenceCode) -> Result<RequestRow> {
    sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE reference_code = $1"
    ))
    .bind(code.as_str())
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

/// Newest first, keyset-paginated on (created_at, id). Asked for statuses, the progress rows
/// lead (`request_progress`, indexed by stage and creation where the bodies are not; a stage
/// is a status, or all those that may wait: migrations 0024 and 0025).
pub async fn list(pool: &PgPool, f: &ListFilter) -> Result<Vec<RequestRow>> {
    let (after_t, after_id) = f.after.unzip();
    let text = (!f.text.is_empty()).then(|| format!("%{}%", escape_like(&f.text)));
    let late = super::waiting::alerted_condition(16, "r.");
    let (new, triaged, escalated, dispatching, ended) = super::waiting::alerted_args();
    // The same keys either way (a progress row has its request's id and creation time),
    // taken from the table the scan follows. The stages asked for are written out, as the
    // waiting sweep's are: a plan worked out from the statuses bound could not know them, and
    // read the whole table.
    let (from, statuses, t, id) = if f.statuses.is_empty() {
        (
            "requests r",
            "cardinality($1::smallint[]) = 0".to_string(),
            "r.created_at",
            "r.id",
        )
    } else {
        let mut stages: Vec<i16> = f
            .statuses
            .iter()
            .map(|s| super::waiting::stage(*s))
            .collect();
        stages.sort_unstable();
        stages.dedup();
        let stages: Vec<String> = stages.iter().map(i16::to_string).collect();
        (
            "request_progress s JOIN requests r ON r.id = s.id",
            format!("s.stage IN ({}) AND s.status = ANY($1)", stages.join(", ")),
            "s.created_at",
            "s.id",
        )
    };
    let sql = format!(
        "SELECT r.* FROM {from} WHERE {statuses} \
           AND (cardinality($2::smallint[]) = 0 OR r.category = ANY($2)) \
           AND (cardinality($3::smallint[]) = 0 OR r.priority = ANY($3)) \
           AND ($4 = '' OR r.region = $4) AND ($5 = '' OR r.district = $5) \
           AND ($6::timestamptz IS NULL OR {t} >= $6) \
           AND ($7::timestamptz IS NULL OR {t} < $7) \
           AND ($8::text IS NULL OR r.description ILIKE $8 OR r.settlement ILIKE $8) \
           AND ($9::timestamptz IS NULL OR ({t}, {id}) < ($9, $10)) \
           AND (NOT $12 OR $13 = ANY (r.organizations) OR r.region = ANY ($14)) \
           AND (NOT $15 OR {late}) \
         ORDER BY {t} DESC, {id} DESC LIMIT $11"
    );
    let rows = sqlx::query_as(&sql)
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
        .bind(f.scope.sql_args().2)
        .bind(f.waiting_too_long)
        .bind(new)
        .bind(triaged)
        .bind(escalated)
        .bind(dispatching)
        .bind(ended)
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
) -> Result<RequestRow> {
    let mut tx = pool.begin().await?;
    let row: RequestRow = sqlx::query_as(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE id = $1 FOR UPDATE"
    ))
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
    let current = row.status();
    if !current.can_become(RequestStatus::Cancelled) {
        return Err(Error::NotCancellable(current));
    }
    let updated = set_status_by(&mut tx, &row, RequestStatus::Cancelled, reason, actor).await?;
    let updated: RequestRow = sqlx::query_as(concat!(
        "UPDATE requests SET cancel_reason = $2, cancelled_by = $3, closed_at = now() \
         WHERE id = $1 RETURNING ",
        request_columns!()
    ))
    .bind(updated.id)
    .bind(reason)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// The request's caller contact, when `assignment` is its accepted assignment (one that holds
/// the caller's contact), with the reveal recorded for `volunteer` in the same statement;
/// Some(contact, false) when the request exists but that is not so (yet), recording nothing.
/// Only the contact's columns are read: this runs for every accept.
pub async fn reveal(
    conn: &mut PgConnection,
    request: Uuid,
    assignment: Uuid,
    volunteer: &str,
    principal: &str,
) -> Result<(CallerContact, bool)> {
    let holding = AssignmentStatus::codes(AssignmentStatus::holds_contact);
    let row = sqlx::query(
        "WITH r AS (SELECT id, caller_anonymous, caller_language, address, caller_name_enc, \
           caller_phone_enc, caller_key_id, assignment_id, assignment_status \
           FROM requests WHERE id = $1), \
         ok AS (SELECT id FROM r WHERE assignment_id = $2 AND assignment_status = ANY($5)), \
         recorded AS (INSERT INTO caller_reveals (request_id, assignment_id, volunteer, principal) \
           SELECT id, $2, $3, $4 FROM ok) \
         SELECT r.id, r.caller_anonymous, r.caller_language, r.address, r.caller_name_enc, \
           r.caller_phone_enc, r.caller_key_id, EXISTS (SELECT 1 FROM ok) AS accepted FROM r",
    )
    .bind(request)
    .bind(assignment)
    .bind(volunteer)
    .bind(principal)
    .bind(&holding)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)?;
    Ok((CallerContact::from_row(&row)?, row.try_get("accepted")?))
}
