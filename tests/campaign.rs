//! End to end: a coal campaign. Requests collected while the groups were busy are escalated;
//! once the groups are free a dispatcher places the whole batch at once, and the plan is no
//! longer in total distance than greedy nearest-first. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::collections::HashMap;

use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::{System, at, create_group, create_organization, create_request, wait_request};
use tonic::Code;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_is_placed_at_once_no_worse_than_greedy() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let mut dispatch = system.dispatch_client().await;

    let org = create_organization(
        &mut roster_client,
        "Еңбекшіқазақ ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await;
    // Three trucks of two loads each, busy while the calls come in.
    let mut groups = Vec::new();
    for town in ["Issyk", "Turgen", "Aleksandrovka"] {
        let place = find(town, "Almaty Region");
        let g = create_group(
            &mut roster_client,
            &org.name,
            &format!("{town} coal truck"),
            place,
            &[pb::Skill::VehicleCargo],
            pb::Availability::Busy,
            &Uuid::new_v4().to_string(),
        )
        .await;
        groups.push(g.name);
    }
    system.wait_roster_published(3).await;

    // Eight pensioners in the villages around.
    let mut requests = Vec::new();
    for village in [
        "Akbastau", "Akshiy", "Aktogay", "Alga", "Almaly", "Avat", "Aymen", "Azat",
    ] {
        let place = find(village, "Almaty Region");
        let r = create_request(
            &mut intake_client,
            None,
            place,
            at(place),
            "Зейнеткерге қысқа көмір керек, 1 тонна",
        )
        .await;
        wait_request(&intake_client, &r.name, "escalated", |r| {
            r.status == pb::RequestStatus::Escalated as i32
        })
        .await;
        requests.push(r.name);
    }

    for g in &groups {
        roster_client
            .set_group_availability(roster::SetGroupAvailabilityRequest {
                name: g.clone(),
                availability: pb::Availability::Available as i32,
            })
            .await
            .unwrap();
    }
    system.wait_roster_published(6).await;

    // Bad batches are refused before anything happens.
    let mut twice = requests.clone();
    twice.push(requests[0].clone());
    let err = dispatch
        .create_campaign(matching::CreateCampaignRequest {
            request_id: Uuid::new_v4().to_string(),
            display_name: "Көмір 2026".into(),
            requests: twice,
            validate_only: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("requests[8]"), "{}", err.message());
    let err = dispatch
        .create_campaign(matching::CreateCampaignRequest {
            request_id: Uuid::new_v4().to_string(),
            display_name: "Көмір 2026".into(),
            requests: vec![format!("requests/{}", Uuid::new_v4())],
            validate_only: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // A dry run reports the plan and offers nothing.
    let dry = dispatch
        .create_campaign(matching::CreateCampaignRequest {
            request_id: Uuid::new_v4().to_string(),
            display_name: "Көмір 2026 (plan)".into(),
            requests: requests.clone(),
            validate_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dry.unassigned_count, 2, "six places for eight requests");
    assert!(dry.total_distance_meters <= dry.greedy_total_distance_meters + 0.01);
    let still = wait_request(&intake_client, &requests[0], "escalated", |_| true).await;
    assert_eq!(still.status, pb::RequestStatus::Escalated as i32);

    // The real run places the same plan and makes the offers.
    let key = Uuid::new_v4().to_string();
    let create = matching::CreateCampaignRequest {
        request_id: key.clone(),
        display_name: "Көмір 2026".into(),
        requests: requests.clone(),
        validate_only: false,
    };
    let campaign = dispatch
        .create_campaign(create.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(campaign.unassigned_count, 2);
    assert!(
        (campaign.total_distance_meters - dry.total_distance_meters).abs() < 0.01,
        "{} vs {}",
        campaign.total_distance_meters,
        dry.total_distance_meters
    );
    let mut per_group: HashMap<String, usize> = HashMap::new();
    for item in campaign.items.iter().filter(|i| !i.group.is_empty()) {
        *per_group.entry(item.group.clone()).or_default() += 1;
        let r = wait_request(&intake_client, &item.request, "offered", |r| {
            r.status == pb::RequestStatus::Dispatching as i32
        })
        .await;
        assert_eq!(r.assignment.unwrap().group, item.group);
    }
    assert!(per_group.values().all(|n| *n <= 2), "{per_group:?}");
    assert_eq!(per_group.values().sum::<usize>(), 6);

    // A retry returns the same campaign; GetCampaign reads it back.
    let again = dispatch.create_campaign(create).await.unwrap().into_inner();
    assert_eq!(again.name, campaign.name);
    let read = dispatch
        .get_campaign(matching::GetCampaignRequest {
            name: campaign.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.items, campaign.items);

    system.stop().await;
}
