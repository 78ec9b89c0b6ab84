//! Matching: keeps an in-memory index of volunteer groups rebuilt from the roster stream,
//! offers each triaged request to the nearest eligible group (PostgreSQL arbitrates capacity and
//! "one active assignment per request", so replicas never over-book), escalates when nobody is
//! eligible, and streams offers to volunteers.

mod api;
mod campaign;
mod config;
mod consumer;
mod contact;
mod convert;
mod events;
mod feed;
pub mod fuzz;
mod gauges;
mod index;
mod jobs;
mod ladder;
mod matcher;
mod model;
pub mod rebuild;
mod store;
mod validate;

pub use config::{Config, OfferTtl, Overdue};

use std::sync::Arc;
use std::time::Duration;

use komek_proto::matching::v1::assignment_service_server::{self, AssignmentServiceServer};
use komek_proto::matching::v1::dispatch_service_server::{self, DispatchServiceServer};
use komek_runtime::CancellationToken;
use komek_runtime::events::{Consumers, streams, subject};
use komek_runtime::follow;
use komek_runtime::pages::Pages;
use komek_runtime::service::Deps;
use tokio::net::TcpListener;

pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let urgent_from = komek_core::Priority::from_slug(&config.office_hours_waived_from)
        .ok_or_else(|| {
            anyhow::anyhow!("setting `office_hours_waived_from`: critical, high, normal or low")
        })?;
    let wide = config.wide_search.check()?;
    let (deps, background) = Deps::start(&config.base, store::SCHEMA, &store::MIGRATOR).await?;

    let index = Arc::new(index::GroupIndex::default());
    background.spawn(follow::follow(
        index.clone(),
        deps.bus.clone(),
        background.token(),
    ));

    let matcher = Arc::new(matcher::Matcher::new(
        index.clone(),
        deps.bus.clone(),
        config.offer_ttl.clone(),
        config.max_attempts.max(1) as i32,
        chrono::Duration::seconds(config.location_max_age_secs.min(i64::MAX as u64) as i64),
        urgent_from,
        wide,
    ));
    let callers = contact::Callers::new(&config.intake, deps.credentials.clone())?;
    background.spawn(callers.clone().fill_pending_notes(
        deps.pool.clone(),
        Duration::from_secs(2),
        background.token(),
    ));
    background.consume(
        "matching",
        Consumers::Durable {
            stream: streams::REQUESTS,
            durable: "matching",
            filter_subject: subject::REQUEST_TRIAGED,
        },
        &deps,
        consumer::Triaged::new(matcher.clone(), callers.clone()),
    );
    background.consume(
        "matching-erasures",
        Consumers::Durable {
            stream: streams::REQUESTS,
            durable: "matching-erasures",
            filter_subject: subject::REQUEST_ERASED,
        },
        &deps,
        consumer::Erasures,
    );
    background.spawn(ladder::run_expiry(
        deps.pool.clone(),
        deps.bus.clone(),
        matcher.clone(),
        Duration::from_millis(config.expiry_sweep_ms.max(10)),
        background.token(),
    ));

    // Requests called off. The consumer of every status change (three a request) was handed
    // them all only to skip those that were not; this one took over from it, where it had
    // got to.
    background.consume(
        "matching-closures",
        Consumers::After {
            stream: streams::REQUESTS,
            predecessor: "matching-closures",
            successors: vec![("matching-called-off", subject::REQUEST_CALLED_OFF)],
        },
        &deps,
        consumer::Closures {
            index: index.clone(),
        },
    );

    let overdue = Overdue {
        en_route_within: config.en_route_within.clone(),
        on_site_max_secs: config.on_site_max_secs,
    };
    background.spawn(gauges::run(
        deps.pool.clone(),
        index.clone(),
        overdue.clone(),
        background.token(),
    ));

    let assignments = api::Assignments::new(
        deps.pool.clone(),
        deps.bus.clone(),
        index.clone(),
        matcher.clone(),
        Duration::from_secs(config.keepalive_secs.max(1)),
        background.pumps(&deps, shutdown.clone()),
        callers,
    );
    let max = config.base.max_message_bytes;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(AssignmentServiceServer::new(assignments).max_decoding_message_size(max));
    routes.add_service(
        DispatchServiceServer::new(api::Dispatch::new(
            deps.pool.clone(),
            deps.bus.clone(),
            matcher,
            overdue,
            Pages::new(deps.credentials.page_tokens(), config.max_page_size),
            background.pumps(&deps, shutdown.clone()),
        ))
        .max_decoding_message_size(max),
    );
    let names = [
        assignment_service_server::SERVICE_NAME,
        dispatch_service_server::SERVICE_NAME,
    ];
    background
        .serve_then_drain(&deps, listener, routes, &names, None, shutdown)
        .await
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    serve(config, listener, shutdown).await
}
