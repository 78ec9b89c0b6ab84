//! Every service serves Prometheus metrics on its own listener: calls by method and code with
//! their latency, the outbox backlog, consumers' handling and lag, dead letters, and matching's
//! offers, steps, escalations, index and queues. The services run as their own processes
//! (each process has its own metrics) against real NATS and PostgreSQL; hotline calls go in
//! and volunteers work the offers, then every service is scraped. The dashboard and the alert
//! rules in deploy/observability only name metrics the services export.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_runtime::CancellationToken;
use komek_tests::eventually;
use komek_tests::nemesis::history::History;
use komek_tests::nemesis::procs::Processes;
use komek_tests::nemesis::workload::{lazy, wait_serving};
use komek_tests::nemesis::{fleet, wait_published, workload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP GET of `path` on `addr`: the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    socket.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// One scrape: declared families and every sample by its series ("name{labels}").
struct Scrape {
    families: BTreeSet<String>,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    async fn of(addr: SocketAddr) -> Self {
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        let mut families = BTreeSet::new();
        let mut samples = BTreeMap::new();
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') && !line.is_empty() {
                let (series, value) = line.rsplit_once(' ').unwrap();
                samples.insert(series.to_string(), value.parse().unwrap());
            }
        }
        Self { families, samples }
    }

    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    /// Samples of `name` whose labels include every one of `labels` ("k=\"v\"").
    fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_reports_its_calls_backlog_consumers_and_offers() {
    let dir = tempfile::Builder::new()
        .prefix("komek-metrics-")
        .tempdir()
        .unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_komek-nemesis"));
    let procs = Processes::start(&exe, dir.path(), &[], false).await;
    for s in &procs.services {
        let up = wait_serving(s.addr, Duration::from_secs(120)).await;
        assert!(up.is_some(), "{} did not start", s.name);
    }
    let addrs: Vec<_> = procs.services.iter().map(|s| s.addr).collect();
    let admin = procs.secrets.admin_key.clone();
    let world = Arc::new(workload::setup(&procs.addrs("roster"), &addrs, &admin, 4).await);
    let nats = async_nats::connect(procs.nats.urls()).await.unwrap();
    wait_published(&async_nats::jetstream::new(nats), 4).await;

    let history = Arc::new(History::default());
    let stop = CancellationToken::new();
    let replicas = [procs.addr("matching-a"), procs.addr("matching-b")];
    let volunteers = tokio::spawn({
        let (world, history, stop) = (world.clone(), history.clone(), stop.clone());
        async move { fleet::fleet(replicas, &world, history, stop).await }
    });
    let intakes = procs.addrs("intake");
    workload::drive(&intakes, &world, 12, 10.0, history.clone(), 7).await;
    // A call with a field at fault, and a method nobody serves.
    let mut client = IntakeServiceClient::new(lazy(&intakes, &world.operator_keys[0]));
    let refused = client
        .create_request(intake::CreateRequestRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let made_up = tonic::transport::Endpoint::from_shared(format!("http://{}", intakes[0]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(made_up);
    grpc.ready().await.unwrap();
    let unknown: Result<tonic::Response<()>, _> = grpc
        .unary(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/komek.intake.v1.IntakeService/NoSuchMethod1"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    // Refused before it could be found missing: it carries no key.
    assert_eq!(unknown.unwrap_err().code(), tonic::Code::Unauthenticated);

    // The volunteers finish some jobs.
    let matching: Vec<SocketAddr> = procs
        .services
        .iter()
        .filter(|s| s.kind == "matching")
        .map(|s| s.metrics)
        .collect();
    let completed = eventually(Duration::from_secs(90), || {
        let matching = matching.clone();
        async move {
            let mut done = 0.0;
            for addr in matching {
                done += Scrape::of(addr)
                    .await
                    .sum("komek_assignment_steps_total", &["to=\"completed\""]);
            }
            (done >= 3.0).then_some(done)
        }
    })
    .await;
    assert!(completed.is_some(), "no completed jobs counted");
    stop.cancel();
    volunteers.await.unwrap();
    // The relays measure their backlog every 5 s, the consumers their lag every 10 s, and
    // matching its index every 5 s.
    tokio::time::sleep(Duration::from_secs(11)).await;

    let mut scrapes: BTreeMap<&str, Scrape> = BTreeMap::new();
    for s in &procs.services {
        scrapes.insert(s.name, Scrape::of(s.metrics).await);
    }
    let intake = &scrapes["intake"];
    let create = "grpc_service=\"komek.intake.v1.IntakeService\",grpc_method=\"CreateRequest\"";
    assert!(
        intake.sum(
            "komek_grpc_server_handled_total",
            &[create, "grpc_code=\"Ok\""]
        ) >= 12.0
    );
    assert_eq!(
        intake.sum(
            "komek_grpc_server_handled_total",
            &[create, "grpc_code=\"InvalidArgument\""]
        ),
        1.0
    );
    assert!(intake.sum("komek_grpc_server_handling_seconds_count", &[create]) >= 13.0);
    assert!(
        intake.sum(
            "komek_grpc_server_handling_seconds_bucket",
            &[create, "le=\"+Inf\""]
        ) >= 13.0
    );
    // The made-up method is one "unknown" series, not a series of its own.
    assert_eq!(
        intake.sum(
            "komek_grpc_server_handled_total",
            &["grpc_method=\"unknown\"", "grpc_code=\"Unauthenticated\""]
        ),
        1.0
    );
    assert!(!intake.samples.keys().any(|k| k.contains("NoSuchMethod1")));

    for (name, scrape) in &scrapes {
        // Every service publishes through its outbox and reports the backlog, caught up.
        assert!(scrape.families.contains("komek_outbox_unsent"), "{name}");
        assert_eq!(scrape.value("komek_outbox_unsent"), 0.0, "{name}");
        assert_eq!(
            scrape.value("komek_outbox_oldest_unsent_seconds"),
            0.0,
            "{name}"
        );
    }
    for name in ["intake", "triage", "matching-a", "matching-b"] {
        let s = &scrapes[name];
        for family in [
            "komek_consumer_messages_total",
            "komek_consumer_transactions_total",
            "komek_consumer_pending",
            "komek_consumer_ack_pending",
            "komek_consumer_redeliveries_total",
            "komek_dead_letters_total",
            "komek_consumer_set_up",
        ] {
            assert!(s.families.contains(family), "{name} lacks {family}");
        }
        // Every consumer of the replica was set up, none still asked for.
        assert!(s.sum("komek_consumer_set_up", &[]) >= 1.0, "{name}");
        assert!(
            !s.samples
                .iter()
                .any(|(k, v)| k.starts_with("komek_consumer_set_up") && *v != 1.0),
            "{name}: a consumer not set up"
        );
        assert_eq!(s.sum("komek_dead_letters_total", &[]), 0.0, "{name}");
    }
    assert!(
        scrapes["triage"].sum(
            "komek_consumer_messages_total",
            &["consumer=\"triage\"", "outcome=\"applied\""]
        ) >= 12.0
    );
    // Each of triage's transactions applied one message or more.
    let transactions = scrapes["triage"].sum(
        "komek_consumer_transactions_total",
        &["consumer=\"triage\""],
    );
    let applied = scrapes["triage"].sum(
        "komek_consumer_messages_total",
        &["consumer=\"triage\"", "outcome=\"applied\""],
    );
    assert!(
        transactions >= 1.0 && transactions <= applied,
        "{transactions} transactions, {applied} applied"
    );
    assert!(scrapes["triage"].value("komek_outbox_published_total") >= 12.0);
    assert!(scrapes["intake"].value("komek_outbox_published_total") >= 12.0);
    let both = |metric: &str, labels: &[&str]| {
        scrapes["matching-a"].sum(metric, labels) + scrapes["matching-b"].sum(metric, labels)
    };
    // Every request was offered to a group or handed to dispatchers (four groups of three
    // places cannot take every one at once).
    let offers = both("komek_offers_total", &[]);
    let escalations = both("komek_escalations_total", &[]);
    assert!(offers >= 3.0, "{offers} offers");
    assert!(
        offers + escalations >= 12.0,
        "{offers} offers, {escalations} escalations"
    );
    assert!(both("komek_assignment_steps_total", &["to=\"accepted\""]) >= 3.0);
    for name in ["matching-a", "matching-b"] {
        let s = &scrapes[name];
        assert_eq!(s.value("komek_matching_groups_indexed"), 4.0, "{name}");
        assert!(s.families.contains("komek_queue_depth"), "{name}");
        assert!(s.families.contains("komek_escalations_total"), "{name}");
    }
    assert_eq!(
        get(procs.services[0].metrics, "/other").await.0,
        "HTTP/1.1 404 Not Found"
    );

    // The dashboard and the alerts ask only for what the services export.
    let exported: BTreeSet<String> = scrapes.values().flat_map(|s| s.families.clone()).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in [
        "deploy/observability/grafana/komek.json",
        "deploy/observability/prometheus/alerts.yml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let named = metric_names(&text);
        assert!(!named.is_empty(), "{file} names no metric");
        for name in named {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|f| exported.contains(*f))
                .unwrap_or(&name);
            assert!(
                exported.contains(family),
                "{file} asks for {name}, which no service exports"
            );
        }
    }
}

/// Every `komek_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("komek_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}
