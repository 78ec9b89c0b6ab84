//! The partners' portal, under `/partner`: what akimats, Red Crescent branches and grant givers
//! follow. A request's status by its reference code, live; the requests in the partner's scope;
//! statistics for a period, drawn and downloadable as CSV and XLSX with labels in the reader's
//! language. Everything comes from PartnerService, whose answers carry no personal data.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, TimeZone};
use futures::StreamExt;
use komek_i18n::{Lang, enum_label, text};
use komek_proto::partner::v1 as partner;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::pages::{escape, layout, t};
use crate::queues::url_encode;
use crate::view;
use crate::xlsx::{self, Cell};
use crate::{Shared, User, html};

fn signed_in(console: &Shared, headers: &HeaderMap) -> Result<User, Response> {
    console.user(headers)
}

fn status_view(lang: Lang, v: &partner::RequestStatusView) -> String {
    format!(
        r#"<dl class="facts">
<div><dt>{l_code}</dt><dd class="code">{code}</dd></div>
<div><dt>{l_status}</dt><dd class="status">{status}</dd></div>
<div><dt>{l_category}</dt><dd>{category}</dd></div>
<div><dt>{l_place}</dt><dd>{place}</dd></div>
<div><dt>{l_group}</dt><dd>{group}</dd></div>
<div><dt>{l_outcome}</dt><dd>{outcome}</dd></div>
<div><dt>{l_updated}</dt><dd>{updated}</dd></div>
</dl>"#,
        l_code = t(lang, "reference-code"),
        code = escape(&v.reference_code),
        l_status = t(lang, "field-status"),
        status = view::request_status(lang, v.status),
        l_category = t(lang, "field-category"),
        category = view::category(lang, v.category),
        l_place = t(lang, "field-location"),
        place = escape(&view::place(
            lang,
            Some(&pb::Location {
                settlement: v.settlement.clone(),
                district: v.district.clone(),
                region: v.region.clone(),
                ..Default::default()
            })
        )),
        l_group = t(lang, "candidate-group"),
        group = escape(&v.group_display_name),
        l_outcome = t(lang, "partner-outcome"),
        outcome = view::label_of(lang, v.outcome, |o: &pb::Outcome| o.as_str_name()),
        l_updated = t(lang, "partner-updated"),
        updated = view::when(v.update_time.as_ref()),
    )
}

/// The portal's start: find a request by its code, and the requests in scope, kept current.
pub async fn home(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let user = match signed_in(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let table = requests_table(&console, &user).await;
    let body = format!(
        r#"<form method="get" action="/partner/status" class="card filters" role="search"><div><label for="code">{l_code}</label><input type="text" id="code" name="code" required autocomplete="off" placeholder="K7M2-9QX4-T"></div><div><button type="submit">{find}</button></div></form>
<p><a class="button" href="/partner/stats">{stats}</a></p>
<section class="card" aria-labelledby="h-requests"><h2 id="h-requests">{l_requests}</h2><div id="partner-requests" data-poll="/partner/requests" aria-live="polite">{table}</div></section>"#,
        l_code = t(lang, "reference-code"),
        find = t(lang, "partner-find"),
        stats = t(lang, "partner-stats"),
        l_requests = t(lang, "partner-requests"),
    );
    html(layout(
        lang,
        &t(lang, "partner-title"),
        Some(&user.session),
        &body,
    ))
}

/// The requests in scope, newest first, as the table the page polls for.
pub async fn requests(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let Ok(user) = signed_in(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    html(requests_table(&console, &user).await)
}

async fn requests_table(console: &Shared, user: &User) -> String {
    let lang = user.lang;
    let mut client = match console.partner_client(user) {
        Ok(c) => c,
        Err(_) => return String::new(),
    };
    let reply = client
        .list_requests(partner::ListRequestsRequest {
            page_size: 50,
            ..Default::default()
        })
        .await;
    let list = match reply {
        Ok(r) => r.into_inner().requests,
        Err(status) => return view::refusal_block(lang, &status),
    };
    if list.is_empty() {
        return format!(r#"<p class="empty">{}</p>"#, t(lang, "partner-none"));
    }
    let rows: String = list
        .iter()
        .map(|v| {
            format!(
                r#"<tr><td><a class="code" href="/partner/status?code={q}">{code}</a></td><td>{category}</td><td>{status}</td><td>{place}</td><td>{group}</td><td>{updated}</td></tr>"#,
                q = url_encode(&v.reference_code),
                code = escape(&v.reference_code),
                category = view::category(lang, v.category),
                status = view::request_status(lang, v.status),
                place = escape(&view::place(
                    lang,
                    Some(&pb::Location {
                        settlement: v.settlement.clone(),
                        district: v.district.clone(),
                        region: v.region.clone(),
                        ..Default::default()
                    })
                )),
                group = escape(&v.group_display_name),
                updated = view::when(v.update_time.as_ref()),
            )
        })
        .collect();
    format!(
        r#"<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{rows}</tbody></table>"#,
        t(lang, "reference-code"),
        t(lang, "field-category"),
        t(lang, "field-status"),
        t(lang, "field-location"),
        t(lang, "candidate-group"),
        t(lang, "partner-updated"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeQuery {
    code: String,
}

async fn get_status(
    console: &Shared,
    user: &User,
    code: &str,
) -> Result<partner::RequestStatusView, tonic::Status> {
    let mut client = console
        .partner_client(user)
        .map_err(|_| tonic::Status::unauthenticated(""))?;
    client
        .get_request_status(partner::GetRequestStatusRequest {
            key: Some(partner::get_request_status_request::Key::ReferenceCode(
                code.trim().chars().take(64).collect(),
            )),
        })
        .await
        .map(|r| r.into_inner())
}

/// One request's status by its reference code, kept current by the partner watch.
pub async fn status(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let user = match signed_in(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    match get_status(&console, &user, &q.code).await {
        Ok(v) => {
            let body = format!(
                r#"<section class="card"><div id="live" data-live="/partner/status/part?code={q}" data-events="/partner/watch?code={q}" data-request="{name}" aria-live="polite">{view}</div></section><p><a href="/partner">{back}</a></p>"#,
                q = escape(&url_encode(&q.code)),
                name = escape(&v.name),
                view = status_view(lang, &v),
                back = t(lang, "partner-back"),
            );
            html(layout(
                lang,
                &t(lang, "partner-status-title"),
                Some(&user.session),
                &body,
            ))
        }
        Err(status) => {
            let code = match status.code() {
                tonic::Code::NotFound | tonic::Code::InvalidArgument => StatusCode::NOT_FOUND,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_GATEWAY,
            };
            let body = format!(
                r#"{}<p><a href="/partner">{}</a></p>"#,
                view::refusal_block(lang, &status),
                t(lang, "partner-back")
            );
            (
                code,
                html(layout(
                    lang,
                    &t(lang, "partner-status-title"),
                    Some(&user.session),
                    &body,
                )),
            )
                .into_response()
        }
    }
}

pub async fn status_part(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let Ok(user) = signed_in(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match get_status(&console, &user, &q.code).await {
        Ok(v) => html(status_view(user.lang, &v)),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// WatchRequest as server-sent events: a `change` naming the request on each status change.
pub async fn watch(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let Ok(user) = signed_in(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(mut client) = console.partner_client(&user) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let stream = match client
        .watch_request(partner::WatchRequestRequest {
            key: Some(partner::watch_request_request::Key::ReferenceCode(
                q.code.trim().chars().take(64).collect(),
            )),
        })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let events = stream
        .take_while(|e| std::future::ready(e.is_ok()))
        .filter_map(|e| async move {
            let v = e.ok()?;
            Some(Ok::<_, Infallible>(
                Event::default().event("change").data(v.name),
            ))
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct StatsQuery {
    from: String,
    to: String,
    by: String,
    region: String,
}

const DIMENSIONS: [partner::StatsDimension; 8] = [
    partner::StatsDimension::Category,
    partner::StatsDimension::Status,
    partner::StatsDimension::Region,
    partner::StatsDimension::District,
    partner::StatsDimension::Month,
    partner::StatsDimension::Organization,
    partner::StatsDimension::Group,
    partner::StatsDimension::Channel,
];

impl StatsQuery {
    /// The period's first and last day, this month by default.
    fn days(&self) -> (NaiveDate, NaiveDate) {
        let today = chrono::Utc::now().with_timezone(&view::zone()).date_naive();
        let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
        let from = NaiveDate::parse_from_str(&self.from, "%Y-%m-%d").unwrap_or(first);
        let to = NaiveDate::parse_from_str(&self.to, "%Y-%m-%d").unwrap_or(today);
        (from, to.max(from))
    }

    fn dimension(&self) -> partner::StatsDimension {
        partner::StatsDimension::from_str_name(&self.by)
            .filter(|d| *d != partner::StatsDimension::Unspecified)
            .unwrap_or(partner::StatsDimension::Category)
    }

    fn request(&self) -> partner::GetStatsRequest {
        let (from, to) = self.days();
        let zone = view::zone();
        let at = |d: NaiveDate| {
            let t = zone
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_default();
            prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            }
        };
        partner::GetStatsRequest {
            period_start: Some(at(from)),
            period_end: Some(at(to + chrono::Days::new(1))),
            group_by: vec![self.dimension() as i32],
            region: self.region.clone(),
        }
    }

    fn query_string(&self) -> String {
        let (from, to) = self.days();
        format!(
            "from={from}&to={to}&by={}&region={}",
            self.dimension().as_str_name(),
            url_encode(&self.region)
        )
    }
}

/// A stats key as people read it: categories and statuses by their label, regions by their
/// name, the rest as they are.
fn key_label(lang: Lang, dim: partner::StatsDimension, key: &str) -> String {
    match dim {
        partner::StatsDimension::Category
        | partner::StatsDimension::Status
        | partner::StatsDimension::Channel => enum_label(lang, key),
        partner::StatsDimension::Region => view::region_name(lang, key),
        // Requests no group has had yet.
        partner::StatsDimension::Organization | partner::StatsDimension::Group
            if key.is_empty() =>
        {
            text(lang, "partner-no-group")
        }
        _ => key.to_string(),
    }
}

fn hours(d: Option<&prost_types::Duration>) -> Option<f64> {
    d.map(|d| (d.seconds as f64 / 3600.0 * 10.0).round() / 10.0)
}

/// The table's columns: what each row is, then the figures.
fn header_row(lang: Lang, dim: partner::StatsDimension) -> Vec<String> {
    vec![
        text(lang, &format!("partner-by-{}", dim_key(dim))),
        text(lang, "partner-requests-count"),
        text(lang, "partner-people-helped"),
        text(lang, "partner-assign-median"),
        text(lang, "partner-assign-p90"),
        text(lang, "partner-complete-median"),
        text(lang, "partner-complete-p90"),
    ]
}

fn dim_key(dim: partner::StatsDimension) -> &'static str {
    match dim {
        partner::StatsDimension::Status => "status",
        partner::StatsDimension::Region => "region",
        partner::StatsDimension::District => "district",
        partner::StatsDimension::Month => "month",
        partner::StatsDimension::Organization => "organization",
        partner::StatsDimension::Group => "group",
        partner::StatsDimension::Channel => "channel",
        _ => "category",
    }
}

fn figures(r: &partner::StatsRow) -> [Option<f64>; 6] {
    [
        Some(r.request_count as f64),
        Some(r.people_helped as f64),
        hours(r.median_time_to_assign.as_ref()),
        hours(r.p90_time_to_assign.as_ref()),
        hours(r.median_time_to_complete.as_ref()),
        hours(r.p90_time_to_complete.as_ref()),
    ]
}

/// Rows of the report, the total last, as text and numbers.
fn report(lang: Lang, dim: partner::StatsDimension, stats: &partner::Stats) -> Vec<Vec<Cell>> {
    let mut rows = vec![header_row(lang, dim).into_iter().map(Cell::Text).collect()];
    let line = |label: String, r: &partner::StatsRow| -> Vec<Cell> {
        let mut row = vec![Cell::Text(label)];
        row.extend(
            figures(r)
                .into_iter()
                .map(|f| f.map_or(Cell::Empty, Cell::Number)),
        );
        row
    };
    for r in &stats.rows {
        let key = r.keys.first().map(String::as_str).unwrap_or("");
        rows.push(line(key_label(lang, dim, key), r));
    }
    if let Some(total) = &stats.total {
        rows.push(line(text(lang, "partner-total"), total));
    }
    rows
}

async fn load_stats(
    console: &Shared,
    user: &User,
    q: &StatsQuery,
) -> Result<partner::Stats, tonic::Status> {
    let mut client = console
        .partner_client(user)
        .map_err(|_| tonic::Status::unauthenticated(""))?;
    client.get_stats(q.request()).await.map(|r| r.into_inner())
}

pub async fn stats(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let user = match signed_in(&console, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = user.lang;
    let dim = q.dimension();
    let (from, to) = q.days();
    let result = match load_stats(&console, &user, &q).await {
        Ok(stats) => {
            let rows = report(lang, dim, &stats);
            let table: String = rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    let cells: String = row
                        .iter()
                        .enumerate()
                        .map(|(j, c)| {
                            let v = match c {
                                Cell::Text(s) => escape(s),
                                Cell::Number(n) => n.to_string(),
                                Cell::Empty => "—".into(),
                            };
                            match (i, j) {
                                (0, _) => format!(r#"<th scope="col">{v}</th>"#),
                                (_, 0) => format!(r#"<th scope="row">{v}</th>"#),
                                _ => format!(r#"<td class="num">{v}</td>"#),
                            }
                        })
                        .collect();
                    format!("<tr>{cells}</tr>")
                })
                .collect();
            format!(
                r#"{chart}<table class="stats">{table}</table><p class="downloads"><a class="button" href="/partner/stats.csv?{q}" download>CSV</a> <a class="button" href="/partner/stats.xlsx?{q}" download>XLSX</a></p><p class="muted">{hint}</p>"#,
                chart = chart(lang, dim, &stats),
                q = escape(&q.query_string()),
                hint = t(lang, "partner-hours-hint"),
            )
        }
        Err(status) => view::refusal_block(lang, &status),
    };
    let options: String = DIMENSIONS
        .iter()
        .map(|d| {
            let sel = if *d == dim { " selected" } else { "" };
            format!(
                r#"<option value="{}"{sel}>{}</option>"#,
                d.as_str_name(),
                t(lang, &format!("partner-by-{}", dim_key(*d)))
            )
        })
        .collect();
    let body = format!(
        r#"<form method="get" action="/partner/stats" class="card filters"><div><label for="from">{l_from}</label><input type="date" id="from" name="from" value="{from}"></div><div><label for="to">{l_to}</label><input type="date" id="to" name="to" value="{to}"></div><div><label for="by">{l_by}</label><select id="by" name="by">{options}</select></div><div><button type="submit">{show}</button></div></form>
<section class="card">{result}</section><p><a href="/partner">{back}</a></p>"#,
        l_from = t(lang, "partner-from"),
        l_to = t(lang, "partner-to"),
        l_by = t(lang, "partner-group-by"),
        show = t(lang, "queues-apply"),
        back = t(lang, "partner-back"),
    );
    html(layout(
        lang,
        &t(lang, "partner-stats"),
        Some(&user.session),
        &body,
    ))
}

/// Requests per row as horizontal bars.
fn chart(lang: Lang, dim: partner::StatsDimension, stats: &partner::Stats) -> String {
    if stats.rows.is_empty() {
        return format!(r#"<p class="empty">{}</p>"#, t(lang, "partner-no-stats"));
    }
    let max = stats
        .rows
        .iter()
        .map(|r| r.request_count)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bar_h = 26.0;
    let height = bar_h * stats.rows.len() as f64 + 8.0;
    let bars: String = stats
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let y = 4.0 + i as f64 * bar_h;
            let w = 380.0 * r.request_count as f64 / max;
            let label = key_label(lang, dim, r.keys.first().map(String::as_str).unwrap_or(""));
            format!(
                r##"<text x="0" y="{ty:.0}" font-size="13" fill="#1b1f24">{label}</text><rect x="300" y="{y:.0}" width="{w:.1}" height="{bh:.0}" fill="#0b5cad"/><text x="{tx:.1}" y="{ty:.0}" font-size="13" fill="#1b1f24">{n}</text>"##,
                ty = y + 17.0,
                bh = bar_h - 8.0,
                label = escape(&label.chars().take(40).collect::<String>()),
                tx = 306.0 + w,
                n = r.request_count,
            )
        })
        .collect();
    format!(
        r#"<svg class="chart" viewBox="0 0 740 {height:.0}" role="img" aria-label="{label}">{bars}</svg>"#,
        label = t(lang, "partner-chart-label"),
    )
}

fn file_name(q: &StatsQuery, ext: &str) -> String {
    let (from, to) = q.days();
    format!("komek-stats-{from}-{to}.{ext}")
}

pub async fn stats_csv(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let Ok(user) = signed_in(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let stats = match load_stats(&console, &user, &q).await {
        Ok(s) => s,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let rows = report(user.lang, q.dimension(), &stats);
    let mut out = String::from("\u{FEFF}"); // so spreadsheet programs read UTF-8
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                Cell::Number(n) => n.to_string(),
                Cell::Empty => String::new(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file_name(&q, "csv")),
            ),
        ],
        out,
    )
        .into_response()
}

pub async fn stats_xlsx(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let Ok(user) = signed_in(&console, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let stats = match load_stats(&console, &user, &q).await {
        Ok(s) => s,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let rows = report(user.lang, q.dimension(), &stats);
    let book = xlsx::workbook(&text(user.lang, "partner-stats"), &rows);
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file_name(&q, "xlsx")),
            ),
        ],
        book,
    )
        .into_response()
}
