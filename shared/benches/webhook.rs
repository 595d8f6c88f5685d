//! CPU per webhook, no I/O: for each provider, what payhook does to one
//! request before it touches the store — verify on the raw bytes, parse,
//! normalize, derive the event id and serialize the published event (the
//! same work as `App::process` up to `EventStore::claim`, including
//! `EventRecord::new`, which calls `PaymentEvent::to_json`).
//!
//! The bodies are the committed samples in `events/` (the seed samples where
//! there is one), signed by the provider's own `Provider::sign` at a fixed
//! time, so the figures are for real payload sizes and shapes.
//!
//! 8Pay's verification ends with an HTTP fetch from 8Pay's API; that part is
//! network, not CPU, so `eightpay` measures the local part only: strict
//! parse, recomputation of the `id` hash (JavaScript `JSON.stringify` form),
//! normalize and serialize.
//!
//! A last group runs one Koywe duplicate through the whole `App::process`
//! on the memory store (claim included) for comparison.
//!
//! Run: `cargo bench -p payhook --bench webhook` (scripts/bench.sh does).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use payhook::canonical;
use payhook::event::event_id;
use payhook::providers::eightpay::notification_id;
use payhook::providers::{self, Authentic, Inbound, Provider, Verified};
use payhook::publish::memory::MemoryPublisher;
use payhook::store::EventRecord;
use payhook::store::memory::MemoryStore;
use payhook::{App, Config, FixedClock, Limits, ProviderId};
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// The fixed "now" the bodies are signed at and verified against.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Benchmark-only secrets (the same values the test harness uses).
fn config() -> Config {
    let settings: HashMap<&str, &str> = [
        (
            "PAYHOOK_ONEBUY_TOKENS",
            "test-onebuy-token,test-onebuy-token-old",
        ),
        (
            "PAYHOOK_KOYWE_SECRETS",
            "test-koywe-secret,test-koywe-secret-old",
        ),
        (
            "PAYHOOK_THIRDWEB_SECRETS",
            "test-thirdweb-secret,test-thirdweb-secret-old",
        ),
        (
            "PAYHOOK_EIGHTPAY_API_KEYS",
            "bsc=test-8pay-key-bsc,polygon=test-8pay-key-polygon",
        ),
        ("PAYHOOK_EIGHTPAY_API_BASE", "http://127.0.0.1:1"),
    ]
    .into_iter()
    .collect();
    match Config::from_lookup(|k| settings.get(k).map(|v| (*v).to_owned())) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    }
}

/// Run a future that never waits on I/O (every provider's `verify` but
/// 8Pay's) to completion with a no-op waker: no runtime overhead in the
/// figures.
fn ready<F: Future>(f: F) -> F::Output {
    use futures_util::FutureExt as _;
    f.now_or_never()
        .unwrap_or_else(|| panic!("verify waited on I/O"))
}

/// The body and path parameters of an API Gateway event file in `events/`.
fn sample(file: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let ev: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let body = ev
        .get("body")
        .and_then(|b| b.as_str())
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let params = ev
        .get("pathParameters")
        .and_then(|p| p.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    (body, params)
}

/// One signed request, ready to be verified.
struct Request {
    body: Vec<u8>,
    headers: http::HeaderMap,
    params: HashMap<String, String>,
}

fn signed(p: &dyn Provider, file: &str) -> Request {
    let (body, file_params) = sample(file);
    let s = p
        .sign(&body, now())
        .unwrap_or_else(|e| panic!("{file}: sign: {e}"));
    let mut headers = http::HeaderMap::new();
    for (k, v) in &s.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: header {k}: {e}"));
        let value =
            http::HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{file}: header {k}: {e}"));
        headers.append(name, value);
    }
    let mut params: HashMap<String, String> = file_params.into_iter().collect();
    params.extend(s.params);
    Request {
        body: s.body,
        headers,
        params,
    }
}

/// verify → normalize → event id → `EventRecord::new` (serializes the
/// published event). Returns the record so nothing is optimized away.
fn process_local(p: &dyn Provider, req: &Request) -> EventRecord {
    let inbound = Inbound {
        body: &req.body,
        headers: &req.headers,
        params: &req.params,
    };
    let verified = match ready(p.verify(&inbound, now())).map(Authentic::parsed) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{}: unparsed: {e}", p.id()),
        Err(e) => panic!("{}: verify: {e}", p.id()),
    };
    finish(p, verified)
}

fn finish(p: &dyn Provider, verified: Verified) -> EventRecord {
    let n = match p.normalize(verified, now()) {
        Ok(n) => n,
        Err(e) => panic!("{}: normalize: {e}", p.id()),
    };
    let mut event = n.event;
    event.event_id = event_id(p.id(), &n.dedupe_key);
    EventRecord::new(&event, &n.fingerprint).unwrap_or_else(|e| panic!("{}: to_json: {e}", p.id()))
}

/// 8Pay's local part: strict parse, `id` recomputation and comparison,
/// normalize, serialize (the API confirmation is network and is left out).
fn eightpay_local(p: &dyn Provider, req: &Request) -> EventRecord {
    let body = match canonical::parse_strict(&req.body) {
        Ok(b) => b,
        Err(e) => panic!("eightpay: parse: {e}"),
    };
    let id = body.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    assert_eq!(notification_id(&body), id, "eightpay: id does not match");
    finish(p, Verified::new(body))
}

fn per_webhook(c: &mut Criterion) {
    let cfg = config();
    let cases: [(ProviderId, &str); 6] = [
        (
            ProviderId::ONEBUY_WALLET_PAY,
            "onebuy-wallet-pay/seed-sample.json",
        ),
        (ProviderId::ONEBUY_CHECKOUT, "onebuy-checkout/sample.json"),
        (ProviderId::KOYWE, "koywe/sample.json"),
        (ProviderId::EIGHTPAY, "eightpay/one-time-payment.json"),
        (ProviderId::THIRDWEB, "thirdweb/v1-seed-sample.json"),
        (ProviderId::THIRDWEB, "thirdweb/v2-sample.json"),
    ];
    let mut group = c.benchmark_group("webhook");
    for (id, file) in cases {
        let p = providers::build(id, &cfg).unwrap_or_else(|e| panic!("{id}: {e}"));
        let req = signed(&*p, file);
        let label = file
            .rsplit('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".json");
        let name = format!("{id}/{label}/{}B", req.body.len());
        group.throughput(Throughput::Elements(1));
        if id == ProviderId::EIGHTPAY {
            // Check once that the full verification would only be missing
            // the API call.
            black_box(eightpay_local(&*p, &req));
            group.bench_function(BenchmarkId::new("local-part", name), |b| {
                b.iter(|| eightpay_local(&*p, black_box(&req)))
            });
        } else {
            black_box(process_local(&*p, &req));
            group.bench_function(BenchmarkId::new("verify+normalize+serialize", name), |b| {
                b.iter(|| process_local(&*p, black_box(&req)))
            });
        }
    }
    group.finish();
}

/// A Koywe duplicate through `App::process` on the memory store: the
/// per-request cost of the whole pipeline when the store answers at once.
fn pipeline_duplicate(c: &mut Criterion) {
    let cfg = config();
    let p = providers::build(ProviderId::KOYWE, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let req = signed(&*p, "koywe/sample.json");
    let app = App::new(
        p,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryPublisher::new()),
        Limits::from(&cfg),
    )
    .with_clock(Arc::new(FixedClock::new(now())));
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let post = http::Method::POST;
    let first = rt.block_on(app.process(&post, &req.headers, &req.params, &req.body));
    assert_eq!(first.status, 200, "{:?}", first.body);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("koywe/duplicate/App::process+memory-store", |b| {
        b.iter(|| {
            let r =
                rt.block_on(app.process(&post, &req.headers, &req.params, black_box(&req.body)));
            assert_eq!(r.status, 200);
            r
        })
    });
    group.finish();
}

/// Where the time of the largest body goes (thirdweb's v1 seed sample):
/// each stage of `process_local` on its own.
fn stages(c: &mut Criterion) {
    let cfg = config();
    let p = providers::build(ProviderId::THIRDWEB, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let req = signed(&*p, "thirdweb/v1-seed-sample.json");
    let body = canonical::parse_strict(&req.body).unwrap_or_else(|e| panic!("{e}"));
    let n = p
        .normalize(Verified::new(body.clone()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("stages/thirdweb-v1");
    group.bench_function("hmac-sha256", |b| {
        b.iter(|| payhook::providers::sha256(black_box(&req.body)))
    });
    group.bench_function("parse_strict", |b| {
        b.iter(|| canonical::parse_strict(black_box(&req.body)))
    });
    group.bench_function("serde_json::from_slice::<Value>", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&req.body)))
    });
    group.bench_function("Value::clone", |b| b.iter(|| black_box(&body).clone()));
    group.bench_function("canonical::stringify", |b| {
        b.iter(|| canonical::stringify(black_box(&body)))
    });
    group.bench_function("normalize (with a Value::clone to feed it)", |b| {
        b.iter(|| p.normalize(Verified::new(black_box(&body).clone()), now()))
    });
    group.bench_function("PaymentEvent::to_json", |b| {
        b.iter(|| black_box(&n.event).to_json())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(50);
    targets = per_webhook, pipeline_duplicate, stages
}
criterion_main!(benches);
