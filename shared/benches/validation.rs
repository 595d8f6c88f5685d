//! Latency of Koywe's user-validation handler, the store call excluded: the
//! users live in the in-memory store, so what is measured is caller
//! authentication, body parsing, email normalization, the decision and the
//! log line. Target (issue 5): p99 under 5 ms; a single call is a few µs.
//!
//! Run: `cargo bench -p payhook --bench validation` (scripts/bench.sh does).

use criterion::{Criterion, criterion_group, criterion_main};
use payhook::koywe_callback::{CallerAuth, Validator};
use payhook::secret::Secret;
use payhook::store::memory::MemoryStore;
use payhook::users::Decision;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Poll a future that never waits (the memory store answers at once).
fn ready<F: Future>(f: F) -> F::Output {
    use futures_util::FutureExt as _;
    f.now_or_never()
        .unwrap_or_else(|| panic!("the memory store waited"))
}

const JWT_SECRET: &str = "bench-jwt-secret-at-least-32-bytes-long";

fn validator(auth: &str) -> Validator {
    let users = Arc::new(MemoryStore::new());
    ready(payhook::koywe_callback::set_user(
        &*users,
        "ana@example.com",
        Decision::Allow,
        None,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let auth = CallerAuth::parse(&Secret::new(auth), None, None).unwrap_or_else(|e| panic!("{e}"));
    Validator::new(auth, users, false, Duration::ZERO)
}

fn headers(authorization: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(authorization).unwrap_or_else(|e| panic!("{e}")),
    );
    h
}

fn bench(c: &mut Criterion) {
    let body = br#"{"email":" Ana@Example.com ","operation":"buy"}"#;
    let mut g = c.benchmark_group("validation");
    let v = validator("bearer:bench-token-0123456789");
    let h = headers("Bearer bench-token-0123456789");
    // Percentiles of single calls (criterion reports means and medians).
    let mut lat: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = std::time::Instant::now();
            black_box(ready(v.process(&http::Method::POST, &h, black_box(body))));
            t.elapsed()
        })
        .collect();
    lat.sort();
    println!(
        "validation/bearer single calls: p50 {:?}, p99 {:?}, max {:?} (20,000 calls)",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        lat[lat.len() - 1]
    );
    g.bench_function("bearer", |b| {
        b.iter(|| {
            let r = ready(v.process(&http::Method::POST, &h, black_box(body)));
            assert_eq!(r.status, 200);
        })
    });
    let v = validator(&format!("jwt-hs256:{JWT_SECRET}"));
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"exp": exp, "iss": "koywe"}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let h = headers(&format!("Bearer {token}"));
    g.bench_function("jwt-hs256", |b| {
        b.iter(|| {
            let r = ready(v.process(&http::Method::POST, &h, black_box(body)));
            assert_eq!(r.status, 200);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
