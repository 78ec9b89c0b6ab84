//! Roster records and keys as the APIs show them.

use komek_proto::access::v1 as access_api;
use komek_proto::roster::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Principal;
use komek_runtime::boundary::{name, name_or_empty, timestamp};
use prost::Message;

use crate::events;
use crate::model::KeyRow;
use crate::model::{Group, OrganizationRow, Volunteer};

pub fn organization(o: &OrganizationRow) -> api::Organization {
    api::Organization {
        name: name("organizations", o.id),
        display_name: o.display_name.clone(),
        kind: o.kind.into(),
        regions: o.regions.clone(),
        contact_email: o.contact_email.clone(),
        // Written by this service from a validated WeeklySchedule.
        office_hours: o
            .office_hours
            .as_deref()
            .and_then(|b| pb::WeeklySchedule::decode(b).ok()),
        create_time: Some(timestamp(o.created_at)),
        update_time: Some(timestamp(o.updated_at)),
        etag: o.version.to_string(),
    }
}

/// The API view is the published group state plus bookkeeping, built from it so the two
/// never disagree.
pub fn group(g: &Group) -> api::Group {
    let state = events::group_state(g);
    api::Group {
        name: state.group,
        organization: state.organization,
        display_name: state.display_name,
        base_location: state.base_location,
        settlement: state.settlement,
        district: state.district,
        region: state.region,
        service_area: state.service_area,
        skills: state.skills,
        languages: state.languages,
        capacity: state.capacity,
        schedule: state.schedule,
        availability: state.availability,
        last_location: state.last_location,
        last_location_time: state.last_location_time,
        rest_minutes: state.rest_minutes,
        members: state.members,
        create_time: Some(timestamp(g.row.created_at)),
        update_time: state.update_time,
        etag: g.row.version.to_string(),
        deactivate_time: g.row.deactivated_at.map(timestamp),
        deactivation_reason: g.row.deactivation_reason.clone(),
    }
}

pub fn volunteer(v: &Volunteer) -> api::Volunteer {
    api::Volunteer {
        name: name("volunteers", v.row.id),
        display_name: v.row.display_name.clone(),
        phone: String::new(),
        languages: v.row.languages.iter().map(|l| i32::from(*l)).collect(),
        groups: v.groups.iter().map(|g| name("groups", *g)).collect(),
        create_time: Some(timestamp(v.row.created_at)),
        update_time: Some(timestamp(v.row.updated_at)),
        etag: v.row.version.to_string(),
        deactivate_time: v.row.deactivated_at.map(timestamp),
        deactivation_reason: v.row.deactivation_reason.clone(),
    }
}

pub fn key(k: &KeyRow) -> access_api::ApiKey {
    access_api::ApiKey {
        name: name("apiKeys", k.id),
        display_name: k.display_name.clone(),
        role: i32::from(k.role),
        subject: k.subject.clone(),
        regions: k.regions.clone(),
        create_time: Some(timestamp(k.created_at)),
        expire_time: k.expire_at.map(timestamp),
        revoke_time: k.revoked_at.map(timestamp),
        revoke_reason: k.revoke_reason.clone(),
        creator: k.creator.clone(),
    }
}

pub fn principal(p: &Principal) -> access_api::Principal {
    access_api::Principal {
        role: p.role.code(),
        subject: p.subject.clone(),
        regions: p.regions.clone(),
        api_key: name_or_empty("apiKeys", p.api_key),
    }
}
