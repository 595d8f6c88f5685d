//! The path of one webhook, written once for every provider:
//! guard → verify → parse → normalize → claim → publish → complete → answer.
//!
//! No loss: an event answered 200 is durably recorded and either published
//! or left `recorded` for the sweeper ([`sweep`]). A failure after
//! verification answers 503 so the provider retries; the claim's lease makes
//! the retry safe.

use crate::event::event_id;
use crate::event::{PaymentEvent, Status, Unparsed, UnparsedReason};
use crate::metrics::{self, Count};
use crate::providers::{Authentic, Inbound, Normalized, Provider};
use crate::publish::Publisher;
use crate::rejection::Rejection;
use crate::store::{EventRecord, EventStore};
use http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

pub mod recorder;

pub use recorder::{ClaimThenPublish, RecordError, Recorded, Recorder};

/// Where time comes from (fixed in tests so fixtures never expire).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn new(t: OffsetDateTime) -> Self {
        FixedClock(Mutex::new(t))
    }
    pub fn set(&self, t: OffsetDateTime) {
        if let Ok(mut g) = self.0.lock() {
            *g = t;
        }
    }
    pub fn advance(&self, d: Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g += d;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|g| *g)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Request limits and timings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub lease: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: crate::config::DEFAULT_MAX_BODY_BYTES,
            lease: Duration::from_secs(30),
        }
    }
}

impl From<&crate::Config> for Limits {
    fn from(c: &crate::Config) -> Self {
        Limits {
            max_body_bytes: c.max_body_bytes,
            lease: c.lease,
        }
    }
}

/// What to answer the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
    /// Add `Allow: POST` (405).
    pub allow_post: bool,
}

impl Reply {
    fn ok(status: &'static str, event_id: &str) -> Self {
        Reply {
            status: StatusCode::OK,
            body: serde_json::json!({ "status": status, "event_id": event_id }),
            allow_post: false,
        }
    }

    pub fn error(status: StatusCode, reason: &str) -> Self {
        Reply {
            status,
            body: serde_json::json!({ "status": "rejected", "error": reason }),
            allow_post: status == StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The HTTP response: JSON body, `Allow: POST` on 405. Works for any
    /// body type built from a `String` (lambda_http's, axum's, …).
    pub fn to_http<B: From<String>>(&self) -> http::Response<B> {
        // `to_string` of a `Value` cannot fail (its keys are strings); it
        // writes to a `Vec` where `Display` goes through `core::fmt`.
        let body = serde_json::to_string(&self.body).unwrap_or_else(|_| String::from("{}"));
        let mut r = http::Response::new(B::from(body));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if self.allow_post {
            h.insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        r
    }
}

/// The step of a failed publication of a claimed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishStage {
    /// The publisher refused or was unreachable.
    Publish,
    /// Published, but marking it published in the store failed.
    Complete,
}

impl PublishStage {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishStage::Publish => "publish_failed",
            PublishStage::Complete => "complete_failed",
        }
    }
}

/// How one webhook request ended. Decides, in one place, the reply (status
/// and body), the `outcome` of the log line ([`Outcome::as_str`]) and the
/// metric ([`Outcome::count`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and published (or left for the sweeper by a recorder that
    /// publishes in the same write).
    Accepted,
    /// Already published.
    Duplicate,
    /// Recorded by a concurrent delivery that holds the lease, which (or the
    /// sweeper) publishes it.
    DuplicateInFlight,
    /// Same event id, different payload.
    Conflict,
    MethodNotAllowed,
    TooLarge,
    /// Refused by the provider's verification (before it was proven
    /// authentic).
    Rejected(Rejection),
    /// The claim failed: nothing is recorded.
    StoreUnavailable,
    /// Recorded, but publishing it failed at `stage`: the retry or the
    /// sweeper publishes it.
    PublishFailed(PublishStage),
    /// Neither the event nor its unparsed fallback could be serialized
    /// (never seen: the fallback has only representable fields).
    EncodeFailed,
}

impl Outcome {
    /// The `outcome` field of the log line (and the `reason` of a
    /// rejection's metric).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::DuplicateInFlight => "duplicate_in_flight",
            Outcome::Conflict => "conflict",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::TooLarge => "too_large",
            Outcome::Rejected(r) => r.kind,
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::PublishFailed(stage) => stage.as_str(),
            Outcome::EncodeFailed => "encode_failed",
        }
    }

    /// The metric this outcome counts, with its `reason` dimension.
    pub fn count(&self) -> (Count, Option<&'static str>) {
        match self {
            Outcome::Accepted => (Count::Accepted, None),
            Outcome::Duplicate | Outcome::DuplicateInFlight => (Count::Duplicate, None),
            Outcome::PublishFailed(_) | Outcome::EncodeFailed => (Count::PublishFailed, None),
            Outcome::StoreUnavailable => (Count::StoreFailed, None),
            Outcome::Conflict => (Count::Conflict, None),
            Outcome::MethodNotAllowed | Outcome::TooLarge | Outcome::Rejected(_) => {
                (Count::Rejected, Some(self.as_str()))
            }
        }
    }

    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Outcome::Accepted | Outcome::Duplicate | Outcome::DuplicateInFlight => StatusCode::OK,
            Outcome::Conflict => StatusCode::CONFLICT,
            Outcome::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Rejected(r) => r.status,
            Outcome::StoreUnavailable | Outcome::PublishFailed(_) | Outcome::EncodeFailed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The reply; `event_id` is the event's (empty before one is known).
    pub fn reply(&self, event_id: &str) -> Reply {
        let reason = match self {
            Outcome::Accepted => return Reply::ok("accepted", event_id),
            Outcome::Duplicate | Outcome::DuplicateInFlight => {
                return Reply::ok("duplicate", event_id);
            }
            Outcome::Conflict => "event id already recorded with a different payload",
            Outcome::MethodNotAllowed => "only POST is accepted",
            Outcome::TooLarge => "body too large",
            Outcome::Rejected(r) => &r.reason,
            Outcome::StoreUnavailable => "store unavailable, retry later",
            Outcome::PublishFailed(_) | Outcome::EncodeFailed => {
                "temporarily unavailable, retry later"
            }
        };
        Reply::error(self.status(), reason)
    }
}

/// One webhook function: a provider wired to a store and a publisher.
pub struct App {
    pub provider: Arc<dyn Provider>,
    /// Records and publishes each authentic delivery (see [`Recorder`]).
    pub recorder: Arc<dyn Recorder>,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    counters: metrics::Counters,
}

/// What happened to one request (for the log line and metrics).
struct Trace<'a> {
    /// The reason of an authentic body kept as `unknown`.
    unparsed: Option<&'static str>,
    event_id: Option<&'a str>,
    order_id: Option<&'a str>,
    status: Option<&'static str>,
}

impl App {
    pub fn new(
        provider: Arc<dyn Provider>,
        store: Arc<dyn EventStore>,
        publisher: Arc<dyn Publisher>,
        limits: Limits,
    ) -> Self {
        App {
            provider,
            recorder: Arc::new(ClaimThenPublish::new(store, publisher)),
            clock: Arc::new(SystemClock),
            limits,
            counters: metrics::Counters::default(),
        }
    }

    /// What this app counted (each also in the process-wide
    /// [`metrics::total`]).
    pub fn counts(&self) -> &metrics::Counters {
        &self.counters
    }

    /// Record and publish through `recorder` instead of claim → publish →
    /// complete over the store and publisher given to [`App::new`] (the
    /// embedded backend: `SqliteStore`, one transaction per delivery).
    pub fn with_recorder(mut self, recorder: Arc<dyn Recorder>) -> Self {
        self.recorder = recorder;
        self
    }

    /// Use `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Run one request through the pipeline. Never panics on input; every
    /// path ends in a [`Reply`] and one log line.
    pub async fn process(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
        params: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        let started = Instant::now();
        let provider = self.provider.id();
        let mut trace = Trace {
            unparsed: None,
            event_id: None,
            order_id: None,
            status: None,
        };
        let mut event_id_buf = String::new();
        let mut order_buf = String::new();
        let outcome = 'done: {
            if method != http::Method::POST {
                break 'done Outcome::MethodNotAllowed;
            }
            if body.len() > self.limits.max_body_bytes {
                break 'done Outcome::TooLarge;
            }
            let now = self.clock.now();
            let inbound = Inbound {
                body,
                headers,
                params,
            };
            let authentic = match self.provider.verify(&inbound, now).await {
                Ok(v) => v,
                Err(r) => break 'done Outcome::Rejected(r),
            };
            // Authentic means kept: from here on nothing about the body's
            // shape refuses the request (DESIGN.md step 4).
            let normalized = match authentic {
                Authentic::Parsed(verified) => match self.provider.normalize(verified, now) {
                    Ok(n) => n,
                    Err(why) => unparsed_event(&*self.provider, body, why, now),
                },
                Authentic::Unreadable(why) => unparsed_event(&*self.provider, body, why, now),
            };
            let (event, rec) = match record_of(provider, normalized) {
                Ok(kept) => kept,
                Err(e) => {
                    // The mapped event has a value the published schema
                    // cannot carry (a time outside RFC 3339's years): keep
                    // the authentic body as unparsed rather than refuse it.
                    tracing::warn!(provider = %provider, error = %e, "event not serializable, kept as unparsed");
                    let why = Unparsed::new(UnparsedReason::InvalidField);
                    match record_of(provider, unparsed_event(&*self.provider, body, why, now)) {
                        Ok(kept) => kept,
                        Err(e) => {
                            tracing::error!(provider = %provider, error = %e, "unparsed event not serializable");
                            break 'done Outcome::EncodeFailed;
                        }
                    }
                }
            };
            event_id_buf.clone_from(&event.event_id);
            order_buf.clone_from(&event.order_id);
            trace.event_id = Some(&event_id_buf);
            trace.order_id = Some(&order_buf);
            trace.status = Some(event.status.as_str());
            trace.unparsed = event.unparsed.as_ref().map(|u| u.reason.as_str());
            let recorded = self
                .recorder
                .record(&rec, &event, now, self.limits.lease, &*self.clock)
                .await;
            match recorded {
                Ok(Recorded::Published) => Outcome::Accepted,
                Ok(Recorded::Duplicate) => Outcome::Duplicate,
                // Durably recorded by a concurrent delivery, which (or the
                // sweeper) publishes it.
                Ok(Recorded::InFlight) => Outcome::DuplicateInFlight,
                Ok(Recorded::Conflict) => {
                    tracing::warn!(provider = %provider, event_id = %rec.event_id, "same event id, different payload");
                    Outcome::Conflict
                }
                Err(RecordError::Claim(e)) => {
                    tracing::error!(provider = %provider, event_id = %rec.event_id, error = %e, "claim failed");
                    Outcome::StoreUnavailable
                }
                Err(RecordError::Publish(stage)) => Outcome::PublishFailed(stage),
            }
        };
        let reply = outcome.reply(trace.event_id.unwrap_or(""));
        let elapsed = started.elapsed();
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let (count, reason) = outcome.count();
        self.counters
            .record(provider.as_str(), count, 1, reason, Some(elapsed));
        if let (Count::Accepted, Some(why)) = (count, trace.unparsed) {
            self.counters
                .record(provider.as_str(), Count::Unparsed, 1, Some(why), None);
        }
        tracing::info!(
            target: "payhook::webhook",
            provider = %provider,
            event_id = trace.event_id.unwrap_or(""),
            order_id = trace.order_id.unwrap_or(""),
            status = trace.status.unwrap_or(""),
            outcome = outcome.as_str(),
            unparsed = trace.unparsed.unwrap_or(""),
            code = reply.status.as_u16(),
            latency_us,
            "webhook"
        );
        reply
    }
}

/// The event of `n` with its id, and its store record (its published JSON).
fn record_of(
    provider: crate::ProviderId,
    n: Normalized,
) -> Result<(PaymentEvent, EventRecord), serde_json::Error> {
    let mut event = n.event;
    event.event_id = event_id(provider, &n.dedupe_key);
    let rec = EventRecord::new(&event, &n.fingerprint)?;
    Ok((event, rec))
}

/// Prefix of the order id of an unparsed event. Followed by the event id, it
/// names no real order: such an event never joins (or moves) one.
pub const UNPARSED_ORDER_PREFIX: &str = "unparsed:";

/// The flag every unparsed event carries.
pub const UNPARSED_FLAG: &str = "unparsed";

/// An authentic body that normalize could not map, kept as an event with
/// status `unknown`, the flag `unparsed` and the reason. Deduped by the
/// provider's own event id when the body has one
/// ([`Provider::event_ref`]), else by SHA-256 of the body, so a
/// redelivery of the same bytes is a duplicate. `raw` is the body's JSON, or
/// its text when it is not JSON (base64, flagged `raw_base64`, when it is
/// not even UTF-8).
pub fn unparsed_event(
    provider: &dyn Provider,
    body: &[u8],
    why: Unparsed,
    received_at: OffsetDateTime,
) -> Normalized {
    let digest = crate::providers::sha256(body);
    let mut flags = vec![UNPARSED_FLAG.to_owned()];
    let (raw, own) = match crate::canonical::parse_strict(body) {
        Ok(v) => {
            let own = provider.event_ref(&v);
            (v, own)
        }
        Err(_) => match std::str::from_utf8(body) {
            Ok(text) => (serde_json::Value::String(text.to_owned()), None),
            Err(_) => {
                use base64::Engine as _;
                flags.push("raw_base64".to_owned());
                let b64 = base64::engine::general_purpose::STANDARD.encode(body);
                (serde_json::Value::String(b64), None)
            }
        },
    };
    let dedupe_key = match own {
        Some(id) => format!("unparsed\0id\0{id}"),
        None => format!("unparsed\0sha256\0{}", hex::encode(digest)),
    };
    let id = event_id(provider.id(), &dedupe_key);
    let mut event = PaymentEvent::new(
        provider.id(),
        "unknown",
        UNPARSED_FLAG,
        Status::Unknown,
        format!("{UNPARSED_ORDER_PREFIX}{id}"),
        received_at,
        raw,
    );
    event.flags = flags;
    event.unparsed = Some(why);
    Normalized {
        dedupe_key,
        fingerprint: digest,
        event,
    }
}

/// Publish a claimed event and mark it published. On failure the lease is
/// given back (best effort) so a retry can take over at once; the event stays
/// recorded, so the sweeper finds it if nothing else does.
async fn publish_and_complete(
    store: &dyn EventStore,
    publisher: &dyn Publisher,
    rec: &EventRecord,
    event: &crate::PaymentEvent,
    now: OffsetDateTime,
) -> Result<(), PublishStage> {
    if let Err(e) = publisher.publish(event, &rec.event_json).await {
        tracing::error!(provider = %rec.provider, event_id = %rec.event_id, error = %e, "publish failed");
        if let Err(e) = store.release(&rec.event_id).await {
            tracing::warn!(event_id = %rec.event_id, error = %e, "lease release failed; the sweeper will publish");
        }
        return Err(PublishStage::Publish);
    }
    if let Err(e) = store.complete(rec, now).await {
        tracing::error!(provider = %rec.provider, event_id = %rec.event_id, error = %e, "complete failed");
        if let Err(e) = store.release(&rec.event_id).await {
            tracing::warn!(event_id = %rec.event_id, error = %e, "lease release failed; the sweeper will publish");
        }
        return Err(PublishStage::Complete);
    }
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub found: usize,
    pub published: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Publish events recorded but not published whose lease expired more than
/// `grace` ago. Each is taken over with a conditional write first, so two
/// sweepers (or a sweeper and a retry) never both publish it.
pub async fn sweep(
    store: &dyn EventStore,
    publisher: &dyn Publisher,
    now: OffsetDateTime,
    grace: Duration,
    lease: Duration,
    limit: usize,
) -> Result<SweepReport, crate::store::StoreError> {
    let stuck = store.stuck(now - grace, limit).await?;
    let mut report = SweepReport {
        found: stuck.len(),
        ..SweepReport::default()
    };
    for rec in stuck {
        if !store.take_over(&rec.event_id, now, lease).await? {
            report.skipped += 1;
            continue;
        }
        let event: crate::PaymentEvent = match serde_json::from_str(&rec.event_json) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(event_id = %rec.event_id, error = %e, "stored event unreadable");
                report.failed += 1;
                continue;
            }
        };
        match publish_and_complete(store, publisher, &rec, &event, now).await {
            Ok(()) => report.published += 1,
            Err(_) => report.failed += 1,
        }
    }
    if report.published > 0 {
        metrics::record("all", Count::Swept, report.published as u64, None, None);
    }
    tracing::info!(target: "payhook::sweeper", found = report.found, published = report.published,
        skipped = report.skipped, failed = report.failed, "sweep");
    Ok(report)
}
