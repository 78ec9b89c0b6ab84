//! Traces across services: W3C trace context (`traceparent`) carried in gRPC metadata, in NATS
//! message headers and in the outbox rows between them, and a span around every call a
//! service serves.
//!
//! Spans are `tracing` spans; the OpenTelemetry layer that `telemetry::init` installs (when an
//! OTLP endpoint is set) turns them into OpenTelemetry spans. Without that layer a span has no
//! trace context, nothing is carried, and these functions cost next to nothing.

use std::collections::HashMap;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics;

/// The W3C header (and NATS header, and metadata key) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of `span`, when it belongs to a sampled trace.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of the span the caller is in.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// Makes `span` a child of the trace `traceparent` names; a missing or malformed value leaves
/// the span where it is (a new trace, or the current one).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_string(), value.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the span `traceparent` names: work done for one trace at the request of
/// another (a volunteer's call moving a request's job along).
pub fn link(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Tower layer opening a server span around every gRPC call (health and reflection aside),
/// continuing the caller's trace when the call carries `traceparent`, and counting the call
/// and its time by method and code in the service's metrics.
#[derive(Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traced { inner }
    }
}

#[derive(Clone)]
pub struct Traced<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh one waits.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        // Probes and tool discovery would bury the calls people make.
        if path.starts_with("/grpc.") {
            return Box::pin(inner.call(request));
        }
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        let span = tracing::info_span!(
            "grpc",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        let parent = request
            .headers()
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok());
        continue_trace(&span, parent);
        let (service, method) = (service.to_string(), method.to_string());
        let call = inner.call(request);
        let recorded = span.clone();
        let started = std::time::Instant::now();
        Box::pin(
            async move {
                let response = call.await?;
                // A failed call answers with its status in the headers; a successful one
                // sends it in the trailers, after the body.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
                recorded.record("rpc.grpc.status_code", code);
                count_call(&service, &method, code, started.elapsed());
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Every "package.Service/Method" of Komek's API, from the descriptor set the servers are
/// built from.
static KNOWN_METHODS: std::sync::LazyLock<std::collections::HashSet<String>> =
    std::sync::LazyLock::new(|| {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(komek_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        set.file
            .iter()
            .flat_map(|file| {
                file.service.iter().flat_map(move |service| {
                    service.method.iter().map(move |method| {
                        format!("{}.{}/{}", file.package(), service.name(), method.name())
                    })
                })
            })
            .collect()
    });

/// Counts one served call. Paths that name no method of the API are counted as one "unknown"
/// method, so a client making up names cannot make up series.
fn count_call(service: &str, method: &str, code: i32, took: std::time::Duration) {
    let code_name = format!("{:?}", tonic::Code::from_i32(code));
    let (service, method) = if KNOWN_METHODS.contains(&format!("{service}/{method}")) {
        (service, method)
    } else {
        ("unknown", "unknown")
    };
    metrics::count(
        "komek_grpc_server_handled_total",
        "gRPC calls served, by service, method and status code.",
        &[
            ("grpc_service", service),
            ("grpc_method", method),
            ("grpc_code", &code_name),
        ],
        1,
    );
    metrics::observe(
        "komek_grpc_server_handling_seconds",
        "Time to answer a gRPC call (to the first response of a stream), in seconds.",
        metrics::LATENCY_BUCKETS,
        &[("grpc_service", service), ("grpc_method", method)],
        took.as_secs_f64(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_methods_are_known_and_made_up_ones_are_not() {
        assert!(KNOWN_METHODS.contains("komek.intake.v1.IntakeService/CreateRequest"));
        assert!(KNOWN_METHODS.contains("komek.matching.v1.AssignmentService/AcceptOffer"));
        assert!(!KNOWN_METHODS.contains("komek.intake.v1.IntakeService/DropTables"));
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_carried() {
        let span = tracing::info_span!("no exporter");
        assert_eq!(traceparent_of(&span), None);
        // A malformed parent is ignored, not an error.
        continue_trace(&span, Some("not a traceparent"));
    }
}
