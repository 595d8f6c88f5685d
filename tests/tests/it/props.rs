//! Property tests: arbitrary bytes and mutated valid bodies, through every
//! provider's HTTP handler, never panic and only ever get a documented
//! status code; nothing unauthenticated is stored; correctly signed raw
//! bytes are always kept.

use payhook::ProviderId;
use payhook::store::{EventFilter, EventStore};
use payhook_tests::{Harness, cases, event_body};
use proptest::prelude::*;
use std::sync::OnceLock;

const DOCUMENTED: [u16; 7] = [200, 400, 401, 405, 409, 413, 503];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| runtime().block_on(Harness::new()))
}

/// A signed, valid event of each provider, to mutate.
fn valid_events() -> &'static Vec<(ProviderId, serde_json::Value)> {
    static V: OnceLock<Vec<(ProviderId, serde_json::Value)>> = OnceLock::new();
    V.get_or_init(|| {
        let h = harness();
        ProviderId::all()
            .map(|p| {
                let case = cases(p)
                    .into_iter()
                    .find(|c| c.expect == 200 && c.sign == "fresh")
                    .unwrap_or_else(|| panic!("{p}: no valid case"));
                (p, h.signed_event(p, &case))
            })
            .collect()
    })
}

fn send(p: ProviderId, ev: &serde_json::Value) -> u16 {
    let h = harness();
    let app = h.app(p);
    runtime().block_on(async { h.send_event(&app, ev).await.0 })
}

fn with_body(ev: &serde_json::Value, body: &[u8]) -> serde_json::Value {
    let mut ev = ev.clone();
    payhook_tests::rewrite_event(&mut ev, body, &[], &[]);
    // Bytes that are not UTF-8 travel base64-encoded, as API Gateway sends them.
    if std::str::from_utf8(body).is_err() {
        use base64::Engine as _;
        ev["body"] = base64::engine::general_purpose::STANDARD
            .encode(body)
            .into();
        ev["isBase64Encoded"] = true.into();
    }
    ev
}

/// Whether `p`'s proof is a URL token (1buy), which covers no body.
fn url_token(p: ProviderId) -> bool {
    payhook::providers::descriptor(p).map(|d| d.proof) == Some(payhook::providers::Proof::UrlToken)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_get_documented_answers(idx in any::<prop::sample::Index>(), bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (p, ev) = &valid_events()[idx.index(valid_events().len())];
        // Its own store: the other properties run at the same time on the
        // shared one.
        let h = harness();
        let store = std::sync::Arc::new(payhook::store::memory::MemoryStore::new());
        let app = h.app_with(*p, store.clone(), h.publisher.clone());
        let status = runtime().block_on(async { h.send_event(&app, &with_body(ev, &bytes)).await.0 });
        prop_assert!(DOCUMENTED.contains(&status), "{p}: {status}");
        let stored = runtime().block_on(store.list_events(&EventFilter::default())).unwrap_or_default();
        if url_token(*p) {
            // 1buy signs nothing: the URL token (still valid in `ev`) is the
            // proof, so the bytes are authentic and kept as `unknown`.
            prop_assert_eq!(status, 200, "{}: authentic bytes refused", p);
            prop_assert_eq!(stored.len(), 1);
            let ev: serde_json::Value = serde_json::from_str(&stored[0].event_json).unwrap_or_default();
            prop_assert_eq!(&ev["status"], "unknown");
        } else {
            prop_assert!(status != 200, "{p}: random bytes accepted");
            prop_assert_eq!(stored.len(), 0, "{}: random bytes left a trace", p);
        }
    }

    #[test]
    fn mutated_valid_bodies_get_documented_answers(
        idx in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let (p, ev) = &valid_events()[idx.index(valid_events().len())];
        let mut body = event_body(ev);
        for (at, byte, op) in edits {
            if body.is_empty() { body.push(byte); continue; }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => { body.remove(i); }
                _ => body.insert(i, byte),
            }
        }
        let status = send(*p, &with_body(ev, &body));
        prop_assert!(DOCUMENTED.contains(&status), "{p}: {status}");
    }

    /// thirdweb signs the raw bytes: whatever they hold, correctly signed
    /// bytes are authentic and kept — 200, one event, `unknown` unless they
    /// happen to be a thirdweb body — never refused for their shape.
    #[test]
    fn signed_arbitrary_bytes_are_kept(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let h = harness();
        let p = ProviderId::THIRDWEB;
        let store = std::sync::Arc::new(payhook::store::memory::MemoryStore::new());
        let app = h.app_with(p, store.clone(), h.publisher.clone());
        let signed = h.provider(p).sign(&bytes, h.clock_now()).unwrap_or_else(|e| panic!("{e}"));
        let base = valid_events().iter().find(|(q, _)| *q == p).map(|(_, e)| e);
        let base = base.unwrap_or_else(|| panic!("no thirdweb event"));
        // with_body marks non-UTF-8 bytes base64; rewrite_event keeps that
        // and adds the signature headers.
        let mut ev = with_body(base, &signed.body);
        payhook_tests::rewrite_event(&mut ev, &signed.body, &signed.headers, &[]);
        let (status, body, _) = runtime().block_on(async { h.send_event(&app, &ev).await });
        prop_assert_eq!(status, 200, "{}", body);
        let stored = runtime().block_on(store.list_events(&EventFilter::default())).unwrap_or_default();
        prop_assert_eq!(stored.len(), 1);
    }

    #[test]
    fn json_shaped_noise_gets_documented_answers(idx in any::<prop::sample::Index>(), v in arb_json()) {
        let (p, ev) = &valid_events()[idx.index(valid_events().len())];
        let status = send(*p, &with_body(ev, v.to_string().as_bytes()));
        prop_assert!(DOCUMENTED.contains(&status), "{p}: {status}");
        prop_assert!(status != 200 || url_token(*p),
            "{p}: unsigned JSON accepted");
    }
}

/// Arbitrary JSON values, with the providers' field names likely.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("eventName".to_owned()),
        Just("orderId".to_owned()),
        Just("timeStamp".to_owned()),
        Just("signature".to_owned()),
        Just("id".to_owned()),
        Just("type".to_owned()),
        Just("data".to_owned()),
        Just("version".to_owned()),
        Just("status".to_owned()),
        Just("event".to_owned()),
        Just("stage".to_owned()),
        Just("order_id".to_owned()),
        "[a-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}
