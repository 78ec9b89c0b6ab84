//! Triage: consumes `komek.request.created`, decides category, priority and required skills with
//! the rules of `komek_core::triage`, stores the decision with an append-only audit entry, and
//! publishes `komek.request.triaged` through the outbox.

mod consumer;
mod grpc;
mod store;

use std::path::PathBuf;
use std::sync::Arc;

use komek_core::duplicates::Window;
use komek_core::triage::RuleSet;
use komek_proto::triage::v1::triage_service_server::{SERVICE_NAME, TriageServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::config::Base;
use komek_runtime::events::{self as bus_events, streams, subject};
use komek_runtime::service::{Background, Deps};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub const SCHEMA: &str = "triage";

/// The rule set shipped with the service, used unless `rules_file` names another.
pub const DEFAULT_RULES: &str = include_str!("../rules/triage.toml");

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    /// A rule file to use in place of the shipped one.
    pub rules_file: Option<PathBuf>,
    pub duplicates: Duplicates,
}

/// When a new request is linked to an earlier one as a possible duplicate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Duplicates {
    /// The same caller (by blind index) within this many hours.
    pub caller_window_hours: u32,
    /// The same category at the same place within this many hours.
    pub place_window_hours: u32,
    /// Coordinates this close, in metres, are the same place.
    pub place_radius_m: f64,
}

impl Default for Duplicates {
    fn default() -> Self {
        let w = Window::default();
        Self {
            caller_window_hours: (w.caller_secs / 3600) as u32,
            place_window_hours: (w.place_secs / 3600) as u32,
            place_radius_m: w.radius_m,
        }
    }
}

impl Duplicates {
    pub fn window(&self) -> anyhow::Result<Window> {
        if !(self.place_radius_m.is_finite() && self.place_radius_m >= 0.0) {
            anyhow::bail!("duplicates.place_radius_m must be a non-negative number of metres");
        }
        Ok(Window {
            caller_secs: i64::from(self.caller_window_hours) * 3600,
            place_secs: i64::from(self.place_window_hours) * 3600,
            radius_m: self.place_radius_m,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50052);
        Self {
            base,
            rules_file: None,
            duplicates: Duplicates::default(),
        }
    }
}

impl Config {
    /// Reads and validates the rule set; a bad file stops the service at start with the place
    /// of the error, rather than classifying with half a rule set.
    pub fn rules(&self) -> anyhow::Result<RuleSet> {
        match &self.rules_file {
            Some(path) => {
                let source = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("rules_file {}: {e}", path.display()))?;
                RuleSet::from_toml(&source)
                    .map_err(|e| anyhow::anyhow!("rules_file {}: {e}", path.display()))
            }
            None => Ok(RuleSet::from_toml(DEFAULT_RULES)?),
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
    let rules = Arc::new(config.rules()?);
    let window = config.duplicates.window()?;
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
        consumer::Classifier::new(rules.clone(), window),
        background.token(),
    ));

    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        TriageServiceServer::new(grpc::Triage::new(
            deps.pool.clone(),
            deps.bus.clone(),
            rules,
        ))
        .max_decoding_message_size(config.base.max_message_bytes),
    );
    background
        .serve_then_drain(
            &deps,
            &config.base,
            listener,
            routes,
            &[SERVICE_NAME],
            shutdown,
        )
        .await
}
