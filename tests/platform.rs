//! What every service offers operators and tools: standard health checks, reflection for
//! grpcurl-style clients, and a clean drain on shutdown.

use std::net::SocketAddr;

use futures::StreamExt;
use komek_tests::{System, connect};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

async fn list_services(addr: SocketAddr) -> Vec<String> {
    let mut client = ServerReflectionClient::new(connect(addr).await.unwrap());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.next().await.unwrap().unwrap();
    match reply.message_response.unwrap() {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

async fn list_services_v1alpha(addr: SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(connect(addr).await.unwrap());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    match replies
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
    {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

async fn health(addr: SocketAddr, service: &str) -> i32 {
    HealthClient::new(connect(addr).await.unwrap())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_answers_health_and_reflection() {
    let system = System::start().await;
    let expected = [
        (system.intake, vec!["komek.intake.v1.IntakeService"]),
        (system.triage, vec!["komek.triage.v1.TriageService"]),
        (system.roster, vec!["komek.roster.v1.RosterService"]),
        (
            system.matching,
            vec![
                "komek.matching.v1.AssignmentService",
                "komek.matching.v1.DispatchService",
            ],
        ),
    ];
    let all: Vec<&str> = expected.iter().flat_map(|(_, s)| s.clone()).collect();
    for (addr, services) in &expected {
        let listed = list_services(*addr).await;
        assert!(
            listed.iter().any(|s| s == "grpc.health.v1.Health"),
            "{addr}: {listed:?}"
        );
        // A port lists what it serves, not the other services' APIs.
        for other in all.iter().filter(|s| !services.contains(s)) {
            assert!(!listed.iter().any(|s| s == other), "{addr} lists {other}");
        }
        // Older clients speak reflection v1alpha: they get the same list.
        let mut alpha = list_services_v1alpha(*addr).await;
        alpha.sort();
        let mut v1 = listed.clone();
        v1.sort();
        assert_eq!(alpha, v1, "{addr}");
        for service in services {
            assert!(
                listed.iter().any(|s| s == service),
                "{addr} lists {listed:?}, not {service}"
            );
            assert_eq!(
                health(*addr, service).await,
                ServingStatus::Serving as i32,
                "{service}"
            );
        }
        assert_eq!(health(*addr, "").await, ServingStatus::Serving as i32);
    }

    // Reflection serves the descriptors a client needs to build calls.
    let mut client = ServerReflectionClient::new(connect(system.intake).await.unwrap());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "komek.intake.v1.IntakeService".into(),
        )),
    };
    let reply = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    match reply.message_response.unwrap() {
        MessageResponse::FileDescriptorResponse(files) => {
            assert!(!files.file_descriptor_proto.is_empty())
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }

    // `stop` asserts that every service drains and returns Ok after shutdown.
    system.stop().await;
}
