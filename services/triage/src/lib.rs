//! Triage: consumes `komek.request.created`, decides category, priority and required skills with
//! the rules of `komek_core::triage`, stores the decision with an append-only audit entry, and
//! publishes `komek.request.triaged` through the outbox.

mod consumer;
mod grpc;
mod store;

use komek_proto::triage::v1::triage_service_server::{SERVICE_NAME, TriageServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::config::Base;
use komek_runtime::events::{self as bus_events, streams, subject};
use komek_runtime::service::{Background, Deps};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub const SCHEMA: &str = "triage";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50052);
        Self { base }
    }
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    serve(config, listener, shutdown).await
}

pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let deps = Deps::connect(&config.base, SCHEMA, &MIGRATOR).await?;
    let background = Background::new();
    background.spawn_relay(&deps);
    let created = deps
        .bus
        .durable_consumer(streams::REQUESTS, "triage", subject::REQUEST_CREATED)
        .await?;
    background.spawn(bus_events::consume(
        "triage",
        created,
        deps.pool.clone(),
        deps.bus.clone(),
        consumer::Classifier,
        background.token(),
    ));

    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(TriageServiceServer::new(grpc::Triage::new(
        deps.pool.clone(),
        deps.bus.clone(),
    )));
    background
        .serve_then_drain(&config.base, listener, routes, &[SERVICE_NAME], shutdown)
        .await
}
