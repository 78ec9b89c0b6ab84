//! gRPC serving shared by all services: standard health (`grpc.health.v1`), reflection over the
//! Komek descriptor set, graceful shutdown, and one mapping of domain errors to status codes.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::{Code, Status};
use tonic_health::ServingStatus;
use tonic_types::{ErrorDetails, StatusExt};

/// Serves `routes` on `listener` until `shutdown`, with health and (optionally) reflection.
/// `service_names` are the fully qualified gRPC service names reported SERVING.
pub async fn serve(
    listener: TcpListener,
    mut routes: RoutesBuilder,
    service_names: &[&'static str],
    reflection: bool,
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
    if reflection {
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(komek_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        routes.add_service(reflection);
    }

    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, services = ?service_names, "grpc listening");
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
    tonic::transport::Server::builder()
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stopping)
        .await?;
    Ok(())
}

/// One field at fault in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `location.point.latitude`.
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` detail listing every violation.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    let message = format!("invalid request: {}", fields.join(", "));
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// INTERNAL with no detail for the caller; the detail goes to the log.
pub fn internal(err: impl std::fmt::Display) -> Status {
    tracing::error!(error = %err, "internal error");
    Status::internal("internal error")
}
