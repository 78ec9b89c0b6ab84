//! Dead letters: messages a consumer gave up on, kept in the service's own schema instead of
//! being dropped, and OperationsService, which lists them and replays them once their cause is
//! fixed. Every service serves it on its main listener, about itself.

use chrono::{DateTime, Utc};
use komek_proto::ops::v1 as api;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::boundary::{decode_time_id, internal, name, parse_name, time_id_token, timestamp};
use crate::dead_letters::REPLAY_OF;
use crate::events::Bus;
use crate::pages::Pages;

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    consumer: String,
    subject: String,
    message_id: String,
    payload: Vec<u8>,
    error: String,
    deliveries: i32,
    failed_at: DateTime<Utc>,
    replayed_at: Option<DateTime<Utc>>,
}

fn to_api(r: &Row) -> api::DeadLetter {
    api::DeadLetter {
        name: name("deadLetters", r.id),
        consumer: r.consumer.clone(),
        subject: r.subject.clone(),
        message_id: r.message_id.clone(),
        error: r.error.clone(),
        deliveries: r.deliveries,
        fail_time: Some(timestamp(r.failed_at)),
        replay_time: r.replayed_at.map(timestamp),
    }
}

pub struct Operations {
    pool: PgPool,
    bus: Bus,
    pages: Pages,
}

impl Operations {
    pub fn new(pool: PgPool, bus: Bus, pages: Pages) -> Self {
        Self { pool, bus, pages }
    }
}

#[tonic::async_trait]
impl api::operations_service_server::OperationsService for Operations {
    async fn list_dead_letters(
        &self,
        request: Request<api::ListDeadLettersRequest>,
    ) -> Result<Response<api::ListDeadLettersResponse>, Status> {
        let req = request.get_ref();
        let page = self.pages.page(req, decode_time_id)?;
        let (after_t, after_id) = page.after.unzip();
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT * FROM dead_letters WHERE ($1 OR replayed_at IS NULL) \
               AND ($2::timestamptz IS NULL OR (failed_at, id) < ($2, $3)) \
             ORDER BY failed_at DESC, id DESC LIMIT $4",
        )
        .bind(req.include_replayed)
        .bind(after_t)
        .bind(after_id)
        .bind(page.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Response::new(api::ListDeadLettersResponse {
            dead_letters: rows.iter().map(to_api).collect(),
            next_page_token: self
                .pages
                .next(req, &page, &rows, |r| time_id_token(r.failed_at, r.id)),
        }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<api::ReplayDeadLetterRequest>,
    ) -> Result<Response<api::DeadLetter>, Status> {
        let id = parse_name("deadLetters", &request.get_ref().name, "name")?;
        let row: Option<Row> = sqlx::query_as("SELECT * FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        let Some(row) = row else {
            return Err(Status::not_found("no such dead letter"));
        };
        // Back on its stream under a new publish id (JetStream would drop a repeat of the old
        // one as a duplicate) that carries the original: consumers' inboxes know it by that.
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("replay.{}", Uuid::now_v7()).as_str(),
        );
        headers.insert(REPLAY_OF, row.message_id.as_str());
        self.bus
            .jetstream
            .publish_with_headers(row.subject.clone(), headers, row.payload.clone().into())
            .await
            .map_err(internal)?
            .await
            .map_err(internal)?;
        let replayed: Row =
            sqlx::query_as("UPDATE dead_letters SET replayed_at = now() WHERE id = $1 RETURNING *")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
        tracing::info!(dead_letter = %id, consumer = %row.consumer, message_id = %row.message_id,
            "dead letter replayed");
        Ok(Response::new(to_api(&replayed)))
    }
}
