//! Intake against real NATS and PostgreSQL: idempotent creates, validation that writes nothing,
//! and the binary draining on SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use komek_intake::pii::Config as PiiConfig;
use komek_proto::intake::v1 as api;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_runtime::auth::Bearer;
use komek_runtime::config::Base;
use komek_testkit::{Nats, TestDb};
use prost::Message;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use uuid::Uuid;

const ADMIN: &str = "intake-tests-bootstrap-admin-key-0123456789";

/// Settings of a test intake: its servers and fresh credentials.
fn test_base(db: &TestDb, nats: &Nats) -> Base {
    use base64::Engine;
    Base {
        database_url: db.url().into(),
        nats_url: nats.url(),
        auth: komek_runtime::auth::Config {
            key_pepper: base64::engine::general_purpose::STANDARD
                .encode(Uuid::new_v4().as_bytes().repeat(2)),
            bootstrap_admin_key: ADMIN.into(),
            service_secret: SERVICE_SECRET.into(),
            ..Default::default()
        },
        ..Base::default()
    }
}

/// Base64 of 32 bytes: signs service tokens in these tests.
const SERVICE_SECRET: &str = "c2VydmljZS1zZWNyZXQtZm9yLWludGFrZS10ZXN0cyE=";

/// A token as the matching service makes them.
fn service_token(service: &str) -> String {
    // Any pepper will do: tokens are signed with the service secret alone.
    let credentials = komek_runtime::auth::Credentials::from_config(&komek_runtime::auth::Config {
        key_pepper: SERVICE_SECRET.into(),
        service_secret: SERVICE_SECRET.into(),
        ..Default::default()
    })
    .unwrap();
    credentials
        .service_token(service, Duration::from_secs(60))
        .unwrap()
}

type Client = IntakeServiceClient<InterceptedService<Channel, Bearer>>;

struct Intake {
    _nats: Nats,
    db: TestDb,
    addr: SocketAddr,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Intake {
    /// A client of this intake for another service.
    async fn client_of(&self, service: &str) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        IntakeServiceClient::with_interceptor(
            channel,
            Bearer::new(&service_token(service)).unwrap(),
        )
    }

    async fn start() -> Self {
        Self::start_on(Nats::start(), TestDb::create().await, PiiConfig::default()).await
    }

    async fn start_on(nats: Nats, db: TestDb, pii: PiiConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = komek_intake::Config {
            base: test_base(&db, &nats),
            pii,
            ..Default::default()
        };
        // No roster runs here: say, as it would, that the access stream holds every key (none
        // are issued), so intake does not wait for it at start.
        let bus = komek_runtime::events::Bus::connect(&nats.url(), "roster-stand-in")
            .await
            .unwrap();
        bus.jetstream
            .publish(
                komek_runtime::follow::ACCESS_KEYS.complete(),
                Default::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(komek_intake::serve(config, listener, stop.clone()));
        Self {
            _nats: nats,
            db,
            addr,
            stop,
            server,
        }
    }

    /// Stops the service and starts it again on the same servers with other settings.
    async fn restart(self, pii: PiiConfig) -> Self {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
        Self::start_on(self._nats, self.db, pii).await
    }

    async fn client(&self) -> Client {
        for _ in 0..200 {
            let channel = Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await;
            if let Ok(channel) = channel {
                return IntakeServiceClient::with_interceptor(channel, Bearer::new(ADMIN).unwrap());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("intake did not start");
    }

    async fn count(&self, sql: &str) -> i64 {
        let pool = PgPool::connect(self.db.url()).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

fn valid() -> api::CreateRequestRequest {
    // Kokshetau, from the committed settlement list.
    api::CreateRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(api::Caller {
            anonymous: true,
            ..Default::default()
        }),
        location: Some(pb::Location {
            point: Some(pb::LatLng {
                latitude: 53.28244,
                longitude: 69.39692,
            }),
            settlement: "Kokshetau".into(),
            ..Default::default()
        }),
        description: "Ардагерге үйде көмек керек".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_create_exactly_one_request() {
    let intake = Intake::start().await;
    let client = intake.client().await;
    let request = valid();
    let calls = (0..16).map(|_| {
        let mut c = client.clone();
        let r = request.clone();
        tokio::spawn(async move { c.create_request(r).await.map(|r| r.into_inner()) })
    });
    let replies: Vec<api::Request> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(
        replies
            .iter()
            .all(|r| r.name == replies[0].name && r.reference_code == replies[0].reference_code)
    );
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        1
    );
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.outbox").await,
        1,
        "one request.created"
    );

    // The same key with another payload is refused and changes nothing.
    let mut other = request.clone();
    other.description = "Другое описание".into();
    let err = client.clone().create_request(other).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        1
    );
    intake.stop().await;
}

/// Calls arriving together are written together: each still gets its own request, its own
/// reference code and its own `request.created`, and a retry in the same moment gets the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_at_the_same_moment_each_create_their_own_request_once() {
    let intake = Intake::start().await;
    let client = intake.client().await;
    let requests: Vec<api::CreateRequestRequest> = (0..64)
        .map(|i| {
            let mut r = valid();
            r.description = format!("Ардагерге үйде көмек керек, үй {i}");
            r
        })
        .collect();
    // Every call twice (a client's retry), all at once.
    let calls = requests.iter().chain(&requests).map(|r| {
        let mut c = client.clone();
        let r = r.clone();
        tokio::spawn(async move { c.create_request(r).await.map(|r| r.into_inner()) })
    });
    let replies: Vec<api::Request> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let (first, retry) = replies.split_at(requests.len());
    for ((r, a), b) in requests.iter().zip(first).zip(retry) {
        assert_eq!(a.name, b.name, "a retry gets the same request");
        assert_eq!(a.reference_code, b.reference_code);
        assert_eq!(a.description, r.description, "each its own");
    }
    let names: std::collections::HashSet<&str> = first.iter().map(|r| r.name.as_str()).collect();
    let codes: std::collections::HashSet<&str> =
        first.iter().map(|r| r.reference_code.as_str()).collect();
    assert_eq!(names.len(), requests.len());
    assert_eq!(codes.len(), requests.len());
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        64
    );
    let pool = PgPool::connect(intake.db.url()).await.unwrap();
    let events: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT payload FROM intake.outbox WHERE subject = 'komek.request.created'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let published: std::collections::HashSet<String> = events
        .iter()
        .map(|p| {
            komek_proto::events::v1::RequestCreated::decode(p.as_slice())
                .unwrap()
                .request
        })
        .collect();
    assert_eq!(events.len(), 64, "one request.created each");
    assert_eq!(published, names.iter().map(|n| n.to_string()).collect());
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_name_the_field_and_write_nothing() {
    let intake = Intake::start().await;
    let mut client = intake.client().await;
    type Edit = fn(&mut api::CreateRequestRequest);
    let cases: Vec<(&str, Edit)> = vec![
        ("request_id", |r| r.request_id = "not-a-uuid".into()),
        ("channel", |r| r.channel = 0),
        ("location.point.latitude", |r| {
            r.location
                .as_mut()
                .unwrap()
                .point
                .as_mut()
                .unwrap()
                .latitude = 91.0
        }),
        ("location.point.longitude", |r| {
            r.location
                .as_mut()
                .unwrap()
                .point
                .as_mut()
                .unwrap()
                .longitude = f64::NAN
        }),
        ("location", |r| r.location = None),
        ("description", |r| r.description = "   ".into()),
        ("description", |r| r.description = "x".repeat(4001)),
        ("operator_category", |r| r.operator_category = 42),
        ("operator_priority", |r| r.operator_priority = -1),
        ("caller.preferred_language", |r| {
            r.caller.as_mut().unwrap().preferred_language = 9
        }),
        ("caller.anonymous", |r| {
            r.caller.as_mut().unwrap().phone = "+77011234567".into()
        }),
        ("caller.phone", |r| {
            let caller = r.caller.as_mut().unwrap();
            caller.anonymous = false;
            caller.phone = "8 701 12".into();
        }),
        ("caller.display_name", |r| {
            let caller = r.caller.as_mut().unwrap();
            caller.anonymous = false;
            caller.display_name = "Асель\u{0}".into();
        }),
        ("location.address", |r| {
            r.location.as_mut().unwrap().address = "көше ".repeat(101)
        }),
        ("location.settlement", |r| {
            r.location.as_mut().unwrap().settlement = "Kok\u{7}shetau".into()
        }),
        // Invisible formatting: a right-to-left override makes a note read other than stored.
        ("description", |r| {
            r.description = "Ардагерге \u{202E}көмек керек".into()
        }),
        ("caller.display_name", |r| {
            let caller = r.caller.as_mut().unwrap();
            caller.anonymous = false;
            caller.display_name = "\u{2067}Асель\u{2069}".into();
        }),
        ("location.settlement", |r| {
            r.location.as_mut().unwrap().settlement = "Kok\u{200B}shetau".into()
        }),
        ("location.address", |r| {
            r.location.as_mut().unwrap().address = "Абай көшесі\u{FEFF} 12".into()
        }),
        ("people_count", |r| r.people_count = -3),
        ("quantity.unit", |r| {
            r.quantity = Some(pb::Quantity {
                value: 2.0,
                unit: "tonnes-of-coal-please".into(),
            })
        }),
        ("wanted_window.start_time", |r| {
            r.wanted_window = Some(pb::TimeWindow {
                start_time: Some(prost_types::Timestamp {
                    seconds: 2_000_000_000,
                    nanos: -5,
                }),
                end_time: None,
            })
        }),
        ("quantity.value", |r| {
            r.quantity = Some(pb::Quantity {
                value: f64::INFINITY,
                unit: "t".into(),
            })
        }),
        ("wanted_window", |r| {
            r.wanted_window = Some(pb::TimeWindow {
                start_time: Some(prost_types::Timestamp {
                    seconds: 2_000_000_000,
                    nanos: 0,
                }),
                end_time: Some(prost_types::Timestamp {
                    seconds: 1_900_000_000,
                    nanos: 0,
                }),
            })
        }),
    ];
    for (field, edit) in cases {
        let mut request = valid();
        edit(&mut request);
        let status = client.create_request(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let details = status
            .get_details_bad_request()
            .expect("BadRequest details");
        let fields: Vec<&str> = details
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert!(
            fields.contains(&field),
            "expected a violation of {field}, got {fields:?}"
        );
    }
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        0
    );
    assert_eq!(intake.count("SELECT count(*) FROM intake.outbox").await, 0);

    // A cancel is held to the same rules: its reason and its key.
    let request = client.create_request(valid()).await.unwrap().into_inner();
    for (field, cancel) in [
        (
            "reason",
            api::CancelRequestRequest {
                name: request.name.clone(),
                reason: "\u{1B}[31mотменить".into(),
                ..Default::default()
            },
        ),
        (
            "request_id",
            api::CancelRequestRequest {
                name: request.name.clone(),
                reason: "дрова привезли".into(),
                request_id: "again-please".into(),
                ..Default::default()
            },
        ),
    ] {
        let status = client.cancel_request(cancel).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, [field]);
    }
    let get = api::GetRequestRequest { name: request.name };
    let still = client.get_request(get).await.unwrap().into_inner();
    assert_eq!(still.status, pb::RequestStatus::New as i32);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_drains_and_exits_cleanly_on_sigterm() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let nats = Nats::start();
    let db = TestDb::create().await;
    let port = komek_testkit::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .env("KOMEK_DATABASE_URL", db.url())
        .env("KOMEK_NATS_URL", nats.url())
        .env("KOMEK_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "KOMEK_AUTH__KEY_PEPPER",
            "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        )
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut serving = false;
    for _ in 0..300 {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await;
        if let Ok(channel) = channel
            && HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: "komek.intake.v1.IntakeService".into(),
                })
                .await
                .is_ok()
        {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(serving, "the binary came up from KOMEK_* settings");
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill(2) on our own child.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

fn keys(current: &str, keys: &[(&str, u8)]) -> PiiConfig {
    use base64::Engine;
    let b64 = |n: u8| base64::engine::general_purpose::STANDARD.encode([n; 32]);
    PiiConfig {
        key_id: current.into(),
        keys: keys
            .iter()
            .map(|(id, n)| (id.to_string(), b64(*n)))
            .collect(),
        index_key: b64(42),
        retire: Vec::new(),
    }
}

fn identified() -> api::CreateRequestRequest {
    let mut request = valid();
    request.caller = Some(api::Caller {
        display_name: "Бекжан Сериков".into(),
        phone: "+7 701 123-45-67".into(),
        preferred_language: pb::Language::Kazakh as i32,
        anonymous: false,
    });
    request
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_identity_and_note_are_never_published() {
    let intake = Intake::start_on(
        Nats::start(),
        TestDb::create().await,
        keys("k1", &[("k1", 1)]),
    )
    .await;
    let mut client = intake.client().await;
    let created = client
        .create_request(identified())
        .await
        .unwrap()
        .into_inner();
    let caller = created.caller.unwrap();
    assert_eq!(caller.display_name, "Бекжан Сериков");
    assert_eq!(caller.phone, "+77011234567", "stored in E.164");

    let pool = PgPool::connect(intake.db.url()).await.unwrap();
    // Every column of the row, as the database would dump it.
    let dump: String = sqlx::query_scalar("SELECT row_to_json(r)::text FROM intake.requests r")
        .fetch_one(&pool)
        .await
        .unwrap();
    for secret in ["Бекжан", "Сериков", "7011234567", "701 123"] {
        assert!(!dump.contains(secret), "{secret} in the stored row");
    }
    let payload: Vec<u8> = sqlx::query_scalar("SELECT create_payload FROM intake.requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!contains(&payload, "Бекжан") && !contains(&payload, "123-45-67"));
    assert_eq!(payload.len(), 32, "the fingerprint is a digest");

    let events: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM intake.outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(!contains(&events[0], "Бекжан") && !contains(&events[0], "7011234567"));
    let event = komek_proto::events::v1::RequestCreated::decode(events[0].as_slice()).unwrap();
    assert_eq!(event.request, created.name);
    // Nor the note, nor the keyed hash of the phone: triage reads those from intake, so an
    // erasure there leaves no copy in the stream.
    assert!(!contains(&events[0], "Ардагерге"), "the note in the event");
    let hash: Vec<u8> = sqlx::query_scalar("SELECT caller_blind_index FROM intake.requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hash.len(), 32);
    assert!(
        !events[0].windows(hash.len()).any(|w| w == hash.as_slice()),
        "the phone's keyed hash in the event"
    );

    // A retry is recognised although the stored fingerprint holds no plaintext.
    let again = client
        .create_request(api::CreateRequestRequest {
            request_id: created_request_id(&pool).await,
            ..identified()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, created.name);
    intake.stop().await;
}

async fn created_request_id(pool: &PgPool) -> String {
    let key: Uuid = sqlx::query_scalar("SELECT idempotency_key FROM intake.requests")
        .fetch_one(pool)
        .await
        .unwrap();
    key.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_still_reads_earlier_callers() {
    let intake = Intake::start_on(
        Nats::start(),
        TestDb::create().await,
        keys("k1", &[("k1", 1)]),
    )
    .await;
    let created = intake
        .client()
        .await
        .create_request(identified())
        .await
        .unwrap()
        .into_inner();

    let intake = intake.restart(keys("k2", &[("k1", 1), ("k2", 2)])).await;
    let mut client = intake.client().await;
    let read = client
        .get_request(api::GetRequestRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.caller.unwrap().display_name, "Бекжан Сериков");
    let newer = client
        .create_request(identified())
        .await
        .unwrap()
        .into_inner();
    let pool = PgPool::connect(intake.db.url()).await.unwrap();
    let key_id: String =
        sqlx::query_scalar("SELECT caller_key_id FROM intake.requests WHERE id = $1")
            .bind(Uuid::parse_str(newer.name.trim_start_matches("requests/")).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(key_id, "k2", "new data uses the current key");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_can_go_once_its_callers_are_encrypted_again() {
    let intake = Intake::start_on(
        Nats::start(),
        TestDb::create().await,
        keys("k1", &[("k1", 1)]),
    )
    .await;
    let mut client = intake.client().await;
    let mut names = Vec::new();
    for _ in 0..3 {
        let created = client
            .create_request(identified())
            .await
            .unwrap()
            .into_inner();
        names.push(created.name);
    }
    let anonymous = client.create_request(valid()).await.unwrap().into_inner();

    // k2 becomes the current key and k1 is retired: its rows are encrypted again.
    let mut retiring = keys("k2", &[("k1", 1), ("k2", 2)]);
    retiring.retire = vec!["k1".into()];
    let intake = intake.restart(retiring).await;
    let pool = PgPool::connect(intake.db.url()).await.unwrap();
    let mut under_k1: i64 = -1;
    for _ in 0..100 {
        under_k1 =
            sqlx::query_scalar("SELECT count(*) FROM intake.requests WHERE caller_key_id = 'k1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if under_k1 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(under_k1, 0, "rows left under the retired key");
    let under_k2: i64 =
        sqlx::query_scalar("SELECT count(*) FROM intake.requests WHERE caller_key_id = 'k2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(under_k2, 3, "the anonymous call has nothing to encrypt");

    // Without k1 at all, every caller still reads.
    let intake = intake.restart(keys("k2", &[("k2", 2)])).await;
    let mut client = intake.client().await;
    for name in names.iter().chain([&anonymous.name]) {
        let read = client
            .get_request(api::GetRequestRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner();
        let expected = if *name == anonymous.name {
            ""
        } else {
            "Бекжан Сериков"
        };
        assert_eq!(read.caller.unwrap_or_default().display_name, expected);
    }
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_caller_identity_is_refused_and_nothing_written() {
    let intake = Intake::start().await;
    let status = intake
        .client()
        .await
        .create_request(identified())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        0
    );
    intake.stop().await;
}

fn at(
    settlement: &str,
    region: &str,
    lat: f64,
    lon: f64,
    description: &str,
) -> api::CreateRequestRequest {
    let mut request = valid();
    request.location = Some(pb::Location {
        point: Some(pb::LatLng {
            latitude: lat,
            longitude: lon,
        }),
        settlement: settlement.into(),
        region: region.into(),
        ..Default::default()
    });
    request.description = description.into();
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_stop_a_call_on_the_server() {
    let nats = Nats::start();
    let db = TestDb::create().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut base = test_base(&db, &nats);
    base.request_timeout_secs = 1;
    let config = komek_intake::Config {
        base,
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(komek_intake::serve(config, listener, stop.clone()));
    let intake = Intake {
        _nats: nats,
        db,
        addr,
        stop,
        server,
    };
    let mut client = intake.client().await;
    let created = client.create_request(valid()).await.unwrap().into_inner();
    let mut matching = intake.client_of("matching").await;
    // No group ever accepted this request, so RevealCaller waits for an accept (5 s) that
    // does not come; the server's 1 s limit ends it first.
    let reveal = || api::RevealCallerRequest {
        request: created.name.clone(),
        assignment: format!("assignments/{}", Uuid::new_v4()),
        volunteer: format!("volunteers/{}", Uuid::new_v4()),
    };
    let err = matching.reveal_caller(reveal()).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    // A client's shorter deadline ends it sooner, on the server as well as the client.
    let mut short = tonic::Request::new(reveal());
    short.set_timeout(Duration::from_millis(200));
    let err = matching.reveal_caller(short).await.unwrap_err();
    // The server answers DEADLINE_EXCEEDED at the client's deadline too (the deadline layer's
    // own test shows it); tonic's client enforces the same deadline and may report it first,
    // as CANCELLED "Timeout expired".
    assert!(
        matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{err:?}"
    );
    // Nothing was revealed.
    assert_eq!(
        intake
            .count("SELECT count(*) FROM intake.caller_reveals")
            .await,
        0
    );
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_find_and_cancel() {
    let intake = Intake::start().await;
    let mut client = intake.client().await;
    // Settlements from the committed gazetteer.
    let semey = client
        .create_request(at(
            "Semey",
            "Abai Region",
            50.42675,
            80.26669,
            "Көмір керек",
        ))
        .await
        .unwrap()
        .into_inner();
    let talgar = client
        .create_request(at(
            "Talghar",
            "Almaty Region",
            43.30348,
            77.24085,
            "Нужны дрова",
        ))
        .await
        .unwrap()
        .into_inner();
    let issyk = client
        .create_request(at(
            "Issyk",
            "Almaty Region",
            43.3552,
            77.45245,
            "Психолог керек",
        ))
        .await
        .unwrap()
        .into_inner();

    // Newest first, two pages.
    let first = client
        .list_requests(api::ListRequestsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = first.requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [issyk.name.as_str(), talgar.name.as_str()]);
    let second = client
        .list_requests(api::ListRequestsRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.requests.len(), 1);
    assert_eq!(second.requests[0].name, semey.name);
    assert!(second.next_page_token.is_empty());

    let almaty_region = client
        .list_requests(api::ListRequestsRequest {
            region: "Almaty Region".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(almaty_region.requests.len(), 2);
    let text = client
        .list_requests(api::ListRequestsRequest {
            text: "дрова".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        text.requests.iter().map(|r| &r.name).collect::<Vec<_>>(),
        [&talgar.name]
    );
    let bad = client
        .list_requests(api::ListRequestsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    // A code read back over the phone: lower case, spaces, I for 1 and O for 0.
    let spoken = semey
        .reference_code
        .to_lowercase()
        .replace('-', " ")
        .replace('1', "i")
        .replace('0', "o");
    let found = client
        .find_by_reference(api::FindByReferenceRequest {
            reference_code: spoken,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.name, semey.name);
    let mut misheard: Vec<char> = semey.reference_code.chars().collect();
    misheard[0] = if misheard[0] == 'A' { 'B' } else { 'A' };
    let err = client
        .find_by_reference(api::FindByReferenceRequest {
            reference_code: misheard.into_iter().collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "the check symbol catches a misheard symbol"
    );

    let no_reason = client
        .cancel_request(api::CancelRequestRequest {
            name: talgar.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    let stale = client
        .cancel_request(api::CancelRequestRequest {
            name: talgar.name.clone(),
            reason: "x".into(),
            etag: "99".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition, "etag mismatch");
    let cancel = api::CancelRequestRequest {
        name: talgar.name.clone(),
        reason: "Дрова привезли соседи".into(),
        etag: talgar.etag.clone(),
        ..Default::default()
    };
    let cancelled = client
        .cancel_request(cancel.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status, pb::RequestStatus::Cancelled as i32);
    assert_eq!(cancelled.cancel_reason, "Дрова привезли соседи");
    let again = client
        .cancel_request(api::CancelRequestRequest {
            etag: String::new(),
            ..cancel
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.status,
        pb::RequestStatus::Cancelled as i32,
        "cancelling twice is a retry"
    );
    assert_eq!(
        intake
            .count(
                "SELECT count(*) FROM intake.outbox WHERE subject = 'komek.request.status_changed'"
            )
            .await,
        1,
        "one status change published"
    );
    assert_eq!(
        intake
            .count("SELECT count(*) FROM intake.outbox WHERE subject = 'komek.request.called_off'")
            .await,
        1,
        "and the request called off, for matching"
    );

    // By status: the cancelled one alone; the new ones newest first, a page each, and the
    // cancelled one no longer among them.
    let by_status = |statuses: Vec<pb::RequestStatus>, page_token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_requests(api::ListRequestsRequest {
                    statuses: statuses.into_iter().map(|s| s as i32).collect(),
                    page_size: 1,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let gone = by_status(vec![pb::RequestStatus::Cancelled], String::new()).await;
    assert_eq!(
        gone.requests.iter().map(|r| &r.name).collect::<Vec<_>>(),
        [&talgar.name]
    );
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = by_status(vec![pb::RequestStatus::New], token).await;
        names.extend(page.requests.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names, [issyk.name.clone(), semey.name.clone()]);
    let either = by_status(
        vec![pb::RequestStatus::New, pb::RequestStatus::Cancelled],
        String::new(),
    )
    .await;
    assert_eq!(either.requests[0].name, issyk.name);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinates_outside_the_service_area_are_refused() {
    let nats = Nats::start();
    let db = TestDb::create().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = komek_intake::Config {
        base: test_base(&db, &nats),
        service_area: Some(komek_intake::ServiceArea::KAZAKHSTAN),
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(komek_intake::serve(config, listener, stop.clone()));
    let intake = Intake {
        _nats: nats,
        db,
        addr,
        stop,
        server,
    };
    let mut client = intake.client().await;

    let mut minsk = valid();
    minsk.location.as_mut().unwrap().point = Some(pb::LatLng {
        latitude: 53.9,
        longitude: 27.5667,
    });
    let status = client.create_request(minsk).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["location.point"]);
    assert_eq!(
        intake.count("SELECT count(*) FROM intake.requests").await,
        0
    );
    // Kokshetau is inside.
    client.create_request(valid()).await.unwrap();
    intake.stop().await;
}

/// Publishes an event as its owner's outbox relay would.
async fn publish(bus: &komek_runtime::events::Bus, subject: &str, event: impl Message) {
    bus.jetstream
        .publish(subject.to_string(), event.encode_to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Reads the request until `done` holds, for at most 20 s.
async fn read_until(
    client: &mut Client,
    name: &str,
    done: impl Fn(&api::Request) -> bool,
) -> api::Request {
    let mut last = None;
    for _ in 0..400 {
        let get = api::GetRequestRequest { name: name.into() };
        let request = client.get_request(get).await.unwrap().into_inner();
        if done(&request) {
            return request;
        }
        last = Some(request);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never got there; last read: {last:?}");
}

#[tokio::test]
async fn status_follows_the_events_whatever_order_they_arrive_in() {
    use komek_proto::events::v1 as ev;
    use komek_runtime::boundary::timestamp;
    use komek_runtime::events::subject;

    let intake = Intake::start().await;
    let mut client = intake.client().await;
    let bus = komek_runtime::events::Bus::connect(&intake._nats.url(), "test")
        .await
        .unwrap();
    let request = client
        .create_request(valid())
        .await
        .unwrap()
        .into_inner()
        .name;
    let assignment = format!("assignments/{}", Uuid::now_v7());
    let group = format!("groups/{}", Uuid::now_v7());
    let at = |secs: i64| {
        Some(timestamp(
            chrono::Utc::now() + chrono::Duration::seconds(secs),
        ))
    };
    let changed = |status: pb::AssignmentStatus, previous: pb::AssignmentStatus, secs| {
        ev::AssignmentChanged {
            assignment: assignment.clone(),
            request: request.clone(),
            group: group.clone(),
            status: status as i32,
            previous_status: previous as i32,
            outcome: pb::Outcome::Helped as i32,
            change_time: at(secs),
            ..Default::default()
        }
    };

    // Matching's offer is applied before triage's verdict that led to it: the two travel on
    // different streams, read by different consumers.
    let offered = ev::AssignmentOffered {
        assignment: assignment.clone(),
        request: request.clone(),
        group: group.clone(),
        group_display_name: "Talgar rescue team".into(),
        offer_time: at(2),
        expire_time: at(600),
        ..Default::default()
    };
    publish(&bus, subject::ASSIGNMENT_OFFERED, offered).await;
    let seen = read_until(&mut client, &request, |r| r.assignment.is_some()).await;
    assert_eq!(seen.status, pb::RequestStatus::Dispatching as i32);

    let triaged = ev::RequestTriaged {
        request: request.clone(),
        category: pb::Category::VeteranAid as i32,
        priority: pb::Priority::Normal as i32,
        decide_time: at(1),
        ..Default::default()
    };
    publish(&bus, subject::REQUEST_TRIAGED, triaged).await;
    read_until(&mut client, &request, |r| r.triage.is_some()).await;

    use pb::AssignmentStatus as A;
    for (status, previous, secs) in [
        (A::Accepted, A::Offered, 3),
        (A::EnRoute, A::Accepted, 4),
        (A::Completed, A::EnRoute, 5),
    ] {
        publish(
            &bus,
            subject::ASSIGNMENT_CHANGED,
            changed(status, previous, secs),
        )
        .await;
    }
    let done = read_until(&mut client, &request, |r| {
        r.status == pb::RequestStatus::Resolved as i32
    })
    .await;
    assert_eq!(done.outcome, pb::Outcome::Helped as i32);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_work_only_unaltered_and_with_their_own_filters() {
    let intake = Intake::start().await;
    let mut client = intake.client().await;
    for _ in 0..3 {
        client.create_request(valid()).await.unwrap();
    }
    let list = |token: &str, settlement_text: &str| api::ListRequestsRequest {
        page_size: 1,
        page_token: token.into(),
        text: settlement_text.into(),
        ..Default::default()
    };
    let first = client
        .list_requests(list("", "Kokshetau"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.requests.len(), 1);
    let token = first.next_page_token.clone();
    assert!(!token.is_empty());
    // The next page, with the same filters: the page size may change.
    let second = client
        .list_requests(api::ListRequestsRequest {
            page_size: 5,
            ..list(&token, "Kokshetau")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.requests.len(), 2);
    assert!(
        second
            .requests
            .iter()
            .all(|r| r.name != first.requests[0].name)
    );

    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let forged = format!("1700000000000000.{}", Uuid::now_v7().simple());
    for (why, request) in [
        ("other filters", list(&token, "Talgar")),
        (
            "altered",
            list(&String::from_utf8(altered).unwrap(), "Kokshetau"),
        ),
        ("made up", list(&forged, "Kokshetau")),
    ] {
        let status = client.list_requests(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["page_token"], "{why}");
    }
    intake.stop().await;
}

/// BatchGetRequests with a read mask: the name and the fields named, in the order asked (a name
/// twice answered twice), each as the read without a mask gives it; the caller's blind index to
/// triage alone; a mask naming what Request has not, or a field twice, refused by its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_read_gives_the_fields_its_mask_names() {
    let intake = Intake::start_on(
        Nats::start(),
        TestDb::create().await,
        keys("k1", &[("k1", 1)]),
    )
    .await;
    let mut admin = intake.client().await;
    let mut noted = identified();
    noted.volunteer_note = "Көмір әкелу керек, қақпа көк".into();
    let a = admin.create_request(noted).await.unwrap().into_inner();
    let b = admin
        .create_request(identified())
        .await
        .unwrap()
        .into_inner();
    let names = vec![b.name.clone(), a.name.clone(), b.name.clone()];
    let batch = |paths: &[&str]| api::BatchGetRequestsRequest {
        names: names.clone(),
        read_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };
    let mut triage = intake.client_of("triage").await;
    let mut matching = intake.client_of("matching").await;
    let whole = triage
        .batch_get_requests(api::BatchGetRequestsRequest {
            names: names.clone(),
            read_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert!(!whole[1].caller_blind_index.is_empty());
    assert_eq!(whole[1].volunteer_note, "Көмір әкелу керек, қақпа көк");

    // The words triage reads: exactly those of the whole read, nothing else.
    let words = ["description", "volunteer_note", "caller_blind_index"];
    let got = triage
        .batch_get_requests(batch(&words))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(got.len(), 3);
    for (got, whole) in got.iter().zip(&whole) {
        let expected = api::Request {
            name: whole.name.clone(),
            description: whole.description.clone(),
            volunteer_note: whole.volunteer_note.clone(),
            caller_blind_index: whole.caller_blind_index.clone(),
            ..Default::default()
        };
        assert_eq!(got, &expected);
    }
    // Matching asks the same and is never given the blind index.
    let got = matching
        .batch_get_requests(batch(&words))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(got[1].volunteer_note, whole[1].volunteer_note);
    assert!(got.iter().all(|r| r.caller_blind_index.is_empty()));
    // Fields beyond the words: the whole read, cut to them.
    let got = admin
        .batch_get_requests(batch(&["status", "location", "volunteer_note"]))
        .await
        .unwrap()
        .into_inner()
        .requests;
    for (got, whole) in got.iter().zip(&whole) {
        assert_eq!(got.name, whole.name);
        assert_eq!(got.status, whole.status);
        assert_eq!(got.location, whole.location);
        assert_eq!(got.volunteer_note, whole.volunteer_note);
        assert!(got.reference_code.is_empty() && got.description.is_empty());
        assert!(got.caller.is_none() && got.create_time.is_none());
    }
    // An empty mask is every field.
    let got = admin
        .batch_get_requests(batch(&[]))
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(got[1].reference_code, a.reference_code);
    assert!(got[1].caller.is_some());

    for (paths, field) in [
        (
            &["description", "location.region"][..],
            "read_mask.paths[1]",
        ),
        (
            &["volunteer_note", "volunteer_note"][..],
            "read_mask.paths[1]",
        ),
        (&["Description"][..], "read_mask.paths[0]"),
    ] {
        let err = triage.batch_get_requests(batch(paths)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{paths:?}: {err:?}");
        let violations = err.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, field, "{paths:?}");
    }
    // Any request unknown: NOT_FOUND, with or without a mask.
    let mut unknown = batch(&words);
    unknown.names.push(format!("requests/{}", Uuid::now_v7()));
    let err = triage.batch_get_requests(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    intake.stop().await;
}
