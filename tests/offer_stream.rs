//! End to end: a volunteer's offer stream resumes from its cursor after a disconnect and
//! delivers every event it missed exactly once. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use futures::StreamExt;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::{Settlement, find};
use komek_tests::{
    System, at, create_group, create_organization, create_request, create_volunteer, wait_request,
};
use tonic::Code;
use uuid::Uuid;

type Feed = tonic::Streaming<matching::OfferEvent>;

/// Events other than keepalives, until `n` arrive or `wait` passes; the last cursor seen.
async fn read(feed: &mut Feed, n: usize, wait: Duration) -> (Vec<matching::OfferEvent>, String) {
    let mut events = Vec::new();
    let mut cursor = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while events.len() < n {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, feed.next()).await else {
            break;
        };
        let event = event.unwrap();
        if !event.cursor.is_empty() {
            cursor = event.cursor.clone();
        }
        if event.kind != matching::OfferEventKind::Keepalive as i32 {
            events.push(event);
        }
    }
    (events, cursor)
}

/// One organisation with one group at `place` and one volunteer in it, the volunteer's app
/// signed in with its own key, and the app's offer stream, open from now.
async fn one_team(
    system: &System,
    group_name: &str,
    place: &Settlement,
    skill: pb::Skill,
) -> (roster::Group, roster::Volunteer, Feed) {
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        &format!("{group_name} volunteers"),
        roster::OrganizationKind::Ngo,
        &[],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        group_name,
        place,
        &[skill],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let volunteer = create_volunteer(&mut roster_client, "Ерлан", vec![group.name.clone()]).await;
    system.wait_roster_published(2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;
    let feed = app
        .stream_offers(matching::StreamOffersRequest {
            volunteer: volunteer.name.clone(),
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (group, volunteer, feed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_stream_delivers_what_was_missed_exactly_once() {
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
    let volunteer = create_volunteer(&mut roster_client, "Ерлан", vec![group.name.clone()]).await;
    system.wait_roster_published(2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;
    let connect = |cursor: &str| matching::StreamOffersRequest {
        volunteer: volunteer.name.clone(),
        cursor: cursor.to_string(),
    };

    let mut feed = app.stream_offers(connect("")).await.unwrap().into_inner();
    let first = create_request(&mut intake_client, None, talgar, at(talgar), "Көмір керек").await;
    let (events, cursor) = read(&mut feed, 1, Duration::from_secs(20)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, matching::OfferEventKind::Offered as i32);
    let first_offer = events[0].assignment.clone().unwrap().name;
    drop(feed);

    // While the app is away: a second offer, and the first request is cancelled, which takes
    // its offer away from everyone (TAKEN, as the proto promises; not a dispatcher's WITHDRAWN).
    let second = create_request(&mut intake_client, None, talgar, at(talgar), "Отын керек").await;
    wait_request(&intake_client, &second.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;
    intake_client
        .cancel_request(intake::CancelRequestRequest {
            name: first.name.clone(),
            reason: "көмір туыстары әкелді".into(),
            request_id: Uuid::new_v4().to_string(),
            etag: String::new(),
        })
        .await
        .unwrap();
    wait_request(&intake_client, &first.name, "withdrawn", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.status == pb::AssignmentStatus::Withdrawn as i32)
    })
    .await;

    // Resuming: exactly the two missed events, in order, and nothing already seen.
    let mut feed = app
        .stream_offers(connect(&cursor))
        .await
        .unwrap()
        .into_inner();
    let (events, cursor) = read(&mut feed, 3, Duration::from_secs(5)).await;
    let kinds: Vec<i32> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            matching::OfferEventKind::Offered as i32,
            matching::OfferEventKind::Taken as i32
        ]
    );
    assert_eq!(events[0].assignment.as_ref().unwrap().request, second.name);
    assert_eq!(events[1].assignment.as_ref().unwrap().name, first_offer);
    drop(feed);

    // Resuming from the latest cursor: nothing more.
    let mut feed = app
        .stream_offers(connect(&cursor))
        .await
        .unwrap()
        .into_inner();
    let (events, _) = read(&mut feed, 1, Duration::from_secs(3)).await;
    assert!(events.is_empty(), "{events:?}");
    drop(feed);

    // Cursors that are not from the feed are refused.
    let err = app.stream_offers(connect("yesterday")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = app.stream_offers(connect("v1.999999")).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);

    // A cursor names its stream: the same position in a stream made again (after a restore)
    // is refused, so the app starts afresh instead of missing offers. The first form, without
    // the stream, still resumes.
    let (stream, seq) = cursor
        .strip_prefix("v2.")
        .and_then(|c| c.split_once('.'))
        .expect("a cursor names its stream");
    let other: i64 = stream.parse::<i64>().unwrap() - 1;
    let err = app
        .stream_offers(connect(&format!("v2.{other}.{seq}")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);
    assert!(err.message().contains("rebuilt"), "{}", err.message());
    let resumed = app.stream_offers(connect(&format!("v1.{seq}"))).await;
    assert!(resumed.is_ok(), "{resumed:?}");

    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quiet_stream_hears_its_keepalives_while_other_groups_are_busy() {
    use komek_proto::events::v1 as ev;
    use komek_runtime::events::{Bus, subject};
    use prost::Message;

    let system = System::start().await;
    let issyk = find("Issyk", "Almaty Region");
    let (_, _, mut feed) =
        one_team(&system, "Issyk aid at home", issyk, pb::Skill::SocialCare).await;

    // Other groups' assignments change every 200 ms, ten times faster than this stream's
    // keepalive interval (2 s in test systems).
    let bus = Bus::connect(&system.nats.url(), "busy").await.unwrap();
    let busy = tokio::spawn(async move {
        for _ in 0..40 {
            let other = ev::AssignmentChanged {
                assignment: format!("assignments/{}", Uuid::now_v7()),
                request: format!("requests/{}", Uuid::now_v7()),
                group: format!("groups/{}", Uuid::now_v7()),
                status: pb::AssignmentStatus::Expired as i32,
                ..Default::default()
            };
            let ack = bus
                .jetstream
                .publish(subject::ASSIGNMENT_CHANGED, other.encode_to_vec().into())
                .await
                .unwrap();
            ack.await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let mut keepalives = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, feed.next()).await {
        let event = event.unwrap();
        assert_eq!(
            event.kind,
            matching::OfferEventKind::Keepalive as i32,
            "{event:?}"
        );
        keepalives += 1;
    }
    assert!(keepalives >= 2, "{keepalives} keepalives in 7 s");
    busy.await.unwrap();
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_a_key_ends_the_streams_it_opened() {
    use komek_proto::access::v1 as access;
    use komek_tests::ADMIN_KEY;

    let system = System::start().await;
    let talgar = find("Talghar", "Almaty Region");
    let (_, volunteer, mut feed) =
        one_team(&system, "Talgar first aid", talgar, pb::Skill::FirstAid).await;

    // The phone is lost: an admin revokes its key while the stream is open.
    let mut admin = system.access_client(ADMIN_KEY).await;
    let keys = admin
        .list_api_keys(access::ListApiKeysRequest {
            subject: volunteer.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    admin
        .revoke_api_key(access::RevokeApiKeyRequest {
            name: keys[0].name.clone(),
            reason: "phone lost".into(),
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let ended = loop {
        match tokio::time::timeout_at(deadline, feed.next()).await {
            Ok(Some(Ok(event))) if event.kind == matching::OfferEventKind::Keepalive as i32 => {
                continue;
            }
            other => break other,
        }
    };
    let Ok(Some(Err(status))) = ended else {
        panic!("the stream should end at once with the revocation: {ended:?}");
    };
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_stream_carries_on_after_nats_restarts() {
    use komek_proto::events::v1 as ev;
    use komek_runtime::events::{Bus, subject};
    use prost::Message;

    let mut system = System::start().await;
    let talgar = find("Talghar", "Almaty Region");
    let (group, _, mut feed) = one_team(
        &system,
        "Talgar coal truck",
        talgar,
        pb::Skill::VehicleCargo,
    )
    .await;

    system.nats.restart();
    let restarted = tokio::time::Instant::now();
    // An offer to this group, published as matching's relay would once NATS is back.
    let bus = Bus::connect(&system.nats.url(), "after-restart")
        .await
        .unwrap();
    let offered = ev::AssignmentOffered {
        assignment: format!("assignments/{}", Uuid::now_v7()),
        request: format!("requests/{}", Uuid::now_v7()),
        group: group.name.clone(),
        ..Default::default()
    };
    bus.jetstream
        .publish(subject::ASSIGNMENT_OFFERED, offered.encode_to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let (events, _) = read(&mut feed, 1, Duration::from_secs(10)).await;
    assert_eq!(
        events.first().map(|e| e.kind),
        Some(matching::OfferEventKind::Offered as i32),
        "the stream carried on after the restart ({:?}): {events:?}",
        restarted.elapsed()
    );
    system.stop().await;
}
