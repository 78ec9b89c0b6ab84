//! Pieces every page uses: names of places in the reader's language, times in the hotline's
//! zone, enum pickers, and refusals from the API told as sentences.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use komek_i18n::{Arg, Lang, enum_label, text, text_with};
use komek_places::Gazetteer;
use komek_places::admin::Admin;
use komek_proto::types::v1 as pb;
use tonic_types::StatusExt;

use crate::pages::{escape, t};

/// Every region (Kazakhstan's and Belarus's) by the English name requests carry, sorted by
/// its name in `lang`.
pub fn regions(lang: Lang) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Admin::get()
        .regions()
        .iter()
        .map(|r| (r.name_en.to_string(), r.name(lang.code()).to_string()))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// A region's name in `lang`, given the English one; unknown regions as recorded.
pub fn region_name(lang: Lang, en: &str) -> String {
    Admin::get()
        .region(en)
        .map_or_else(|| en.to_string(), |r| r.name(lang.code()).to_string())
}

/// Local names of settlements and districts, keyed by region and English name.
struct Local {
    settlements: HashMap<(String, String), (String, String)>,
    districts: HashMap<(String, String), String>,
}

fn local() -> &'static Local {
    static LOCAL: OnceLock<Local> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let mut settlements = HashMap::new();
        let mut districts = HashMap::new();
        for p in Gazetteer::kazakhstan().places() {
            settlements
                .entry((p.region.clone(), p.name_en.clone()))
                .or_insert_with(|| (p.name_kk.clone(), p.name_ru.clone()));
            if !p.district_ru.is_empty() {
                districts
                    .entry((p.region.clone(), p.district.clone()))
                    .or_insert_with(|| p.district_ru.clone());
            }
        }
        Local {
            settlements,
            districts,
        }
    })
}

/// "Settlement, district, region" of a location in `lang`, as far as the gazetteer knows the
/// local names; what it does not know is shown as recorded.
pub fn place(lang: Lang, location: Option<&pb::Location>) -> String {
    let Some(l) = location else {
        return String::new();
    };
    let key = (l.region.clone(), l.settlement.clone());
    let settlement = match (lang, local().settlements.get(&key)) {
        (Lang::Kk, Some((kk, ru))) => pick(&[kk, ru, &l.settlement]),
        (Lang::Ru, Some((kk, ru))) => pick(&[ru, kk, &l.settlement]),
        _ => l.settlement.clone(),
    };
    let district = match lang {
        Lang::En => l.district.clone(),
        _ => local()
            .districts
            .get(&(l.region.clone(), l.district.clone()))
            .cloned()
            .unwrap_or_else(|| l.district.clone()),
    };
    let region = if l.region.is_empty() {
        String::new()
    } else {
        region_name(lang, &l.region)
    };
    [settlement, district, region]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn pick(names: &[&String]) -> String {
    names
        .iter()
        .find(|n| !n.is_empty())
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The hotlines' clock: Kazakhstan keeps one zone, UTC+5, since March 2024.
pub fn zone() -> Tz {
    chrono_tz::Asia::Almaty
}

pub fn time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
}

/// "30.11 14:05" in the hotline's zone, inside a `<time>` element.
pub fn when(ts: Option<&prost_types::Timestamp>) -> String {
    match time(ts) {
        Some(t) => format!(
            r#"<time datetime="{}">{}</time>"#,
            t.to_rfc3339(),
            t.with_timezone(&zone()).format("%d.%m %H:%M")
        ),
        None => String::new(),
    }
}

/// How long ago, in minutes, hours or days, in `lang`.
pub fn ago(lang: Lang, ts: Option<&prost_types::Timestamp>, now: DateTime<Utc>) -> String {
    let Some(t) = time(ts) else {
        return String::new();
    };
    let minutes = (now - t).num_minutes().max(0);
    let (key, n) = if minutes < 60 {
        ("ago-minutes", minutes)
    } else if minutes < 48 * 60 {
        ("ago-hours", minutes / 60)
    } else {
        ("ago-days", minutes / (24 * 60))
    };
    escape(&text_with(lang, key, &[("count", Arg::Num(n as f64))]))
}

/// A `<select>` of enum values by their protobuf names, labelled in `lang`, with an empty
/// first choice labelled by `empty` when given.
pub fn select(
    lang: Lang,
    name: &str,
    values: &[&str],
    selected: &str,
    empty: Option<&str>,
) -> String {
    let mut out = format!(r#"<select id="{name}" name="{name}">"#);
    if let Some(key) = empty {
        out.push_str(&format!(r#"<option value="">{}</option>"#, t(lang, key)));
    }
    for v in values {
        let sel = if *v == selected { " selected" } else { "" };
        out.push_str(&format!(
            r#"<option value="{v}"{sel}>{}</option>"#,
            escape(&enum_label(lang, v))
        ));
    }
    out.push_str("</select>");
    out
}

/// Protobuf names of an enum's values, UNSPECIFIED left out.
pub fn names<E: TryFrom<i32>>(name: impl Fn(&E) -> &'static str) -> Vec<&'static str> {
    (1..64)
        .filter_map(|i| E::try_from(i).ok())
        .map(|e| name(&e))
        .collect()
}

pub fn categories() -> Vec<&'static str> {
    names(|c: &pb::Category| c.as_str_name())
}

pub fn priorities() -> Vec<&'static str> {
    names(|p: &pb::Priority| p.as_str_name())
}

pub fn label_of<E: TryFrom<i32>>(
    lang: Lang,
    value: i32,
    name: impl Fn(&E) -> &'static str,
) -> String {
    match E::try_from(value) {
        Ok(e) if value != 0 => escape(&enum_label(lang, name(&e))),
        _ => String::new(),
    }
}

pub fn category(lang: Lang, value: i32) -> String {
    label_of(lang, value, |c: &pb::Category| c.as_str_name())
}

pub fn priority(lang: Lang, value: i32) -> String {
    match pb::Priority::try_from(value) {
        Ok(p) if value != 0 => format!(
            r#"<span class="prio {cls}">{label}</span>"#,
            cls = p.as_str_name().to_ascii_lowercase().replace('_', "-"),
            label = escape(&enum_label(lang, p.as_str_name()))
        ),
        _ => String::new(),
    }
}

pub fn request_status(lang: Lang, value: i32) -> String {
    label_of(lang, value, |s: &pb::RequestStatus| s.as_str_name())
}

pub fn assignment_status(lang: Lang, value: i32) -> String {
    label_of(lang, value, |s: &pb::AssignmentStatus| s.as_str_name())
}

pub fn reasons(lang: Lang, values: &[i32]) -> String {
    values
        .iter()
        .map(|r| label_of(lang, *r, |x: &pb::IneligibleReason| x.as_str_name()))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The fields an INVALID_ARGUMENT names, from its `google.rpc.BadRequest` detail.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// The message key naming a request field, e.g. `field-caller-phone` for `caller.phone`.
pub fn field_key(field: &str) -> String {
    let mut key = String::from("field-");
    for c in field.chars() {
        key.push(match c {
            '.' | '_' => '-',
            c => c.to_ascii_lowercase(),
        });
    }
    key
}

/// A field's name in `lang`; fields without a name of their own are "a field of the form".
pub fn field_name(lang: Lang, field: &str) -> String {
    let key = field_key(field);
    if komek_i18n::has(lang, &key) {
        text(lang, &key)
    } else {
        // Nested paths name their top field: "location.point.latitude" is the place.
        let top = field.split('.').next().unwrap_or(field);
        let key = field_key(top);
        if komek_i18n::has(lang, &key) {
            text(lang, &key)
        } else {
            text(lang, "field-other")
        }
    }
}

/// The API's refusal as a sentence in `lang`: which fields to correct, or what happened and
/// what to do. Never the status code or the English message.
pub fn refusal(lang: Lang, status: &tonic::Status) -> String {
    use tonic::Code;
    let key = match status.code() {
        Code::InvalidArgument => {
            let mut fields: Vec<String> = violated_fields(status)
                .iter()
                .map(|f| field_name(lang, f))
                .collect();
            fields.dedup();
            if fields.is_empty() {
                return text(lang, "refusal-invalid");
            }
            return text_with(
                lang,
                "refusal-fields",
                &[("fields", Arg::Str(&fields.join(", ")))],
            );
        }
        Code::PermissionDenied => "refusal-permission",
        Code::Unauthenticated => "refusal-unauthenticated",
        Code::NotFound => "refusal-not-found",
        Code::AlreadyExists => "refusal-already-exists",
        Code::FailedPrecondition => "refusal-precondition",
        Code::Aborted => "refusal-aborted",
        Code::ResourceExhausted => "refusal-exhausted",
        Code::Unavailable | Code::DeadlineExceeded => "refusal-unavailable",
        _ => "refusal-internal",
    };
    text(lang, key)
}

/// The refusal as an alert block.
pub fn refusal_block(lang: Lang, status: &tonic::Status) -> String {
    format!(
        r#"<p class="error" role="alert">{}</p>"#,
        escape(&refusal(lang, status))
    )
}

/// Which part of triage a fired rule is, as a message key: the model, a rule of a kind, the
/// numbers, the operator. Shown before the words it matched, so a dispatcher reads who decided.
pub fn triage_part(rule_id: &str) -> &'static str {
    let kind = rule_id.split('.').next().unwrap_or("");
    match (kind, rule_id) {
        (_, "model.category") => "triage-part-model-category",
        (_, "model.critical_risk") => "triage-part-model-critical-risk",
        ("model", _) => "triage-part-model-priority",
        ("category", _) => "triage-part-rule-category",
        ("closure", _) => "triage-part-closure",
        ("numbers", _) => "triage-part-numbers",
        ("triage", _) => "triage-part-unclassified",
        ("duplicate", _) => "triage-part-duplicate",
        ("operator", _) => "triage-part-operator",
        _ => "triage-part-rule-priority",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use komek_runtime::boundary::{FieldViolation, invalid_argument};

    #[test]
    fn regions_of_both_countries_are_named_in_the_readers_language() {
        let kk = regions(Lang::Kk);
        assert_eq!(kk.len(), 27);
        assert!(kk.contains(&("Minsk Region".into(), "Минск облысы".into())));
        assert!(kk.contains(&("Almaty Region".into(), "Алматы облысы".into())));
        assert_eq!(
            region_name(Lang::Ru, "Almaty Region"),
            "Алматинская область"
        );
        assert_eq!(region_name(Lang::Ru, "Minsk"), "Минск");
        assert_eq!(region_name(Lang::Kk, "Nowhere"), "Nowhere");
    }

    #[test]
    fn a_refused_field_is_named_in_the_readers_language() {
        let status = invalid_argument(&[FieldViolation::new("caller.phone", "not a phone")]);
        let ru = refusal(Lang::Ru, &status);
        assert!(ru.contains(&text(Lang::Ru, "field-caller-phone")), "{ru}");
        assert!(!ru.contains("caller.phone") && !ru.contains("not a phone"));
        let kk = refusal(Lang::Kk, &status);
        assert!(kk.contains(&text(Lang::Kk, "field-caller-phone")), "{kk}");
        // A nested field is named by the field it belongs to.
        let status = invalid_argument(&[FieldViolation::new("location.point.latitude", "x")]);
        assert!(refusal(Lang::En, &status).contains(&text(Lang::En, "field-location")));
    }

    #[test]
    fn every_refusal_is_a_translated_sentence() {
        for code in [
            tonic::Code::PermissionDenied,
            tonic::Code::FailedPrecondition,
            tonic::Code::Unavailable,
            tonic::Code::Internal,
            tonic::Code::NotFound,
        ] {
            for lang in Lang::ALL {
                let s = refusal(lang, &tonic::Status::new(code, "english detail"));
                assert!(
                    !s.contains("english detail") && !s.starts_with("refusal-"),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn places_are_named_in_the_readers_language() {
        let l = pb::Location {
            settlement: "Qyzylorda".into(),
            region: "Kyzylorda Region".into(),
            ..Default::default()
        };
        let ru = place(Lang::Ru, Some(&l));
        assert!(ru.contains("Кызылорда"), "{ru}");
        let kk = place(Lang::Kk, Some(&l));
        assert!(kk.contains("Қызылорда"), "{kk}");
        assert!(place(Lang::En, Some(&l)).starts_with("Qyzylorda"));
    }
}
