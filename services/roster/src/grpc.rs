//! RosterService: validation and conversion at the boundary.

use chrono::Utc;
use komek_core::{Availability, GeoPoint, Language, Skill};
use komek_proto::roster::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal, Role};
use komek_runtime::convert::{from_timestamp, name, parse_name, parse_request_id, timestamp};
use komek_runtime::events::Bus;
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::events;
use crate::import;

/// The largest CSV an import takes.
const MAX_IMPORT_BYTES: usize = 4 * 1024 * 1024;
use crate::model::*;
use crate::store;

pub struct Roster {
    pool: PgPool,
    bus: Bus,
    max_page_size: u32,
}

impl Roster {
    pub fn new(pool: PgPool, bus: Bus, max_page_size: u32) -> Self {
        Self {
            pool,
            bus,
            max_page_size,
        }
    }

    fn limit(&self, page_size: i32) -> Result<i64, Status> {
        page_limit(page_size, self.max_page_size)
    }

    /// A volunteer acts on its own groups only; the other roles the matrix lets in act on any.
    async fn require_member(&self, p: &Principal, group: Uuid) -> Result<(), Status> {
        if p.role != Role::Volunteer {
            return Ok(());
        }
        let member = match p.volunteer() {
            Some(v) => store::is_member(&self.pool, group, v)
                .await
                .map_err(internal)?,
            None => false,
        };
        if member {
            Ok(())
        } else {
            Err(out_of_scope(format!("not a member of groups/{group}")))
        }
    }
}

/// A volunteer reads itself, a partner its own organisation; other roles anything.
fn require_self(p: &Principal, collection: &str, id: Uuid) -> Result<(), Status> {
    let own = match p.role {
        Role::Volunteer => p.volunteer() == Some(id),
        Role::Partner => p.organization() == Some(id),
        _ => true,
    };
    if own {
        Ok(())
    } else {
        Err(out_of_scope(format!("{collection}/{id} is not yours")))
    }
}

/// A page size as asked, capped at `max`; 0 asks for the default.
pub(crate) fn page_limit(page_size: i32, max: u32) -> Result<i64, Status> {
    match page_size {
        0 => Ok(i64::from(max.min(50))),
        n if n < 0 => Err(invalid_argument(&[FieldViolation::new(
            "page_size",
            "must not be negative",
        )])),
        n => Ok(i64::from((n as u32).min(max))),
    }
}

pub(crate) fn status_of(err: store::Error) -> Status {
    match err {
        store::Error::IdempotencyClash(_) => Status::already_exists(err.to_string()),
        store::Error::NotFound(_) => Status::not_found(err.to_string()),
        store::Error::EtagMismatch(_) => Status::failed_precondition(err.to_string()),
        store::Error::Db(e) => internal(e),
    }
}

pub(crate) fn name_arg(collection: &str, value: &str, field: &str) -> Result<Uuid, Status> {
    parse_name(collection, value, field).map_err(|v| invalid_argument(&[v]))
}

pub(crate) fn page_after(token: &str) -> Result<Option<Uuid>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(token).map(Some).map_err(|_| {
        invalid_argument(&[FieldViolation::new(
            "page_token",
            "not a token from an earlier response",
        )])
    })
}

fn required_text(value: &str, field: &str, max: usize, v: &mut Vec<FieldViolation>) -> String {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            field,
            format!("1 to {max} printable characters"),
        ));
    }
    value.to_string()
}

fn optional_text(value: &str, field: &str, max: usize, v: &mut Vec<FieldViolation>) -> String {
    let value = value.trim();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            field,
            format!("at most {max} printable characters"),
        ));
    }
    value.to_string()
}

fn languages(values: &[i32], field: &str, v: &mut Vec<FieldViolation>) -> Vec<i16> {
    for (i, l) in values.iter().enumerate() {
        if Language::from_code(*l).is_none() {
            v.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "unknown or unspecified language",
            ));
        }
    }
    values.iter().map(|l| *l as i16).collect()
}

fn point(p: Option<&pb::LatLng>, field: &str, v: &mut Vec<FieldViolation>) -> Option<GeoPoint> {
    let Some(p) = p else {
        v.push(FieldViolation::new(field, "required"));
        return None;
    };
    match GeoPoint::new(p.latitude, p.longitude) {
        Ok(point) => Some(point),
        Err(komek_core::geo::Error::Latitude) => {
            v.push(FieldViolation::new(
                format!("{field}.latitude"),
                "finite, between -90 and 90",
            ));
            None
        }
        Err(komek_core::geo::Error::Longitude) => {
            v.push(FieldViolation::new(
                format!("{field}.longitude"),
                "finite, between -180 and 180",
            ));
            None
        }
    }
}

fn validate_schedule(s: &pb::WeeklySchedule, v: &mut Vec<FieldViolation>) {
    let tz = s.time_zone.trim();
    if komek_core::schedule::zone(tz).is_err() {
        v.push(FieldViolation::new(
            "group.schedule.time_zone",
            "an IANA time zone such as Asia/Almaty",
        ));
    }
    let check_shift = |shift: &pb::Shift, field: String, v: &mut Vec<FieldViolation>| {
        if !(1..=7).contains(&shift.day) {
            v.push(FieldViolation::new(
                format!("{field}.day"),
                "a day of the week",
            ));
        }
        for (part, t) in [("start", &shift.start), ("end", &shift.end)] {
            match t {
                Some(t) if (0..=23).contains(&t.hours) && (0..=59).contains(&t.minutes) => {}
                _ => v.push(FieldViolation::new(
                    format!("{field}.{part}"),
                    "a time of day 00:00-23:59",
                )),
            }
        }
    };
    for (i, shift) in s.shifts.iter().enumerate() {
        check_shift(shift, format!("group.schedule.shifts[{i}]"), v);
    }
    for (i, e) in s.exceptions.iter().enumerate() {
        let field = format!("group.schedule.exceptions[{i}]");
        let valid_date = e.date.as_ref().is_some_and(|d| {
            chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).is_some()
        });
        if !valid_date {
            v.push(FieldViolation::new(
                format!("{field}.date"),
                "a calendar date",
            ));
        }
        for (j, shift) in e.shifts.iter().enumerate() {
            check_shift(shift, format!("{field}.shifts[{j}]"), v);
        }
    }
}

fn validate_group(req: &api::CreateGroupRequest) -> Result<NewGroup, Status> {
    check_group(req).map_err(|v| invalid_argument(&v))
}

/// Every violation of a group, for CreateGroup and for each row of an import.
pub(crate) fn check_group(req: &api::CreateGroupRequest) -> Result<NewGroup, Vec<FieldViolation>> {
    let mut v = Vec::new();
    let key = parse_request_id(&req.request_id)
        .map_err(|e| v.push(e))
        .ok();
    let Some(g) = req.group.as_ref() else {
        return Err(vec![FieldViolation::new("group", "required")]);
    };
    let organization_id = parse_name("organizations", &g.organization, "group.organization")
        .map_err(|e| v.push(e))
        .ok();
    let display_name = required_text(&g.display_name, "group.display_name", 200, &mut v);
    let base = point(g.base_location.as_ref(), "group.base_location", &mut v);
    let settlement = optional_text(&g.settlement, "group.settlement", 200, &mut v);
    let district = optional_text(&g.district, "group.district", 200, &mut v);
    let region = optional_text(&g.region, "group.region", 200, &mut v);
    let area = g.service_area.clone().unwrap_or_default();
    if !area.radius_km.is_finite() || !(0.0..=5000.0).contains(&area.radius_km) {
        v.push(FieldViolation::new(
            "group.service_area.radius_km",
            "between 0 (no limit) and 5000",
        ));
    }
    let districts: Vec<String> = area
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            required_text(
                d,
                &format!("group.service_area.districts[{i}]"),
                200,
                &mut v,
            )
        })
        .collect();
    let mut skills = Vec::new();
    for (i, s) in g.skills.iter().enumerate() {
        let field = format!("group.skills[{i}]");
        if Skill::from_code(s.skill).is_none() {
            v.push(FieldViolation::new(
                format!("{field}.skill"),
                "unknown or unspecified skill",
            ));
        } else if skills
            .iter()
            .any(|e: &SkillEntry| i32::from(e.skill) == s.skill)
        {
            v.push(FieldViolation::new(
                format!("{field}.skill"),
                "listed twice",
            ));
        }
        if !s.payload_tonnes.is_finite() || !(0.0..=100.0).contains(&s.payload_tonnes) {
            v.push(FieldViolation::new(
                format!("{field}.payload_tonnes"),
                "between 0 and 100",
            ));
        }
        let certified_until = s.certified_until.as_ref().and_then(|t| {
            from_timestamp(t, &format!("{field}.certified_until"))
                .map_err(|e| v.push(e))
                .ok()
        });
        skills.push(SkillEntry {
            skill: s.skill as i16,
            certified_until,
            payload_tonnes: s.payload_tonnes,
        });
    }
    let langs = languages(&g.languages, "group.languages", &mut v);
    if !(1..=1000).contains(&g.capacity) {
        v.push(FieldViolation::new(
            "group.capacity",
            "between 1 and 1000 concurrent assignments",
        ));
    }
    let availability = match g.availability {
        // A group registers to help: available unless it says otherwise.
        0 => Availability::Available.code() as i16,
        a if Availability::from_code(a).is_some() => a as i16,
        _ => {
            v.push(FieldViolation::new("group.availability", "unknown value"));
            0
        }
    };
    if !(0..=24 * 60).contains(&g.rest_minutes) {
        v.push(FieldViolation::new(
            "group.rest_minutes",
            "between 0 and 1440",
        ));
    }
    if let Some(s) = &g.schedule {
        validate_schedule(s, &mut v);
    }
    if !v.is_empty() {
        return Err(v);
    }
    let base = base.unwrap();
    Ok(NewGroup {
        key: key.unwrap(),
        organization_id: organization_id.unwrap(),
        display_name,
        lat: base.lat(),
        lon: base.lon(),
        settlement,
        district,
        region,
        radius_km: area.radius_km,
        districts,
        skills,
        languages: langs,
        capacity: g.capacity,
        schedule: g.schedule.as_ref().map(Message::encode_to_vec),
        availability,
        rest_minutes: g.rest_minutes,
    })
}

fn organization_to_api(o: &OrganizationRow) -> api::Organization {
    api::Organization {
        name: name("organizations", o.id),
        display_name: o.display_name.clone(),
        kind: o.kind.into(),
        regions: o.regions.clone(),
        contact_email: o.contact_email.clone(),
        create_time: Some(timestamp(o.created_at)),
        update_time: Some(timestamp(o.updated_at)),
        etag: o.version.to_string(),
    }
}

/// The API view is the published group state plus bookkeeping, built from it so the two
/// never disagree.
fn group_to_api(g: &Group) -> api::Group {
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
    }
}

/// Checks an organisation's fields; returns display name, regions and contact e-mail.
fn check_organization(
    o: &api::Organization,
    v: &mut Vec<FieldViolation>,
) -> (String, Vec<String>, String) {
    let display_name = required_text(&o.display_name, "organization.display_name", 200, v);
    if !(1..=5).contains(&o.kind) {
        v.push(FieldViolation::new(
            "organization.kind",
            "unknown or unspecified kind",
        ));
    }
    let regions: Vec<String> = o
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| required_text(r, &format!("organization.regions[{i}]"), 200, v))
        .collect();
    let contact_email = optional_text(&o.contact_email, "organization.contact_email", 254, v);
    if !contact_email.is_empty() && !contact_email.contains('@') {
        v.push(FieldViolation::new(
            "organization.contact_email",
            "an e-mail address",
        ));
    }
    (display_name, regions, contact_email)
}

/// Checks a volunteer's fields; returns display name, languages and groups.
fn check_volunteer(
    vol: &api::Volunteer,
    v: &mut Vec<FieldViolation>,
) -> (String, Vec<i16>, Vec<Uuid>) {
    let display_name = required_text(&vol.display_name, "volunteer.display_name", 200, v);
    let langs = languages(&vol.languages, "volunteer.languages", v);
    let mut groups = Vec::new();
    for (i, g) in vol.groups.iter().enumerate() {
        match parse_name("groups", g, &format!("volunteer.groups[{i}]")) {
            Ok(id) if groups.contains(&id) => v.push(FieldViolation::new(
                format!("volunteer.groups[{i}]"),
                "listed twice",
            )),
            Ok(id) => groups.push(id),
            Err(e) => v.push(e),
        }
    }
    (display_name, langs, groups)
}

/// The etag of a resource as last read, and the mask paths, both required on updates.
fn update_preamble(
    etag: &str,
    etag_field: &str,
    mask: Option<prost_types::FieldMask>,
    v: &mut Vec<FieldViolation>,
) -> (i64, Vec<String>) {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        v.push(FieldViolation::new(
            "update_mask",
            "name the fields to change",
        ));
    }
    let version = etag.parse().unwrap_or_else(|_| {
        v.push(FieldViolation::new(
            etag_field,
            "the etag of the resource as last read",
        ));
        0
    });
    (version, paths)
}

fn unknown_path(i: usize, path: &str) -> FieldViolation {
    FieldViolation::new(
        format!("update_mask.paths[{i}]"),
        format!("{path:?} cannot be changed here"),
    )
}

fn volunteer_to_api(v: &Volunteer) -> api::Volunteer {
    api::Volunteer {
        name: name("volunteers", v.row.id),
        display_name: v.row.display_name.clone(),
        phone: String::new(),
        languages: v.row.languages.iter().map(|l| i32::from(*l)).collect(),
        groups: v.groups.iter().map(|g| name("groups", *g)).collect(),
        create_time: Some(timestamp(v.row.created_at)),
        update_time: Some(timestamp(v.row.updated_at)),
        etag: v.row.version.to_string(),
    }
}

#[tonic::async_trait]
impl api::roster_service_server::RosterService for Roster {
    async fn create_organization(
        &self,
        request: Request<api::CreateOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let req = request.into_inner();
        let mut v = Vec::new();
        let key = parse_request_id(&req.request_id)
            .map_err(|e| v.push(e))
            .ok();
        let o = req.organization.clone().unwrap_or_default();
        let (display_name, regions, contact_email) = check_organization(&o, &mut v);
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let new = NewOrganization {
            key: key.unwrap(),
            display_name,
            kind: o.kind as i16,
            regions,
            contact_email,
        };
        let payload = api::CreateOrganizationRequest {
            request_id: String::new(),
            ..req
        }
        .encode_to_vec();
        let row = store::create_organization(&self.pool, &new, &payload)
            .await
            .map_err(status_of)?;
        Ok(Response::new(organization_to_api(&row)))
    }

    async fn get_organization(
        &self,
        request: Request<api::GetOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let id = name_arg("organizations", &request.get_ref().name, "name")?;
        require_self(&auth::principal(&request)?, "organizations", id)?;
        let row = store::get_organization(&self.pool, id)
            .await
            .map_err(status_of)?;
        Ok(Response::new(organization_to_api(&row)))
    }

    async fn list_organizations(
        &self,
        request: Request<api::ListOrganizationsRequest>,
    ) -> Result<Response<api::ListOrganizationsResponse>, Status> {
        let req = request.into_inner();
        let limit = self.limit(req.page_size)?;
        let rows = store::list_organizations(&self.pool, page_after(&req.page_token)?, limit)
            .await
            .map_err(status_of)?;
        let next_page_token = next_token(rows.len(), limit, rows.last().map(|r| r.id));
        Ok(Response::new(api::ListOrganizationsResponse {
            organizations: rows.iter().map(organization_to_api).collect(),
            next_page_token,
        }))
    }

    async fn update_organization(
        &self,
        request: Request<api::UpdateOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let req = request.into_inner();
        let change = req.organization.unwrap_or_default();
        let id = name_arg("organizations", &change.name, "organization.name")?;
        let mut v = Vec::new();
        let (version, paths) =
            update_preamble(&change.etag, "organization.etag", req.update_mask, &mut v);
        let mut merged = organization_to_api(
            &store::get_organization(&self.pool, id)
                .await
                .map_err(status_of)?,
        );
        for (i, path) in paths.iter().enumerate() {
            match path.as_str() {
                "display_name" => merged.display_name = change.display_name.clone(),
                "kind" => merged.kind = change.kind,
                "regions" => merged.regions = change.regions.clone(),
                "contact_email" => merged.contact_email = change.contact_email.clone(),
                other => v.push(unknown_path(i, other)),
            }
        }
        let (display_name, regions, contact_email) = check_organization(&merged, &mut v);
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let row = store::update_organization(
            &self.pool,
            id,
            version,
            &display_name,
            merged.kind as i16,
            &regions,
            &contact_email,
        )
        .await
        .map_err(status_of)?;
        Ok(Response::new(organization_to_api(&row)))
    }

    async fn create_group(
        &self,
        request: Request<api::CreateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let req = request.into_inner();
        let new = validate_group(&req)?;
        let payload = api::CreateGroupRequest {
            request_id: String::new(),
            ..req
        }
        .encode_to_vec();
        let group = store::create_group(&self.pool, &new, &payload)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        tracing::info!(group = %group.row.id, "group created");
        Ok(Response::new(group_to_api(&group)))
    }

    async fn get_group(
        &self,
        request: Request<api::GetGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let id = name_arg("groups", &request.get_ref().name, "name")?;
        self.require_member(&principal, id).await?;
        let group = store::get_group(&self.pool, id).await.map_err(status_of)?;
        Ok(Response::new(group_to_api(&group)))
    }

    async fn list_groups(
        &self,
        request: Request<api::ListGroupsRequest>,
    ) -> Result<Response<api::ListGroupsResponse>, Status> {
        let req = request.into_inner();
        let limit = self.limit(req.page_size)?;
        let organization = if req.organization.is_empty() {
            None
        } else {
            Some(name_arg(
                "organizations",
                &req.organization,
                "organization",
            )?)
        };
        let groups = store::list_groups(
            &self.pool,
            organization,
            req.region.trim(),
            page_after(&req.page_token)?,
            limit,
        )
        .await
        .map_err(status_of)?;
        let next_page_token = next_token(groups.len(), limit, groups.last().map(|g| g.row.id));
        Ok(Response::new(api::ListGroupsResponse {
            groups: groups.iter().map(group_to_api).collect(),
            next_page_token,
        }))
    }

    async fn update_group(
        &self,
        request: Request<api::UpdateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let req = request.into_inner();
        let Some(change) = req.group.as_ref() else {
            return Err(invalid_argument(&[FieldViolation::new(
                "group", "required",
            )]));
        };
        let id = name_arg("groups", &change.name, "group.name")?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut v = Vec::new();
        if paths.is_empty() {
            v.push(FieldViolation::new(
                "update_mask",
                "name the fields to change",
            ));
        }
        let expected: Option<i64> = change.etag.parse().ok();
        if expected.is_none() {
            v.push(FieldViolation::new(
                "group.etag",
                "the etag of the group as last read",
            ));
        }
        let current = store::get_group(&self.pool, id).await.map_err(status_of)?;
        let mut merged = group_to_api(&current);
        for (i, path) in paths.iter().enumerate() {
            match path.as_str() {
                "display_name" => merged.display_name = change.display_name.clone(),
                "base_location" => merged.base_location = change.base_location,
                "settlement" => merged.settlement = change.settlement.clone(),
                "district" => merged.district = change.district.clone(),
                "region" => merged.region = change.region.clone(),
                "service_area" => merged.service_area = change.service_area.clone(),
                "skills" => merged.skills = change.skills.clone(),
                "languages" => merged.languages = change.languages.clone(),
                "capacity" => merged.capacity = change.capacity,
                "schedule" => merged.schedule = change.schedule.clone(),
                "availability" => merged.availability = change.availability,
                "rest_minutes" => merged.rest_minutes = change.rest_minutes,
                other => v.push(FieldViolation::new(
                    format!("update_mask.paths[{i}]"),
                    format!("{other:?} cannot be changed here"),
                )),
            }
        }
        // The merged group must pass exactly what CreateGroup checks.
        let checked = check_group(&api::CreateGroupRequest {
            request_id: Uuid::new_v4().to_string(),
            group: Some(merged),
        });
        let new_group = match checked {
            Ok(g) if v.is_empty() => g,
            Ok(_) => return Err(invalid_argument(&v)),
            Err(more) => {
                v.extend(more);
                return Err(invalid_argument(&v));
            }
        };
        let group = store::replace_group(&self.pool, id, expected.unwrap(), &new_group)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(group_to_api(&group)))
    }

    async fn set_group_availability(
        &self,
        request: Request<api::SetGroupAvailabilityRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let id = name_arg("groups", &req.name, "name")?;
        self.require_member(&principal, id).await?;
        if Availability::from_code(req.availability).is_none() {
            return Err(invalid_argument(&[FieldViolation::new(
                "availability",
                "AVAILABLE, BUSY or OFF_DUTY",
            )]));
        }
        let group = store::set_availability(&self.pool, id, req.availability as i16)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(group_to_api(&group)))
    }

    async fn report_group_location(
        &self,
        request: Request<api::ReportGroupLocationRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = Vec::new();
        let id = parse_name("groups", &req.name, "name")
            .map_err(|e| v.push(e))
            .ok();
        let p = point(req.location.as_ref(), "location", &mut v);
        let now = Utc::now();
        let at = match &req.fix_time {
            None => Some(now),
            Some(t) => from_timestamp(t, "fix_time").map_err(|e| v.push(e)).ok(),
        };
        if at.is_some_and(|t| t > now + chrono::Duration::minutes(5)) {
            v.push(FieldViolation::new("fix_time", "in the future"));
        }
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let p = p.unwrap();
        self.require_member(&principal, id.unwrap()).await?;
        let group = store::set_location(&self.pool, id.unwrap(), p.lat(), p.lon(), at.unwrap())
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(group_to_api(&group)))
    }

    async fn create_volunteer(
        &self,
        request: Request<api::CreateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let req = request.into_inner();
        let mut v = Vec::new();
        let key = parse_request_id(&req.request_id)
            .map_err(|e| v.push(e))
            .ok();
        let vol = req.volunteer.clone().unwrap_or_default();
        let (display_name, langs, groups) = check_volunteer(&vol, &mut v);
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        if !vol.phone.trim().is_empty() {
            return Err(Status::failed_precondition(
                "volunteer.phone needs encryption at rest, which is not configured on this server",
            ));
        }
        let new = NewVolunteer {
            key: key.unwrap(),
            display_name,
            languages: langs,
            groups,
        };
        let payload = api::CreateVolunteerRequest {
            request_id: String::new(),
            ..req
        }
        .encode_to_vec();
        let volunteer = store::create_volunteer(&self.pool, &new, &payload)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(volunteer_to_api(&volunteer)))
    }

    async fn get_volunteer(
        &self,
        request: Request<api::GetVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let id = name_arg("volunteers", &request.get_ref().name, "name")?;
        require_self(&auth::principal(&request)?, "volunteers", id)?;
        let volunteer = store::get_volunteer(&self.pool, id)
            .await
            .map_err(status_of)?;
        Ok(Response::new(volunteer_to_api(&volunteer)))
    }

    async fn list_volunteers(
        &self,
        request: Request<api::ListVolunteersRequest>,
    ) -> Result<Response<api::ListVolunteersResponse>, Status> {
        let req = request.into_inner();
        let limit = self.limit(req.page_size)?;
        let group = if req.group.is_empty() {
            None
        } else {
            Some(name_arg("groups", &req.group, "group")?)
        };
        let volunteers =
            store::list_volunteers(&self.pool, group, page_after(&req.page_token)?, limit)
                .await
                .map_err(status_of)?;
        let next_page_token =
            next_token(volunteers.len(), limit, volunteers.last().map(|v| v.row.id));
        Ok(Response::new(api::ListVolunteersResponse {
            volunteers: volunteers.iter().map(volunteer_to_api).collect(),
            next_page_token,
        }))
    }

    async fn update_volunteer(
        &self,
        request: Request<api::UpdateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let req = request.into_inner();
        let change = req.volunteer.unwrap_or_default();
        let id = name_arg("volunteers", &change.name, "volunteer.name")?;
        let mut v = Vec::new();
        let (version, paths) =
            update_preamble(&change.etag, "volunteer.etag", req.update_mask, &mut v);
        let mut merged = volunteer_to_api(
            &store::get_volunteer(&self.pool, id)
                .await
                .map_err(status_of)?,
        );
        for (i, path) in paths.iter().enumerate() {
            match path.as_str() {
                "display_name" => merged.display_name = change.display_name.clone(),
                "languages" => merged.languages = change.languages.clone(),
                "groups" => merged.groups = change.groups.clone(),
                other => v.push(unknown_path(i, other)),
            }
        }
        let (display_name, langs, groups) = check_volunteer(&merged, &mut v);
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let volunteer =
            store::update_volunteer(&self.pool, id, version, &display_name, &langs, &groups)
                .await
                .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(volunteer_to_api(&volunteer)))
    }

    async fn import_roster(
        &self,
        request: Request<api::ImportRosterRequest>,
    ) -> Result<Response<api::ImportRosterResponse>, Status> {
        let req = request.into_inner();
        let mut v = Vec::new();
        let key = parse_request_id(&req.request_id)
            .map_err(|e| v.push(e))
            .ok();
        let organization = parse_name("organizations", &req.organization, "organization")
            .map_err(|e| v.push(e))
            .ok();
        if req.csv.is_empty() || req.csv.len() > MAX_IMPORT_BYTES {
            v.push(FieldViolation::new(
                "csv",
                format!("1 to {MAX_IMPORT_BYTES} bytes of CSV"),
            ));
        }
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let (key, organization) = (key.unwrap(), organization.unwrap());
        if let Some(done) = store::import_done(&self.pool, key)
            .await
            .map_err(internal)?
        {
            return api::ImportRosterResponse::decode(done.as_slice())
                .map(Response::new)
                .map_err(internal);
        }
        store::get_organization(&self.pool, organization)
            .await
            .map_err(status_of)?;
        // Row errors are the report, not a failed call: the sheet's owner fixes the lines.
        let groups = match import::read(&req.csv, &req.organization, check_group) {
            Ok(groups) => groups,
            Err(errors) => {
                return Ok(Response::new(api::ImportRosterResponse {
                    errors,
                    ..Default::default()
                }));
            }
        };
        let response = |c: store::ImportCounts| api::ImportRosterResponse {
            groups_created: c.groups_created,
            groups_updated: c.groups_updated,
            volunteers_created: c.volunteers_created,
            volunteers_updated: c.volunteers_updated,
            errors: vec![],
        };
        let counts = store::import(
            &self.pool,
            organization,
            key,
            &groups,
            req.validate_only,
            |c| response(c).encode_to_vec(),
        )
        .await
        .map_err(status_of)?;
        if !req.validate_only {
            self.bus.wake_outbox();
        }
        tracing::info!(%organization, ?counts, "roster imported");
        Ok(Response::new(response(counts)))
    }
}

pub(crate) fn next_token(len: usize, limit: i64, last: Option<Uuid>) -> String {
    if len as i64 == limit {
        last.map(|id| id.to_string()).unwrap_or_default()
    } else {
        String::new()
    }
}
