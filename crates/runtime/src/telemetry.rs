//! Logs and traces. Logs go to stderr (human lines, or JSON objects carrying the trace and span
//! ids); spans are exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and
//! flushed when the guard drops.

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Log;

/// Flushes and stops the span exporter on drop.
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {err}");
        }
    }
}

/// Installs the global subscriber for `service`. Call once from `main`; a second call (as in
/// tests that run several services in one process) keeps the first subscriber.
pub fn init(service: &'static str, log: &Log) -> anyhow::Result<Guard> {
    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(otlp_provider(service)?),
        _ => None,
    };
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&log.filter))?;
    if !install(
        service,
        filter,
        log.json,
        BoxMakeWriter::new(std::io::stderr),
        provider.as_ref(),
    ) {
        // Already installed in this process; the spans of this service go to the first one.
        return Ok(Guard { provider: None });
    }
    Ok(Guard { provider })
}

/// Installs the global subscriber: log lines through `writer` (JSON objects when `json`,
/// each with the trace and span ids of the span it was written in), and spans to `provider`
/// when given. False when a global subscriber was installed already.
pub fn install(
    service: &'static str,
    filter: EnvFilter,
    json: bool,
    writer: BoxMakeWriter,
    provider: Option<&SdkTracerProvider>,
) -> bool {
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    };
    let otel = provider.map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok()
}

/// A JSON log line with `trace_id` and `span_id` first, when the line was written inside a
/// traced span, so a log search finds every line of one request's trace.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.lookup_current().and_then(|span| {
            let cx = tracing::dispatcher::get_default(|d| {
                tracing_opentelemetry::get_otel_context(&span.id(), d)
            })?;
            let otel = cx.span();
            let sc = otel.span_context();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        match (ids, line.strip_prefix('{')) {
            (Some((trace, span)), Some(rest)) => write!(
                writer,
                "{{\"trace_id\":\"{trace}\",\"span_id\":\"{span}\",{rest}"
            ),
            _ => writer.write_str(&line),
        }
    }
}

fn otlp_provider(service: &'static str) -> anyhow::Result<SdkTracerProvider> {
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT and the other standard variables itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
