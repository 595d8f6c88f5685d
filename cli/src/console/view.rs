//! The console's pages, rendered on the server (maud escapes every value).

use super::activity::{Minute, Route};
use maud::{DOCTYPE, Markup, html};
use payhook::store::{EventState, OrderState};
use payhook::users::UserRecord;
use payhook::{ProviderId, Status};
use payhook_embedded::{Delivery, DeliveryState, EventSummary};
use time::OffsetDateTime;

/// The navigation entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Events,
    Deliveries,
    Rejected,
    Users,
}

/// What every page's frame needs.
pub struct Frame<'a> {
    pub title: &'a str,
    pub nav: Nav,
    /// The session's CSRF token (absent for Bearer callers: no logout).
    pub csrf: Option<&'a str>,
    /// A message about the action just taken.
    pub notice: Option<&'static str>,
}

pub fn at(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).unwrap_or_default()
}

pub fn page(f: &Frame<'_>, body: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) class=(if f.nav == n { "on" } else { "" }) { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " · payhook console" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/console/events" { "payhook" }
                    nav {
                        (item(Nav::Events, "/console/events", "Events"))
                        (item(Nav::Deliveries, "/console/deliveries", "Deliveries"))
                        (item(Nav::Rejected, "/console/rejected", "Rejected & unknown"))
                        (item(Nav::Users, "/console/users", "Users"))
                    }
                    @if let Some(csrf) = f.csrf {
                        form.logout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    @if let Some(n) = f.notice {
                        p.notice role="status" { (n) }
                    }
                    (body)
                }
            }
        }
    }
}

pub fn login(wrong: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Log in · payhook console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body.login {
                main {
                    h1 { "payhook console" }
                    @if wrong { p.error role="alert" { "That is not the console token." } }
                    form method="post" action="/console/login" {
                        label for="token" { "Console token (" code { "PAYHOOK_CONSOLE_TOKEN" } ")" }
                        input #token type="password" name="token" autocomplete="current-password" required autofocus;
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}

pub fn error(status: http::StatusCode, what: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (status.as_u16()) " · payhook console" }
                link rel="stylesheet" href="/console/assets/console.css"; }
            body { main { h1 { (status) } p { (what) } p { a href="/console/events" { "Back to the events" } } } }
        }
    }
}

fn state_badge(s: EventState, d: Option<DeliveryState>) -> Markup {
    html! {
        span class={"badge " (s.as_str())} { (s.as_str()) }
        @if let Some(d) = d {
            " " span class={"badge d-" (d.as_str())} { "forward " (d.as_str()) }
        }
    }
}

pub fn status_badge(s: Status) -> Markup {
    html! { span class={"badge s-" (s.as_str())} { (s.as_str()) } }
}

pub fn order_href(p: ProviderId, order_id: &str) -> String {
    format!(
        "/console/orders/{}/{}",
        p.as_str(),
        super::percent(order_id)
    )
}

pub fn event_rows(rows: &[EventSummary]) -> Markup {
    html! {
        @for e in rows {
            tr data-event=(e.event_id) {
                td.time { (at(e.received_at)) }
                td { (e.provider.as_str()) }
                td { (e.provider_event) }
                td { (status_badge(e.status)) }
                td { a href=(order_href(e.provider, &e.order_id)) { (e.order_id) } }
                td { (state_badge(e.state, e.delivery)) }
                td.id { a href={"/console/events/" (super::percent(&e.event_id))} { (e.event_id) } }
            }
        }
        @if rows.is_empty() {
            tr.empty { td colspan="7" { "No events match." } }
        }
    }
}

/// The filters of the event list, as given (for the form and the links).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub provider: String,
    pub status: String,
    pub order: String,
    pub since: String,
    pub until: String,
}

impl Filters {
    pub fn query(&self) -> String {
        let mut q = Vec::new();
        for (k, v) in [
            ("provider", &self.provider),
            ("status", &self.status),
            ("order", &self.order),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                q.push(format!("{k}={}", super::percent(v)));
            }
        }
        q.join("&")
    }
}

pub struct EventList<'a> {
    pub filters: &'a Filters,
    pub rows: &'a [EventSummary],
    pub count: usize,
    pub cap: usize,
    /// The next page's cursor.
    pub next: Option<String>,
    /// On a later page (no live updates there).
    pub paged: bool,
}

pub fn events(l: &EventList<'_>) -> Markup {
    let f = l.filters;
    let sel = |a: &str, b: &str| a == b;
    html! {
        h1 { "Events" }
        form.filters method="get" action="/console/events" {
            label { "Provider "
                select name="provider" {
                    option value="" selected[f.provider.is_empty()] { "any" }
                    @for p in ProviderId::all() {
                        option value=(p.as_str()) selected[sel(&f.provider, p.as_str())] { (p.as_str()) }
                    }
                }
            }
            label { "Status "
                select name="status" {
                    option value="" selected[f.status.is_empty()] { "any" }
                    @for s in Status::ALL {
                        option value=(s.as_str()) selected[sel(&f.status, s.as_str())] { (s.as_str()) }
                    }
                }
            }
            label { "Order id " input type="search" name="order" value=(f.order); }
            label { "From " input type="datetime-local" step="1" name="since" value=(f.since); }
            label { "To " input type="datetime-local" step="1" name="until" value=(f.until); }
            button type="submit" { "Filter" }
            a href="/console/events" { "Clear" }
        }
        p.count {
            @if l.count >= l.cap { "More than " (l.cap) " events" } @else { (l.count) " event(s)" }
            @if !l.paged {
                " · " span #live data-live="on" { "live" }
            }
            " · times in UTC"
        }
        table #events {
            thead { tr { th { "Received" } th { "Provider" } th { "Provider event" } th { "Status" }
                th { "Order id" } th { "Outcome" } th { "Event id" } } }
            tbody data-rows=(if l.paged { "" } else { "live" }) { (event_rows(l.rows)) }
        }
        @if let Some(n) = &l.next {
            p.pager { a #next href={"/console/events?" (f.query()) @if !f.query().is_empty() { "&" } "before=" (super::percent(n))} { "Older events →" } }
        }
    }
}

pub struct EventPage<'a> {
    pub event_id: &'a str,
    pub summary: Option<&'a EventSummary>,
    pub received_at: OffsetDateTime,
    pub published_at: Option<OffsetDateTime>,
    pub state: EventState,
    pub flags: &'a [String],
    pub unparsed: Option<String>,
    pub normalized: String,
    pub raw: String,
    pub hidden: usize,
    pub revealed: bool,
    pub deliveries: Option<&'a [Delivery]>,
    pub csrf: &'a str,
}

pub fn event(p: &EventPage<'_>) -> Markup {
    let href = format!("/console/events/{}", super::percent(p.event_id));
    html! {
        h1 { "Event " code { (p.event_id) } }
        @if let Some(s) = p.summary {
            dl.facts {
                dt { "Provider" } dd { (s.provider.as_str()) }
                dt { "Provider event" } dd { (s.provider_event) }
                dt { "Status" } dd { (status_badge(s.status)) }
                dt { "Order" } dd { a #order href=(order_href(s.provider, &s.order_id)) { (s.order_id) } }
                dt { "Received" } dd { (at(p.received_at)) }
                dt { "Stored" } dd { (p.state.as_str()) @if let Some(t) = p.published_at { " at " (at(t)) } }
                @if !p.flags.is_empty() { dt { "Flags" } dd { (p.flags.join(", ")) } }
                @if let Some(u) = &p.unparsed { dt { "Unparsed" } dd { (u) } }
            }
        }
        div.actions {
            form method="post" action={(href) "/replay"} {
                input type="hidden" name="csrf" value=(p.csrf);
                button #replay type="submit" { "Replay this event" }
                " (published again with the same event id, as " code { "payhook replay" } ")"
            }
        }
        p.privacy {
            @if p.revealed {
                "Personal data shown. " a #mask href=(href) { "Hide it" }
            } @else if p.hidden > 0 {
                (p.hidden) " personal value(s) hidden. " a #reveal href={(href) "?reveal=1"} { "Reveal" }
            } @else {
                "No personal data found."
            }
        }
        h2 { "Normalized event" }
        pre #normalized { (p.normalized) }
        h2 { "Raw body (verified)" }
        pre #raw { (p.raw) }
        @if let Some(ds) = p.deliveries {
            h2 { "Deliveries to your endpoint" }
            (deliveries_table(ds, p.csrf))
        }
    }
}

/// How an event moved its order.
pub enum Effect {
    Moved { from: Option<Status>, to: Status },
    Kept { current: Status },
    Unknown,
}

pub struct TimelineRow<'a> {
    pub event_id: &'a str,
    pub received_at: OffsetDateTime,
    pub provider_event: String,
    pub status: Status,
    pub effect: Effect,
}

pub fn order(
    o: Option<&OrderState>,
    provider: ProviderId,
    order_id: &str,
    rows: &[TimelineRow<'_>],
) -> Markup {
    html! {
        h1 { "Order " code { (order_id) } " (" (provider.as_str()) ")" }
        @if let Some(o) = o {
            dl.facts {
                dt { "Status" } dd { (status_badge(o.status)) }
                dt { "Events" } dd { (o.event_count) }
                dt { "Last moved by" } dd { a href={"/console/events/" (super::percent(&o.last_event_id))} { (o.last_event_id) } }
                dt { "Updated" } dd { (at(o.updated_at)) }
            }
        } @else {
            p { "No order status recorded (its events may all be " code { "unknown" } ")." }
        }
        h2 { "Timeline" }
        @if let Some(o) = o {
            @if u64::try_from(rows.len()).unwrap_or(u64::MAX) < o.event_count {
                p.count { "The first " (rows.len()) " of its " (o.event_count) " events." }
            }
        }
        table #timeline {
            thead { tr { th { "Received" } th { "Event" } th { "Provider event" } th { "Status" } th { "Effect on the order" } } }
            tbody {
                @for r in rows {
                    tr {
                        td.time { (at(r.received_at)) }
                        td.id { a href={"/console/events/" (super::percent(r.event_id))} { (r.event_id) } }
                        td { (r.provider_event) }
                        td { (status_badge(r.status)) }
                        td {
                            @match &r.effect {
                                Effect::Moved { from: None, to } => { "set to " (to.as_str()) }
                                Effect::Moved { from: Some(f), to } => { "moved " (f.as_str()) " → " (to.as_str()) }
                                Effect::Kept { current } => { span.kept { "kept " (current.as_str()) " (did not move it backwards)" } }
                                Effect::Unknown => { span.kept { "none (unknown never moves an order)" } }
                            }
                        }
                    }
                }
            }
        }
        p { a href={"/console/events?order=" (super::percent(order_id)) "&provider=" (provider.as_str())} { "These events in the list" } }
    }
}

pub fn deliveries_table(ds: &[Delivery], csrf: &str) -> Markup {
    html! {
        table.deliveries {
            thead { tr { th { "#" } th { "Event" } th { "Order" } th { "State" } th { "Attempts" }
                th { "Last status" } th { "Last error" } th { "Next attempt" } th { "Updated" } th {} } }
            tbody {
                @for d in ds {
                    tr data-delivery=(d.seq) {
                        td { (d.seq) }
                        td.id { a href={"/console/events/" (super::percent(&d.event_id))} { (d.event_id) } }
                        td { (d.provider) " " (d.order_id) }
                        td { span class={"badge d-" (d.state.as_str())} { (d.state.as_str()) } }
                        td { (d.attempts) }
                        td { @if let Some(s) = d.last_status { (s) } @else { "—" } }
                        td { (d.last_error.as_deref().unwrap_or("—")) }
                        td.time { @if d.state == DeliveryState::Pending { (at(d.next_at)) } @else { "—" } }
                        td.time { (at(d.updated_at)) }
                        td {
                            @if d.state != DeliveryState::Pending {
                                form method="post" action="/console/deliveries/redrive" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="event_id" value=(d.event_id);
                                    button type="submit" { @if d.state == DeliveryState::Failed { "Retry" } @else { "Send again" } }
                                }
                            }
                        }
                    }
                }
                @if ds.is_empty() { tr.empty { td colspan="10" { "No deliveries." } } }
            }
        }
    }
}

pub struct DeliveryList<'a> {
    pub rows: &'a [Delivery],
    pub counts: (u64, u64, u64),
    pub state: Option<DeliveryState>,
    pub forwarding: Option<&'a str>,
    pub next: Option<i64>,
    pub csrf: &'a str,
}

pub fn deliveries(l: &DeliveryList<'_>) -> Markup {
    let (p, d, f) = l.counts;
    let link = |s: Option<DeliveryState>, label: String| {
        let href = match s {
            Some(s) => format!("/console/deliveries?state={}", s.as_str()),
            None => "/console/deliveries".to_owned(),
        };
        html! { a href=(href) class=(if l.state == s { "on" } else { "" }) { (label) } }
    };
    html! {
        h1 { "Deliveries" }
        @match l.forwarding {
            Some(url) => p { "Forwarding every published event to " code { (url) } " (Standard Webhooks signed)." },
            None => p { "Forwarding is off: set " code { "PAYHOOK_FORWARD_URL" } " to push events to your app (embedded backend)." },
        }
        p.tabs {
            (link(None, format!("all ({})", p + d + f)))
            (link(Some(DeliveryState::Pending), format!("pending ({p})")))
            (link(Some(DeliveryState::Delivered), format!("delivered ({d})")))
            (link(Some(DeliveryState::Failed), format!("failed ({f})")))
        }
        @if f > 0 {
            form.actions method="post" action="/console/deliveries/redrive" {
                input type="hidden" name="csrf" value=(l.csrf);
                input type="hidden" name="all_failed" value="1";
                button #redrive-all type="submit" { "Retry every failed delivery (" (f) ")" }
            }
        }
        (deliveries_table(l.rows, l.csrf))
        @if let Some(n) = l.next {
            p.pager { a href={"/console/deliveries?before=" (n) @if let Some(s) = l.state { "&state=" (s.as_str()) }} { "Older →" } }
        }
    }
}

pub struct Rejected<'a> {
    pub started: OffsetDateTime,
    pub totals: &'a [(Route, u16, String, u64)],
    pub minutes: &'a [Minute],
    pub unknown: &'a [EventSummary],
    pub unknown_count: usize,
    pub cap: usize,
}

/// Status columns of the per-minute table.
const COLUMNS: [u16; 6] = [400, 401, 405, 408, 413, 503];

pub fn rejected(r: &Rejected<'_>) -> Markup {
    html! {
        h1 { "Rejected requests and unknown events" }
        p { "Refused since this server started (" (at(r.started)) "). Nothing of a refused request is kept but its route, status and reason." }
        h2 { "By reason" }
        table #reasons {
            thead { tr { th { "Route" } th { "Status" } th { "Reason" } th { "Count" } } }
            tbody {
                @for (route, status, why, n) in r.totals {
                    tr { td { (route.to_string()) } td { (status) } td { (why) } td.n { (n) } }
                }
                @if r.totals.is_empty() { tr.empty { td colspan="4" { "Nothing refused." } } }
            }
        }
        h2 { "By minute" }
        table #minutes {
            thead { tr { th { "Minute" } @for c in COLUMNS { th { (c) } } th { "other" } } }
            tbody {
                @for m in r.minutes {
                    tr {
                        td.time { (OffsetDateTime::from_unix_timestamp(m.start).map(at).unwrap_or_default()) }
                        @for c in COLUMNS { td.n { (m.by_status.get(&c).copied().unwrap_or(0)) } }
                        td.n { (m.by_status.iter().filter(|(k, _)| !COLUMNS.contains(k)).map(|(_, v)| v).sum::<u64>()) }
                    }
                }
                @if r.minutes.is_empty() { tr.empty { td colspan="8" { "Nothing refused." } } }
            }
        }
        h2 { "Unknown events" }
        p {
            "Authentic deliveries payhook could not map (kept with status " code { "unknown" } "): "
            @if r.unknown_count >= r.cap { "more than " (r.cap) } @else { (r.unknown_count) }
            ". A provider changing its format shows here first. "
            a href="/console/events?status=unknown" { "All unknown events" }
        }
        table #unknown {
            thead { tr { th { "Received" } th { "Provider" } th { "Provider event" } th { "Status" }
                th { "Order id" } th { "Outcome" } th { "Event id" } } }
            tbody { (event_rows(r.unknown)) }
        }
    }
}

pub fn users(list: &[UserRecord], csrf: &str, validation: Option<&str>) -> Markup {
    let action = |email: &str, what: &str, label: &str| {
        html! {
            form.inline method="post" action="/console/users" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="email" value=(email);
                input type="hidden" name="action" value=(what);
                button type="submit" data-action=(what) { (label) }
            }
        }
    };
    html! {
        h1 { "Koywe user validation" }
        @match validation {
            Some(m) => p { "Koywe asks " code { (payhook::koywe_callback::ROUTE) } " (auth: " (m) ") before a user buys; blocked users are refused, others allowed." },
            None => p { "The user-validation callback is not configured (" code { "PAYHOOK_VALIDATION_AUTH" } "); the list is kept all the same." },
        }
        form.adduser method="post" action="/console/users" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="action" value="set";
            label { "Email " input #email type="email" name="email" required; }
            label { "Decision " select name="decision" { option value="block" { "block" } option value="allow" { "allow" } } }
            label { "Reason " input type="text" name="reason" maxlength="200"; }
            button #add-user type="submit" { "Save" }
        }
        table #users {
            thead { tr { th { "Email" } th { "Decision" } th { "Reason" } th { "Updated" } th {} } }
            tbody {
                @for u in list {
                    tr data-user=(u.email) {
                        td { (u.email) }
                        td { span class={"badge u-" (u.decision.as_str())} { (u.decision.as_str()) } }
                        td { (u.reason.as_deref().unwrap_or("")) }
                        td.time { (at(u.updated_at)) }
                        td {
                            @if u.decision == payhook::users::Decision::Block { (action(&u.email, "allow", "Allow")) } @else { (action(&u.email, "block", "Block")) }
                            (action(&u.email, "remove", "Remove"))
                        }
                    }
                }
                @if list.is_empty() { tr.empty { td colspan="5" { "No users listed." } } }
            }
        }
    }
}
