//! The clients of a nemesis run, and what they share: hotline operators creating requests (the
//! volunteer fleet and the dispatcher are in `fleet.rs`). Every call goes through the public
//! gRPC API and lands in the [`History`] with its outcome; an operation whose outcome is unknown
//! is retried with the same `request_id`, as a careful client would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use komek_proto::access::v1 as access;
use komek_proto::access::v1::access_service_client::AccessServiceClient;
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::roster::v1 as roster;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::{Bearer, Role};
use komek_runtime::spread::Spread;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;
use uuid::Uuid;

use super::history::{Call, History, Outcome};
use super::rng::Rng;
use crate::settlements::{Settlement, all};

/// How long one call may take before the client gives up on it (its outcome is then unknown).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client keeps retrying one operation whose outcome is unknown.
const RETRY_FOR: Duration = Duration::from_secs(120);

/// A client of one service's replicas, spreading its calls over them.
pub type Spreading = InterceptedService<Spread, Bearer>;

/// A client channel to the replicas at `addrs` that connects when first used and again after
/// every break.
pub fn lazy(addrs: &[SocketAddr], credential: &str) -> Spreading {
    let channels = addrs
        .iter()
        .map(|addr| {
            Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .connect_lazy()
        })
        .collect();
    InterceptedService::new(Spread::new(channels), Bearer::new(credential).unwrap())
}

/// Runs one call with the client's own deadline.
pub async fn call<T>(
    f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded("client deadline")),
    }
}

/// Repeats `attempt` with one `request_id` while its outcome is unknown, recording each try.
/// Returns the last result.
pub(super) async fn until_known<T, F, Fut>(
    history: &History,
    what: Call,
    target: &str,
    mut attempt: F,
    name_of: impl Fn(&T) -> String,
) -> Result<T, tonic::Status>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let request_id = Uuid::new_v4().to_string();
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let result = attempt(request_id.clone()).await;
        let outcome = Outcome::of(&result);
        let name = result.as_ref().map(&name_of).unwrap_or_default();
        history.record(what, &request_id, target, &name, outcome);
        let retry = match outcome {
            Outcome::Unknown(_) => true,
            // A full bucket means the call was not taken; it is worth another try too. So does
            // ABORTED: the transaction lost a lock race and committed nothing, and gRPC says the
            // client should retry it.
            Outcome::Failed(tonic::Code::ResourceExhausted | tonic::Code::Aborted) => true,
            _ => false,
        };
        if !retry || started.elapsed() > RETRY_FOR {
            return result;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Issues a key as the admin, retrying while the roster is unreachable.
pub async fn issue_key(roster: &[SocketAddr], admin: &str, role: Role, subject: &str) -> String {
    let mut client = AccessServiceClient::new(lazy(roster, admin));
    let request = access::CreateApiKeyRequest {
        request_id: Uuid::new_v4().to_string(),
        api_key: Some(access::ApiKey {
            display_name: format!("nemesis {subject}"),
            role: role.code(),
            subject: subject.into(),
            ..Default::default()
        }),
    };
    for _ in 0..100 {
        if let Ok(reply) = call(client.create_api_key(request.clone())).await {
            return reply.secret;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not issue a key for {subject}");
}

/// One volunteer of the fleet: a member of one group, signed in with a key of its own.
pub struct Volunteer {
    pub name: String,
    pub key: String,
    pub group: String,
}

/// What the run sets up before the faults start.
pub struct World {
    pub operator_keys: Vec<String>,
    pub volunteers: Vec<Volunteer>,
    /// Where the hotlines' callers are: settlements within reach of some group.
    pub places: Vec<&'static Settlement>,
}

/// Registers an organisation with `groups` groups across Almaty Region, one volunteer each,
/// and keys for the operators and volunteers.
pub async fn setup(
    roster: &[SocketAddr],
    everyone: &[SocketAddr],
    admin: &str,
    groups: usize,
) -> World {
    let mut client = RosterServiceClient::new(lazy(roster, admin));
    let org = call(
        client.create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: "Алматы облысы еріктілері".into(),
                kind: roster::OrganizationKind::Ngo as i32,
                ..Default::default()
            }),
        }),
    )
    .await
    .expect("create the organisation");

    let region: Vec<&'static Settlement> = all()
        .iter()
        .filter(|s| s.region == "Almaty Region")
        .collect();
    assert!(region.len() >= groups, "too few settlements for the groups");
    let step = region.len() / groups;
    let bases: Vec<&Settlement> = (0..groups).map(|i| region[i * step]).collect();
    let places: Vec<&'static Settlement> = region
        .iter()
        .copied()
        .filter(|s| bases.iter().any(|b| km(s, b) < 100.0))
        .collect();

    let every_skill: Vec<pb::GroupSkill> = (1..=10)
        .map(|skill| pb::GroupSkill {
            skill,
            payload_tonnes: if skill == pb::Skill::VehicleCargo as i32 {
                5.0
            } else {
                0.0
            },
            ..Default::default()
        })
        .collect();
    let mut volunteers = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let group = call(client.create_group(roster::CreateGroupRequest {
            request_id: Uuid::new_v4().to_string(),
            group: Some(roster::Group {
                organization: org.name.clone(),
                display_name: format!("{} еріктілері {i}", base.name_ru),
                base_location: Some(crate::at(base)),
                settlement: base.name_en.clone(),
                district: base.district.clone(),
                region: base.region.clone(),
                service_area: Some(pb::ServiceArea {
                    radius_km: 150.0,
                    districts: vec![],
                }),
                skills: every_skill.clone(),
                languages: vec![pb::Language::Kazakh as i32, pb::Language::Russian as i32],
                capacity: 3,
                availability: pb::Availability::Available as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect("create a group");
        let volunteer = call(client.create_volunteer(roster::CreateVolunteerRequest {
            request_id: Uuid::new_v4().to_string(),
            volunteer: Some(roster::Volunteer {
                display_name: format!("Ерікті {i}"),
                groups: vec![group.name.clone()],
                ..Default::default()
            }),
        }))
        .await
        .expect("create a volunteer");
        let key = issue_key(roster, admin, Role::Volunteer, &volunteer.name).await;
        volunteers.push(Volunteer {
            name: volunteer.name,
            key,
            group: group.name,
        });
    }
    let mut operator_keys = Vec::new();
    for i in 0..3 {
        let subject = format!("dispatchers/nemesis-operator-{i}");
        operator_keys.push(issue_key(roster, admin, Role::Dispatcher, &subject).await);
    }
    for key in operator_keys
        .iter()
        .chain(volunteers.iter().map(|v| &v.key))
    {
        crate::wait_key_known(everyone, key).await;
    }
    World {
        operator_keys,
        volunteers,
        places,
    }
}

fn km(a: &Settlement, b: &Settlement) -> f64 {
    let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lb - la;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Call notes the operators type, in Russian and Kazakh; each is dispatched to a group.
const NOTES: &[&str] = &[
    "Пропала пожилая женщина 80 лет, ушла из дома в обед и не вернулась",
    "Одинокий ветеран, 91 год, просит помочь по дому и купить продукты",
    "Мужчина тяжело переживает смерть жены, нужна помощь психолога",
    "Семье с четырьмя детьми нужны продукты и тёплая одежда",
    "Жалғыз тұратын ардагерге үй шаруасына көмек керек, азық-түлік сатып алу",
    "Бала жоғалып кетті, 9 жаста, кешке үйден шығып, қайтпады",
];

/// Creates `count` requests at `per_second`, each through the operator keys in turn.
pub async fn drive(
    intake: &[SocketAddr],
    world: &World,
    count: usize,
    per_second: f64,
    history: Arc<History>,
    seed: u64,
) {
    let clients: Vec<_> = world
        .operator_keys
        .iter()
        .map(|k| IntakeServiceClient::new(lazy(intake, k)))
        .collect();
    let mut rng = Rng::new(seed);
    let mut tasks = tokio::task::JoinSet::new();
    let gap = Duration::from_secs_f64(1.0 / per_second);
    let mut next = tokio::time::Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(next).await;
        next += gap;
        let place = world.places[rng.below(world.places.len())];
        let note = NOTES[rng.below(NOTES.len())];
        let client = clients[i % clients.len()].clone();
        let history = history.clone();
        tasks.spawn(async move {
            let body = |request_id: String| intake::CreateRequestRequest {
                request_id,
                channel: pb::Channel::Hotline as i32,
                caller: Some(intake::Caller {
                    anonymous: true,
                    ..Default::default()
                }),
                location: Some(pb::Location {
                    point: Some(crate::at(place)),
                    settlement: place.name_en.clone(),
                    district: place.district.clone(),
                    region: place.region.clone(),
                    ..Default::default()
                }),
                description: note.into(),
                ..Default::default()
            };
            let _ = until_known(
                &history,
                Call::Create,
                "",
                |id| {
                    let request = body(id);
                    let mut client = client.clone();
                    async move { call(client.create_request(request)).await }
                },
                |r: &intake::Request| r.name.clone(),
            )
            .await;
        });
        // Reap finished creates as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Waits for SERVING from the health service of `addr`; the time it took, or None.
pub async fn wait_serving(addr: SocketAddr, within: Duration) -> Option<Duration> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let started = tokio::time::Instant::now();
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy();
    let client = HealthClient::new(channel);
    crate::eventually(within, || {
        let mut client = client.clone();
        async move {
            let reply = tokio::time::timeout(
                Duration::from_millis(500),
                client.check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await
            .ok()?
            .ok()?;
            (reply.get_ref().status == ServingStatus::Serving as i32).then_some(())
        }
    })
    .await
    .map(|()| started.elapsed())
}
