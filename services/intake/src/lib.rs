//! Intake: the front door. Operators, partners and the app create help requests here; each gets
//! a reference code, is stored, and is announced as `komek.request.created` through the outbox.
//! Intake keeps each request's status current from triage and assignment events.

mod consumer;
mod events;
mod grpc;
mod model;
pub mod pii;
mod store;

use komek_proto::intake::v1::intake_service_server::{IntakeServiceServer, SERVICE_NAME};
use komek_runtime::CancellationToken;
use komek_runtime::config::Base;
use komek_runtime::events::{self as bus_events, streams};
use komek_runtime::service::{Background, Deps};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// PostgreSQL schema of this service.
pub const SCHEMA: &str = "intake";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    /// Largest page ListRequests returns.
    pub max_page_size: u32,
    /// Keys for caller personal data; without them, caller name and phone are refused.
    pub pii: pii::Config,
    /// Where requests may be located; coordinates outside are refused. None: anywhere.
    pub service_area: Option<ServiceArea>,
}

/// A latitude/longitude box, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceArea {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lon: f64,
    pub max_lon: f64,
}

impl ServiceArea {
    /// Kazakhstan's bounding box, as used to build the settlement gazetteer.
    pub const KAZAKHSTAN: ServiceArea = ServiceArea {
        min_lat: 40.5,
        max_lat: 55.5,
        min_lon: 46.4,
        max_lon: 87.4,
    };

    pub fn contains(&self, p: komek_core::GeoPoint) -> bool {
        (self.min_lat..=self.max_lat).contains(&p.lat())
            && (self.min_lon..=self.max_lon).contains(&p.lon())
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50051);
        Self {
            base,
            max_page_size: 100,
            pii: pii::Config::default(),
            service_area: None,
        }
    }
}

/// Binds `config.base.listen` and serves until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    serve(config, listener, shutdown).await
}

/// Serves on `listener` until `shutdown`, then drains in-flight calls and background work.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let deps = Deps::connect(&config.base, SCHEMA, &MIGRATOR).await?;
    let background = Background::new();
    background.spawn_relay(&deps);

    let requests = deps
        .bus
        .durable_consumer(streams::REQUESTS, "intake", "komek.request.>")
        .await?;
    let assignments = deps
        .bus
        .durable_consumer(streams::ASSIGNMENTS, "intake", "komek.assignment.>")
        .await?;
    for (name, consumer) in [
        ("intake.requests", requests),
        ("intake.assignments", assignments),
    ] {
        background.spawn(bus_events::consume(
            name,
            consumer,
            deps.pool.clone(),
            deps.bus.clone(),
            consumer::StatusKeeper,
            background.token(),
        ));
    }

    let vault = pii::Vault::from_config(&config.pii)?.map(std::sync::Arc::new);
    if vault.is_none() {
        tracing::warn!("no pii keys configured: caller names and phones will be refused");
    }
    let service = grpc::Intake::new(
        deps.pool.clone(),
        deps.bus.clone(),
        config.max_page_size,
        config.service_area,
        vault,
    );
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(IntakeServiceServer::new(service));
    background
        .serve_then_drain(&config.base, listener, routes, &[SERVICE_NAME], shutdown)
        .await
}
