//! TriageService: a decision, a dispatcher's override or merge, and the audit log.

use std::sync::Arc;

use komek_core::triage::Triage as Judge;
use komek_proto::triage::v1 as api;
use komek_runtime::auth::{self, Principal};
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::store::{self, DecisionRow};
use crate::{convert, events, learning, validate};

pub struct Triage {
    pool: PgPool,
    bus: Bus,
    triage: Arc<Judge>,
    pages: Pages,
}

impl Triage {
    pub fn new(pool: PgPool, bus: Bus, triage: Arc<Judge>, pages: Pages) -> Self {
        Self {
            pool,
            bus,
            triage,
            pages,
        }
    }
}

impl Triage {
    /// The decision on request `id`, if `principal` may see it: outside a regional
    /// dispatcher's regions it does not exist.
    async fn decision(
        &self,
        id: uuid::Uuid,
        field: &'static str,
        principal: &Principal,
    ) -> Result<DecisionRow, Status> {
        match store::get(&self.pool, id).await? {
            Some(d) if principal.covers_region(&d.region) => Ok(d),
            _ => Err(store::Error::NotFound(field).into()),
        }
    }
}

#[tonic::async_trait]
impl api::triage_service_server::TriageService for Triage {
    async fn get_triage_decision(
        &self,
        request: Request<api::GetTriageDecisionRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let principal = auth::principal(&request)?;
        let id = validate::decision_name(&request.get_ref().name)?;
        let d = self.decision(id, "name", &principal).await?;
        Ok(Response::new(convert::decision(&d)))
    }

    async fn override_triage(
        &self,
        request: Request<api::OverrideTriageRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let id = validate::decision_name(&req.name)?;
        let change = validate::override_triage(&req, self.triage.rules(), &principal.subject)?;
        self.decision(id, "name", &principal).await?;
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
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let id = validate::decision_name(&req.name)?;
        self.decision(id, "name", &principal).await?;
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
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let duplicate = validate::decision_name(&req.name)?;
        let merge = validate::merge(&req, duplicate, &principal.subject)?;
        self.decision(duplicate, "name", &principal).await?;
        self.decision(merge.into, "merge_into", &principal).await?;
        let (decision, applied) =
            store::merge(&self.pool, &merge, |d| events::merged(d, &merge.reason)).await?;
        if applied {
            self.bus.wake_outbox();
            tracing::info!(request = %duplicate, into = %merge.into, "duplicate merged");
        }
        Ok(Response::new(convert::decision(&decision)))
    }

    async fn report_missed_words(
        &self,
        request: Request<api::ReportMissedWordsRequest>,
    ) -> Result<Response<api::ReportMissedWordsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let (limit, since) = validate::missed_words(request.get_ref())?;
        // A regional dispatcher learns from the overrides of their regions only.
        let corrected: Vec<_> = learning::corrected_in(&self.pool, since)
            .await?
            .into_iter()
            .filter(|(region, _)| principal.covers_region(region))
            .map(|(_, c)| c)
            .collect();
        let triage = self.triage.clone();
        let overrides = corrected.len();
        // Reading every note against the model is CPU work; keep it off the async workers.
        let missed = tokio::task::spawn_blocking(move || {
            komek_core::triage::learning::missed_words(&triage, &corrected, limit)
        })
        .await
        .map_err(|e| Status::internal(format!("missed words: {e}")))?;
        Ok(Response::new(api::ReportMissedWordsResponse {
            words: missed
                .into_iter()
                .map(|m| api::MissedWord {
                    word: m.word,
                    notes: m.notes as i32,
                    categories: m.categories.iter().map(|c| c.code()).collect(),
                    model_weight: m.model_weight,
                    example: m.example,
                })
                .collect(),
            overrides: overrides as i32,
            model_version: self
                .triage
                .model()
                .map_or(String::new(), |m| m.version().to_string()),
            rules_version: self.triage.rules().version().to_string(),
        }))
    }
}
