//! Matching: keeps an in-memory index of volunteer groups rebuilt from the roster stream,
//! offers each triaged request to the nearest eligible group (PostgreSQL arbitrates capacity and
//! "one active assignment per request", so replicas never over-book), escalates when nobody is
//! eligible, and streams offers to volunteers.

mod assignment;
mod campaign;
mod closures;
mod contact;
mod dispatch;
mod index;
mod ladder;
mod matcher;
mod store;

use std::sync::Arc;
use std::time::Duration;

use komek_proto::matching::v1::assignment_service_server::{self, AssignmentServiceServer};
use komek_proto::matching::v1::dispatch_service_server::{self, DispatchServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::config::{Base, Upstream};
use komek_runtime::events::{self as bus_events, streams, subject};
use komek_runtime::service::{Background, Deps};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub const SCHEMA: &str = "matching";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    pub offer_ttl: OfferTtl,
    /// Seconds between keepalive events on an idle offer stream.
    pub keepalive_secs: u64,
    /// Offers made to one request (declined or expired ones included) before it goes to
    /// dispatchers.
    pub max_attempts: u32,
    /// Milliseconds between sweeps for expired offers.
    pub expiry_sweep_ms: u64,
    /// A group's reported location older than this, in seconds, makes it ineligible until it
    /// reports again. Groups that never report are placed at their base.
    pub location_max_age_secs: u64,
    /// Intake, asked for a caller's contact when a group accepts.
    pub intake: Upstream,
    /// An accepted job not en route within this long, by priority, is overdue.
    pub en_route_within: OfferTtl,
    /// A job on site longer than this, in seconds, is overdue.
    pub on_site_max_secs: u64,
    /// Largest page of queues and audit entries.
    pub max_page_size: u32,
}

/// A time per priority, in seconds: how long a group has to answer an offer, or to set out
/// after accepting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OfferTtl {
    pub critical_secs: u64,
    pub high_secs: u64,
    pub normal_secs: u64,
    pub low_secs: u64,
}

impl Default for OfferTtl {
    fn default() -> Self {
        Self {
            critical_secs: 5 * 60,
            high_secs: 15 * 60,
            normal_secs: 60 * 60,
            low_secs: 4 * 3600,
        }
    }
}

impl OfferTtl {
    pub fn for_priority(&self, priority: komek_core::Priority) -> Duration {
        use komek_core::Priority::*;
        Duration::from_secs(match priority {
            Critical => self.critical_secs,
            High => self.high_secs,
            Normal => self.normal_secs,
            Low => self.low_secs,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50054);
        Self {
            base,
            offer_ttl: OfferTtl::default(),
            keepalive_secs: 30,
            max_attempts: 5,
            expiry_sweep_ms: 5000,
            location_max_age_secs: 3600,
            intake: Upstream {
                url: "http://127.0.0.1:50051".into(),
                ..Default::default()
            },
            en_route_within: OfferTtl {
                critical_secs: 10 * 60,
                high_secs: 30 * 60,
                normal_secs: 2 * 3600,
                low_secs: 8 * 3600,
            },
            on_site_max_secs: 4 * 3600,
            max_page_size: 100,
        }
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

    let index = Arc::new(index::GroupIndex::default());
    let follower = index::RosterFollower::new(deps.bus.clone(), index.clone());
    background.spawn(follower.run(background.token()));

    let triaged = deps
        .bus
        .durable_consumer(streams::REQUESTS, "matching", subject::REQUEST_TRIAGED)
        .await?;
    let matcher = Arc::new(matcher::Matcher::new(
        index.clone(),
        deps.bus.clone(),
        config.offer_ttl.clone(),
        config.max_attempts.max(1) as i32,
        chrono::Duration::seconds(config.location_max_age_secs.min(i64::MAX as u64) as i64),
    ));
    background.spawn(bus_events::consume(
        "matching",
        triaged,
        deps.pool.clone(),
        deps.bus.clone(),
        matcher.clone(),
        background.token(),
    ));
    background.spawn(ladder::run_expiry(
        deps.pool.clone(),
        deps.bus.clone(),
        matcher.clone(),
        Duration::from_millis(config.expiry_sweep_ms.max(10)),
        background.token(),
    ));

    let closed = deps
        .bus
        .durable_consumer(
            streams::REQUESTS,
            "matching-closures",
            subject::REQUEST_STATUS_CHANGED,
        )
        .await?;
    background.spawn(bus_events::consume(
        "matching-closures",
        closed,
        deps.pool.clone(),
        deps.bus.clone(),
        closures::Closures,
        background.token(),
    ));

    let assignments = assignment::Assignments::new(
        deps.pool.clone(),
        deps.bus.clone(),
        index.clone(),
        matcher.clone(),
        Duration::from_secs(config.keepalive_secs.max(1)),
        shutdown.clone(),
        contact::Callers::new(&config.intake, deps.credentials.clone())?,
    );
    let max = config.base.max_message_bytes;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(AssignmentServiceServer::new(assignments).max_decoding_message_size(max));
    routes.add_service(
        DispatchServiceServer::new(dispatch::Dispatch::new(
            deps.pool.clone(),
            deps.bus.clone(),
            matcher,
            dispatch::Overdue {
                en_route_within: config.en_route_within.clone(),
                on_site_max_secs: config.on_site_max_secs,
            },
            config.max_page_size.max(1),
            shutdown.clone(),
        ))
        .max_decoding_message_size(max),
    );
    let names = [
        assignment_service_server::SERVICE_NAME,
        dispatch_service_server::SERVICE_NAME,
    ];
    background
        .serve_then_drain(&deps, &config.base, listener, routes, &names, shutdown)
        .await
}
