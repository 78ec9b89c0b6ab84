//! TriageService.

use komek_proto::triage::v1 as api;
use komek_runtime::convert::{name, timestamp};
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{self, DecisionRow};

pub struct Triage {
    pool: PgPool,
}

impl Triage {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The request id in `requests/{uuid}/triage`.
fn parse_decision_name(value: &str) -> Result<Uuid, Status> {
    value
        .strip_prefix("requests/")
        .and_then(|r| r.strip_suffix("/triage"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            invalid_argument(&[FieldViolation::new(
                "name",
                "must look like requests/{uuid}/triage",
            )])
        })
}

fn to_api(d: &DecisionRow) -> api::TriageDecision {
    api::TriageDecision {
        name: format!("{}/triage", name("requests", d.request_id)),
        category: d.category.into(),
        priority: d.priority.into(),
        required_skills: d.required_skills.iter().map(|s| i32::from(*s)).collect(),
        confidence: d.confidence,
        fired_rules: d
            .fired_rules
            .iter()
            .map(|r| {
                let (rule_id, terms) = r.split_once('=').unwrap_or((r.as_str(), ""));
                api::FiredRule {
                    rule_id: rule_id.to_string(),
                    matched_terms: terms
                        .split('|')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect(),
                    explanation: String::new(),
                }
            })
            .collect(),
        rules_version: d.rules_version.clone(),
        overridden: d.overridden,
        possible_duplicate_of: d
            .possible_duplicate_of
            .map(|id| name("requests", id))
            .unwrap_or_default(),
        decide_time: Some(timestamp(d.decided_at)),
        etag: d.version.to_string(),
    }
}

#[tonic::async_trait]
impl api::triage_service_server::TriageService for Triage {
    async fn get_triage_decision(
        &self,
        request: Request<api::GetTriageDecisionRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let id = parse_decision_name(&request.get_ref().name)?;
        match store::get(&self.pool, id).await.map_err(internal)? {
            Some(d) => Ok(Response::new(to_api(&d))),
            None => Err(Status::not_found("no triage decision for this request yet")),
        }
    }

    async fn override_triage(
        &self,
        _request: Request<api::OverrideTriageRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        Err(Status::unimplemented(
            "dispatcher overrides are not available on this server yet",
        ))
    }

    async fn list_triage_audit(
        &self,
        request: Request<api::ListTriageAuditRequest>,
    ) -> Result<Response<api::ListTriageAuditResponse>, Status> {
        let req = request.into_inner();
        let id = parse_decision_name(&req.name)?;
        let after: i64 = if req.page_token.is_empty() {
            0
        } else {
            req.page_token.parse().map_err(|_| {
                invalid_argument(&[FieldViolation::new(
                    "page_token",
                    "not a token from an earlier response",
                )])
            })?
        };
        let limit = match req.page_size {
            0 => 50,
            n if n < 0 => {
                return Err(invalid_argument(&[FieldViolation::new(
                    "page_size",
                    "must not be negative",
                )]));
            }
            n => i64::from(n.min(100)),
        };
        let rows = store::audit_page(&self.pool, id, after, limit)
            .await
            .map_err(internal)?;
        let next_page_token = if rows.len() as i64 == limit {
            rows.last().map(|r| r.seq.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let entries = rows
            .into_iter()
            .map(|r| api::TriageAuditEntry {
                actor: r.actor,
                decision: Some(api::TriageDecision {
                    name: format!("{}/triage", name("requests", id)),
                    category: r.category.into(),
                    priority: r.priority.into(),
                    required_skills: r.required_skills.iter().map(|s| i32::from(*s)).collect(),
                    ..Default::default()
                }),
                reason: r.reason,
                create_time: Some(timestamp(r.created_at)),
            })
            .collect();
        Ok(Response::new(api::ListTriageAuditResponse {
            entries,
            next_page_token,
        }))
    }

    async fn merge_duplicate(
        &self,
        _request: Request<api::MergeDuplicateRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        Err(Status::unimplemented(
            "merging duplicates is not available on this server yet",
        ))
    }
}
