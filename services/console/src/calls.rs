//! The new-call form, made for typing while on the phone, and the page that shows the
//! reference code to read back to the caller.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use komek_i18n::text;
use komek_proto::intake::v1 as intake;
use komek_proto::places::v1 as places_api;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::pages::{escape, layout, t};
use crate::view::{self, select};
use crate::{Shared, User, html};

/// What the form posts. Every field is text, so a wrong number comes back to the operator
/// with the form as typed instead of a bare 422.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct CallForm {
    pub csrf: String,
    pub request_id: String,
    pub channel: String,
    pub anonymous: String,
    pub caller_name: String,
    pub caller_phone: String,
    pub caller_language: String,
    pub place: String,
    pub lat: String,
    pub lon: String,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub address: String,
    /// Without script: the settlement chosen among several of the typed name, as
    /// "lat|lon|settlement|district|region".
    pub pick: String,
    pub note: String,
    pub volunteer_note: String,
    pub people: String,
    pub quantity: String,
    pub unit: String,
    pub category: String,
    pub priority: String,
}

const UNITS: [&str; 4] = ["t", "m3", "kg", "pcs"];

pub async fn new_call(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let form = CallForm {
        request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline.as_str_name().into(),
        ..Default::default()
    };
    html(page(&user, &form, &[], None, &[]))
}

/// Records the call. A refusal brings the form back as typed with the fields at fault marked;
/// the idempotency key stays, so sending again after a lost reply records the call once.
pub async fn create(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(mut form): Form<CallForm>,
) -> Response {
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if uuid::Uuid::parse_str(&form.request_id).is_err() {
        form.request_id = uuid::Uuid::new_v4().to_string();
    }
    let mut local = Vec::new();
    let mut choices = Vec::new();
    // Without script the operator types the settlement and picks no suggestion: a name only
    // one settlement has is taken; several of that name come back as choices to pick from.
    if form.lat.is_empty() && !form.pick.is_empty() {
        let parts: Vec<&str> = form.pick.splitn(5, '|').collect();
        if let [lat, lon, settlement, district, region] = parts[..] {
            form.lat = lat.to_string();
            form.lon = lon.to_string();
            form.settlement = settlement.to_string();
            form.district = district.to_string();
            form.region = region.to_string();
        }
    }
    if form.lat.is_empty() && !form.place.trim().is_empty() {
        let mut client = match console.place_client(&user) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let found = client
            .search_settlements(places_api::SearchSettlementsRequest {
                query: form.place.trim().chars().take(100).collect(),
                page_size: 10,
                region: String::new(),
            })
            .await
            .map(|r| r.into_inner().settlements)
            .unwrap_or_default();
        let exact: Vec<&places_api::Settlement> = found
            .iter()
            .filter(|s| s.fit == places_api::SettlementFit::Exact as i32)
            .collect();
        if let [s] = exact.as_slice() {
            let p = s.point.unwrap_or_default();
            form.lat = p.latitude.to_string();
            form.lon = p.longitude.to_string();
            form.settlement = s.name_en.clone();
            form.district = s.district.clone();
            form.region = s.region.clone();
        } else {
            local.push("location".to_string());
            choices = found;
        }
    }
    let people = match form.people.trim() {
        "" => 0,
        s => s.parse::<i32>().unwrap_or_else(|_| {
            local.push("people_count".into());
            0
        }),
    };
    let quantity = match form.quantity.trim().replace(',', ".").as_str() {
        "" => None,
        s => match s.parse::<f64>() {
            Ok(value) => Some(pb::Quantity {
                value,
                unit: form.unit.clone(),
            }),
            Err(_) => {
                local.push("quantity".into());
                None
            }
        },
    };
    let point = match (form.lat.parse::<f64>(), form.lon.parse::<f64>()) {
        (Ok(latitude), Ok(longitude)) => Some(pb::LatLng {
            latitude,
            longitude,
        }),
        _ => None,
    };
    if !local.is_empty() {
        let status = komek_runtime::boundary::invalid_argument(
            &local
                .iter()
                .map(|f| komek_runtime::boundary::FieldViolation::new(f.as_str(), ""))
                .collect::<Vec<_>>(),
        );
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            html(page(&user, &form, &local, Some(&status), &choices)),
        )
            .into_response();
    }
    let anonymous = form.anonymous == "on";
    let caller = intake::Caller {
        display_name: if anonymous {
            String::new()
        } else {
            form.caller_name.trim().to_string()
        },
        phone: if anonymous {
            String::new()
        } else {
            form.caller_phone.trim().to_string()
        },
        preferred_language: pb::Language::from_str_name(&form.caller_language)
            .map_or(0, |l| l as i32),
        anonymous,
    };
    let request = intake::CreateRequestRequest {
        request_id: form.request_id.clone(),
        channel: pb::Channel::from_str_name(&form.channel).map_or(0, |c| c as i32),
        caller: Some(caller),
        location: Some(pb::Location {
            point,
            address: form.address.trim().to_string(),
            settlement: form.settlement.clone(),
            district: form.district.clone(),
            region: form.region.clone(),
            ..Default::default()
        }),
        description: form.note.trim().to_string(),
        volunteer_note: form.volunteer_note.trim().to_string(),
        operator_category: pb::Category::from_str_name(&form.category).map_or(0, |c| c as i32),
        operator_priority: pb::Priority::from_str_name(&form.priority).map_or(0, |p| p as i32),
        people_count: people,
        quantity,
        wanted_window: None,
    };
    let mut client = match console.intake_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match client.create_request(request).await {
        Ok(reply) => {
            let created = reply.into_inner();
            let id = created.name.trim_start_matches("requests/");
            Redirect::to(&format!("/calls/{id}/saved")).into_response()
        }
        Err(status) => {
            let fields = view::violated_fields(&status);
            let code = if status.code() == tonic::Code::InvalidArgument {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            (code, html(page(&user, &form, &fields, Some(&status), &[]))).into_response()
        }
    }
}

/// After saving: the reference code, large, to read back to the caller, and the next call.
pub async fn saved(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let mut client = match console.intake_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let reply = client
        .get_request(intake::GetRequestRequest {
            name: format!("requests/{id}"),
        })
        .await;
    let request = match reply {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let body = view::refusal_block(lang, &status);
            return (
                StatusCode::BAD_GATEWAY,
                html(layout(
                    lang,
                    &t(lang, "saved-title"),
                    Some(&user.session),
                    &body,
                )),
            )
                .into_response();
        }
    };
    let code = escape(&request.reference_code);
    let body = format!(
        r#"<div class="card saved" role="status">
<p>{read_back}</p>
<p class="refcode" aria-label="{code_label}">{code}</p>
<p class="muted">{place}</p>
<p class="actions"><a class="button" href="/calls/new" autofocus>{next}</a> <a href="/requests/{id}">{open}</a></p>
</div>"#,
        read_back = t(lang, "saved-read-back"),
        code_label = t(lang, "reference-code"),
        place = escape(&view::place(lang, request.location.as_ref())),
        next = t(lang, "saved-next-call"),
        open = t(lang, "saved-open-request"),
        id = escape(&id),
    );
    html(layout(
        lang,
        &t(lang, "saved-title"),
        Some(&user.session),
        &body,
    ))
}

/// The form, with what was typed and the fields at fault marked.
fn page(
    user: &User,
    form: &CallForm,
    bad: &[String],
    status: Option<&tonic::Status>,
    choices: &[places_api::Settlement],
) -> String {
    let lang = user.lang;
    // Settlements of the typed name, to pick one without script.
    let picks = if choices.is_empty() {
        String::new()
    } else {
        let items: String = choices
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = s.point.unwrap_or_default();
                let value = format!(
                    "{}|{}|{}|{}|{}",
                    p.latitude, p.longitude, s.name_en, s.district, s.region
                );
                let place = view::place(
                    lang,
                    Some(&pb::Location {
                        settlement: s.name_en.clone(),
                        district: s.district.clone(),
                        region: s.region.clone(),
                        ..Default::default()
                    }),
                );
                format!(
                    r#"<div class="check"><input type="radio" id="pick-{i}" name="pick" value="{value}"><label for="pick-{i}">{place}</label></div>"#,
                    value = escape(&value),
                    place = escape(&place),
                )
            })
            .collect();
        format!(
            r#"<fieldset class="picks"><legend>{}</legend>{items}</fieldset>"#,
            t(lang, "call-pick-one")
        )
    };
    let flagged = |field: &str| -> String {
        let hit = bad
            .iter()
            .any(|b| b == field || b.starts_with(&format!("{field}.")));
        if hit {
            format!(
                r#" aria-invalid="true" aria-describedby="{id}-error""#,
                id = field.replace('.', "-")
            )
        } else {
            String::new()
        }
    };
    let error_for = |field: &str, key: &str| -> String {
        let hit = bad
            .iter()
            .any(|b| b == field || b.starts_with(&format!("{field}.")));
        if hit {
            format!(
                r#"<p class="error" id="{id}-error">{msg}</p>"#,
                id = field.replace('.', "-"),
                msg = t(lang, key)
            )
        } else {
            String::new()
        }
    };
    let alert = status
        .map(|s| view::refusal_block(lang, s))
        .unwrap_or_default();
    let channels = view::names(|c: &pb::Channel| c.as_str_name());
    let languages = view::names(|l: &pb::Language| l.as_str_name());
    let units: String = UNITS
        .iter()
        .map(|u| {
            let sel = if form.unit == *u { " selected" } else { "" };
            format!(
                r#"<option value="{u}"{sel}>{}</option>"#,
                t(lang, &format!("unit-{u}"))
            )
        })
        .collect();
    let anonymous = if form.anonymous == "on" {
        " checked"
    } else {
        ""
    };
    let chosen = if form.lat.is_empty() {
        String::new()
    } else {
        escape(&view::place(
            lang,
            Some(&pb::Location {
                settlement: form.settlement.clone(),
                district: form.district.clone(),
                region: form.region.clone(),
                ..Default::default()
            }),
        ))
    };
    let body = format!(
        r#"{alert}
<form method="post" action="/calls" class="card call" id="call-form" autocomplete="off" novalidate>
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="request_id" value="{request_id}">
<div class="row">
<div><label for="channel">{l_channel}</label>{channel}</div>
<div class="check"><input type="checkbox" id="anonymous" name="anonymous"{anonymous}><label for="anonymous">{l_anonymous}</label></div>
</div>
<fieldset class="row caller" id="caller"><legend>{l_caller}</legend>
<div><label for="caller_name">{l_name}</label><input type="text" id="caller_name" name="caller_name" value="{caller_name}"{f_name}>{e_name}</div>
<div><label for="caller_phone">{l_phone}</label><input type="tel" id="caller_phone" name="caller_phone" value="{caller_phone}" placeholder="8 701 555 44 21" aria-describedby="phone-hint"{f_phone}><small id="phone-hint" class="muted">{phone_hint}</small>{e_phone}</div>
<div><label for="caller_language">{l_lang}</label>{language}</div>
</fieldset>
<div class="combo" data-places>
<label for="place">{l_place}</label>
<input type="text" id="place" name="place" value="{place}" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="place-list" aria-describedby="place-chosen"{f_place} required>
<div id="place-list" class="suggestions"></div>
<p id="place-chosen" class="muted" aria-live="polite">{chosen}</p>{e_place}{picks}
<input type="hidden" name="lat" value="{lat}"><input type="hidden" name="lon" value="{lon}">
<input type="hidden" name="settlement" value="{settlement}"><input type="hidden" name="district" value="{district}"><input type="hidden" name="region" value="{region}">
</div>
<div><label for="address">{l_address}</label><input type="text" id="address" name="address" value="{address}"{f_address}>{e_address}</div>
<div><label for="note">{l_note}</label><textarea id="note" name="note" rows="4" required{f_note}>{note}</textarea>{e_note}</div>
<div><label for="volunteer_note">{l_vnote}</label><textarea id="volunteer_note" name="volunteer_note" rows="2" aria-describedby="vnote-hint"{f_vnote}>{vnote}</textarea><small id="vnote-hint" class="muted">{vnote_hint}</small>{e_vnote}</div>
<div class="row">
<div><label for="people">{l_people}</label><input type="number" id="people" name="people" min="0" value="{people}"{f_people}>{e_people}</div>
<div><label for="quantity">{l_quantity}</label><input type="text" inputmode="decimal" id="quantity" name="quantity" value="{quantity}"{f_quantity}>{e_quantity}</div>
<div><label for="unit">{l_unit}</label><select id="unit" name="unit">{units}</select></div>
</div>
<div class="row">
<div><label for="category">{l_category}</label>{category}</div>
<div><label for="priority">{l_priority}</label>{priority}</div>
</div>
<p><button type="submit">{save}</button> <span class="muted">{save_hint}</span></p>
</form>"#,
        csrf = escape(&user.session.csrf),
        request_id = escape(&form.request_id),
        l_channel = t(lang, "call-channel"),
        channel = select(lang, "channel", &channels, &form.channel, None),
        l_anonymous = t(lang, "call-anonymous"),
        l_caller = t(lang, "call-caller"),
        l_name = t(lang, "field-caller-display-name"),
        caller_name = escape(&form.caller_name),
        f_name = flagged("caller.display_name"),
        e_name = error_for("caller.display_name", "call-name-error"),
        l_phone = t(lang, "field-caller-phone"),
        caller_phone = escape(&form.caller_phone),
        phone_hint = t(lang, "call-phone-hint"),
        f_phone = flagged("caller.phone"),
        e_phone = error_for("caller.phone", "call-phone-error"),
        l_lang = t(lang, "call-caller-language"),
        language = select(
            lang,
            "caller_language",
            &languages,
            &form.caller_language,
            Some("call-not-said")
        ),
        l_place = t(lang, "call-place"),
        place = escape(&form.place),
        f_place = flagged("location"),
        e_place = error_for("location", "call-place-error"),
        lat = escape(&form.lat),
        lon = escape(&form.lon),
        settlement = escape(&form.settlement),
        district = escape(&form.district),
        region = escape(&form.region),
        l_address = t(lang, "field-location-address"),
        address = escape(&form.address),
        f_address = flagged("location.address"),
        e_address = error_for("location.address", "call-text-error"),
        l_note = t(lang, "field-description"),
        note = escape(&form.note),
        f_note = flagged("description"),
        e_note = error_for("description", "call-note-error"),
        l_vnote = t(lang, "field-volunteer-note"),
        vnote = escape(&form.volunteer_note),
        f_vnote = flagged("volunteer_note"),
        e_vnote = error_for("volunteer_note", "call-text-error"),
        vnote_hint = t(lang, "call-volunteer-note-hint"),
        l_people = t(lang, "field-people-count"),
        people = escape(&form.people),
        f_people = flagged("people_count"),
        e_people = error_for("people_count", "call-number-error"),
        l_quantity = t(lang, "field-quantity"),
        quantity = escape(&form.quantity),
        f_quantity = flagged("quantity"),
        e_quantity = error_for("quantity", "call-number-error"),
        l_unit = t(lang, "call-unit"),
        l_category = t(lang, "field-operator-category"),
        category = select(
            lang,
            "category",
            &view::categories(),
            &form.category,
            Some("call-triage-decides")
        ),
        l_priority = t(lang, "field-operator-priority"),
        priority = select(
            lang,
            "priority",
            &view::priorities(),
            &form.priority,
            Some("call-triage-decides")
        ),
        save = t(lang, "call-save"),
        save_hint = t(lang, "call-save-hint"),
    );
    layout(lang, &text(lang, "call-title"), Some(&user.session), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Session;
    use komek_i18n::Lang;

    fn user(lang: Lang) -> User {
        User {
            lang,
            id: "session".into(),
            session: Session {
                key: "k".into(),
                subject: "dispatchers/aigerim".into(),
                role: "ROLE_DISPATCHER".into(),
                csrf: "token".into(),
                expires: std::time::Instant::now(),
                jobs: vec![],
            },
        }
    }

    #[test]
    fn the_form_keeps_what_was_typed_and_marks_the_refused_field() {
        let form = CallForm {
            caller_phone: "8 701 <b>".into(),
            note: "Көмір керек".into(),
            ..Default::default()
        };
        for lang in Lang::ALL {
            let page = page(&user(lang), &form, &["caller.phone".into()], None, &[]);
            assert!(page.contains("8 701 &lt;b&gt;"));
            assert!(page.contains("Көмір керек"));
            assert!(page.contains(r#"aria-describedby="caller-phone-error""#));
            assert!(page.contains(&escape(&text(lang, "call-phone-error"))));
            assert!(!page.contains("CATEGORY_FUEL_DELIVERY<"), "enum shown raw");
            assert!(
                !page.contains(">call-") && !page.contains(">field-"),
                "untranslated key"
            );
        }
    }
}
