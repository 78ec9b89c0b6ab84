//! The events the roster publishes: a group's whole state (everything the matcher needs to
//! know about it) and an API key's state (everything a service's gate needs).

use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{name, timestamp};
use prost::Message;

use crate::model::Group;
use crate::model::KeyRow;

fn skills(g: &Group) -> Vec<pb::GroupSkill> {
    let r = &g.row;
    r.skills
        .iter()
        .zip(&r.skill_certified_until)
        .zip(&r.skill_payload_tonnes)
        .map(|((skill, until), payload)| pb::GroupSkill {
            skill: i32::from(*skill),
            certified_until: until.map(timestamp),
            payload_tonnes: *payload,
        })
        .collect()
}

fn schedule(g: &Group) -> Option<pb::WeeklySchedule> {
    // Written by this service from a validated WeeklySchedule; unreadable bytes mean no schedule.
    g.row
        .schedule
        .as_deref()
        .and_then(|b| pb::WeeklySchedule::decode(b).ok())
}

pub fn group_state(g: &Group) -> ev::GroupState {
    let r = &g.row;
    ev::GroupState {
        group: name("groups", r.id),
        organization: name("organizations", r.organization_id),
        display_name: r.display_name.clone(),
        base_location: Some(pb::LatLng {
            latitude: r.lat,
            longitude: r.lon,
        }),
        settlement: r.settlement.clone(),
        district: r.district.clone(),
        region: r.region.clone(),
        service_area: Some(pb::ServiceArea {
            radius_km: r.radius_km,
            districts: r.districts.clone(),
        }),
        skills: skills(g),
        languages: r.languages.iter().map(|l| i32::from(*l)).collect(),
        capacity: r.capacity,
        schedule: schedule(g),
        availability: r.availability.into(),
        last_location: r
            .last_lat
            .zip(r.last_lon)
            .map(|(latitude, longitude)| pb::LatLng {
                latitude,
                longitude,
            }),
        last_location_time: r.last_location_at.map(timestamp),
        rest_minutes: r.rest_minutes,
        members: g.members.iter().map(|m| name("volunteers", *m)).collect(),
        deleted: false,
        revision: r.version,
        update_time: Some(timestamp(r.updated_at)),
        deactivated: r.deactivated_at.is_some(),
        office_hours: r
            .office_hours
            .as_deref()
            .and_then(|b| pb::WeeklySchedule::decode(b).ok()),
        organization_display_name: r.organization_display_name.clone(),
    }
}

/// A key as every service's keyring keeps it: the hash of its secret, never the secret.
pub fn key_state(k: &KeyRow) -> ev::ApiKeyState {
    ev::ApiKeyState {
        key: name("apiKeys", k.id),
        role: i32::from(k.role),
        subject: k.subject.clone(),
        regions: k.regions.clone(),
        secret_hash: k.secret_hash.clone(),
        expire_time: k.expire_at.map(timestamp),
        revoked: k.revoked_at.is_some(),
        revision: k.revision,
    }
}
