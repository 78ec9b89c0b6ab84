//! TriageService: a decision, a dispatcher's override or merge, and the audit log.

use std::sync::Arc;

use komek_core::triage::RuleSet;
use komek_proto::triage::v1 as api;
use komek_runtime::auth;
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::store;
use crate::{convert, events, validate};

pub struct Triage {
    pool: PgPool,
    bus: Bus,
    rules: Arc<RuleSet>,
    pages: Pages,
}

impl Triage {
    pub fn new(pool: PgPool, bus: Bus, rules: Arc<RuleSet>, pages: Pages) -> Self {
        Self {
            pool,
            bus,
            rules,
            pages,
        }
    }
}

#[tonic::async_trait]
impl api::triage_service_server::TriageService for Triage {
    async fn get_triage_decision(
        &self,
        request: Request<api::GetTriageDecisionRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let id = validate::decision_name(&request.get_ref().name)?;
        let Some(d) = store::get(&self.pool, id).await? else {
            return Err(Status::not_found("no triage decision for this request yet"));
        };
        Ok(Response::new(convert::decision(&d)))
    }

    async fn override_triage(
        &self,
        request: Request<api::OverrideTriageRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let id = validate::decision_name(&req.name)?;
        let change = validate::override_triage(&req, &self.rules, &actor)?;
        let (decision, applied) =
            store::apply_override(&self.pool, id, &change, events::triaged).await?;
        if applied {
            self.bus.wake_outbox();
            tracing::info!(request = %id, reason = %change.reason, "triage overridden");
        }
        Ok(Response::new(convert::decision(&decision)))
    }

    async fn list_triage_audit(
        &self,
        request: Request<api::ListTriageAuditRequest>,
    ) -> Result<Response<api::ListTriageAuditResponse>, Status> {
        let req = request.into_inner();
        let id = validate::decision_name(&req.name)?;
        let page = self.pages.page(&req, |t| t.parse::<i64>().ok())?;
        let rows = store::audit_page(&self.pool, id, page.after.unwrap_or(0), page.limit).await?;
        let next_page_token = self.pages.next(&req, &page, &rows, |r| r.seq.to_string());
        Ok(Response::new(api::ListTriageAuditResponse {
            entries: rows
                .into_iter()
                .map(|r| convert::audit_entry(id, r))
                .collect(),
            next_page_token,
        }))
    }

    async fn merge_duplicate(
        &self,
        request: Request<api::MergeDuplicateRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let duplicate = validate::decision_name(&req.name)?;
        let merge = validate::merge(&req, duplicate, &actor)?;
        let (decision, applied) =
            store::merge(&self.pool, &merge, |d| events::merged(d, &merge.reason)).await?;
        if applied {
            self.bus.wake_outbox();
            tracing::info!(request = %duplicate, into = %merge.into, "duplicate merged");
        }
        Ok(Response::new(convert::decision(&decision)))
    }
}
