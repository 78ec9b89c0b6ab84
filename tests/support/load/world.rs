//! What a load run sets up before it measures: volunteer groups at real settlements across
//! Kazakhstan with one volunteer each, the keys of the volunteers and of the telephony gateway
//! that records the calls, and the calls themselves (real places, notes in Kazakh and Russian).

use std::net::SocketAddr;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::roster::v1 as roster;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use uuid::Uuid;

use crate::nemesis::rng::Rng;
use crate::nemesis::workload::{call, issue_key, lazy};
use crate::settlements::{Settlement, all};

/// One group of the fleet and the volunteer who answers its offers.
pub struct Group {
    pub name: String,
    pub volunteer: String,
    pub key: String,
}

pub struct World {
    pub groups: Vec<Group>,
    /// The telephony gateway's key: calls arrive through it, as from the hotlines' exchange.
    pub gateway_key: String,
    /// Where callers are: the settlements of Kazakhstan within reach of some group.
    pub places: Vec<&'static Settlement>,
}

/// Registers `groups` groups at settlements spread over all of Kazakhstan (every n-th of the
/// gazetteer), each able to do every kind of job within 150 km with room for 1,000 jobs at
/// once, so a run measures the pipeline rather than groups filling up.
pub async fn setup(
    roster_addr: SocketAddr,
    everyone: &[SocketAddr],
    admin: &str,
    groups: usize,
) -> World {
    let roster_addrs = [roster_addr];
    let mut client = RosterServiceClient::new(lazy(&roster_addrs, admin));
    let org = call(
        client.create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: "Қазақстан еріктілері".into(),
                kind: roster::OrganizationKind::Ngo as i32,
                ..Default::default()
            }),
        }),
    )
    .await
    .expect("create the organisation");

    let kz = all();
    let step = kz.len() / groups;
    let bases: Vec<&Settlement> = (0..groups).map(|i| &kz[i * step]).collect();
    let places: Vec<&'static Settlement> = kz
        .iter()
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
    let mut out = Vec::with_capacity(groups);
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
                capacity: 1000,
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
        let key = issue_key(&roster_addrs, admin, Role::Volunteer, &volunteer.name).await;
        out.push(Group {
            name: group.name,
            volunteer: volunteer.name,
            key,
        });
    }
    let gateway_key = issue_key(&roster_addrs, admin, Role::Service, "services/telephony").await;
    for key in out.iter().map(|g| &g.key).chain([&gateway_key]) {
        crate::wait_key_known(everyone, key).await;
    }
    World {
        groups: out,
        gateway_key,
        places,
    }
}

fn km(a: &Settlement, b: &Settlement) -> f64 {
    let p = |s: &Settlement| komek_core::GeoPoint::new(s.lat, s.lon).unwrap();
    p(a).distance_m(p(b)) / 1000.0
}

/// What callers say in a surge: the jobs one group does (searches for people, which go to
/// several groups at once, are left out so that every request is offered exactly once).
pub const NOTES: &[&str] = &[
    "Одинокий ветеран, 91 год, просит помочь по дому и купить продукты",
    "Мужчина тяжело переживает смерть жены, нужна помощь психолога",
    "Семье с четырьмя детьми нужны продукты и тёплая одежда",
    "Жалғыз тұратын ардагерге үй шаруасына көмек керек, азық-түлік сатып алу",
    "Пенсионерке 78 лет нужен уголь на зиму, 2 тонны, сама привезти не может",
    "Қарт кісіге қысқа көмір мен отын керек, 3 тонна",
    "Затопило дом после паводка, нужна помощь откачать воду и вынести вещи",
    "Инвалид-колясочник просит отвезти в поликлинику в четверг",
];

/// A call `i` of the run: a real settlement, a point up to about 2 km from its centre (people
/// call from different streets), a note, and a caller with a phone number of their own.
pub fn call_request(world: &World, rng: &mut Rng, i: u64) -> intake::CreateRequestRequest {
    let place = world.places[rng.below(world.places.len())];
    let jitter = |rng: &mut Rng| (rng.below(4001) as f64 - 2000.0) / 111_000.0;
    let point = pb::LatLng {
        latitude: place.lat + jitter(rng),
        longitude: place.lon + jitter(rng),
    };
    intake::CreateRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            display_name: "Абонент".into(),
            phone: format!("+7701{:07}", i % 10_000_000),
            preferred_language: pb::Language::Kazakh as i32,
            anonymous: false,
        }),
        location: Some(pb::Location {
            point: Some(point),
            settlement: place.name_en.clone(),
            district: place.district.clone(),
            region: place.region.clone(),
            ..Default::default()
        }),
        description: NOTES[rng.below(NOTES.len())].into(),
        ..Default::default()
    }
}

/// How long setting up may wait for the roster to reach matching.
pub const PUBLISH_WAIT: Duration = Duration::from_secs(120);
