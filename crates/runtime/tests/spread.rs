//! Calls spread over a service's replicas: each replica gets its turn, and while one is down
//! (its port refuses connections) every call still gets an answer from another.

use std::net::SocketAddr;
use std::time::Duration;

use komek_runtime::CancellationToken;
use komek_runtime::spread::Spread;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A health server on `addr` that answers `status` for the service "replica".
async fn replica(addr: SocketAddr, status: ServingStatus, stop: CancellationToken) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("replica", status).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                stop.cancelled_owned(),
            )
            .await
            .unwrap();
    });
}

fn lazy(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

fn free_addr() -> SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

/// Answers of `n` calls: how many came from the SERVING replica and from the other.
async fn answers(client: &mut HealthClient<Spread>, n: usize) -> (usize, usize, usize) {
    let (mut serving, mut not_serving, mut failed) = (0, 0, 0);
    for _ in 0..n {
        let reply = client
            .check(HealthCheckRequest {
                service: "replica".into(),
            })
            .await;
        match reply.map(|r| r.into_inner().status()) {
            Ok(tonic_health::pb::health_check_response::ServingStatus::Serving) => serving += 1,
            Ok(_) => not_serving += 1,
            Err(_) => failed += 1,
        }
    }
    (serving, not_serving, failed)
}

#[tokio::test]
async fn calls_take_turns_and_pass_over_a_replica_that_is_down() {
    let (a, b) = (free_addr(), free_addr());
    let stop_a = CancellationToken::new();
    let stop_b = CancellationToken::new();
    replica(a, ServingStatus::Serving, stop_a.clone()).await;
    replica(b, ServingStatus::NotServing, stop_b.clone()).await;
    let mut client = HealthClient::new(Spread::new(vec![lazy(a), lazy(b)]));

    // Both up: the calls alternate.
    assert_eq!(answers(&mut client, 10).await, (5, 5, 0));

    // B goes away: its port refuses, and every call is answered by A.
    stop_b.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (serving, not_serving, failed) = answers(&mut client, 10).await;
    assert_eq!(
        (serving, failed),
        (10, 0),
        "{not_serving} from the stopped replica"
    );

    // B comes back on its port; after the rest it gets its turns again.
    let stop_b = CancellationToken::new();
    replica(b, ServingStatus::NotServing, stop_b.clone()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (serving, not_serving, failed) = answers(&mut client, 10).await;
    assert_eq!(failed, 0);
    assert!(
        serving >= 4 && not_serving >= 4,
        "{serving} / {not_serving}"
    );

    // Both down: the call fails (UNAVAILABLE), it does not hang.
    stop_a.cancel();
    stop_b.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answers(&mut client, 2).await, (0, 0, 2));
}
