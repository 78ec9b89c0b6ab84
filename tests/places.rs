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
