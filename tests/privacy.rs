//! A caller's name and phone never leave intake in clear: not in any event on NATS, not in any
//! log line of any service, not in any span exported. Real NATS and PostgreSQL, four servers,
//! every log line captured at debug level as the services write it in production (JSON with
//! trace ids), every span kept.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::spans::Memory;
use komek_tests::{System, at, create_group, create_organization, create_request, wait_request};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use uuid::Uuid;

/// Collects every log line written through the global subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caller_name_and_phone_are_in_no_event_and_no_log() {
    let logs = Capture::default();
    let writer = logs.clone();
    let memory = Memory::default();
    let provider = memory.provider();
    assert!(komek_runtime::telemetry::install(
        "privacy",
        tracing_subscriber::EnvFilter::new("debug"),
        true,
        BoxMakeWriter::new(move || writer.clone()),
        Some(&provider),
    ));

    let system = System::start().await;
    // Everything published on any komek subject, from before the first request.
    let nats = async_nats::connect(system.nats.url()).await.unwrap();
    let mut events = nats.subscribe("komek.>").await.unwrap();
    nats.flush().await.unwrap();

    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let shelek = find("Shelek", "Almaty Region");
    let org = create_organization(
        &mut roster_client,
        "Red Crescent, Enbekshikazakh branch",
        roster::OrganizationKind::RedCrescent,
        &["Almaty Region"],
    )
    .await;
    create_group(
        &mut roster_client,
        &org.name,
        "Shelek social care",
        shelek,
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;

    let name = "Гүлнар Төлеубаева";
    let phone = "+7 (701) 555-44-21";
    let request = create_request(
        &mut intake_client,
        Some((name, phone)),
        shelek,
        at(shelek),
        "Ардагерге үй жинауға көмек керек",
    )
    .await;
    // A second call of the same caller exercises duplicate detection, which uses the phone.
    let again = create_request(
        &mut intake_client,
        Some((name, phone)),
        shelek,
        at(shelek),
        "Ветерану нужна помощь по дому",
    )
    .await;
    wait_request(&intake_client, &request.name, "offered", |r| {
        r.assignment.is_some() && r.triage.is_some()
    })
    .await;
    let again = wait_request(&intake_client, &again.name, "triaged", |r| {
        r.triage.is_some() && r.status != pb::RequestStatus::New as i32
    })
    .await;
    assert_eq!(
        again.triage.unwrap().possible_duplicate_of,
        request.name,
        "the repeat caller was recognised without the phone"
    );
    system.stop().await;

    // Forms the personal data could take: as typed, as stored (E.164), digits only, and the
    // surname alone.
    let forbidden = [
        name,
        "Төлеубаева",
        phone,
        "+77015554421",
        "77015554421",
        "7015554421",
        "555-44-21",
    ];
    let mut seen = 0;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), events.next()).await
    {
        seen += 1;
        for f in forbidden {
            assert!(
                !contains(&message.payload, f),
                "{f:?} found in an event on {}",
                message.subject
            );
        }
    }
    assert!(seen >= 6, "only {seen} events observed");

    let logs = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logs, "request triaged"),
        "the services' logs were not captured"
    );
    for f in forbidden {
        assert!(!contains(&logs, f), "{f:?} found in the logs");
    }
    // The lines written while handling a call or an event carry its trace.
    assert!(
        contains(&logs, "\"trace_id\":\""),
        "no log line carries a trace id"
    );

    provider.force_flush().unwrap();
    let spans = memory.spans();
    assert!(spans.len() > 20, "only {} spans exported", spans.len());
    for span in &spans {
        let text = format!("{} {:?} {:?}", span.name, span.attributes, span.events);
        for f in forbidden {
            assert!(!text.contains(f), "{f:?} found in span {}", span.name);
        }
    }
}
