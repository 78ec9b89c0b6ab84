//! End to end: a team disbands and a volunteer leaves. A deactivated group's open offer goes to
//! the next group at once and cannot be accepted; the group gets no new offers, keeps its
//! history, and can come back. A deactivated volunteer leaves its groups' member lists and its
//! key stops working. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, authed, create_group, create_organization, create_request, create_volunteer,
    eventually, violated_fields, wait_request,
};
use tonic::Code;
use uuid::Uuid;

fn offered_to(group: &str) -> impl Fn(&komek_proto::intake::v1::Request) -> bool + '_ {
    move |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.group == group && a.status == pb::AssignmentStatus::Offered as i32)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deactivated_group_is_offered_nothing_and_keeps_its_history() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let intake_client = system.intake_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let aqtam = find("Aqtam", "Kyzylorda Region");
    let algabas = find("Algabas", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Kyzylorda Region"],
    )
    .await;
    let group = |name: &'static str, place| {
        let mut client = roster_client.clone();
        let org = org.name.clone();
        async move {
            create_group(
                &mut client,
                &org,
                name,
                place,
                &[pb::Skill::VehicleCargo],
                pb::Availability::Available,
                &Uuid::new_v4().to_string(),
            )
            .await
        }
    };
    let near = group("Шиелі көмір", shieli).await;
    let far = group("Ақтам көмір", aqtam).await;
    let driver = create_volunteer(&mut roster_client, "Бауыржан", vec![near.name.clone()]).await;
    system.wait_roster_published(3).await;
    let key = system.issue_key(Role::Volunteer, &driver.name, &[]).await;
    let mut app = matching::assignment_service_client::AssignmentServiceClient::new(
        authed(system.matching, &key).await,
    );
    let coal = |note: &'static str| {
        let mut client = intake_client.clone();
        async move { create_request(&mut client, None, algabas, at(algabas), note).await }
    };

    // Algabas is 13 km from Shieli and 33 km from Aqtam: Shieli gets the offer.
    let first = coal("Зейнеткерге көмір керек, 2 тонна").await;
    let offer = wait_request(
        &intake_client,
        &first.name,
        "offered to Shieli",
        offered_to(&near.name),
    )
    .await
    .assignment
    .unwrap()
    .assignment;

    // The refusals first: a reason is required, and the group must exist.
    let err = roster_client
        .deactivate_group(roster::DeactivateGroupRequest {
            name: near.name.clone(),
            reason: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["reason"]);
    let err = roster_client
        .deactivate_group(roster::DeactivateGroupRequest {
            name: format!("groups/{}", Uuid::new_v4()),
            reason: "no such team".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // The team sells its truck. Its open offer goes to Aqtam without waiting for it to lapse.
    let deactivated = roster_client
        .deactivate_group(roster::DeactivateGroupRequest {
            name: near.name.clone(),
            reason: "жүк көлігі сатылды".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deactivated.deactivate_time.is_some());
    assert_eq!(deactivated.deactivation_reason, "жүк көлігі сатылды");
    let again = roster_client
        .deactivate_group(roster::DeactivateGroupRequest {
            name: near.name.clone(),
            reason: "another reason".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.etag.as_str(), again.deactivation_reason.as_str()),
        (deactivated.etag.as_str(), "жүк көлігі сатылды"),
        "deactivating twice changes nothing"
    );
    wait_request(
        &intake_client,
        &first.name,
        "passed to Aqtam",
        offered_to(&far.name),
    )
    .await;
    let late = app
        .accept_offer(matching::AcceptOfferRequest {
            name: offer.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: driver.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "{late:?}");
    let withdrawn = app
        .get_assignment(matching::GetAssignmentRequest {
            name: offer.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.status, pb::AssignmentStatus::Withdrawn as i32);

    // New work passes it by; a dispatcher cannot assign it either.
    let second = coal("Көмір таусылды, үйде балалар бар").await;
    wait_request(
        &intake_client,
        &second.name,
        "offered to Aqtam",
        offered_to(&far.name),
    )
    .await;
    let third = coal("Жалғыз қарияға отын керек").await;
    let escalated_or_waiting = wait_request(&intake_client, &third.name, "placed", |r| {
        r.status != pb::RequestStatus::New as i32 && r.status != pb::RequestStatus::Triaged as i32
    })
    .await;
    assert!(
        escalated_or_waiting
            .assignment
            .as_ref()
            .is_none_or(|a| a.group != near.name),
        "{escalated_or_waiting:?}"
    );
    let refused = system
        .dispatch_client()
        .await
        .assign_request(matching::AssignRequestRequest {
            request: third.name.clone(),
            group: near.name.clone(),
            reason: "they said they could".into(),
            request_id: Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("deactivated"), "{refused:?}");

    // Its history stays: listed when asked for, readable, and its record of the offer kept.
    let listed = |show_deactivated| {
        let mut client = roster_client.clone();
        let org = org.name.clone();
        async move {
            client
                .list_groups(roster::ListGroupsRequest {
                    organization: org,
                    show_deactivated,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .groups
                .into_iter()
                .map(|g| g.display_name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(false).await, ["Ақтам көмір"]);
    assert_eq!(listed(true).await.len(), 2);

    // Back with a new truck: offered again.
    let back = roster_client
        .reactivate_group(roster::ReactivateGroupRequest {
            name: near.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(back.deactivate_time.is_none());
    let fourth = coal("Зейнеткер әжеге көмір, 1 тонна").await;
    wait_request(
        &intake_client,
        &fourth.name,
        "offered to Shieli",
        offered_to(&near.name),
    )
    .await;

    // The driver leaves: out of the member list, listed only when asked for, key revoked.
    let gone = roster_client
        .deactivate_volunteer(roster::DeactivateVolunteerRequest {
            name: driver.name.clone(),
            reason: "Астанаға көшті".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(gone.deactivate_time.is_some());
    assert_eq!(
        gone.groups,
        std::slice::from_ref(&near.name),
        "its history of groups stays"
    );
    let members = roster_client
        .get_group(roster::GetGroupRequest {
            name: near.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert!(members.is_empty(), "{members:?}");
    let volunteers = |show_deactivated| roster::ListVolunteersRequest {
        group: near.name.clone(),
        show_deactivated,
        ..Default::default()
    };
    let shown = roster_client
        .list_volunteers(volunteers(false))
        .await
        .unwrap()
        .into_inner()
        .volunteers;
    assert!(shown.is_empty());
    let all = roster_client
        .list_volunteers(volunteers(true))
        .await
        .unwrap()
        .into_inner()
        .volunteers;
    assert_eq!(all.len(), 1);
    let locked_out = eventually(Duration::from_secs(10), || {
        let mut app = app.clone();
        let offer = offer.clone();
        async move {
            match app
                .get_assignment(matching::GetAssignmentRequest { name: offer })
                .await
            {
                Err(e) if e.code() == Code::Unauthenticated => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(locked_out.is_some(), "the volunteer's key still works");

    system.stop().await;
}
