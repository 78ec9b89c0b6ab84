//! The events triage publishes, built from its stored decisions.

use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{name, name_or_empty, place, timestamp};

use crate::store::DecisionRow;

pub fn triaged(d: &DecisionRow) -> ev::RequestTriaged {
    ev::RequestTriaged {
        request: name("requests", d.request_id),
        reference_code: d.reference_code.clone(),
        category: d.category.into(),
        priority: d.priority.into(),
        required_skills: d.required_skills.iter().map(|s| i32::from(*s)).collect(),
        confidence: d.confidence,
        // "rule=term|term" as stored: the terms are the note's own words.
        fired_rules: d
            .fired_rules
            .iter()
            .map(|f| {
                f.split_once('=')
                    .map_or(f.as_str(), |(id, _)| id)
                    .to_string()
            })
            .collect(),
        rules_version: d.rules_version.clone(),
        overridden: d.overridden,
        possible_duplicate_of: name_or_empty("requests", d.possible_duplicate_of),
        location: Some(place(d.lat, d.lon, &d.settlement, &d.district, &d.region)),
        cargo_tonnes: d.cargo_tonnes,
        people_count: d.people_count,
        decide_time: Some(timestamp(d.decided_at)),
        quantity: (d.quantity_value > 0.0 || !d.quantity_unit.is_empty()).then(|| {
            komek_proto::types::v1::Quantity {
                value: d.quantity_value,
                unit: d.quantity_unit.clone(),
            }
        }),
        unclassified: d.unclassified,
        model_version: d.model_version.clone(),
    }
}

pub fn merged(d: &DecisionRow, reason: &str) -> ev::RequestMerged {
    ev::RequestMerged {
        request: name("requests", d.request_id),
        merged_into: name_or_empty("requests", d.merged_into),
        reason: reason.to_string(),
        merge_time: Some(timestamp(chrono::Utc::now())),
    }
}
