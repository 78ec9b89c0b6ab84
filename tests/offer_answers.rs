//! End to end, what a volunteer's app meets answering offers: an accept retried with a fresh
//! request_id (the reply was lost) gets its own accepted assignment back, and so does a retried
//! decline; and an escalation shows every reason of every group, so a group that lacks the
//! skill is also shown full when it is. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::{Settlement, find};
use komek_tests::{
    System, at, create_group, create_group_for, create_organization, create_request,
    create_volunteer, wait_request,
};
use tonic::Code;
use uuid::Uuid;

/// A youth wing's coal crew at Shiieli (carrying cargo, room for `capacity` jobs) with one
/// volunteer, Дәурен, published to matching.
async fn coal_crew_at_shieli(
    system: &System,
    capacity: i32,
) -> (&'static Settlement, roster::Volunteer) {
    let mut roster_client = system.roster_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі жастары",
        roster::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let skills = [pb::Skill::VehicleCargo];
    let group = (
        "Шиелі көмір",
        shieli,
        &skills[..],
        pb::Availability::Available,
    );
    let id = Uuid::new_v4().to_string();
    let group = create_group_for(&mut roster_client, &org.name, group, capacity, &id).await;
    let volunteer = create_volunteer(&mut roster_client, "Дәурен", vec![group.name.clone()]).await;
    system.wait_roster_published(2).await;
    (shieli, volunteer)
}

/// The request's assignment is an open offer.
fn offered(r: &komek_proto::intake::v1::Request) -> bool {
    r.assignment
        .as_ref()
        .is_some_and(|a| a.status == pb::AssignmentStatus::Offered as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_retried_with_a_fresh_request_id_gets_the_answer_already_given() {
    let system = System::start().await;
    let mut intake_client = system.intake_client().await;
    let (shieli, volunteer) = coal_crew_at_shieli(&system, 2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;

    let first = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Зейнеткерге көмір керек, 2 тонна",
    )
    .await;
    let offer = wait_request(&intake_client, &first.name, "offered", offered)
        .await
        .assignment
        .unwrap()
        .assignment;
    let accept = |request_id: String| matching::AcceptOfferRequest {
        name: offer.clone(),
        request_id,
        volunteer: volunteer.name.clone(),
    };
    let key = Uuid::new_v4().to_string();
    let accepted = app
        .accept_offer(accept(key.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.status, pb::AssignmentStatus::Accepted as i32);
    // Retried under the same key: the accepted job, not a second accept.
    let same = app
        .accept_offer(accept(key))
        .await
        .expect("an accept retried under its key is not refused")
        .into_inner();
    assert_eq!(same.name, accepted.name);
    assert_eq!(same.status, pb::AssignmentStatus::Accepted as i32);
    assert_eq!(same.etag, accepted.etag);
    // The reply was lost; the app retries under a new key and gets its accepted job.
    let again = app
        .accept_offer(accept(Uuid::new_v4().to_string()))
        .await
        .expect("a retried accept is not refused")
        .into_inner();
    assert_eq!(again.name, accepted.name);
    assert_eq!(again.status, pb::AssignmentStatus::Accepted as i32);
    // Still one job: the group's capacity was taken once.
    let explained = system
        .dispatch_client()
        .await
        .explain_request(matching::ExplainRequestRequest {
            request: first.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.decisions.len(), 1);
    // Declining what was accepted is still refused: that is a different answer.
    let declined = app
        .decline_offer(matching::DeclineOfferRequest {
            name: offer.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteer.name.clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(declined.code(), Code::FailedPrecondition);

    // A decline retried under a new key gets the declined offer back.
    let second = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Жалғыз әжеге отын керек",
    )
    .await;
    let offer = wait_request(&intake_client, &second.name, "offered", offered)
        .await
        .assignment
        .unwrap()
        .assignment;
    let decline = |request_id: String| matching::DeclineOfferRequest {
        name: offer.clone(),
        request_id,
        volunteer: volunteer.name.clone(),
        reason: "көлік бос емес".into(),
    };
    let first_answer = app
        .decline_offer(decline(Uuid::new_v4().to_string()))
        .await
        .unwrap()
        .into_inner();
    let retried = app
        .decline_offer(decline(Uuid::new_v4().to_string()))
        .await
        .expect("a retried decline is not refused")
        .into_inner();
    assert_eq!(retried.name, first_answer.name);
    assert_eq!(retried.status, pb::AssignmentStatus::Declined as i32);
    system.stop().await;
}

/// Accepts of many offers at once, more than matching has database connections (8 in these
/// tests), are written together and each volunteer's call gets its own job back, accepted,
/// with its caller's contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_accepts_answers_each_call_with_its_own_job() {
    const BURST: usize = 24;
    let system = System::start().await;
    let mut intake_client = system.intake_client().await;
    let (shieli, volunteer) = coal_crew_at_shieli(&system, BURST as i32).await;
    let app = system.volunteer_app(&volunteer.name).await;

    let mut offers = Vec::new();
    for i in 0..BURST {
        let note = format!("Зейнеткерге көмір керек, {} тонна", i % 3 + 1);
        let request = create_request(&mut intake_client, None, shieli, at(shieli), &note).await;
        offers.push(request.name);
    }
    let mut assignments = Vec::new();
    for request in &offers {
        let r = wait_request(&intake_client, request, "offered", offered).await;
        assignments.push(r.assignment.unwrap().assignment);
    }

    let accepts = assignments.iter().map(|offer| {
        let mut app = app.clone();
        let accept = matching::AcceptOfferRequest {
            name: offer.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteer.name.clone(),
        };
        async move { app.accept_offer(accept).await }
    });
    let answers = futures::future::join_all(accepts).await;
    for (offer, answer) in assignments.iter().zip(answers) {
        let answer = answer
            .unwrap_or_else(|e| panic!("{offer}: {e}"))
            .into_inner();
        assert_eq!(answer.name, *offer);
        assert_eq!(answer.status, pb::AssignmentStatus::Accepted as i32);
        assert!(answer.caller_contact.is_some(), "{offer} has its contact");
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_escalation_shows_a_group_without_the_skill_also_full() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі әлеуметтік көмек",
        roster::OrganizationKind::AkimatService,
        &[],
    )
    .await;
    // A social-care group with room for two jobs, and nobody who searches.
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Шиелі әлеуметтік қызметкерлер",
        shieli,
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;
    // Two home-help calls fill it.
    for note in [
        "Жалғыз тұратын ардагерге үй шаруасына көмек керек",
        "Одинокой пенсионерке нужна помощь по дому, не может выйти",
    ] {
        let r = create_request(&mut intake_client, None, shieli, at(shieli), note).await;
        wait_request(&intake_client, &r.name, "offered to the group", |r| {
            r.assignment.as_ref().is_some_and(|a| a.group == group.name)
        })
        .await;
    }
    // A missing child: the group has no search skill, and it is full as well.
    let search = create_request(
        &mut intake_client,
        None,
        shieli,
        at(shieli),
        "Пропал ребенок 7 лет, ушёл из дома вечером",
    )
    .await;
    wait_request(&intake_client, &search.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    let explained = system
        .dispatch_client()
        .await
        .explain_request(matching::ExplainRequestRequest {
            request: search.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let decision = explained.decisions.last().unwrap();
    assert!(decision.escalated);
    let candidate = decision
        .candidates
        .iter()
        .find(|c| c.group == group.name)
        .expect("the group among the candidates");
    for reason in [
        pb::IneligibleReason::MissingSkill,
        pb::IneligibleReason::NoCapacity,
    ] {
        assert!(
            candidate.reasons.contains(&(reason as i32)),
            "{reason:?} missing from {:?}",
            candidate.reasons
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_says_what_is_needed_without_personal_data_and_the_address_follows_the_accept() {
    use futures::StreamExt;
    use komek_proto::intake::v1 as intake;

    let system = System::start().await;
    let mut intake_client = system.intake_client().await;
    let (shieli, volunteer) = coal_crew_at_shieli(&system, 2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;
    let mut feed = app
        .stream_offers(matching::StreamOffersRequest {
            volunteer: volunteer.name.clone(),
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let address = "Абай көшесі 12, 5-пәтер, мектептің қасында";
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: "Гүлнар Сейітова".into(),
                phone: "8 701 555 44 21".into(),
                preferred_language: pb::Language::Kazakh as i32,
                anonymous: false,
            }),
            location: Some(pb::Location {
                point: Some(at(shieli)),
                address: address.into(),
                settlement: shieli.name_en.clone(),
                district: shieli.district.clone(),
                region: shieli.region.clone(),
                ..Default::default()
            }),
            description: "Гүлнар апаға көмір керек, 2 тонна. Қызы хабарласады: +7 702 111 22 33, ЖСН 850101400123"
                .into(),
            people_count: 1,
            quantity: Some(pb::Quantity {
                value: 2.0,
                unit: "t".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let note = &created.volunteer_note;
    assert!(note.contains("көмір керек, 2 тонна"), "{note}");
    for personal in ["Гүлнар", "702", "850101400123"] {
        assert!(!note.contains(personal), "{personal} in {note:?}");
    }

    // The offer, live: what is needed, how much, for how many; settlement, no address.
    let offered = loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), feed.next())
            .await
            .expect("an offer in time")
            .unwrap()
            .unwrap();
        if event.kind == matching::OfferEventKind::Offered as i32 {
            break event.assignment.unwrap();
        }
    };
    assert_eq!(offered.request, created.name);
    assert_eq!(&offered.summary, note);
    assert_eq!(offered.people_count, 1);
    let quantity = offered.quantity.clone().unwrap();
    assert_eq!((quantity.value, quantity.unit.as_str()), (2.0, "t"));
    assert!(offered.location.as_ref().unwrap().address.is_empty());
    assert!(offered.caller_contact.is_none());
    let before = app
        .get_assignment(matching::GetAssignmentRequest {
            name: offered.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&before.summary, note, "GetAssignment says the same");
    assert!(
        before.location.unwrap().address.is_empty(),
        "no address before accept"
    );

    // Accepted: the contact and where to go.
    let accepted = app
        .accept_offer(matching::AcceptOfferRequest {
            name: offered.name.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteer.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let contact = accepted.caller_contact.unwrap();
    assert_eq!(contact.phone, "+77015554421");
    assert_eq!(contact.address, address);
    assert_eq!(accepted.location.unwrap().address, address);

    // An operator's own words for volunteers are kept as written.
    let own = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(shieli)),
                settlement: shieli.name_en.clone(),
                region: shieli.region.clone(),
                ..Default::default()
            }),
            description: "Қарт кісіге отын керек".into(),
            volunteer_note: "Отынды жарып, қораға жинау керек".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.volunteer_note, "Отынды жарып, қораға жинау керек");
    system.stop().await;
}
