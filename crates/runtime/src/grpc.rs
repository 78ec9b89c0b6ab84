//! gRPC serving shared by all services: standard health (`grpc.health.v1`), reflection over the
//! Komek descriptor set, the authentication gate, TLS and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::auth::gate::{Gate, GateLayer};
use crate::config::{Base, Tls, Upstream};
use crate::deadline::DeadlineLayer;
use crate::spread::Spread;
use crate::trace::TraceLayer;

/// The standard health service every listener serves.
const HEALTH: &str = "grpc.health.v1.Health";

/// How a listener serves: reflection, TLS, the longest unary call, and the gate.
pub struct Listening<'a> {
    pub reflection: bool,
    pub tls: &'a Tls,
    pub request_timeout: Duration,
    pub gate: Arc<Gate>,
}

impl<'a> Listening<'a> {
    /// The service's main listener as its base settings describe it.
    pub fn of(base: &'a Base, gate: Arc<Gate>) -> Self {
        Self {
            reflection: base.reflection,
            tls: &base.tls,
            request_timeout: Duration::from_secs(base.request_timeout_secs.max(1)),
            gate,
        }
    }
}

fn read_pem(path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {path}"))
}

/// The rustls server configuration of `tls`, or None for plain text.
pub fn server_tls(tls: &Tls) -> anyhow::Result<Option<ServerTlsConfig>> {
    if !tls.enabled() {
        return Ok(None);
    }
    anyhow::ensure!(
        !tls.cert_file.is_empty() && !tls.key_file.is_empty(),
        "setting `tls`: cert_file and key_file go together"
    );
    let identity = Identity::from_pem(
        read_pem(&tls.cert_file, "tls.cert_file")?,
        read_pem(&tls.key_file, "tls.key_file")?,
    );
    let mut config = ServerTlsConfig::new().identity(identity);
    if !tls.client_ca_file.is_empty() {
        let ca = Certificate::from_pem(read_pem(&tls.client_ca_file, "tls.client_ca_file")?);
        config = config
            .client_ca_root(ca)
            .client_auth_optional(tls.client_auth_optional);
    }
    Ok(Some(config))
}

/// A channel to another service, connected on first use, with TLS (and a client certificate
/// for mutual TLS) when the upstream says so. Several URLs separated by commas are the
/// service's replicas: calls are spread over them (see [`Spread`]).
pub fn upstream_channel(upstream: &Upstream) -> anyhow::Result<Spread> {
    let urls: Vec<&str> = upstream
        .url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    anyhow::ensure!(!urls.is_empty(), "upstream url is empty");
    let channels = urls
        .into_iter()
        .map(|url| replica_channel(url, upstream))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Spread::new(channels))
}

fn replica_channel(url: &str, upstream: &Upstream) -> anyhow::Result<Channel> {
    let mut endpoint = Channel::from_shared(url.to_string())
        .with_context(|| format!("upstream url {url:?}"))?
        .connect_timeout(Duration::from_secs(5));
    if url.starts_with("https://") {
        anyhow::ensure!(
            !upstream.ca_file.is_empty(),
            "upstream {url}: https needs ca_file"
        );
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(
            &upstream.ca_file,
            "ca_file",
        )?));
        if !upstream.cert_file.is_empty() {
            tls = tls.identity(Identity::from_pem(
                read_pem(&upstream.cert_file, "cert_file")?,
                read_pem(&upstream.key_file, "key_file")?,
            ));
        }
        if !upstream.domain.is_empty() {
            tls = tls.domain_name(upstream.domain.clone());
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect_lazy())
}

/// Serves `routes` on `listener` until `shutdown`, with health and (optionally) reflection,
/// every other call passing the gate. `service_names` are the fully qualified gRPC service
/// names reported SERVING.
pub async fn serve(
    listener: TcpListener,
    mut routes: RoutesBuilder,
    service_names: &[&'static str],
    listening: Listening<'_>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    routes.add_service(health);
    if listening.reflection {
        // Both versions of the reflection protocol: grpcurl speaks v1, grpcio's client and
        // older tools v1alpha. Each lists what this port serves, not every Komek service.
        let reflection = || {
            let mut builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(komek_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            for name in service_names.iter().chain(&[
                HEALTH,
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]) {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        routes.add_service(reflection().build_v1()?);
        routes.add_service(reflection().build_v1alpha()?);
    }

    let addr: SocketAddr = listener.local_addr()?;
    let tls = server_tls(listening.tls)?;
    tracing::info!(%addr, services = ?service_names, tls = tls.is_some(), "grpc listening");
    let stopping = async move {
        shutdown.cancelled().await;
        // Tell load balancers first, then stop accepting and let in-flight calls finish.
        for name in service_names {
            reporter
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    };
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        // Pings keep idle streams (offers, watches) open through mobile networks and NATs.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .layer(TraceLayer)
        .layer(GateLayer::new(listening.gate))
        .layer(DeadlineLayer::new(listening.request_timeout))
        .add_routes(routes.routes())
        // Nagle's algorithm would hold back the tail of a multi-packet answer until the
        // client's delayed ACK (about 40 ms); tonic's own nodelay setting does not apply to
        // listeners it is handed.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    Ok(())
}
