//! PlanService: recurring plans, for dispatchers to keep and partners to follow.

use std::sync::Arc;

use chrono::Utc;
use komek_proto::intake::v1 as api;
use komek_runtime::auth::{self, Principal, Role};
use komek_runtime::boundary::{Text, decode_time_id, parse_name, time_id_token};
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::model::Plan;
use crate::pii::Vault;
use crate::{ServiceArea, convert, store, validate};

pub struct Plans {
    pool: PgPool,
    bus: Bus,
    pages: Pages,
    area: Option<ServiceArea>,
    vault: Option<Arc<Vault>>,
}

impl Plans {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        pages: Pages,
        area: Option<ServiceArea>,
        vault: Option<Arc<Vault>>,
    ) -> Self {
        Self {
            pool,
            bus,
            pages,
            area,
            vault,
        }
    }

    /// (limited, organisation, regions) of what `principal` sees: everything for admins and
    /// unlimited dispatchers; a regional dispatcher its regions; a partner its organisation's
    /// plans and those in its regions.
    fn scope(principal: &Principal) -> (bool, Option<uuid::Uuid>, Vec<String>) {
        match principal.role {
            Role::Partner => (true, principal.organization(), principal.regions.clone()),
            _ => match principal.region_limit() {
                Some(regions) => (true, None, regions.to_vec()),
                None => (false, None, Vec::new()),
            },
        }
    }

    fn covers(principal: &Principal, plan: &Plan) -> bool {
        let (limited, organization, regions) = Self::scope(principal);
        !limited
            || (organization.is_some() && plan.row.organization_id == organization)
            || regions.contains(&plan.row.region)
    }

    async fn get_in_scope(&self, id: uuid::Uuid, principal: &Principal) -> Result<Plan, Status> {
        let plan = store::plans::get_plan(&self.pool, id).await?;
        if !Self::covers(principal, &plan) {
            return Err(store::Error::NotFound.into());
        }
        Ok(plan)
    }

    /// The API view for `principal`: stops' callers opened for those who see callers; for
    /// everyone else the caller's identity and the address are left out.
    fn to_api(&self, plan: &Plan, principal: &Principal) -> api::Plan {
        let mut out = convert::plan(plan);
        for (stop, row) in out.stops.iter_mut().zip(&plan.stops) {
            if !principal.sees_personal_data() {
                if let Some(l) = stop.location.as_mut() {
                    l.address.clear();
                }
                if let Some(c) = stop.caller.as_mut() {
                    c.display_name.clear();
                    c.phone.clear();
                }
                continue;
            }
            let (Some(vault), Some(caller), Some(key_id)) = (
                self.vault.as_deref(),
                stop.caller.as_mut(),
                row.caller_key_id.as_deref(),
            ) else {
                continue;
            };
            // Unreadable caller data leaves the name and phone out; the rest of the plan stands.
            if let Ok((name, phone)) = vault.open_stop_caller(
                key_id,
                row.id,
                row.caller_name_enc.as_deref(),
                row.caller_phone_enc.as_deref(),
            ) {
                caller.display_name = name.unwrap_or_default();
                caller.phone = phone.unwrap_or_default();
            }
        }
        out
    }
}

#[tonic::async_trait]
impl api::plan_service_server::PlanService for Plans {
    async fn create_plan(
        &self,
        request: Request<api::CreatePlanRequest>,
    ) -> Result<Response<api::Plan>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let new = validate::plan(
            &req,
            self.area.as_ref(),
            self.vault.as_deref(),
            &principal.subject,
            Utc::now(),
        )?;
        if !principal.covers_region(&new.region) {
            return Err(auth::gate::out_of_scope(format!(
                "{} keeps plans in its regions only",
                principal.subject
            )));
        }
        let mut payload = req.clone();
        payload.request_id.clear();
        // Callers' names and phones are not kept in the clear for comparing retries either.
        for stop in payload.plan.iter_mut().flat_map(|p| p.stops.iter_mut()) {
            if let Some(c) = stop.caller.as_mut() {
                let identity = format!("{}\u{0}{}", c.display_name, c.phone);
                c.display_name = self
                    .vault
                    .as_deref()
                    .map(|v| validate::hex(&v.keyed_hash("fingerprint.plan", &identity)))
                    .unwrap_or_default();
                c.phone.clear();
            }
        }
        let plan = store::plans::create_plan(&self.pool, &new, &payload.encode_to_vec()).await?;
        tracing::info!(plan = %plan.row.id, by = %principal.subject, "plan created");
        Ok(Response::new(self.to_api(&plan, &principal)))
    }

    async fn get_plan(
        &self,
        request: Request<api::GetPlanRequest>,
    ) -> Result<Response<api::Plan>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_name("plans", &request.get_ref().name, "name")?;
        let plan = self.get_in_scope(id, &principal).await?;
        Ok(Response::new(self.to_api(&plan, &principal)))
    }

    async fn list_plans(
        &self,
        request: Request<api::ListPlansRequest>,
    ) -> Result<Response<api::ListPlansResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let page = self.pages.page(req, decode_time_id)?;
        let region = komek_runtime::boundary::region(&req.region, "region")?;
        let plans = store::plans::list_plans(
            &self.pool,
            &region,
            Self::scope(&principal),
            page.after,
            page.limit,
        )
        .await?;
        Ok(Response::new(api::ListPlansResponse {
            plans: plans.iter().map(|p| self.to_api(p, &principal)).collect(),
            next_page_token: self.pages.next(req, &page, &plans, |p| {
                time_id_token(p.row.created_at, p.row.id)
            }),
        }))
    }

    async fn pause_plan(
        &self,
        request: Request<api::PausePlanRequest>,
    ) -> Result<Response<api::Plan>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let id = parse_name("plans", &req.name, "name")?;
        let reason = Text::line(500)
            .required()
            .parse(&req.reason, "reason")
            .map_err(Status::from)?;
        self.get_in_scope(id, &principal).await?;
        let plan = store::plans::set_paused(&self.pool, id, Some(&reason), None).await?;
        tracing::info!(plan = %id, by = %principal.subject, "plan paused");
        Ok(Response::new(self.to_api(&plan, &principal)))
    }

    async fn resume_plan(
        &self,
        request: Request<api::ResumePlanRequest>,
    ) -> Result<Response<api::Plan>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_name("plans", &request.get_ref().name, "name")?;
        let plan = self.get_in_scope(id, &principal).await?;
        let template = api::Plan::decode(plan.row.template.as_slice())
            .map_err(komek_runtime::boundary::internal)?;
        let next = validate::stored_recurrence(&template).and_then(|r| r.next_after(Utc::now()));
        let plan = store::plans::set_paused(&self.pool, id, None, next).await?;
        self.bus.wake_outbox();
        Ok(Response::new(self.to_api(&plan, &principal)))
    }

    async fn list_plan_runs(
        &self,
        request: Request<api::ListPlanRunsRequest>,
    ) -> Result<Response<api::ListPlanRunsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let id = parse_name("plans", &req.plan, "plan")?;
        self.get_in_scope(id, &principal).await?;
        let page = self.pages.page(req, decode_time_id)?;
        let runs = store::plans::list_runs(&self.pool, id, page.after, page.limit).await?;
        Ok(Response::new(api::ListPlanRunsResponse {
            runs: runs.iter().map(convert::plan_run).collect(),
            next_page_token: self.pages.next(req, &page, &runs, |r| {
                time_id_token(r.occurrence_at, r.stop_id)
            }),
        }))
    }
}
