//! Intake: the front door. Operators, partners and the app create help requests here; each gets
//! a reference code, is stored, and is announced as `komek.request.created` through the outbox.
//! Intake keeps each request's status current from triage and assignment events.

mod api;
mod config;
mod consumer;
mod convert;
mod events;
pub mod fuzz;
mod model;
pub mod pii;
mod plans;
mod rekey;
mod retention;
mod store;
mod validate;
mod waiters;
mod waiting;

pub use config::{Config, PartnerListener, ServiceArea};

use komek_proto::intake::v1::intake_service_server::{IntakeServiceServer, SERVICE_NAME};
use komek_proto::intake::v1::plan_service_server::{self, PlanServiceServer};
use komek_proto::partner::v1::partner_service_server::{self, PartnerServiceServer};
use komek_proto::places::v1::place_service_server::{self, PlaceServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::events::{Consumers, streams, subject};
use komek_runtime::pages::Pages;
use komek_runtime::service::{Deps, ExtraListener};
use tokio::net::TcpListener;

/// Serves on `listener` until `shutdown`, then drains in-flight calls and background work.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Box::pin(serve_with_partner(config, listener, None, shutdown)).await
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
    config
        .waiting_limits
        .check()
        .map_err(|e| anyhow::anyhow!("setting `{e}`"))?;
    let (deps, background) = Deps::start(&config.base, store::SCHEMA, &store::MIGRATOR).await?;

    // Triage's four events of the requests stream, a consumer each: one consumer of the
    // whole stream was handed intake's own events too (the creation and every status change,
    // four a request) only to skip them. They took over from it, where it had got to.
    let waiters = std::sync::Arc::new(waiters::Waiters::default());
    background.consume(
        "intake.requests",
        Consumers::After {
            stream: streams::REQUESTS,
            predecessor: "intake",
            successors: vec![
                ("intake-triaged", subject::REQUEST_TRIAGED),
                ("intake-escalated", subject::REQUEST_ESCALATED),
                ("intake-merged", subject::REQUEST_MERGED),
                ("intake-deferred", subject::REQUEST_DEFERRED),
            ],
        },
        &deps,
        consumer::StatusKeeper::new(waiters.clone()),
    );
    background.consume(
        "intake.assignments",
        Consumers::Durable {
            stream: streams::ASSIGNMENTS,
            durable: "intake",
            filter_subject: "komek.assignment.>",
        },
        &deps,
        consumer::StatusKeeper::new(waiters.clone()),
    );

    background.spawn(waiting::run(
        deps.pool.clone(),
        deps.bus.clone(),
        config.waiting_limits.clone(),
        std::time::Duration::from_secs(config.waiting_sweep_secs.max(1)),
        background.token(),
    ));

    if config.retention_secs > 0 {
        background.spawn(retention::run(
            deps.pool.clone(),
            deps.bus.clone(),
            std::time::Duration::from_secs(config.retention_secs),
            std::time::Duration::from_secs(config.retention_sweep_secs.max(1)),
            background.token(),
        ));
    }

    let vault = pii::Vault::from_config(&config.pii)?.map(std::sync::Arc::new);
    match &vault {
        None => tracing::warn!("no pii keys configured: caller names and phones will be refused"),
        Some(vault) => background.spawn(rekey::run(
            deps.pool.clone(),
            vault.clone(),
            background.token(),
        )),
    }
    let pages = Pages::new(deps.credentials.page_tokens(), config.max_page_size);
    background.spawn(plans::run(
        deps.pool.clone(),
        deps.bus.clone(),
        config.service_area,
        vault.clone(),
        std::time::Duration::from_secs(config.plan_sweep_secs.max(1)),
        background.token(),
    ));
    let plan_service = api::Plans::new(
        deps.pool.clone(),
        deps.bus.clone(),
        pages.clone(),
        config.service_area,
        vault.clone(),
    );
    let service = api::Intake::new(
        deps.pool.clone(),
        deps.bus.clone(),
        pages.clone(),
        config.service_area,
        vault,
        waiters,
    );
    let partner = || {
        PartnerServiceServer::new(api::Partner::new(
            deps.pool.clone(),
            deps.bus.clone(),
            pages.clone(),
            config.stats_time_zone.clone(),
            background.pumps(&deps, shutdown.clone()),
        ))
        .max_decoding_message_size(config.base.max_message_bytes)
    };
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        IntakeServiceServer::new(service).max_decoding_message_size(config.base.max_message_bytes),
    );
    routes.add_service(partner());
    routes.add_service(
        PlanServiceServer::new(plan_service)
            .max_decoding_message_size(config.base.max_message_bytes),
    );
    routes.add_service(
        PlaceServiceServer::new(api::Places)
            .max_decoding_message_size(config.base.max_message_bytes),
    );

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
    let names = [
        SERVICE_NAME,
        partner_service_server::SERVICE_NAME,
        plan_service_server::SERVICE_NAME,
        place_service_server::SERVICE_NAME,
    ];
    background
        .serve_then_drain(&deps, listener, routes, &names, extra, shutdown)
        .await
}

/// Binds `config.base.listen` (and the partner listener, if any) and serves until `shutdown`.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    let partner = match &config.partner_listener {
        Some(p) => Some(TcpListener::bind(p.listen).await?),
        None => None,
    };
    // Boxed: the server and its two listeners make a large future.
    Box::pin(serve_with_partner(config, listener, partner, shutdown)).await
}
