//! Stored decisions as the API shows them.

use komek_proto::triage::v1 as api;
use komek_runtime::boundary::{name, name_or_empty, timestamp};
use uuid::Uuid;

use crate::store::{AuditRow, DecisionRow};

fn decision_name(request_id: Uuid) -> String {
    format!("{}/triage", name("requests", request_id))
}

fn skills(codes: &[i16]) -> Vec<i32> {
    codes.iter().map(|s| i32::from(*s)).collect()
}

pub fn decision(d: &DecisionRow) -> api::TriageDecision {
    api::TriageDecision {
        name: decision_name(d.request_id),
        category: d.category.into(),
        priority: d.priority.into(),
        required_skills: skills(&d.required_skills),
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
        possible_duplicate_of: name_or_empty("requests", d.possible_duplicate_of),
        decide_time: Some(timestamp(d.decided_at)),
        etag: d.version.to_string(),
        merged_into: name_or_empty("requests", d.merged_into),
        unclassified: d.unclassified,
        model_version: d.model_version.clone(),
    }
}

pub fn audit_entry(request_id: Uuid, r: AuditRow) -> api::TriageAuditEntry {
    api::TriageAuditEntry {
        actor: r.actor,
        decision: Some(api::TriageDecision {
            name: decision_name(request_id),
            category: r.category.into(),
            priority: r.priority.into(),
            required_skills: skills(&r.required_skills),
            ..Default::default()
        }),
        reason: r.reason,
        create_time: Some(timestamp(r.created_at)),
    }
}
