//! Stored requests as the APIs show them. Partner views are built from a fixed list of
//! non-personal fields, so no partner response can carry a caller's name, phone or address.

use komek_proto::intake::v1 as api;
use komek_proto::partner::v1 as partner_api;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{name, name_or_empty, timestamp};

use crate::events;
use crate::model::{Fields, NotesRow, Plan, PlanRunRow, RequestRow};
use crate::store::stats;
use prost::Message;

/// The whole request, without caller name and phone: those are opened only for principals
/// who may see them.
pub fn request(row: &RequestRow) -> api::Request {
    let assignment = row.assignment_id.map(|id| api::AssignmentSummary {
        assignment: name("assignments", id),
        group: row.assignment_group.clone(),
        group_display_name: row.assignment_group_name.clone(),
        status: row.assignment_status.into(),
        distance_meters: row.assignment_distance_m,
        expire_time: row.assignment_expire_at.map(timestamp),
        update_time: row.assignment_updated_at.map(timestamp),
    });
    let triage = (row.category != 0).then(|| api::TriageSummary {
        category: row.category.into(),
        priority: row.priority.into(),
        required_skills: row.required_skills.iter().map(|s| i32::from(*s)).collect(),
        possible_duplicate_of: name_or_empty("requests", row.possible_duplicate_of),
    });
    let mut location = events::location(row);
    location.address = row.address.clone();
    api::Request {
        name: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        channel: row.channel.into(),
        caller: Some(api::Caller {
            display_name: String::new(),
            phone: String::new(),
            preferred_language: row.caller_language.into(),
            anonymous: row.caller_anonymous,
        }),
        location: Some(location),
        description: row.description.clone(),
        volunteer_note: row.volunteer_note.clone(),
        dispatch_time: row.dispatch_time().map(timestamp),
        waiting: row
            .waiting_too_long()
            .map(|(state, since, limit_seconds, alerts)| api::Waiting {
                state: state.code(),
                since: Some(timestamp(since)),
                limit_seconds,
                alerts,
            }),
        operator_category: row.operator_category.into(),
        operator_priority: row.operator_priority.into(),
        people_count: row.people_count,
        quantity: events::quantity(row),
        wanted_window: events::wanted_window(row),
        status: row.status.into(),
        triage,
        assignment,
        merged_into: name_or_empty("requests", row.merged_into),
        cancel_reason: row.cancel_reason.clone(),
        outcome: row.outcome.into(),
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
        etag: row.version.to_string(),
        erasure: row.erased_at.map(|at| api::Erasure {
            erase_time: Some(timestamp(at)),
            erased_by: row.erased_by.clone(),
            reason: row.erase_reason.clone(),
        }),
        // Only triage sees it (set by the handler).
        caller_blind_index: Vec::new(),
    }
}

/// `full` with only the fields asked for: the name, and every other field left empty.
pub fn masked(full: api::Request, fields: &Fields) -> api::Request {
    let Fields::Only(_) = fields else {
        return full;
    };
    // Moved field by field, so a field added to Request is left out until listed here.
    let mut out = api::Request {
        name: full.name,
        ..Default::default()
    };
    macro_rules! keep {
        ($($field:ident),*) => {
            $(if fields.has(stringify!($field)) {
                out.$field = full.$field;
            })*
        };
    }
    keep!(
        reference_code,
        channel,
        caller,
        location,
        description,
        operator_category,
        operator_priority,
        people_count,
        quantity,
        wanted_window,
        status,
        triage,
        assignment,
        merged_into,
        cancel_reason,
        outcome,
        create_time,
        update_time,
        etag,
        volunteer_note,
        waiting,
        dispatch_time,
        erasure,
        caller_blind_index
    );
    out
}

/// A request's words as [`masked`] would give them from the whole row; the blind index only
/// when `blind_index` (triage).
pub fn words(row: &NotesRow, fields: &Fields, blind_index: bool) -> api::Request {
    let text = |field: &str, value: &String| {
        if fields.has(field) {
            value.clone()
        } else {
            String::new()
        }
    };
    api::Request {
        name: name("requests", row.id),
        description: text("description", &row.description),
        volunteer_note: text("volunteer_note", &row.volunteer_note),
        caller_blind_index: if blind_index && fields.has("caller_blind_index") {
            row.caller_blind_index.clone().unwrap_or_default()
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// The partner's view of a request: settlement, district and region, never the address or
/// caller.
pub fn view(row: &RequestRow) -> partner_api::RequestStatusView {
    partner_api::RequestStatusView {
        name: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        category: row.category.into(),
        priority: row.priority.into(),
        status: row.status.into(),
        settlement: row.settlement.clone(),
        district: row.district.clone(),
        region: row.region.clone(),
        group_display_name: row.assignment_group_name.clone(),
        outcome: row.outcome.into(),
        people_count: row.people_count,
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
    }
}

fn duration(seconds: Option<f64>) -> Option<prost_types::Duration> {
    seconds.map(|s| prost_types::Duration {
        seconds: s.trunc() as i64,
        nanos: (s.fract() * 1e9) as i32,
    })
}

/// A statistics row; `dims` say what its keys are, so codes show as protobuf names.
pub fn stats_row(r: &stats::Row, dims: &[stats::Dim]) -> partner_api::StatsRow {
    partner_api::StatsRow {
        keys: r
            .keys
            .iter()
            .zip(dims)
            .map(|(key, dim)| label(*dim, key))
            .collect(),
        request_count: r.requests,
        people_helped: r.people_helped,
        median_time_to_assign: duration(r.assign_p50),
        p90_time_to_assign: duration(r.assign_p90),
        median_time_to_complete: duration(r.complete_p50),
        p90_time_to_complete: duration(r.complete_p90),
    }
}

/// The key as reports show it: enum names for codes, text as stored otherwise.
fn label(dim: stats::Dim, key: &str) -> String {
    match dim {
        stats::Dim::Category => category_label(key),
        stats::Dim::Status => status_label(key),
        stats::Dim::Channel => key
            .parse::<i32>()
            .ok()
            .and_then(|c| pb::Channel::try_from(c).ok())
            .map_or_else(|| key.to_string(), |c| c.as_str_name().to_string()),
        _ => key.to_string(),
    }
}

/// Category and status codes as their protobuf names, for report keys.
fn category_label(code: &str) -> String {
    code.parse::<i32>()
        .ok()
        .and_then(|c| pb::Category::try_from(c).ok())
        .map_or_else(|| code.to_string(), |c| c.as_str_name().to_string())
}

fn status_label(code: &str) -> String {
    code.parse::<i32>()
        .ok()
        .and_then(|c| pb::RequestStatus::try_from(c).ok())
        .map_or_else(|| code.to_string(), |c| c.as_str_name().to_string())
}

/// A plan as the API shows it, stops' callers without name and phone (the handler adds them
/// for those who see callers).
pub fn plan(p: &Plan) -> api::Plan {
    let r = &p.row;
    let plan_name = name("plans", r.id);
    let mut out = api::Plan::decode(r.template.as_slice()).unwrap_or_default();
    out.stops = p
        .stops
        .iter()
        .map(|s| {
            let mut stop = api::PlanStop::decode(s.stop.as_slice()).unwrap_or_default();
            stop.name = format!("{plan_name}/stops/{}", s.id);
            stop.last_request = s
                .last_request_id
                .map(|id| name("requests", id))
                .unwrap_or_default();
            stop
        })
        .collect();
    out.state = if r.paused_at.is_some() {
        api::PlanState::Paused
    } else if r.next_run_at.is_none() {
        api::PlanState::Ended
    } else {
        api::PlanState::Active
    } as i32;
    out.next_run_time = r
        .next_run_at
        .filter(|_| r.paused_at.is_none())
        .map(timestamp);
    out.pause_reason = r.pause_reason.clone();
    out.region = r.region.clone();
    out.organization = r
        .organization_id
        .map(|o| name("organizations", o))
        .unwrap_or_default();
    out.display_name = r.display_name.clone();
    out.create_time = Some(timestamp(r.created_at));
    out.update_time = Some(timestamp(r.updated_at));
    out.etag = r.version.to_string();
    out.name = plan_name;
    out
}

pub fn plan_run(run: &PlanRunRow) -> api::PlanRun {
    api::PlanRun {
        stop: format!("{}/stops/{}", name("plans", run.plan_id), run.stop_id),
        occurrence_time: Some(timestamp(run.occurrence_at)),
        request: run
            .request_id
            .map(|id| name("requests", id))
            .unwrap_or_default(),
        reference_code: run.reference_code.clone().unwrap_or_default(),
        skipped_reason: run.skipped_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_use_protobuf_names() {
        assert_eq!(
            category_label("3"),
            pb::Category::try_from(3).unwrap().as_str_name()
        );
        assert_eq!(status_label("6"), "REQUEST_STATUS_RESOLVED");
        assert_eq!(status_label("x"), "x");
    }
}
