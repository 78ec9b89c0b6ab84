//! The people on the other end: volunteer apps that keep an offer stream open and take the
//! offers through to completion, and a dispatcher who assigns what the matcher escalated.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;

use super::history::{Call, History};
use super::workload::{Spreading, World, call, lazy, until_known};

/// A dispatcher at the console: every two seconds, each escalated request (nobody was free or
/// the ladder ran out) is offered to a group of the dispatcher's choosing, the groups in turn;
/// a full group refuses and the next round tries the next one.
pub async fn dispatcher(
    replicas: [SocketAddr; 2],
    world: &World,
    history: Arc<History>,
    stop: CancellationToken,
) {
    let key = &world.operator_keys[0];
    let clients = [
        DispatchServiceClient::new(lazy(&[replicas[0]], key)),
        DispatchServiceClient::new(lazy(&[replicas[1]], key)),
    ];
    let mut turn = 0usize;
    let mut replica = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let mut client = clients[replica].clone();
        let queue = call(client.list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            page_size: 100,
            ..Default::default()
        }))
        .await;
        let Ok(queue) = queue else {
            replica = 1 - replica;
            continue;
        };
        for item in queue.items {
            turn += 1;
            let group = world.volunteers[turn % world.volunteers.len()]
                .group
                .clone();
            let _ = until_known(
                &history,
                Call::Assign,
                &item.request,
                |request_id| {
                    let mut client = client.clone();
                    let request = matching::AssignRequestRequest {
                        request_id,
                        request: item.request.clone(),
                        group: group.clone(),
                        reason: "Эскалация: свободная группа".into(),
                    };
                    async move { call(client.assign_request(request)).await }
                },
                |a: &matching::Assignment| a.name.clone(),
            )
            .await;
        }
    }
}

/// How a volunteer answers an offer; decided by the assignment's name, so a redelivered
/// offer gets the same answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Take,
    Decline,
    /// Let it expire: the phone was in a pocket.
    Ignore,
}

fn answer(assignment: &str) -> Answer {
    let h = assignment.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    match h % 100 {
        0..=3 => Answer::Decline,
        4..=5 => Answer::Ignore,
        _ => Answer::Take,
    }
}

/// Runs the volunteer apps until `stop`: each keeps an offer stream open (to either matching
/// replica, resuming by cursor after every break) and works every offer it takes.
pub async fn fleet(
    replicas: [SocketAddr; 2],
    world: &World,
    history: Arc<History>,
    stop: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, v) in world.volunteers.iter().enumerate() {
        let clients = [
            AssignmentServiceClient::new(lazy(&[replicas[i % 2]], &v.key)),
            AssignmentServiceClient::new(lazy(&[replicas[(i + 1) % 2]], &v.key)),
        ];
        let (history, stop, name, group) = (
            history.clone(),
            stop.clone(),
            v.name.clone(),
            v.group.clone(),
        );
        tasks.spawn(volunteer(clients, name, group, history, stop));
    }
    while tasks.join_next().await.is_some() {}
}

async fn volunteer(
    clients: [AssignmentServiceClient<Spreading>; 2],
    name: String,
    group: String,
    history: Arc<History>,
    stop: CancellationToken,
) {
    let mut cursor = String::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut jobs = tokio::task::JoinSet::new();
    let mut replica = 0;
    while !stop.is_cancelled() {
        let mut client = clients[replica].clone();
        let opened = call(client.stream_offers(matching::StreamOffersRequest {
            volunteer: name.clone(),
            cursor: cursor.clone(),
        }))
        .await;
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(status) if status.code() == tonic::Code::OutOfRange => {
                // The feed no longer holds the cursor's position (its stream lost its tail
                // when nodes died, or was made again): as the answer says, the app starts
                // afresh and gets the open offers from the database.
                cursor.clear();
                continue;
            }
            Err(_) => {
                // That replica is down or frozen: the app tries the other.
                replica = 1 - replica;
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
        };
        loop {
            // A stream that says nothing for longer than two keepalives is dead.
            let next = tokio::select! {
                _ = stop.cancelled() => break,
                next = tokio::time::timeout(Duration::from_secs(12), stream.next()) => next,
            };
            let event = match next {
                Ok(Some(Ok(event))) => event,
                _ => {
                    replica = 1 - replica;
                    break;
                }
            };
            if !event.cursor.is_empty() {
                cursor = event.cursor.clone();
            }
            let fresh = event.kind == matching::OfferEventKind::Offered as i32
                || event.kind == matching::OfferEventKind::Pending as i32;
            let Some(offer) = event.assignment.filter(|_| fresh) else {
                continue;
            };
            if offer.group != group || !seen.insert(offer.name.clone()) {
                continue;
            }
            let (client, name, history) = (client.clone(), name.clone(), history.clone());
            jobs.spawn(work(client, name, offer.name, history));
            while jobs.try_join_next().is_some() {}
        }
    }
    jobs.abort_all();
}

/// Answers one offer and, when taken, reports en route, on site and completed.
async fn work(
    client: AssignmentServiceClient<Spreading>,
    volunteer: String,
    assignment: String,
    history: Arc<History>,
) {
    let history = &*history;
    let named = |a: &matching::Assignment| a.name.clone();
    match answer(&assignment) {
        Answer::Ignore => return,
        Answer::Decline => {
            let _ = until_known(
                history,
                Call::Decline,
                &assignment,
                |request_id| {
                    let mut client = client.clone();
                    let request = matching::DeclineOfferRequest {
                        name: assignment.clone(),
                        request_id,
                        volunteer: volunteer.clone(),
                        reason: "машина в ремонте".into(),
                    };
                    async move { call(client.decline_offer(request)).await }
                },
                named,
            )
            .await;
            return;
        }
        Answer::Take => {}
    }
    let accepted = until_known(
        history,
        Call::Accept,
        &assignment,
        |request_id| {
            let mut client = client.clone();
            let request = matching::AcceptOfferRequest {
                name: assignment.clone(),
                request_id,
                volunteer: volunteer.clone(),
            };
            async move { call(client.accept_offer(request)).await }
        },
        named,
    )
    .await;
    if accepted.is_err() {
        return;
    }
    for (step, what) in [
        (matching::ProgressStep::EnRoute, Call::EnRoute),
        (matching::ProgressStep::OnSite, Call::OnSite),
        (matching::ProgressStep::Completed, Call::Complete),
    ] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let done = until_known(
            history,
            what,
            &assignment,
            |request_id| {
                let mut client = client.clone();
                let request = matching::UpdateProgressRequest {
                    name: assignment.clone(),
                    request_id,
                    volunteer: volunteer.clone(),
                    step: step as i32,
                    outcome: if step == matching::ProgressStep::Completed {
                        pb::Outcome::Helped as i32
                    } else {
                        0
                    },
                    note: String::new(),
                    ..Default::default()
                };
                async move { call(client.update_progress(request)).await }
            },
            named,
        )
        .await;
        if done.is_err() {
            return;
        }
    }
}
