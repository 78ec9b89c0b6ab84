//! The dispatchers' console: pages served to the browser, in Kazakh, Russian or English, that
//! call the four services over gRPC **as the signed-in user, with the user's own key**. The
//! console has no power of its own and keeps nothing but sessions in memory.
//!
//! Every response carries a Content-Security-Policy that allows no inline script and nothing
//! from elsewhere; every state-changing form carries the session's CSRF token; sign-in attempts
//! are limited per address; the key never appears in a URL, a page or a log.

// Handlers return the page to show on their error path: one per HTTP request, so a large `Err`
// costs nothing worth boxing.
#![allow(clippy::result_large_err)]

mod app;
mod calls;
pub mod map;
mod pages;
mod partner;
mod plans;
mod queues;
mod request;
mod roster;
mod session;
mod view;
mod xlsx;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use komek_i18n::Lang;
use komek_proto::access::v1 as access;
use komek_proto::access::v1::access_service_client::AccessServiceClient;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::partner::v1::partner_service_client::PartnerServiceClient;
use komek_proto::places::v1 as places_api;
use komek_proto::places::v1::place_service_client::PlaceServiceClient;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::triage::v1::triage_service_client::TriageServiceClient;
use komek_runtime::CancellationToken;
use komek_runtime::auth::Bearer;
use komek_runtime::spread::Spread;
use serde::{Deserialize, Serialize};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use session::{JoinCodes, Session, Sessions, SignInLimit, cookie};

pub use pages::escape;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the console serves pages.
    pub listen: SocketAddr,
    pub log: komek_runtime::config::Log,
    /// gRPC addresses of the services, as "http://host:port"; a service's replicas separated
    /// by commas, and calls are spread over them.
    pub roster_url: String,
    pub matching_url: String,
    pub intake_url: String,
    pub triage_url: String,
    /// How long a session lasts from sign-in.
    pub session_minutes: u64,
    /// Send cookies only over HTTPS: on whenever the console is reached through TLS (a
    /// terminating proxy in front of it).
    pub secure_cookies: bool,
    /// Sign-in attempts per minute and burst, per client address.
    pub sign_in_per_minute: u32,
    pub sign_in_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log: Default::default(),
            roster_url: "http://127.0.0.1:50053".into(),
            matching_url: "http://127.0.0.1:50054".into(),
            intake_url: "http://127.0.0.1:50051".into(),
            triage_url: "http://127.0.0.1:50052".into(),
            session_minutes: 12 * 60,
            secure_cookies: false,
            sign_in_per_minute: 6,
            sign_in_burst: 10,
        }
    }
}

const SESSION_COOKIE: &str = "komek_session";
const LANG_COOKIE: &str = "komek_lang";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

struct Console {
    config: Config,
    sessions: Sessions,
    join_codes: JoinCodes,
    sign_in: SignInLimit,
    roster: Spread,
    matching: Spread,
    intake: Spread,
    triage: Spread,
}

type Shared = Arc<Console>;

type Authed = InterceptedService<Spread, Bearer>;

/// The signed-in user of one request to the console.
pub(crate) struct User {
    pub lang: Lang,
    pub session: Session,
    /// The session's id, to end it or to remember a job in it.
    pub id: String,
}

impl Console {
    /// The signed-in user, or the way to the sign-in page.
    fn user(&self, headers: &HeaderMap) -> Result<User, Response> {
        let lang = lang_of(headers);
        match session_of(self, headers) {
            Some((id, session)) => Ok(User { lang, session, id }),
            None => Err(Redirect::to("/sign-in").into_response()),
        }
    }

    /// The signed-in user of a state-changing request, once its CSRF token and origin are
    /// this console's.
    fn posted(&self, headers: &HeaderMap, csrf: &str) -> Result<User, Response> {
        let user = self.user(headers)?;
        if csrf != user.session.csrf || !same_origin(headers) {
            let page = html(pages::refused(user.lang));
            return Err((StatusCode::FORBIDDEN, page).into_response());
        }
        Ok(user)
    }

    fn channel(&self, channel: &Spread, user: &User) -> Result<Authed, Response> {
        authed(channel, &user.session.key).ok_or_else(|| Redirect::to("/sign-in").into_response())
    }

    /// The signed-in user's channel to intake, for its services without a helper here.
    fn intake_channel(&self, user: &User) -> Result<Authed, Response> {
        self.channel(&self.intake, user)
    }

    fn intake_client(&self, user: &User) -> Result<IntakeServiceClient<Authed>, Response> {
        Ok(IntakeServiceClient::new(self.channel(&self.intake, user)?))
    }

    fn place_client(&self, user: &User) -> Result<PlaceServiceClient<Authed>, Response> {
        Ok(PlaceServiceClient::new(self.channel(&self.intake, user)?))
    }

    fn triage_client(&self, user: &User) -> Result<TriageServiceClient<Authed>, Response> {
        Ok(TriageServiceClient::new(self.channel(&self.triage, user)?))
    }

    fn dispatch_client(&self, user: &User) -> Result<DispatchServiceClient<Authed>, Response> {
        Ok(DispatchServiceClient::new(
            self.channel(&self.matching, user)?,
        ))
    }

    fn assignment_client(&self, user: &User) -> Result<AssignmentServiceClient<Authed>, Response> {
        Ok(AssignmentServiceClient::new(
            self.channel(&self.matching, user)?,
        ))
    }

    fn partner_client(&self, user: &User) -> Result<PartnerServiceClient<Authed>, Response> {
        Ok(PartnerServiceClient::new(self.channel(&self.intake, user)?))
    }

    fn access_client(&self, user: &User) -> Result<AccessServiceClient<Authed>, Response> {
        Ok(AccessServiceClient::new(self.channel(&self.roster, user)?))
    }

    fn roster_client(&self, user: &User) -> Result<RosterServiceClient<Authed>, Response> {
        Ok(RosterServiceClient::new(self.channel(&self.roster, user)?))
    }
}

/// Serves on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Each URL setting may list a service's replicas, separated by commas.
    let lazy = |urls: &str| -> anyhow::Result<Spread> {
        let channels = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| {
                Ok(Endpoint::from_shared(url.to_string())?
                    .connect_timeout(Duration::from_secs(2))
                    .timeout(Duration::from_secs(10))
                    .connect_lazy())
            })
            .collect::<anyhow::Result<Vec<Channel>>>()?;
        anyhow::ensure!(!channels.is_empty(), "a service URL is empty");
        Ok(Spread::new(channels))
    };
    let console = Arc::new(Console {
        sign_in: SignInLimit::new(config.sign_in_per_minute, config.sign_in_burst),
        roster: lazy(&config.roster_url)?,
        matching: lazy(&config.matching_url)?,
        intake: lazy(&config.intake_url)?,
        triage: lazy(&config.triage_url)?,
        sessions: Sessions::default(),
        join_codes: JoinCodes::default(),
        config,
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/lang/{code}", get(set_lang))
        .route("/places", get(places))
        .route("/find", get(request::find))
        .route("/calls/new", get(calls::new_call))
        .route("/calls", post(calls::create))
        .route("/calls/{id}/saved", get(calls::saved))
        .route("/queues", get(queues::page))
        .route("/queues/table", get(queues::table))
        .route("/events", get(queues::events))
        .route("/requests/{id}", get(request::page))
        .route("/requests/{id}/live", get(request::live))
        .route("/requests/{id}/{action}", post(request::act))
        .route("/roster", get(roster::page))
        // A roster file may be 4 MiB (ImportRoster's limit); the apply step carries it again in
        // base64, a third larger.
        .route(
            "/roster/import",
            post(roster::import).layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024)),
        )
        .route("/roster/groups/{id}/{action}", post(roster::set_active))
        .route("/plans", get(plans::page))
        .route("/plans/{id}/{action}", post(plans::act))
        .route("/roster/sign-in-link", post(app::make_link))
        .route("/app", get(app::home))
        .route("/app/offers", get(app::offers))
        .route("/app/offers/{id}/{answer}", post(app::answer))
        .route("/app/jobs/{id}", get(app::job))
        .route("/app/jobs/{id}/progress", post(app::progress))
        .route("/app/jobs/{id}/position", post(app::position))
        .route("/app/join/{code}", get(app::join_page).post(app::join))
        .route("/app/manifest.webmanifest", get(app::manifest))
        .route("/app/sw.js", get(service_worker))
        .route("/assets/icon.svg", get(icon))
        .route("/partner", get(partner::home))
        .route("/partner/requests", get(partner::requests))
        .route("/partner/status", get(partner::status))
        .route("/partner/status/part", get(partner::status_part))
        .route("/partner/watch", get(partner::watch))
        .route("/partner/stats", get(partner::stats))
        .route("/partner/stats.csv", get(partner::stats_csv))
        .route("/partner/stats.xlsx", get(partner::stats_xlsx))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .route("/assets/kz.svg", get(base_map))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}

pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(listen = %config.listen, "console serving");
    serve(config, listener, shutdown).await
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // "same-origin", not "no-referrer": under "no-referrer" browsers send `Origin: null` on
    // form posts, and the origin check could not tell the console's own forms from anyone's.
    // Other sites still get no referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The language of this browser: the remembered choice, else what the browser asks for.
fn lang_of(headers: &HeaderMap) -> Lang {
    let cookies = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(lang) = cookie(cookies, LANG_COOKIE).and_then(Lang::from_code) {
        return lang;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Lang::from_accept_language(accept)
}

fn session_of(console: &Console, headers: &HeaderMap) -> Option<(String, Session)> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let id = cookie(cookies, SESSION_COOKIE)?;
    let session = console.sessions.get(id)?;
    Some((id.to_string(), session))
}

fn authed(channel: &Spread, key: &str) -> Option<Authed> {
    Some(InterceptedService::new(
        channel.clone(),
        Bearer::new(key).ok()?,
    ))
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn home(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let Some((_, session)) = session_of(&console, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    if session.role == "ROLE_VOLUNTEER" {
        return Redirect::to("/app").into_response();
    }
    if session.role == "ROLE_PARTNER" {
        return Redirect::to("/partner").into_response();
    }
    let mut counts = Vec::new();
    if let Some(channel) = authed(&console.matching, &session.key) {
        let mut client = DispatchServiceClient::new(channel);
        for queue in [
            matching::Queue::Escalated,
            matching::Queue::Unassigned,
            matching::Queue::Overdue,
        ] {
            let reply = client
                .list_queue(matching::ListQueueRequest {
                    queue: queue as i32,
                    page_size: 100,
                    ..Default::default()
                })
                .await;
            let count = reply.map(|r| {
                let r = r.into_inner();
                (r.items.len(), !r.next_page_token.is_empty())
            });
            counts.push((queue.as_str_name(), count));
        }
    }
    html(pages::home(lang, &session, &counts))
}

#[derive(Deserialize)]
struct PlaceQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    region: String,
}

/// Settlement suggestions for the place field, as an HTML list to drop under it: the
/// PlaceService search, called with the user's key.
async fn places(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<PlaceQuery>,
) -> Response {
    let Ok(user) = console.user(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let lang = user.lang;
    let Ok(mut client) = console.place_client(&user) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let reply = client
        .search_settlements(places_api::SearchSettlementsRequest {
            query: query.q,
            region: query.region,
            page_size: 0,
        })
        .await;
    match reply {
        Ok(r) => html(pages::suggestions(lang, &r.into_inner().settlements)),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, html(pages::suggestions(lang, &[]))).into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn sign_in_page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    if session_of(&console, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    html(pages::sign_in(lang, None))
}

#[derive(Deserialize)]
struct SignInForm {
    key: String,
}

async fn sign_in(
    State(console): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = lang_of(&headers);
    // A form posted from another site cannot sign a browser in: the request must come from a
    // page of this console.
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, html(pages::refused(lang))).into_response();
    }
    if !console.sign_in.take(peer.ip()) {
        let page = pages::sign_in(lang, Some("sign-in-too-many"));
        return (StatusCode::TOO_MANY_REQUESTS, html(page)).into_response();
    }
    let key = form.key.trim().to_string();
    let who = match authed(&console.roster, &key) {
        Some(channel) => AccessServiceClient::new(channel)
            .who_am_i(access::WhoAmIRequest {})
            .await
            .map(|r| r.into_inner()),
        None => Err(tonic::Status::unauthenticated("not a key")),
    };
    let principal = match who {
        Ok(principal) => principal,
        Err(status) => {
            let reason = match status.code() {
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => "sign-in-bad-key",
                _ => "sign-in-unavailable",
            };
            let page = pages::sign_in(lang, Some(reason));
            return (StatusCode::UNAUTHORIZED, html(page)).into_response();
        }
    };
    let role = komek_proto::types::v1::Role::try_from(principal.role)
        .map(|r| r.as_str_name().to_string())
        .unwrap_or_default();
    let ttl = Duration::from_secs(console.config.session_minutes * 60);
    let id = console
        .sessions
        .start(key, principal.subject.clone(), role, ttl);
    tracing::info!(subject = %principal.subject, "signed in");
    let cookie = session_cookie(&id, ttl, console.config.secure_cookies);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

fn session_cookie(id: &str, ttl: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl.as_secs()
    )
}

/// Whether a state-changing request came from this console's own pages, by its Origin (or,
/// without one, its Referer) against the Host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match from {
        Some(url) => {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .unwrap_or("");
            rest.split('/').next() == Some(host)
        }
        // Browsers send Origin on every POST; a client that sends neither is not a browser
        // acting for someone else.
        None => true,
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = lang_of(&headers);
    let Some((id, session)) = session_of(&console, &headers) else {
        return Redirect::to("/sign-in").into_response();
    };
    if form.csrf != session.csrf || !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, html(pages::refused(lang))).into_response();
    }
    console.sessions.end(&id);
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, expired)], Redirect::to("/sign-in")).into_response()
}

/// Remembers a language choice for a year and goes back to the start page.
async fn set_lang(Path(code): Path<String>) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/console.js"),
    )
        .into_response()
}

async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // Served under /app/ but looks after /app itself too.
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/app",
            ),
        ],
        include_str!("../assets/sw.js"),
    )
        .into_response()
}

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../assets/icon.svg"),
    )
        .into_response()
}

async fn base_map() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        map::base_svg(),
    )
        .into_response()
}

async fn not_found(headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    (StatusCode::NOT_FOUND, html(pages::not_found(lang))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_this_consoles_pages_may_post() {
        let host = (header::HOST, "console.example:8080");
        assert!(same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://console.example:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::ORIGIN, "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            host.clone(),
            (header::REFERER, "http://evil.example/console.example:8080")
        ])));
        assert!(!same_origin(&headers(&[(
            header::ORIGIN,
            "https://console.example:8080"
        )])));
    }

    #[test]
    fn the_remembered_language_wins_over_the_browsers() {
        let h = headers(&[
            (header::COOKIE, "komek_lang=kk"),
            (header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9"),
        ]);
        assert_eq!(lang_of(&h), Lang::Kk);
        let h = headers(&[(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9")]);
        assert_eq!(lang_of(&h), Lang::En);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_under_tls() {
        let c = session_cookie("abc", Duration::from_secs(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!session_cookie("abc", Duration::from_secs(60), false).contains("Secure"));
    }
}
