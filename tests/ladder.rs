//! End to end: the offer ladder. A declined offer goes to the next nearest group, an offer left
//! unanswered expires and goes to the next, and when the attempts run out the request is
//! escalated with the reasons. Accepting is compare-and-set and idempotent. Real NATS and
//! PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use futures::StreamExt;
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, create_volunteer, wait_request,
};
use prost::Message;
use tonic::Code;
use uuid::Uuid;

/// Offers of normal priority lapse after this long in this test.
const NORMAL_TTL_SECS: u64 = 5;

fn offered_to(group: &str) -> impl Fn(&intake::Request) -> bool + '_ {
    move |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.group == group && a.status == pb::AssignmentStatus::Offered as i32)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_and_expired_offers_move_down_the_ladder_then_escalate() {
    let system = System::start_tuned(|c| {
        c.offer_ttl.normal_secs = NORMAL_TTL_SECS;
        c.offer_ttl.high_secs = 120;
        c.expiry_sweep_ms = 200;
        c.max_attempts = 3;
    })
    .await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let mut dispatcher_view = system.assignment_client().await;
    let nats = async_nats::connect(system.nats.url()).await.unwrap();
    let mut escalations = nats.subscribe("komek.request.escalated").await.unwrap();
    nats.flush().await.unwrap();

    let talgar = find("Talghar", "Almaty Region");
    let issyk = find("Issyk", "Almaty Region");
    let almaty = find("Almaty", "Almaty");
    let org = create_organization(
        &mut roster_client,
        "Алматы облысы көмір жеткізу",
        roster::OrganizationKind::AkimatService,
        &["Almaty", "Almaty Region"],
    )
    .await;
    let mut groups = Vec::new();
    let mut volunteers = Vec::new();
    // Nearest first from Talgar: Talgar itself, Issyk (18 km), Almaty (26 km).
    for (place, label) in [(talgar, "Talgar"), (issyk, "Issyk"), (almaty, "Almaty")] {
        let group = create_group(
            &mut roster_client,
            &org.name,
            &format!("{label} coal trucks"),
            place,
            &[pb::Skill::VehicleCargo],
            pb::Availability::Available,
            &Uuid::new_v4().to_string(),
        )
        .await;
        let volunteer = roster_client
            .create_volunteer(roster::CreateVolunteerRequest {
                request_id: Uuid::new_v4().to_string(),
                volunteer: Some(roster::Volunteer {
                    display_name: format!("{label} driver"),
                    languages: vec![pb::Language::Russian as i32],
                    groups: vec![group.name.clone()],
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        groups.push(group.name);
        volunteers.push(volunteer.name);
    }
    system.wait_roster_published(6).await;
    // Each driver's phone, signed in as that driver.
    let mut apps = Vec::new();
    for v in &volunteers {
        apps.push(system.volunteer_app(v).await);
    }

    let request = create_request(
        &mut intake_client,
        None,
        talgar,
        at(talgar),
        "Зейнеткерге көмір керек, 2 тонна",
    )
    .await;

    // 1. Talgar, the nearest, declines: the next nearest gets the offer.
    let first = wait_request(
        &intake_client,
        &request.name,
        "offered to Talgar",
        offered_to(&groups[0]),
    )
    .await
    .assignment
    .unwrap();
    let decline = matching::DeclineOfferRequest {
        name: first.assignment.clone(),
        request_id: Uuid::new_v4().to_string(),
        volunteer: volunteers[0].clone(),
        reason: "машина сломалась".into(),
    };
    let declined = apps[0]
        .decline_offer(decline.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.status, pb::AssignmentStatus::Declined as i32);
    assert!(declined.reason.contains("машина сломалась"));
    // A retried decline returns the same answer and moves nothing further.
    let again = apps[0].decline_offer(decline).await.unwrap().into_inner();
    assert_eq!(again.etag, declined.etag);
    let second = wait_request(
        &intake_client,
        &request.name,
        "offered to Issyk",
        offered_to(&groups[1]),
    )
    .await
    .assignment
    .unwrap();

    // 2. Issyk does not answer: the offer lapses and Almaty gets it.
    let third = wait_request(
        &intake_client,
        &request.name,
        "offered to Almaty",
        offered_to(&groups[2]),
    )
    .await
    .assignment
    .unwrap();
    let lapsed = dispatcher_view
        .get_assignment(matching::GetAssignmentRequest {
            name: second.assignment.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lapsed.status, pb::AssignmentStatus::Expired as i32);
    // A late accept of the lapsed offer is refused with the reason.
    let late = apps[1]
        .accept_offer(matching::AcceptOfferRequest {
            name: second.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[1].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("expired"), "{}", late.message());
    // Only the group's own volunteers may answer its offer.
    let stranger = apps[0]
        .decline_offer(matching::DeclineOfferRequest {
            name: third.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[0].clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), Code::PermissionDenied);
    // Nor may a volunteer answer in another's name, even one who is a member.
    let impostor = apps[0]
        .decline_offer(matching::DeclineOfferRequest {
            name: third.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[2].clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(impostor.code(), Code::PermissionDenied);
    assert!(
        impostor.message().contains("cannot act as"),
        "{}",
        impostor.message()
    );

    // 3. Almaty declines too: three attempts made, the request goes to dispatchers.
    apps[2]
        .decline_offer(matching::DeclineOfferRequest {
            name: third.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[2].clone(),
            reason: String::new(),
        })
        .await
        .unwrap();
    wait_request(&intake_client, &request.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    let escalated = tokio::time::timeout(Duration::from_secs(10), escalations.next())
        .await
        .expect("escalation published")
        .unwrap();
    let escalated = ev::RequestEscalated::decode(escalated.payload.as_ref()).unwrap();
    assert_eq!(escalated.request, request.name);
    assert_eq!(escalated.attempts, 3);
    assert!(
        escalated
            .reasons
            .contains(&(pb::IneligibleReason::AlreadyDeclined as i32)),
        "{:?}",
        escalated.reasons
    );
    assert_eq!(
        escalated.candidates.len(),
        3,
        "the escalation lists who was considered"
    );

    // ExplainRequest replays the ladder: three offers, each to the nearest group left, then
    // the escalation.
    let explanation = system
        .dispatch_client()
        .await
        .explain_request(matching::ExplainRequestRequest {
            request: request.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let steps: Vec<(i32, bool, Option<String>)> = explanation
        .decisions
        .iter()
        .map(|d| {
            let chosen = d
                .candidates
                .iter()
                .find(|c| c.chosen)
                .map(|c| c.group.clone());
            (d.attempt, d.escalated, chosen)
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1, false, Some(groups[0].clone())),
            (2, false, Some(groups[1].clone())),
            (3, false, Some(groups[2].clone())),
            (4, true, None),
        ]
    );
    let second_try = &explanation.decisions[1].candidates;
    let talgar_then = second_try.iter().find(|c| c.group == groups[0]).unwrap();
    assert_eq!(
        talgar_then.reasons,
        vec![pb::IneligibleReason::AlreadyDeclined as i32]
    );
    assert_eq!(talgar_then.group_display_name, "Talgar coal trucks");

    // Accepting: a request whose coal runs out is high priority, and Talgar has room again.
    let urgent = create_request(
        &mut intake_client,
        None,
        talgar,
        at(talgar),
        "Уголь закончился, осталось на два дня",
    )
    .await;
    let offer = wait_request(
        &intake_client,
        &urgent.name,
        "offered to Talgar",
        offered_to(&groups[0]),
    )
    .await
    .assignment
    .unwrap();
    let accept = matching::AcceptOfferRequest {
        name: offer.assignment.clone(),
        request_id: Uuid::new_v4().to_string(),
        volunteer: volunteers[0].clone(),
    };
    let accepted = apps[0]
        .accept_offer(accept.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.status, pb::AssignmentStatus::Accepted as i32);
    let retried = apps[0].accept_offer(accept).await.unwrap().into_inner();
    assert_eq!(
        retried.etag, accepted.etag,
        "a retried accept changes nothing"
    );
    let late_decline = apps[0]
        .decline_offer(matching::DeclineOfferRequest {
            name: offer.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[0].clone(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(late_decline.code(), Code::FailedPrecondition);
    wait_request(&intake_client, &urgent.name, "assigned", |r| {
        r.status == pb::RequestStatus::Assigned as i32
    })
    .await;

    // Progress: refused out of order or without an outcome; en route, on site, completed.
    let progress =
        |step: matching::ProgressStep, outcome: pb::Outcome| matching::UpdateProgressRequest {
            name: offer.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteers[0].clone(),
            step: step as i32,
            outcome: outcome as i32,
            note: "2 тонна түсірілді".into(),
            ..Default::default()
        };
    let err = apps[0]
        .update_progress(progress(
            matching::ProgressStep::OnSite,
            pb::Outcome::Unspecified,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "on site before en route"
    );
    let err = apps[0]
        .update_progress(progress(
            matching::ProgressStep::Completed,
            pb::Outcome::Unspecified,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("outcome"), "{}", err.message());

    // Talgar rests an hour after a job.
    let mut roster_client2 = roster_client.clone();
    let talgar_group = roster_client2
        .get_group(roster::GetGroupRequest {
            name: groups[0].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut rested = talgar_group.clone();
    rested.rest_minutes = 60;
    roster_client2
        .update_group(roster::UpdateGroupRequest {
            group: Some(rested),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["rest_minutes".into()],
            }),
        })
        .await
        .unwrap();
    system.wait_roster_published(7).await;

    // Positions are refused before the truck is en route, then sent out live.
    let mut positions = nats.subscribe("komek.live.position.>").await.unwrap();
    nats.flush().await.unwrap();
    let ping = |latitude: f64| matching::ReportPositionRequest {
        name: offer.assignment.clone(),
        location: Some(pb::LatLng {
            latitude,
            longitude: talgar.lon,
        }),
        fix_time: None,
    };
    let err = apps[0].report_position(ping(talgar.lat)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    apps[0]
        .update_progress(progress(
            matching::ProgressStep::EnRoute,
            pb::Outcome::Unspecified,
        ))
        .await
        .unwrap();
    let err = apps[0].report_position(ping(95.0)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    apps[0]
        .report_position(ping(talgar.lat + 0.01))
        .await
        .unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), positions.next())
        .await
        .expect("a live position")
        .unwrap();
    let fix = pb::LatLng::decode(live.payload.as_ref()).unwrap();
    assert!((fix.latitude - (talgar.lat + 0.01)).abs() < 1e-9);
    apps[0]
        .update_progress(progress(
            matching::ProgressStep::OnSite,
            pb::Outcome::Unspecified,
        ))
        .await
        .unwrap();
    let done = apps[0]
        .update_progress(progress(
            matching::ProgressStep::Completed,
            pb::Outcome::Helped,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::AssignmentStatus::Completed as i32);
    assert_eq!(done.outcome, pb::Outcome::Helped as i32);
    let resolved = wait_request(&intake_client, &urgent.name, "resolved", |r| {
        r.status == pb::RequestStatus::Resolved as i32
    })
    .await;
    assert_eq!(resolved.outcome, pb::Outcome::Helped as i32);

    // Resting, Talgar is passed over for the next request, with the reason recorded.
    let mut offers = nats.subscribe("komek.assignment.offered").await.unwrap();
    nats.flush().await.unwrap();
    let next = create_request(
        &mut intake_client,
        None,
        talgar,
        at(talgar),
        "Көмір бітіп қалды, отын керек",
    )
    .await;
    let placed = wait_request(&intake_client, &next.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await
    .assignment
    .unwrap();
    assert_eq!(placed.group, groups[1], "Issyk, the next nearest");
    let event = tokio::time::timeout(Duration::from_secs(10), offers.next())
        .await
        .unwrap()
        .unwrap();
    let event = ev::AssignmentOffered::decode(event.payload.as_ref()).unwrap();
    let talgar_candidate = event
        .candidates
        .iter()
        .find(|c| c.group == groups[0])
        .expect("Talgar was considered");
    assert_eq!(
        talgar_candidate.reasons,
        vec![pb::IneligibleReason::Resting as i32]
    );

    system.stop().await;
}

/// The accept of a group whose offer is about to lapse races the lapse and the next group's
/// accept. Whatever the timing, exactly one group ends up with the job, and only it gets the
/// caller's contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_groups_race_for_one_request_and_exactly_one_wins() {
    let system = System::start_tuned(|c| {
        c.offer_ttl.normal_secs = 1;
        c.expiry_sweep_ms = 20;
        c.max_attempts = 20;
    })
    .await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let talgar = find("Talghar", "Almaty Region");
    let issyk = find("Issyk", "Almaty Region");
    let org = create_organization(
        &mut roster_client,
        "Алматы облысы көмір жеткізу",
        roster::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await;
    let mut groups = Vec::new();
    let mut apps = Vec::new();
    for (place, label) in [(talgar, "Talgar"), (issyk, "Issyk")] {
        let group = create_group(
            &mut roster_client,
            &org.name,
            &format!("{label} coal trucks"),
            place,
            &[pb::Skill::VehicleCargo],
            pb::Availability::Available,
            &Uuid::new_v4().to_string(),
        )
        .await;
        let volunteer = create_volunteer(
            &mut roster_client,
            &format!("{label} driver"),
            vec![group.name.clone()],
        )
        .await;
        groups.push(group.name);
        apps.push(system.volunteer_app(&volunteer.name).await);
    }
    system.wait_roster_published(4).await;
    // Issyk's phone listens for offers all along.
    let mut issyk_feed = apps[1]
        .stream_offers(matching::StreamOffersRequest::default())
        .await
        .unwrap()
        .into_inner();

    let (caller, phone) = ("Гүлнар Әбілова", "+77015550099");
    let mut winners = [0, 0];
    for round in 0..6u64 {
        let request = create_request(
            &mut intake_client,
            Some((caller, phone)),
            talgar,
            at(talgar),
            "Көмір керек, 2 тонна",
        )
        .await;
        let offer = wait_request(
            &intake_client,
            &request.name,
            "offered to Talgar",
            offered_to(&groups[0]),
        )
        .await
        .assignment
        .unwrap();
        // Talgar answers around the moment its offer lapses: a little before, or just after.
        let lapse = offer.expire_time.unwrap();
        let lapse = std::time::UNIX_EPOCH + Duration::new(lapse.seconds as u64, lapse.nanos as u32);
        let aim = lapse - Duration::from_millis(60) + Duration::from_millis(25 * round);
        let wait = aim
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let mut talgar_app = apps[0].clone();
        let talgar_answer = tokio::spawn({
            let name = offer.assignment.clone();
            async move {
                tokio::time::sleep(wait).await;
                talgar_app
                    .accept_offer(matching::AcceptOfferRequest {
                        name,
                        request_id: Uuid::new_v4().to_string(),
                        volunteer: String::new(),
                    })
                    .await
            }
        });
        // Issyk takes the request the moment it is offered to it.
        let mut issyk_app = apps[1].clone();
        let request_name = request.name.clone();
        let issyk_answer = tokio::time::timeout(Duration::from_secs(4), async {
            while let Some(event) = issyk_feed.next().await {
                let event = event.unwrap();
                let Some(a) = event.assignment.filter(|a| a.request == request_name) else {
                    continue;
                };
                if event.kind == matching::OfferEventKind::Offered as i32 {
                    return issyk_app
                        .accept_offer(matching::AcceptOfferRequest {
                            name: a.name,
                            request_id: Uuid::new_v4().to_string(),
                            volunteer: String::new(),
                        })
                        .await;
                }
            }
            panic!("offer stream ended");
        })
        .await;
        let talgar_answer = talgar_answer.await.unwrap();
        let won: Vec<bool> = [talgar_answer.is_ok(), matches!(&issyk_answer, Ok(Ok(_)))].into();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one group wins ({talgar_answer:?}, {issyk_answer:?})"
        );
        let winner = won.iter().position(|w| *w).unwrap();
        winners[winner] += 1;
        if let Err(status) = &talgar_answer {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        }
        let taken = match winner {
            0 => talgar_answer.unwrap().into_inner(),
            _ => issyk_answer.unwrap().unwrap().into_inner(),
        };
        let contact = taken
            .caller_contact
            .clone()
            .expect("the winner gets the contact");
        assert_eq!(
            (contact.display_name.as_str(), contact.phone.as_str()),
            (caller, phone)
        );
        let settled = wait_request(&intake_client, &request.name, "assigned", |r| {
            r.status == pb::RequestStatus::Assigned as i32
        })
        .await;
        assert_eq!(settled.assignment.unwrap().group, groups[winner]);
        // The loser's view of its own lapsed offer has no contact.
        if winner == 1 {
            let lapsed = apps[0]
                .get_assignment(matching::GetAssignmentRequest {
                    name: offer.assignment.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(lapsed.status, pb::AssignmentStatus::Expired as i32);
            assert!(lapsed.caller_contact.is_none());
        }
        // The job is done at once, so the group has room for the next round.
        for step in [
            matching::ProgressStep::EnRoute,
            matching::ProgressStep::OnSite,
            matching::ProgressStep::Completed,
        ] {
            apps[winner]
                .update_progress(matching::UpdateProgressRequest {
                    name: taken.name.clone(),
                    request_id: Uuid::new_v4().to_string(),
                    step: step as i32,
                    outcome: pb::Outcome::Helped as i32,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let after = apps[winner]
            .get_assignment(matching::GetAssignmentRequest {
                name: taken.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            after.caller_contact.is_none(),
            "no contact once the job is done"
        );
    }
    println!(
        "wins over 6 rounds: Talgar {}, Issyk {}",
        winners[0], winners[1]
    );
    system.stop().await;
}
