//! Triage with its model, end to end over real NATS and PostgreSQL: a note triage cannot read
//! waits for a dispatcher instead of going to a guessed group; a thank-you call sends nobody;
//! and a dispatcher's corrections come back as labelled examples and as the words triage
//! missed.

use std::time::Duration;

use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::triage::v1 as triage;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, eventually, wait_request,
};
use uuid::Uuid;

/// The escalation reasons the dispatchers' queue shows for a request.
async fn queue_reasons(system: &System, request: &str) -> Vec<i32> {
    let dispatch = system.dispatch_client().await;
    eventually(Duration::from_secs(30), || {
        let mut dispatch = dispatch.clone();
        let request = request.to_string();
        async move {
            let queue = dispatch
                .list_queue(matching::ListQueueRequest {
                    queue: matching::Queue::Escalated as i32,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            queue
                .items
                .into_iter()
                .find(|i| i.request == request && !i.escalation_reasons.is_empty())
                .map(|i| i.escalation_reasons)
        }
    })
    .await
    .unwrap_or_else(|| panic!("{request} not in the queue with a reason within 30 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_note_triage_cannot_read_waits_for_a_dispatcher_then_goes_out() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі жастар қанаты",
        roster::OrganizationKind::YouthWing,
        &["Kyzylorda Region"],
    )
    .await;
    // A group that can do anything triage could guess: were the guess sent, it would go here.
    create_group(
        &mut roster_client,
        &org.name,
        "Шиелі еріктілері",
        shieli,
        &[
            pb::Skill::VehicleCargo,
            pb::Skill::GeneralLabour,
            pb::Skill::SocialCare,
            pb::Skill::Psychologist,
            pb::Skill::SearchRescue,
            pb::Skill::LegalAdvice,
        ],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;

    let mut intake_client = system.intake_client().await;
    let mut triage_client = system.triage_client().await;

    // A dropped call: triage cannot tell what is needed.
    let garbled = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Алло, алло, не слышно",
    )
    .await;
    let escalated = wait_request(&intake_client, &garbled.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    assert!(escalated.assignment.is_none(), "nobody is sent on a guess");
    let decision = triage_client
        .get_triage_decision(triage::GetTriageDecisionRequest {
            name: format!("{}/triage", garbled.name),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(decision.unclassified, "{decision:?}");
    assert!(
        decision.priority >= pb::Priority::High as i32,
        "an unclassified request is looked at soon: {decision:?}"
    );
    assert!(!decision.model_version.is_empty());
    assert!(
        decision
            .fired_rules
            .iter()
            .any(|f| f.rule_id == "triage.unclassified")
    );
    assert_eq!(
        queue_reasons(&system, &garbled.name).await,
        vec![pb::IneligibleReason::Unclassified as i32]
    );
    let explained = system
        .dispatch_client()
        .await
        .explain_request(matching::ExplainRequestRequest {
            request: garbled.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.decisions.len(), 1, "{explained:?}");
    assert!(explained.decisions[0].escalated);
    assert_eq!(
        explained.decisions[0].reasons,
        vec![pb::IneligibleReason::Unclassified as i32]
    );

    // The dispatcher calls back: it is coal. The flag clears and the request goes out.
    let corrected = triage_client
        .override_triage(triage::OverrideTriageRequest {
            name: format!("{}/triage", garbled.name),
            request_id: Uuid::new_v4().to_string(),
            category: pb::Category::FuelDelivery as i32,
            priority: pb::Priority::Normal as i32,
            reason: "Перезвонили: нужен уголь".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!corrected.unclassified);
    wait_request(&intake_client, &garbled.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;

    // A thank-you call is read and understood, and nobody is sent for it.
    let thanks = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Атамыз табылды, іздегендердің бәріне рахмет",
    )
    .await;
    let closed = wait_request(&intake_client, &thanks.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    assert!(closed.assignment.is_none());
    let t = closed.triage.expect("triaged");
    assert_eq!(t.category, pb::Category::Other as i32);
    assert_eq!(t.priority, pb::Priority::Low as i32);
    assert_eq!(
        queue_reasons(&system, &thanks.name).await,
        vec![pb::IneligibleReason::NothingToSend as i32]
    );

    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatchers_corrections_become_examples_and_missed_words() {
    let system = System::start().await;
    let aral = find("Aral", "Kyzylorda Region");
    let mut intake_client = system.intake_client().await;
    let mut triage_client = system.triage_client().await;

    // Triage reads coal; the dispatcher, who called back, knows the grandmother is grieving.
    // The phone number in the note must never reach the examples.
    let note = "Көмір бар, бірақ әжем қатты жабырқау, қаралы, ұлы +7 701 555 12 34";
    let created = create_request(&mut intake_client, None, aral, at(aral), note).await;
    let triaged = wait_request(&intake_client, &created.name, "triaged", |r| {
        r.triage.is_some()
    })
    .await
    .triage
    .unwrap();
    assert_ne!(
        triaged.category,
        pb::Category::PsychologicalSupport as i32,
        "the test needs a note triage gets wrong"
    );
    let name = format!("{}/triage", created.name);
    triage_client
        .override_triage(triage::OverrideTriageRequest {
            name: name.clone(),
            request_id: Uuid::new_v4().to_string(),
            category: pb::Category::PsychologicalSupport as i32,
            priority: pb::Priority::Normal as i32,
            reason: "Уголь есть, бабушка в трауре".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // An override that changes nothing but skills teaches nothing and is not counted.
    let other = create_request(
        &mut intake_client,
        None,
        aral,
        at(aral),
        "Зейнеткерге көмір керек, 2 тонна",
    )
    .await;
    wait_request(&intake_client, &other.name, "triaged", |r| {
        r.triage.is_some()
    })
    .await;
    triage_client
        .override_triage(triage::OverrideTriageRequest {
            name: format!("{}/triage", other.name),
            request_id: Uuid::new_v4().to_string(),
            required_skills: vec![
                pb::Skill::VehicleCargo as i32,
                pb::Skill::GeneralLabour as i32,
            ],
            reason: "Нужны грузчики".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let report = triage_client
        .report_missed_words(triage::ReportMissedWordsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.overrides, 1, "{report:?}");
    assert!(!report.model_version.is_empty() && !report.rules_version.is_empty());
    let word = report
        .words
        .iter()
        .find(|w| w.word == "жабыркау")
        .unwrap_or_else(|| panic!("a word the model does not know: {report:?}"));
    assert_eq!(word.notes, 1);
    assert_eq!(
        word.categories,
        vec![pb::Category::PsychologicalSupport as i32]
    );
    assert!(word.model_weight <= 0.0);
    assert_eq!(word.example, created.name);
    assert!(
        report.words.iter().all(|w| !w.word.contains("701")),
        "numbers are not words: {report:?}"
    );

    // Bad input is refused with the field at fault.
    let refused = triage_client
        .report_missed_words(triage::ReportMissedWordsRequest {
            limit: 501,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("limit"), "{refused:?}");
    // A volunteer's key may not read it.
    let mut roster_client = system.roster_client().await;
    let volunteer = komek_tests::create_volunteer(&mut roster_client, "Әсел", vec![]).await;
    let volunteer_key = system
        .issue_key(Role::Volunteer, &volunteer.name, &[])
        .await;
    let mut as_volunteer = komek_proto::triage::v1::triage_service_client::TriageServiceClient::new(
        komek_tests::authed(system.triage, &volunteer_key).await,
    );
    let denied = as_volunteer
        .report_missed_words(triage::ReportMissedWordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // The export: the dispatcher's labels, the note without the phone number, as corpus lines.
    let examples = komek_triage::learning::corrected(system.db.url(), None)
        .await
        .unwrap();
    assert_eq!(examples.len(), 1);
    let line = komek_core::triage::learning::corpus_line(&examples[0]);
    let read = komek_core::triage::read_corpus(&line).unwrap();
    assert_eq!(read[0].category, komek_core::Category::PsychologicalSupport);
    assert_eq!(read[0].priority, komek_core::Priority::Normal);
    assert!(read[0].note.contains("жабырқау"), "{line}");
    assert!(
        !read[0].note.contains("701"),
        "the phone number is cut: {line}"
    );

    system.stop().await;
}
