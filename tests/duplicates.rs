//! End to end: a repeat call is linked to the request it repeats, by the caller's blind index or
//! by place and category; a dispatcher merges it, which closes it in intake and withdraws its
//! offer in matching. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::triage::v1 as triage;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, violated_fields, wait_request,
};
use tonic::Code;
use uuid::Uuid;

fn triaged(r: &intake::Request) -> bool {
    r.triage.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeat_calls_are_linked_and_a_dispatcher_merges_them() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let mut triage_client = system.triage_client().await;
    let mut assignments = system.assignment_client().await;

    let talgar = find("Talghar", "Almaty Region");
    let org = create_organization(
        &mut roster_client,
        "Талғар жастар қанаты",
        roster::OrganizationKind::YouthWing,
        &["Almaty Region"],
    )
    .await;
    create_group(
        &mut roster_client,
        &org.name,
        "Talgar coal brigade",
        talgar,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;

    let caller = Some(("Сәуле Ахметова", "+7 701 555 01 23"));
    let home = at(talgar);
    // 100 m north of the first caller's house.
    let next_door = pb::LatLng {
        latitude: talgar.lat + 0.0009,
        longitude: talgar.lon,
    };

    let first = create_request(
        &mut intake_client,
        caller,
        talgar,
        home,
        "Зейнеткерге көмір керек, 2 тонна",
    )
    .await;
    let first = wait_request(&intake_client, &first.name, "offered", |r| {
        r.assignment.is_some() && triaged(r)
    })
    .await;
    assert_eq!(first.triage.as_ref().unwrap().possible_duplicate_of, "");

    // The same caller rings again about the same coal: linked to the first request, and still
    // offered (a guess never holds help back).
    let again = create_request(
        &mut intake_client,
        caller,
        talgar,
        home,
        "Көмір әлі жеткізілмеді, уголь нужен",
    )
    .await;
    let again = wait_request(&intake_client, &again.name, "offered", |r| {
        r.assignment.is_some() && triaged(r)
    })
    .await;
    assert_eq!(
        again.triage.as_ref().unwrap().possible_duplicate_of,
        first.name
    );
    let decision = triage_client
        .get_triage_decision(triage::GetTriageDecisionRequest {
            name: format!("{}/triage", again.name),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision.possible_duplicate_of, first.name);
    let rule = decision
        .fired_rules
        .iter()
        .find(|r| r.rule_id == "duplicate.same_caller")
        .expect("the duplicate rule is explained");
    assert!(!rule.explanation.is_empty());

    // A neighbour, anonymous, asks for coal 100 m away: linked by place and category.
    let neighbour = create_request(
        &mut intake_client,
        None,
        talgar,
        next_door,
        "Нужен уголь пенсионерке, печь нечем топить",
    )
    .await;
    let neighbour = wait_request(&intake_client, &neighbour.name, "triaged", triaged).await;
    assert_eq!(
        neighbour.triage.as_ref().unwrap().possible_duplicate_of,
        first.name
    );
    // The same place but another need is not a duplicate.
    let search = create_request(
        &mut intake_client,
        None,
        talgar,
        next_door,
        "Пропал мужчина 40 лет, ушёл из дома вчера",
    )
    .await;
    let search = wait_request(&intake_client, &search.name, "triaged", triaged).await;
    assert_eq!(search.triage.as_ref().unwrap().possible_duplicate_of, "");

    // Bad merges are refused with the field at fault, or as a precondition.
    let merge = |name: &str, into: &str, key: &str| triage::MergeDuplicateRequest {
        name: format!("{name}/triage"),
        merge_into: into.to_string(),
        request_id: key.to_string(),
        reason: "Бір қоңырау, бір көмір".into(),
    };
    let err = triage_client
        .merge_duplicate(merge(&again.name, &again.name, &Uuid::new_v4().to_string()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("merge_into"), "{}", err.message());
    let err = triage_client
        .merge_duplicate(merge(&again.name, "requests/nope", "not-a-uuid"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["request_id", "merge_into"]);

    // The dispatcher merges the repeat into the first request; a retry changes nothing.
    let key = Uuid::new_v4().to_string();
    let merged = triage_client
        .merge_duplicate(merge(&again.name, &first.name, &key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(merged.merged_into, first.name);
    let retried = triage_client
        .merge_duplicate(merge(&again.name, &first.name, &key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.etag, merged.etag, "a retry merges nothing twice");
    let audit = triage_client
        .list_triage_audit(triage::ListTriageAuditRequest {
            name: format!("{}/triage", again.name),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let merges: Vec<_> = audit
        .entries
        .iter()
        .filter(|e| e.reason.starts_with("merged into"))
        .collect();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].actor, "dispatchers/test-operator");

    // Intake closes the repeat as MERGED, and matching withdraws its offer.
    let closed = wait_request(&intake_client, &again.name, "merged", |r| {
        r.status == pb::RequestStatus::Merged as i32
            && r.assignment
                .as_ref()
                .is_some_and(|a| a.status == pb::AssignmentStatus::Withdrawn as i32)
    })
    .await;
    assert_eq!(closed.merged_into, first.name);
    let withdrawn = assignments
        .get_assignment(matching::GetAssignmentRequest {
            name: again.assignment.as_ref().unwrap().assignment.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.status, pb::AssignmentStatus::Withdrawn as i32);
    // The first request is untouched.
    let first_now = wait_request(&intake_client, &first.name, "still offered", |r| {
        r.status == pb::RequestStatus::Dispatching as i32
    })
    .await;
    assert_eq!(first_now.merged_into, "");

    // A merged request cannot be merged again, merged into, or overridden.
    let err = triage_client
        .merge_duplicate(merge(
            &again.name,
            &search.name,
            &Uuid::new_v4().to_string(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = triage_client
        .merge_duplicate(merge(
            &neighbour.name,
            &again.name,
            &Uuid::new_v4().to_string(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&first.name), "{}", err.message());
    let err = triage_client
        .override_triage(triage::OverrideTriageRequest {
            name: format!("{}/triage", again.name),
            request_id: Uuid::new_v4().to_string(),
            priority: pb::Priority::High as i32,
            reason: "later".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    system.stop().await;
}

/// More calls of one kind in a day than any cap on rows read: a repeat is still found among the
/// newest. (The candidates were once the oldest 500 of the category in the window, so a repeat
/// of the 511th call of the day went unlinked.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeat_is_found_however_many_calls_of_its_kind_came_that_day() {
    const EARLIER: usize = 510;
    let system = System::start().await;
    let intake_client = system.intake_client().await;
    let call =
        |place: &komek_tests::settlements::Settlement, note: &str| intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(place)),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                ..Default::default()
            }),
            description: note.into(),
            operator_category: pb::Category::FuelDelivery as i32,
            ..Default::default()
        };
    // A cold morning in Turkistan Region: coal calls from 510 of its places, through the
    // telephony system's key (a dispatcher's would be rate limited long before).
    let telephony = system
        .issue_key(Role::Service, "services/telephony", &[])
        .await;
    let line = intake::intake_service_client::IntakeServiceClient::new(
        komek_tests::authed(system.intake, &telephony).await,
    );
    let places: Vec<_> = komek_tests::settlements::all()
        .iter()
        .filter(|s| s.region == "Turkistan Region")
        .take(EARLIER)
        .collect();
    assert_eq!(places.len(), EARLIER);
    let mut last = None;
    for chunk in places.chunks(30) {
        let made = futures::future::join_all(chunk.iter().map(|p| {
            let mut client = line.clone();
            let request = call(p, "Көмір керек, үй суық");
            async move { client.create_request(request).await.unwrap().into_inner() }
        }))
        .await;
        last = made.last().cloned();
    }
    let last = last.unwrap();
    wait_request(&intake_client, &last.name, "triaged", triaged).await;

    // Then a call from Kegen, and its repeat from the same yard.
    let kegen = find("Kegen", "Almaty Region");
    let first = intake_client
        .clone()
        .create_request(call(kegen, "Зейнеткерге көмір керек"))
        .await
        .unwrap()
        .into_inner();
    let repeat = intake_client
        .clone()
        .create_request(call(kegen, "Көмір әлі жоқ, қайта хабарласып тұрмыз"))
        .await
        .unwrap()
        .into_inner();
    let decided = wait_request(&intake_client, &repeat.name, "triaged", triaged).await;
    assert_eq!(
        decided.triage.unwrap().possible_duplicate_of,
        first.name,
        "the repeat is linked to the call it repeats"
    );
    system.stop().await;
}

/// Two triage replicas take calls off one stream. A caller who rings twice at the same moment
/// (two operators answer, or the line drops and they call back) has the two calls classified
/// side by side, often by different replicas: exactly one of each pair is linked to the other,
/// never neither (each classified before the other was stored) and never both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_classified_at_once_by_two_replicas_are_still_linked() {
    const CALLERS: usize = 120;
    let system = System::start().await;
    let stop = komek_runtime::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = listener.local_addr().unwrap();
    let config = komek_triage::Config {
        base: komek_tests::base(&system.nats, &system.db),
        intake: komek_runtime::config::Upstream {
            url: format!("http://{}", system.intake),
            ..Default::default()
        },
        ..Default::default()
    };
    let replica = tokio::spawn(komek_triage::serve(config, listener, stop.clone()));
    komek_tests::wait_key_known(&[second], &system.dispatcher_key).await;

    let telephony = system
        .issue_key(Role::Service, "services/telephony", &[])
        .await;
    let line = intake::intake_service_client::IntakeServiceClient::new(
        komek_tests::authed(system.intake, &telephony).await,
    );
    // Callers spread over Kazakhstan, so only the caller can link their calls.
    let places: Vec<_> = komek_tests::settlements::all()
        .iter()
        .step_by(komek_tests::settlements::all().len() / CALLERS)
        .take(CALLERS)
        .collect();
    let call =
        |i: usize, place: &komek_tests::settlements::Settlement| intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: "Абонент".into(),
                phone: format!("+7 702 {:03} {:04}", i / 10_000, i % 10_000),
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(place)),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                ..Default::default()
            }),
            description: "Зейнеткерге азық-түлік керек".into(),
            ..Default::default()
        };
    let pairs = futures::future::join_all(places.iter().enumerate().map(|(i, place)| {
        let (mut a, mut b) = (line.clone(), line.clone());
        let (first, second) = (call(i, place), call(i, place));
        async move {
            let (x, y) = tokio::join!(a.create_request(first), b.create_request(second));
            (x.unwrap().into_inner().name, y.unwrap().into_inner().name)
        }
    }))
    .await;

    let intake_client = system.intake_client().await;
    for (x, y) in &pairs {
        let x_dup = wait_request(&intake_client, x, "triaged", triaged)
            .await
            .triage
            .unwrap()
            .possible_duplicate_of;
        let y_dup = wait_request(&intake_client, y, "triaged", triaged)
            .await
            .triage
            .unwrap()
            .possible_duplicate_of;
        let linked = [x_dup == *y, y_dup == *x];
        assert!(
            linked == [true, false] || linked == [false, true],
            "{x} → {x_dup:?}, {y} → {y_dup:?}: exactly one of the two calls is linked to the other"
        );
    }
    stop.cancel();
    replica.await.unwrap().unwrap();
    system.stop().await;
}
