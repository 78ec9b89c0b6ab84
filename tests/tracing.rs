//! One request, one trace: the hotline's CreateRequest, its publish, triage's handling, the
//! matcher's decision and the offer, and the volunteer's accept (a call of its own, linked)
//! all land in the trace the call opened, carried over gRPC metadata, outbox rows and NATS
//! headers. Spans go to an in-memory exporter; real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::collections::HashMap;

use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::spans::Memory;
use komek_tests::{
    System, at, create_group, create_organization, create_request, create_volunteer, wait_request,
};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::SpanData;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_is_one_trace_from_the_call_to_the_accept() {
    let memory = Memory::default();
    let provider = memory.provider();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("komek-test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі жастары",
        roster::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Шиелі көмір",
        shieli,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let volunteer = create_volunteer(&mut roster_client, "Дәурен", vec![group.name.clone()]).await;
    system.wait_roster_published(2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;

    let request = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Зейнеткерге көмір керек, 2 тонна",
    )
    .await;
    let offered = wait_request(&intake_client, &request.name, "offered", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.status == pb::AssignmentStatus::Offered as i32)
    })
    .await;
    let offer = offered.assignment.unwrap().assignment;
    app.accept_offer(matching::AcceptOfferRequest {
        name: offer.clone(),
        request_id: Uuid::new_v4().to_string(),
        volunteer: volunteer.name.clone(),
    })
    .await
    .unwrap();
    // Intake hears of the accept through the stream, in the request's trace.
    wait_request(&intake_client, &request.name, "accepted", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.status == pb::AssignmentStatus::Accepted as i32)
    })
    .await;
    system.stop().await;
    provider.force_flush().unwrap();

    let spans = memory.spans();
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let create = named("komek.intake.v1.IntakeService/CreateRequest");
    assert_eq!(create.len(), 1, "one CreateRequest span");
    let create = create[0];
    assert_eq!(
        attribute(create, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    let trace: TraceId = create.span_context.trace_id();
    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.name.as_ref()).collect();
    for expected in [
        "komek.request.created publish",
        "komek.request.created process",
        "komek.request.triaged publish",
        "komek.request.triaged process",
        "match",
        "komek.assignment.offered publish",
        "assignment.transition",
        "komek.assignment.changed publish",
        "komek.assignment.changed process",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is not in the request's trace: {names:?}"
        );
    }
    // Each consumer's handling is there: triage of the new request, matching of the triaged
    // one, intake of the accept.
    let consumers: Vec<String> = in_trace
        .iter()
        .filter_map(|s| attribute(s, "messaging.consumer.group.name"))
        .collect();
    for consumer in ["triage", "matching"] {
        assert!(
            consumers.iter().any(|c| c.starts_with(consumer)),
            "{consumer} not in {consumers:?}"
        );
    }
    assert!(
        consumers.iter().any(|c| c.starts_with("intake")),
        "{consumers:?}"
    );

    // One tree: every span of the trace but the call hangs from another span of it.
    let ids: HashMap<SpanId, &SpanData> = in_trace
        .iter()
        .map(|s| (s.span_context.span_id(), *s))
        .collect();
    for span in &in_trace {
        if span.span_context.span_id() == create.span_context.span_id() {
            assert_eq!(create.parent_span_id, SpanId::INVALID);
            continue;
        }
        assert!(
            ids.contains_key(&span.parent_span_id),
            "{} has a parent outside the trace",
            span.name
        );
    }

    // The accept is the volunteer's own call (a trace of its own), linked from the step it
    // caused in the request's trace.
    let accept = named("komek.matching.v1.AssignmentService/AcceptOffer");
    assert_eq!(accept.len(), 1);
    let accept = accept[0];
    assert_ne!(accept.span_context.trace_id(), trace);
    let step = in_trace
        .iter()
        .find(|s| {
            s.name == "assignment.transition" && attribute(s, "to").as_deref() == Some("accepted")
        })
        .expect("the accept's step is in the request's trace");
    assert!(
        step.links
            .links
            .iter()
            .any(|l| l.span_context.span_id() == accept.span_context.span_id()),
        "the step links to the accept call"
    );
}
