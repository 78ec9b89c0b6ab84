//! The roster as a dispatcher sees it: organisations, their groups on the map with whether
//! they can take work now, and an import of the organisation's roster file (pasted CSV, or an
//! uploaded CSV or workbook) that shows what it would change before it does.

use axum::extract::{Form, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use komek_i18n::{Arg, text_with};
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::map::{self, Mark, Marker};
use crate::pages::{escape, layout, t};
use crate::view;
use crate::{Console, Shared, User, html};

/// The roster page lists at most this many groups (the service gives 100 a page).
const MAX_GROUPS: usize = 1000;

/// A group's state now: what it said, and whether its schedule has it on shift.
fn state(g: &roster::Group, now: chrono::DateTime<chrono::Utc>) -> (Mark, &'static str) {
    if g.deactivate_time.is_some() {
        return (Mark::Away, "group-deactivated");
    }
    let on_shift = g
        .schedule
        .as_ref()
        .filter(|s| !s.shifts.is_empty())
        .and_then(|s| komek_runtime::boundary::schedule(s).ok())
        .is_none_or(|s| s.on_duty(now));
    match pb::Availability::try_from(g.availability) {
        Ok(pb::Availability::Available) if on_shift => (Mark::Available, "availability-available"),
        Ok(pb::Availability::Available) => (Mark::Away, "group-off-shift"),
        Ok(pb::Availability::Busy) => (Mark::Busy, "availability-busy"),
        _ => (Mark::Away, "availability-off-duty"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RosterQuery {
    region: String,
}

struct Loaded {
    organizations: Result<Vec<roster::Organization>, tonic::Status>,
    groups: Result<Vec<roster::Group>, tonic::Status>,
    /// The first page of volunteers, for signing a phone in.
    volunteers: Vec<roster::Volunteer>,
}

async fn load(console: &Console, user: &User, region: &str) -> Result<Loaded, Response> {
    let mut orgs_client = console.roster_client(user)?;
    let mut groups_client = orgs_client.clone();
    let mut volunteers_client = orgs_client.clone();
    let organizations = async {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let r = orgs_client
                .list_organizations(roster::ListOrganizationsRequest {
                    page_size: 100,
                    page_token: token,
                })
                .await?
                .into_inner();
            out.extend(r.organizations);
            if r.next_page_token.is_empty() || out.len() >= MAX_GROUPS {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    };
    let groups = async {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let r = groups_client
                .list_groups(roster::ListGroupsRequest {
                    page_size: 100,
                    page_token: token,
                    organization: String::new(),
                    region: region.to_string(),
                    // Listed with their reason and a way back; never on the map.
                    show_deactivated: true,
                })
                .await?
                .into_inner();
            out.extend(r.groups);
            if r.next_page_token.is_empty() || out.len() >= MAX_GROUPS {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    };
    let volunteers = async {
        volunteers_client
            .list_volunteers(roster::ListVolunteersRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().volunteers)
            .unwrap_or_default()
    };
    let (organizations, groups, volunteers) = tokio::join!(organizations, groups, volunteers);
    Ok(Loaded {
        organizations,
        groups,
        volunteers,
    })
}

pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<RosterQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let loaded = match load(&console, &user, &query.region).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    html(render(&user, &query.region, &loaded, None, ""))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImportForm {
    csrf: String,
    request_id: String,
    organization: String,
    /// Pasted CSV text.
    csv: String,
    /// A previewed upload carried to the apply step (URL-safe base64 of its bytes).
    file: String,
    file_name: String,
    /// "preview" checks and reports; "apply" changes the roster.
    step: String,
}

/// The import form as posted: URL-encoded (pasted text, or the apply step) or multipart with
/// an uploaded file, whose bytes then stand for the file.
async fn import_form(request: Request) -> Result<(ImportForm, Vec<u8>), Response> {
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bad = |_| StatusCode::BAD_REQUEST.into_response();
    if !multipart {
        let Form(form) = Form::<ImportForm>::from_request(request, &())
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = if form.file.is_empty() {
            form.csv.clone().into_bytes()
        } else {
            URL_SAFE_NO_PAD.decode(&form.file).map_err(bad)?
        };
        return Ok((form, bytes));
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(IntoResponse::into_response)?;
    let mut form = ImportForm::default();
    let mut upload = Vec::new();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(IntoResponse::into_response)?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "upload" {
            form.file_name = field.file_name().unwrap_or_default().to_string();
            upload = field
                .bytes()
                .await
                .map_err(IntoResponse::into_response)?
                .to_vec();
            continue;
        }
        let value = field.text().await.map_err(IntoResponse::into_response)?;
        match name.as_str() {
            "csrf" => form.csrf = value,
            "request_id" => form.request_id = value,
            "organization" => form.organization = value,
            "csv" => form.csv = value,
            "step" => form.step = value,
            _ => {}
        }
    }
    if upload.is_empty() {
        form.file_name.clear();
        let text = form.csv.clone().into_bytes();
        Ok((form, text))
    } else {
        form.file = URL_SAFE_NO_PAD.encode(&upload);
        Ok((form, upload))
    }
}

/// Either previews an import (the service checks every row and changes nothing) or applies
/// the previewed file or text.
pub async fn import(State(console): State<Shared>, request: Request) -> Response {
    let headers = request.headers().clone();
    let (form, bytes) = match import_form(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut client = match console.roster_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let apply = form.step == "apply";
    let request_id = if uuid::Uuid::parse_str(&form.request_id).is_ok() {
        form.request_id.clone()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let reply = client
        .import_roster(roster::ImportRosterRequest {
            request_id: if apply {
                request_id
            } else {
                uuid::Uuid::new_v4().to_string()
            },
            organization: form.organization.clone(),
            csv: bytes,
            validate_only: !apply,
        })
        .await;
    let loaded = match load(&console, &user, "").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let outcome = Outcome {
        applied: apply,
        form,
        reply,
    };
    let code = match &outcome.reply {
        Ok(_) => StatusCode::OK,
        Err(s) if s.code() == tonic::Code::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
        Err(s) if s.code() == tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        Err(_) => StatusCode::BAD_GATEWAY,
    };
    (code, html(render(&user, "", &loaded, Some(&outcome), ""))).into_response()
}

struct Outcome {
    applied: bool,
    form: ImportForm,
    reply: Result<tonic::Response<roster::ImportRosterResponse>, tonic::Status>,
}

/// A group's row action: deactivate it (with a reason, behind a disclosure so it is not clicked
/// by accident) or, for a deactivated one, bring it back.
fn group_action(user: &User, g: &roster::Group) -> String {
    let lang = user.lang;
    let csrf = escape(&user.session.csrf);
    let id = escape(g.name.strip_prefix("groups/").unwrap_or_default());
    if g.deactivate_time.is_some() {
        return format!(
            r#"<form method="post" action="/roster/groups/{id}/reactivate"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="secondary">{}</button></form>"#,
            t(lang, "group-reactivate")
        );
    }
    format!(
        r#"<details class="deactivate"><summary>{summary}</summary><form method="post" action="/roster/groups/{id}/deactivate"><input type="hidden" name="csrf" value="{csrf}"><label for="why-{id}">{why}</label><input id="why-{id}" name="reason" required maxlength="500"><button type="submit">{button}</button></form></details>"#,
        summary = t(lang, "group-deactivate"),
        why = t(lang, "group-deactivate-reason"),
        button = t(lang, "group-deactivate-confirm"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivationForm {
    csrf: String,
    reason: String,
}

/// Deactivates or reactivates a group, then shows the roster again; a refusal is shown on it.
pub async fn set_active(
    State(console): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    Form(form): Form<ActivationForm>,
) -> Response {
    let user = match console.posted(&headers, &form.csrf) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut client = match console.roster_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = format!("groups/{id}");
    let reply = match action.as_str() {
        "deactivate" => client
            .deactivate_group(roster::DeactivateGroupRequest {
                name,
                reason: form.reason,
            })
            .await
            .map(|_| ()),
        "reactivate" => client
            .reactivate_group(roster::ReactivateGroupRequest { name })
            .await
            .map(|_| ()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match reply {
        Ok(()) => axum::response::Redirect::to("/roster").into_response(),
        Err(status) => {
            let loaded = match load(&console, &user, "").await {
                Ok(l) => l,
                Err(r) => return r,
            };
            let code = if status.code() == tonic::Code::InvalidArgument {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            let refusal = view::refusal_block(user.lang, &status);
            (code, html(render(&user, "", &loaded, None, &refusal))).into_response()
        }
    }
}

/// The roster page; `notice` (HTML) stands above the groups, where the refused action was.
fn render(
    user: &User,
    region: &str,
    loaded: &Loaded,
    outcome: Option<&Outcome>,
    notice: &str,
) -> String {
    let lang = user.lang;
    let now = chrono::Utc::now();
    let orgs = loaded.organizations.as_ref().ok();
    let org_name = |name: &str| -> String {
        orgs.and_then(|o| o.iter().find(|o| o.name == name))
            .map(|o| o.display_name.clone())
            .unwrap_or_else(|| name.to_string())
    };
    let regions: String = view::regions(lang)
        .into_iter()
        .map(|(en, name)| {
            let sel = if en == region { " selected" } else { "" };
            format!(
                r#"<option value="{}"{sel}>{}</option>"#,
                escape(&en),
                escape(&name)
            )
        })
        .collect();
    let (groups_html, markers) = match &loaded.groups {
        Err(status) => (view::refusal_block(lang, status), Vec::new()),
        Ok(groups) if groups.is_empty() => (
            format!(r#"<p class="muted">{}</p>"#, t(lang, "roster-no-groups")),
            Vec::new(),
        ),
        Ok(groups) => {
            let mut markers = Vec::new();
            let rows: String = groups
                .iter()
                .map(|g| {
                    let (mark, key) = state(g, now);
                    let active = g.deactivate_time.is_none();
                    if let Some(p) = g.last_location.or(g.base_location).filter(|_| active) {
                        markers.push(Marker {
                            latitude: p.latitude,
                            longitude: p.longitude,
                            mark,
                            label: format!("{} — {}", g.display_name, komek_i18n::text(lang, key)),
                        });
                    }
                    let skills: Vec<String> = g
                        .skills
                        .iter()
                        .map(|s| view::label_of(lang, s.skill, |x: &pb::Skill| x.as_str_name()))
                        .collect();
                    format!(
                        r#"<tr{row_class}><td>{name}</td><td>{org}</td><td>{place}</td><td><span class="state {cls}">{state}</span>{why}</td><td class="num">{capacity}</td><td>{skills}</td><td>{action}</td></tr>"#,
                        row_class = if active { "" } else { r#" class="inactive""# },
                        why = if active {
                            String::new()
                        } else {
                            format!(r#"<br><small class="muted">{}</small>"#, escape(&g.deactivation_reason))
                        },
                        action = group_action(user, g),
                        name = escape(&g.display_name),
                        org = escape(&org_name(&g.organization)),
                        place = escape(&view::place(
                            lang,
                            Some(&pb::Location {
                                settlement: g.settlement.clone(),
                                district: g.district.clone(),
                                region: g.region.clone(),
                                ..Default::default()
                            })
                        )),
                        cls = match mark {
                            Mark::Available => "m-available",
                            Mark::Busy => "m-busy",
                            _ => "m-away",
                        },
                        state = t(lang, key),
                        capacity = g.capacity,
                        skills = skills.join(", "),
                    )
                })
                .collect();
            (
                format!(
                    r#"<table class="groups"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col"><span class="sr-only">{}</span></th></tr></thead><tbody>{rows}</tbody></table>"#,
                    t(lang, "roster-group"),
                    t(lang, "roster-organization"),
                    t(lang, "field-location"),
                    t(lang, "roster-state"),
                    t(lang, "roster-capacity"),
                    t(lang, "triage-skills"),
                    t(lang, "roster-actions"),
                ),
                markers,
            )
        }
    };
    let org_options: String = orgs
        .map(|o| {
            o.iter()
                .map(|o| {
                    let sel = if outcome.is_some_and(|x| x.form.organization == o.name) {
                        " selected"
                    } else {
                        ""
                    };
                    format!(
                        r#"<option value="{}"{sel}>{}</option>"#,
                        escape(&o.name),
                        escape(&o.display_name)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let orgs_html = match &loaded.organizations {
        Ok(o) => {
            let items: String = o
                .iter()
                .map(|o| {
                    let kind = view::label_of(lang, o.kind, |k: &roster::OrganizationKind| {
                        k.as_str_name()
                    });
                    format!(
                        r#"<li><strong>{}</strong> <span class="muted">{kind}</span></li>"#,
                        escape(&o.display_name)
                    )
                })
                .collect();
            format!(r#"<ul class="orgs">{items}</ul>"#)
        }
        Err(status) => view::refusal_block(lang, status),
    };
    let body = format!(
        r#"<form method="get" action="/roster" class="filters card"><div><label for="region">{l_region}</label><select id="region" name="region"><option value="">{all}</option>{regions}</select></div><div><button type="submit">{apply}</button></div></form>
<section class="card" aria-labelledby="h-map"><h2 id="h-map">{l_map}</h2>{map}</section>
<section class="card" aria-labelledby="h-groups"><h2 id="h-groups">{l_groups}</h2>{notice}{groups_html}</section>
<section class="card" aria-labelledby="h-orgs"><h2 id="h-orgs">{l_orgs}</h2>{orgs_html}</section>
<section class="card" aria-labelledby="h-import"><h2 id="h-import">{l_import}</h2>{import}</section>
{phone}"#,
        l_region = t(lang, "field-region"),
        all = t(lang, "queues-all-regions"),
        apply = t(lang, "queues-apply"),
        l_map = t(lang, "map-title"),
        map = map::figure(lang, &t(lang, "roster-map-label"), &markers, None),
        l_groups = t(lang, "roster-groups"),
        l_orgs = t(lang, "roster-organizations"),
        l_import = t(lang, "import-title"),
        import = import_part(user, &org_options, outcome),
        phone = sign_in_link_part(user, &loaded.volunteers),
    );
    layout(lang, &t(lang, "roster-title"), Some(&user.session), &body)
}

/// The form that makes a one-time sign-in link for a volunteer's phone.
fn sign_in_link_part(user: &User, volunteers: &[roster::Volunteer]) -> String {
    let lang = user.lang;
    if volunteers.is_empty() {
        return String::new();
    }
    let options: String = volunteers
        .iter()
        .map(|v| {
            format!(
                r#"<option value="{}">{}</option>"#,
                escape(&v.name),
                escape(&v.display_name)
            )
        })
        .collect();
    format!(
        r#"<section class="card" aria-labelledby="h-phone"><h2 id="h-phone">{title}</h2><form method="post" action="/roster/sign-in-link"><input type="hidden" name="csrf" value="{csrf}"><label for="link-volunteer">{l_volunteer}</label><select id="link-volunteer" name="volunteer">{options}</select><p><button type="submit">{make}</button></p></form></section>"#,
        title = t(lang, "roster-sign-in-title"),
        csrf = escape(&user.session.csrf),
        l_volunteer = t(lang, "roster-volunteer"),
        make = t(lang, "roster-make-link"),
    )
}

/// A row problem of an import in the reader's language. The roster service words them in
/// English; the usual ones have their own sentence, and any other is told as a bad value with
/// the service's words after it.
fn import_problem(lang: komek_i18n::Lang, message: &str) -> String {
    let key = if message.contains("is not a number") {
        "import-problem-number"
    } else if message.contains("whole number") {
        "import-problem-whole"
    } else if message.contains("required column missing") {
        "import-problem-column"
    } else if message.contains("has no rows") {
        "import-problem-empty"
    } else if message.contains("workbook") || message.contains("cannot be read") {
        "import-problem-unreadable"
    } else if message.contains("not closed") {
        "import-problem-quote"
    } else if message.contains("unknown column") {
        "import-problem-unknown-column"
    } else if message.contains("unknown skill") {
        "import-problem-skill"
    } else if message.contains("rows per import") {
        "import-problem-too-many"
    } else {
        return format!(
            r#"{} <span class="muted" lang="en">({})</span>"#,
            t(lang, "import-problem-value"),
            escape(message)
        );
    };
    t(lang, key)
}

/// How the service read the file, so a wrong guess (a delimiter, an encoding, a sheet) shows
/// before anything is applied.
fn read_as(lang: komek_i18n::Lang, form: &ImportForm, file: &roster::RosterFile) -> String {
    let rows = ("rows", Arg::Num(f64::from(file.rows)));
    let name = if form.file_name.is_empty() {
        String::new()
    } else {
        format!("{}: ", form.file_name)
    };
    let how = match file.format() {
        roster::RosterFileFormat::Csv => {
            let delimiter = if file.delimiter == "\t" {
                t(lang, "import-tab")
            } else {
                file.delimiter.clone()
            };
            text_with(
                lang,
                "import-read-csv",
                &[
                    ("encoding", Arg::Str(&file.encoding)),
                    ("delimiter", Arg::Str(&delimiter)),
                    rows,
                ],
            )
        }
        format => {
            let format = format
                .as_str_name()
                .trim_start_matches("ROSTER_FILE_FORMAT_");
            text_with(
                lang,
                "import-read-book",
                &[
                    ("format", Arg::Str(format)),
                    ("sheet", Arg::Str(&file.sheet)),
                    rows,
                ],
            )
        }
    };
    format!("{name}{how}")
}

/// The import form, and after a preview what would change with an "apply" button carrying the
/// same CSV; after applying, what changed.
fn import_part(user: &User, org_options: &str, outcome: Option<&Outcome>) -> String {
    let lang = user.lang;
    let csrf = escape(&user.session.csrf);
    let result = match outcome {
        None => String::new(),
        Some(o) => match &o.reply {
            Err(status) => view::refusal_block(lang, status),
            Ok(r) => {
                let r = r.get_ref();
                let counts = escape(&text_with(
                    lang,
                    if o.applied {
                        "import-applied"
                    } else {
                        "import-would"
                    },
                    &[
                        ("groups_created", Arg::Num(f64::from(r.groups_created))),
                        ("groups_updated", Arg::Num(f64::from(r.groups_updated))),
                        (
                            "volunteers_created",
                            Arg::Num(f64::from(r.volunteers_created)),
                        ),
                        (
                            "volunteers_updated",
                            Arg::Num(f64::from(r.volunteers_updated)),
                        ),
                    ],
                ));
                let errors: String = r
                    .errors
                    .iter()
                    .map(|e| {
                        format!(
                            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                            e.line,
                            escape(&e.column),
                            import_problem(lang, &e.message)
                        )
                    })
                    .collect();
                let errors = if errors.is_empty() {
                    String::new()
                } else {
                    format!(
                        r#"<p class="error">{}</p><table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{errors}</tbody></table>"#,
                        escape(&text_with(
                            lang,
                            "import-errors",
                            &[("count", Arg::Num(r.errors.len() as f64))]
                        )),
                        t(lang, "import-line"),
                        t(lang, "import-column"),
                        t(lang, "import-problem"),
                    )
                };
                // An import with any row in error changes nothing: fix the sheet first.
                let apply = if o.applied || !r.errors.is_empty() {
                    String::new()
                } else {
                    format!(
                        r#"<form method="post" action="/roster/import"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="request_id" value="{id}"><input type="hidden" name="organization" value="{org}"><input type="hidden" name="csv" value="{csv}"><input type="hidden" name="file" value="{file}"><input type="hidden" name="file_name" value="{file_name}"><input type="hidden" name="step" value="apply"><button type="submit">{label}</button></form>"#,
                        id = uuid::Uuid::new_v4(),
                        org = escape(&o.form.organization),
                        csv = escape(&o.form.csv),
                        file = escape(&o.form.file),
                        file_name = escape(&o.form.file_name),
                        label = t(lang, "import-apply"),
                    )
                };
                let read = r
                    .file
                    .as_ref()
                    .map(|f| {
                        format!(
                            "<p class=\"muted\">{}</p>",
                            escape(&read_as(lang, &o.form, f))
                        )
                    })
                    .unwrap_or_default();
                format!(
                    r#"<div class="preview" role="status"><p>{counts}</p>{read}{errors}{apply}</div>"#
                )
            }
        },
    };
    let previous = outcome.map(|o| escape(&o.form.csv)).unwrap_or_default();
    format!(
        r#"{result}<form method="post" action="/roster/import" class="import" enctype="multipart/form-data"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="step" value="preview">
<label for="import-org">{l_org}</label><select id="import-org" name="organization">{org_options}</select>
<label for="import-file">{l_file}</label><input type="file" id="import-file" name="upload" accept=".csv,.txt,.xlsx,.xls,.ods,text/csv">
<label for="import-csv">{l_csv}</label><textarea id="import-csv" name="csv" rows="8" aria-describedby="import-hint" spellcheck="false">{previous}</textarea>
<small id="import-hint" class="muted">{hint}</small>
<button type="submit">{preview}</button></form>"#,
        l_org = t(lang, "roster-organization"),
        l_csv = t(lang, "import-csv"),
        hint = t(lang, "import-hint"),
        l_file = t(lang, "import-file"),
        preview = t(lang, "import-preview"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_available_but_off_its_shift_is_shown_off_shift() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T20:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut g = roster::Group {
            availability: pb::Availability::Available as i32,
            ..Default::default()
        };
        assert_eq!(state(&g, now).0, Mark::Available);
        // Monday 09:00–18:00 in Almaty; 20:00 UTC is 01:00 on Tuesday there.
        g.schedule = Some(pb::WeeklySchedule {
            time_zone: "Asia/Almaty".into(),
            shifts: vec![pb::Shift {
                day: 1,
                start: Some(pb::TimeOfDay {
                    hours: 9,
                    ..Default::default()
                }),
                end: Some(pb::TimeOfDay {
                    hours: 18,
                    ..Default::default()
                }),
            }],
            exceptions: vec![],
        });
        assert_eq!(state(&g, now), (Mark::Away, "group-off-shift"));
        g.availability = pb::Availability::Busy as i32;
        assert_eq!(state(&g, now).0, Mark::Busy);
    }
}
