//! `/console` of `payhook serve`: what was received (events, one event, one
//! order's timeline), what was delivered to the merchant's endpoint, what
//! was refused, and the Koywe user list — with replay, retry and
//! allow/block actions. Server-rendered HTML, one embedded stylesheet and
//! script, a strict Content-Security-Policy; nothing is shown without the
//! console token (see [`auth`]).

pub mod activity;
pub mod auth;
pub mod mask;
pub mod source;
pub mod view;

use activity::Activity;
use auth::{Auth, Caller};
use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use payhook::publish::Publisher;
use payhook::store::{Store, StoreError};
use payhook::users::Decision;
use payhook::{PaymentEvent, ProviderId, Status};
use payhook_embedded::{Deliveries, DeliveryState, EventQuery, Reader, Redrive};
use source::Source;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use view::{Frame, Nav};

/// Events per page.
pub const PAGE: usize = 50;
/// Counts stop here ("more than").
pub const COUNT_CAP: usize = 10_000;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// Every console response: no script, style, frame or connection but the
/// console's own; no caching; no referrer to other sites.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console token: the configured one (length checked: a short one
/// stops start-up naming the setting), or one generated into the data
/// dir's development file. The second value is the token to print: only a
/// generated one.
pub fn token(
    settings: &mut crate::settings::Settings,
    data_dir: &std::path::Path,
) -> Result<(payhook::secret::Secret, Option<payhook::secret::Secret>), crate::CliError> {
    use payhook::secret::Secret;
    match settings.get(auth::TOKEN_SETTING) {
        Some(t) => {
            if t.chars().count() < auth::MIN_TOKEN_LEN || t.trim() != t {
                return Err(payhook::ConfigError::Invalid {
                    name: auth::TOKEN_SETTING,
                    why: format!(
                        "must be at least {} characters, without surrounding spaces",
                        auth::MIN_TOKEN_LEN
                    ),
                }
                .into());
            }
            let shown = settings
                .is_generated(auth::TOKEN_SETTING)
                .then(|| Secret::new(t.clone()));
            Ok((Secret::new(t), shown))
        }
        None => {
            let t = Auth::generate();
            settings.add_dev(data_dir, auth::TOKEN_SETTING, t.expose())?;
            Ok((t.clone(), Some(t)))
        }
    }
}

/// What the console reads and acts on.
pub struct Console {
    pub auth: Auth,
    pub source: Source,
    /// Users, and the events replay reads.
    pub store: Arc<dyn Store>,
    pub publisher: Arc<dyn Publisher>,
    /// The embedded store's forwarding schedule (retry = redrive).
    pub deliveries: Option<Deliveries>,
    /// The forward URL, when forwarding runs.
    pub forwarding: Option<String>,
    /// The user-validation callback's auth method, when configured.
    pub validation: Option<&'static str>,
    pub activity: Arc<Activity>,
    /// Served over TLS: the session cookie is `Secure`.
    pub secure: bool,
}

impl Console {
    fn reader(&self) -> Option<&Reader> {
        match &self.source {
            Source::Embedded(r) => Some(r),
            Source::Port(_) => None,
        }
    }
}

type Shared = Arc<Console>;

/// The console's routes, to nest at `/console`.
pub fn router(c: Shared) -> Router {
    let private = Router::new()
        .route("/", get(|| async { Redirect::to("/console/events") }))
        .route("/events", get(events))
        .route("/events/{id}", get(event))
        .route("/events/{id}/replay", post(replay))
        .route("/orders/{provider}/{*order}", get(order))
        .route("/deliveries", get(deliveries))
        .route("/deliveries/redrive", post(redrive))
        .route("/rejected", get(rejected))
        .route("/users", get(users).post(user_action))
        .route("/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(c.clone(), guard));
    Router::new()
        .route("/login", get(login_form).post(login))
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript", JS) }),
        )
        .merge(private)
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "No such page.") })
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(c)
}

async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn problem(status: StatusCode, what: &str) -> Response {
    (status, Html(view::error(status, what).into_string())).into_response()
}

/// A store fault: 503, the detail in the log only.
fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "console: store read failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "The store did not answer; try again.",
    )
}

/// `s` percent-encoded for a URL path segment or query value.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only callers with the token get further; everyone else gets 401 and the
/// login form, nothing more.
async fn guard(State(c): State<Shared>, mut req: Request, next: Next) -> Response {
    match c.auth.caller(req.headers(), now()) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                Html(view::login(false).into_string()),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"payhook console\""),
            );
            r
        }
    }
}

/// The CSRF token of the caller's session (forms carry it); none for Bearer.
fn csrf_of(c: &Console, caller: &Caller) -> String {
    match caller {
        Caller::Session(s) => c.auth.csrf(s),
        Caller::Bearer => String::new(),
    }
}

/// A request the console refuses for what it asked.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("Unknown or malformed {0}.")]
    Malformed(&'static str),
    #[error("This action must come from the console's own page (missing or wrong CSRF token).")]
    Csrf,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match self {
            Refused::Malformed(_) => StatusCode::BAD_REQUEST,
            Refused::Csrf => StatusCode::FORBIDDEN,
        };
        problem(status, &self.to_string())
    }
}

/// A state-changing request: from the console's own page, with the
/// session's CSRF token (a Bearer caller needs neither).
fn allowed(
    c: &Console,
    caller: &Caller,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(), Refused> {
    match caller {
        Caller::Bearer => Ok(()),
        Caller::Session(s)
            if auth::same_origin(headers) && csrf.is_some_and(|t| c.auth.is_csrf(s, t)) =>
        {
            Ok(())
        }
        Caller::Session(_) => Err(Refused::Csrf),
    }
}

fn frame<'a>(
    title: &'a str,
    nav: Nav,
    caller: &Caller,
    csrf: &'a str,
    notice: Option<&'static str>,
) -> Frame<'a> {
    Frame {
        title,
        nav,
        csrf: matches!(caller, Caller::Session(_)).then_some(csrf),
        notice,
    }
}

/// What the action just taken did (only these fixed texts are shown).
fn notice(q: &HashMap<String, String>) -> Option<&'static str> {
    match q.get("done").map(String::as_str) {
        Some("replayed") => Some("Replayed: the event was published again with the same event id."),
        Some("retried") => Some("The deliveries will be attempted again now."),
        Some("nothing") => Some("Nothing to retry."),
        Some("saved") => Some("User saved."),
        Some("removed") => Some("User removed."),
        _ => None,
    }
}

async fn login_form() -> Response {
    Html(view::login(false).into_string()).into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(State(c): State<Shared>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    if !auth::same_origin(&headers) {
        return problem(StatusCode::FORBIDDEN, "Log in from the console's own page.");
    }
    if !c.auth.is_token(&f.token) {
        tracing::warn!("console: failed login");
        // Slows guessing down without holding anything shared.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(view::login(true).into_string()),
        )
            .into_response();
    }
    let session = c.auth.session(now());
    let cookie = format!(
        "{}={session}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        auth::COOKIE,
        auth::SESSION_SECS,
        if c.secure { "; Secure" } else { "" }
    );
    let mut r = Redirect::to("/console/events").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = allowed(&c, &caller, &headers, f.csrf.as_deref()) {
        return r.into_response();
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "payhook_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// A `datetime-local` value (`2026-12-02T06:30[:15]`, read as UTC) or RFC 3339.
fn parse_time(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let long = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let short = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(s, &long)
        .or_else(|_| time::PrimitiveDateTime::parse(s, &short))
        .ok()
        .map(|t| t.assume_utc())
}

/// The list's filters from the query string; a value that cannot be one is
/// a 400 naming it.
fn filters(q: &HashMap<String, String>) -> Result<(view::Filters, EventQuery), Refused> {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let f = view::Filters {
        provider: get("provider"),
        status: get("status"),
        order: get("order"),
        since: get("since"),
        until: get("until"),
    };
    let mut eq = EventQuery {
        limit: PAGE,
        ..EventQuery::default()
    };
    if !f.provider.is_empty() {
        eq.provider = Some(ProviderId::parse(&f.provider).ok_or(Refused::Malformed("provider"))?);
    }
    if !f.status.is_empty() {
        eq.status = Some(Status::parse(&f.status).ok_or(Refused::Malformed("status"))?);
    }
    if !f.order.is_empty() {
        eq.order_id = Some(f.order.clone());
    }
    if !f.since.is_empty() {
        eq.since = Some(parse_time(&f.since).ok_or(Refused::Malformed("start time"))?);
    }
    if !f.until.is_empty() {
        eq.until = Some(parse_time(&f.until).ok_or(Refused::Malformed("end time"))?);
    }
    if let Some(b) = q.get("before").filter(|b| !b.is_empty()) {
        let (n, id) = b.split_once('~').ok_or(Refused::Malformed("page cursor"))?;
        let t = n
            .parse::<i128>()
            .ok()
            .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
            .ok_or(Refused::Malformed("page cursor"))?;
        eq.before = Some((t, id.to_owned()));
    }
    Ok((f, eq))
}

async fn events(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (f, mut eq) = match filters(&q) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    eq.limit = PAGE + 1;
    let mut rows = match c.source.events(&eq).await {
        Ok(r) => r,
        Err(e) => return unavailable(&e),
    };
    let next = (rows.len() > PAGE).then(|| {
        rows.truncate(PAGE);
        rows.last()
            .map(|e| format!("{}~{}", e.received_at.unix_timestamp_nanos(), e.event_id))
    });
    // The live list asks for its rows only.
    if q.get("part").map(String::as_str) == Some("rows") {
        return Html(view::event_rows(&rows).into_string()).into_response();
    }
    let count = match c.source.count(&eq, COUNT_CAP).await {
        Ok(n) => n,
        Err(e) => return unavailable(&e),
    };
    let csrf = csrf_of(&c, &caller);
    let body = view::events(&view::EventList {
        filters: &f,
        rows: &rows,
        count,
        cap: COUNT_CAP,
        next: next.flatten(),
        paged: eq.before.is_some(),
    });
    Html(
        view::page(
            &frame("Events", Nav::Events, &caller, &csrf, notice(&q)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

async fn event(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let stored = match c.source.event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "No event with this id."),
        Err(e) => return unavailable(&e),
    };
    let Ok(ev) = serde_json::from_str::<PaymentEvent>(&stored.event_json) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This event's stored JSON cannot be read.",
        );
    };
    let revealed = q.get("reveal").map(String::as_str) == Some("1");
    let mut normalized: serde_json::Value =
        serde_json::from_str(&stored.event_json).unwrap_or(serde_json::Value::Null);
    if let Some(m) = normalized.as_object_mut() {
        // Shown on its own below.
        m.remove("raw");
    }
    let (normalized, raw, hidden) = if revealed {
        tracing::info!(event_id = %id, "console: personal data revealed");
        let raw = match &ev.raw {
            serde_json::Value::String(s) => s.clone(),
            v => pretty(v),
        };
        (pretty(&normalized), raw, 0)
    } else {
        let (n, a) = mask::mask(&normalized);
        let (raw, b) = match &ev.raw {
            serde_json::Value::String(s) => mask::mask_text(s),
            v => {
                let (m, k) = mask::mask(v);
                (pretty(&m), k)
            }
        };
        (pretty(&n), raw, a + b)
    };
    let deliveries = match (c.reader(), &c.deliveries) {
        (Some(r), Some(_)) => match r.deliveries(None, Some(&id), None, 100).await {
            Ok(d) => Some(d),
            Err(e) => return unavailable(&e),
        },
        _ => None,
    };
    let summary = payhook_embedded::EventSummary {
        event_id: stored.event_id.clone(),
        provider: ev.provider,
        order_id: ev.order_id.clone(),
        status: ev.status,
        provider_event: ev.provider_event.clone(),
        received_at: stored.received_at,
        state: stored.state,
        delivery: None,
    };
    let csrf = csrf_of(&c, &caller);
    let body = view::event(&view::EventPage {
        event_id: &stored.event_id,
        summary: Some(&summary),
        received_at: stored.received_at,
        published_at: stored.published_at,
        state: stored.state,
        flags: &ev.flags,
        unparsed: ev.unparsed.as_ref().map(|u| match &u.field {
            Some(f) => format!("{} at {f}", u.reason.as_str()),
            None => u.reason.as_str().to_owned(),
        }),
        normalized,
        raw,
        hidden,
        revealed,
        deliveries: deliveries.as_deref(),
        csrf: &csrf,
    });
    Html(
        view::page(
            &frame("Event", Nav::Events, &caller, &csrf, notice(&q)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

async fn replay(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = allowed(&c, &caller, &headers, f.csrf.as_deref()) {
        return r.into_response();
    }
    let stored = match c.store.get_event(&id).await {
        Ok(Some(e)) => e,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "No event with this id."),
        Err(e) => return unavailable(&e),
    };
    if stored.state != payhook::store::EventState::Published {
        return problem(
            StatusCode::CONFLICT,
            "This event is recorded but not yet published: the sweeper publishes it.",
        );
    }
    let Ok(ev) = serde_json::from_str::<PaymentEvent>(&stored.event_json) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This event's stored JSON cannot be read.",
        );
    };
    if let Err(e) = c.publisher.replay(&ev, &stored.event_json).await {
        tracing::warn!(error = %e, event_id = %id, "console: replay failed");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "The replay could not be published; try again.",
        );
    }
    tracing::info!(event_id = %id, "console: event replayed");
    Redirect::to(&format!("/console/events/{}?done=replayed", percent(&id))).into_response()
}

async fn order(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path((provider, order_id)): Path<(String, String)>,
) -> Response {
    let Some(provider) = ProviderId::parse(&provider) else {
        return problem(StatusCode::NOT_FOUND, "No such provider.");
    };
    let (state, events) = match tokio::try_join!(
        c.source.order(provider, &order_id),
        c.source.order_events(provider, &order_id)
    ) {
        Ok(x) => x,
        Err(e) => return unavailable(&e),
    };
    let mut current: Option<Status> = None;
    let mut rows = Vec::with_capacity(events.len());
    for e in &events {
        let Ok(ev) = serde_json::from_str::<PaymentEvent>(&e.event_json) else {
            continue;
        };
        let effect = match (ev.status.rank(), current.and_then(Status::rank)) {
            (None, _) => view::Effect::Unknown,
            (Some(r), Some(cur)) if r <= cur => view::Effect::Kept {
                current: current.unwrap_or(ev.status),
            },
            (Some(_), _) => {
                let from = current;
                current = Some(ev.status);
                view::Effect::Moved {
                    from,
                    to: ev.status,
                }
            }
        };
        rows.push(view::TimelineRow {
            event_id: &e.event_id,
            received_at: e.received_at,
            provider_event: ev.provider_event,
            status: ev.status,
            effect,
        });
    }
    let csrf = csrf_of(&c, &caller);
    let body = view::order(state.as_ref(), provider, &order_id, &rows);
    Html(view::page(&frame("Order", Nav::Events, &caller, &csrf, None), body).into_string())
        .into_response()
}

async fn deliveries(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = match q.get("state").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match DeliveryState::parse(s) {
            Ok(s) => Some(s),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "Unknown delivery state."),
        },
    };
    let before = match q
        .get("before")
        .filter(|s| !s.is_empty())
        .map(|b| b.parse::<i64>())
    {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return problem(StatusCode::BAD_REQUEST, "Malformed page cursor."),
    };
    let csrf = csrf_of(&c, &caller);
    let (mut rows, counts) = match c.reader() {
        Some(r) => match tokio::try_join!(
            r.deliveries(state, None, before, PAGE + 1),
            r.delivery_counts()
        ) {
            Ok(x) => x,
            Err(e) => return unavailable(&e),
        },
        None => (Vec::new(), (0, 0, 0)),
    };
    let next = (rows.len() > PAGE).then(|| {
        rows.truncate(PAGE);
        rows.last().map(|d| d.seq)
    });
    let body = view::deliveries(&view::DeliveryList {
        rows: &rows,
        counts,
        state,
        forwarding: c.forwarding.as_deref(),
        next: next.flatten(),
        csrf: &csrf,
    });
    Html(
        view::page(
            &frame("Deliveries", Nav::Deliveries, &caller, &csrf, notice(&q)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct RedriveForm {
    csrf: Option<String>,
    event_id: Option<String>,
    all_failed: Option<String>,
}

async fn redrive(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Form(f): Form<RedriveForm>,
) -> Response {
    if let Err(r) = allowed(&c, &caller, &headers, f.csrf.as_deref()) {
        return r.into_response();
    }
    let Some(d) = &c.deliveries else {
        return problem(
            StatusCode::CONFLICT,
            "No forwarding schedule on this backend.",
        );
    };
    let which = match (f.all_failed.as_deref(), f.event_id) {
        (Some("1"), _) => Redrive::AllFailed,
        (_, Some(id)) if !id.is_empty() => Redrive::Event(id),
        _ => return problem(StatusCode::BAD_REQUEST, "Say which deliveries to retry."),
    };
    match d.redrive(which, OffsetDateTime::now_utc()).await {
        Ok(n) => {
            tracing::info!(deliveries = n, "console: deliveries redriven");
            let done = if n == 0 { "nothing" } else { "retried" };
            Redirect::to(&format!("/console/deliveries?done={done}")).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

async fn rejected(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Response {
    let q = EventQuery {
        status: Some(Status::Unknown),
        limit: 20,
        ..EventQuery::default()
    };
    let (unknown, unknown_count) =
        match tokio::try_join!(c.source.events(&q), c.source.count(&q, COUNT_CAP)) {
            Ok(x) => x,
            Err(e) => return unavailable(&e),
        };
    let totals = c.activity.totals();
    let minutes = c.activity.minutes(60);
    let csrf = csrf_of(&c, &caller);
    let body = view::rejected(&view::Rejected {
        started: c.activity.started,
        totals: &totals,
        minutes: &minutes,
        unknown: &unknown,
        unknown_count,
        cap: COUNT_CAP,
    });
    Html(
        view::page(
            &frame("Rejected", Nav::Rejected, &caller, &csrf, None),
            body,
        )
        .into_string(),
    )
    .into_response()
}

async fn users(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list = match c.store.list_users().await {
        Ok(l) => l,
        Err(e) => return unavailable(&e),
    };
    let csrf = csrf_of(&c, &caller);
    let body = view::users(&list, &csrf, c.validation);
    Html(
        view::page(
            &frame("Users", Nav::Users, &caller, &csrf, notice(&q)),
            body,
        )
        .into_string(),
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct UserForm {
    csrf: Option<String>,
    email: String,
    action: String,
    decision: Option<String>,
    reason: Option<String>,
}

async fn user_action(
    State(c): State<Shared>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Form(f): Form<UserForm>,
) -> Response {
    if let Err(r) = allowed(&c, &caller, &headers, f.csrf.as_deref()) {
        return r.into_response();
    }
    let Some(email) = payhook::users::normalize_email(&f.email) else {
        return problem(StatusCode::BAD_REQUEST, "That is not an email address.");
    };
    let decision = match f.action.as_str() {
        "allow" => Some(Decision::Allow),
        "block" => Some(Decision::Block),
        "set" => match f.decision.as_deref() {
            Some("allow") => Some(Decision::Allow),
            Some("block") => Some(Decision::Block),
            _ => return problem(StatusCode::BAD_REQUEST, "Decision must be allow or block."),
        },
        "remove" => None,
        _ => return problem(StatusCode::BAD_REQUEST, "Unknown action."),
    };
    let reason = f
        .reason
        .map(|r| r.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty());
    let done = match decision {
        Some(d) => match payhook::koywe_callback::set_user(&*c.store, &email, d, reason).await {
            Ok(_) => "saved",
            Err(e) => return unavailable(&e),
        },
        None => match c.store.remove_user(&email).await {
            Ok(true) => "removed",
            Ok(false) => return problem(StatusCode::NOT_FOUND, "No such user."),
            Err(e) => return unavailable(&e),
        },
    };
    tracing::info!(action = %f.action, "console: user list changed");
    Redirect::to(&format!("/console/users?done={done}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_cursors_parse() {
        assert_eq!(
            parse_time("2026-12-02T06:30").map(|t| t.unix_timestamp()),
            parse_time("2026-12-02T06:30:00Z").map(|t| t.unix_timestamp())
        );
        assert!(parse_time("yesterday").is_none());
        let mut q = HashMap::new();
        q.insert("before".to_owned(), "1800000000000000000~abc~d".to_owned());
        let (_, eq) = filters(&q).ok().unwrap();
        assert_eq!(eq.before.map(|(_, id)| id), Some("abc~d".to_owned()));
        q.insert("status".to_owned(), "nope".to_owned());
        assert!(matches!(filters(&q), Err(Refused::Malformed("status"))));
    }

    #[test]
    fn percent_encodes_what_a_path_cannot_hold() {
        assert_eq!(percent("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
        assert_eq!(percent("ord-1_2.3~"), "ord-1_2.3~");
    }
}
