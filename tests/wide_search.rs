//! End to end: a critical search goes wide. A lost child near Shieli is offered to the three
//! nearest search groups at once; the first to accept leads (and alone gets the caller's
//! contact), the next supports it, a third declines without the ladder offering anyone else.
//! When the lead gives up, the supporter leads. When nobody answers, the second round offers
//! more groups and reaches farther (a group whose area stops short of the child is offered),
//! and when that goes unanswered too, dispatchers take over. Real NATS and PostgreSQL, four
//! servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::collections::BTreeSet;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::{Settlement, find};
use komek_tests::{
    Authed, System, at, authed, create_organization, create_volunteer, eventually, wait_request,
};
use uuid::Uuid;

/// The search groups around Shieli, nearest first: settlement, service radius in km. The first
/// four reach the child at once (4 to 13 km away); Kalgandarya, 26 km away with a 15 km area,
/// only when the search widens.
const GROUPS: [(&str, f64); 5] = [
    ("Zibek", 30.0),
    ("Sasykkum", 30.0),
    ("Zhideliaryk", 30.0),
    ("Algabas", 30.0),
    ("Kalgandar'ya", 15.0),
];

struct Team {
    group: String,
    volunteer: String,
    app: matching::assignment_service_client::AssignmentServiceClient<Authed>,
}

async fn search_group(
    client: &mut roster::roster_service_client::RosterServiceClient<Authed>,
    org: &str,
    place: &Settlement,
    radius_km: f64,
) -> roster::Group {
    client
        .create_group(roster::CreateGroupRequest {
            request_id: Uuid::new_v4().to_string(),
            group: Some(roster::Group {
                organization: org.to_string(),
                display_name: format!("{} іздеушілері", place.name_en),
                base_location: Some(at(place)),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                service_area: Some(pb::ServiceArea {
                    radius_km,
                    districts: vec![],
                }),
                skills: vec![pb::GroupSkill {
                    skill: pb::Skill::SearchRescue as i32,
                    ..Default::default()
                }],
                languages: vec![pb::Language::Kazakh as i32],
                capacity: 1,
                availability: pb::Availability::Available as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn teams(system: &System) -> Vec<Team> {
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Шиелі іздеу-құтқару жасағы",
        roster::OrganizationKind::Ngo,
        &[],
    )
    .await;
    let mut teams = Vec::new();
    for (name, radius) in GROUPS {
        let place = find(name, "Kyzylorda Region");
        let group = search_group(&mut roster_client, &org.name, place, radius).await;
        let volunteer = create_volunteer(
            &mut roster_client,
            &format!("{name} жетекшісі"),
            vec![group.name.clone()],
        )
        .await;
        teams.push(Team {
            group: group.name,
            app: system.volunteer_app(&volunteer.name).await,
            volunteer: volunteer.name,
        });
    }
    system.wait_roster_published(2 * GROUPS.len() as u64).await;
    teams
}

async fn lost_child(system: &System) -> intake::Request {
    let shieli = find("Chiili", "Kyzylorda Region");
    system
        .intake_client()
        .await
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: "Гүлжан Әбдірахманова".into(),
                phone: "+7 702 345 67 89".into(),
                preferred_language: pb::Language::Kazakh as i32,
                anonymous: false,
            }),
            location: Some(pb::Location {
                point: Some(at(shieli)),
                address: "Тоқмағанбетов көшесі 12".into(),
                settlement: shieli.name_en.clone(),
                district: shieli.district.clone(),
                region: shieli.region.clone(),
                ..Default::default()
            }),
            description: "Бала жоғалып кетті, 9 жаста, кешке үйден шығып, қайтпады. Аяз.".into(),
            operator_category: pb::Category::SearchOperation as i32,
            operator_priority: pb::Priority::Critical as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The request's assignments as matching's decisions name them, once there are `count`.
async fn offers(system: &System, request: &str, count: usize) -> Vec<matching::Assignment> {
    let dispatch = system.dispatch_client().await;
    let names = eventually(Duration::from_secs(30), || {
        let mut dispatch = dispatch.clone();
        let request = request.to_string();
        async move {
            let explained = dispatch
                .explain_request(matching::ExplainRequestRequest { request })
                .await
                .ok()?
                .into_inner();
            let names: Vec<String> = explained
                .decisions
                .iter()
                .filter(|d| !d.assignment.is_empty())
                .map(|d| d.assignment.clone())
                .collect();
            (names.len() >= count).then_some(names)
        }
    })
    .await
    .unwrap_or_else(|| panic!("{request}: not {count} offers within 30 s"));
    // Dispatchers read any assignment.
    let mut reader = matching::assignment_service_client::AssignmentServiceClient::new(
        authed(system.matching, &system.dispatcher_key).await,
    );
    let mut out = Vec::new();
    for name in names {
        out.push(
            reader
                .get_assignment(matching::GetAssignmentRequest { name })
                .await
                .unwrap()
                .into_inner(),
        );
    }
    out
}

fn groups_of(assignments: &[matching::Assignment]) -> BTreeSet<String> {
    assignments.iter().map(|a| a.group.clone()).collect()
}

fn offer_of<'a>(assignments: &'a [matching::Assignment], team: &Team) -> &'a matching::Assignment {
    assignments
        .iter()
        .find(|a| a.group == team.group)
        .unwrap_or_else(|| panic!("no offer to {}", team.group))
}

async fn step(team: &mut Team, assignment: &str, step: matching::ProgressStep) {
    team.app
        .update_progress(matching::UpdateProgressRequest {
            name: assignment.to_string(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: team.volunteer.clone(),
            step: step as i32,
            outcome: pb::Outcome::PersonFound as i32,
            reason: "Көлік сынды, жете алмаймыз".into(),
            note: "Бала табылды, ата-анасына тапсырылды".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{step:?}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_group_to_accept_leads_others_support_and_a_supporter_takes_over() {
    let system = System::start().await;
    let mut teams = teams(&system).await;
    let intake_client = system.intake_client().await;
    let child = lost_child(&system).await;

    // Three groups at once, the three nearest; the fourth is not disturbed.
    let round = offers(&system, &child.name, 3).await;
    assert_eq!(
        groups_of(&round),
        teams[..3].iter().map(|t| t.group.clone()).collect()
    );
    for a in &round {
        assert!(a.wide_search && a.search_round == 1, "{a:?}");
        assert_eq!(a.status, pb::AssignmentStatus::Offered as i32);
    }
    let [zibek, sasykkum, zhideliaryk] =
        [0, 1, 2].map(|i| offer_of(&round, &teams[i]).name.clone());

    // Sasykkum answers first: it leads, and the request is its.
    let lead = teams[1]
        .app
        .clone()
        .accept_offer(matching::AcceptOfferRequest {
            name: sasykkum.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: teams[1].volunteer.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lead.search_role, pb::SearchRole::Lead as i32);
    let contact = lead.caller_contact.expect("the lead calls the family back");
    assert_eq!(contact.phone, "+77023456789");
    wait_request(&intake_client, &child.name, "assigned to the lead", |r| {
        r.status == pb::RequestStatus::Assigned as i32
            && r.assignment
                .as_ref()
                .is_some_and(|a| a.assignment == sasykkum)
    })
    .await;

    // Zibek joins as support: no caller's contact, the place only; the request stays the lead's.
    let support = teams[0]
        .app
        .clone()
        .accept_offer(matching::AcceptOfferRequest {
            name: zibek.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: teams[0].volunteer.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(support.search_role, pb::SearchRole::Support as i32);
    assert!(support.caller_contact.is_none());
    assert!(support.location.is_some());

    // Zhideliaryk declines: the search has its lead, so nobody else is offered it.
    teams[2]
        .app
        .clone()
        .decline_offer(matching::DeclineOfferRequest {
            name: zhideliaryk.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: teams[2].volunteer.clone(),
            reason: "decline-busy".into(),
        })
        .await
        .unwrap();
    step(&mut teams[0], &zibek, matching::ProgressStep::EnRoute).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = offers(&system, &child.name, 3).await;
    assert_eq!(after.len(), 3, "nobody else was offered the search");
    let now = intake_client
        .clone()
        .get_request(intake::GetRequestRequest {
            name: child.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.status, pb::RequestStatus::Assigned as i32);
    assert_eq!(now.assignment.unwrap().assignment, sasykkum);

    // The lead's truck breaks down: the supporter already on the way leads now, with the
    // family's number, and the request follows it.
    step(&mut teams[1], &sasykkum, matching::ProgressStep::Aborted).await;
    wait_request(&intake_client, &child.name, "led by Zibek", |r| {
        r.status == pb::RequestStatus::InProgress as i32
            && r.assignment.as_ref().is_some_and(|a| a.assignment == zibek)
    })
    .await;
    let promoted = teams[0]
        .app
        .clone()
        .get_assignment(matching::GetAssignmentRequest {
            name: zibek.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(promoted.search_role, pb::SearchRole::Lead as i32);
    assert_eq!(promoted.caller_contact.unwrap().phone, "+77023456789");
    assert_eq!(
        offers(&system, &child.name, 3).await.len(),
        3,
        "a supporter took over: nobody new was offered"
    );

    step(&mut teams[0], &zibek, matching::ProgressStep::OnSite).await;
    step(&mut teams[0], &zibek, matching::ProgressStep::Completed).await;
    wait_request(&intake_client, &child.name, "resolved", |r| {
        r.status == pb::RequestStatus::Resolved as i32
    })
    .await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unanswered_search_widens_then_goes_to_dispatchers() {
    let system = System::start_tuned(|c| {
        c.offer_ttl.critical_secs = 2;
        c.expiry_sweep_ms = 200;
    })
    .await;
    let teams = teams(&system).await;
    let intake_client = system.intake_client().await;
    let child = lost_child(&system).await;

    // Round one: the three nearest. Nobody answers.
    let first = offers(&system, &child.name, 3).await;
    assert_eq!(
        groups_of(&first),
        teams[..3].iter().map(|t| t.group.clone()).collect()
    );
    // Round two: twice as many wanted, reaching twice as far: Algabas, and Kalgandarya, whose
    // 15 km area stops short of the child 26 km away. The groups of round one are not asked
    // again.
    let all = offers(&system, &child.name, 5).await;
    let second: Vec<&matching::Assignment> = all.iter().filter(|a| a.search_round == 2).collect();
    assert_eq!(
        second
            .iter()
            .map(|a| a.group.clone())
            .collect::<BTreeSet<_>>(),
        teams[3..].iter().map(|t| t.group.clone()).collect()
    );
    assert!(
        all.iter()
            .filter(|a| a.search_round == 1)
            .all(|a| a.status == pb::AssignmentStatus::Expired as i32),
        "round one had lapsed before round two: {all:?}"
    );
    let farther = offer_of(&all, &teams[4]);
    assert!(farther.distance_meters > 15_000.0, "{farther:?}");

    // Round two lapses too: the rounds are spent, dispatchers decide.
    wait_request(&intake_client, &child.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    let queue = system
        .dispatch_client()
        .await
        .list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let item = queue
        .items
        .iter()
        .find(|i| i.request == child.name)
        .expect("in the escalated queue");
    assert!(
        item.escalation_reasons
            .contains(&(pb::IneligibleReason::AlreadyDeclined as i32)),
        "{item:?}"
    );
    system.stop().await;
}
