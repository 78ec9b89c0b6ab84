//! Two matching replicas share one database and one stream and take 1,500 requests at once,
//! each request delivered twice, all wanting the same few groups. PostgreSQL must keep every
//! group within its capacity and every request to one active offer. No intake runs, so no
//! request waits for its volunteer note. Real NATS and PostgreSQL.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_testkit::{Nats, TestDb};
use komek_tests::settlements::all;
use komek_tests::{base, eventually};
use prost::Message;
use uuid::Uuid;

const REQUESTS: usize = 1500;
const GROUPS: usize = 10;
const CAPACITY: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_over_book() {
    let nats = Nats::start();
    let db = TestDb::create().await;
    let stop = CancellationToken::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = komek_matching::Config {
            base: base(&nats, &db),
            ..Default::default()
        };
        replicas.push(tokio::spawn(komek_matching::serve(
            config,
            listener,
            stop.clone(),
        )));
    }
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    // The replicas create the streams at start.
    eventually(Duration::from_secs(30), || {
        let js = js.clone();
        async move { js.get_stream("KOMEK_ROSTER").await.ok() }
    })
    .await
    .expect("streams created");

    // Ten coal groups in the towns of Almaty Region.
    let towns: Vec<_> = all()
        .iter()
        .filter(|s| s.region == "Almaty Region")
        .take(GROUPS)
        .collect();
    for (i, town) in towns.iter().enumerate() {
        let id = Uuid::new_v4();
        let state = ev::GroupState {
            group: format!("groups/{id}"),
            display_name: format!("{} coal group {i}", town.name_en),
            base_location: Some(pb::LatLng {
                latitude: town.lat,
                longitude: town.lon,
            }),
            skills: vec![pb::GroupSkill {
                skill: pb::Skill::VehicleCargo as i32,
                ..Default::default()
            }],
            capacity: CAPACITY,
            availability: pb::Availability::Available as i32,
            revision: 1,
            ..Default::default()
        };
        js.publish(
            format!("komek.roster.group.{id}"),
            state.encode_to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    // The roster's word that these are all its groups.
    js.publish("komek.roster.group.complete", Default::default())
        .await
        .unwrap()
        .await
        .unwrap();

    // Every request twice, under two message ids, as a re-publish would deliver it: the two
    // copies may land on different replicas at the same moment.
    let mut acks = Vec::new();
    for i in 0..REQUESTS {
        let town = towns[i % towns.len()];
        let triaged = ev::RequestTriaged {
            request: format!("requests/{}", Uuid::new_v4()),
            reference_code: format!("TEST-{i:04}"),
            category: pb::Category::FuelDelivery as i32,
            priority: pb::Priority::Normal as i32,
            required_skills: vec![pb::Skill::VehicleCargo as i32],
            location: Some(pb::Location {
                point: Some(pb::LatLng {
                    latitude: town.lat + 0.01,
                    longitude: town.lon,
                }),
                settlement: town.name_en.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        for _ in 0..2 {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
            acks.push(
                js.publish_with_headers(
                    "komek.request.triaged",
                    headers,
                    triaged.encode_to_vec().into(),
                )
                .await
                .unwrap(),
            );
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }

    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let applied = eventually(Duration::from_secs(300), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM matching.inbox WHERE consumer = 'matching'",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (n == 2 * REQUESTS as i64).then_some(n)
        }
    })
    .await;
    assert!(applied.is_some(), "not every delivery was applied in time");

    let per_group: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT group_id, count(*) FROM matching.assignments \
         WHERE status IN (1, 2, 6, 7) GROUP BY group_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_group.len(), GROUPS, "every group got work");
    for (group, active) in &per_group {
        assert!(
            *active <= i64::from(CAPACITY),
            "group {group} has {active} active assignments, capacity {CAPACITY}"
        );
    }
    let total: i64 = per_group.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total,
        i64::from(CAPACITY) * GROUPS as i64,
        "the contention filled every place"
    );
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT request_id FROM matching.assignments \
         WHERE status IN (1, 2, 6, 7) GROUP BY request_id HAVING count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "a request with two active offers");
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM matching.group_load l LEFT JOIN ( \
           SELECT group_id, count(*) AS n FROM matching.assignments \
           WHERE status IN (1, 2, 6, 7) GROUP BY group_id) a USING (group_id) \
         WHERE l.active <> COALESCE(a.n, 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(drift, 0, "group_load disagrees with the assignments");
    // No intake runs here: every request was placed without waiting for its volunteer note,
    // which stays due until intake can give it.
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM matching.jobs WHERE note_pending")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, REQUESTS as i64);

    stop.cancel();
    for r in replicas {
        r.await.unwrap().unwrap();
    }
}
