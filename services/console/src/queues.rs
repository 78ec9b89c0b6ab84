//! The queues: escalated, unassigned and overdue requests, most urgent first, with filters,
//! kept current by the dispatch watch stream without reloading the page.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use komek_i18n::{Arg, Lang, enum_label, text_with};
use komek_proto::matching::v1 as matching;
use komek_proto::types::v1 as pb;
use serde::Deserialize;

use crate::map::{self, Mark, Marker};
use crate::pages::{escape, layout, t};
use crate::view::{self, select};
use crate::{Shared, User, html};

pub const QUEUES: [matching::Queue; 3] = [
    matching::Queue::Escalated,
    matching::Queue::Unassigned,
    matching::Queue::Overdue,
];

/// The page size of a queue: what the matching service gives at most in one call.
const PAGE: i32 = 100;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    pub queue: String,
    pub region: String,
    pub district: String,
    pub category: String,
    pub priority: String,
    pub page: String,
}

impl QueueQuery {
    fn queue(&self) -> matching::Queue {
        matching::Queue::from_str_name(&self.queue)
            .filter(|q| *q != matching::Queue::Unspecified)
            .unwrap_or(matching::Queue::Escalated)
    }

    /// The query string of this view, with `queue` and without the page.
    fn with_queue(&self, queue: matching::Queue) -> String {
        let mut parts = vec![format!("queue={}", queue.as_str_name())];
        for (k, v) in [
            ("region", &self.region),
            ("district", &self.district),
            ("category", &self.category),
            ("priority", &self.priority),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", url_encode(v)));
            }
        }
        parts.join("&")
    }

    fn request(&self, queue: matching::Queue, page_token: String) -> matching::ListQueueRequest {
        matching::ListQueueRequest {
            queue: queue as i32,
            page_size: PAGE,
            page_token,
            region: self.region.clone(),
            district: self.district.trim().to_string(),
            categories: pb::Category::from_str_name(&self.category)
                .map(|c| vec![c as i32])
                .unwrap_or_default(),
            min_priority: pb::Priority::from_str_name(&self.priority).map_or(0, |p| p as i32),
        }
    }
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How many requests a queue's first page holds and whether there are more, or the refusal.
pub type Count = Result<(usize, bool), tonic::Status>;

/// What the three ListQueue calls of a view gave: the shown queue's page, and every queue's
/// count on its first page (with whether there are more).
pub struct Loaded {
    pub shown: Result<matching::ListQueueResponse, tonic::Status>,
    pub counts: Vec<(matching::Queue, Count)>,
    /// Requests in the region that have waited in their state past its limit (intake knows
    /// every state, including those before the matcher sees a request).
    pub late: Result<Vec<komek_proto::intake::v1::Request>, tonic::Status>,
}

/// How many late requests the page lists; the rest are counted.
const LATE_SHOWN: i32 = 50;

/// Calls ListQueue for the three queues and ListRequests for the late ones at once, as the
/// user.
pub async fn load(
    client: &komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient<
        crate::Authed,
    >,
    intake: &komek_proto::intake::v1::intake_service_client::IntakeServiceClient<crate::Authed>,
    query: &QueueQuery,
) -> Loaded {
    let mut intake = intake.clone();
    let late = intake.list_requests(komek_proto::intake::v1::ListRequestsRequest {
        page_size: LATE_SHOWN,
        region: query.region.clone(),
        waiting_too_long: true,
        ..Default::default()
    });
    let shown_queue = query.queue();
    let calls = QUEUES.map(|queue| {
        let mut client = client.clone();
        let token = if queue == shown_queue {
            query.page.clone()
        } else {
            String::new()
        };
        let request = query.request(queue, token);
        async move { (queue, client.list_queue(request).await) }
    });
    let (replies, late) = futures::join!(futures::future::join_all(calls), late);
    let late = late.map(|r| r.into_inner().requests);
    let mut shown = Err(tonic::Status::unknown(""));
    let mut counts = Vec::new();
    for (queue, reply) in replies {
        match reply {
            Ok(r) => {
                let r = r.into_inner();
                counts.push((queue, Ok((r.items.len(), !r.next_page_token.is_empty()))));
                if queue == shown_queue {
                    shown = Ok(r);
                }
            }
            Err(status) => {
                counts.push((queue, Err(status.clone())));
                if queue == shown_queue {
                    shown = Err(status);
                }
            }
        }
    }
    Loaded {
        shown,
        counts,
        late,
    }
}

pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<QueueQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let client = match console.dispatch_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let intake = match console.intake_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let loaded = load(&client, &intake, &query).await;
    html(render_page(&user, &query, &loaded, chrono::Utc::now()))
}

/// The tabs and the table alone, for the page's script to swap in when something changed.
pub async fn table(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<QueueQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let client = match console.dispatch_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let intake = match console.intake_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let loaded = load(&client, &intake, &query).await;
    html(fragment(user.lang, &query, &loaded, chrono::Utc::now()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventsQuery {
    region: String,
}

/// Server-sent events: one `change` event, naming the request, for every change the dispatch
/// watch reports in the region, as the user sees them. When the watch ends (the service
/// restarted, the key expired) the event stream ends and the browser reconnects.
pub async fn events(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let user = match console.user(&headers) {
        Ok(u) => u,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let mut client = match console.dispatch_client(&user) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let watch = client
        .watch_region(matching::WatchRegionRequest {
            region: query.region,
        })
        .await;
    let stream = match watch {
        Ok(s) => s.into_inner(),
        Err(status) => {
            let code = match status.code() {
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
                    StatusCode::FORBIDDEN
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return code.into_response();
        }
    };
    let events = stream
        .take_while(|e| std::future::ready(e.is_ok()))
        .filter_map(|e| async move {
            let e = e.ok()?;
            let item = e.item?;
            Some(Ok::<_, Infallible>(
                Event::default().event("change").data(item.request),
            ))
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

pub fn render_page(
    user: &User,
    query: &QueueQuery,
    loaded: &Loaded,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let lang = user.lang;
    let regions: String = view::regions(lang)
        .into_iter()
        .map(|(en, name)| {
            let sel = if en == query.region { " selected" } else { "" };
            format!(
                r#"<option value="{en}"{sel}>{name}</option>"#,
                en = escape(&en),
                name = escape(&name)
            )
        })
        .collect();
    let body = format!(
        r#"<form method="get" action="/queues" class="filters card" aria-label="{filters}">
<input type="hidden" name="queue" value="{queue}">
<div><label for="region">{l_region}</label><select id="region" name="region"><option value="">{all_regions}</option>{regions}</select></div>
<div><label for="district">{l_district}</label><input type="text" id="district" name="district" value="{district}"></div>
<div><label for="category">{l_category}</label>{category}</div>
<div><label for="priority">{l_priority}</label>{priority}</div>
<div><button type="submit">{apply}</button></div>
</form>
<div id="queue" data-live="/queues/table?{live}" data-events="/events?region={region}" data-every="30" aria-live="polite">
{fragment}
</div>"#,
        filters = t(lang, "queues-filters"),
        queue = query.queue().as_str_name(),
        l_region = t(lang, "field-region"),
        all_regions = t(lang, "queues-all-regions"),
        l_district = t(lang, "field-district"),
        district = escape(&query.district),
        l_category = t(lang, "field-category"),
        category = select(
            lang,
            "category",
            &view::categories(),
            &query.category,
            Some("queues-any")
        ),
        l_priority = t(lang, "queues-min-priority"),
        priority = select(
            lang,
            "priority",
            &view::priorities(),
            &query.priority,
            Some("queues-any")
        ),
        apply = t(lang, "queues-apply"),
        live = escape(&format!(
            "{}{}",
            query.with_queue(query.queue()),
            if query.page.is_empty() {
                String::new()
            } else {
                format!("&page={}", url_encode(&query.page))
            }
        )),
        region = escape(&url_encode(&query.region)),
        fragment = fragment(lang, query, loaded, now),
    );
    layout(lang, &t(lang, "queues-title"), Some(&user.session), &body)
}

fn count_text(lang: Lang, count: &Count) -> String {
    match count {
        Ok((n, false)) => n.to_string(),
        Ok((n, true)) => escape(&text_with(
            lang,
            "count-more-than",
            &[("count", Arg::Num(*n as f64))],
        )),
        Err(_) => t(lang, "count-unavailable"),
    }
}

/// The tabs with their counts and the shown queue's table.
pub fn fragment(
    lang: Lang,
    query: &QueueQuery,
    loaded: &Loaded,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let shown = query.queue();
    let tabs: String = loaded
        .counts
        .iter()
        .map(|(queue, count)| {
            let current = if *queue == shown {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r#"<a class="tab" href="/queues?{q}"{current} data-queue="{name}">{label} <strong class="n">{n}</strong></a>"#,
                q = escape(&query.with_queue(*queue)),
                name = queue.as_str_name(),
                label = escape(&enum_label(lang, queue.as_str_name())),
                n = count_text(lang, count),
            )
        })
        .collect();
    let table = match &loaded.shown {
        Err(status) => view::refusal_block(lang, status),
        Ok(r) if r.items.is_empty() => {
            format!(r#"<p class="empty">{}</p>"#, t(lang, "queues-empty"))
        }
        Ok(r) => {
            let rows: String = r.items.iter().map(|item| row(lang, item, now)).collect();
            let more = if r.next_page_token.is_empty() {
                String::new()
            } else {
                format!(
                    r#"<p><a href="/queues?{q}&amp;page={p}">{next}</a></p>"#,
                    q = escape(&query.with_queue(shown)),
                    p = url_encode(&r.next_page_token),
                    next = t(lang, "queues-next-page")
                )
            };
            format!(
                r#"<table class="queue">
<caption class="sr-only">{caption}</caption>
<thead><tr><th scope="col">{h_priority}</th><th scope="col">{h_code}</th><th scope="col">{h_need}</th><th scope="col">{h_place}</th><th scope="col">{h_status}</th><th scope="col">{h_waiting}</th><th scope="col">{h_why}</th></tr></thead>
<tbody>{rows}</tbody>
</table>{more}"#,
                caption = escape(&enum_label(lang, shown.as_str_name())),
                h_priority = t(lang, "field-priority"),
                h_code = t(lang, "reference-code"),
                h_need = t(lang, "field-category"),
                h_place = t(lang, "field-location"),
                h_status = t(lang, "field-status"),
                h_waiting = t(lang, "queues-waiting"),
                h_why = t(lang, "queues-why"),
            )
        }
    };
    // The shown page's requests on the map, redrawn with the table.
    let markers: Vec<Marker> = match &loaded.shown {
        Ok(r) => r
            .items
            .iter()
            .filter_map(|item| {
                let p = item.location.as_ref()?.point?;
                Some(Marker {
                    latitude: p.latitude,
                    longitude: p.longitude,
                    mark: Mark::Request,
                    label: format!(
                        "{} — {}",
                        item.reference_code,
                        view::place(lang, item.location.as_ref())
                    ),
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let map = if markers.is_empty() {
        String::new()
    } else {
        format!(
            r#"<section class="card" aria-labelledby="h-queue-map"><h2 id="h-queue-map">{}</h2>{}</section>"#,
            t(lang, "map-title"),
            map::figure(lang, &t(lang, "queues-map-label"), &markers, None)
        )
    };
    format!(
        r#"{late}<nav class="tabs" aria-label="{label}">{tabs}</nav>{table}{map}"#,
        late = late_part(lang, &loaded.late, now),
        label = t(lang, "home-queues")
    )
}

/// Requests that wait too long, above the queues: what state each waits in, since when, and
/// its limit. A refusal (intake unreachable) leaves the part out rather than hide the queues.
fn late_part(
    lang: Lang,
    late: &Result<Vec<komek_proto::intake::v1::Request>, tonic::Status>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let Ok(late) = late else {
        return String::new();
    };
    if late.is_empty() {
        return String::new();
    }
    let items: String = late
        .iter()
        .filter_map(|r| {
            let w = r.waiting.as_ref()?;
            let state = pb::WaitingState::try_from(w.state).unwrap_or_default();
            let id = r.name.trim_start_matches("requests/");
            Some(format!(
                r#"<li><a class="code" href="/requests/{id}">{code}</a> {priority} {state}, {since} <span class="muted">({limit})</span> — {place}</li>"#,
                id = escape(id),
                code = escape(&r.reference_code),
                priority = view::priority(
                    lang,
                    r.triage
                        .as_ref()
                        .map(|t| t.priority)
                        .filter(|p| *p != 0)
                        .unwrap_or(r.operator_priority)
                ),
                state = escape(&enum_label(lang, state.as_str_name())),
                since = view::ago(lang, w.since.as_ref(), now),
                limit = escape(&text_with(
                    lang,
                    "queues-late-limit",
                    &[("minutes", Arg::Num((f64::from(w.limit_seconds) / 60.0).ceil()))]
                )),
                place = escape(&view::place(lang, r.location.as_ref())),
            ))
        })
        .collect();
    format!(
        r#"<section class="late card" role="alert" aria-labelledby="h-late"><h2 id="h-late">{title}</h2><ul>{items}</ul></section>"#,
        title = escape(&text_with(
            lang,
            "queues-late",
            &[("count", Arg::Num(late.len() as f64))]
        )),
    )
}

fn row(lang: Lang, item: &matching::QueueItem, now: chrono::DateTime<chrono::Utc>) -> String {
    let id = item.request.trim_start_matches("requests/");
    let why = if item.escalation_reasons.is_empty() {
        // The queue item names the group by id only; its page names it.
        item.assignment
            .as_ref()
            .map(|a| view::assignment_status(lang, a.status))
            .unwrap_or_default()
    } else {
        view::reasons(lang, &item.escalation_reasons)
    };
    format!(
        r#"<tr data-request="{name}"><td>{priority}</td><td><a class="code" href="/requests/{id}">{code}</a></td><td>{category}</td><td>{place}</td><td>{status}</td><td>{ago}</td><td>{why}</td></tr>"#,
        name = escape(&item.request),
        priority = view::priority(lang, item.priority),
        id = escape(id),
        code = escape(&item.reference_code),
        category = view::category(lang, item.category),
        place = escape(&view::place(lang, item.location.as_ref())),
        status = view::request_status(lang, item.request_status),
        ago = view::ago(lang, item.since_time.as_ref(), now),
    )
}
