//! TriageService.

use std::sync::Arc;

use komek_core::triage::RuleSet;
use komek_core::{Category, Priority, Skill};
use komek_proto::triage::v1 as api;
use komek_runtime::auth;
use komek_runtime::convert::{name, parse_name, parse_request_id, timestamp};
use komek_runtime::events::Bus;
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::{self, DecisionRow};

pub struct Triage {
    pool: PgPool,
    bus: Bus,
    rules: Arc<RuleSet>,
}

impl Triage {
    pub fn new(pool: PgPool, bus: Bus, rules: Arc<RuleSet>) -> Self {
        Self { pool, bus, rules }
    }
}

fn validate_override(
    req: &api::OverrideTriageRequest,
    rules: &RuleSet,
    actor: &str,
) -> Result<store::Override, Status> {
    let mut v = Vec::new();
    let key = parse_request_id(&req.request_id)
        .map_err(|e| v.push(e))
        .ok();
    let category = match req.category {
        0 => None,
        c => {
            if Category::from_code(c).is_none() {
                v.push(FieldViolation::new(
                    "category",
                    format!("unknown value {c}"),
                ));
            }
            Some(c)
        }
    };
    let priority = match req.priority {
        0 => None,
        p => {
            if Priority::from_code(p).is_none() {
                v.push(FieldViolation::new(
                    "priority",
                    format!("unknown value {p}"),
                ));
            }
            Some(p as i16)
        }
    };
    for (i, s) in req.required_skills.iter().enumerate() {
        if Skill::from_code(*s).is_none() {
            v.push(FieldViolation::new(
                format!("required_skills[{i}]"),
                "unknown or unspecified skill",
            ));
        }
    }
    // A new category brings its own skills unless the dispatcher names them.
    let skills = if !req.required_skills.is_empty() {
        Some(req.required_skills.iter().map(|s| *s as i16).collect())
    } else {
        category.and_then(Category::from_code).map(|c| {
            rules
                .skills_for(c)
                .iter()
                .map(|s| s.code() as i16)
                .collect()
        })
    };
    if category.is_none() && priority.is_none() && req.required_skills.is_empty() {
        v.push(FieldViolation::new(
            "category",
            "set at least one of category, priority, required_skills",
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 || reason.chars().any(|c| c.is_control())
    {
        v.push(FieldViolation::new(
            "reason",
            "1 to 1000 printable characters",
        ));
    }
    let etag = if req.etag.is_empty() {
        None
    } else {
        req.etag
            .parse()
            .map_err(|_| v.push(FieldViolation::new("etag", "not an etag of this decision")))
            .ok()
    };
    if !v.is_empty() {
        return Err(invalid_argument(&v));
    }
    Ok(store::Override {
        key: key.unwrap(),
        category: category.map(|c| c as i16),
        priority,
        skills,
        reason: reason.to_string(),
        etag,
        actor: actor.into(),
    })
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
            .enumerate()
            .map(|(i, r)| {
                let (rule_id, terms) = r.split_once('=').unwrap_or((r.as_str(), ""));
                api::FiredRule {
                    rule_id: rule_id.to_string(),
                    matched_terms: terms
                        .split('|')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect(),
                    explanation: d.fired_explanations.get(i).cloned().unwrap_or_default(),
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
        merged_into: d
            .merged_into
            .map(|id| name("requests", id))
            .unwrap_or_default(),
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
        request: Request<api::OverrideTriageRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let id = parse_decision_name(&req.name)?;
        let change = validate_override(&req, &self.rules, &actor)?;
        let (decision, applied) =
            store::apply_override(&self.pool, id, &change, crate::consumer::triaged_event)
                .await
                .map_err(|e| match e {
                    store::OverrideError::NotFound => Status::not_found(e.to_string()),
                    store::OverrideError::EtagMismatch | store::OverrideError::Merged(_) => {
                        Status::failed_precondition(e.to_string())
                    }
                    store::OverrideError::Db(e) => internal(e),
                })?;
        if applied {
            self.bus.wake_outbox();
            tracing::info!(request = %id, reason = %change.reason, "triage overridden");
        }
        Ok(Response::new(to_api(&decision)))
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
        request: Request<api::MergeDuplicateRequest>,
    ) -> Result<Response<api::TriageDecision>, Status> {
        let actor = auth::principal(&request)?.subject;
        let req = request.into_inner();
        let duplicate = parse_decision_name(&req.name)?;
        let merge = validate_merge(&req, duplicate, &actor)?;
        let (decision, applied) = store::merge(&self.pool, &merge, |d| {
            crate::consumer::merged_event(d, &merge.reason)
        })
        .await
        .map_err(|e| match e {
            store::MergeError::NotFound(field) => {
                Status::not_found(format!("{field}: no triage decision for this request yet"))
            }
            store::MergeError::AlreadyMerged(_) | store::MergeError::TargetMerged(..) => {
                Status::failed_precondition(e.to_string())
            }
            store::MergeError::Db(e) => internal(e),
        })?;
        if applied {
            self.bus.wake_outbox();
            tracing::info!(request = %duplicate, into = %merge.into, "duplicate merged");
        }
        Ok(Response::new(to_api(&decision)))
    }
}

fn validate_merge(
    req: &api::MergeDuplicateRequest,
    duplicate: Uuid,
    actor: &str,
) -> Result<store::Merge, Status> {
    let mut v = Vec::new();
    let key = parse_request_id(&req.request_id)
        .map_err(|e| v.push(e))
        .ok();
    let into = parse_name("requests", &req.merge_into, "merge_into")
        .map_err(|e| v.push(e))
        .ok();
    if into == Some(duplicate) {
        v.push(FieldViolation::new(
            "merge_into",
            "a request cannot be merged into itself",
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 || reason.chars().any(|c| c.is_control())
    {
        v.push(FieldViolation::new(
            "reason",
            "1 to 1000 printable characters",
        ));
    }
    if !v.is_empty() {
        return Err(invalid_argument(&v));
    }
    Ok(store::Merge {
        key: key.unwrap(),
        duplicate,
        into: into.unwrap(),
        reason: reason.to_string(),
        actor: actor.into(),
    })
}
