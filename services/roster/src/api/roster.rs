//! RosterService: organisations, their groups and volunteers, and roster imports.

use komek_core::Availability;
use komek_proto::roster::v1 as api;
use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal, Role};
use komek_runtime::boundary::{FieldViolation, Violations, internal, optional_name, parse_name};
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::uuid_position;
use crate::validate::{self, import, unknown_path};
use crate::{convert, store};

pub struct Roster {
    pool: PgPool,
    bus: Bus,
    pages: Pages,
}

impl Roster {
    pub fn new(pool: PgPool, bus: Bus, pages: Pages) -> Self {
        Self { pool, bus, pages }
    }

    /// A volunteer acts on its own groups only; the other roles the matrix lets in act on any.
    async fn require_member(&self, p: &Principal, group: Uuid) -> Result<(), Status> {
        if p.role != Role::Volunteer {
            return Ok(());
        }
        let member = match p.volunteer() {
            Some(v) => store::is_member(&self.pool, group, v).await?,
            None => false,
        };
        if !member {
            return Err(out_of_scope(format!("not a member of groups/{group}")));
        }
        Ok(())
    }
}

/// A volunteer reads itself, a partner its own organisation; other roles anything.
fn require_self(p: &Principal, collection: &str, id: Uuid) -> Result<(), Status> {
    let own = match p.role {
        Role::Volunteer => p.volunteer() == Some(id),
        Role::Partner => p.organization() == Some(id),
        _ => true,
    };
    if !own {
        return Err(out_of_scope(format!("{collection}/{id} is not yours")));
    }
    Ok(())
}

/// The request without its idempotency key, stored to recognise a retry.
fn fingerprint<M: Message + Clone>(req: &M, clear_key: impl FnOnce(&mut M)) -> Vec<u8> {
    let mut req = req.clone();
    clear_key(&mut req);
    req.encode_to_vec()
}

#[tonic::async_trait]
impl api::roster_service_server::RosterService for Roster {
    async fn create_organization(
        &self,
        request: Request<api::CreateOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let req = request.into_inner();
        let new = validate::create_organization(&req)?;
        let payload = fingerprint(&req, |r| r.request_id.clear());
        let row = store::create_organization(&self.pool, &new, &payload).await?;
        Ok(Response::new(convert::organization(&row)))
    }

    async fn get_organization(
        &self,
        request: Request<api::GetOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let id = parse_name("organizations", &request.get_ref().name, "name")?;
        require_self(&auth::principal(&request)?, "organizations", id)?;
        let row = store::get_organization(&self.pool, id).await?;
        Ok(Response::new(convert::organization(&row)))
    }

    async fn list_organizations(
        &self,
        request: Request<api::ListOrganizationsRequest>,
    ) -> Result<Response<api::ListOrganizationsResponse>, Status> {
        let req = request.into_inner();
        let page = self.pages.page(&req, uuid_position)?;
        let rows = store::list_organizations(&self.pool, page.after, page.limit).await?;
        Ok(Response::new(api::ListOrganizationsResponse {
            organizations: rows.iter().map(convert::organization).collect(),
            next_page_token: self.pages.next(&req, &page, &rows, |r| r.id.to_string()),
        }))
    }

    async fn update_organization(
        &self,
        request: Request<api::UpdateOrganizationRequest>,
    ) -> Result<Response<api::Organization>, Status> {
        let req = request.into_inner();
        let change = req.organization.unwrap_or_default();
        let id = parse_name("organizations", &change.name, "organization.name")?;
        let mut v = Violations::new();
        let update = validate::update(&change.etag, "organization.etag", req.update_mask, &mut v);
        let mut merged = convert::organization(&store::get_organization(&self.pool, id).await?);
        for (i, path) in update.paths.iter().enumerate() {
            match path.as_str() {
                "display_name" => merged.display_name = change.display_name.clone(),
                "kind" => merged.kind = change.kind,
                "regions" => merged.regions = change.regions.clone(),
                "contact_email" => merged.contact_email = change.contact_email.clone(),
                "office_hours" => merged.office_hours = change.office_hours.clone(),
                other => v.push(unknown_path(i, other)),
            }
        }
        let fields = validate::organization(&merged, &mut v);
        let (version, fields) = v.finish((update.version, fields))?;
        let row = store::update_organization(&self.pool, id, version, merged.kind as i16, &fields)
            .await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::organization(&row)))
    }

    async fn create_group(
        &self,
        request: Request<api::CreateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let req = request.into_inner();
        let (key, spec) = validate::create_group(&req)?;
        let payload = fingerprint(&req, |r| r.request_id.clear());
        let group = store::create_group(&self.pool, key, &spec, &payload).await?;
        self.bus.wake_outbox();
        tracing::info!(group = %group.row.id, "group created");
        Ok(Response::new(convert::group(&group)))
    }

    async fn get_group(
        &self,
        request: Request<api::GetGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_name("groups", &request.get_ref().name, "name")?;
        self.require_member(&principal, id).await?;
        let group = store::get_group(&self.pool, id).await?;
        Ok(Response::new(convert::group(&group)))
    }

    async fn list_groups(
        &self,
        request: Request<api::ListGroupsRequest>,
    ) -> Result<Response<api::ListGroupsResponse>, Status> {
        let req = request.into_inner();
        let page = self.pages.page(&req, uuid_position)?;
        let organization = optional_name("organizations", &req.organization, "organization")?;
        let region = validate::region_filter(&req.region)?;
        let groups = store::list_groups(
            &self.pool,
            organization,
            &region,
            req.show_deactivated,
            page.after,
            page.limit,
        )
        .await?;
        Ok(Response::new(api::ListGroupsResponse {
            groups: groups.iter().map(convert::group).collect(),
            next_page_token: self
                .pages
                .next(&req, &page, &groups, |g| g.row.id.to_string()),
        }))
    }

    async fn update_group(
        &self,
        request: Request<api::UpdateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let req = request.into_inner();
        let Some(change) = req.group.as_ref() else {
            return Err(FieldViolation::new("group", "required").into());
        };
        let id = parse_name("groups", &change.name, "group.name")?;
        let mut v = Violations::new();
        let update = validate::update(&change.etag, "group.etag", req.update_mask, &mut v);
        let mut merged = convert::group(&store::get_group(&self.pool, id).await?);
        for (i, path) in update.paths.iter().enumerate() {
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
                other => v.push(unknown_path(i, other)),
            }
        }
        // The merged group must pass exactly what CreateGroup checks.
        let spec = validate::group(&merged).map_err(|more| v.extend(more)).ok();
        let (version, spec) = v.finish((update.version, spec))?;
        let group = store::replace_group(&self.pool, id, version, &spec).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::group(&group)))
    }

    async fn set_group_availability(
        &self,
        request: Request<api::SetGroupAvailabilityRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let id = parse_name("groups", &req.name, "name")?;
        self.require_member(&principal, id).await?;
        if Availability::from_code(req.availability).is_none() {
            return Err(FieldViolation::new("availability", "AVAILABLE, BUSY or OFF_DUTY").into());
        }
        let group = store::set_availability(&self.pool, id, req.availability as i16).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::group(&group)))
    }

    async fn report_group_location(
        &self,
        request: Request<api::ReportGroupLocationRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let principal = auth::principal(&request)?;
        let (id, point, at) = validate::location(request.get_ref())?;
        self.require_member(&principal, id).await?;
        let group = store::set_location(&self.pool, id, point.lat(), point.lon(), at).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::group(&group)))
    }

    async fn create_volunteer(
        &self,
        request: Request<api::CreateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let req = request.into_inner();
        let new = validate::create_volunteer(&req)?;
        let payload = fingerprint(&req, |r| r.request_id.clear());
        let volunteer = store::create_volunteer(&self.pool, &new, &payload).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::volunteer(&volunteer)))
    }

    async fn get_volunteer(
        &self,
        request: Request<api::GetVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let id = parse_name("volunteers", &request.get_ref().name, "name")?;
        require_self(&auth::principal(&request)?, "volunteers", id)?;
        let volunteer = store::get_volunteer(&self.pool, id).await?;
        Ok(Response::new(convert::volunteer(&volunteer)))
    }

    async fn list_volunteers(
        &self,
        request: Request<api::ListVolunteersRequest>,
    ) -> Result<Response<api::ListVolunteersResponse>, Status> {
        let req = request.into_inner();
        let page = self.pages.page(&req, uuid_position)?;
        let group = optional_name("groups", &req.group, "group")?;
        let volunteers = store::list_volunteers(
            &self.pool,
            group,
            req.show_deactivated,
            page.after,
            page.limit,
        )
        .await?;
        Ok(Response::new(api::ListVolunteersResponse {
            volunteers: volunteers.iter().map(convert::volunteer).collect(),
            next_page_token: self
                .pages
                .next(&req, &page, &volunteers, |v| v.row.id.to_string()),
        }))
    }

    async fn update_volunteer(
        &self,
        request: Request<api::UpdateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let req = request.into_inner();
        let change = req.volunteer.unwrap_or_default();
        let id = parse_name("volunteers", &change.name, "volunteer.name")?;
        let mut v = Violations::new();
        let update = validate::update(&change.etag, "volunteer.etag", req.update_mask, &mut v);
        let mut merged = convert::volunteer(&store::get_volunteer(&self.pool, id).await?);
        for (i, path) in update.paths.iter().enumerate() {
            match path.as_str() {
                "display_name" => merged.display_name = change.display_name.clone(),
                "languages" => merged.languages = change.languages.clone(),
                "groups" => merged.groups = change.groups.clone(),
                other => v.push(unknown_path(i, other)),
            }
        }
        let fields = validate::volunteer(&merged, &mut v);
        let (version, f) = v.finish((update.version, fields))?;
        let volunteer = store::update_volunteer(
            &self.pool,
            id,
            version,
            &f.display_name,
            &f.languages,
            &f.groups,
        )
        .await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::volunteer(&volunteer)))
    }

    async fn deactivate_group(
        &self,
        request: Request<api::DeactivateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let req = request.into_inner();
        let (id, reason) = validate::deactivation("groups", &req.name, &req.reason)?;
        let group = store::set_group_active(&self.pool, id, Some(&reason)).await?;
        self.bus.wake_outbox();
        tracing::info!(group = %id, "group deactivated");
        Ok(Response::new(convert::group(&group)))
    }

    async fn reactivate_group(
        &self,
        request: Request<api::ReactivateGroupRequest>,
    ) -> Result<Response<api::Group>, Status> {
        let id = parse_name("groups", &request.get_ref().name, "name")?;
        let group = store::set_group_active(&self.pool, id, None).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::group(&group)))
    }

    async fn deactivate_volunteer(
        &self,
        request: Request<api::DeactivateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let req = request.into_inner();
        let (id, reason) = validate::deactivation("volunteers", &req.name, &req.reason)?;
        let volunteer = store::set_volunteer_active(&self.pool, id, Some(&reason)).await?;
        self.bus.wake_outbox();
        tracing::info!(volunteer = %id, "volunteer deactivated");
        Ok(Response::new(convert::volunteer(&volunteer)))
    }

    async fn reactivate_volunteer(
        &self,
        request: Request<api::ReactivateVolunteerRequest>,
    ) -> Result<Response<api::Volunteer>, Status> {
        let id = parse_name("volunteers", &request.get_ref().name, "name")?;
        let volunteer = store::set_volunteer_active(&self.pool, id, None).await?;
        self.bus.wake_outbox();
        Ok(Response::new(convert::volunteer(&volunteer)))
    }

    async fn import_roster(
        &self,
        request: Request<api::ImportRosterRequest>,
    ) -> Result<Response<api::ImportRosterResponse>, Status> {
        let req = request.into_inner();
        let (key, organization) = validate::import_roster(&req)?;
        if let Some(done) = store::import_done(&self.pool, key).await? {
            return api::ImportRosterResponse::decode(done.as_slice())
                .map(Response::new)
                .map_err(internal);
        }
        store::get_organization(&self.pool, organization).await?;
        // Row errors are the report, not a failed call: the sheet's owner fixes the lines.
        // Unpacking and reading a workbook is CPU work of up to a few hundred milliseconds, kept
        // off the runtime's threads; a reader that panics on a malformed file fails this call
        // only, as a file that cannot be read.
        let (file, organization_name) = (req.csv, req.organization.clone());
        let read = tokio::task::spawn_blocking(move || import::read(&file, &organization_name))
            .await
            .unwrap_or_else(|_| {
                Err(vec![api::ImportRowError {
                    line: 0,
                    column: String::new(),
                    message: "the file cannot be read".into(),
                }])
            });
        let (groups, file) = match read {
            Ok(read) => read,
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
            file: Some(file.clone()),
        };
        let counts = store::import(
            &self.pool,
            organization,
            key,
            &groups,
            req.validate_only,
            |c| response(c).encode_to_vec(),
        )
        .await?;
        if !req.validate_only {
            self.bus.wake_outbox();
        }
        tracing::info!(%organization, ?counts, "roster imported");
        Ok(Response::new(response(counts)))
    }
}
