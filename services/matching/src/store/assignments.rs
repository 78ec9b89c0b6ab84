//! Assignments: offers and the jobs they become, with the idempotency keys of their answers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

use super::Result;
use std::sync::LazyLock;

use komek_core::AssignmentStatus;

fn active_codes() -> String {
    let codes: Vec<String> = AssignmentStatus::codes(AssignmentStatus::is_active)
        .iter()
        .map(i16::to_string)
        .collect();
    codes.join(", ")
}

/// The predicate of the partial unique index `assignments_one_active_per_request`: a request
/// offered to one group at a time has at most one active assignment. An insert names it so
/// PostgreSQL infers the index.
pub static ONE_ACTIVE_PER_REQUEST: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}) AND NOT wide", active_codes()));

/// The predicate of `assignments_one_active_per_group_of_a_wide_search`: a wide search has at
/// most one active assignment per group.
pub static ONE_ACTIVE_PER_GROUP: LazyLock<String> =
    LazyLock::new(|| format!("status IN ({}) AND wide", active_codes()));

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub request_id: Uuid,
    pub group_id: Uuid,
    pub status: i16,
    pub attempt: i32,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub lat: f64,
    pub lon: f64,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub distance_m: f64,
    pub offered_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reason: String,
    pub outcome: i16,
    pub version: i64,
    pub cargo_tonnes: f64,
    /// What the offer tells the group: copied from the job when offered.
    pub volunteer_note: String,
    pub people_count: i32,
    pub quantity_value: f64,
    pub quantity_unit: String,
    /// Where the group last reported itself on the way, and when.
    pub position_lat: Option<f64>,
    pub position_lon: Option<f64>,
    pub position_at: Option<DateTime<Utc>>,
    /// One of several offers of a wide search, in this round (from 1), and whether this group
    /// leads it (see `komek_core::wide`).
    pub wide: bool,
    pub search_round: i32,
    pub lead: bool,
}

impl AssignmentRow {
    /// The group's part in a wide search: lead, support (accepted after the lead), or none
    /// (not a wide search, or not accepted).
    pub fn search_role(&self) -> komek_proto::types::v1::SearchRole {
        use komek_proto::types::v1::SearchRole;
        let took = AssignmentStatus::from_stored(self.status).is_some_and(|s| s.took_the_job());
        match (self.wide, self.lead, took) {
            (true, true, _) => SearchRole::Lead,
            (true, false, true) => SearchRole::Support,
            _ => SearchRole::Unspecified,
        }
    }
}

/// What the matcher knows of a request's history: how many offers it had, which groups
/// already said no, whether one is active now, and for a wide search its last round, whether a
/// lead holds it (accepted, on its way, on site or done) and who supports it now (accepted or
/// on the way, in the order they were offered: the nearest of the earliest round first).
#[derive(Debug, Clone)]
pub struct History {
    pub attempts: i32,
    pub excluded_groups: Vec<Uuid>,
    pub active: bool,
    pub round: i32,
    pub led: bool,
    pub supporters: Vec<Uuid>,
}

pub async fn history(tx: &mut PgConnection, request_id: Uuid) -> Result<History> {
    Ok(closed_and_history(tx, request_id).await?.1)
}

/// A row of [`closed_and_history`]: the closure, then an offer's id, group, status, round
/// and lead (all empty when there is no offer).
type StateRow = (
    bool,
    Option<Uuid>,
    Option<Uuid>,
    Option<i16>,
    Option<i32>,
    Option<bool>,
);

/// Whether the request is closed (cancelled or merged in intake), and its history of offers,
/// in one statement: what placing a request reads first.
pub async fn closed_and_history(
    tx: &mut PgConnection,
    request_id: Uuid,
) -> Result<(bool, History)> {
    // One row at least (the closure), with the offers' columns empty when there are none.
    let rows: Vec<StateRow> =
        sqlx::query_as(
            "SELECT c.closed, a.id, a.group_id, a.status, a.search_round, a.lead \
             FROM (SELECT EXISTS (SELECT 1 FROM closed_requests WHERE request_id = $1) AS closed) c \
             LEFT JOIN assignments a ON a.request_id = $1 \
             ORDER BY a.id",
        )
        .bind(request_id)
        .fetch_all(tx)
        .await?;
    Ok(state_of(rows))
}

/// A [`StateRow`] led by the request it is about.
type RequestStateRow = (
    Uuid,
    bool,
    Option<Uuid>,
    Option<Uuid>,
    Option<i16>,
    Option<i32>,
    Option<bool>,
);

/// [`closed_and_histories`]' statement. The closure is looked up by its key for each request
/// (a lateral subquery with a limit is run for each row, never turned into a join): a
/// correlated `EXISTS` over a batch may be planned as a hash of the whole table, which the
/// planner's guess of ten rows for an array makes look cheaper while the table is small, and
/// which costs a scan of the table on every batch until the next analyse finds it grown.
const CLOSED_AND_HISTORIES: &str = "SELECT r.id, coalesce(c.closed, false), \
       a.id, a.group_id, a.status, a.search_round, a.lead \
     FROM unnest($1::uuid[]) AS r(id) \
     LEFT JOIN LATERAL (SELECT true AS closed FROM closed_requests \
       WHERE request_id = r.id LIMIT 1) c ON true \
     LEFT JOIN assignments a ON a.request_id = r.id \
     ORDER BY r.id, a.id";

/// [`closed_and_history`] of several requests in one statement (a batch of triaged requests
/// reads them all before placing any).
pub async fn closed_and_histories(
    tx: &mut PgConnection,
    request_ids: &[Uuid],
) -> Result<HashMap<Uuid, (bool, History)>> {
    let rows: Vec<RequestStateRow> = sqlx::query_as(CLOSED_AND_HISTORIES)
        .bind(request_ids)
        .fetch_all(tx)
        .await?;
    let mut of: HashMap<Uuid, Vec<StateRow>> = HashMap::new();
    for (request, closed, id, group, status, round, lead) in rows {
        of.entry(request)
            .or_default()
            .push((closed, id, group, status, round, lead));
    }
    Ok(of
        .into_iter()
        .map(|(request, rows)| (request, state_of(rows)))
        .collect())
}

/// The closure and history of one request from its rows (see [`StateRow`]).
fn state_of(rows: Vec<StateRow>) -> (bool, History) {
    let closed = rows.first().is_some_and(|r| r.0);
    let rows: Vec<(Uuid, Uuid, i16, i32, bool)> = rows
        .into_iter()
        .filter_map(|(_, id, group, status, round, lead)| {
            Some((id?, group?, status?, round?, lead?))
        })
        .collect();
    let is = |s: i16, holds: fn(AssignmentStatus) -> bool| {
        AssignmentStatus::from_stored(s).is_some_and(holds)
    };
    let history = History {
        attempts: rows.len() as i32,
        active: rows
            .iter()
            .any(|(_, _, s, _, _)| is(*s, AssignmentStatus::is_active)),
        // Groups whose job ended unserved are not offered the same request again by the
        // matcher; a dispatcher may still choose them.
        excluded_groups: rows
            .iter()
            .filter(|(_, _, s, _, _)| is(*s, AssignmentStatus::ended_unserved))
            .map(|(_, g, _, _, _)| *g)
            .collect(),
        round: rows.iter().map(|(_, _, _, r, _)| *r).max().unwrap_or(0),
        led: rows
            .iter()
            .any(|(_, _, s, _, lead)| *lead && is(*s, AssignmentStatus::took_the_job)),
        supporters: rows
            .iter()
            .filter(|(_, _, s, _, lead)| !*lead && is(*s, AssignmentStatus::holds_contact))
            .map(|(id, _, _, _, _)| *id)
            .collect(),
    };
    (closed, history)
}

/// Keeps the trace an offer was made in (see `trace` in the runtime).
pub async fn keep_traceparent(tx: &mut PgConnection, id: Uuid, traceparent: &str) -> Result<()> {
    sqlx::query("UPDATE assignments SET traceparent = $2 WHERE id = $1")
        .bind(id)
        .bind(traceparent)
        .execute(tx)
        .await?;
    Ok(())
}

/// The trace an offer was made in, when it was made in one.
pub async fn traceparent(tx: &mut PgConnection, id: Uuid) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT traceparent FROM assignments WHERE id = $1")
            .bind(id)
            .fetch_optional(tx)
            .await?;
    Ok(row.and_then(|r| r.0))
}

/// The columns an offer is recorded with, from `$1` (see [`bind_offer`]).
const OFFER_COLUMNS: &str = "id, request_id, group_id, status, attempt, reference_code, \
    category, priority, required_skills, lat, lon, settlement, district, region, \
    distance_m, offered_at, expire_at, cargo_tonnes, volunteer_note, people_count, \
    quantity_value, quantity_unit, wide, search_round";

/// Their values: `$1` … `$23`, the status being the offered one's code.
fn offer_values() -> String {
    format!(
        "$1, $2, $3, {offered}, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20, $21, $22, $23",
        offered = AssignmentStatus::Offered.code(),
    )
}

/// The unique index an offer must not break: one active offer per request, or per group of
/// a wide search.
fn offer_conflict(wide: bool) -> String {
    if wide {
        format!("(request_id, group_id) WHERE {}", *ONE_ACTIVE_PER_GROUP)
    } else {
        format!("(request_id) WHERE {}", *ONE_ACTIVE_PER_REQUEST)
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_offer<'q>(query: Query<'q>, a: &'q AssignmentRow) -> Query<'q> {
    query
        .bind(a.id)
        .bind(a.request_id)
        .bind(a.group_id)
        .bind(a.attempt)
        .bind(&a.reference_code)
        .bind(a.category)
        .bind(a.priority)
        .bind(&a.required_skills)
        .bind(a.lat)
        .bind(a.lon)
        .bind(&a.settlement)
        .bind(&a.district)
        .bind(&a.region)
        .bind(a.distance_m)
        .bind(a.offered_at)
        .bind(a.expire_at)
        .bind(a.cargo_tonnes)
        .bind(&a.volunteer_note)
        .bind(a.people_count)
        .bind(a.quantity_value)
        .bind(&a.quantity_unit)
        .bind(a.wide)
        .bind(a.search_round)
}

/// Records an offer; `None` when the request already has an active assignment (one of a wide
/// search's: when the group already has one for the request).
pub async fn insert_offer(
    tx: &mut PgConnection,
    a: &AssignmentRow,
) -> Result<Option<AssignmentRow>> {
    fn sql(wide: bool) -> String {
        format!(
            "INSERT INTO assignments ({OFFER_COLUMNS}) VALUES ({}) \
             ON CONFLICT {} DO NOTHING RETURNING *",
            offer_values(),
            offer_conflict(wide),
        )
    }
    static ONE: LazyLock<String> = LazyLock::new(|| sql(false));
    static WIDE: LazyLock<String> = LazyLock::new(|| sql(true));
    let row = bind_offer(sqlx::query(if a.wide { &WIDE } else { &ONE }), a)
        .fetch_optional(tx)
        .await?;
    Ok(row.map(|r| AssignmentRow::from_row(&r)).transpose()?)
}

/// What taking a place of a group and recording an offer to it in one statement came to.
#[derive(Debug)]
pub enum TakeOffer {
    /// The place is taken and the offer recorded.
    Offered(Box<AssignmentRow>),
    /// The place is taken, but the request has an active offer already (a duplicate delivery
    /// another replica placed): the place must go back.
    AlreadyOffered,
    /// Nothing done: the group is full or resting, or has no row of places yet
    /// ([`take_capacity_after_miss`] tells which and makes the row).
    NotTaken,
}

/// Takes a place of the offer's group (see [`take_capacity`]; `capacity` as the roster has it)
/// and records the offer, in one statement: placing a request is then one round trip when the
/// group has room, as it usually has.
pub async fn take_and_offer(
    tx: &mut PgConnection,
    a: &AssignmentRow,
    capacity: i32,
) -> Result<TakeOffer> {
    fn sql(wide: bool) -> String {
        format!(
            "WITH take AS ( \
               UPDATE group_load SET active = active + 1, capacity = $24 \
               WHERE group_id = $3 AND active < $24 AND (rest_until IS NULL OR rest_until <= now()) \
               RETURNING group_id), \
             offer AS ( \
               INSERT INTO assignments ({OFFER_COLUMNS}) SELECT {} FROM take \
               ON CONFLICT {} DO NOTHING RETURNING *) \
             SELECT EXISTS (SELECT 1 FROM take) AS taken, offer.* \
             FROM (SELECT 1) AS one LEFT JOIN offer ON true",
            offer_values(),
            offer_conflict(wide),
        )
    }
    static ONE: LazyLock<String> = LazyLock::new(|| sql(false));
    static WIDE: LazyLock<String> = LazyLock::new(|| sql(true));
    let row = bind_offer(sqlx::query(if a.wide { &WIDE } else { &ONE }), a)
        .bind(capacity)
        .fetch_one(tx)
        .await?;
    let taken: bool = row.try_get("taken")?;
    let offered: Option<Uuid> = row.try_get("id")?;
    Ok(match (taken, offered) {
        (true, Some(_)) => TakeOffer::Offered(Box::new(AssignmentRow::from_row(&row)?)),
        (true, None) => TakeOffer::AlreadyOffered,
        (false, _) => TakeOffer::NotTaken,
    })
}

/// [`take_and_offer`] for several offers, each to a group of its own and none of a wide
/// search, in one statement: a batch of triaged requests is placed in one round trip, where
/// one each kept the batch's transaction waiting on the network and the scheduler once a
/// request. The places are locked in the order of their groups' ids. The answers come in the
/// order of `offers` (with each group's capacity as the roster has it).
pub async fn take_and_offer_many(
    tx: &mut PgConnection,
    offers: &[(&AssignmentRow, i32)],
) -> Result<Vec<TakeOffer>> {
    if offers.is_empty() {
        return Ok(Vec::new());
    }
    debug_assert!(
        offers.iter().all(|(a, _)| !a.wide),
        "one offer at a time only"
    );
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH want AS ( \
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int4[], $5::text[], \
                 $6::int2[], $7::int2[], $8::text[], $9::float8[], $10::float8[], $11::text[], \
                 $12::text[], $13::text[], $14::float8[], $15::timestamptz[], \
                 $16::timestamptz[], $17::float8[], $18::text[], $19::int4[], $20::float8[], \
                 $21::text[], $22::int4[]) WITH ORDINALITY \
                 AS w(id, request_id, group_id, attempt, reference_code, category, priority, \
                   skills, lat, lon, settlement, district, region, distance_m, offered_at, \
                   expire_at, cargo_tonnes, volunteer_note, people_count, quantity_value, \
                   quantity_unit, capacity, ord)), \
             room AS MATERIALIZED ( \
               SELECT l.group_id FROM group_load l JOIN want w USING (group_id) \
               WHERE l.active < w.capacity AND (l.rest_until IS NULL OR l.rest_until <= now()) \
               ORDER BY l.group_id FOR UPDATE OF l), \
             take AS ( \
               UPDATE group_load l SET active = l.active + 1, capacity = w.capacity \
               FROM want w JOIN room USING (group_id) \
               WHERE l.group_id = w.group_id AND l.active < w.capacity \
                 AND (l.rest_until IS NULL OR l.rest_until <= now()) \
               RETURNING l.group_id), \
             offer AS ( \
               INSERT INTO assignments ({OFFER_COLUMNS}) \
               SELECT w.id, w.request_id, w.group_id, {offered}, w.attempt, w.reference_code, \
                 w.category, w.priority, w.skills::smallint[], w.lat, w.lon, w.settlement, \
                 w.district, w.region, w.distance_m, w.offered_at, w.expire_at, \
                 w.cargo_tonnes, w.volunteer_note, w.people_count, w.quantity_value, \
                 w.quantity_unit, false, 0 \
               FROM want w JOIN take USING (group_id) ORDER BY w.ord \
               ON CONFLICT {conflict} DO NOTHING RETURNING *) \
             SELECT take.group_id IS NOT NULL AS taken, offer.* FROM want w \
             LEFT JOIN take USING (group_id) LEFT JOIN offer ON offer.id = w.id \
             ORDER BY w.ord",
            offered = AssignmentStatus::Offered.code(),
            conflict = offer_conflict(false),
        )
    });
    fn column<T>(offers: &[(&AssignmentRow, i32)], f: impl Fn(&AssignmentRow) -> T) -> Vec<T> {
        offers.iter().map(|(a, _)| f(a)).collect()
    }
    // A list of skills per offer: `unnest` flattens an array of arrays, so each goes as the
    // text of its array.
    let skills = column(offers, |a| {
        komek_runtime::db::array_literal(&a.required_skills)
    });
    let rows = sqlx::query(&SQL)
        .bind(column(offers, |a| a.id))
        .bind(column(offers, |a| a.request_id))
        .bind(column(offers, |a| a.group_id))
        .bind(column(offers, |a| a.attempt))
        .bind(column(offers, |a| a.reference_code.clone()))
        .bind(column(offers, |a| a.category))
        .bind(column(offers, |a| a.priority))
        .bind(skills)
        .bind(column(offers, |a| a.lat))
        .bind(column(offers, |a| a.lon))
        .bind(column(offers, |a| a.settlement.clone()))
        .bind(column(offers, |a| a.district.clone()))
        .bind(column(offers, |a| a.region.clone()))
        .bind(column(offers, |a| a.distance_m))
        .bind(column(offers, |a| a.offered_at))
        .bind(column(offers, |a| a.expire_at))
        .bind(column(offers, |a| a.cargo_tonnes))
        .bind(column(offers, |a| a.volunteer_note.clone()))
        .bind(column(offers, |a| a.people_count))
        .bind(column(offers, |a| a.quantity_value))
        .bind(column(offers, |a| a.quantity_unit.clone()))
        .bind(offers.iter().map(|(_, c)| *c).collect::<Vec<i32>>())
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|row| {
            let taken: bool = row.try_get("taken")?;
            let offered: Option<Uuid> = row.try_get("id")?;
            Ok(match (taken, offered) {
                (true, Some(_)) => TakeOffer::Offered(Box::new(AssignmentRow::from_row(row)?)),
                (true, None) => TakeOffer::AlreadyOffered,
                (false, _) => TakeOffer::NotTaken,
            })
        })
        .collect()
}

/// Locks every assignment of a request, in one order, so that two groups accepting a wide
/// search at once are decided one after the other.
pub async fn lock_request(tx: &mut PgConnection, request_id: Uuid) -> Result<()> {
    sqlx::query("SELECT id FROM assignments WHERE request_id = $1 ORDER BY id FOR UPDATE")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Makes an offer being accepted the lead of its wide search: the first group to accept.
pub async fn make_lead(tx: &mut PgConnection, id: Uuid) -> Result<AssignmentRow> {
    sqlx::query_as("UPDATE assignments SET lead = true WHERE id = $1 RETURNING *")
        .bind(id)
        .fetch_one(tx)
        .await
        .map_err(Into::into)
}

/// Makes a supporter the lead of its wide search, after the lead gave up. Its change time
/// moves past the transaction's start, so intake hears it after the lead's abort written in
/// the same transaction.
pub async fn promote(tx: &mut PgConnection, id: Uuid) -> Result<AssignmentRow> {
    sqlx::query_as(
        "UPDATE assignments SET lead = true, reason = 'leads the search: the lead group gave it up', \
           updated_at = clock_timestamp(), version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// Whether another assignment of `row`'s wide search stands for the request: a lead that holds
/// it, or an offer or job still active.
pub async fn has_sibling_standing(tx: &mut PgConnection, row: &AssignmentRow) -> Result<bool> {
    let holding = AssignmentStatus::codes(AssignmentStatus::took_the_job);
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE request_id = $1 AND id <> $2 \
           AND ((lead AND status = ANY($3)) OR status = ANY($4)))",
    )
    .bind(row.request_id)
    .bind(row.id)
    .bind(holding)
    .bind(AssignmentStatus::codes(AssignmentStatus::is_active))
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// The open offers of a request, locked.
pub async fn open_offers_of(tx: &mut PgConnection, request_id: Uuid) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE request_id = $1 AND status = $2 ORDER BY id FOR UPDATE",
    )
    .bind(request_id)
    .bind(AssignmentStatus::Offered.code() as i16)
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// Open offers to any of `groups`.
pub async fn open_offers(pool: &PgPool, groups: &[Uuid]) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE group_id = ANY($1) AND status = $2 AND expire_at > now() \
         ORDER BY offered_at",
    )
    .bind(groups)
    .bind(AssignmentStatus::Offered.code() as i16)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(Into::into)
}

/// Assignments by id, in one read.
pub async fn get_many(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = ANY ($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
        .map_err(Into::into)
}

/// The active assignments of a request, locked.
pub async fn active_of(tx: &mut PgConnection, request_id: Uuid) -> Result<Vec<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE request_id = $1 AND status = ANY($2) FOR UPDATE",
    )
    .bind(request_id)
    .bind(AssignmentStatus::codes(AssignmentStatus::is_active))
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// Locks an assignment for a state change.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<AssignmentRow>> {
    sqlx::query_as("SELECT * FROM assignments WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// Locks an assignment and records an answer to it under the answer's key, in one statement:
/// the row (None when there is no such assignment) and whether the key is new (false: a
/// retry). An answer that then does not go through rolls the key back with its transaction.
pub async fn lock_and_record_action(
    tx: &mut PgConnection,
    id: Uuid,
    key: Uuid,
    action: &str,
    volunteer: &str,
) -> Result<Option<(AssignmentRow, bool)>> {
    let row = sqlx::query(
        "WITH a AS (SELECT * FROM assignments WHERE id = $1 FOR UPDATE), \
         recorded AS ( \
           INSERT INTO assignment_actions (request_key, assignment_id, action, volunteer) \
           SELECT $2, id, $3, $4 FROM a ON CONFLICT (request_key) DO NOTHING RETURNING 1) \
         SELECT a.*, EXISTS (SELECT 1 FROM recorded) AS recorded FROM a",
    )
    .bind(id)
    .bind(key)
    .bind(action)
    .bind(volunteer)
    .fetch_optional(tx)
    .await?;
    row.map(|r| Ok((AssignmentRow::from_row(&r)?, r.try_get("recorded")?)))
        .transpose()
}

/// An assignment read without a lock for an answer to be written in one statement
/// ([`step_as_read`]).
#[derive(Debug, Clone)]
pub struct AsRead {
    pub row: AssignmentRow,
    /// The row's version as read (its `xmin`: any write to the row makes a new one).
    xmin: String,
    /// Whether the answer's key was recorded already (a retry).
    pub key_used: bool,
    /// The database's clock at the read, for the step's time.
    pub now: DateTime<Utc>,
    /// The trace the offer was made in.
    pub traceparent: Option<String>,
}

/// Reads an assignment for an answer under `key`, without a lock; None when there is none.
#[cfg(test)]
pub async fn read_for_answer(
    conn: &mut PgConnection,
    id: Uuid,
    key: Uuid,
) -> Result<Option<AsRead>> {
    Ok(read_for_answers(conn, &[(id, key)]).await?.pop().flatten())
}

/// [`read_for_answers`]' statement; the key is looked up by its index for each answer, as
/// the closure in [`CLOSED_AND_HISTORIES`] (one row recorded for every answer ever given:
/// hashed whole, it cost 2 ms a batch at 3,000 rows).
const READ_FOR_ANSWERS: &str = "SELECT i.n AS answer_n, a.*, a.xmin::text AS row_xmin, now() AS read_at, \
       coalesce(k.used, false) AS key_used \
     FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS i(id, key, n) \
     JOIN assignments a ON a.id = i.id \
     LEFT JOIN LATERAL (SELECT true AS used FROM assignment_actions \
       WHERE request_key = i.key LIMIT 1) k ON true";

/// Reads assignments for answers (assignment, key) without a lock, in one statement, in
/// their order; None for an assignment that is not there.
/// The reads share one clock (the statement's): the steps written from them are as of it.
pub async fn read_for_answers(
    conn: &mut PgConnection,
    answers: &[(Uuid, Uuid)],
) -> Result<Vec<Option<AsRead>>> {
    let (ids, keys): (Vec<Uuid>, Vec<Uuid>) = answers.iter().copied().unzip();
    let rows = sqlx::query(READ_FOR_ANSWERS)
        .bind(&ids)
        .bind(&keys)
        .fetch_all(conn)
        .await?;
    let mut out: Vec<Option<AsRead>> = answers.iter().map(|_| None).collect();
    for r in rows {
        let n: i64 = r.try_get("answer_n")?;
        let read = AsRead {
            row: AssignmentRow::from_row(&r)?,
            xmin: r.try_get("row_xmin")?,
            key_used: r.try_get("key_used")?,
            now: r.try_get("read_at")?,
            traceparent: r.try_get("traceparent")?,
        };
        // Ordinality counts from 1.
        if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some(read);
        }
    }
    Ok(out)
}

/// An answer's step of an assignment as [`read_for_answers`] read it, to be written by
/// [`steps_as_read`].
pub struct StepAsRead {
    pub read: AsRead,
    /// The answer's idempotency key, what it does (`accept`) and who gave it.
    pub key: Uuid,
    pub action: &'static str,
    pub volunteer: String,
    pub status: AssignmentStatus,
    pub reason: String,
    /// The event announcing the step, with its outbox id.
    pub event: (Uuid, komek_runtime::events::Outgoing),
}

/// Answers' steps of assignments as [`read_for_answers`] read them, in one statement of its
/// own transaction, each written only if its row is still the version read and its key still
/// new: the row locked, the key recorded, `status` and `reason` written as of the read's
/// clock, and the event written held under the batch id `held` (see
/// `events::held_outbox_ctes`). Returns, for each, whether
/// it was written; one that was not (its row changed or its key was recorded meanwhile) left
/// nothing behind. Only for steps that write nothing else (the caller knows it from the row
/// as read), and at most one step per assignment.
pub async fn steps_as_read(
    conn: &mut PgConnection,
    steps: &[StepAsRead],
    held: Uuid,
) -> Result<Vec<bool>> {
    // A row written since the read has another xmin, which the lock's recheck of a changed
    // row sees; that step's key is then not recorded, its row not updated, its event not
    // written. The rows are locked in id order, so two batches cannot deadlock.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let events = "SELECT i.event_id, i.subject, i.payload, i.traceparent \
                      FROM input i JOIN stepped USING (id) ORDER BY i.n";
        format!(
            "WITH input AS ( \
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
                 $6::int2[], $7::text[], $8::timestamptz[], $9::uuid[], $10::text[], \
                 $11::bytea[], $12::text[]) WITH ORDINALITY AS i(id, xmin, key, action, \
                 volunteer, status, reason, at, event_id, subject, payload, traceparent, n)), \
             a AS (SELECT s.id FROM assignments s JOIN input i ON s.id = i.id \
               AND s.xmin::text = i.xmin ORDER BY s.id FOR UPDATE OF s), \
             recorded AS ( \
               INSERT INTO assignment_actions (request_key, assignment_id, action, volunteer) \
               SELECT i.key, i.id, i.action, i.volunteer FROM input i JOIN a USING (id) \
               ON CONFLICT (request_key) DO NOTHING RETURNING assignment_id), \
             stepped AS ( \
               UPDATE assignments s SET status = i.status, reason = i.reason, updated_at = i.at, \
                 version = s.version + 1 \
               FROM recorded r JOIN input i ON i.id = r.assignment_id \
               WHERE s.id = r.assignment_id RETURNING s.id), \
             {} \
             SELECT id FROM stepped",
            komek_runtime::events::held_outbox_ctes(events, 13, 14)
        )
    });
    let ids: Vec<Uuid> = steps.iter().map(|s| s.read.row.id).collect();
    let stepped: Vec<Uuid> = sqlx::query_scalar(&SQL)
        .bind(&ids)
        .bind(
            steps
                .iter()
                .map(|s| s.read.xmin.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(steps.iter().map(|s| s.key).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.action).collect::<Vec<_>>())
        .bind(
            steps
                .iter()
                .map(|s| s.volunteer.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            steps
                .iter()
                .map(|s| s.status.code() as i16)
                .collect::<Vec<_>>(),
        )
        .bind(steps.iter().map(|s| s.reason.as_str()).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.read.now).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.event.0).collect::<Vec<_>>())
        .bind(
            steps
                .iter()
                .map(|s| s.event.1.subject.as_ref())
                .collect::<Vec<&str>>(),
        )
        .bind(
            steps
                .iter()
                .map(|s| s.event.1.payload.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(
            steps
                .iter()
                .map(|s| s.event.1.traceparent.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(komek_runtime::events::HOLD)
        .bind(held)
        .fetch_all(conn)
        .await?;
    Ok(ids.iter().map(|id| stepped.contains(id)).collect())
}

/// Records an accept or decline key; false when the key was seen before.
pub async fn record_action(
    tx: &mut PgConnection,
    key: Uuid,
    assignment: Uuid,
    action: &str,
    volunteer: &str,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO assignment_actions (request_key, assignment_id, action, volunteer) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_key) DO NOTHING",
    )
    .bind(key)
    .bind(assignment)
    .bind(action)
    .bind(volunteer)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What a group reports with a progress step.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub outcome: i16,
    pub note: &'a str,
    pub proof_uri: &'a str,
}

/// Writes an assignment's new status and reason, and the group's report when there is one.
/// `jobs::transition` calls this with everything else a change of status brings.
pub async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: AssignmentStatus,
    reason: &str,
    report: Option<Report<'_>>,
) -> Result<AssignmentRow> {
    sqlx::query_as(
        "UPDATE assignments SET status = $2, reason = $3, outcome = COALESCE($4, outcome), \
           note = COALESCE($5, note), proof_uri = COALESCE($6, proof_uri), updated_at = now(), \
           version = version + 1 WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(status.code() as i16)
    .bind(reason)
    .bind(report.map(|r| r.outcome))
    .bind(report.map(|r| r.note))
    .bind(report.map(|r| r.proof_uri))
    .fetch_one(tx)
    .await
    .map_err(Into::into)
}

/// The next open offer past its expiry, locked; replicas sweeping at once skip each other's.
pub async fn next_expired(tx: &mut PgConnection) -> Result<Option<AssignmentRow>> {
    // The status is written into the statement, not bound: the planner then uses the partial
    // index of open offers (`assignments_open_expiry`), whose predicate it must see.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT * FROM assignments WHERE status = {} AND expire_at <= now() \
             ORDER BY expire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            AssignmentStatus::Offered.code()
        )
    });
    sqlx::query_as(&SQL)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

/// The oldest open offer to one of `groups`, locked, skipping offers another replica holds.
pub async fn next_offer_to(
    tx: &mut PgConnection,
    groups: &[Uuid],
) -> Result<Option<AssignmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assignments WHERE status = $1 AND group_id = ANY($2) \
         ORDER BY offered_at LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .bind(AssignmentStatus::Offered.code() as i16)
    .bind(groups)
    .fetch_optional(tx)
    .await
    .map_err(Into::into)
}

/// Records a position fix of a job on its way or on site, unless a later fix is already
/// recorded. Returns the job's status, or `None` when there is no such assignment.
pub async fn record_position(
    pool: &PgPool,
    id: Uuid,
    lat: f64,
    lon: f64,
    at: DateTime<Utc>,
) -> Result<Option<AssignmentStatus>> {
    let status: Option<i16> = sqlx::query_scalar("SELECT status FROM assignments WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let status = status.and_then(AssignmentStatus::from_stored);
    if status.is_some_and(AssignmentStatus::is_on_the_way) {
        sqlx::query(
            "UPDATE assignments SET position_lat = $2, position_lon = $3, position_at = $4 \
             WHERE id = $1 AND status = ANY($5) AND (position_at IS NULL OR position_at < $4)",
        )
        .bind(id)
        .bind(lat)
        .bind(lon)
        .bind(at)
        .bind(AssignmentStatus::codes(AssignmentStatus::is_on_the_way))
        .execute(pool)
        .await?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use komek_testkit::TestDb;

    use super::super::{
        MIGRATOR, SCHEMA, Take, close_request, release, start_rest, take_capacity,
        take_capacity_after_miss,
    };
    use super::*;

    async fn pool() -> (TestDb, PgPool) {
        let db = TestDb::create().await;
        let pool = komek_runtime::db::connect_and_migrate(db.url(), SCHEMA, 2, &MIGRATOR)
            .await
            .unwrap();
        (db, pool)
    }

    fn offer(request_id: Uuid, group_id: Uuid) -> AssignmentRow {
        let now = Utc::now();
        AssignmentRow {
            id: Uuid::now_v7(),
            request_id,
            group_id,
            status: AssignmentStatus::Offered.code() as i16,
            attempt: 1,
            reference_code: "KMK-7".into(),
            category: 3,
            priority: 2,
            required_skills: vec![2, 5],
            lat: 43.30348,
            lon: 77.24085,
            settlement: "Talgar".into(),
            district: "Talgar District".into(),
            region: "Almaty Region".into(),
            distance_m: 1234.5,
            offered_at: now,
            expire_at: now + chrono::Duration::minutes(15),
            updated_at: now,
            reason: String::new(),
            outcome: 0,
            version: 1,
            cargo_tonnes: 2.0,
            volunteer_note: "Көмір, \"2 т\"".into(),
            position_lat: None,
            position_lon: None,
            position_at: None,
            people_count: 1,
            quantity_value: 2.0,
            quantity_unit: "т".into(),
            wide: false,
            search_round: 0,
            lead: false,
        }
    }

    async fn active(conn: &mut PgConnection, group: Uuid) -> Option<i32> {
        sqlx::query_scalar("SELECT active FROM group_load WHERE group_id = $1")
            .bind(group)
            .fetch_optional(conn)
            .await
            .unwrap()
    }

    async fn offers_of(conn: &mut PgConnection, request: Uuid) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM assignments WHERE request_id = $1")
            .bind(request)
            .fetch_one(conn)
            .await
            .unwrap()
    }

    /// One statement takes the place and records the offer when the group has room, and does
    /// neither when it has none, is resting or has no row yet; an offer the request has
    /// already leaves the place taken, to go back (as the two statements did).
    #[tokio::test]
    async fn a_place_and_its_offer_are_taken_together_or_not_at_all() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let group = Uuid::now_v7();

        // No row of places yet: nothing done; the slow path makes it.
        let first = offer(Uuid::now_v7(), group);
        let got = take_and_offer(&mut conn, &first, 2).await.unwrap();
        assert!(matches!(got, TakeOffer::NotTaken), "{got:?}");
        assert_eq!(active(&mut conn, group).await, None);
        assert_eq!(offers_of(&mut conn, first.request_id).await, 0);
        let took = take_capacity_after_miss(&mut conn, group, 2).await.unwrap();
        assert_eq!(took, Take::Taken);
        assert!(insert_offer(&mut conn, &first).await.unwrap().is_some());

        // Room for one more: taken and offered, column for column as inserted alone.
        let second = offer(Uuid::now_v7(), group);
        let TakeOffer::Offered(row) = take_and_offer(&mut conn, &second, 2).await.unwrap() else {
            panic!("not offered");
        };
        assert_eq!(active(&mut conn, group).await, Some(2));
        let alone = insert_offer(&mut conn, &offer(Uuid::now_v7(), Uuid::now_v7()))
            .await
            .unwrap()
            .unwrap();
        let strip = |r: &AssignmentRow| {
            let mut r = r.clone();
            (r.id, r.request_id, r.group_id) = (Uuid::nil(), Uuid::nil(), Uuid::nil());
            (r.offered_at, r.expire_at, r.updated_at) =
                (alone.offered_at, alone.expire_at, alone.updated_at);
            format!("{r:?}")
        };
        assert_eq!(strip(&row), strip(&alone));
        assert_eq!(row.id, second.id);

        // Full: nothing done, and the slow path says so.
        let third = offer(Uuid::now_v7(), group);
        let got = take_and_offer(&mut conn, &third, 2).await.unwrap();
        assert!(matches!(got, TakeOffer::NotTaken), "{got:?}");
        assert_eq!(active(&mut conn, group).await, Some(2));
        assert_eq!(offers_of(&mut conn, third.request_id).await, 0);
        assert_eq!(
            take_capacity_after_miss(&mut conn, group, 2).await.unwrap(),
            Take::Full
        );

        // A larger capacity from the roster applies at once.
        assert!(matches!(
            take_and_offer(&mut conn, &third, 3).await.unwrap(),
            TakeOffer::Offered(_)
        ));

        // The request offered already: the place is taken, the offer is not made again.
        let again = offer(third.request_id, group);
        let got = take_and_offer(&mut conn, &again, 5).await.unwrap();
        assert!(matches!(got, TakeOffer::AlreadyOffered), "{got:?}");
        assert_eq!(active(&mut conn, group).await, Some(4));
        assert_eq!(offers_of(&mut conn, third.request_id).await, 1);

        // Resting after a job: nothing done.
        start_rest(&mut conn, group, 30).await.unwrap();
        let fourth = offer(Uuid::now_v7(), group);
        let got = take_and_offer(&mut conn, &fourth, 9).await.unwrap();
        assert!(matches!(got, TakeOffer::NotTaken), "{got:?}");
        assert_eq!(active(&mut conn, group).await, Some(4));
        assert_eq!(
            take_capacity(&mut conn, group, 9).await.unwrap(),
            Take::Resting
        );
    }

    /// Batches racing for the same few groups, each listing them in its own order, neither
    /// over-book a group nor deadlock: the places are locked in one order, and a group's
    /// places are what its offers hold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_batches_never_over_book_a_group() {
        const CAPACITY: i32 = 7;
        let (_db, pool) = pool().await;
        let groups: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
        let mut conn = pool.acquire().await.unwrap();
        for g in &groups {
            take_capacity_after_miss(&mut conn, *g, CAPACITY)
                .await
                .unwrap();
            release(&mut conn, *g).await.unwrap();
        }
        drop(conn);
        let mut racers = Vec::new();
        for racer in 0..4usize {
            let pool = pool.clone();
            let groups = groups.clone();
            racers.push(tokio::spawn(async move {
                for round in 0..15usize {
                    // Every racer's batch names the groups in another order.
                    let mut order = groups.clone();
                    order.rotate_left((racer + round) % groups.len());
                    if (racer + round) % 2 == 1 {
                        order.reverse();
                    }
                    let rows: Vec<AssignmentRow> =
                        order.iter().map(|g| offer(Uuid::now_v7(), *g)).collect();
                    let batch: Vec<(&AssignmentRow, i32)> =
                        rows.iter().map(|r| (r, CAPACITY)).collect();
                    let mut tx = pool.begin().await.unwrap();
                    take_and_offer_many(&mut tx, &batch).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for r in racers {
            r.await.unwrap();
        }
        let per_group: Vec<(Uuid, i32, i64)> = sqlx::query_as(
            "SELECT l.group_id, l.active, (SELECT count(*) FROM assignments a \
               WHERE a.group_id = l.group_id) FROM group_load l",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(per_group.len(), groups.len());
        for (group, active, offers) in per_group {
            assert_eq!(active, CAPACITY, "group {group} filled");
            assert_eq!(
                i64::from(active),
                offers,
                "group {group}'s places and offers"
            );
        }
    }

    /// Several offers in one statement come to what each would alone: a group with room is
    /// taken and offered, one full, resting or without a row of places is left alone, a
    /// request offered already keeps its offer (the place taken goes back by the caller), and
    /// the answers follow the offers' order.
    #[tokio::test]
    async fn offers_to_several_groups_are_taken_in_one_statement_as_alone() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let [roomy, full, resting, unknown, offered] = [(); 5].map(|_| Uuid::now_v7());
        for group in [roomy, full, resting, offered] {
            assert_eq!(
                take_capacity_after_miss(&mut conn, group, 1).await.unwrap(),
                Take::Taken
            );
        }
        // `roomy` and `offered` get a second place; `full` has none; `resting` rests.
        start_rest(&mut conn, resting, 30).await.unwrap();
        let earlier = offer(Uuid::now_v7(), offered);
        assert!(insert_offer(&mut conn, &earlier).await.unwrap().is_some());

        let mut to_roomy = offer(Uuid::now_v7(), roomy);
        to_roomy.required_skills = vec![];
        let to_full = offer(Uuid::now_v7(), full);
        let to_resting = offer(Uuid::now_v7(), resting);
        let to_unknown = offer(Uuid::now_v7(), unknown);
        let again = offer(earlier.request_id, offered);
        let mut to_roomy_too = offer(Uuid::now_v7(), Uuid::now_v7());
        to_roomy_too.required_skills = vec![1, 2, 3];
        take_capacity_after_miss(&mut conn, to_roomy_too.group_id, 5)
            .await
            .unwrap();
        let batch = [
            (&to_full, 1),
            (&to_roomy, 2),
            (&to_resting, 9),
            (&again, 2),
            (&to_unknown, 2),
            (&to_roomy_too, 5),
        ];
        let got = take_and_offer_many(&mut conn, &batch).await.unwrap();
        assert_eq!(got.len(), batch.len());
        assert!(matches!(got[0], TakeOffer::NotTaken), "{:?}", got[0]);
        let TakeOffer::Offered(row) = &got[1] else {
            panic!("not offered: {:?}", got[1]);
        };
        assert_eq!(row.id, to_roomy.id);
        assert!(row.required_skills.is_empty());
        assert!(matches!(got[2], TakeOffer::NotTaken), "{:?}", got[2]);
        assert!(matches!(got[3], TakeOffer::AlreadyOffered), "{:?}", got[3]);
        assert!(matches!(got[4], TakeOffer::NotTaken), "{:?}", got[4]);
        let TakeOffer::Offered(too) = &got[5] else {
            panic!("not offered: {:?}", got[5]);
        };
        assert_eq!(too.required_skills, vec![1, 2, 3]);

        // Column for column what one statement alone records.
        let alone = offer(Uuid::now_v7(), roomy);
        let TakeOffer::Offered(alone) = take_and_offer(&mut conn, &alone, 3).await.unwrap() else {
            panic!("not offered alone");
        };
        let strip = |r: &AssignmentRow| {
            let mut r = r.clone();
            (r.id, r.request_id, r.group_id) = (Uuid::nil(), Uuid::nil(), Uuid::nil());
            (r.offered_at, r.expire_at, r.updated_at) =
                (alone.offered_at, alone.expire_at, alone.updated_at);
            r.required_skills = alone.required_skills.clone();
            format!("{r:?}")
        };
        assert_eq!(strip(row), strip(&alone));

        // Places: taken where offered and where the request had its offer already.
        assert_eq!(active(&mut conn, roomy).await, Some(3));
        assert_eq!(active(&mut conn, full).await, Some(1));
        assert_eq!(active(&mut conn, resting).await, Some(1));
        assert_eq!(active(&mut conn, unknown).await, None);
        assert_eq!(active(&mut conn, offered).await, Some(2));
        assert_eq!(offers_of(&mut conn, earlier.request_id).await, 1);
        for none in [&to_full, &to_resting, &to_unknown] {
            assert_eq!(offers_of(&mut conn, none.request_id).await, 0);
        }
        assert!(
            take_and_offer_many(&mut conn, &[])
                .await
                .unwrap()
                .is_empty(),
            "nothing asked, nothing sent"
        );
    }

    /// The closures and histories of several requests read in one statement are what reading
    /// each alone gives: offers of every status, a closed request, one with no offers.
    #[tokio::test]
    async fn histories_read_together_are_read_as_one_by_one() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let (a, b, c, closed) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let statuses = [
            AssignmentStatus::Declined,
            AssignmentStatus::Expired,
            AssignmentStatus::Accepted,
        ];
        for (i, status) in statuses.into_iter().enumerate() {
            let mut o = offer(a, Uuid::now_v7());
            o.attempt = i as i32 + 1;
            let row = insert_offer(&mut conn, &o).await.unwrap().unwrap();
            set_status(&mut conn, row.id, status, "test", None)
                .await
                .unwrap();
        }
        let mut wide = offer(b, Uuid::now_v7());
        (wide.wide, wide.search_round) = (true, 2);
        let lead = insert_offer(&mut conn, &wide).await.unwrap().unwrap();
        set_status(&mut conn, lead.id, AssignmentStatus::Accepted, "test", None)
            .await
            .unwrap();
        make_lead(&mut conn, lead.id).await.unwrap();
        let mut support = offer(b, Uuid::now_v7());
        (support.wide, support.search_round) = (true, 2);
        let support = insert_offer(&mut conn, &support).await.unwrap().unwrap();
        set_status(
            &mut conn,
            support.id,
            AssignmentStatus::Accepted,
            "test",
            None,
        )
        .await
        .unwrap();
        insert_offer(&mut conn, &offer(closed, Uuid::now_v7()))
            .await
            .unwrap();
        close_request(&mut conn, closed, 8).await.unwrap();

        let ids = [a, b, c, closed];
        let together = closed_and_histories(&mut conn, &ids).await.unwrap();
        assert_eq!(together.len(), ids.len());
        for id in ids {
            let alone = closed_and_history(&mut conn, id).await.unwrap();
            assert_eq!(format!("{:?}", together[&id]), format!("{alone:?}"), "{id}");
        }
        let (is_closed, history) = &together[&a];
        assert!(!is_closed);
        assert_eq!((history.attempts, history.active), (3, true));
        assert_eq!(history.excluded_groups.len(), 2);
        assert!(together[&b].1.led && together[&b].1.supporters == vec![support.id]);
        assert_eq!(together[&c].1.attempts, 0);
        assert!(together[&closed].0);
    }

    #[test]
    fn the_insert_names_the_predicates_of_the_one_active_indexes() {
        // The index is created by a migration; the insert must name the same predicate, or
        // PostgreSQL cannot infer which index the conflict is about.
        let migration = include_str!("../../migrations/0018_wide_search.sql");
        for predicate in [&*ONE_ACTIVE_PER_REQUEST, &*ONE_ACTIVE_PER_GROUP] {
            assert!(
                migration.contains(&format!("WHERE {predicate};")),
                "{predicate}"
            );
        }
    }

    fn accept(read: AsRead, key: Uuid) -> StepAsRead {
        let event = komek_runtime::events::Outgoing {
            subject: "komek.assignment.changed".into(),
            payload: read.row.id.as_bytes().to_vec(),
            traceparent: None,
        };
        StepAsRead {
            read,
            key,
            action: "accept",
            volunteer: "volunteers/7".into(),
            status: AssignmentStatus::Accepted,
            reason: "yes".into(),
            event: (Uuid::now_v7(), event),
        }
    }

    /// Keys recorded under `keys`, rows in the outbox, and events waiting in their batches'
    /// rows of outbox_pending_batches.
    async fn written(conn: &mut PgConnection, keys: &[Uuid]) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM assignment_actions WHERE request_key = ANY ($1)), \
                    (SELECT count(*) FROM outbox), \
                    (SELECT coalesce(sum(cardinality(events)), 0) FROM outbox_pending_batches)",
        )
        .bind(keys)
        .fetch_one(conn)
        .await
        .unwrap()
    }

    async fn offered(conn: &mut PgConnection) -> AssignmentRow {
        insert_offer(conn, &offer(Uuid::now_v7(), Uuid::now_v7()))
            .await
            .unwrap()
            .unwrap()
    }

    /// The plan a batch of answers, or of triaged requests, is read with: PostgreSQL plans the
    /// consumers' and the answers' statements once (generic plans, `db::begin_generic`),
    /// for ten rows of each array. With 2,000 answers recorded and 2,000 closures (analysed),
    /// a correlated `EXISTS` there was planned as a hash of the whole table, built again on
    /// every call; each key is to be looked up by its index instead.
    #[tokio::test]
    async fn a_batch_looks_up_its_keys_and_closures_by_index_not_by_the_whole_table() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO assignment_actions (request_key, assignment_id, action, volunteer) \
             SELECT gen_random_uuid(), gen_random_uuid(), 'accept', 'volunteer-1' \
             FROM generate_series(1, 2000)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO closed_requests (request_id, status) \
             SELECT gen_random_uuid(), 5 FROM generate_series(1, 2000)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query("ANALYZE assignment_actions, closed_requests")
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut tx = komek_runtime::db::begin_generic(&mut conn).await.unwrap();
        for (name, sql, table, args) in [
            (
                "answers",
                READ_FOR_ANSWERS,
                "assignment_actions",
                "('{}', '{}')",
            ),
            (
                "histories",
                CLOSED_AND_HISTORIES,
                "closed_requests",
                "('{}')",
            ),
        ] {
            sqlx::raw_sql(&format!("PREPARE {name} AS {sql}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE {name}{args}"))
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            let plan = plan.join("\n");
            assert!(
                plan.contains(&format!("Index Only Scan using {table}_pkey")),
                "{name}: {table} looked up by its key:\n{plan}"
            );
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "{name}: {table} not read whole:\n{plan}"
            );
        }
    }

    /// Answers written together are each the row as read with its step, its key recorded
    /// and its event held, as the locked way writes them; in the same statement, an answer
    /// whose row was written to since the read, or whose key was recorded meanwhile, leaves
    /// nothing behind.
    #[tokio::test]
    async fn answers_as_read_are_written_each_whole_only_if_nothing_changed() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let (one, two, three) = (
            offered(&mut conn).await,
            offered(&mut conn).await,
            offered(&mut conn).await,
        );
        let keys = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        // Read together, asked out of order and with an assignment that is not there.
        let asked = [
            (three.id, keys[2]),
            (Uuid::now_v7(), Uuid::now_v7()),
            (one.id, keys[0]),
            (two.id, keys[1]),
        ];
        let mut read = read_for_answers(&mut conn, &asked).await.unwrap();
        assert!(read[1].is_none(), "no assignment, nothing read");
        let found: Vec<(Uuid, bool)> = read
            .iter()
            .flatten()
            .map(|r| (r.row.id, r.key_used))
            .collect();
        assert_eq!(
            found,
            [(three.id, false), (one.id, false), (two.id, false)],
            "each answer gets its own assignment, in the order asked"
        );
        let mut reads = Vec::new();
        for (at, key) in [(2, keys[0]), (3, keys[1]), (0, keys[2])] {
            reads.push(accept(read[at].take().unwrap(), key));
        }
        // Two is written to after its read; three's key is recorded meanwhile (the same
        // answer, retried at once).
        sqlx::query("UPDATE assignments SET expire_at = now() WHERE id = $1")
            .bind(two.id)
            .execute(&mut *conn)
            .await
            .unwrap();
        assert!(
            record_action(&mut conn, keys[2], three.id, "accept", "volunteers/7")
                .await
                .unwrap()
        );

        let done = steps_as_read(&mut conn, &reads, Uuid::now_v7())
            .await
            .unwrap();
        assert_eq!(done, [true, false, false]);
        let rows = get_many(&pool, &[one.id, two.id, three.id]).await.unwrap();
        let row = |id| rows.iter().find(|r| r.id == id).unwrap();
        let accepted = AssignmentStatus::Accepted.code() as i16;
        assert_eq!(
            (row(one.id).status, row(one.id).reason.as_str()),
            (accepted, "yes")
        );
        assert_eq!(
            (row(one.id).updated_at, row(one.id).version),
            (reads[0].read.now, one.version + 1)
        );
        for untouched in [&two, &three] {
            let now = row(untouched.id);
            assert_eq!(
                (now.status, now.version),
                (untouched.status, untouched.version)
            );
        }
        // One's key and three's (recorded before); one event, held.
        assert_eq!(written(&mut conn, &keys).await, (2, 1, 1));
        let again = read_for_answer(&mut conn, one.id, keys[0])
            .await
            .unwrap()
            .unwrap();
        assert!(again.key_used);
    }

    /// A step that another transaction takes while an answer is in flight wins: the answer,
    /// waiting for the row's lock, finds it changed when it gets it, and writes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_as_read_waiting_for_a_changing_row_writes_nothing() {
        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let one = offered(&mut conn).await;
        let key = Uuid::now_v7();
        let read = read_for_answer(&mut conn, one.id, key)
            .await
            .unwrap()
            .unwrap();

        let mut other = pool.begin().await.unwrap();
        let locked = lock(&mut other, one.id).await.unwrap().unwrap();
        set_status(
            &mut other,
            locked.id,
            AssignmentStatus::Declined,
            "no",
            None,
        )
        .await
        .unwrap();
        let answering = tokio::spawn(async move {
            steps_as_read(&mut conn, &[accept(read, key)], Uuid::now_v7()).await
        });
        // The answer waits for the lock the decline holds.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!answering.is_finished());
        other.commit().await.unwrap();
        assert_eq!(answering.await.unwrap().unwrap(), [false]);

        let row = get_many(&pool, &[one.id]).await.unwrap().remove(0);
        assert_eq!(row.status, AssignmentStatus::Declined.code() as i16);
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(written(&mut conn, &[key]).await, (0, 0, 0));
    }

    /// A closure that both of matching's consumers of closures saw (the one of every status
    /// change, before an upgrade, and the one of requests called off that took over from it:
    /// two messages under two ids, which the inbox cannot tell apart) is acted on once: the
    /// group is withdrawn and the dispatcher's cancel audited, once.
    #[tokio::test]
    async fn a_request_called_off_twice_is_acted_on_once() {
        use komek_core::RequestStatus;
        use komek_proto::events::v1 as ev;
        use komek_runtime::events::subject;
        use komek_runtime::inbox::{Handler, Incoming};
        use prost::Message;

        let (_db, pool) = pool().await;
        let mut conn = pool.acquire().await.unwrap();
        let one = offered(&mut conn).await;
        let closures = crate::consumer::Closures {
            index: std::sync::Arc::new(crate::index::GroupIndex::default()),
        };
        let payload = ev::RequestStatusChanged {
            request: komek_runtime::boundary::name("requests", one.request_id),
            status: RequestStatus::Cancelled.code(),
            reason: "табылды".into(),
            actor: "dispatchers/aigerim".into(),
            ..Default::default()
        }
        .encode_to_vec();
        for _ in 0..2 {
            let mut tx = pool.begin().await.unwrap();
            let m = Incoming {
                subject: subject::REQUEST_CALLED_OFF,
                payload: &payload,
            };
            closures.handle(&mut tx, m).await.unwrap();
            tx.commit().await.unwrap();
        }
        let row = get_many(&pool, &[one.id]).await.unwrap().remove(0);
        assert_eq!(row.status, AssignmentStatus::Withdrawn.code() as i16);
        let (cancels, withdrawals): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE action = 'CancelRequest'), \
                    (SELECT count(*) FROM outbox WHERE subject = $2) \
             FROM dispatch_audit WHERE request_id = $1",
        )
        .bind(one.request_id)
        .bind(subject::ASSIGNMENT_CHANGED)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!((cancels, withdrawals), (1, 1), "audited and withdrawn once");
    }
}
