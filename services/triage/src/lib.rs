//! Triage: consumes `komek.request.created` (reading the request's notes from intake), decides category, priority and required skills with
//! the statistical model and the rules of `komek_core::triage`, stores the decision with an
//! append-only audit entry, and publishes `komek.request.triaged` through the outbox.

mod api;
mod config;
mod consumer;
mod convert;
mod events;
pub mod fuzz;
pub mod learning;
mod notes;
mod store;
mod validate;

use std::sync::Arc;

pub use config::{Config, DEFAULT_MODEL, DEFAULT_RULES, Duplicates};
use komek_proto::triage::v1::triage_service_server::{SERVICE_NAME, TriageServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::events::{Consumers, streams, subject};
use komek_runtime::pages::Pages;
use komek_runtime::service::Deps;
use tokio::net::TcpListener;

pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let triage = Arc::new(config.triage()?);
    tracing::info!(
        rules = triage.rules().version(),
        model = triage.model().map_or("none", |m| m.version()),
        "triage loaded"
    );
    let window = config.duplicates.window()?;
    let (deps, background) = Deps::start(&config.base, store::SCHEMA, &store::MIGRATOR).await?;
    background.consume(
        "triage",
        Consumers::Durable {
            stream: streams::REQUESTS,
            durable: "triage",
            filter_subject: subject::REQUEST_CREATED,
        },
        &deps,
        consumer::Classifier::new(
            triage.clone(),
            window,
            notes::Intake::new(&config.intake, deps.credentials.clone())?,
        ),
    );
    background.consume(
        "triage-erasures",
        Consumers::Durable {
            stream: streams::REQUESTS,
            durable: "triage-erasures",
            filter_subject: subject::REQUEST_ERASED,
        },
        &deps,
        consumer::Eraser,
    );

    // The audit log of one request is short; a page holds at most 100 entries.
    let pages = Pages::new(deps.credentials.page_tokens(), 100);
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        TriageServiceServer::new(api::Triage::new(
            deps.pool.clone(),
            deps.bus.clone(),
            triage,
            pages,
        ))
        .max_decoding_message_size(config.base.max_message_bytes),
    );
    background
        .serve_then_drain(&deps, listener, routes, &[SERVICE_NAME], None, shutdown)
        .await
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    serve(config, listener, shutdown).await
}
