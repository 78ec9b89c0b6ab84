//! Intake: the front door. Operators, partners and the app create help requests here; each gets
//! a reference code, is stored, and is announced as `komek.request.created` through the outbox.
//! Intake keeps each request's status current from triage and assignment events.

mod consumer;
mod events;
mod grpc;
mod model;
mod partner;
pub mod pii;
mod store;

use komek_proto::intake::v1::intake_service_server::{IntakeServiceServer, SERVICE_NAME};
use komek_proto::partner::v1::partner_service_server::{self, PartnerServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::config::Base;
use komek_runtime::events::{self as bus_events, streams};
use komek_runtime::service::{Background, Deps, ExtraListener};
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
    /// IANA zone whose calendar months partners' statistics use.
    pub stats_time_zone: String,
    /// A second listener serving only PartnerService (and health), for exposing to partner
    /// organisations apart from the operators' API. PartnerService is on the main listener too.
    pub partner_listener: Option<PartnerListener>,
}

/// The partner-facing listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnerListener {
    pub listen: std::net::SocketAddr,
    /// Reflection here is off unless asked for: outsiders need not see the whole API.
    pub reflection: bool,
    pub tls: komek_runtime::config::Tls,
}

impl Default for PartnerListener {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 50055)),
            reflection: false,
            tls: Default::default(),
        }
    }
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
            stats_time_zone: "Asia/Almaty".into(),
            partner_listener: None,
        }
    }
}

/// Binds `config.base.listen` (and the partner listener, if any) and serves until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    let partner = match &config.partner_listener {
        Some(p) => Some(TcpListener::bind(p.listen).await?),
        None => None,
    };
    serve_with_partner(config, listener, partner, shutdown).await
}

/// Serves on `listener` until `shutdown`, then drains in-flight calls and background work.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_with_partner(config, listener, None, shutdown).await
}

/// [`serve`], plus PartnerService alone on `partner_listener` when given.
pub async fn serve_with_partner(
    config: Config,
    listener: TcpListener,
    partner_listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    komek_core::schedule::zone(&config.stats_time_zone)
        .map_err(|_| anyhow::anyhow!("setting `stats_time_zone`: not an IANA time zone"))?;
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
    let partner = || {
        PartnerServiceServer::new(partner::Partner::new(
            deps.pool.clone(),
            deps.bus.clone(),
            config.max_page_size,
            config.stats_time_zone.clone(),
            shutdown.clone(),
        ))
        .max_decoding_message_size(config.base.max_message_bytes)
    };
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        IntakeServiceServer::new(service).max_decoding_message_size(config.base.max_message_bytes),
    );
    routes.add_service(partner());

    let extra = match (partner_listener, &config.partner_listener) {
        (Some(listener), Some(settings)) => {
            let mut routes = tonic::service::RoutesBuilder::default();
            routes.add_service(partner());
            Some(ExtraListener {
                listener,
                routes,
                service_names: vec![partner_service_server::SERVICE_NAME],
                reflection: settings.reflection,
                tls: settings.tls.clone(),
            })
        }
        _ => None,
    };
    background
        .serve_all_then_drain(
            &deps,
            &config.base,
            listener,
            routes,
            &[SERVICE_NAME, partner_service_server::SERVICE_NAME],
            extra,
            shutdown,
        )
        .await
}
