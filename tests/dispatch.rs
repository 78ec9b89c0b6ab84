//! End to end: a hotline request flows through intake, triage and matching to the nearest
//! available group with the right skill, registered through the roster; the offer shows in
//! GetRequest and on the volunteer's offer stream. Real NATS and PostgreSQL, four servers.

use std::time::Duration;

use futures::StreamExt;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::triage::v1 as triage;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::{Settlement, find};
use komek_tests::{System, at, create_group, eventually};
use uuid::Uuid;

fn distance_m(a: &Settlement, b: &Settlement) -> f64 {
    let p = |s: &Settlement| komek_core_point(s.lat, s.lon);
    p(a).distance_m(p(b))
}

fn komek_core_point(lat: f64, lon: f64) -> komek_core::GeoPoint {
    komek_core::GeoPoint::new(lat, lon).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hotline_request_is_offered_to_the_nearest_available_group_with_the_skill() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;

    let almaty = find("Almaty", "Almaty");
    let talgar = find("Talghar", "Almaty Region");
    let issyk = find("Issyk", "Almaty Region");
    let kaskelen = find("Qaskeleng", "Almaty Region");

    let org = roster_client
        .create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: "Алматы іздеу-құтқару еріктілері".into(),
                kind: roster::OrganizationKind::Ngo as i32,
                regions: vec!["Almaty".into(), "Almaty Region".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();

    // Nearest of all, but busy: must be skipped.
    let busy = create_group(
        &mut roster_client,
        &org.name,
        "Almaty city searchers",
        almaty,
        &[pb::Skill::SearchRescue],
        pb::Availability::Busy,
        &Uuid::new_v4().to_string(),
    )
    .await;
    // Nearer than Talgar, but cannot search.
    let social = create_group(
        &mut roster_client,
        &org.name,
        "Kaskelen social care",
        kaskelen,
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let nearest = create_group(
        &mut roster_client,
        &org.name,
        "Talgar search team",
        talgar,
        &[pb::Skill::SearchRescue, pb::Skill::FirstAid],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let farther = create_group(
        &mut roster_client,
        &org.name,
        "Issyk search team",
        issyk,
        &[pb::Skill::SearchRescue],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    assert!(distance_m(almaty, kaskelen) < distance_m(almaty, talgar));
    assert!(distance_m(almaty, talgar) < distance_m(almaty, issyk));

    let volunteer = roster_client
        .create_volunteer(roster::CreateVolunteerRequest {
            request_id: Uuid::new_v4().to_string(),
            volunteer: Some(roster::Volunteer {
                display_name: "Айгерім".into(),
                languages: vec![pb::Language::Kazakh as i32],
                groups: vec![nearest.name.clone()],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();

    // Four groups and one membership change.
    system.wait_roster_published(5).await;

    // The volunteer's app is connected before the call comes in.
    let mut assignments = system.volunteer_app(&volunteer.name).await;
    let mut offers = assignments
        .stream_offers(matching::StreamOffersRequest {
            volunteer: volunteer.name.clone(),
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let mut intake_client = system.intake_client().await;
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                preferred_language: pb::Language::Russian as i32,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(almaty)),
                address: "мкр. Самал-2, у магазина".into(),
                settlement: almaty.name_en.clone(),
                district: String::new(),
                region: almaty.region.clone(),
                ..Default::default()
            }),
            description: "Пропал ребенок 7 лет, ушёл из дома вечером, не вернулся".into(),
            people_count: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status, pb::RequestStatus::New as i32);
    assert!(komek_core::reference::ReferenceCode::parse(&created.reference_code).is_ok());

    // The request reaches DISPATCHING with an offer to the Talgar team.
    let request = eventually(Duration::from_secs(30), || {
        let mut client = intake_client.clone();
        let name = created.name.clone();
        async move {
            let r = client
                .get_request(intake::GetRequestRequest { name })
                .await
                .ok()?
                .into_inner();
            // Triage and matching events reach intake on two consumers, in either order.
            let settled = r.status == pb::RequestStatus::Dispatching as i32
                && r.assignment.is_some()
                && r.triage.is_some();
            settled.then_some(r)
        }
    })
    .await
    .expect("request was not offered within 30 s");
    let assignment = request.assignment.clone().unwrap();
    assert_eq!(
        assignment.group, nearest.name,
        "offered to {} instead",
        assignment.group_display_name
    );
    assert_eq!(assignment.group_display_name, "Talgar search team");
    assert_eq!(assignment.status, pb::AssignmentStatus::Offered as i32);
    assert!((assignment.distance_meters - distance_m(almaty, talgar)).abs() < 1.0);
    let expire = assignment.expire_time.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        expire.seconds > now && expire.seconds <= now + 5 * 60 + 5,
        "a critical offer lives minutes"
    );
    for other in [&busy, &social, &farther] {
        assert_ne!(assignment.group, other.name);
    }

    // Triage explains itself: a missing child is a critical search operation.
    let triage = request.triage.clone().unwrap();
    assert_eq!(triage.category, pb::Category::SearchOperation as i32);
    assert_eq!(triage.priority, pb::Priority::Critical as i32);
    assert_eq!(triage.required_skills, vec![pb::Skill::SearchRescue as i32]);
    let decision = system
        .triage_client()
        .await
        .get_triage_decision(triage::GetTriageDecisionRequest {
            name: format!("{}/triage", created.name),
        })
        .await
        .unwrap()
        .into_inner();
    // The model decided the category, and says with which words of the note.
    let category = decision
        .fired_rules
        .iter()
        .find(|r| r.rule_id == "model.category")
        .expect("the deciding part is reported");
    assert!(
        category.explanation.contains("search_operation"),
        "{category:?}"
    );
    assert!(
        category
            .matched_terms
            .iter()
            .all(|w| created.description.contains(w.as_str())),
        "the words shown are the note's own: {category:?}"
    );
    assert!(!category.matched_terms.is_empty());
    assert!(!decision.model_version.is_empty());
    assert!(
        decision
            .fired_rules
            .iter()
            .any(|r| r.rule_id == "critical.missing_vulnerable"),
        "{:?}",
        decision.fired_rules
    );
    assert!(decision.rules_version.starts_with("2026.11"));

    // The live stream delivers the offer, with no address or caller details.
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = offers.next().await.expect("stream open").expect("no error");
            if e.kind != matching::OfferEventKind::Keepalive as i32 {
                return e;
            }
        }
    })
    .await
    .expect("offer on the stream within 10 s");
    assert_eq!(event.kind, matching::OfferEventKind::Offered as i32);
    let offered = event.assignment.unwrap();
    assert_eq!(offered.name, assignment.assignment);
    assert_eq!(offered.request, created.name);
    assert_eq!(offered.group, nearest.name);
    let location = offered.location.unwrap();
    assert!(
        location.address.is_empty(),
        "the address is revealed only after accept"
    );
    assert!(offered.caller_contact.is_none());

    // A volunteer connecting later gets the open offer as pending.
    let mut again = assignments
        .stream_offers(matching::StreamOffersRequest {
            volunteer: volunteer.name.clone(),
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let pending = tokio::time::timeout(Duration::from_secs(10), again.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pending.kind, matching::OfferEventKind::Pending as i32);
    assert_eq!(pending.assignment.unwrap().name, assignment.assignment);

    drop(offers);
    drop(again);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_nobody_can_serve_is_escalated_until_a_dispatcher_overrides_triage() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let org = roster_client
        .create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: "Көмір жеткізу".into(),
                kind: roster::OrganizationKind::AkimatService as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    // Only a psychologist team in Semey; the request needs a truck for coal.
    let semey = find("Semey", "Abai Region");
    let psychologists = create_group(
        &mut roster_client,
        &org.name,
        "Semey psychologists",
        semey,
        &[pb::Skill::Psychologist],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;

    system.wait_roster_published(1).await;

    let bobrovka = find("Bobrovka", "Abai Region");
    let mut intake_client = system.intake_client().await;
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(bobrovka)),
                settlement: bobrovka.name_en.clone(),
                ..Default::default()
            }),
            description: "Зейнеткерге көмір керек, 2 тонна".into(),
            quantity: Some(pb::Quantity {
                value: 2.0,
                unit: "t".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let request = eventually(Duration::from_secs(30), || {
        let mut client = intake_client.clone();
        let name = created.name.clone();
        async move {
            let r = client
                .get_request(intake::GetRequestRequest { name })
                .await
                .ok()?
                .into_inner();
            (r.status == pb::RequestStatus::Escalated as i32).then_some(r)
        }
    })
    .await
    .expect("request was not escalated within 30 s");
    assert!(request.assignment.is_none());
    assert_eq!(
        request.triage.unwrap().category,
        pb::Category::FuelDelivery as i32
    );

    // The dispatcher calls back: it is loneliness, not coal. The override is audited,
    // re-published, and the matcher now finds the psychologists.
    let mut triage_client = system.triage_client().await;
    let decision_name = format!("{}/triage", created.name);
    let bad = triage_client
        .override_triage(triage::OverrideTriageRequest {
            name: decision_name.clone(),
            request_id: Uuid::new_v4().to_string(),
            category: pb::Category::PsychologicalSupport as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad.code(),
        tonic::Code::InvalidArgument,
        "a reason is required"
    );
    let correction = triage::OverrideTriageRequest {
        name: decision_name.clone(),
        request_id: Uuid::new_v4().to_string(),
        category: pb::Category::PsychologicalSupport as i32,
        reason: "Перезвонили: уголь есть, бабушке одиноко".into(),
        ..Default::default()
    };
    let overridden = triage_client
        .override_triage(correction.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(overridden.overridden);
    assert_eq!(
        overridden.required_skills,
        vec![pb::Skill::Psychologist as i32]
    );
    let retried = triage_client
        .override_triage(correction)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        retried.etag, overridden.etag,
        "a retried override changes nothing"
    );
    let audit = triage_client
        .list_triage_audit(triage::ListTriageAuditRequest {
            name: decision_name,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        audit.entries.len(),
        2,
        "the automatic decision and one override"
    );
    assert_eq!(
        audit.entries[1].reason,
        "Перезвонили: уголь есть, бабушке одиноко"
    );

    let offered = eventually(Duration::from_secs(30), || {
        let mut client = intake_client.clone();
        let name = created.name.clone();
        async move {
            let r = client
                .get_request(intake::GetRequestRequest { name })
                .await
                .ok()?
                .into_inner();
            let recategorised = r
                .triage
                .as_ref()
                .is_some_and(|t| t.category == pb::Category::PsychologicalSupport as i32);
            (r.status == pb::RequestStatus::Dispatching as i32 && recategorised).then_some(r)
        }
    })
    .await
    .expect("overridden request was not offered within 30 s");
    assert_eq!(offered.assignment.unwrap().group, psychologists.name);
    assert_eq!(
        offered.triage.unwrap().category,
        pb::Category::PsychologicalSupport as i32
    );
    system.stop().await;
}
