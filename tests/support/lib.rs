//! Starts the whole system for a test: a private nats-server, a fresh database, and the four
//! services as separate gRPC servers on their own ports, talking only over gRPC and NATS.

pub mod bench;
pub mod browser;
pub mod fuzzing;
pub mod load;
pub mod nemesis;
pub mod scenarios;
pub mod seed;
pub mod serve;
pub mod settlements;
pub mod spans;

use komek_proto::intake::v1 as intake;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use settlements::Settlement;
use uuid::Uuid;

use std::net::SocketAddr;
use std::time::Duration;

use komek_proto::access::v1 as access;
use komek_proto::access::v1::access_service_client::AccessServiceClient;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::partner::v1::partner_service_client::PartnerServiceClient;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::triage::v1::triage_service_client::TriageServiceClient;
use komek_runtime::CancellationToken;
use komek_runtime::auth::{self, Bearer, Role};
use komek_runtime::config::Base;
use komek_testkit::{Nats, TestDb};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry a credential.
pub type Authed = InterceptedService<Channel, Bearer>;

/// The four services, started against real NATS and PostgreSQL.
pub struct System {
    pub nats: Nats,
    pub db: TestDb,
    pub intake: SocketAddr,
    pub triage: SocketAddr,
    pub roster: SocketAddr,
    pub matching: SocketAddr,
    /// The credential operator-side clients use: a dispatcher's API key.
    pub dispatcher_key: String,
    shutdown: CancellationToken,
    servers: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

/// The bootstrap admin credential of test systems.
pub const ADMIN_KEY: &str = "test-bootstrap-admin-key-0123456789abcdef";

/// Authentication settings of test systems: a fresh pepper and service secret per process.
pub fn test_auth() -> auth::Config {
    static SECRETS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (pepper, service) = SECRETS.get_or_init(|| (random_key(), random_key()));
    auth::Config {
        key_pepper: pepper.clone(),
        bootstrap_admin_key: ADMIN_KEY.into(),
        service_secret: service.clone(),
        ..Default::default()
    }
}

/// Settings every service of a test system shares.
pub fn base(nats: &Nats, db: &TestDb) -> Base {
    Base {
        database_url: db.url().to_string(),
        nats_url: nats.url(),
        database_max_connections: 8,
        shutdown_grace_secs: 10,
        auth: test_auth(),
        ..Base::default()
    }
}

/// A client of `addr` whose calls carry `credential`.
pub async fn authed(addr: SocketAddr, credential: &str) -> Authed {
    InterceptedService::new(
        connect(addr).await.unwrap(),
        Bearer::new(credential).unwrap(),
    )
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

impl System {
    pub async fn start() -> Self {
        let nats = Nats::start();
        let db = TestDb::create().await;
        Self::start_on(nats, db).await
    }

    /// Starts the system with matching settings changed by `tune` (short offer times, say).
    pub async fn start_tuned(tune: impl FnOnce(&mut komek_matching::Config)) -> Self {
        Self::start_with(Nats::start(), TestDb::create().await, |_| {}, tune).await
    }

    /// Starts the system with intake settings changed by `tune` (short waiting limits, say).
    pub async fn start_tuned_intake(tune: impl FnOnce(&mut komek_intake::Config)) -> Self {
        Self::start_with(Nats::start(), TestDb::create().await, tune, |_| {}).await
    }

    /// Starts the system with both intake's and matching's settings changed.
    pub async fn start_tuned_both(
        tune_intake: impl FnOnce(&mut komek_intake::Config),
        tune: impl FnOnce(&mut komek_matching::Config),
    ) -> Self {
        Self::start_with(Nats::start(), TestDb::create().await, tune_intake, tune).await
    }

    /// The scenarios' clients, with the test dispatcher's key.
    pub async fn komek(&self) -> scenarios::Komek {
        let key = &self.dispatcher_key;
        scenarios::Komek::new(
            authed(self.intake, key).await,
            authed(self.roster, key).await,
            authed(self.matching, key).await,
        )
    }

    /// Starts the services against servers the caller already runs.
    pub async fn start_on(nats: Nats, db: TestDb) -> Self {
        Self::start_with(nats, db, |_| {}, |_| {}).await
    }

    async fn start_with(
        nats: Nats,
        db: TestDb,
        tune_intake: impl FnOnce(&mut komek_intake::Config),
        tune: impl FnOnce(&mut komek_matching::Config),
    ) -> Self {
        let shutdown = CancellationToken::new();
        let mut servers = Vec::new();

        let (l, intake) = listener().await;
        let mut config = komek_intake::Config {
            base: base(&nats, &db),
            pii: test_pii_keys(),
            ..Default::default()
        };
        tune_intake(&mut config);
        servers.push((
            "intake",
            tokio::spawn(komek_intake::serve(config, l, shutdown.clone())),
        ));

        let (l, triage) = listener().await;
        let config = komek_triage::Config {
            base: base(&nats, &db),
            intake: komek_runtime::config::Upstream {
                url: format!("http://{intake}"),
                ..Default::default()
            },
            ..Default::default()
        };
        servers.push((
            "triage",
            tokio::spawn(komek_triage::serve(config, l, shutdown.clone())),
        ));

        let (l, roster) = listener().await;
        let config = komek_roster::Config {
            base: base(&nats, &db),
            ..Default::default()
        };
        servers.push((
            "roster",
            tokio::spawn(komek_roster::serve(config, l, shutdown.clone())),
        ));

        let (l, matching) = listener().await;
        let mut config = komek_matching::Config {
            base: base(&nats, &db),
            keepalive_secs: 2,
            intake: komek_runtime::config::Upstream {
                url: format!("http://{intake}"),
                ..Default::default()
            },
            ..Default::default()
        };
        tune(&mut config);
        servers.push((
            "matching",
            tokio::spawn(komek_matching::serve(config, l, shutdown.clone())),
        ));

        let mut system = Self {
            nats,
            db,
            intake,
            triage,
            roster,
            matching,
            dispatcher_key: String::new(),
            shutdown,
            servers,
        };
        for addr in [intake, triage, roster, matching] {
            system.wait_serving(addr).await;
        }
        system.dispatcher_key = system
            .issue_key(Role::Dispatcher, "dispatchers/test-operator", &[])
            .await;
        system
    }

    /// Issues an API key as the bootstrap admin and waits until every service knows it.
    /// Returns the credential.
    pub async fn issue_key(&self, role: Role, subject: &str, regions: &[&str]) -> String {
        let reply = self
            .access_client(ADMIN_KEY)
            .await
            .create_api_key(access::CreateApiKeyRequest {
                request_id: Uuid::new_v4().to_string(),
                api_key: Some(access::ApiKey {
                    display_name: format!("test {subject}"),
                    role: role.code(),
                    subject: subject.into(),
                    regions: regions.iter().map(|r| r.to_string()).collect(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("issuing a {role:?} key for {subject}: {e:?}"))
            .into_inner();
        self.wait_key_known(&reply.secret).await;
        reply.secret
    }

    /// Waits until every service accepts `credential` (keys reach services through the
    /// access stream, a moment after they are issued).
    pub async fn wait_key_known(&self, credential: &str) {
        wait_key_known(
            &[self.intake, self.triage, self.roster, self.matching],
            credential,
        )
        .await;
    }

    /// The volunteer app of `volunteer` ("volunteers/{id}"), signed in with its own key.
    pub async fn volunteer_app(&self, volunteer: &str) -> AssignmentServiceClient<Authed> {
        let key = self.issue_key(Role::Volunteer, volunteer, &[]).await;
        AssignmentServiceClient::new(authed(self.matching, &key).await)
    }

    pub async fn access_client(&self, credential: &str) -> AccessServiceClient<Authed> {
        AccessServiceClient::new(authed(self.roster, credential).await)
    }

    pub async fn partner_client(&self, credential: &str) -> PartnerServiceClient<Authed> {
        PartnerServiceClient::new(authed(self.intake, credential).await)
    }

    /// Waits until the server at `addr` answers health checks with SERVING.
    async fn wait_serving(&self, addr: SocketAddr) {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        for _ in 0..300 {
            if let Some((name, handle)) = self.servers.iter().find(|(_, h)| h.is_finished()) {
                panic!("{name} stopped during start: {handle:?}");
            }
            if let Ok(channel) = connect(addr).await {
                let reply = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await;
                if reply.is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server at {addr} did not become SERVING in 30 s");
    }

    /// Operator-side clients, signed in as the test dispatcher.
    pub async fn intake_client(&self) -> IntakeServiceClient<Authed> {
        IntakeServiceClient::new(authed(self.intake, &self.dispatcher_key).await)
    }

    pub async fn triage_client(&self) -> TriageServiceClient<Authed> {
        TriageServiceClient::new(authed(self.triage, &self.dispatcher_key).await)
    }

    pub async fn roster_client(&self) -> RosterServiceClient<Authed> {
        RosterServiceClient::new(authed(self.roster, &self.dispatcher_key).await)
    }

    /// AssignmentService as the dispatcher sees it: reading assignments. Volunteers' own calls
    /// go through [`System::volunteer_app`].
    pub async fn assignment_client(&self) -> AssignmentServiceClient<Authed> {
        AssignmentServiceClient::new(authed(self.matching, &self.dispatcher_key).await)
    }

    pub async fn dispatch_client(&self) -> DispatchServiceClient<Authed> {
        DispatchServiceClient::new(authed(self.matching, &self.dispatcher_key).await)
    }

    /// Waits until the roster has published `changes` group-state events. Roster RPCs return
    /// once the change and its event are committed; the event reaches the stream a moment
    /// later through the outbox, and a request triaged before that would miss the group.
    pub async fn wait_roster_published(&self, changes: u64) {
        let client = async_nats::connect(self.nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let published = eventually(Duration::from_secs(30), || {
            let js = js.clone();
            async move {
                let mut stream = js.get_stream("KOMEK_ROSTER").await.ok()?;
                // The roster's "complete" message comes first, when it starts.
                let last = stream.info().await.ok()?.state.last_sequence;
                (last > changes).then_some(())
            }
        })
        .await;
        assert!(
            published.is_some(),
            "roster did not publish {changes} changes within 30 s"
        );
    }

    /// Sends shutdown and checks that every service drains and returns without error.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for (name, handle) in self.servers {
            let result = tokio::time::timeout(Duration::from_secs(30), handle)
                .await
                .unwrap_or_else(|_| panic!("{name} did not stop within 30 s of shutdown"));
            result
                .unwrap()
                .unwrap_or_else(|e| panic!("{name} failed: {e:#}"));
        }
    }
}

/// Waits until every server in `addrs` accepts `credential`, for at most 60 s each.
pub async fn wait_key_known(addrs: &[SocketAddr], credential: &str) {
    for &addr in addrs {
        let known = eventually(Duration::from_secs(60), || async move {
            let channel = connect(addr).await.ok()?;
            let bearer = Bearer::new(credential).ok()?;
            let mut client = AccessServiceClient::new(InterceptedService::new(channel, bearer));
            let code = match client.who_am_i(access::WhoAmIRequest {}).await {
                Ok(_) => tonic::Code::Ok,
                Err(status) => status.code(),
            };
            // UNIMPLEMENTED: the server has no AccessService, but its gate let the call in.
            matches!(code, tonic::Code::Ok | tonic::Code::Unimplemented).then_some(())
        })
        .await;
        assert!(known.is_some(), "{addr} did not learn the key within 60 s");
    }
}

pub async fn connect(addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
}

/// The fields an INVALID_ARGUMENT answer names, in its order. Panics on any other answer.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Polls `probe` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = probe().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

pub fn at(s: &Settlement) -> pb::LatLng {
    pb::LatLng {
        latitude: s.lat,
        longitude: s.lon,
    }
}

/// Registers an organisation working in `regions`.
pub async fn create_organization(
    client: &mut RosterServiceClient<Authed>,
    display_name: &str,
    kind: roster::OrganizationKind,
    regions: &[&str],
) -> roster::Organization {
    client
        .create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: display_name.into(),
                kind: kind as i32,
                regions: regions.iter().map(|r| r.to_string()).collect(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Registers a volunteer who belongs to `groups`.
pub async fn create_volunteer(
    client: &mut RosterServiceClient<Authed>,
    display_name: &str,
    groups: Vec<String>,
) -> roster::Volunteer {
    client
        .create_volunteer(roster::CreateVolunteerRequest {
            request_id: Uuid::new_v4().to_string(),
            volunteer: Some(roster::Volunteer {
                display_name: display_name.into(),
                groups,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Registers a group based at `place` with a 150 km service area and room for two jobs.
pub async fn create_group(
    client: &mut RosterServiceClient<Authed>,
    org: &str,
    name: &str,
    place: &Settlement,
    skills: &[pb::Skill],
    availability: pb::Availability,
    request_id: &str,
) -> roster::Group {
    let group = (name, place, skills, availability);
    create_group_for(client, org, group, 2, request_id).await
}

/// A group as [`create_group`] makes it, able to take `capacity` jobs at once.
pub async fn create_group_for(
    client: &mut RosterServiceClient<Authed>,
    org: &str,
    (name, place, skills, availability): (&str, &Settlement, &[pb::Skill], pb::Availability),
    capacity: i32,
    request_id: &str,
) -> roster::Group {
    client
        .create_group(roster::CreateGroupRequest {
            request_id: request_id.to_string(),
            group: Some(roster::Group {
                organization: org.to_string(),
                display_name: name.to_string(),
                base_location: Some(at(place)),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                service_area: Some(pb::ServiceArea {
                    radius_km: 150.0,
                    districts: vec![],
                }),
                skills: skills
                    .iter()
                    .map(|s| pb::GroupSkill {
                        skill: *s as i32,
                        ..Default::default()
                    })
                    .collect(),
                languages: vec![pb::Language::Kazakh as i32, pb::Language::Russian as i32],
                capacity,
                availability: availability as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

/// The console's settings for a test system: the four services' addresses, the rest default.
pub fn console_config(system: &System) -> komek_console::Config {
    komek_console::Config {
        roster_url: format!("http://{}", system.roster),
        matching_url: format!("http://{}", system.matching),
        intake_url: format!("http://{}", system.intake),
        triage_url: format!("http://{}", system.triage),
        ..Default::default()
    }
}

/// The console serving on a free local port for `system` until `stop`; its address.
pub async fn start_console(system: &System, stop: &CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(komek_console::serve(
        console_config(system),
        listener,
        stop.clone(),
    ));
    addr
}

/// 32 random bytes in base64, as `deploy/up.sh` makes secrets for a real deployment.
pub(crate) fn random_key() -> String {
    use base64::Engine;
    let bytes: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Fresh random keys for caller data.
fn test_pii_keys() -> komek_intake::pii::Config {
    komek_intake::pii::Config {
        key_id: "test-1".into(),
        keys: [("test-1".to_string(), random_key())].into_iter().collect(),
        index_key: random_key(),
        retire: Vec::new(),
    }
}

/// Creates a hotline request at `point` in `place`; `caller` is (name, phone), or anonymous.
pub async fn create_request(
    client: &mut IntakeServiceClient<Authed>,
    caller: Option<(&str, &str)>,
    place: &Settlement,
    point: pb::LatLng,
    description: &str,
) -> intake::Request {
    let caller = match caller {
        Some((name, phone)) => intake::Caller {
            display_name: name.into(),
            phone: phone.into(),
            preferred_language: pb::Language::Kazakh as i32,
            anonymous: false,
        },
        None => intake::Caller {
            anonymous: true,
            ..Default::default()
        },
    };
    client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(caller),
            location: Some(pb::Location {
                point: Some(point),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                ..Default::default()
            }),
            description: description.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls GetRequest until `done` holds, for at most 30 s.
pub async fn wait_request(
    client: &IntakeServiceClient<Authed>,
    name: &str,
    what: &str,
    done: impl Fn(&intake::Request) -> bool,
) -> intake::Request {
    let done = &done;
    eventually(Duration::from_secs(30), || {
        let mut client = client.clone();
        let name = name.to_string();
        async move {
            let r = client
                .get_request(intake::GetRequestRequest { name })
                .await
                .ok()?
                .into_inner();
            done(&r).then_some(r)
        }
    })
    .await
    .unwrap_or_else(|| panic!("{name}: not {what} within 30 s"))
}
