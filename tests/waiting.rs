//! End to end: requests that wait too long in a state are alerted, and again each time the
//! limit passes once more, until they move on. An escalated coal call nobody can take, and a
//! job a dispatcher withdrew and nobody replaced: each is shown as waiting too long (GetRequest,
//! ListRequests' filter), announced on `komek.request.waiting`, counted in the gauge, and
//! forgotten once a dispatcher acts. Real NATS and PostgreSQL, four servers, limits of seconds.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use futures::StreamExt;
use komek_core::waiting::PerPriority;
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, eventually, wait_request,
};
use prost::Message;
use uuid::Uuid;

const LIMIT_SECS: u32 = 2;

fn seconds(secs: u32) -> PerPriority {
    PerPriority {
        critical_secs: Some(secs),
        high_secs: Some(secs),
        normal_secs: Some(secs),
        low_secs: Some(secs),
    }
}

fn waiting_state(r: &intake::Request) -> Option<(pb::WaitingState, i32)> {
    r.waiting
        .as_ref()
        .map(|w| (pb::WaitingState::try_from(w.state).unwrap(), w.alerts))
}

async fn late_list(
    client: &intake::intake_service_client::IntakeServiceClient<komek_tests::Authed>,
) -> Vec<String> {
    client
        .clone()
        .list_requests(intake::ListRequestsRequest {
            waiting_too_long: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .requests
        .into_iter()
        .map(|r| r.reference_code)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_waiting_past_its_limit_is_alerted_again_until_someone_acts() {
    let system = System::start_tuned_intake(|c| {
        c.waiting_limits.escalated = seconds(LIMIT_SECS);
        c.waiting_limits.unassigned = seconds(LIMIT_SECS);
        c.waiting_limits.categories.clear();
        c.waiting_sweep_secs = 1;
    })
    .await;
    let nats = async_nats::connect(system.nats.url()).await.unwrap();
    let mut alerts = nats.subscribe("komek.request.waiting").await.unwrap();
    let mut intake_client = system.intake_client().await;
    let kazaly = find("Kazalinsk", "Kyzylorda Region");

    // Nobody can bring coal to Kazaly: escalated, then alerted after the limit, then again.
    let call = create_request(
        &mut intake_client,
        None,
        kazaly,
        at(kazaly),
        "Жалғыз тұратын қарияға көмір керек, үй суық",
    )
    .await;
    wait_request(&intake_client, &call.name, "escalated", |r| {
        r.status == pb::RequestStatus::Escalated as i32
    })
    .await;
    let first = wait_request(&intake_client, &call.name, "alerted", |r| {
        waiting_state(r).is_some()
    })
    .await;
    assert_eq!(
        waiting_state(&first),
        Some((pb::WaitingState::Escalated, 1))
    );
    let waiting = first.waiting.unwrap();
    assert_eq!(waiting.limit_seconds, LIMIT_SECS as i32);
    let escalated_for = chrono::Utc::now().timestamp() - waiting.since.unwrap().seconds;
    assert!(escalated_for >= i64::from(LIMIT_SECS), "{escalated_for} s");
    let event = tokio::time::timeout(Duration::from_secs(10), alerts.next())
        .await
        .unwrap()
        .unwrap();
    let event = ev::RequestWaiting::decode(event.payload.as_ref()).unwrap();
    assert_eq!(
        (event.request.as_str(), event.state, event.alerts),
        (call.name.as_str(), pb::WaitingState::Escalated as i32, 1)
    );
    assert_eq!(event.region, "Kyzylorda Region");
    assert_eq!(
        late_list(&intake_client).await,
        std::slice::from_ref(&call.reference_code)
    );
    let again = wait_request(&intake_client, &call.name, "alerted again", |r| {
        waiting_state(r).is_some_and(|(_, n)| n >= 2)
    })
    .await;
    assert_eq!(
        waiting_state(&again).map(|(s, _)| s),
        Some(pb::WaitingState::Escalated)
    );
    let gauge = komek_runtime::metrics::render();
    assert!(
        gauge
            .lines()
            .any(|l| l.starts_with("komek_requests_waiting_too_long{")
                && l.contains("state=\"escalated\"")
                && l.ends_with(" 1")),
        "{gauge}"
    );

    // A dispatcher finds a truck and assigns it: the request no longer waits on anyone.
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Қазалы ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &[],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Қазалы көмір",
        kazaly,
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;
    let mut dispatch = system.dispatch_client().await;
    let assignment = dispatch
        .assign_request(matching::AssignRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            request: call.name.clone(),
            group: group.name.clone(),
            reason: "the akimat's own truck goes".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let offered = wait_request(&intake_client, &call.name, "offered", |r| {
        r.status == pb::RequestStatus::Dispatching as i32 && r.waiting.is_none()
    })
    .await;
    assert!(offered.waiting.is_none());
    assert!(late_list(&intake_client).await.is_empty());

    // The dispatcher changes their mind and withdraws it: now it waits without a group, and is
    // alerted as such once the limit passes.
    dispatch
        .withdraw_assignment(matching::WithdrawAssignmentRequest {
            request_id: Uuid::new_v4().to_string(),
            name: assignment.name.clone(),
            reason: "the truck broke down".into(),
        })
        .await
        .unwrap();
    let unassigned = wait_request(&intake_client, &call.name, "alerted unassigned", |r| {
        waiting_state(r).is_some_and(|(s, _)| s == pb::WaitingState::Unassigned)
    })
    .await;
    assert_eq!(
        waiting_state(&unassigned),
        Some((pb::WaitingState::Unassigned, 1)),
        "a new wait counts its alerts from one"
    );
    let gone = eventually(Duration::from_secs(10), || async {
        let g = komek_runtime::metrics::render();
        g.lines()
            .any(|l| {
                l.starts_with("komek_requests_waiting_too_long{")
                    && l.contains("state=\"escalated\"")
                    && l.ends_with(" 1")
            })
            .then_some(())
            .xor(Some(()))
    })
    .await;
    assert!(gone.is_some(), "the escalated count went back to zero");

    system.stop().await;
}
