//! The fuzz targets' bodies, one function per target, shared by the
//! libFuzzer binaries (`fuzz_targets/*.rs`, run with `cargo +nightly fuzz
//! run <target>`) and by the normal test suite, which includes this file as
//! a module (`tests/tests/it/fuzz_corpus.rs`) and replays the seeds from
//! `events/` and random mutations of them.
//!
//! Each function takes arbitrary bytes, runs them through a provider's
//! parse + verify + normalize path exactly as the pipeline does (through the
//! `Provider` trait, with a fixed clock and fixed test secrets, no network),
//! and panics only when an invariant breaks:
//!
//! * nothing panics inside payhook;
//! * every rejection is a documented status: 400 (body) or 401
//!   (authentication) — never 5xx for a request that needs no I/O;
//! * what `sign()` produces, `verify()` accepts (for bodies `sign()`
//!   accepts), and a correctly signed body is never answered 401;
//! * a wrong credential is always 401, whatever the body;
//! * an accepted event has a non-empty order id and dedupe key, its `raw` is
//!   the verified body, and its published JSON reads back;
//! * `canonical`: for any input that parses, `stringify(parse(x))` parses
//!   to an equal value (numbers compared as JavaScript compares them) and
//!   is a fixed point of `stringify ∘ parse`.

use payhook::canonical;
use payhook::providers::eightpay::EightPay;
use payhook::providers::koywe::Koywe;
use payhook::providers::onebuy::{Checkout, WalletPay};
use payhook::providers::thirdweb::Thirdweb;
use payhook::providers::{Authentic, Inbound, Normalized, Provider, Verified};
use payhook::rejection::Rejection;
use payhook::secret::{Secret, SecretList};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;
use time::OffsetDateTime;

/// The fixed clock: 2025-06-15T15:06:40Z.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The 1buy URL token and api_key of the fuzz configuration.
pub const ONEBUY_TOKEN: &str = "fuzz-onebuy-token";
/// The `api_key` of 1buy's Wallet Pay sample in events/.
pub const ONEBUY_API_KEY: &str = "ENCRYPTED::3f9a0c7e51d24b8a";

fn list(s: &str) -> SecretList {
    SecretList::parse(s).unwrap_or_else(|e| panic!("fuzz secrets: {e}"))
}

/// Run a future that never waits (verification without I/O) to completion.
fn run<F: Future>(f: F) -> F::Output {
    use futures_util::FutureExt as _;
    f.now_or_never()
        .unwrap_or_else(|| panic!("verification without I/O waited"))
}

fn verify(
    p: &dyn Provider,
    body: &[u8],
    headers: &http::HeaderMap,
    params: &[(&str, &str)],
) -> Result<Authentic, Rejection> {
    let params: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    run(p.verify(
        &Inbound {
            body,
            headers,
            params: &params,
        },
        now(),
    ))
}

fn headers(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    }
    h
}

/// A rejection is one of the documented statuses for a request that needs
/// no I/O.
fn documented(ctx: &str, r: &Rejection) {
    assert!(
        r.status == 400 || r.status == 401,
        "{ctx}: undocumented status {} ({})",
        r.status,
        r.reason
    );
    assert!(!r.reason.is_empty(), "{ctx}: rejection without a reason");
}

/// An authentic request: normalize a parsed body; keep an unreadable one
/// the way the pipeline does. `bytes` are the authenticated body.
fn authentic(ctx: &str, p: &dyn Provider, bytes: &[u8], a: Authentic) -> Option<Normalized> {
    match a {
        Authentic::Parsed(v) => normalize(ctx, p, bytes, &v),
        Authentic::Unreadable(why) => {
            kept(ctx, p, bytes, why);
            None
        }
    }
}

/// What the pipeline makes of an authentic body normalize could not map:
/// an `unknown` event flagged `unparsed`, on an order of its own, whose
/// published JSON reads back.
fn kept(ctx: &str, p: &dyn Provider, bytes: &[u8], why: payhook::event::Unparsed) {
    let n = payhook::pipeline::unparsed_event(p, bytes, why, now());
    assert_eq!(n.event.status, payhook::Status::Unknown, "{ctx}");
    assert!(
        n.event
            .order_id
            .starts_with(payhook::pipeline::UNPARSED_ORDER_PREFIX),
        "{ctx}: unparsed order id {}",
        n.event.order_id
    );
    assert!(n.event.flags.iter().any(|f| f == "unparsed"), "{ctx}");
    let json = n.event.to_json();
    assert!(
        json.is_ok(),
        "{ctx}: unparsed event does not serialize: {json:?}"
    );
    let back: Result<payhook::PaymentEvent, _> = serde_json::from_str(&json.unwrap_or_default());
    assert!(back.is_ok(), "{ctx}: unparsed event does not read back");
}

/// Normalize a verified body; check what an accepted event must satisfy.
fn normalize(ctx: &str, p: &dyn Provider, bytes: &[u8], v: &Verified) -> Option<Normalized> {
    match p.normalize(v.clone(), now()) {
        Ok(n) => {
            assert!(!n.dedupe_key.is_empty(), "{ctx}: empty dedupe key");
            assert!(!n.event.order_id.is_empty(), "{ctx}: empty order id");
            assert_eq!(n.event.raw, v.body, "{ctx}: raw is not the verified body");
            assert_eq!(n.event.provider, p.id(), "{ctx}: wrong provider");
            let Ok(json) = n.event.to_json() else {
                // A value the schema cannot carry (a time outside RFC 3339):
                // the pipeline keeps the body as unparsed.
                kept(
                    ctx,
                    p,
                    bytes,
                    payhook::event::Unparsed::new(payhook::event::UnparsedReason::InvalidField),
                );
                return None;
            };
            let back: Result<payhook::PaymentEvent, _> = serde_json::from_str(&json);
            assert!(
                back.is_ok(),
                "{ctx}: published JSON does not read back: {back:?}"
            );
            Some(n)
        }
        Err(why) => {
            kept(ctx, p, bytes, why);
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

/// Every registered provider whose verification needs no I/O, built from
/// its descriptor's test settings and from its wrong settings (the same
/// names, other secrets). 8Pay is left out by name: its verification asks
/// 8Pay's API, and `eightpay_local` covers its local steps.
type Built = (
    &'static payhook::providers::Descriptor,
    std::sync::Arc<dyn Provider>,
    Option<std::sync::Arc<dyn Provider>>,
);

fn registered() -> &'static [Built] {
    static P: OnceLock<Vec<Built>> = OnceLock::new();
    P.get_or_init(|| {
        let build = |d: &payhook::providers::Descriptor, pairs: &[(&str, &str)]| {
            let cfg = payhook::Config::from_lookup(|k| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap_or_else(|e| panic!("{}: fuzz settings: {e}", d.id));
            (d.build)(&cfg).unwrap_or_else(|e| panic!("{}: fuzz build: {e}", d.id))
        };
        payhook::providers::ALL
            .iter()
            .copied()
            .filter(|d| d.id != payhook::ProviderId::EIGHTPAY)
            .map(|d| {
                let right = build(d, d.test_settings);
                let wrong = (!d.wrong_settings.is_empty()).then(|| build(d, d.wrong_settings));
                (d, right, wrong)
            })
            .collect()
    })
}

/// The providers [`webhook`] runs, in registry order.
pub fn webhook_providers() -> Vec<payhook::ProviderId> {
    registered().iter().map(|(d, _, _)| d.id).collect()
}

/// Every registered provider (but 8Pay, see [`registered`]), from its
/// descriptor alone, so that a new provider is fuzzed without a target of
/// its own: the bytes as received (no headers, no path parameters) get a
/// documented answer; the bytes signed by `sign()` are never a 401 (a 400
/// only where the proof needs a reading of the body the bytes do not
/// have), and what they verify to is normalized or kept; under the wrong
/// settings the signed request is always refused, a 401 whenever the right
/// settings accepted it.
pub fn webhook(data: &[u8]) {
    for (d, p, wrong) in registered() {
        let p = p.as_ref();
        let id = d.id;
        let empty = http::HeaderMap::new();
        match verify(p, data, &empty, &[]) {
            Ok(a) => {
                authentic(&format!("{id} (as received)"), p, data, a);
            }
            Err(r) => documented(&format!("{id} (as received)"), &r),
        }
        let Ok(signed) = p.sign(data, now()) else {
            continue;
        };
        let h = headers(&signed.headers);
        let params: Vec<(&str, &str)> = signed
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let accepted = match verify(p, &signed.body, &h, &params) {
            Ok(a) => {
                authentic(&format!("{id} (signed)"), p, &signed.body, a);
                true
            }
            Err(r) => {
                documented(&format!("{id} (signed)"), &r);
                assert!(
                    r.status == 400 && d.proof.reads_body(),
                    "{id}: a request signed by sign() answered {r}: {}",
                    String::from_utf8_lossy(&signed.body)
                );
                false
            }
        };
        if let Some(wrong) = wrong {
            match verify(wrong.as_ref(), &signed.body, &h, &params) {
                Ok(_) => panic!("{id}: verified under the wrong settings"),
                Err(r) if accepted => assert_eq!(r.status, 401, "{id} wrong settings: {r}"),
                Err(r) => documented(&format!("{id} (wrong settings)"), &r),
            }
        }
    }
}

fn koywe_provider() -> &'static Koywe {
    static P: OnceLock<Koywe> = OnceLock::new();
    P.get_or_init(|| {
        Koywe::new(
            list("fuzz-koywe-secret,fuzz-koywe-secret-old"),
            Duration::from_secs(86_400),
        )
    })
}

/// Koywe: the body as received; then the body signed by `sign()` (which
/// parses it strictly and rewrites `timeStamp` and `signature`), which
/// must verify; then normalize.
pub fn koywe(data: &[u8]) {
    let p = koywe_provider();
    let empty = http::HeaderMap::new();
    match verify(p, data, &empty, &[]) {
        Ok(a) => {
            authentic("koywe (as received)", p, data, a);
        }
        Err(r) => documented("koywe (as received)", &r),
    }
    let Ok(signed) = p.sign(data, now()) else {
        return;
    };
    // Koywe's current format signs in a header, the legacy one in the body.
    let signed_headers = headers(&signed.headers);
    match verify(p, &signed.body, &signed_headers, &[]) {
        Ok(a) => {
            authentic("koywe (signed)", p, &signed.body, a);
        }
        Err(r) => panic!(
            "koywe: a body signed by sign() does not verify: {r}: {}",
            String::from_utf8_lossy(&signed.body)
        ),
    }
    // A different secret never verifies it.
    let other = Koywe::new(list("not-the-secret"), Duration::from_secs(86_400));
    match verify(&other, &signed.body, &signed_headers, &[]) {
        Ok(_) => panic!("koywe: verified under the wrong secret"),
        Err(r) => assert_eq!(r.status, 401, "koywe wrong secret: {r}"),
    }
}

fn thirdweb_provider() -> &'static Thirdweb {
    static P: OnceLock<Thirdweb> = OnceLock::new();
    P.get_or_init(|| Thirdweb::new(list("fuzz-thirdweb-secret"), Duration::from_secs(300)))
}

/// thirdweb: the body signed over its exact bytes is always authentic and
/// kept, whatever it holds (thirdweb signs raw bytes); without headers, or
/// with a signature of other bytes, always a 401.
pub fn thirdweb(data: &[u8]) {
    let p = thirdweb_provider();
    let Ok(signed) = p.sign(data, now()) else {
        panic!("thirdweb: sign() refused bytes");
    };
    assert_eq!(signed.body, data, "thirdweb: sign() rewrote the body");
    let h = headers(&signed.headers);
    match verify(p, data, &h, &[]) {
        Ok(a) => {
            authentic("thirdweb", p, data, a);
        }
        Err(r) => panic!("thirdweb: correctly signed bytes answered {r}"),
    }
    match verify(p, data, &http::HeaderMap::new(), &[]) {
        Ok(_) => panic!("thirdweb: accepted without headers"),
        Err(r) => assert_eq!(r.status, 401, "thirdweb without headers: {r}"),
    }
    // The same headers over one more byte.
    let mut longer = data.to_vec();
    longer.push(b' ');
    match verify(p, &longer, &h, &[]) {
        Ok(_) => panic!("thirdweb: a signature verified other bytes"),
        Err(r) => assert_eq!(r.status, 401, "thirdweb tampered: {r}"),
    }
}

/// An 8Pay API that is never reachable (the targets stop before asking it).
#[derive(Debug)]
struct NoApi;

#[async_trait::async_trait]
impl payhook::providers::eightpay::NotificationApi for NoApi {
    async fn get(
        &self,
        _url: &str,
        _key: &Secret,
        _max_bytes: usize,
    ) -> Result<payhook::providers::eightpay::ApiAnswer, payhook::providers::eightpay::ApiError>
    {
        Err(payhook::providers::eightpay::ApiError::Unreachable {
            detail: "not asked while fuzzing".into(),
        })
    }
}

fn eightpay_provider() -> &'static EightPay {
    static P: OnceLock<EightPay> = OnceLock::new();
    P.get_or_init(|| {
        let mut keys = BTreeMap::new();
        keys.insert("bsc".to_owned(), Secret::new("fuzz-8pay-key"));
        // The API is never called here: only the local steps run.
        EightPay::new(
            keys,
            "http://127.0.0.1:9",
            Duration::from_millis(100),
            std::sync::Arc::new(NoApi),
        )
        .unwrap_or_else(|e| panic!("fuzz 8Pay: {e}"))
    })
}

/// 8Pay without the network: the id recomputation (`sign()` sets `id` to
/// the hash of the rest, which must then match `notification_id`), the
/// strict parse, and normalize of both the body as received and the body
/// with its id recomputed.
pub fn eightpay_local(data: &[u8]) {
    use payhook::providers::eightpay::notification_id;
    let p = eightpay_provider();
    let parsed = match canonical::parse_strict(data) {
        Ok(v) => v,
        Err(e) => {
            documented("8pay parse", &Rejection::from(e));
            return;
        }
    };
    if parsed.is_object() {
        normalize(
            "8pay (as received)",
            p,
            data,
            &Verified::new(parsed.clone()),
        );
    }
    let Ok(signed) = p.sign(data, now()) else {
        return;
    };
    let v = canonical::parse_strict(&signed.body)
        .unwrap_or_else(|e| panic!("8pay: sign() printed unparseable JSON: {e}"));
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    assert_eq!(
        id,
        notification_id(&v),
        "8pay: id is not the hash of the rest"
    );
    assert_eq!(
        notification_id(&v),
        notification_id(&parsed),
        "8pay: the id depends on the old id"
    );
    let bytes = signed.body;
    normalize("8pay (signed)", p, &bytes, &Verified::new(v));
}

fn wallet_pay() -> &'static [WalletPay; 2] {
    static P: OnceLock<[WalletPay; 2]> = OnceLock::new();
    P.get_or_init(|| {
        [
            WalletPay::new(list(ONEBUY_TOKEN), None),
            WalletPay::new(list(ONEBUY_TOKEN), Some(list(ONEBUY_API_KEY))),
        ]
    })
}

fn checkout() -> &'static [Checkout; 2] {
    static P: OnceLock<[Checkout; 2]> = OnceLock::new();
    P.get_or_init(|| {
        [
            Checkout::new(list(ONEBUY_TOKEN), None),
            Checkout::new(list(ONEBUY_TOKEN), Some(list(ONEBUY_API_KEY))),
        ]
    })
}

/// 1buy: with the right token (and, for the second configuration, the
/// api_key check on), the body is only ever a 400 or a 401 (api_key);
/// a wrong token is always a 401 whatever the body.
fn onebuy(name: &str, providers: [&dyn Provider; 2], data: &[u8]) {
    let h = http::HeaderMap::new();
    for (i, p) in providers.into_iter().enumerate() {
        let ctx = format!("{name}[{i}]");
        match verify(p, data, &h, &[("token", ONEBUY_TOKEN)]) {
            Ok(a) => {
                authentic(&ctx, p, data, a);
            }
            Err(r) => {
                documented(&ctx, &r);
                if i == 0 {
                    assert_eq!(r.status, 400, "{ctx}: right token answered {r}");
                }
            }
        }
        for wrong in [
            "",
            "fuzz-onebuy-tokeN",
            "fuzz-onebuy-token ",
            "fuzz-onebuy-toke",
        ] {
            match verify(p, data, &h, &[("token", wrong)]) {
                Ok(_) => panic!("{ctx}: accepted token {wrong:?}"),
                Err(r) => assert_eq!(r.status, 401, "{ctx}: token {wrong:?}: {r}"),
            }
        }
    }
}

pub fn onebuy_wallet_pay(data: &[u8]) {
    let [a, b] = wallet_pay();
    onebuy("onebuy_wallet_pay", [a, b], data);
}

pub fn onebuy_checkout(data: &[u8]) {
    let [a, b] = checkout();
    onebuy("onebuy_checkout", [a, b], data);
}

/// JSON values equal as JavaScript would see them (numbers as doubles).
pub fn js_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| js_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && js_eq(vx, vy))
        }
        _ => a == b,
    }
}

/// `parse_strict` + `stringify`: for any input that parses,
/// `stringify(parse(x))` parses to an equal value (same keys in the same
/// order, numbers equal as doubles) and is a fixed point.
pub fn canonical(data: &[u8]) {
    let Ok(v) = canonical::parse_strict(data) else {
        return;
    };
    let s = canonical::stringify(&v);
    let again = canonical::parse_strict(s.as_bytes())
        .unwrap_or_else(|e| panic!("stringify printed what parse_strict refuses: {e}: {s}"));
    assert!(js_eq(&v, &again), "stringify changed the value: {s}");
    assert_eq!(
        canonical::stringify(&again),
        s,
        "stringify is not a fixed point"
    );
    // And serde_json's own reading agrees (no duplicate keys remain).
    let lenient: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert!(js_eq(&lenient, &again), "serde_json reads {s} differently");
}
