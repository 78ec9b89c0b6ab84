//! Requests of the API checked into the values the store takes. Each function reports every
//! field at fault at once.

use komek_core::triage::RuleSet;
use komek_core::{Category, Priority, Skill};
use komek_proto::triage::v1 as api;
use komek_runtime::boundary::{
    FieldViolation, Text, Violations, code, optional_code, optional_etag, parse_name,
    parse_request_id,
};
use tonic::Status;
use uuid::Uuid;

use crate::store;

const REASON: Text = Text::line(1000).required();

/// The request id in `requests/{uuid}/triage`.
pub fn decision_name(value: &str) -> Result<Uuid, FieldViolation> {
    value
        .strip_prefix("requests/")
        .and_then(|r| r.strip_suffix("/triage"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| FieldViolation::new("name", "must look like requests/{uuid}/triage"))
}

pub fn override_triage(
    req: &api::OverrideTriageRequest,
    rules: &RuleSet,
    actor: &str,
) -> Result<store::Override, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let category = v.take(optional_code(req.category, Category::from_code, "category"));
    let priority = v.take(optional_code(req.priority, Priority::from_code, "priority"));
    for (i, s) in req.required_skills.iter().enumerate() {
        v.take(code(
            *s,
            Skill::from_code,
            &format!("required_skills[{i}]"),
            "unknown or unspecified skill",
        ));
    }
    let nothing = req.category == 0 && req.priority == 0 && req.required_skills.is_empty();
    if nothing {
        v.add(
            "category",
            "set at least one of category, priority, required_skills",
        );
    }
    let reason = v.take(REASON.parse(&req.reason, "reason"));
    let etag = v.take(optional_etag(&req.etag, "etag"));
    let (key, category, priority, reason, etag) =
        v.finish((key, category, priority, reason, etag))?;
    // A new category brings its own skills unless the dispatcher names them.
    let skills = if !req.required_skills.is_empty() {
        Some(req.required_skills.iter().map(|s| *s as i16).collect())
    } else {
        category.map(|c| {
            rules
                .skills_for(c)
                .iter()
                .map(|s| s.code() as i16)
                .collect()
        })
    };
    Ok(store::Override {
        key,
        category: category.map(|c| c.code() as i16),
        priority: priority.map(|p| p.code() as i16),
        skills,
        reason,
        etag,
        actor: actor.into(),
    })
}

pub fn merge(
    req: &api::MergeDuplicateRequest,
    duplicate: Uuid,
    actor: &str,
) -> Result<store::Merge, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let into = v.take(parse_name("requests", &req.merge_into, "merge_into"));
    if into == Some(duplicate) {
        v.add("merge_into", "a request cannot be merged into itself");
    }
    let reason = v.take(REASON.parse(&req.reason, "reason"));
    let (key, into, reason) = v.finish((key, into, reason))?;
    Ok(store::Merge {
        key,
        duplicate,
        into,
        reason,
        actor: actor.into(),
    })
}

/// Most words a missed-words report returns, and how many when the caller says 0.
pub const MISSED_WORDS_MAX: usize = 500;
pub const MISSED_WORDS_DEFAULT: usize = 50;

pub fn missed_words(
    req: &api::ReportMissedWordsRequest,
) -> Result<(usize, Option<chrono::DateTime<chrono::Utc>>), Status> {
    let mut v = Violations::new();
    let limit = match usize::try_from(req.limit) {
        Ok(0) => Some(MISSED_WORDS_DEFAULT),
        Ok(n) if n <= MISSED_WORDS_MAX => Some(n),
        _ => {
            v.add("limit", format!("0 to {MISSED_WORDS_MAX}"));
            None
        }
    };
    let since = match &req.since {
        Some(t) => v
            .take(komek_runtime::boundary::from_timestamp(t, "since"))
            .map(Some),
        None => Some(None),
    };
    let (limit, since) = v.finish((limit, since))?;
    Ok((limit, since))
}
