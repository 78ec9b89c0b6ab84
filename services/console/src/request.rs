//! One request's page: where it stands and how it got there (timeline, triage with the words
//! that decided it, duplicates, every matching decision with its candidates on a table and on
//! the map, the audit trail), and the dispatcher's actions on it.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use komek_i18n::{Arg, Lang, enum_label, text_with};
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::triage::v1 as triage;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::map::{self, Mark, Marker};
use crate::pages::{escape, layout, t};
use crate::queues::url_encode;
use crate::view::{self, select};
use crate::{Console, Shared, User, html};

/// Everything the page shows, each part as the API answered it.
pub struct Loaded {
    pub request: intake::Request,
    pub decision: Result<triage::TriageDecision, tonic::Status>,
    pub triage_audit: Vec<triage::TriageAuditEntry>,
    pub explanation: Result<matching::MatchExplanation, tonic::Status>,
    pub dispatch_audit: Vec<matching::DispatchAuditEntry>,
    pub assignments: Vec<matching::Assignment>,
    pub groups: HashMap<String, roster::Group>,
}

/// At most this many candidate groups are looked up for the map.
const MAP_GROUPS: usize = 25;

async fn load(console: &Console, user: &User, id: &str) -> Result<Loaded, Response> {
    let name = format!("requests/{id}");
    let mut intake_client = console.intake_client(user)?;
    let mut triage_client = console.triage_client(user)?;
    let mut audit_client = triage_client.clone();
    let mut dispatch = console.dispatch_client(user)?;
    let mut dispatch_audit_client = dispatch.clone();
    let triage_name = format!("{name}/triage");
    let (request, decision, triage_audit, explanation, dispatch_audit) = tokio::join!(
        intake_client.get_request(intake::GetRequestRequest { name: name.clone() }),
        triage_client.get_triage_decision(triage::GetTriageDecisionRequest {
            name: triage_name.clone()
        }),
        audit_client.list_triage_audit(triage::ListTriageAuditRequest {
            name: triage_name.clone(),
            page_size: 100,
            page_token: String::new(),
        }),
        dispatch.explain_request(matching::ExplainRequestRequest {
            request: name.clone()
        }),
        dispatch_audit_client.list_dispatch_audit(matching::ListDispatchAuditRequest {
            request: name.clone(),
            page_size: 100,
            page_token: String::new(),
        }),
    );
    let request = match request {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let lang = user.lang;
            let code = match status.code() {
                tonic::Code::NotFound | tonic::Code::InvalidArgument => StatusCode::NOT_FOUND,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_GATEWAY,
            };
            let body = view::refusal_block(lang, &status);
            let page = layout(lang, &t(lang, "request-title"), Some(&user.session), &body);
            return Err((code, html(page)).into_response());
        }
    };
    let explanation = explanation.map(|r| r.into_inner());
    // Each offer's fate (declined with a reason, expired, accepted) and the candidates'
    // places for the map.
    let mut assignment_names: Vec<String> = explanation
        .as_ref()
        .map(|e| {
            e.decisions
                .iter()
                .filter(|d| !d.assignment.is_empty())
                .map(|d| d.assignment.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(a) = &request.assignment
        && !assignment_names.contains(&a.assignment)
    {
        assignment_names.push(a.assignment.clone());
    }
    let assignment_client = console.assignment_client(user)?;
    let assignments = futures::future::join_all(assignment_names.into_iter().map(|name| {
        let mut c = assignment_client.clone();
        async move {
            c.get_assignment(matching::GetAssignmentRequest { name })
                .await
        }
    }))
    .await
    .into_iter()
    .filter_map(|r| r.ok().map(|r| r.into_inner()))
    .collect();
    let mut group_names: Vec<String> = Vec::new();
    if let Ok(e) = &explanation {
        for d in e.decisions.iter().rev() {
            let mut cands: Vec<&matching::Candidate> = d.candidates.iter().collect();
            cands.sort_by(|a, b| a.distance_meters.total_cmp(&b.distance_meters));
            for c in cands {
                if !group_names.contains(&c.group) {
                    group_names.push(c.group.clone());
                }
            }
        }
    }
    if let Some(a) = &request.assignment
        && !group_names.contains(&a.group)
    {
        group_names.insert(0, a.group.clone());
    }
    group_names.truncate(MAP_GROUPS);
    let roster_client = console.roster_client(user)?;
    let groups = futures::future::join_all(group_names.into_iter().map(|name| {
        let mut c = roster_client.clone();
        async move { c.get_group(roster::GetGroupRequest { name }).await }
    }))
    .await
    .into_iter()
    .filter_map(|r| r.ok().map(|r| r.into_inner()))
    .map(|g| (g.name.clone(), g))
    .collect();
    Ok(Loaded {
        request,
        decision: decision.map(|r| r.into_inner()),
        triage_audit: triage_audit
            .map(|r| r.into_inner().entries)
            .unwrap_or_default(),
        explanation,
        dispatch_audit: dispatch_audit
            .map(|r| r.into_inner().entries)
            .unwrap_or_default(),
        assignments,
        groups,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    done: String,
}

pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let loaded = match load(&console, &user, &id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let notice = (!query.done.is_empty()).then(|| Notice::Done(query.done.clone()));
    html(render(&user, &id, &loaded, notice.as_ref()))
}

/// The part of the page that changes as the request moves, for the page's script.
pub async fn live(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    match load(&console, &user, &id).await {
        Ok(l) => html(live_part(user.lang, &l)),
        Err(r) => r,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FindQuery {
    code: String,
}

/// The request a caller's reference code names, as they dictate it.
pub async fn find(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<FindQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut client = match console.intake_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match client
        .find_by_reference(intake::FindByReferenceRequest {
            reference_code: query.code.trim().chars().take(64).collect(),
        })
        .await
    {
        Ok(r) => {
            let name = r.into_inner().name;
            Redirect::to(&format!(
                "/requests/{}",
                url_encode(name.trim_start_matches("requests/"))
            ))
            .into_response()
        }
        Err(status) => {
            let lang = user.lang;
            let body = format!(
                r#"<p class="error" role="alert">{}</p>"#,
                escape(&text_with(
                    lang,
                    "find-none",
                    &[("code", Arg::Str(&query.code))]
                ))
            );
            let code = if status.code() == tonic::Code::NotFound
                || status.code() == tonic::Code::InvalidArgument
            {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_GATEWAY
            };
            let page = layout(lang, &t(lang, "find-title"), Some(&user.session), &body);
            (code, html(page)).into_response()
        }
    }
}

/// What a dispatcher's action posts; each action reads the fields it needs.
#[derive(Debug, Default)]
pub struct ActionForm {
    csrf: String,
    request_id: String,
    reason: String,
    category: String,
    priority: String,
    group: String,
    into: String,
    assignment: String,
    etag: String,
    /// Repeated: the skills a triage override sets.
    skills: Vec<String>,
}

impl ActionForm {
    /// From the posted pairs, where a key may repeat (the skills' checkboxes).
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut form = ActionForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => form.csrf = v,
                "request_id" => form.request_id = v,
                "reason" => form.reason = v,
                "category" => form.category = v,
                "priority" => form.priority = v,
                "group" => form.group = v,
                "into" => form.into = v,
                "assignment" => form.assignment = v,
                "etag" => form.etag = v,
                "skill" => form.skills.push(v),
                _ => {}
            }
        }
        form
    }
}

pub enum Notice {
    Done(String),
    Refused(String, tonic::Status),
}

/// One of the dispatcher's actions. Success goes back to the page (post, redirect, get); a
/// refusal shows the page again with the API's answer told as a sentence next to the action.
pub async fn act(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = ActionForm::from_pairs(pairs);
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let name = format!("requests/{id}");
    let request_id = if uuid::Uuid::parse_str(&form.request_id).is_ok() {
        form.request_id.clone()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let reason = form.reason.trim().to_string();
    let result: Result<(), tonic::Status> = match action.as_str() {
        "assign" | "reassign" | "withdraw" => {
            let mut client = match console.dispatch_client(&user) {
                Ok(c) => c,
                Err(r) => return r,
            };
            match action.as_str() {
                "assign" => client
                    .assign_request(matching::AssignRequestRequest {
                        request_id,
                        request: name.clone(),
                        group: form.group.clone(),
                        reason,
                    })
                    .await
                    .map(|_| ()),
                "reassign" => client
                    .reassign_request(matching::ReassignRequestRequest {
                        request_id,
                        request: name.clone(),
                        group: form.group.clone(),
                        reason,
                    })
                    .await
                    .map(|_| ()),
                _ => client
                    .withdraw_assignment(matching::WithdrawAssignmentRequest {
                        request_id,
                        name: form.assignment.clone(),
                        reason,
                    })
                    .await
                    .map(|_| ()),
            }
        }
        "cancel" => match console.intake_client(&user) {
            Ok(mut client) => client
                .cancel_request(intake::CancelRequestRequest {
                    name: name.clone(),
                    reason,
                    request_id,
                    etag: form.etag.clone(),
                })
                .await
                .map(|_| ()),
            Err(r) => return r,
        },
        "erase" => match console.intake_client(&user) {
            Ok(mut client) => client
                .erase_request(intake::EraseRequestRequest {
                    name: name.clone(),
                    reason,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Err(r) => return r,
        },
        "override" => match console.triage_client(&user) {
            Ok(mut client) => client
                .override_triage(triage::OverrideTriageRequest {
                    name: format!("{name}/triage"),
                    request_id,
                    category: pb::Category::from_str_name(&form.category).map_or(0, |c| c as i32),
                    priority: pb::Priority::from_str_name(&form.priority).map_or(0, |p| p as i32),
                    // None ticked keeps the current skills: an empty list changes nothing.
                    required_skills: form
                        .skills
                        .iter()
                        .filter_map(|k| pb::Skill::from_str_name(k))
                        .map(|k| k as i32)
                        .collect(),
                    reason,
                    etag: String::new(),
                })
                .await
                .map(|_| ()),
            Err(r) => return r,
        },
        "merge" => {
            let target = resolve_request(&console, &user, form.into.trim()).await;
            match (target, console.triage_client(&user)) {
                (Ok(into), Ok(mut client)) => client
                    .merge_duplicate(triage::MergeDuplicateRequest {
                        name: format!("{name}/triage"),
                        merge_into: into,
                        request_id,
                        reason,
                    })
                    .await
                    .map(|_| ()),
                (Err(status), _) => Err(status),
                (_, Err(r)) => return r,
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(()) => {
            Redirect::to(&format!("/requests/{}?done={action}", url_encode(&id))).into_response()
        }
        Err(status) => {
            let loaded = match load(&console, &user, &id).await {
                Ok(l) => l,
                Err(r) => return r,
            };
            let code = match status.code() {
                tonic::Code::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::FailedPrecondition | tonic::Code::Aborted => StatusCode::CONFLICT,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_GATEWAY,
            };
            let notice = Notice::Refused(action, status);
            (code, html(render(&user, &id, &loaded, Some(&notice)))).into_response()
        }
    }
}

/// "requests/…" from what a dispatcher typed: a request's name, or a reference code.
async fn resolve_request(
    console: &Console,
    user: &User,
    typed: &str,
) -> Result<String, tonic::Status> {
    if typed.starts_with("requests/") {
        return Ok(typed.to_string());
    }
    let mut client = console
        .intake_client(user)
        .map_err(|_| tonic::Status::unauthenticated(""))?;
    let found = client
        .find_by_reference(intake::FindByReferenceRequest {
            reference_code: typed.chars().take(64).collect(),
        })
        .await
        .map_err(|s| {
            if s.code() == tonic::Code::NotFound || s.code() == tonic::Code::InvalidArgument {
                komek_runtime::boundary::invalid_argument(&[
                    komek_runtime::boundary::FieldViolation::new("merge_into", ""),
                ])
            } else {
                s
            }
        })?;
    Ok(found.into_inner().name)
}

/// The note with the words the triage rules matched marked.
pub fn highlight(note: &str, terms: &[&str]) -> String {
    let chars: Vec<char> = note.chars().collect();
    let lower: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let mut marked = vec![false; chars.len()];
    for term in terms {
        let term: Vec<char> = term
            .chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect();
        if term.is_empty() || term.len() > lower.len() {
            continue;
        }
        for start in 0..=lower.len() - term.len() {
            if lower[start..start + term.len()] == term[..] {
                marked[start..start + term.len()].fill(true);
            }
        }
    }
    let mut out = String::new();
    let mut open = false;
    for (c, m) in chars.iter().zip(&marked) {
        if *m && !open {
            out.push_str("<mark>");
            open = true;
        } else if !*m && open {
            out.push_str("</mark>");
            open = false;
        }
        out.push_str(&escape(&c.to_string()));
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

/// The assignment whose group has reported where it is, with that position.
fn on_the_way(loaded: &Loaded) -> Option<(&matching::Assignment, pb::LatLng)> {
    loaded
        .assignments
        .iter()
        .filter(|a| is_active(a.status))
        .find_map(|a| Some((a, a.position?)))
}

fn km(meters: f64) -> String {
    format!("{:.1} km", meters / 1000.0)
}

fn request_id(name: &str) -> &str {
    name.trim_start_matches("requests/")
}

fn group_label(loaded: &Loaded, group: &str, fallback: &str) -> String {
    loaded
        .groups
        .get(group)
        .map(|g| g.display_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            if fallback.is_empty() {
                group.to_string()
            } else {
                fallback.to_string()
            }
        })
}

fn actor(lang: Lang, actor: &str) -> String {
    if actor.starts_with("services/") {
        t(lang, "actor-komek")
    } else {
        escape(actor)
    }
}

fn is_active(status: i32) -> bool {
    use pb::AssignmentStatus as S;
    [S::Offered, S::Accepted, S::EnRoute, S::OnSite]
        .iter()
        .any(|s| *s as i32 == status)
}

fn is_finished(status: i32) -> bool {
    use pb::RequestStatus as S;
    [S::Resolved, S::Closed, S::Merged, S::Cancelled]
        .iter()
        .any(|s| *s as i32 == status)
}

/// The whole page.
pub fn render(user: &User, id: &str, loaded: &Loaded, notice: Option<&Notice>) -> String {
    let lang = user.lang;
    let r = &loaded.request;
    let notice_html = match notice {
        Some(Notice::Done(action)) => format!(
            r#"<p class="done" role="status">{}</p>"#,
            t(lang, &format!("action-done-{action}"))
        ),
        _ => String::new(),
    };
    let refused_for = |action: &str| -> String {
        match notice {
            Some(Notice::Refused(a, status)) if a == action => view::refusal_block(lang, status),
            _ => String::new(),
        }
    };
    let body = format!(
        r#"{notice_html}
<div id="live" data-live="/requests/{id}/live" data-events="/events?region={region}" data-request="{name}" aria-live="polite">
{live}
</div>
{map}
{actions}"#,
        id = escape(id),
        region = escape(&url_encode(
            r.location.as_ref().map(|l| l.region.as_str()).unwrap_or("")
        )),
        name = escape(&r.name),
        live = live_part(lang, loaded),
        map = request_map(lang, loaded),
        actions = actions(user, id, loaded, &refused_for),
    );
    let title = text_with(
        lang,
        "request-title-code",
        &[("code", Arg::Str(&r.reference_code))],
    );
    layout(lang, &escape(&title), Some(&user.session), &body)
}

/// Status, note, triage, duplicates, timeline, decisions and audit: what changes.
pub fn live_part(lang: Lang, loaded: &Loaded) -> String {
    let r = &loaded.request;
    let decision = loaded.decision.as_ref().ok();
    let terms: Vec<&str> = decision
        .map(|d| {
            d.fired_rules
                .iter()
                .flat_map(|f| f.matched_terms.iter().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    let caller = match &r.caller {
        Some(c) if c.anonymous => t(lang, "caller-anonymous"),
        Some(c) => {
            let parts: Vec<String> = [&c.display_name, &c.phone]
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| escape(s))
                .collect();
            if parts.is_empty() {
                t(lang, "caller-unknown")
            } else {
                parts.join(", ")
            }
        }
        None => t(lang, "caller-hidden"),
    };
    let quantity = r
        .quantity
        .as_ref()
        .filter(|q| q.value > 0.0)
        .map(|q| {
            format!(
                "{} {}",
                q.value,
                t(
                    lang,
                    &format!("unit-{}", if q.unit.is_empty() { "pcs" } else { &q.unit })
                )
            )
        })
        .unwrap_or_default();
    let summary = format!(
        r#"<dl class="facts">
<div><dt>{l_status}</dt><dd class="status">{status}</dd></div>
<div><dt>{l_priority}</dt><dd>{priority}</dd></div>
<div><dt>{l_category}</dt><dd>{category}</dd></div>
<div><dt>{l_place}</dt><dd>{place}</dd></div>
<div><dt>{l_caller}</dt><dd>{caller}</dd></div>
<div><dt>{l_people}</dt><dd>{people}</dd></div>
<div><dt>{l_quantity}</dt><dd>{quantity}</dd></div>
<div><dt>{l_created}</dt><dd>{created} · {channel}</dd></div>
{position}
</dl>
<h2>{l_note}</h2>
<blockquote class="note" lang="">{note}</blockquote>
<h3>{l_vnote}</h3>
<p class="vnote">{vnote}</p>"#,
        l_status = t(lang, "field-status"),
        status = {
            let mut status = view::request_status(lang, r.status);
            if r.dispatch_time.is_some() {
                status.push_str(&format!(
                    r#"<br><small class="muted">{} {}</small>"#,
                    t(lang, "request-dispatch-at"),
                    view::when(r.dispatch_time.as_ref())
                ));
            }
            if let Some(e) = &r.erasure {
                status.push_str(&erasure_line(lang, e));
            }
            if let Some(w) = &r.waiting {
                let state = pb::WaitingState::try_from(w.state).unwrap_or_default();
                status.push_str(&format!(
                    r#"<br><strong class="late-mark">{}: {}, {}</strong>"#,
                    t(lang, "request-waiting-too-long"),
                    escape(&komek_i18n::enum_label(lang, state.as_str_name())),
                    view::when(w.since.as_ref())
                ));
            }
            status
        },
        l_priority = t(lang, "field-priority"),
        priority = view::priority(lang, decision.map_or(r.operator_priority, |d| d.priority)),
        l_category = t(lang, "field-category"),
        category = view::category(lang, decision.map_or(r.operator_category, |d| d.category)),
        l_place = t(lang, "field-location"),
        place = escape(&{
            let mut p = view::place(lang, r.location.as_ref());
            if let Some(a) = r.location.as_ref().filter(|l| !l.address.is_empty()) {
                p = format!("{p}; {}", a.address);
            }
            p
        }),
        l_caller = t(lang, "call-caller"),
        l_people = t(lang, "field-people-count"),
        people = if r.people_count > 0 {
            r.people_count.to_string()
        } else {
            String::new()
        },
        l_quantity = t(lang, "field-quantity"),
        l_created = t(lang, "request-created"),
        created = view::when(r.create_time.as_ref()),
        channel = view::label_of(lang, r.channel, |c: &pb::Channel| c.as_str_name()),
        l_note = t(lang, "field-description"),
        note = if r.erasure.is_some() {
            format!(
                r#"<em class="muted">{}</em>"#,
                t(lang, "request-erased-note")
            )
        } else {
            highlight(&r.description, &terms)
        },
        position = match on_the_way(loaded) {
            Some((a, p)) => format!(
                r#"<div><dt>{}</dt><dd id="group-position">{} · {:.4}, {:.4} · {}</dd></div>"#,
                t(lang, "request-group-position"),
                escape(&group_label(loaded, &a.group, "")),
                p.latitude,
                p.longitude,
                view::when(a.position_time.as_ref()),
            ),
            None => String::new(),
        },
        l_vnote = t(lang, "field-volunteer-note"),
        vnote = escape(&r.volunteer_note),
    );
    let triage_html = match &loaded.decision {
        Ok(d) => {
            let rules: String = d
                .fired_rules
                .iter()
                .map(|f| {
                    let words: Vec<String> = f
                        .matched_terms
                        .iter()
                        .map(|w| format!("<mark>{}</mark>", escape(w)))
                        .collect();
                    // The rules explain themselves in English only.
                    let explanation = if lang == Lang::En {
                        format!(r#" <span class="muted">{}</span>"#, escape(&f.explanation))
                    } else {
                        String::new()
                    };
                    format!(
                        r#"<li><strong>{part}:</strong> {words} <code class="muted">{id}</code>{explanation}</li>"#,
                        part = t(lang, view::triage_part(&f.rule_id)),
                        id = escape(&f.rule_id),
                        words = words.join(" "),
                    )
                })
                .collect();
            let skills: Vec<String> = d
                .required_skills
                .iter()
                .map(|s| view::label_of(lang, *s, |x: &pb::Skill| x.as_str_name()))
                .collect();
            format!(
                r#"{unsure}<p>{category}, {priority}{overridden}. {l_skills}: {skills}. {confidence}</p><ul class="rules">{rules}</ul>"#,
                unsure = if d.unclassified {
                    format!(
                        r#"<p class="unsure" id="unclassified">{}</p>"#,
                        t(lang, "triage-unclassified")
                    )
                } else {
                    String::new()
                },
                category = view::category(lang, d.category),
                priority = view::priority(lang, d.priority),
                overridden = if d.overridden {
                    format!(" ({})", t(lang, "triage-overridden"))
                } else {
                    String::new()
                },
                l_skills = t(lang, "triage-skills"),
                skills = if skills.is_empty() {
                    "—".to_string()
                } else {
                    skills.join(", ")
                },
                confidence = escape(&text_with(
                    lang,
                    "triage-confidence",
                    &[("percent", Arg::Num((d.confidence * 100.0).round()))]
                )),
            )
        }
        Err(status) if status.code() == tonic::Code::NotFound => {
            format!(r#"<p class="muted">{}</p>"#, t(lang, "triage-pending"))
        }
        Err(status) => view::refusal_block(lang, status),
    };
    let mut links = Vec::new();
    let duplicate = decision
        .map(|d| d.possible_duplicate_of.clone())
        .filter(|d| !d.is_empty())
        .or_else(|| {
            r.triage
                .as_ref()
                .map(|t| t.possible_duplicate_of.clone())
                .filter(|d| !d.is_empty())
        });
    if let Some(d) = duplicate {
        links.push(format!(
            r#"<li>{} <a href="/requests/{}">{}</a></li>"#,
            t(lang, "duplicate-of"),
            escape(request_id(&d)),
            escape(request_id(&d))
        ));
    }
    if !r.merged_into.is_empty() {
        links.push(format!(
            r#"<li>{} <a href="/requests/{}">{}</a></li>"#,
            t(lang, "merged-into"),
            escape(request_id(&r.merged_into)),
            escape(request_id(&r.merged_into))
        ));
    }
    let duplicates = if links.is_empty() {
        String::new()
    } else {
        format!(
            r#"<h2>{}</h2><ul>{}</ul>"#,
            t(lang, "duplicates-title"),
            links.concat()
        )
    };
    format!(
        r#"<section class="card" aria-labelledby="h-summary"><h2 id="h-summary" class="sr-only">{l_summary}</h2>{summary}</section>
<section class="card" aria-labelledby="h-triage"><h2 id="h-triage">{l_triage}</h2>{triage_html}{duplicates}</section>
<section class="card" aria-labelledby="h-timeline"><h2 id="h-timeline">{l_timeline}</h2>{timeline}</section>
<section class="card" aria-labelledby="h-decisions"><h2 id="h-decisions">{l_decisions}</h2>{decisions}</section>
<section class="card" aria-labelledby="h-audit"><h2 id="h-audit">{l_audit}</h2>{audit}</section>"#,
        l_summary = t(lang, "request-summary"),
        l_triage = t(lang, "triage-title"),
        l_timeline = t(lang, "timeline-title"),
        timeline = timeline(lang, loaded),
        l_decisions = t(lang, "decisions-title"),
        decisions = decisions(lang, loaded),
        l_audit = t(lang, "audit-title"),
        audit = audit(lang, loaded),
    )
}

/// Every step, oldest first: recorded, triaged and overridden, offered, answered, escalated,
/// the dispatchers' actions, and where it stands now.
fn timeline(lang: Lang, loaded: &Loaded) -> String {
    let r = &loaded.request;
    let mut steps: Vec<(i64, String)> = Vec::new();
    let key = |ts: Option<&prost_types::Timestamp>| {
        ts.map_or(i64::MAX, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
    };
    steps.push((
        key(r.create_time.as_ref()),
        format!(
            "{} {}",
            view::when(r.create_time.as_ref()),
            t(lang, "step-recorded")
        ),
    ));
    for e in &loaded.triage_audit {
        let Some(d) = &e.decision else { continue };
        let what = if e.actor.starts_with("services/") {
            t(lang, "step-triaged")
        } else {
            t(lang, "step-triage-overridden")
        };
        // Triage's own decisions carry its English note ("automatic"); a dispatcher's carry
        // their reason.
        let reason = if e.reason.is_empty() || e.actor.starts_with("services/") {
            String::new()
        } else {
            format!(r#" — «{}»"#, escape(&e.reason))
        };
        steps.push((
            key(e.create_time.as_ref()),
            format!(
                "{} {what}: {}, {} ({}){reason}",
                view::when(e.create_time.as_ref()),
                view::category(lang, d.category),
                view::priority(lang, d.priority),
                actor(lang, &e.actor),
            ),
        ));
    }
    if let Ok(e) = &loaded.explanation {
        for d in &e.decisions {
            let line = if d.escalated {
                let reasons: Vec<i32> = d
                    .reasons
                    .iter()
                    .copied()
                    .chain(d.candidates.iter().flat_map(|c| c.reasons.iter().copied()))
                    .collect();
                let mut reasons = reasons;
                reasons.sort();
                reasons.dedup();
                format!(
                    "{}{}{}",
                    t(lang, "step-escalated"),
                    if reasons.is_empty() { "" } else { ": " },
                    view::reasons(lang, &reasons)
                )
            } else {
                let chosen = d.candidates.iter().find(|c| c.chosen);
                format!(
                    "{} {} ({})",
                    escape(&text_with(
                        lang,
                        "step-offered",
                        &[("attempt", Arg::Num(f64::from(d.attempt)))]
                    )),
                    escape(&chosen.map_or(String::new(), |c| group_label(
                        loaded,
                        &c.group,
                        &c.group_display_name
                    ))),
                    chosen.map_or(String::new(), |c| km(c.distance_meters)),
                )
            };
            steps.push((
                key(d.decide_time.as_ref()),
                format!("{} {line}", view::when(d.decide_time.as_ref())),
            ));
        }
    }
    for a in &loaded.assignments {
        if a.status == pb::AssignmentStatus::Offered as i32 {
            continue;
        }
        let reason = match volunteer_words(a) {
            Some(words) => format!(r#" — «{}»"#, escape(words)),
            None => String::new(),
        };
        // In a wide search, who leads and who supports.
        let role = match pb::SearchRole::try_from(a.search_role) {
            Ok(pb::SearchRole::Unspecified) | Err(_) => String::new(),
            Ok(role) => format!(" ({})", escape(&enum_label(lang, role.as_str_name()))),
        };
        steps.push((
            key(a.update_time.as_ref()),
            format!(
                "{} {}{role}: {}{reason}",
                view::when(a.update_time.as_ref()),
                escape(&group_label(loaded, &a.group, "")),
                view::assignment_status(lang, a.status),
            ),
        ));
    }
    for e in &loaded.dispatch_audit {
        steps.push((
            key(e.create_time.as_ref()),
            format!(
                "{} {} ({}){}",
                view::when(e.create_time.as_ref()),
                action_label(lang, &e.action),
                actor(lang, &e.actor),
                if e.reason.is_empty() {
                    String::new()
                } else {
                    format!(r#" — «{}»"#, escape(&e.reason))
                }
            ),
        ));
    }
    steps.sort_by_key(|(k, _)| *k);
    let items: String = steps
        .into_iter()
        .map(|(_, s)| format!("<li>{s}</li>"))
        .collect();
    format!(r#"<ol class="timeline">{items}</ol>"#)
}

/// What the volunteer said when declining or aborting, without the service's own words
/// around it ("declined by volunteers/…: машина сломалась"); nothing for an offer that lapsed,
/// whose reason is the service's.
fn volunteer_words(a: &matching::Assignment) -> Option<&str> {
    use pb::AssignmentStatus as S;
    if a.reason.is_empty() || a.status == S::Expired as i32 {
        return None;
    }
    let words = match a.reason.split_once(": ") {
        Some((by, words)) if by.contains("volunteers/") => words,
        _ => a.reason.as_str(),
    };
    Some(words).filter(|w| !w.trim().is_empty())
}

fn action_label(lang: Lang, action: &str) -> String {
    let key = format!("audit-action-{}", action.to_ascii_lowercase());
    if komek_i18n::has(lang, &key) {
        t(lang, &key)
    } else {
        escape(action)
    }
}

/// Each matching decision with every candidate: distance, chosen or why not.
fn decisions(lang: Lang, loaded: &Loaded) -> String {
    let e = match &loaded.explanation {
        Ok(e) if !e.decisions.is_empty() => e,
        Ok(_) => return format!(r#"<p class="muted">{}</p>"#, t(lang, "decisions-none")),
        Err(status) => return view::refusal_block(lang, status),
    };
    e.decisions
        .iter()
        .map(|d| {
            let mut cands: Vec<&matching::Candidate> = d.candidates.iter().collect();
            cands.sort_by(|a, b| {
                b.chosen
                    .cmp(&a.chosen)
                    .then(a.distance_meters.total_cmp(&b.distance_meters))
            });
            let rows: String = cands
                .iter()
                .map(|c| {
                    let verdict = if c.chosen {
                        format!("<strong>{}</strong>", t(lang, "candidate-chosen"))
                    } else if c.reasons.is_empty() {
                        t(lang, "candidate-eligible")
                    } else {
                        view::reasons(lang, &c.reasons)
                    };
                    format!(
                        r#"<tr><td>{name}</td><td class="num">{km}</td><td>{verdict}</td></tr>"#,
                        name = escape(&group_label(loaded, &c.group, &c.group_display_name)),
                        km = km(c.distance_meters),
                    )
                })
                .collect();
            let head = if d.escalated {
                t(lang, "step-escalated")
            } else {
                escape(&text_with(
                    lang,
                    "step-offered",
                    &[("attempt", Arg::Num(f64::from(d.attempt)))],
                ))
            };
            format!(
                r#"<h3>{when} {head}</h3><table><thead><tr><th scope="col">{h_group}</th><th scope="col">{h_distance}</th><th scope="col">{h_verdict}</th></tr></thead><tbody>{rows}</tbody></table>"#,
                when = view::when(d.decide_time.as_ref()),
                h_group = t(lang, "candidate-group"),
                h_distance = t(lang, "candidate-distance"),
                h_verdict = t(lang, "candidate-verdict"),
            )
        })
        .collect()
}

/// Who did what to the request, from triage's and dispatch's audit logs.
fn audit(lang: Lang, loaded: &Loaded) -> String {
    let mut rows: Vec<(i64, String)> = Vec::new();
    let key = |ts: Option<&prost_types::Timestamp>| ts.map_or(0, |t| t.seconds);
    for e in &loaded.triage_audit {
        let what = match &e.decision {
            Some(d) => format!(
                "{}: {}, {}",
                t(lang, "audit-triage"),
                view::category(lang, d.category),
                view::priority(lang, d.priority)
            ),
            None => t(lang, "audit-triage"),
        };
        rows.push((
            key(e.create_time.as_ref()),
            format!(
                "<tr><td>{}</td><td>{}</td><td>{what}</td><td>{}</td></tr>",
                view::when(e.create_time.as_ref()),
                actor(lang, &e.actor),
                if e.actor.starts_with("services/") {
                    String::new()
                } else {
                    escape(&e.reason)
                }
            ),
        ));
    }
    for e in &loaded.dispatch_audit {
        let group = if e.group.is_empty() {
            String::new()
        } else {
            format!(" → {}", escape(&group_label(loaded, &e.group, "")))
        };
        rows.push((
            key(e.create_time.as_ref()),
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}{group}</td><td>{}</td></tr>",
                view::when(e.create_time.as_ref()),
                actor(lang, &e.actor),
                action_label(lang, &e.action),
                escape(&e.reason)
            ),
        ));
    }
    if rows.is_empty() {
        return format!(r#"<p class="muted">{}</p>"#, t(lang, "audit-none"));
    }
    rows.sort_by_key(|(k, _)| *k);
    let body: String = rows.into_iter().map(|(_, r)| r).collect();
    format!(
        r#"<table class="audit"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{body}</tbody></table>"#,
        t(lang, "audit-when"),
        t(lang, "audit-who"),
        t(lang, "audit-what"),
        t(lang, "audit-reason"),
    )
}

/// The request and the groups considered for it, on the map.
fn request_map(lang: Lang, loaded: &Loaded) -> String {
    let r = &loaded.request;
    let point = r.location.as_ref().and_then(|l| l.point);
    let mut markers = Vec::new();
    let chosen: Vec<String> = loaded
        .explanation
        .as_ref()
        .map(|e| {
            e.decisions
                .iter()
                .flat_map(|d| d.candidates.iter().filter(|c| c.chosen))
                .map(|c| c.group.clone())
                .collect()
        })
        .unwrap_or_default();
    for g in loaded.groups.values() {
        let Some(p) = g.last_location.or(g.base_location) else {
            continue;
        };
        let holds = r.assignment.as_ref().is_some_and(|a| a.group == g.name);
        markers.push(Marker {
            latitude: p.latitude,
            longitude: p.longitude,
            mark: if holds || chosen.contains(&g.name) {
                Mark::Chosen
            } else {
                Mark::Candidate
            },
            label: g.display_name.clone(),
        });
    }
    if let Some((a, p)) = on_the_way(loaded) {
        markers.push(Marker {
            latitude: p.latitude,
            longitude: p.longitude,
            mark: Mark::Position,
            label: group_label(loaded, &a.group, ""),
        });
    }
    if let Some(p) = point {
        markers.push(Marker {
            latitude: p.latitude,
            longitude: p.longitude,
            mark: Mark::Request,
            label: r.reference_code.clone(),
        });
    }
    format!(
        r#"<section class="card" aria-labelledby="h-map"><h2 id="h-map">{}</h2>{}</section>"#,
        t(lang, "map-title"),
        map::figure(
            lang,
            &t(lang, "map-request-label"),
            &markers,
            point.map(|p| (p.latitude, p.longitude))
        )
    )
}

/// The dispatcher's actions, each a form with its reason.
fn actions(user: &User, id: &str, loaded: &Loaded, refused_for: &dyn Fn(&str) -> String) -> String {
    let lang = user.lang;
    let r = &loaded.request;
    if is_finished(r.status) {
        return erase_form(user, id, loaded, refused_for);
    }
    let csrf = escape(&user.session.csrf);
    let id = escape(id);
    let active = r
        .assignment
        .as_ref()
        .filter(|a| is_active(a.status))
        .cloned();
    // The groups the matcher weighed, nearest first, with why they were passed over: the
    // dispatcher may override distance, area, shift and skills, not capacity or rest.
    let mut options: Vec<(String, String, f64)> = Vec::new();
    if let Ok(e) = &loaded.explanation
        && let Some(last) = e.decisions.last()
    {
        for c in &last.candidates {
            let why = if c.reasons.is_empty() {
                String::new()
            } else {
                format!(" — {}", view::reasons(lang, &c.reasons))
            };
            options.push((
                c.group.clone(),
                format!(
                    "{} · {}{why}",
                    group_label(loaded, &c.group, &c.group_display_name),
                    km(c.distance_meters)
                ),
                c.distance_meters,
            ));
        }
    }
    options.sort_by(|a, b| a.2.total_cmp(&b.2));
    let group_options: String = options
        .iter()
        .map(|(g, label, _)| {
            format!(
                r#"<option value="{}">{}</option>"#,
                escape(g),
                // Labels are built from escaped parts and the group's name.
                label
            )
        })
        .collect();
    let group_field = |form: &str| -> String {
        if options.is_empty() {
            format!(
                r#"<label for="{form}-group">{l}</label><input type="text" id="{form}-group" name="group" placeholder="groups/…" required>"#,
                l = t(lang, "action-group")
            )
        } else {
            format!(
                r#"<label for="{form}-group">{l}</label><select id="{form}-group" name="group">{group_options}</select>"#,
                l = t(lang, "action-group")
            )
        }
    };
    let reason_field = |form: &str| -> String {
        format!(
            r#"<label for="{form}-reason">{l}</label><input type="text" id="{form}-reason" name="reason" required maxlength="500">"#,
            l = t(lang, "action-reason")
        )
    };
    let hidden = |action: &str| -> String {
        format!(
            r#"<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="request_id" value="{}">{}"#,
            uuid::Uuid::new_v4(),
            refused_for(action)
        )
    };
    let mut forms = Vec::new();
    match &active {
        None => forms.push(format!(
            r#"<form method="post" action="/requests/{id}/assign" class="action card"><h3>{title}</h3>{hidden}{group}{reason}<button type="submit">{submit}</button></form>"#,
            title = t(lang, "action-assign"),
            hidden = hidden("assign"),
            group = group_field("assign"),
            reason = reason_field("assign"),
            submit = t(lang, "action-assign-submit"),
        )),
        Some(a) => {
            forms.push(format!(
                r#"<form method="post" action="/requests/{id}/reassign" class="action card"><h3>{title}</h3>{hidden}{group}{reason}<button type="submit">{submit}</button></form>"#,
                title = t(lang, "action-reassign"),
                hidden = hidden("reassign"),
                group = group_field("reassign"),
                reason = reason_field("reassign"),
                submit = t(lang, "action-reassign-submit"),
            ));
            forms.push(format!(
                r#"<form method="post" action="/requests/{id}/withdraw" class="action card"><h3>{title}</h3>{hidden}<input type="hidden" name="assignment" value="{assignment}"><p class="muted">{holder}</p>{reason}<button type="submit">{submit}</button></form>"#,
                title = t(lang, "action-withdraw"),
                hidden = hidden("withdraw"),
                assignment = escape(&a.assignment),
                holder = escape(&format!(
                    "{} · {}",
                    group_label(loaded, &a.group, &a.group_display_name),
                    enum_label(
                        lang,
                        pb::AssignmentStatus::try_from(a.status)
                            .map(|s| s.as_str_name())
                            .unwrap_or("")
                    )
                )),
                reason = reason_field("withdraw"),
                submit = t(lang, "action-withdraw-submit"),
            ));
        }
    }
    let decision = loaded.decision.as_ref().ok();
    forms.push(format!(
        r#"<form method="post" action="/requests/{id}/override" class="action card"><h3>{title}</h3>{hidden}<label for="override-category">{l_category}</label>{category}<label for="override-priority">{l_priority}</label>{priority}{skills}{reason}<button type="submit">{submit}</button></form>"#,
        title = t(lang, "action-override"),
        hidden = hidden("override"),
        l_category = t(lang, "field-category"),
        category = select(
            lang,
            "category",
            &view::categories(),
            decision
                .and_then(|d| pb::Category::try_from(d.category).ok())
                .map_or("", |c| c.as_str_name()),
            None
        )
        .replace(r#"id="category""#, r#"id="override-category""#),
        l_priority = t(lang, "field-priority"),
        priority = select(
            lang,
            "priority",
            &view::priorities(),
            decision
                .and_then(|d| pb::Priority::try_from(d.priority).ok())
                .map_or("", |p| p.as_str_name()),
            None
        )
        .replace(r#"id="priority""#, r#"id="override-priority""#),
        skills = {
            let current: Vec<i32> = decision.map(|d| d.required_skills.clone()).unwrap_or_default();
            let boxes: String = view::names(|k: &pb::Skill| k.as_str_name())
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let on = pb::Skill::from_str_name(name)
                        .is_some_and(|k| current.contains(&(k as i32)));
                    format!(
                        r#"<div class="check"><input type="checkbox" id="skill-{i}" name="skill" value="{name}"{checked}><label for="skill-{i}">{label}</label></div>"#,
                        checked = if on { " checked" } else { "" },
                        label = escape(&enum_label(lang, name)),
                    )
                })
                .collect();
            format!(
                r#"<fieldset class="skills"><legend>{}</legend>{boxes}</fieldset>"#,
                t(lang, "triage-skills")
            )
        },
        reason = reason_field("override"),
        submit = t(lang, "action-override-submit"),
    ));
    let duplicate = decision
        .map(|d| d.possible_duplicate_of.clone())
        .unwrap_or_default();
    forms.push(format!(
        r#"<form method="post" action="/requests/{id}/merge" class="action card"><h3>{title}</h3>{hidden}<label for="merge-into">{l_into}</label><input type="text" id="merge-into" name="into" value="{into}" required aria-describedby="merge-hint"><small id="merge-hint" class="muted">{hint}</small>{reason}<button type="submit">{submit}</button></form>"#,
        title = t(lang, "action-merge"),
        hidden = hidden("merge"),
        l_into = t(lang, "field-merge-into"),
        into = escape(&duplicate),
        hint = t(lang, "action-merge-hint"),
        reason = reason_field("merge"),
        submit = t(lang, "action-merge-submit"),
    ));
    forms.push(format!(
        r#"<form method="post" action="/requests/{id}/cancel" class="action card danger"><h3>{title}</h3>{hidden}<input type="hidden" name="etag" value="{etag}">{reason}<button type="submit">{submit}</button></form>"#,
        title = t(lang, "action-cancel"),
        hidden = hidden("cancel"),
        etag = escape(&r.etag),
        reason = reason_field("cancel"),
        submit = t(lang, "action-cancel-submit"),
    ));
    format!(
        r#"<section aria-labelledby="h-actions"><h2 id="h-actions">{}</h2><div class="actions-grid">{}</div></section>"#,
        t(lang, "actions-title"),
        forms.concat()
    )
}

/// A finished request's only action: erasing the caller's personal data for good (a caller's
/// right to be forgotten), behind a disclosure so it is not pressed in passing. Nothing once
/// erased: the status says when and why.
fn erase_form(
    user: &User,
    id: &str,
    loaded: &Loaded,
    refused_for: &dyn Fn(&str) -> String,
) -> String {
    let lang = user.lang;
    if loaded.request.erasure.is_some() {
        return String::new();
    }
    let refused = refused_for("erase");
    format!(
        r#"<section aria-labelledby="h-actions"><h2 id="h-actions">{title}</h2><details class="erase card"{open}><summary>{action}</summary><form method="post" action="/requests/{id}/erase"><input type="hidden" name="csrf" value="{csrf}">{refused}<p class="muted" id="erase-hint">{hint}</p><label for="erase-reason">{l_reason}</label><input type="text" id="erase-reason" name="reason" required maxlength="500" aria-describedby="erase-hint"><button type="submit">{submit}</button></form></details></section>"#,
        title = t(lang, "actions-title"),
        open = if refused.is_empty() { "" } else { " open" },
        action = t(lang, "action-erase"),
        id = escape(id),
        csrf = escape(&user.session.csrf),
        hint = t(lang, "action-erase-hint"),
        l_reason = t(lang, "action-reason"),
        submit = t(lang, "action-erase-submit"),
    )
}

/// When and why the caller's personal data was erased, for the status line.
fn erasure_line(lang: Lang, e: &intake::Erasure) -> String {
    let by = if e.erased_by == "retention" {
        t(lang, "request-erased-retention")
    } else {
        escape(&e.erased_by)
    };
    let reason = if e.reason.is_empty() || e.erased_by == "retention" {
        String::new()
    } else {
        format!(": {}", escape(&e.reason))
    };
    format!(
        r#"<br><strong class="erased-mark">{}</strong> <small class="muted">{}, {by}{reason}</small>"#,
        t(lang, "request-erased"),
        view::when(e.erase_time.as_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_words_are_marked_whatever_their_case_and_the_rest_escaped() {
        let out = highlight("Көмір керек <b>, КӨМІР 2 тонна", &["көмір", "тонна"]);
        assert_eq!(
            out,
            "<mark>Көмір</mark> керек &lt;b&gt;, <mark>КӨМІР</mark> 2 <mark>тонна</mark>"
        );
        assert_eq!(highlight("abc", &[]), "abc");
        assert_eq!(highlight("ab", &["abc"]), "ab");
    }
}
