//! Prometheus metrics of one service process, served as text on `GET /metrics` of the
//! `metrics_listen` address.
//!
//! A small registry of counters, gauges and histograms keyed by name and labels, written in
//! the Prometheus text exposition format (version 0.0.4). A process runs one service, so the
//! registry is the process's; Prometheus adds the job and instance labels itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Upper bounds of the latency histograms, in seconds: from a cached read to a slow write.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

enum Value {
    Number(f64),
    Histogram {
        bounds: &'static [f64],
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

struct Family {
    help: &'static str,
    kind: Kind,
    series: BTreeMap<Vec<(&'static str, String)>, Value>,
}

#[derive(Default)]
struct Registry {
    families: BTreeMap<&'static str, Family>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

fn with_series(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &[(&'static str, &str)],
    fresh: impl FnOnce() -> Value,
    update: impl FnOnce(&mut Value),
) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let family = registry.families.entry(name).or_insert_with(|| Family {
        help,
        kind,
        series: BTreeMap::new(),
    });
    debug_assert!(family.kind == kind, "{name} registered as two kinds");
    let key: Vec<(&'static str, String)> =
        labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
    update(family.series.entry(key).or_insert_with(fresh));
}

/// Declares a counter whose labels are not known in advance, so it is listed (with no samples)
/// before its first count.
pub fn declare_counter(name: &'static str, help: &'static str) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.families.entry(name).or_insert_with(|| Family {
        help,
        kind: Kind::Counter,
        series: BTreeMap::new(),
    });
}

/// Adds `by` to a counter.
pub fn count(name: &'static str, help: &'static str, labels: &[(&'static str, &str)], by: u64) {
    with_series(
        name,
        help,
        Kind::Counter,
        labels,
        || Value::Number(0.0),
        |v| {
            if let Value::Number(n) = v {
                *n += by as f64;
            }
        },
    );
}

/// Sets a gauge.
pub fn set(name: &'static str, help: &'static str, labels: &[(&'static str, &str)], value: f64) {
    with_series(
        name,
        help,
        Kind::Gauge,
        labels,
        || Value::Number(0.0),
        |v| *v = Value::Number(value),
    );
}

/// Sets every series of a gauge at once: series not in `values` go (a region whose queue
/// emptied is no longer reported, rather than reported stale).
pub fn set_all(
    name: &'static str,
    help: &'static str,
    values: Vec<(Vec<(&'static str, String)>, f64)>,
) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let family = registry.families.entry(name).or_insert_with(|| Family {
        help,
        kind: Kind::Gauge,
        series: BTreeMap::new(),
    });
    family.series = values
        .into_iter()
        .map(|(labels, v)| (labels, Value::Number(v)))
        .collect();
}

/// Records one observation in a histogram with upper bounds `bounds`.
pub fn observe(
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    labels: &[(&'static str, &str)],
    value: f64,
) {
    with_series(
        name,
        help,
        Kind::Histogram,
        labels,
        || Value::Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        },
        |v| {
            if let Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } = v
            {
                // Buckets are cumulative when written, not here.
                if let Some(i) = bounds.iter().position(|b| value <= *b) {
                    counts[i] += 1;
                }
                *sum += value;
                *count += 1;
            }
        },
    );
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels_text(labels: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Everything registered, in the text exposition format.
pub fn render() -> String {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, family) in &registry.families {
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.word());
        for (labels, value) in &family.series {
            match value {
                Value::Number(n) => {
                    let _ = writeln!(out, "{name}{} {}", labels_text(labels, None), number(*n));
                }
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                } => {
                    let mut cumulative = 0;
                    for (bound, n) in bounds.iter().zip(counts) {
                        cumulative += n;
                        let le = labels_text(labels, Some(("le", number(*bound))));
                        let _ = writeln!(out, "{name}_bucket{le} {cumulative}");
                    }
                    let le = labels_text(labels, Some(("le", "+Inf".into())));
                    let _ = writeln!(out, "{name}_bucket{le} {count}");
                    let plain = labels_text(labels, None);
                    let _ = writeln!(out, "{name}_sum{plain} {}", number(*sum));
                    let _ = writeln!(out, "{name}_count{plain} {count}");
                }
            }
        }
    }
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown`. Plain HTTP/1.1, one request per
/// connection: all a scraper needs, with nothing of the gRPC API behind it.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    loop {
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(&mut socket)).await;
        });
    }
}

async fn answer(socket: &mut tokio::net::TcpStream) -> std::io::Result<()> {
    // A request line and headers; anything longer than 8 KiB is not a scraper.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 || head.len() + n > 8192 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|b| *b == b' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, kind, body) = match (method, path) {
        (b"GET", b"/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        (b"GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found; see /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Binds the metrics listener of `addr`.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics_listen {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_text_format_with_cumulative_buckets() {
        count("komek_test_calls_total", "Calls.", &[("code", "OK")], 2);
        count("komek_test_calls_total", "Calls.", &[("code", "OK")], 1);
        set(
            "komek_test_depth",
            "Depth.",
            &[("region", "Abai \"Region\"")],
            4.0,
        );
        observe("komek_test_seconds", "Time.", &[0.1, 1.0], &[], 0.0625);
        observe("komek_test_seconds", "Time.", &[0.1, 1.0], &[], 0.5);
        observe("komek_test_seconds", "Time.", &[0.1, 1.0], &[], 4.0);
        let text = render();
        assert!(text.contains("# TYPE komek_test_calls_total counter\n"));
        assert!(text.contains("komek_test_calls_total{code=\"OK\"} 3\n"));
        assert!(text.contains("komek_test_depth{region=\"Abai \\\"Region\\\"\"} 4\n"));
        assert!(text.contains("komek_test_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("komek_test_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("komek_test_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("komek_test_seconds_count 3\n"));
        assert!(text.contains("komek_test_seconds_sum 4.5625\n"));
    }
}
