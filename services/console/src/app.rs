//! The volunteer's app, under `/app`: made for a phone. Signed in with a one-time link a
//! dispatcher makes; offers arrive live from the offer stream (resuming from its cursor after
//! the phone sleeps or the network drops); accept, or decline with a reason; then the job: the
//! caller's contact and address, the way there, the progress steps, and the phone's position
//! while on the way.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use komek_i18n::{Arg, Lang, text_with};
use komek_proto::access::v1 as access;
use komek_proto::matching::v1 as matching;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::pages::{escape, layout, t};
use crate::queues::url_encode;
use crate::view;
use crate::{Shared, User, html};

/// How long a sign-in link works.
const JOIN_MINUTES: u64 = 15;

const DECLINE_REASONS: [&str; 4] = [
    "decline-busy",
    "decline-too-far",
    "decline-no-vehicle",
    "decline-not-our-work",
];

fn is_volunteer(user: &User) -> bool {
    user.session.role == "ROLE_VOLUNTEER"
}

/// The volunteer signed in, or the page that says how to sign in.
fn volunteer(console: &Shared, headers: &HeaderMap) -> Result<User, Response> {
    match console.user(headers) {
        Ok(u) if is_volunteer(&u) => Ok(u),
        // A dispatcher's session has no offers: back to the desk.
        Ok(_) => Err(Redirect::to("/").into_response()),
        Err(_) => {
            let lang = crate::lang_of(headers);
            let body = format!(r#"<p class="card">{}</p>"#, t(lang, "app-sign-in-how"));
            Err((
                StatusCode::UNAUTHORIZED,
                html(layout(lang, &t(lang, "volunteer-app-title"), None, &body)),
            )
                .into_response())
        }
    }
}

/// A refused call ends the session when the key is no longer good (revoked, expired).
fn ended_if_unauthenticated(console: &Shared, user: &User, status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::Unauthenticated {
        console.sessions.end(&user.id);
        return true;
    }
    false
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    csrf: String,
    volunteer: String,
}

/// A dispatcher makes a one-time sign-in link for a volunteer's phone: a volunteer key is
/// issued with the dispatcher's own key, and kept in memory until the phone opens the link.
pub async fn make_link(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Response {
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let mut client = match console.access_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let issued = client
        .create_api_key(access::CreateApiKeyRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: format!("phone, by {}", user.session.subject),
                role: pb::Role::Volunteer as i32,
                subject: form.volunteer.clone(),
                ..Default::default()
            }),
        })
        .await;
    let body = match issued {
        Ok(reply) => {
            let secret = reply.into_inner().secret;
            let code = console.join_codes.issue(
                secret,
                form.volunteer.clone(),
                Duration::from_secs(JOIN_MINUTES * 60),
            );
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let scheme = if console.config.secure_cookies {
                "https"
            } else {
                "http"
            };
            let link = format!("{scheme}://{host}/app/join/{code}");
            format!(
                r#"<div class="card saved"><p>{explain}</p>{qr}<p class="joinlink"><a href="{link}" id="join-link">{link}</a></p><p class="muted">{valid}</p><p><a href="/roster">{back}</a></p></div>"#,
                explain = t(lang, "app-link-explain"),
                qr = qr_code(&link, &t(lang, "app-link-qr")),
                link = escape(&link),
                valid = escape(&text_with(
                    lang,
                    "app-link-valid",
                    &[("minutes", Arg::Num(JOIN_MINUTES as f64))]
                )),
                back = t(lang, "back-home"),
            )
        }
        Err(status) => view::refusal_block(lang, &status),
    };
    html(layout(
        lang,
        &t(lang, "app-link-title"),
        Some(&user.session),
        &body,
    ))
}

/// The link as a QR code for the phone's camera, an inline SVG image.
fn qr_code(link: &str, label: &str) -> String {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .build();
            // The rendering starts with an XML declaration, which has no place inside HTML.
            let at = svg.find("<svg").unwrap_or(0);
            svg[at..].replacen(
                "<svg ",
                &format!(r#"<svg class="qr" role="img" aria-label="{label}" "#),
                1,
            )
        }
        Err(_) => String::new(),
    }
}

/// The link's page: a button that signs this phone in. Opening the link does nothing by
/// itself, so a chat app's preview cannot use the code up.
pub async fn join_page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let lang = crate::lang_of(&headers);
    if !console.join_codes.is_live(&code) {
        let body = format!(r#"<p class="error">{}</p>"#, t(lang, "app-link-expired"));
        return (
            StatusCode::NOT_FOUND,
            html(layout(lang, &t(lang, "volunteer-app-title"), None, &body)),
        )
            .into_response();
    }
    let body = format!(
        r#"<form method="post" action="/app/join/{code}" class="card"><p>{explain}</p><button type="submit" class="big">{go}</button></form>"#,
        code = escape(&url_encode(&code)),
        explain = t(lang, "app-join-explain"),
        go = t(lang, "app-join-submit"),
    );
    html(layout(lang, &t(lang, "volunteer-app-title"), None, &body))
}

pub async fn join(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let lang = crate::lang_of(&headers);
    if !crate::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, html(crate::pages::refused(lang))).into_response();
    }
    let Some((key, subject)) = console.join_codes.redeem(&code) else {
        let body = format!(r#"<p class="error">{}</p>"#, t(lang, "app-link-expired"));
        return (
            StatusCode::NOT_FOUND,
            html(layout(lang, &t(lang, "volunteer-app-title"), None, &body)),
        )
            .into_response();
    };
    let ttl = Duration::from_secs(console.config.session_minutes * 60);
    let id = console
        .sessions
        .start(key, subject.clone(), "ROLE_VOLUNTEER".into(), ttl);
    tracing::info!(subject = %subject, "volunteer phone signed in");
    let cookie = crate::session_cookie(&id, ttl, console.config.secure_cookies);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/app")).into_response()
}

/// The offers and the volunteer's jobs. Offers are filled in by the page's script from
/// `/app/offers`; the jobs are the ones accepted on this phone.
pub async fn home(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let user = match volunteer(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let jobs: String = user
        .session
        .jobs
        .iter()
        .map(|j| {
            let id = j.trim_start_matches("assignments/");
            format!(
                r#"<li><a href="/app/jobs/{id}">{label}</a></li>"#,
                id = escape(id),
                label = t(lang, "app-job-open"),
            )
        })
        .collect();
    let jobs = if jobs.is_empty() {
        String::new()
    } else {
        format!(
            r#"<section class="card"><h2>{}</h2><ul class="jobs">{jobs}</ul></section>"#,
            t(lang, "app-jobs")
        )
    };
    let body = format!(
        r#"{jobs}<section aria-labelledby="h-offers"><h2 id="h-offers">{offers}</h2>
<p class="muted" id="offers-state" data-connecting="{connecting}" data-live="{live}" data-offline="{offline}" aria-live="polite">{connecting}</p>
<div id="offers" data-offer-stream="/app/offers" aria-live="polite"><p class="empty" id="no-offers">{none}</p></div>
<template id="decline-reasons">{reasons}</template>
<input type="hidden" id="csrf" value="{csrf}">
</section>"#,
        offers = t(lang, "app-offers"),
        connecting = t(lang, "app-connecting"),
        live = t(lang, "app-live"),
        offline = t(lang, "app-offline"),
        none = t(lang, "app-no-offers"),
        reasons = DECLINE_REASONS
            .iter()
            .map(|r| format!(r#"<option value="{r}">{}</option>"#, t(lang, r)))
            .collect::<String>(),
        csrf = escape(&user.session.csrf),
    );
    html(app_layout(
        lang,
        &t(lang, "volunteer-app-title"),
        &user,
        &body,
    ))
}

/// The app's frame: the console's, with the app's manifest.
fn app_layout(lang: Lang, title: &str, user: &User, body: &str) -> String {
    layout(lang, title, Some(&user.session), body).replace(
        r#"<link rel="stylesheet" href="/assets/console.css">"#,
        r##"<link rel="stylesheet" href="/assets/console.css">
<link rel="manifest" href="/app/manifest.webmanifest">
<meta name="theme-color" content="#0b5cad">"##,
    )
}

/// The offer stream as server-sent events: `offer` with the card's HTML for a new or pending
/// offer, `gone` with the assignment's name when it was taken, withdrawn or lapsed. Each event's
/// id is the stream's cursor, so the browser's reconnect (which sends `Last-Event-ID`) resumes
/// exactly after the last event it got.
pub async fn offers(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let Ok(user) = volunteer(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let lang = user.lang;
    let cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut client = match console.assignment_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut answer = client
        .stream_offers(matching::StreamOffersRequest {
            volunteer: String::new(),
            cursor: cursor.clone(),
        })
        .await;
    // A cursor the feed no longer knows (older than it keeps, or from before a restore): start
    // afresh, which sends every open offer again, rather than leave the page without offers.
    if matches!(&answer, Err(s) if s.code() == tonic::Code::OutOfRange) && !cursor.is_empty() {
        answer = client
            .stream_offers(matching::StreamOffersRequest {
                volunteer: String::new(),
                cursor: String::new(),
            })
            .await;
    }
    let stream = match answer {
        Ok(s) => s.into_inner(),
        Err(status) => {
            if ended_if_unauthenticated(&console, &user, &status) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let csrf = user.session.csrf.clone();
    let events = stream
        .take_while(|e| std::future::ready(e.is_ok()))
        .filter_map(move |e| {
            let csrf = csrf.clone();
            async move {
                let e = e.ok()?;
                let kind = matching::OfferEventKind::try_from(e.kind).ok()?;
                let event = match (kind, e.assignment) {
                    (
                        matching::OfferEventKind::Offered | matching::OfferEventKind::Pending,
                        Some(a),
                    ) => Event::default()
                        .event("offer")
                        .data(offer_card(lang, &a, &csrf).replace('\n', " ")),
                    (
                        matching::OfferEventKind::Taken
                        | matching::OfferEventKind::Withdrawn
                        | matching::OfferEventKind::Expired,
                        Some(a),
                    ) => Event::default().event("gone").data(a.name),
                    // Keepalives move the cursor on; the browser keeps the id.
                    _ => Event::default().comment("keepalive"),
                };
                let event = if e.cursor.is_empty() {
                    event
                } else {
                    event.id(e.cursor)
                };
                Some(Ok::<_, Infallible>(event))
            }
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response()
}

fn quantity_text(lang: Lang, q: Option<&pb::Quantity>) -> String {
    q.filter(|q| q.value > 0.0)
        .map(|q| {
            let unit = if q.unit.is_empty() { "pcs" } else { &q.unit };
            format!("{} {}", q.value, t(lang, &format!("unit-{unit}")))
        })
        .unwrap_or_default()
}

/// One offer as a card: what, where, how far, until when, and the two answers.
pub fn offer_card(lang: Lang, a: &matching::Assignment, csrf: &str) -> String {
    let id = a.name.trim_start_matches("assignments/");
    let mut facts = Vec::new();
    let quantity = quantity_text(lang, a.quantity.as_ref());
    if !quantity.is_empty() {
        facts.push(escape(&quantity));
    }
    if a.people_count > 0 {
        facts.push(escape(&text_with(
            lang,
            "app-people",
            &[("count", Arg::Num(f64::from(a.people_count)))],
        )));
    }
    facts.push(format!("{:.1} km", a.distance_meters / 1000.0));
    let expires = view::time(a.expire_time.as_ref())
        .map(|t| t.timestamp())
        .unwrap_or(0);
    format!(
        r#"<article class="offer card" id="offer-{id}" data-assignment="{name}">
<header><span class="prio-wrap">{priority}</span> <strong>{category}</strong></header>
<p class="summary">{summary}</p>{wide}
<p>{place}</p>
<p class="muted">{facts}</p>
<p class="countdown" data-expires="{expires}">{left}</p>
<form method="post" action="/app/offers/{id}/accept"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="big accept">{accept}</button></form>
<form method="post" action="/app/offers/{id}/decline" class="decline"><input type="hidden" name="csrf" value="{csrf}"><label for="reason-{id}">{why}</label><select id="reason-{id}" name="reason">{reasons}</select><button type="submit" class="secondary">{decline}</button></form>
</article>"#,
        name = escape(&a.name),
        priority = view::priority(lang, a.priority),
        category = view::category(lang, a.category),
        summary = escape(&a.summary),
        wide = if a.wide_search {
            format!(r#"<p class="wide">{}</p>"#, t(lang, "app-wide-search"))
        } else {
            String::new()
        },
        place = escape(&view::place(lang, a.location.as_ref())),
        facts = facts.join(" · "),
        left = escape(&text_with(lang, "app-answer-until", &[])),
        csrf = escape(csrf),
        accept = t(lang, "app-accept"),
        why = t(lang, "app-decline-why"),
        reasons = DECLINE_REASONS
            .iter()
            .map(|r| format!(r#"<option value="{r}">{}</option>"#, t(lang, r)))
            .collect::<String>(),
        decline = t(lang, "app-decline"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AnswerForm {
    csrf: String,
    reason: String,
    request_id: String,
}

pub async fn answer(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path((id, answer)): Path<(String, String)>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let user = match volunteer(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if form.csrf != user.session.csrf || !crate::same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            html(crate::pages::refused(user.lang)),
        )
            .into_response();
    }
    let mut client = match console.assignment_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = format!("assignments/{id}");
    let request_id = uuid::Uuid::parse_str(&form.request_id)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let result = match answer.as_str() {
        "accept" => client
            .accept_offer(matching::AcceptOfferRequest {
                name: name.clone(),
                request_id,
                volunteer: String::new(),
            })
            .await
            .map(|_| ()),
        "decline" => {
            let reason = if DECLINE_REASONS.contains(&form.reason.as_str()) {
                // Recorded in the dispatcher's language of record: Russian is read by every
                // hotline.
                komek_i18n::text(Lang::Ru, &form.reason)
            } else {
                String::new()
            };
            client
                .decline_offer(matching::DeclineOfferRequest {
                    name: name.clone(),
                    request_id,
                    volunteer: String::new(),
                    reason,
                })
                .await
                .map(|_| ())
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(()) if answer == "accept" => {
            console.sessions.add_job(&user.id, &name);
            Redirect::to(&format!("/app/jobs/{}", url_encode(&id))).into_response()
        }
        Ok(()) => Redirect::to("/app").into_response(),
        Err(status) => {
            if ended_if_unauthenticated(&console, &user, &status) {
                return Redirect::to("/app").into_response();
            }
            let lang = user.lang;
            let body = format!(
                r#"{}<p><a href="/app">{}</a></p>"#,
                view::refusal_block(lang, &status),
                t(lang, "app-back")
            );
            (
                StatusCode::CONFLICT,
                html(app_layout(
                    lang,
                    &t(lang, "volunteer-app-title"),
                    &user,
                    &body,
                )),
            )
                .into_response()
        }
    }
}

/// A job the group took: contact, address, the way there, the steps.
pub async fn job(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match volunteer(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let mut client = match console.assignment_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let a = match client
        .get_assignment(matching::GetAssignmentRequest {
            name: format!("assignments/{id}"),
        })
        .await
    {
        Ok(a) => a.into_inner(),
        Err(status) => {
            if ended_if_unauthenticated(&console, &user, &status) {
                return Redirect::to("/app").into_response();
            }
            let body = view::refusal_block(lang, &status);
            return (
                StatusCode::NOT_FOUND,
                html(app_layout(
                    lang,
                    &t(lang, "volunteer-app-title"),
                    &user,
                    &body,
                )),
            )
                .into_response();
        }
    };
    html(app_layout(
        lang,
        &t(lang, "app-job-title"),
        &user,
        &job_body(lang, &id, &a, &user.session.csrf),
    ))
}

fn job_body(lang: Lang, id: &str, a: &matching::Assignment, csrf: &str) -> String {
    use pb::AssignmentStatus as S;
    let status = S::try_from(a.status).unwrap_or(S::Unspecified);
    let location = a.location.clone().unwrap_or_default();
    let point = location.point.unwrap_or_default();
    let contact = match &a.caller_contact {
        Some(c) => {
            let name = if c.display_name.is_empty() {
                t(lang, "caller-anonymous")
            } else {
                escape(&c.display_name)
            };
            let phone = if c.phone.is_empty() {
                String::new()
            } else {
                format!(
                    r#"<a class="big call" href="tel:{p}">{call} {p}</a>"#,
                    p = escape(&c.phone),
                    call = t(lang, "app-call")
                )
            };
            format!(r#"<p><strong>{name}</strong></p>{phone}"#)
        }
        None => String::new(),
    };
    let address = if location.address.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="address">{}</p>"#, escape(&location.address))
    };
    let way = format!(
        r#"<p><a class="big way" href="geo:{lat},{lon}?q={lat},{lon}">{open}</a></p>"#,
        lat = point.latitude,
        lon = point.longitude,
        open = t(lang, "app-open-map"),
    );
    let step = |step: &str, label: &str, extra: &str| {
        format!(
            r#"<form method="post" action="/app/jobs/{id}/progress" class="step"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="step" value="{step}">{extra}<button type="submit" class="big">{label}</button></form>"#,
            id = escape(id),
            csrf = escape(csrf),
            label = t(lang, label),
        )
    };
    let outcomes: String = [
        "OUTCOME_HELPED",
        "OUTCOME_PARTIALLY_HELPED",
        "OUTCOME_NO_LONGER_NEEDED",
        "OUTCOME_CALLER_UNREACHABLE",
        "OUTCOME_PERSON_FOUND",
        "OUTCOME_PERSON_NOT_FOUND",
        "OUTCOME_REFERRED",
    ]
    .iter()
    .map(|o| {
        format!(
            r#"<option value="{o}">{}</option>"#,
            escape(&komek_i18n::enum_label(lang, o))
        )
    })
    .collect();
    let steps = match status {
        S::Accepted => step("PROGRESS_STEP_EN_ROUTE", "app-en-route", ""),
        S::EnRoute => step("PROGRESS_STEP_ON_SITE", "app-on-site", ""),
        S::OnSite => step(
            "PROGRESS_STEP_COMPLETED",
            "app-completed",
            &format!(
                r#"<label for="outcome">{}</label><select id="outcome" name="outcome">{outcomes}</select><label for="note">{}</label><input type="text" id="note" name="note" maxlength="500">"#,
                t(lang, "app-outcome"),
                t(lang, "app-note")
            ),
        ),
        _ => String::new(),
    };
    let abort = if matches!(status, S::Accepted | S::EnRoute | S::OnSite) {
        step(
            "PROGRESS_STEP_ABORTED",
            "app-abort",
            &format!(
                r#"<label for="abort-reason">{}</label><input type="text" id="abort-reason" name="reason" required maxlength="500">"#,
                t(lang, "app-abort-why")
            ),
        )
    } else {
        String::new()
    };
    let sharing = if status == S::EnRoute || status == S::OnSite {
        format!(
            r#" data-share-position="/app/jobs/{id}/position" data-csrf="{csrf}""#,
            id = escape(id),
            csrf = escape(csrf)
        )
    } else {
        String::new()
    };
    let quantity = quantity_text(lang, a.quantity.as_ref());
    format!(
        r#"<article class="job card"{sharing} data-status="{status_name}">
<p class="status"><strong>{status_label}</strong></p>
<p><strong>{category}</strong> {priority}</p>
<p class="summary">{summary}</p>
<p class="muted">{quantity}</p>
<p>{place}</p>
{address}{contact}{way}
<p class="muted" id="position-state" aria-live="polite"></p>
</article>
<section class="steps">{steps}{abort}</section>
<p><a href="/app">{back}</a></p>"#,
        status_name = status.as_str_name(),
        status_label = {
            let status = view::assignment_status(lang, a.status);
            match pb::SearchRole::try_from(a.search_role) {
                Ok(pb::SearchRole::Unspecified) | Err(_) => status,
                Ok(role) => format!(
                    "{status} · {}",
                    escape(&komek_i18n::enum_label(lang, role.as_str_name()))
                ),
            }
        },
        category = view::category(lang, a.category),
        priority = view::priority(lang, a.priority),
        summary = escape(&a.summary),
        quantity = escape(&quantity),
        place = escape(&view::place(lang, Some(&location))),
        back = t(lang, "app-back"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProgressForm {
    csrf: String,
    step: String,
    outcome: String,
    note: String,
    reason: String,
}

pub async fn progress(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ProgressForm>,
) -> Response {
    let user = match volunteer(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if form.csrf != user.session.csrf || !crate::same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            html(crate::pages::refused(user.lang)),
        )
            .into_response();
    }
    let mut client = match console.assignment_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let reply = client
        .update_progress(matching::UpdateProgressRequest {
            name: format!("assignments/{id}"),
            request_id: uuid::Uuid::new_v4().to_string(),
            volunteer: String::new(),
            step: matching::ProgressStep::from_str_name(&form.step).map_or(0, |s| s as i32),
            outcome: pb::Outcome::from_str_name(&form.outcome).map_or(0, |o| o as i32),
            note: form.note.trim().to_string(),
            proof_uri: String::new(),
            reason: form.reason.trim().to_string(),
            etag: String::new(),
        })
        .await;
    match reply {
        Ok(_) => Redirect::to(&format!("/app/jobs/{}", url_encode(&id))).into_response(),
        Err(status) => {
            if ended_if_unauthenticated(&console, &user, &status) {
                return Redirect::to("/app").into_response();
            }
            let lang = user.lang;
            let body = format!(
                r#"{}<p><a href="/app/jobs/{}">{}</a></p>"#,
                view::refusal_block(lang, &status),
                escape(&id),
                t(lang, "app-back")
            );
            (
                StatusCode::CONFLICT,
                html(app_layout(
                    lang,
                    &t(lang, "volunteer-app-title"),
                    &user,
                    &body,
                )),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PositionForm {
    csrf: String,
    lat: f64,
    lon: f64,
}

/// The phone's position while on the way, sent by the page's script.
pub async fn position(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<PositionForm>,
) -> Response {
    let Ok(user) = volunteer(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if form.csrf != user.session.csrf || !crate::same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut client = match console.assignment_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    let reply = client
        .report_position(matching::ReportPositionRequest {
            name: format!("assignments/{id}"),
            location: Some(pb::LatLng {
                latitude: form.lat,
                longitude: form.lon,
            }),
            fix_time: Some(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: 0,
            }),
        })
        .await;
    match reply {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            StatusCode::UNPROCESSABLE_ENTITY.into_response()
        }
        Err(s) if s.code() == tonic::Code::FailedPrecondition => {
            StatusCode::CONFLICT.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The web app manifest, so the app can be put on a phone's home screen.
pub async fn manifest(headers: HeaderMap) -> Response {
    let lang = crate::lang_of(&headers);
    let body = serde_json::json!({
        "name": format!("{} — {}", komek_i18n::text(lang, "volunteer-app-short"), komek_i18n::text(lang, "volunteer-app-title")),
        "short_name": komek_i18n::text(lang, "volunteer-app-short"),
        "start_url": "/app",
        "scope": "/app",
        "display": "standalone",
        "background_color": "#f6f7f9",
        "theme_color": "#0b5cad",
        "lang": lang.code(),
        "icons": [{"src": "/assets/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    });
    (
        [(header::CONTENT_TYPE, "application/manifest+json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_inline_image_with_a_label() {
        let svg = qr_code("http://console.example:8080/app/join/abc", "QR <code>");
        assert!(svg.starts_with(r#"<svg class="qr" role="img" aria-label="QR <code>""#));
        assert!(!svg.contains("<?xml") && svg.ends_with("</svg>"));
    }
}
