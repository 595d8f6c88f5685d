//! Shared test harness: the test configuration, the `events/` cases, signing
//! them with a fixed clock, and an app on the memory store whose published
//! events are all checked against the JSON Schema.

use base64::Engine as _;
use payhook::providers::{self, Provider};
use payhook::publish::Publisher;
use payhook::publish::memory::MemoryPublisher;
use payhook::store::EventStore;
use payhook::store::memory::MemoryStore;
use payhook::{App, Config, FixedClock, Limits, ProviderId};
use payhook_cli::standin::{self, StandIn};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub mod aws;

/// The fixed "now" of handler tests: 2025-06-15T15:06:40Z.
pub fn test_now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The test settings: every registered provider's `test_settings` (the
/// committed fixtures are signed with these), and the 8Pay API at
/// `eightpay_base` (the stand-in).
pub fn settings(eightpay_base: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for d in providers::ALL {
        for (k, v) in d.test_settings {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    m.insert("PAYHOOK_EIGHTPAY_API_BASE".into(), eightpay_base.into());
    m
}

pub fn config_from(m: &BTreeMap<String, String>) -> Config {
    match Config::from_lookup(|k| m.get(k).cloned()) {
        Ok(c) => c,
        Err(e) => panic!("test config: {e}"),
    }
}

/// Settings whose secrets are all different from the test ones (each
/// provider's `wrong_settings`).
pub fn wrong_settings(eightpay_base: &str) -> BTreeMap<String, String> {
    let mut m = settings(eightpay_base);
    for d in providers::ALL {
        for (k, v) in d.wrong_settings {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    m
}

/// Function folder in `events/` (and `functions/`) of each provider: its id.
pub fn function_of(p: ProviderId) -> &'static str {
    p.as_str()
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// One line of `events/<function>/cases.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub file: String,
    pub sign: String,
    pub expect: u16,
    pub outcome: Option<String>,
    pub status: Option<String>,
    pub provider_event: Option<String>,
    pub order_id: Option<String>,
    /// Flags the published event must carry (e.g. `["unparsed"]`).
    #[serde(default)]
    pub flags: Option<Vec<String>>,
    pub tamper: Option<Tamper>,
    /// The provider's attack base: the authentic sample the attack tests
    /// start from (one case per `cases.json`).
    #[serde(default)]
    pub base: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tamper {
    pub from: String,
    pub to: String,
}

pub fn cases(p: ProviderId) -> Vec<Case> {
    let path = events_dir().join(function_of(p)).join("cases.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The case marked `"base": true` in `events/<id>/cases.json` (exactly one).
pub fn base_case(p: ProviderId) -> Case {
    let mut bases: Vec<Case> = cases(p).into_iter().filter(|c| c.base).collect();
    assert_eq!(
        bases.len(),
        1,
        "{p}: cases.json must mark exactly one case \"base\": true"
    );
    bases.remove(0)
}

pub fn read_event(p: ProviderId, file: &str) -> serde_json::Value {
    let path = events_dir().join(function_of(p)).join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The body of an API Gateway event (base64-decoded when marked so and valid).
pub fn event_body(ev: &serde_json::Value) -> Vec<u8> {
    let raw = ev.get("body").and_then(|b| b.as_str()).unwrap_or_default();
    if ev.get("isBase64Encoded").and_then(|b| b.as_bool()) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap_or_else(|_| raw.as_bytes().to_vec())
    } else {
        raw.as_bytes().to_vec()
    }
}

/// Replace the body of an API Gateway event (keeping its base64 flag) and
/// merge headers and path parameters into it.
pub fn rewrite_event(
    ev: &mut serde_json::Value,
    body: &[u8],
    headers: &[(String, String)],
    params: &[(String, String)],
) {
    let b64 = ev.get("isBase64Encoded").and_then(|b| b.as_bool()) == Some(true);
    let text = if b64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    ev["body"] = serde_json::Value::String(text);
    if let Some(h) = ev.get_mut("headers").and_then(|h| h.as_object_mut()) {
        h.remove("content-length");
        for (k, v) in headers {
            h.insert(k.to_ascii_lowercase(), serde_json::Value::String(v.clone()));
        }
    } else {
        ev["headers"] = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if !params.is_empty() {
        let mut pp = ev
            .get("pathParameters")
            .and_then(|p| p.as_object())
            .cloned()
            .unwrap_or_default();
        for (k, v) in params {
            pp.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        // Keep rawPath consistent with the parameters.
        if let Some(route) = ev
            .get("routeKey")
            .and_then(|r| r.as_str())
            .and_then(|r| r.split_once(' '))
            .map(|(_, path)| path.to_owned())
        {
            let mut path = route;
            for (k, v) in &pp {
                if let Some(v) = v.as_str() {
                    path = path.replace(&format!("{{{k}}}"), v);
                }
            }
            ev["rawPath"] = serde_json::Value::String(path.clone());
            if let Some(http) = ev.pointer_mut("/requestContext/http") {
                http["path"] = serde_json::Value::String(path);
            }
        }
        ev["pathParameters"] = serde_json::Value::Object(pp);
    }
}

/// Everything a handler test needs: an app per provider on one memory store
/// and publisher, a fixed clock, and a running 8Pay API stand-in.
pub struct Harness {
    pub store: Arc<MemoryStore>,
    pub publisher: Arc<MemoryPublisher>,
    pub clock: Arc<FixedClock>,
    pub standin: StandIn,
    pub standin_addr: SocketAddr,
    pub settings: BTreeMap<String, String>,
    pub config: Config,
}

impl Harness {
    pub async fn new() -> Self {
        let keys = providers::eightpay::Settings::from_config(&config_from(&settings(
            "http://127.0.0.1:1",
        )))
        .unwrap_or_else(|e| panic!("8Pay test settings: {e}"))
        .keys;
        let (addr, standin) = standin::spawn(keys)
            .await
            .unwrap_or_else(|e| panic!("8Pay stand-in: {e}"));
        let settings = settings(&format!("http://{addr}"));
        let config = config_from(&settings);
        Harness {
            store: Arc::new(MemoryStore::new()),
            publisher: Arc::new(MemoryPublisher::new()),
            clock: Arc::new(FixedClock::new(test_now())),
            standin,
            standin_addr: addr,
            settings,
            config,
        }
    }

    pub fn provider(&self, p: ProviderId) -> Arc<dyn Provider> {
        providers::build(p, &self.config).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// An app for `p` on this harness's store and publisher.
    pub fn app(&self, p: ProviderId) -> App {
        self.app_with(p, self.store.clone(), self.publisher.clone())
    }

    pub fn app_with(
        &self,
        p: ProviderId,
        store: Arc<dyn EventStore>,
        publisher: Arc<dyn Publisher>,
    ) -> App {
        App::new(
            self.provider(p),
            store,
            publisher,
            Limits::from(&self.config),
        )
        .with_clock(self.clock.clone())
    }

    /// The window a provider's time checks use (for stale/inside/future);
    /// a provider without one has no such cases (asking is a test bug).
    pub fn window(&self, p: ProviderId) -> Duration {
        self.provider(p)
            .time_window()
            .unwrap_or_else(|| panic!("{p} has no time window"))
    }

    /// The API Gateway event of `case`, signed as its `sign` mode says.
    pub fn signed_event(&self, p: ProviderId, case: &Case) -> serde_json::Value {
        let mut ev = read_event(p, &case.file);
        let body = event_body(&ev);
        let now = self.clock_now();
        let w = || self.window(p);
        let one = Duration::from_secs(1);
        let signer: Arc<dyn Provider> = if case.sign == "wrong_secret" {
            providers::build(
                p,
                &config_from(&wrong_settings(&format!("http://{}", self.standin_addr))),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        } else {
            self.provider(p)
        };
        let at = match case.sign.as_str() {
            "none" => return ev,
            "stale" => now - w() - one,
            "inside" => now - w() + one,
            "future" => now + w() + one,
            _ => now,
        };
        // The fixture's path parameters (a provider whose parameter picks
        // the signing secret signs for them).
        let params: Vec<(String, String)> = ev
            .get("pathParameters")
            .and_then(|p| p.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let signed = signer
            .sign_for(&body, at, &params)
            .unwrap_or_else(|e| panic!("{}: sign: {e}", case.file));
        if p == ProviderId::EIGHTPAY {
            let chain = ev
                .pointer("/pathParameters/chain")
                .and_then(|c| c.as_str())
                .unwrap_or("bsc")
                .to_owned();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&signed.body) {
                self.standin.insert(&chain, v);
            }
        }
        let mut body = signed.body.clone();
        if case.sign == "tamper" {
            let t = case
                .tamper
                .as_ref()
                .unwrap_or_else(|| panic!("{}: tamper case without `tamper`", case.file));
            let text = String::from_utf8_lossy(&body).into_owned();
            assert!(
                text.contains(&t.from),
                "{}: tamper text not in body",
                case.file
            );
            body = text.replacen(&t.from, &t.to, 1).into_bytes();
        }
        rewrite_event(&mut ev, &body, &signed.headers, &signed.params);
        ev
    }

    pub fn clock_now(&self) -> OffsetDateTime {
        use payhook::Clock;
        self.clock.now()
    }

    /// Send an API Gateway event through the function's HTTP handler.
    pub async fn send_event(
        &self,
        app: &App,
        ev: &serde_json::Value,
    ) -> (u16, serde_json::Value, http::HeaderMap) {
        let resp = match payhook_aws::http::request_from_event(&ev.to_string()) {
            Ok(req) => payhook_aws::http::handle(app, req).await,
            Err(r) => payhook_aws::http::rejection_response(&r),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.body() {
            lambda_http::Body::Text(t) => t.as_bytes().to_vec(),
            lambda_http::Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        };
        let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, v, headers)
    }

    /// Every message published so far, each validated against the JSON
    /// Schema (a failure names the event and the violation).
    pub fn published(&self) -> Vec<serde_json::Value> {
        validate_all(&self.publisher.messages())
    }
}

/// Parse and validate every published message against the JSON Schema.
pub fn validate_all(messages: &[String]) -> Vec<serde_json::Value> {
    let schema: serde_json::Value =
        serde_json::from_str(payhook::event::JSON_SCHEMA).unwrap_or_else(|e| panic!("schema: {e}"));
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    messages
        .iter()
        .map(|m| {
            let v: serde_json::Value =
                serde_json::from_str(m).unwrap_or_else(|e| panic!("published non-JSON: {e}"));
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "published event {} breaks the schema: {errors:?}",
                v["event_id"]
            );
            // And it reads back as the typed event consumers use.
            let typed: Result<payhook::PaymentEvent, _> = serde_json::from_value(v.clone());
            assert!(
                typed.is_ok(),
                "published event does not deserialize: {typed:?}"
            );
            v
        })
        .collect()
}

/// Fault injection: a store that fails chosen operations a chosen number of
/// times, then behaves.
pub mod faults {
    use async_trait::async_trait;
    use payhook::PaymentEvent;
    use payhook::publish::{PublishError, Publisher};
    use payhook::store::{
        Claim, EventFilter, EventRecord, EventStore, OrderState, StoreError, StoredEvent,
    };
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use time::OffsetDateTime;

    #[derive(Debug, thiserror::Error)]
    #[error("injected fault")]
    pub struct Injected;

    fn take(n: &AtomicUsize) -> bool {
        n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
    }

    /// Counters: how many of the next calls fail.
    #[derive(Default)]
    pub struct StoreFaults {
        pub claim: AtomicUsize,
        pub claim_throttled: AtomicUsize,
        pub complete: AtomicUsize,
        pub release: AtomicUsize,
    }

    pub struct FaultyStore {
        pub inner: Arc<dyn EventStore>,
        pub faults: StoreFaults,
    }

    impl FaultyStore {
        pub fn new(inner: Arc<dyn EventStore>) -> Self {
            FaultyStore {
                inner,
                faults: StoreFaults::default(),
            }
        }
    }

    #[async_trait]
    impl EventStore for FaultyStore {
        async fn claim(
            &self,
            rec: &EventRecord,
            now: OffsetDateTime,
            lease: Duration,
        ) -> Result<Claim, StoreError> {
            if take(&self.faults.claim_throttled) {
                return Err(StoreError::Throttled);
            }
            if take(&self.faults.claim) {
                return Err(StoreError::unavailable(Injected));
            }
            self.inner.claim(rec, now, lease).await
        }
        async fn release(&self, event_id: &str) -> Result<(), StoreError> {
            if take(&self.faults.release) {
                return Err(StoreError::unavailable(Injected));
            }
            self.inner.release(event_id).await
        }
        async fn complete(&self, rec: &EventRecord, now: OffsetDateTime) -> Result<(), StoreError> {
            if take(&self.faults.complete) {
                return Err(StoreError::unavailable(Injected));
            }
            self.inner.complete(rec, now).await
        }
        async fn stuck(
            &self,
            before: OffsetDateTime,
            limit: usize,
        ) -> Result<Vec<EventRecord>, StoreError> {
            self.inner.stuck(before, limit).await
        }
        async fn take_over(
            &self,
            id: &str,
            now: OffsetDateTime,
            lease: Duration,
        ) -> Result<bool, StoreError> {
            self.inner.take_over(id, now, lease).await
        }
        async fn get_event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
            self.inner.get_event(id).await
        }
        async fn list_events(&self, f: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
            self.inner.list_events(f).await
        }
        async fn list_orders(&self) -> Result<Vec<OrderState>, StoreError> {
            self.inner.list_orders().await
        }
    }

    /// A publisher that fails its next `fail` calls.
    pub struct FaultyPublisher {
        pub inner: Arc<dyn Publisher>,
        pub fail: AtomicUsize,
        pub throttle: AtomicUsize,
    }

    impl FaultyPublisher {
        pub fn new(inner: Arc<dyn Publisher>) -> Self {
            FaultyPublisher {
                inner,
                fail: AtomicUsize::new(0),
                throttle: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait]
    impl Publisher for FaultyPublisher {
        async fn publish(&self, e: &PaymentEvent, json: &str) -> Result<(), PublishError> {
            if take(&self.throttle) {
                return Err(PublishError::Throttled);
            }
            if take(&self.fail) {
                return Err(PublishError::unavailable(Injected));
            }
            self.inner.publish(e, json).await
        }
    }
}
