//! TLS on the listeners: intake with mutual TLS on its main listener (clients must show a
//! certificate from the deployment's CA) and a partner listener with plain TLS and no
//! reflection. Certificates are made for the test with rcgen.

use std::net::SocketAddr;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::partner::v1 as partner;
use komek_proto::partner::v1::partner_service_client::PartnerServiceClient;
use komek_runtime::CancellationToken;
use komek_runtime::auth::Bearer;
use komek_runtime::config::Tls;
use komek_runtime::spread::Spread;
use komek_testkit::{Nats, TestDb};
use komek_tests::{ADMIN_KEY, base};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        Self {
            dir: tempfile::tempdir().unwrap(),
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    /// A certificate for `names` signed by the CA: (cert PEM, key PEM).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(&self, file: &str, pem: &str) -> String {
        let path = self.dir.path().join(file);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    }
}

async fn channel(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> Result<Channel, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://localhost:{}", addr.port()))
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

async fn get_request(channel: impl Into<Spread>) -> Result<(), tonic::Status> {
    let mut client = IntakeServiceClient::new(InterceptedService::new(
        channel.into(),
        Bearer::new(ADMIN_KEY).unwrap(),
    ));
    client
        .get_request(intake::GetRequestRequest {
            name: format!("requests/{}", uuid::Uuid::new_v4()),
        })
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_the_main_listener_and_plain_tls_for_partners() {
    let pki = Pki::new();
    let (server_cert, server_key) = pki.issue(&["localhost"]);
    let (client_cert, client_key) = pki.issue(&["matching"]);
    let ca_file = pki.write("ca.pem", &pki.ca_pem);
    let nats = Nats::start();
    let db = TestDb::create().await;
    let mut config = komek_intake::Config {
        base: base(&nats, &db),
        ..Default::default()
    };
    let tls = Tls {
        cert_file: pki.write("server.pem", &server_cert),
        key_file: pki.write("server.key", &server_key),
        client_ca_file: String::new(),
        client_auth_optional: false,
    };
    config.base.tls = Tls {
        client_ca_file: ca_file.clone(),
        ..tls.clone()
    };
    config.partner_listener = Some(komek_intake::PartnerListener {
        tls,
        reflection: false,
        ..Default::default()
    });
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outside = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, outside_addr) = (main.local_addr().unwrap(), outside.local_addr().unwrap());
    let stop = CancellationToken::new();
    let server = tokio::spawn(komek_intake::serve_with_partner(
        config,
        main,
        Some(outside),
        stop.clone(),
    ));

    let ca = Certificate::from_pem(&pki.ca_pem);
    let with_cert = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(Identity::from_pem(&client_cert, &client_key));
    let without_cert = ClientTlsConfig::new().ca_certificate(ca.clone());

    // A client with a certificate from the CA gets through TLS to the gate (the request does
    // not exist, which only the handler can say).
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(c) = channel(main_addr, Some(with_cert.clone())).await {
            answered = Some(get_request(c).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answered.expect("intake came up with TLS");
    assert_eq!(answer.unwrap_err().code(), Code::NotFound);

    // The channel services open to each other (matching to intake) speaks the same mutual TLS.
    let upstream = komek_runtime::config::Upstream {
        url: format!("https://localhost:{}", main_addr.port()),
        ca_file: ca_file.clone(),
        cert_file: pki.write("client.pem", &client_cert),
        key_file: pki.write("client.key", &client_key),
        domain: String::new(),
    };
    let service_channel = komek_runtime::grpc::upstream_channel(&upstream).unwrap();
    assert_eq!(
        get_request(service_channel).await.unwrap_err().code(),
        Code::NotFound
    );

    // Without a client certificate, or without TLS, nothing gets through.
    // The handshake fails, or the server closes the connection at the first request: either
    // way a transport error, never an answer from the service.
    // The code varies with where the bytes fall (UNAVAILABLE, UNKNOWN, CANCELLED, INTERNAL).
    let transport_error = |s: &tonic::Status| {
        std::error::Error::source(s).is_some_and(|e| e.is::<tonic::transport::Error>())
    };
    let no_cert = match channel(main_addr, Some(without_cert.clone())).await {
        Err(_) => true,
        Ok(c) => get_request(c).await.is_err_and(|s| transport_error(&s)),
    };
    assert!(no_cert, "a client without certificate is turned away");
    let plain = match channel(main_addr, None).await {
        Err(_) => true,
        Ok(c) => get_request(c).await.is_err_and(|s| transport_error(&s)),
    };
    assert!(plain, "plain text is turned away");

    // The partner listener: TLS without client certificates, PartnerService only, no
    // reflection.
    let c = channel(outside_addr, Some(without_cert)).await.unwrap();
    let mut partners = PartnerServiceClient::new(InterceptedService::new(
        c.clone(),
        Bearer::new(ADMIN_KEY).unwrap(),
    ));
    let err = partners
        .get_request_status(partner::GetRequestStatusRequest {
            key: Some(partner::get_request_status_request::Key::Name(format!(
                "requests/{}",
                uuid::Uuid::new_v4()
            ))),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "PartnerService answers here");
    assert_eq!(
        get_request(c.clone()).await.unwrap_err().code(),
        Code::Unimplemented,
        "IntakeService is not served to partners"
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(c);
    let listing = reflection
        .server_reflection_info(futures::stream::iter([
            tonic_reflection::pb::v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                        String::new(),
                    ),
                ),
            },
        ]))
        .await;
    assert_eq!(
        listing.unwrap_err().code(),
        Code::Unimplemented,
        "no reflection on the partner listener"
    );

    stop.cancel();
    server.await.unwrap().unwrap();
}
