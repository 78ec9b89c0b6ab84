//! Matching stopped between taking a group's place and writing the offer, as a crash would stop
//! it: the transaction is rolled back, the request is placed again on redelivery, and the group
//! holds exactly one place for exactly one offer. (Failpoints are per process: this file is its
//! own test binary.)
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::failpoint::{self, MATCHER_AFTER_TAKE};
use komek_tests::settlements::find;
use komek_tests::{System, at, create_group, create_organization, create_request, wait_request};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_between_the_place_taken_and_the_offer_leaves_one_offer_and_one_place() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let talgar = find("Talghar", "Almaty Region");
    let org = create_organization(
        &mut roster_client,
        "Talgar volunteers",
        roster::OrganizationKind::Ngo,
        &[],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Talgar coal truck",
        talgar,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;

    failpoint::arm(MATCHER_AFTER_TAKE, 1);
    let request = create_request(&mut intake_client, None, talgar, at(talgar), "Көмір керек").await;
    let offered = wait_request(&intake_client, &request.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;
    assert_eq!(offered.assignment.unwrap().group, group.name);

    let pool = sqlx::PgPool::connect(system.db.url()).await.unwrap();
    let group_id = Uuid::parse_str(group.name.trim_start_matches("groups/")).unwrap();
    let request_id = Uuid::parse_str(request.name.trim_start_matches("requests/")).unwrap();
    let offers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM matching.assignments WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(offers, 1);
    let taken: i32 =
        sqlx::query_scalar("SELECT active FROM matching.group_load WHERE group_id = $1")
            .bind(group_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        taken, 1,
        "the place taken before the crash was given back with its transaction"
    );
    assert!(
        !failpoint::fires(MATCHER_AFTER_TAKE),
        "the failpoint was reached"
    );
    system.stop().await;
}
