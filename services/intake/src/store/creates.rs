//! CreateRequest calls committed together. Under a surge most of a create's cost is the
//! transaction around it (four round trips and a commit for two small rows), so the calls
//! that arrive while a batch is being written wait for it and go in the next one: one
//! transaction, the requests in one statement and their events in another. A call alone
//! still goes at once.
//!
//! Only the plain case is batched: a request that was not inserted (a retry of an earlier
//! call, or a drawn reference code that is taken) and every request of a batch whose
//! transaction failed go through [`super::create`] on their own, which tells a retry from a
//! clash and draws the code again.

use std::collections::HashMap;

use komek_core::RequestStatus;
use komek_core::reference::ReferenceCode;
use komek_runtime::batch::Batcher;
use komek_runtime::events::{Bus, Outgoing, commit_publishing, subject};
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
            let (pool, bus) = (pool.clone(), bus.clone());
            Batcher::start(WRITERS, BATCH, move |batch| {
                let (pool, bus) = (pool.clone(), bus.clone());
                async move { write(&pool, &bus, batch).await }
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
async fn write(pool: &PgPool, bus: &Bus, batch: Vec<Pending>) -> Vec<Option<RequestRow>> {
    let codes: Vec<String> = batch
        .iter()
        .map(|_| ReferenceCode::from_bits(random_bits()).as_str().to_string())
        .collect();
    let mut rows = match insert(pool, bus, &batch, &codes).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::debug!(error = %err, requests = batch.len(),
                "batch of creates failed; each goes on its own");
            HashMap::new()
        }
    };
    batch.iter().map(|p| rows.remove(&p.new.id)).collect()
}

/// Inserts the batch's requests and the events of those inserted, in one transaction, and
/// hands the events to the relay once it committed.
async fn insert(
    pool: &PgPool,
    bus: &Bus,
    batch: &[Pending],
    codes: &[String],
) -> Result<HashMap<Uuid, RequestRow>> {
    let n = batch.len();
    let mut c = Columns::with_capacity(n);
    for p in batch {
        c.push(&p.new, &p.payload);
    }
    let mut tx = pool.begin().await?;
    let inserted: Vec<RequestRow> = sqlx::query_as(concat!(
        "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, channel, \
           caller_anonymous, caller_language, lat, lon, address, settlement, district, region, \
           description, operator_category, operator_priority, people_count, quantity_value, \
           quantity_unit, wanted_start, wanted_end, status, caller_name_enc, caller_phone_enc, \
           caller_key_id, caller_blind_index, volunteer_note) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[], $4::text[], $5::int2[], \
           $6::bool[], $7::int2[], $8::float8[], $9::float8[], $10::text[], $11::text[], \
           $12::text[], $13::text[], $14::text[], $15::int2[], $16::int2[], $17::int4[], \
           $18::float8[], $19::text[], $20::timestamptz[], $21::timestamptz[], $22::int2[], \
           $23::bytea[], $24::bytea[], $25::text[], $26::bytea[], $27::text[]) \
         ON CONFLICT DO NOTHING RETURNING ",
        request_columns!()
    ))
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
    .fetch_all(&mut *tx)
    .await?;
    let traces: HashMap<Uuid, Option<&String>> = batch
        .iter()
        .map(|p| (p.new.id, p.traceparent.as_ref()))
        .collect();
    let created: Vec<(Uuid, Outgoing)> = inserted
        .iter()
        .map(|row| {
            let event = Outgoing {
                subject: subject::REQUEST_CREATED.into(),
                payload: prost::Message::encode_to_vec(&events::request_created(row)),
                traceparent: traces.get(&row.id).copied().flatten().cloned(),
            };
            (Uuid::now_v7(), event)
        })
        .collect();
    commit_publishing(tx, created, bus).await?;
    Ok(inserted.into_iter().map(|row| (row.id, row)).collect())
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
