//! CreateRequest calls committed together. Under a surge most of a create's cost is the
//! transaction around it (four round trips and a commit for two small rows), so the calls
//! that arrive while a batch is being written wait for it and go in the next one: one
//! statement writes the requests and their events, in one round trip. A call alone still goes
//! at once.
//!
//! Only the plain case is batched: a request that was not inserted (a retry of an earlier
//! call, or a drawn reference code that is taken) and every request of a batch whose
//! transaction failed go through [`super::create`] on their own, which tells a retry from a
//! clash and draws the code again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use komek_core::RequestStatus;
use komek_core::reference::ReferenceCode;
use komek_runtime::batch::Batcher;
use komek_runtime::db::Warm;
use komek_runtime::events::{Bus, HOLD, Outgoing, held_outbox_ctes, subject};
use sqlx::PgPool;
use uuid::Uuid;

use super::Result;
use super::requests::random_bits;
use crate::events;
use crate::model::{NewRequest, RequestRow, request_columns};

/// Most requests in one transaction.
const BATCH: usize = 128;

/// Transactions writing batches at once: while one commits, the next gathers.
const WRITERS: usize = 2;

/// A call waiting to be written.
struct Pending {
    new: NewRequest,
    payload: Vec<u8>,
    /// The caller's trace, carried by its event.
    traceparent: Option<String>,
}

/// Hands CreateRequest calls to the writers.
#[derive(Clone)]
pub struct Creates {
    writers: Batcher<Pending, Option<RequestRow>>,
    pool: PgPool,
    bus: Bus,
}

impl Creates {
    /// Starts the writers; they stop when the last `Creates` is dropped.
    pub fn start(pool: PgPool, bus: Bus) -> Self {
        let writers = {
            let (warm, bus) = (Arc::new(Warm::new(pool.clone())), bus.clone());
            Batcher::start(WRITERS, BATCH, move |batch| {
                let (warm, bus) = (warm.clone(), bus.clone());
                async move { write(&warm, &bus, batch).await }
            })
        };
        Self { writers, pool, bus }
    }

    /// Creates the request and its `request.created` event in one transaction, with whichever
    /// other calls are waiting, and has the event published. Returns the row and whether it
    /// is new, as [`super::create`].
    pub async fn create(&self, new: &NewRequest, payload: &[u8]) -> Result<(RequestRow, bool)> {
        let pending = Pending {
            new: new.clone(),
            payload: payload.to_vec(),
            traceparent: komek_runtime::trace::current_traceparent(),
        };
        if let Some(Some(row)) = self.writers.write(pending).await {
            return Ok((row, true));
        }
        // Not written in a batch: on its own, in this call's trace.
        let (row, created) = super::create(&self.pool, new, payload).await?;
        if created {
            self.bus.wake_outbox();
        }
        Ok((row, created))
    }
}

/// Writes a batch: the row of each request inserted, None for the others.
async fn write(warm: &Warm, bus: &Bus, batch: Vec<Pending>) -> Vec<Option<RequestRow>> {
    let codes: Vec<String> = batch
        .iter()
        .map(|_| ReferenceCode::from_bits(random_bits()).as_str().to_string())
        .collect();
    let mut rows = match insert(warm, bus, &batch, &codes).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::debug!(error = %err, requests = batch.len(),
                "batch of creates failed; each goes on its own");
            HashMap::new()
        }
    };
    batch.iter().map(|p| rows.remove(&p.new.id)).collect()
}

/// Inserts the batch's requests and the events of those inserted, and hands the events to
/// the relay once they committed.
async fn insert(
    warm: &Warm,
    bus: &Bus,
    batch: &[Pending],
    codes: &[String],
) -> Result<HashMap<Uuid, RequestRow>> {
    let (inserted, held, events) = insert_with_events(warm, batch, codes).await?;
    bus.publish_committed(held, events);
    Ok(inserted.into_iter().map(|row| (row.id, row)).collect())
}

/// Inserts the batch's requests and the events of those inserted, in one statement (its own
/// transaction: one round trip where a transaction around two statements takes four).
/// Returns the rows inserted, and the batch id and the events written (every one, in the
/// batch's order) for [`Bus::publish_committed`].
///
/// The events are built before the insert, so each request's `created_at` (and `updated_at`)
/// is this process's clock, as its event says, where it used to be the server's `now()` read
/// back: the two clocks differ by what keeps hosts' clocks apart (milliseconds), and nothing
/// orders a request against the server's clock by less.
async fn insert_with_events(
    warm: &Warm,
    batch: &[Pending],
    codes: &[String],
) -> Result<(Vec<RequestRow>, Uuid, Vec<(Uuid, Outgoing)>)> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let events = "SELECT i.event_id, $30::text, i.event_payload, i.traceparent \
                      FROM input i JOIN inserted USING (id) ORDER BY i.n";
        format!(
            "WITH input AS ( \
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::text[], $5::int2[], \
                 $6::bool[], $7::int2[], $8::float8[], $9::float8[], $10::text[], $11::text[], \
                 $12::text[], $13::text[], $14::text[], $15::int2[], $16::int2[], $17::int4[], \
                 $18::float8[], $19::text[], $20::timestamptz[], $21::timestamptz[], \
                 $22::int2[], $23::bytea[], $24::bytea[], $25::text[], $26::bytea[], \
                 $27::text[], $28::uuid[], $29::bytea[], $31::text[]) \
               WITH ORDINALITY AS i(id, idempotency_key, create_payload, reference_code, \
                 channel, caller_anonymous, caller_language, lat, lon, address, settlement, \
                 district, region, description, operator_category, operator_priority, \
                 people_count, quantity_value, quantity_unit, wanted_start, wanted_end, \
                 status, caller_name_enc, caller_phone_enc, caller_key_id, caller_blind_index, \
                 volunteer_note, event_id, event_payload, traceparent, n)), \
             bodies AS ( \
               INSERT INTO request_bodies (id, idempotency_key, create_payload, \
                 reference_code, channel, caller_anonymous, caller_language, lat, lon, address, \
                 settlement, district, region, description, operator_category, \
                 operator_priority, people_count, quantity_value, quantity_unit, wanted_start, \
                 wanted_end, caller_name_enc, caller_phone_enc, caller_key_id, \
                 caller_blind_index, volunteer_note, created_at) \
               SELECT id, idempotency_key, create_payload, reference_code, channel, \
                 caller_anonymous, caller_language, lat, lon, address, settlement, district, \
                 region, description, operator_category, operator_priority, people_count, \
                 quantity_value, quantity_unit, wanted_start, wanted_end, caller_name_enc, \
                 caller_phone_enc, caller_key_id, caller_blind_index, volunteer_note, $32 \
               FROM input ORDER BY n \
               ON CONFLICT DO NOTHING RETURNING *), \
             progress AS ( \
               INSERT INTO request_progress (id, created_at, updated_at, status) \
               SELECT b.id, b.created_at, b.created_at, i.status \
               FROM bodies b JOIN input i USING (id) ORDER BY i.n \
               RETURNING *), \
             inserted AS ( \
               SELECT {columns} FROM bodies JOIN progress USING (id, created_at)), \
             {held} \
             SELECT * FROM inserted",
            columns = request_columns!(),
            held = held_outbox_ctes(events, 33, 34),
        )
    });
    let n = batch.len();
    let created_at = now_as_stored();
    let held = Uuid::now_v7();
    let mut c = Columns::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for (p, code) in batch.iter().zip(codes) {
        c.push(&p.new, &p.payload);
        let event = events::request_created(&as_inserted(&p.new, code, created_at));
        events.push((
            p.new.id,
            Uuid::now_v7(),
            prost::Message::encode_to_vec(&event),
        ));
    }
    let inserted: Vec<RequestRow> = warm
        .statement(async |conn| {
            sqlx::query_as(&SQL)
                .bind(&c.id)
                .bind(&c.idempotency_key)
                .bind(&c.payload)
                .bind(codes)
                .bind(&c.channel)
                .bind(&c.anonymous)
                .bind(&c.language)
                .bind(&c.lat)
                .bind(&c.lon)
                .bind(&c.address)
                .bind(&c.settlement)
                .bind(&c.district)
                .bind(&c.region)
                .bind(&c.description)
                .bind(&c.category)
                .bind(&c.priority)
                .bind(&c.people)
                .bind(&c.quantity)
                .bind(&c.unit)
                .bind(&c.wanted_start)
                .bind(&c.wanted_end)
                .bind(vec![RequestStatus::New.code() as i16; n])
                .bind(&c.name)
                .bind(&c.phone)
                .bind(&c.key_id)
                .bind(&c.blind_index)
                .bind(&c.note)
                .bind(events.iter().map(|e| e.1).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.2.as_slice()).collect::<Vec<_>>())
                .bind(subject::REQUEST_CREATED)
                .bind(
                    batch
                        .iter()
                        .map(|p| p.traceparent.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(created_at)
                .bind(HOLD)
                .bind(held)
                .fetch_all(conn)
                .await
        })
        .await?;
    // The events of the requests inserted, in the batch's order, as the statement wrote them.
    let written: HashSet<Uuid> = inserted.iter().map(|row| row.id).collect();
    let committed: Vec<(Uuid, Outgoing)> = batch
        .iter()
        .zip(events)
        .filter(|(_, (id, _, _))| written.contains(id))
        .map(|(p, (_, event_id, payload))| {
            let event = Outgoing {
                subject: subject::REQUEST_CREATED.into(),
                payload,
                traceparent: p.traceparent.clone(),
            };
            (event_id, event)
        })
        .collect();
    Ok((inserted, held, committed))
}

/// Now, to the microsecond PostgreSQL keeps, so a time written and the event that tells it
/// read the same.
fn now_as_stored() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The row `new` becomes when inserted with `code` at `created_at`, as far as its
/// `request.created` event reads it ([`events::request_created`]); what a create never sets
/// is left at its default.
fn as_inserted(new: &NewRequest, code: &str, created_at: DateTime<Utc>) -> RequestRow {
    RequestRow {
        id: new.id,
        reference_code: code.to_string(),
        channel: new.channel.code() as i16,
        caller_anonymous: new.anonymous,
        caller_language: new.language.map_or(0, |l| l.code() as i16),
        lat: new.point.map(|p| p.lat()),
        lon: new.point.map(|p| p.lon()),
        settlement: new.settlement.clone(),
        district: new.district.clone(),
        region: new.region.clone(),
        operator_category: new.operator_category.map_or(0, |c| c.code() as i16),
        operator_priority: new.operator_priority.map_or(0, |p| p.code() as i16),
        people_count: new.people_count,
        quantity_value: new.quantity.as_ref().map(|q| q.0),
        quantity_unit: new
            .quantity
            .as_ref()
            .map_or_else(String::new, |q| q.1.clone()),
        wanted_start: new.wanted_start,
        wanted_end: new.wanted_end,
        status: RequestStatus::New.code() as i16,
        created_at,
        updated_at: created_at,
        ..RequestRow::default()
    }
}

/// A batch's requests column by column, as `unnest` takes them.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<Uuid>,
    idempotency_key: Vec<Uuid>,
    payload: Vec<&'a [u8]>,
    channel: Vec<i16>,
    anonymous: Vec<bool>,
    language: Vec<i16>,
    lat: Vec<Option<f64>>,
    lon: Vec<Option<f64>>,
    address: Vec<&'a str>,
    settlement: Vec<&'a str>,
    district: Vec<&'a str>,
    region: Vec<&'a str>,
    description: Vec<&'a str>,
    category: Vec<i16>,
    priority: Vec<i16>,
    people: Vec<i32>,
    quantity: Vec<Option<f64>>,
    unit: Vec<&'a str>,
    wanted_start: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    wanted_end: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    name: Vec<Option<&'a [u8]>>,
    phone: Vec<Option<&'a [u8]>>,
    key_id: Vec<Option<&'a str>>,
    blind_index: Vec<Option<&'a [u8]>>,
    note: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn with_capacity(n: usize) -> Self {
        let mut c = Self::default();
        c.id.reserve(n);
        c
    }

    /// The same values, in the same columns, as [`super::create`] binds.
    fn push(&mut self, new: &'a NewRequest, payload: &'a [u8]) {
        let caller = new.caller.as_ref();
        self.id.push(new.id);
        self.idempotency_key.push(new.idempotency_key);
        self.payload.push(payload);
        self.channel.push(new.channel.code() as i16);
        self.anonymous.push(new.anonymous);
        self.language
            .push(new.language.map_or(0, |l| l.code() as i16));
        self.lat.push(new.point.map(|p| p.lat()));
        self.lon.push(new.point.map(|p| p.lon()));
        self.address.push(&new.address);
        self.settlement.push(&new.settlement);
        self.district.push(&new.district);
        self.region.push(&new.region);
        self.description.push(&new.description);
        self.category
            .push(new.operator_category.map_or(0, |c| c.code() as i16));
        self.priority
            .push(new.operator_priority.map_or(0, |p| p.code() as i16));
        self.people.push(new.people_count);
        self.quantity.push(new.quantity.as_ref().map(|q| q.0));
        self.unit
            .push(new.quantity.as_ref().map_or("", |q| q.1.as_str()));
        self.wanted_start.push(new.wanted_start);
        self.wanted_end.push(new.wanted_end);
        self.name.push(caller.and_then(|c| c.name.as_deref()));
        self.phone.push(caller.and_then(|c| c.phone.as_deref()));
        self.key_id.push(caller.map(|c| c.key_id.as_str()));
        self.blind_index
            .push(caller.and_then(|c| c.blind_index.as_deref()));
        self.note.push(&new.volunteer_note);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use komek_core::{Category, Channel, GeoPoint, Language, Priority};
    use komek_proto::events::v1 as ev;
    use prost::Message;

    use super::*;
    use crate::model::SealedCaller;

    /// A call as validation leaves it; `i` varies what a create may or may not carry.
    fn new_request(i: u8) -> NewRequest {
        let full = i.is_multiple_of(2);
        NewRequest {
            id: Uuid::now_v7(),
            idempotency_key: Uuid::new_v4(),
            caller: full.then(|| SealedCaller {
                name: Some(vec![1, i]),
                phone: Some(vec![2, i]),
                key_id: "k1".into(),
                blind_index: Some(vec![3, i]),
            }),
            channel: if full { Channel::Hotline } else { Channel::App },
            anonymous: !full,
            language: full.then_some(Language::Kazakh),
            // Kokshetau, from the committed settlement list.
            point: full.then(|| GeoPoint::new(53.28244, 69.39692).unwrap()),
            address: format!("Абай көшесі, {i}"),
            settlement: "Kokshetau".into(),
            district: if full { "Kokshetau City" } else { "" }.into(),
            region: if full { "Akmola Region" } else { "" }.into(),
            description: format!("Зейнеткерге көмір керек, {i}"),
            volunteer_note: if full { "қақпа ашық" } else { "" }.into(),
            operator_category: full.then_some(Category::FuelDelivery),
            operator_priority: full.then_some(Priority::High),
            people_count: i32::from(i),
            quantity: full.then(|| (2.5, "t".to_string())),
            wanted_start: full.then(|| Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()),
            wanted_end: None,
        }
    }

    fn pending(new: NewRequest, traceparent: Option<&str>) -> Pending {
        Pending {
            payload: new.description.as_bytes().to_vec(),
            new,
            traceparent: traceparent.map(str::to_string),
        }
    }

    /// A batch is written by one statement: every new request with its `request.created`,
    /// which says what the stored row says (its time included, to the microsecond), held for
    /// this process's relay; a request whose key was used before is left out, with no event.
    #[tokio::test]
    async fn a_batch_writes_each_new_request_with_the_event_its_stored_row_tells() {
        let (_db, pool) = super::super::migrated().await;
        let earlier = new_request(9);
        super::super::create(&pool, &earlier, b"earlier")
            .await
            .unwrap();
        let mut retry = new_request(9);
        retry.idempotency_key = earlier.idempotency_key;
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let batch = vec![
            pending(new_request(0), Some(trace)),
            pending(retry, None),
            pending(new_request(1), None),
            pending(new_request(2), None),
        ];
        let codes: Vec<String> = (0..batch.len()).map(|i| format!("KMK-T{i}")).collect();
        let warm = Warm::new(pool.clone());

        let (rows, held, events) = insert_with_events(&warm, &batch, &codes).await.unwrap();

        let new_ids: Vec<Uuid> = [0, 2, 3].iter().map(|&i| batch[i].new.id).collect();
        let mut row_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        row_ids.sort();
        let mut sorted = new_ids.clone();
        sorted.sort();
        assert_eq!(row_ids, sorted, "the new requests, not the retry");
        assert_eq!(events.len(), 3, "one event a new request");
        for ((event_id, event), id) in events.iter().zip(&new_ids) {
            let stored = super::super::get(&pool, *id).await.unwrap();
            assert_eq!(stored.status, RequestStatus::New.code() as i16);
            assert_eq!(stored.updated_at, stored.created_at);
            let told = events::request_created(&stored);
            assert_eq!(
                events::request_created(rows.iter().find(|r| r.id == *id).unwrap()),
                told,
                "the row returned is the row stored"
            );
            assert_eq!(
                ev::RequestCreated::decode(event.payload.as_slice()).unwrap(),
                told,
                "the event says what the stored row says"
            );
            assert_eq!(event.subject, subject::REQUEST_CREATED);
            let (subject, payload, traceparent, held, sent): (
                String,
                Vec<u8>,
                Option<String>,
                bool,
                bool,
            ) = sqlx::query_as(
                "SELECT subject, payload, traceparent, held_until > now(), sent_at IS NOT NULL \
                 FROM outbox WHERE id = $1",
            )
            .bind(event_id)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(subject, subject::REQUEST_CREATED);
            assert_eq!(
                payload, event.payload,
                "the outbox holds the event handed on"
            );
            assert_eq!(traceparent, event.traceparent);
            assert!(held && sent, "written held, for this process's relay");

            let status: i16 =
                sqlx::query_scalar("SELECT status FROM request_progress WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(status, RequestStatus::New.code() as i16);
        }
        assert_eq!(events[0].1.traceparent.as_deref(), Some(trace));
        let waiting: Vec<Uuid> =
            sqlx::query_scalar("SELECT events FROM outbox_pending_batches WHERE id = $1")
                .bind(held)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(
            waiting,
            events.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "the batch's events wait for the relay together, in their order, until published"
        );
        let created: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE subject = 'komek.request.created'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            created, 4,
            "the earlier create's event and the batch's three"
        );
        let retried: i64 = sqlx::query_scalar("SELECT count(*) FROM requests WHERE id = $1")
            .bind(batch[1].new.id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(retried, 0);
    }
}
