//! Requests of the roster's APIs checked into the values the store takes. Each function reports
//! every field at fault at once. A group is checked by one function, [`group`], whether it
//! comes from CreateGroup, from UpdateGroup's merge, or from a row of an import.

pub mod import;

use chrono::Utc;
use komek_core::{Availability, Language, Skill};
use komek_proto::access::v1 as access_api;
use komek_proto::roster::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::{self, Role};
use komek_runtime::boundary::{
    self, Complete, FieldViolation, Text, Violations, from_timestamp, geo_point,
    optional_timestamp, parse_name, parse_request_id, required_etag,
};
use prost_types::FieldMask;
use tonic::Status;
use uuid::Uuid;

use crate::model::{
    GroupSpec, NewOrganization, NewVolunteer, OrganizationFields, SkillEntry, Subject,
};

/// The largest CSV an import takes.
pub const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;

const NAME: Text = Text::line(200).required();
const PLACE: Text = Text::line(200);
const EMAIL: Text = Text::line(254);
const REVOKE_REASON: Text = Text::line(500).required();

fn languages(values: &[i32], field: &str, v: &mut Violations) -> Vec<i16> {
    for (i, l) in values.iter().enumerate() {
        if Language::from_code(*l).is_none() {
            v.add(format!("{field}[{i}]"), "unknown or unspecified language");
        }
    }
    values.iter().map(|l| *l as i16).collect()
}

/// A weekly schedule under the field `at` ("group.schedule", "organization.office_hours").
fn schedule(s: &pb::WeeklySchedule, at: &str, v: &mut Violations) {
    if komek_core::schedule::zone(s.time_zone.trim()).is_err() {
        v.add(
            format!("{at}.time_zone"),
            "an IANA time zone such as Asia/Almaty",
        );
    }
    let check_shift = |shift: &pb::Shift, field: String, v: &mut Violations| {
        if !(1..=7).contains(&shift.day) {
            v.add(format!("{field}.day"), "a day of the week");
        }
        for (part, t) in [("start", &shift.start), ("end", &shift.end)] {
            match t {
                Some(t) if (0..=23).contains(&t.hours) && (0..=59).contains(&t.minutes) => {}
                _ => v.add(format!("{field}.{part}"), "a time of day 00:00-23:59"),
            }
        }
    };
    for (i, shift) in s.shifts.iter().enumerate() {
        check_shift(shift, format!("{at}.shifts[{i}]"), v);
    }
    for (i, e) in s.exceptions.iter().enumerate() {
        let field = format!("{at}.exceptions[{i}]");
        let valid_date = e.date.as_ref().is_some_and(|d| {
            chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).is_some()
        });
        if !valid_date {
            v.add(format!("{field}.date"), "a calendar date");
        }
        for (j, shift) in e.shifts.iter().enumerate() {
            check_shift(shift, format!("{field}.shifts[{j}]"), v);
        }
    }
}

fn skills(g: &api::Group, v: &mut Violations) -> Vec<SkillEntry> {
    let mut skills: Vec<SkillEntry> = Vec::new();
    for (i, s) in g.skills.iter().enumerate() {
        let field = format!("group.skills[{i}]");
        if Skill::from_code(s.skill).is_none() {
            v.add(format!("{field}.skill"), "unknown or unspecified skill");
        } else if skills.iter().any(|e| i32::from(e.skill) == s.skill) {
            v.add(format!("{field}.skill"), "listed twice");
        }
        if !s.payload_tonnes.is_finite() || !(0.0..=100.0).contains(&s.payload_tonnes) {
            v.add(format!("{field}.payload_tonnes"), "between 0 and 100");
        }
        let certified_until = v
            .take(optional_timestamp(
                s.certified_until.as_ref(),
                &format!("{field}.certified_until"),
            ))
            .flatten();
        skills.push(SkillEntry {
            skill: s.skill as i16,
            certified_until,
            payload_tonnes: s.payload_tonnes,
        });
    }
    skills
}

/// Every violation of a group, named as fields of `group`.
pub fn group(g: &api::Group) -> Result<GroupSpec, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let organization_id = v.take(parse_name(
        "organizations",
        &g.organization,
        "group.organization",
    ));
    let display_name = v.take(NAME.parse(&g.display_name, "group.display_name"));
    let base = v.take(geo_point(g.base_location.as_ref(), "group.base_location"));
    let settlement = v.take(PLACE.parse(&g.settlement, "group.settlement"));
    let district = v.take(PLACE.parse(&g.district, "group.district"));
    let region = v.take(
        PLACE
            .parse(&g.region, "group.region")
            .and_then(|r| boundary::region(&r, "group.region")),
    );
    let area = g.service_area.clone().unwrap_or_default();
    if !area.radius_km.is_finite() || !(0.0..=5000.0).contains(&area.radius_km) {
        v.add(
            "group.service_area.radius_km",
            "between 0 (no limit) and 5000",
        );
    }
    let districts: Vec<Option<String>> = area
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| v.take(NAME.parse(d, &format!("group.service_area.districts[{i}]"))))
        .collect();
    let skills = skills(g, &mut v);
    let languages = languages(&g.languages, "group.languages", &mut v);
    if !(1..=1000).contains(&g.capacity) {
        v.add(
            "group.capacity",
            "between 1 and 1000 concurrent assignments",
        );
    }
    let availability = match g.availability {
        // A group registers to help: available unless it says otherwise.
        0 => Availability::Available.code() as i16,
        a if Availability::from_code(a).is_some() => a as i16,
        _ => {
            v.add("group.availability", "unknown value");
            0
        }
    };
    if !(0..=24 * 60).contains(&g.rest_minutes) {
        v.add("group.rest_minutes", "between 0 and 1440");
    }
    if let Some(s) = &g.schedule {
        schedule(s, "group.schedule", &mut v);
    }
    let districts: Option<Vec<String>> = districts.into_iter().collect();
    let places = (settlement, district, region).complete();
    let Some((organization_id, display_name, base, (settlement, district, region), districts)) =
        (organization_id, display_name, base, places, districts).complete()
    else {
        return Err(v.into_vec());
    };
    if !v.is_empty() {
        return Err(v.into_vec());
    }
    // Districts in the form requests are filed under, so a service area named in Russian
    // covers requests whose district came from their point.
    let district = same_district_name(&region, district);
    let districts = districts
        .into_iter()
        .map(|d| same_district_name(&region, d))
        .collect();
    Ok(GroupSpec {
        organization_id,
        display_name,
        lat: base.lat(),
        lon: base.lon(),
        settlement,
        district,
        region,
        radius_km: area.radius_km,
        districts,
        skills,
        languages,
        capacity: g.capacity,
        schedule: g.schedule.as_ref().map(prost::Message::encode_to_vec),
        availability,
        rest_minutes: g.rest_minutes,
    })
}

/// CreateGroup: its key and the group.
pub fn create_group(req: &api::CreateGroupRequest) -> Result<(Uuid, GroupSpec), Status> {
    let Some(g) = req.group.as_ref() else {
        return Err(FieldViolation::new("group", "required").into());
    };
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let spec = group(g).map_err(|more| v.extend(more)).ok();
    v.finish((key, spec))
}

/// The etag and field mask every update needs, checked into `v`.
pub struct Update {
    pub version: Option<i64>,
    pub paths: Vec<String>,
}

pub fn update(etag: &str, etag_field: &str, mask: Option<FieldMask>, v: &mut Violations) -> Update {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        v.add("update_mask", "name the fields to change");
    }
    Update {
        version: v.take(required_etag(etag, etag_field)),
        paths,
    }
}

/// A mask path an update does not know.
pub fn unknown_path(i: usize, path: &str) -> FieldViolation {
    FieldViolation::new(
        format!("update_mask.paths[{i}]"),
        format!("{path:?} cannot be changed here"),
    )
}

pub fn organization(o: &api::Organization, v: &mut Violations) -> Option<OrganizationFields> {
    let display_name = v.take(NAME.parse(&o.display_name, "organization.display_name"));
    if !(1..=5).contains(&o.kind) {
        v.add("organization.kind", "unknown or unspecified kind");
    }
    let regions: Option<Vec<String>> = o
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("organization.regions[{i}]");
            v.take(
                NAME.parse(r, &field)
                    .and_then(|r| boundary::region(&r, &field)),
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    let contact_email = v.take(EMAIL.parse(&o.contact_email, "organization.contact_email"));
    if contact_email
        .as_deref()
        .is_some_and(|e| !e.is_empty() && !e.contains('@'))
    {
        v.add("organization.contact_email", "an e-mail address");
    }
    let office_hours = o
        .office_hours
        .as_ref()
        .filter(|h| !h.shifts.is_empty() || !h.exceptions.is_empty());
    if let Some(h) = office_hours {
        schedule(h, "organization.office_hours", v);
    }
    let (display_name, regions, contact_email) =
        (display_name, regions, contact_email).complete()?;
    Some(OrganizationFields {
        display_name,
        regions,
        contact_email,
        office_hours: office_hours.map(prost::Message::encode_to_vec),
    })
}

pub fn create_organization(
    req: &api::CreateOrganizationRequest,
) -> Result<NewOrganization, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let o = req.organization.clone().unwrap_or_default();
    let fields = organization(&o, &mut v);
    let (key, fields) = v.finish((key, fields))?;
    Ok(NewOrganization {
        key,
        display_name: fields.display_name,
        kind: o.kind as i16,
        regions: fields.regions,
        contact_email: fields.contact_email,
        office_hours: fields.office_hours,
    })
}

/// A volunteer's display name, languages and groups.
pub struct VolunteerFields {
    pub display_name: String,
    pub languages: Vec<i16>,
    pub groups: Vec<Uuid>,
}

pub fn volunteer(vol: &api::Volunteer, v: &mut Violations) -> Option<VolunteerFields> {
    let display_name = v.take(NAME.parse(&vol.display_name, "volunteer.display_name"));
    let languages = languages(&vol.languages, "volunteer.languages", v);
    let mut groups = Vec::new();
    for (i, g) in vol.groups.iter().enumerate() {
        let field = format!("volunteer.groups[{i}]");
        match v.take(parse_name("groups", g, &field)) {
            Some(id) if groups.contains(&id) => v.add(field, "listed twice"),
            Some(id) => groups.push(id),
            None => {}
        }
    }
    Some(VolunteerFields {
        display_name: display_name?,
        languages,
        groups,
    })
}

pub fn create_volunteer(req: &api::CreateVolunteerRequest) -> Result<NewVolunteer, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let vol = req.volunteer.clone().unwrap_or_default();
    let fields = volunteer(&vol, &mut v);
    let (key, fields) = v.finish((key, fields))?;
    if !vol.phone.trim().is_empty() {
        return Err(Status::failed_precondition(
            "volunteer.phone needs encryption at rest, which is not configured on this server",
        ));
    }
    Ok(NewVolunteer {
        key,
        display_name: fields.display_name,
        languages: fields.languages,
        groups: fields.groups,
    })
}

/// A group's reported position and when it was fixed (now, when not given).
pub fn location(
    req: &api::ReportGroupLocationRequest,
) -> Result<(Uuid, komek_core::GeoPoint, chrono::DateTime<Utc>), Status> {
    let mut v = Violations::new();
    let id = v.take(parse_name("groups", &req.name, "name"));
    let point = v.take(geo_point(req.location.as_ref(), "location"));
    let now = Utc::now();
    let at = v.take(optional_timestamp(req.fix_time.as_ref(), "fix_time"));
    if at
        .flatten()
        .is_some_and(|t| t > now + chrono::Duration::minutes(5))
    {
        v.add("fix_time", "in the future");
    }
    let (id, point, at) = v.finish((id, point, at))?;
    Ok((id, point, at.unwrap_or(now)))
}

/// DeactivateGroup and DeactivateVolunteer: the resource's id and the reason, which is required.
pub fn deactivation(collection: &str, name: &str, reason: &str) -> Result<(Uuid, String), Status> {
    let mut v = Violations::new();
    let id = v.take(parse_name(collection, name, "name"));
    let reason = v.take(Text::line(500).required().parse(reason, "reason"));
    v.finish((id, reason))
}

/// ImportRoster: its key and the organisation; the file is read by [`import::read`].
pub fn import_roster(req: &api::ImportRosterRequest) -> Result<(Uuid, Uuid), Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let organization = v.take(parse_name(
        "organizations",
        &req.organization,
        "organization",
    ));
    if req.csv.is_empty() || req.csv.len() > MAX_IMPORT_BYTES {
        v.add(
            "csv",
            format!("1 to {MAX_IMPORT_BYTES} bytes of a roster file (CSV or a workbook)"),
        );
    }
    v.finish((key, organization))
}

/// Names of Komek's services, which authenticate to each other with signed tokens.
const KOMEK_SERVICES: [&str; 4] = ["intake", "triage", "roster", "matching"];

/// What a key is for, checked against its role.
fn subject(role: Role, subject: &str, v: &mut Violations) -> Subject {
    let collection = role.collection();
    let id = subject
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'));
    let field = "api_key.subject";
    if role == Role::Service && id.is_some_and(|id| KOMEK_SERVICES.contains(&id)) {
        // Komek's own services sign their own tokens; a key in their name could be leaked and
        // used to reveal callers.
        v.add(
            field,
            "reserved for Komek's own services, which need no key",
        );
        return Subject::Named;
    }
    match (role, id) {
        (Role::Volunteer | Role::Partner, Some(id)) => match Uuid::parse_str(id) {
            Ok(id) if role == Role::Volunteer => return Subject::Volunteer(id),
            Ok(id) => return Subject::Organization(id),
            Err(_) => {}
        },
        (_, Some(id)) if auth::valid_slug(id) => return Subject::Named,
        _ => {}
    }
    let shape = match role {
        Role::Volunteer | Role::Partner => format!("{collection}/{{uuid}}"),
        _ => format!("{collection}/{{id}} with an id of lower-case letters, digits and dashes"),
    };
    v.add(
        field,
        format!("a {} key needs a subject like {shape}", role.as_str()),
    );
    Subject::Named
}

/// A district of `region` named in any language, as its WOF name; a name the outlines do not
/// know (a district made in 2022) stays as written.
fn same_district_name(region: &str, district: String) -> String {
    let admin = komek_places::admin::Admin::get();
    admin
        .district(admin.region(region), &district)
        .map_or(district, |d| d.name_en.clone())
}

fn regions(role: Role, regions: &[String], v: &mut Violations) -> Vec<String> {
    if !matches!(role, Role::Partner | Role::Dispatcher) && !regions.is_empty() {
        v.add(
            "api_key.regions",
            "only partner and dispatcher keys are limited to regions",
        );
    }
    if regions.len() > 50 {
        v.add("api_key.regions", "at most 50");
    }
    regions
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let field = format!("api_key.regions[{i}]");
            v.take(
                NAME.parse(r, &field)
                    .and_then(|r| boundary::region(&r, &field)),
            )
        })
        .collect()
}

/// A key as an admin asked for it, before its secret is drawn.
pub struct KeyRequest {
    pub request_id: Uuid,
    pub display_name: String,
    pub role: Role,
    /// The subject as named (`volunteers/{uuid}`, ...) and what it refers to.
    pub subject_name: String,
    pub subject: Subject,
    pub regions: Vec<String>,
    pub expire_at: Option<chrono::DateTime<Utc>>,
}

pub fn create_api_key(req: &access_api::CreateApiKeyRequest) -> Result<KeyRequest, Status> {
    let Some(k) = req.api_key.as_ref() else {
        return Err(FieldViolation::new("api_key", "required").into());
    };
    let mut v = Violations::new();
    let request_id = v.take(parse_request_id(&req.request_id));
    let display_name = v.take(NAME.parse(&k.display_name, "api_key.display_name"));
    let role = Role::from_code(k.role);
    if role.is_none() {
        v.add("api_key.role", "a role");
    }
    let key_subject = role.map(|role| subject(role, k.subject.trim(), &mut v));
    let regions = regions(role.unwrap_or(Role::Partner), &k.regions, &mut v);
    let expire_at = match k.expire_time.as_ref() {
        None => Some(None),
        Some(t) => match v.take(from_timestamp(t, "api_key.expire_time")) {
            Some(at) if at > Utc::now() => Some(Some(at)),
            Some(_) => {
                v.add("api_key.expire_time", "in the future");
                None
            }
            None => None,
        },
    };
    let (request_id, display_name, role, subject, expire_at) =
        v.finish((request_id, display_name, role, key_subject, expire_at))?;
    Ok(KeyRequest {
        request_id,
        display_name,
        role,
        subject_name: k.subject.trim().to_string(),
        subject,
        regions,
        expire_at,
    })
}

pub fn region_filter(value: &str) -> Result<String, FieldViolation> {
    PLACE.parse(value, "region")
}

pub fn subject_filter(value: &str) -> Result<String, FieldViolation> {
    PLACE.parse(value, "subject")
}

pub fn revoke_reason(reason: &str) -> Result<String, FieldViolation> {
    REVOKE_REASON.parse(reason, "reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_must_fit_their_role() {
        let id = Uuid::new_v4();
        let mut v = Violations::new();
        assert!(matches!(
            subject(Role::Volunteer, &format!("volunteers/{id}"), &mut v),
            Subject::Volunteer(x) if x == id
        ));
        assert!(matches!(
            subject(Role::Partner, &format!("organizations/{id}"), &mut v),
            Subject::Organization(x) if x == id
        ));
        assert!(matches!(
            subject(Role::Dispatcher, "dispatchers/aigerim", &mut v),
            Subject::Named
        ));
        assert!(v.is_empty(), "{v:?}");
        for (role, s) in [
            (Role::Volunteer, "volunteers/aigerim"),
            (Role::Partner, &format!("volunteers/{id}") as &str),
            (Role::Dispatcher, "dispatchers/Aigerim"),
            (Role::Service, "matching"),
            (Role::Admin, "dispatchers/root"),
            (Role::Service, "services/matching"),
        ] {
            let mut v = Violations::new();
            subject(role, s, &mut v);
            let v = v.into_vec();
            assert_eq!(v.len(), 1, "{role:?} {s}");
            assert_eq!(v[0].field, "api_key.subject");
        }
    }

    #[test]
    fn only_partners_and_dispatchers_have_regions() {
        let mut v = Violations::new();
        regions(Role::Dispatcher, &["Almaty Region".into()], &mut v);
        assert!(v.is_empty(), "a regional hotline's dispatcher: {v:?}");
        let mut v = Violations::new();
        regions(Role::Volunteer, &["Almaty Region".into()], &mut v);
        assert_eq!(v.into_vec()[0].field, "api_key.regions");
        let mut v = Violations::new();
        regions(Role::Partner, &["".into()], &mut v);
        assert_eq!(v.into_vec()[0].field, "api_key.regions[0]");
    }
}
