//! Saying where and who the caller is, end to end: settlement suggestions over gRPC as an
//! operator types, and phone numbers in the forms people dictate them.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use komek_proto::places::v1 as places;
use komek_proto::places::v1::place_service_client::PlaceServiceClient;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{System, at, authed, create_organization, create_request};

async fn search(
    client: &mut PlaceServiceClient<komek_tests::Authed>,
    query: &str,
    region: &str,
) -> Vec<places::Settlement> {
    client
        .search_settlements(places::SearchSettlementsRequest {
            query: query.into(),
            region: region.into(),
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .settlements
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_finds_a_village_by_typing_and_a_caller_by_their_phone() {
    let system = System::start().await;
    let mut client = PlaceServiceClient::new(authed(system.intake, &system.dispatcher_key).await);

    // Keystroke by keystroke, the Kazakh name typed on a Russian keyboard, with one typo at
    // the end: Shieli (Шиелі; "Chiili" in the gazetteer's English), a town of Kyzylorda
    // Region, stays on top.
    for typed in ["Шие", "Шиел", "Шиели", "Шиелі", "Шиелли"] {
        let hits = search(&mut client, typed, "Kyzylorda Region").await;
        let top = hits
            .first()
            .unwrap_or_else(|| panic!("nothing for {typed}"));
        assert_eq!(top.name_ru, "Шиели", "{typed}");
        assert_eq!(top.name_kk, "Шиелі");
        assert_eq!(top.region, "Kyzylorda Region");
        assert!(!top.district.is_empty());
        let point = top.point.unwrap();
        assert!((44.0..45.0).contains(&point.latitude), "{point:?}");
        assert!(
            hits.len() <= 10,
            "ten suggestions unless more are asked for"
        );
    }
    let city = search(&mut client, "Кызылорда", "").await;
    assert_eq!(city[0].name_en, "Qyzylorda");
    assert_eq!(city[0].fit, places::SettlementFit::Exact as i32);

    // A region is one however it is written: its id, or its name in Kazakh, Russian or
    // English, in full or shortened; every suggestion says which region and district by id.
    for region in [
        "KZ-43",
        "Kyzylorda Region",
        "Қызылорда облысы",
        "Кызылординская область",
        "кызылординской обл.",
    ] {
        let hits = search(&mut client, "Шиели", region).await;
        assert_eq!(hits[0].name_ru, "Шиели", "{region}");
        assert_eq!(hits[0].region_id, "KZ-43", "{region}");
        assert_eq!(hits[0].region_kk, "Қызылорда облысы");
        assert_eq!(hits[0].country, "KZ");
        assert!(hits[0].district_id.starts_with("KZ-43."), "{:?}", hits[0]);
        assert!(!hits[0].district_kk.is_empty());
    }
    let unknown = client
        .search_settlements(places::SearchSettlementsRequest {
            query: "Шиели".into(),
            region: "Атлантида".into(),
            page_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert_eq!(komek_tests::violated_fields(&unknown), ["region"]);

    // Belarus's settlements too: the Red Cross line in Volozhin.
    let volozhin = search(&mut client, "Воложин", "Минская область").await;
    assert_eq!(volozhin[0].name_en, "Valozhyn");
    assert_eq!(
        (volozhin[0].region_id.as_str(), volozhin[0].country.as_str()),
        ("BY-MI", "BY")
    );

    // Any signed-in role may look places up (a partner here); nobody without a key.
    let mut roster = system.roster_client().await;
    let org = create_organization(
        &mut roster,
        "Қызылорда Қызыл Жарты Ай",
        komek_proto::roster::v1::OrganizationKind::RedCrescent,
        &[],
    )
    .await;
    let partner = system.issue_key(Role::Partner, &org.name, &[]).await;
    let mut as_partner = PlaceServiceClient::new(authed(system.intake, &partner).await);
    assert!(!search(&mut as_partner, "Алматы", "").await.is_empty());
    let mut anonymous = PlaceServiceClient::new(komek_tests::connect(system.intake).await.unwrap());
    let refused = anonymous
        .search_settlements(places::SearchSettlementsRequest {
            query: "Алматы".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // Phones as dictated are stored in E.164.
    let shieli = find("Chiili", "Kyzylorda Region");
    let mut intake = system.intake_client().await;
    for (typed, e164) in [
        ("8 (701) 555-44-21", "+77015554421"),
        ("+7 701 555 44 21", "+77015554421"),
        ("80 29 123 45 67", "+375291234567"),
        ("+375 (29) 123-45-67", "+375291234567"),
    ] {
        let created = create_request(
            &mut intake,
            Some(("Айгүл", typed)),
            shieli,
            at(shieli),
            "Зейнеткерге көмір керек",
        )
        .await;
        assert_eq!(created.caller.unwrap().phone, e164, "{typed}");
    }
    system.stop().await;
}

/// An anonymous hotline call from Kegen about coal, with the region and district as the
/// operator named them (empty: not named).
fn kegen_call(region: &str, district: &str) -> komek_proto::intake::v1::CreateRequestRequest {
    use komek_proto::intake::v1 as intake;
    use komek_proto::types::v1 as pb;
    intake::CreateRequestRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            anonymous: true,
            ..Default::default()
        }),
        location: Some(pb::Location {
            point: Some(at(find("Kegen", "Almaty Region"))),
            settlement: "Кеген".into(),
            district: district.into(),
            region: region.into(),
            ..Default::default()
        }),
        description: "Жалғыз ардагерге көмір керек, 1 тонна".into(),
        ..Default::default()
    }
}

/// A request is filed under one region however the operator names it, and under the district
/// whose outline holds its point when none is named; keys, filters and queues take any of the
/// names too, and a region nobody knows is refused with its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_is_one_whatever_language_names_it_and_a_point_finds_its_district() {
    use komek_proto::intake::v1 as intake;
    use komek_proto::matching::v1 as matching;

    let system = System::start().await;
    let mut client = system.intake_client().await;
    let call = kegen_call;
    let mut names = Vec::new();
    for (region, district) in [
        ("Алматы облысы", "Райымбек ауданы"),
        ("Алматинская область", "Райымбекский район"),
        ("KZ-19", ""),
        ("", ""),
    ] {
        let created = client
            .create_request(call(region, district))
            .await
            .unwrap()
            .into_inner();
        let location = created.location.unwrap();
        assert_eq!(location.region, "Almaty Region", "{region:?}");
        assert_eq!(location.district, "Raiymbekskiy", "{region:?} {district:?}");
        assert_eq!(
            (location.region_id.as_str(), location.district_id.as_str()),
            ("KZ-19", "KZ-19.raiymbekskiy"),
            "one place, one pair of ids"
        );
        names.push(created.name);
    }

    // A regional dispatcher's key names its region in Kazakh; it sees all four.
    let regional = system
        .issue_key(Role::Dispatcher, "dispatchers/kegen", &["Алматы облысы"])
        .await;
    let mut as_regional = intake::intake_service_client::IntakeServiceClient::new(
        authed(system.intake, &regional).await,
    );
    for filter in ["", "Алматинская обл.", "KZ-19"] {
        let listed = as_regional
            .list_requests(intake::ListRequestsRequest {
                region: filter.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut seen: Vec<String> = listed.requests.into_iter().map(|r| r.name).collect();
        seen.sort();
        let mut all = names.clone();
        all.sort();
        assert_eq!(seen, all, "filter {filter:?}");
    }

    // The dispatchers' queues take the region in any language; unknown names are refused.
    let mut dispatch = system.dispatch_client().await;
    dispatch
        .list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            region: "Алматы облысы".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = dispatch
        .list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            region: "Атлантида".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(komek_tests::violated_fields(&refused), ["region"]);
    let refused = client
        .create_request(call("Atlantis", ""))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(komek_tests::violated_fields(&refused), ["location.region"]);
    system.stop().await;
}

/// A group whose service area is a district named in Russian takes a request whose district
/// nobody named (intake found it from the point, and both are kept in one form), and one whose
/// caller named the district otherwise: the district is an outline, and the point is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_district_named_in_russian_covers_a_request_placed_by_its_point() {
    use komek_proto::roster::v1 as roster;
    use komek_proto::types::v1 as pb;

    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Кеген ауданының еріктілері",
        roster::OrganizationKind::Ngo,
        &[],
    )
    .await;
    // Based in Almaty, 200 km away: only its district brings Kegen into its area.
    let almaty = find("Almaty", "Almaty");
    let group = roster_client
        .create_group(roster::CreateGroupRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            group: Some(roster::Group {
                organization: org.name.clone(),
                display_name: "Көмір тасушылар".into(),
                base_location: Some(at(almaty)),
                settlement: almaty.name_en.clone(),
                region: "Алматы облысы".into(),
                service_area: Some(pb::ServiceArea {
                    radius_km: 0.0,
                    districts: vec!["Райымбекский район".into()],
                }),
                skills: (1..=10)
                    .map(|skill| pb::GroupSkill {
                        skill,
                        payload_tonnes: 5.0,
                        ..Default::default()
                    })
                    .collect(),
                languages: vec![pb::Language::Kazakh as i32, pb::Language::Russian as i32],
                capacity: 2,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(group.region, "Almaty Region");
    assert_eq!(group.service_area.unwrap().districts, ["Raiymbekskiy"]);
    system.wait_roster_published(1).await;

    let mut client = system.intake_client().await;
    let created = client
        .create_request(kegen_call("", ""))
        .await
        .unwrap()
        .into_inner();
    let offered = komek_tests::wait_request(&client, &created.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;
    assert_eq!(offered.assignment.unwrap().group, group.name);

    // The caller names the district created in 2022, which the outlines do not have: the
    // request keeps that name, and the district's outline still holds its point, so the
    // group that covers the district takes it.
    let named = client
        .create_request(kegen_call("Алматы облысы", "Кеген ауданы"))
        .await
        .unwrap()
        .into_inner();
    let location = named.location.as_ref().unwrap();
    assert_ne!(
        location.district, "Raiymbekskiy",
        "kept as the caller named it"
    );
    assert_eq!(
        (location.region_id.as_str(), location.district_id.as_str()),
        ("KZ-19", ""),
        "a district the outlines do not know has no id"
    );
    let offered =
        komek_tests::wait_request(&client, &named.name, "offered", |r| r.assignment.is_some())
            .await;
    assert_eq!(offered.assignment.unwrap().group, group.name);
    system.stop().await;
}
