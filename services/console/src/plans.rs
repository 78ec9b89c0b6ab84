//! Recurring plans as dispatchers and partners follow them: each plan with its state, when it
//! next makes its requests, whom it serves, and what its latest occurrences did; dispatchers
//! pause and resume them. Partners see the same list (PlanService scopes it) without pausing.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use komek_i18n::{Arg, Lang, enum_label, text_with};
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::plan_service_client::PlanServiceClient;
use serde::Deserialize;

use crate::pages::{escape, layout, t};
use crate::view;
use crate::{Shared, User, html};

/// How many of a plan's latest runs the page shows.
const RUNS_SHOWN: i32 = 6;

pub async fn page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    render(&console, &user, "").await
}

async fn render(console: &Shared, user: &User, notice: &str) -> Response {
    let channel = match console.intake_channel(user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut client = PlanServiceClient::new(channel);
    let lang = user.lang;
    let plans = client
        .list_plans(intake::ListPlansRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().plans);
    let body = match plans {
        Err(status) => view::refusal_block(lang, &status),
        Ok(plans) if plans.is_empty() => {
            format!(r#"<p class="muted">{}</p>"#, t(lang, "plans-none"))
        }
        Ok(plans) => {
            let mut out = String::new();
            for plan in &plans {
                let runs = client
                    .list_plan_runs(intake::ListPlanRunsRequest {
                        plan: plan.name.clone(),
                        page_size: RUNS_SHOWN,
                        page_token: String::new(),
                    })
                    .await
                    .map(|r| r.into_inner().runs)
                    .unwrap_or_default();
                out.push_str(&plan_card(user, plan, &runs));
            }
            out
        }
    };
    let page = format!(
        r#"{notice}<p class="muted">{intro}</p>{body}"#,
        intro = t(lang, "plans-intro")
    );
    html(layout(
        lang,
        &t(lang, "plans-title"),
        Some(&user.session),
        &page,
    ))
    .into_response()
}

fn is_partner(user: &User) -> bool {
    user.session.role == "ROLE_PARTNER"
}

fn state_label(lang: Lang, plan: &intake::Plan) -> String {
    let state = intake::PlanState::try_from(plan.state).unwrap_or_default();
    let cls = match state {
        intake::PlanState::Active => "m-available",
        intake::PlanState::Paused => "m-busy",
        _ => "m-away",
    };
    format!(
        r#"<span class="state {cls}">{}</span>"#,
        escape(&enum_label(lang, state.as_str_name()))
    )
}

fn plan_card(user: &User, plan: &intake::Plan, runs: &[intake::PlanRun]) -> String {
    let lang = user.lang;
    let id = escape(plan.name.trim_start_matches("plans/"));
    let stops: Vec<String> = plan
        .stops
        .iter()
        .map(|s| escape(&view::place(lang, s.location.as_ref())))
        .collect();
    let next = if plan.next_run_time.is_some() {
        format!(
            "{} {}",
            t(lang, "plans-next"),
            view::when(plan.next_run_time.as_ref())
        )
    } else if !plan.pause_reason.is_empty() {
        format!(
            "{}: {}",
            t(lang, "plans-paused-why"),
            escape(&plan.pause_reason)
        )
    } else {
        String::new()
    };
    let runs: String = runs
        .iter()
        .map(|r| {
            let what = if r.request.is_empty() {
                format!(
                    r#"<span class="muted">{}: {}</span>"#,
                    t(lang, "plans-skipped"),
                    escape(&r.skipped_reason)
                )
            } else {
                let rid = escape(r.request.trim_start_matches("requests/"));
                let code = escape(&r.reference_code);
                if is_partner(user) {
                    format!(r#"<a class="code" href="/partner/status?code={code}">{code}</a>"#)
                } else {
                    format!(r#"<a class="code" href="/requests/{rid}">{code}</a>"#)
                }
            };
            let place = plan
                .stops
                .iter()
                .find(|s| s.name == r.stop)
                .and_then(|s| s.location.as_ref())
                .map(|l| l.settlement.clone())
                .unwrap_or_default();
            format!(
                "<li>{} · {} — {what}</li>",
                view::when(r.occurrence_time.as_ref()),
                escape(&place)
            )
        })
        .collect();
    let runs = if runs.is_empty() {
        format!(r#"<p class="muted">{}</p>"#, t(lang, "plans-no-runs"))
    } else {
        format!(
            r#"<h3>{}</h3><ul class="runs">{runs}</ul>"#,
            t(lang, "plans-runs")
        )
    };
    let csrf = escape(&user.session.csrf);
    let action = match intake::PlanState::try_from(plan.state) {
        _ if is_partner(user) => String::new(),
        Ok(intake::PlanState::Active) => format!(
            r#"<details class="deactivate"><summary>{summary}</summary><form method="post" action="/plans/{id}/pause"><input type="hidden" name="csrf" value="{csrf}"><label for="why-{id}">{why}</label><input id="why-{id}" name="reason" required maxlength="500"><button type="submit">{button}</button></form></details>"#,
            summary = t(lang, "plans-pause"),
            why = t(lang, "plans-pause-reason"),
            button = t(lang, "plans-pause-confirm"),
        ),
        Ok(intake::PlanState::Paused) => format!(
            r#"<form method="post" action="/plans/{id}/resume"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="secondary">{}</button></form>"#,
            t(lang, "plans-resume")
        ),
        _ => String::new(),
    };
    format!(
        r#"<section class="card plan" aria-labelledby="plan-{id}"><h2 id="plan-{id}">{name}</h2>
<p>{state} · {category} · {region}</p>
<p>{next}</p>
<p>{serves}: {stops}</p>
{runs}{action}</section>"#,
        name = escape(&plan.display_name),
        state = state_label(lang, plan),
        category = view::category(lang, plan.category),
        region = escape(&view::region_name(lang, &plan.region)),
        serves = escape(&text_with(
            lang,
            "plans-serves",
            &[("count", Arg::Num(plan.stops.len() as f64))]
        )),
        stops = stops.join("; "),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlanAction {
    csrf: String,
    reason: String,
}

/// Pauses or resumes a plan, then shows the plans again; a refusal is shown above them.
pub async fn act(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<PlanAction>,
) -> Response {
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let channel = match console.intake_channel(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut client = PlanServiceClient::new(channel);
    let name = format!("plans/{id}");
    let reply = match action.as_str() {
        "pause" => client
            .pause_plan(intake::PausePlanRequest {
                name,
                reason: form.reason,
            })
            .await
            .map(|_| ()),
        "resume" => client
            .resume_plan(intake::ResumePlanRequest { name })
            .await
            .map(|_| ()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match reply {
        Ok(()) => Redirect::to("/plans").into_response(),
        Err(status) => {
            let refusal = view::refusal_block(user.lang, &status);
            render(&console, &user, &refusal).await
        }
    }
}
