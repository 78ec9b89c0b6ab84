//! Roster: organisations, their volunteer groups and volunteers. Every change to a group
//! publishes the group's whole latest state on `komek.roster.group.{id}`; the roster stream keeps
//! the last message per group, so the matcher rebuilds its index by reading the stream.

mod api;
mod config;
mod convert;
mod events;
pub mod fuzz;
mod model;
mod store;
mod validate;

pub use config::Config;

use komek_proto::access::v1::access_service_server::{self, AccessServiceServer};
use komek_proto::roster::v1::roster_service_server::{RosterServiceServer, SERVICE_NAME};
use komek_runtime::CancellationToken;
use komek_runtime::pages::Pages;
use komek_runtime::service::Deps;
use tokio::net::TcpListener;

pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (deps, background) = Deps::start_feeding(
        &config.base,
        store::SCHEMA,
        &store::MIGRATOR,
        &store::SNAPSHOTS,
    )
    .await?;

    let pages = Pages::new(deps.credentials.page_tokens(), config.max_page_size);
    let service = api::Roster::new(deps.pool.clone(), deps.bus.clone(), pages.clone());
    let access = api::Access::new(
        deps.pool.clone(),
        deps.bus.clone(),
        deps.credentials.clone(),
        pages,
    );
    let max = config.base.max_message_bytes;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(RosterServiceServer::new(service).max_decoding_message_size(max));
    routes.add_service(AccessServiceServer::new(access).max_decoding_message_size(max));
    let names = [SERVICE_NAME, access_service_server::SERVICE_NAME];
    background
        .serve_then_drain(&deps, listener, routes, &names, None, shutdown)
        .await
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.base.listen).await?;
    serve(config, listener, shutdown).await
}
