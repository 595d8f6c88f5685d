//! 8Pay's provider against the CLI's stand-in of 8Pay's notification API,
//! over real HTTP on 127.0.0.1 (moved here from the provider's unit tests
//! when the HTTP client became a port: `payhook::providers::eightpay::api`).

// Moved from the provider's unit tests, where `unwrap` is allowed: these are
// test helpers too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use payhook::ConfigError;
use payhook::canonical;
use payhook::config::Config;
use payhook::event::*;
use payhook::providers::eightpay::*;
use payhook::providers::*;
use payhook::rejection::Rejection;
use payhook::secret::Secret;
use payhook_cli::standin::{self, Mode, StandIn};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The provider asking the API at `base` over reqwest, as the eightpay
/// function does.
fn eightpay_new(
    keys: BTreeMap<String, Secret>,
    base: impl Into<String>,
    timeout: Duration,
) -> Result<EightPay, payhook::ConfigError> {
    let api = ReqwestApi::new();
    EightPay::new(keys, base, timeout, Arc::new(api))
}

/// The parsed body of an authentic request (these tests send JSON).
fn parsed(a: Authentic) -> Verified {
    a.parsed()
        .unwrap_or_else(|u| panic!("authentic but unreadable: {u}"))
}
use std::collections::HashMap;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2024-01-01 00:00 UTC);
/// 8Pay's documented one-time sample; its `id` is the SHA-256 of the rest.
const SAMPLE: &str = r#"{"id":"7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967","type":"one-time","event":"Payment","timestamp":1585220116,"transactionHash":"0xb0f21bf5d722d981330d45d8625568cd0b356e8c7c464857131a6ebf99eadf80","transactionStatus":"confirmed","data":{"id":"0x563ac3fb11181935a6de874c69de5080bf90647bea11dc6e10e06356928a804c","sender":"0xe42fD8a58A82fDF624A8a94dA03a0e44F9934Dff","description":"Ebook","token":"8PAY","category":"Shop","tag":"ebook_859294","receivers":[{"account":"0xB2e9F6F9414ea12A33302923A55b9B4Cf99CCD90","amount":"5","fee":"0.05"}]},"extra":{"banner":"BR69","traffic":"facebook"}}"#;

fn keys() -> BTreeMap<String, Secret> {
    BTreeMap::from([
        ("bsc".to_owned(), Secret::new("test-8pay-key-bsc")),
        ("polygon".to_owned(), Secret::new("test-8pay-key-polygon")),
    ])
}

/// A stand-in API with `keys()` and a provider pointed at it.
async fn setup(timeout: Duration) -> (EightPay, StandIn) {
    let (addr, api) = standin::spawn(keys()).await.unwrap();
    let p = eightpay_new(keys(), format!("http://{addr}/"), timeout).unwrap();
    (p, api)
}

async fn verify(p: &EightPay, chain: &str, body: &[u8]) -> Result<Verified, Rejection> {
    let headers = http::HeaderMap::new();
    let params = HashMap::from([("chain".to_owned(), chain.to_owned())]);
    p.verify(
        &Inbound {
            body,
            headers: &headers,
            params: &params,
        },
        NOW,
    )
    .await
    .map(parsed)
}

fn value(body: &[u8]) -> Value {
    canonical::parse_strict(body).unwrap()
}

#[test]
fn documented_sample_id_is_the_hash_of_the_rest() {
    let v = value(SAMPLE.as_bytes());
    assert_eq!(
        notification_id(&v),
        "7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967"
    );
}

#[tokio::test]
async fn documented_sample_verifies_when_8pay_confirms_it() {
    let (p, api) = setup(Duration::from_secs(2)).await;
    assert!(api.insert("bsc", value(SAMPLE.as_bytes())));
    let v = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap();
    let n = p.normalize(v, NOW).unwrap();
    let e = &n.event;
    assert_eq!(e.status, Status::Completed);
    assert_eq!(e.provider_event, "Payment");
    assert_eq!(e.product, "one-time");
    assert_eq!(
        e.order_id,
        "0x563ac3fb11181935a6de874c69de5080bf90647bea11dc6e10e06356928a804c"
    );
    assert_eq!(e.merchant_reference.as_deref(), Some("ebook_859294"));
    assert_eq!(e.occurred_at, Some(datetime!(2020-03-26 10:55:16 UTC)));
    assert_eq!(
        e.tx_hashes,
        ["0xb0f21bf5d722d981330d45d8625568cd0b356e8c7c464857131a6ebf99eadf80"]
    );
    let c = e.crypto.as_ref().unwrap();
    assert_eq!(c.amount.as_deref(), Some("5"));
    assert_eq!(c.currency.as_deref(), Some("8PAY"));
    assert_eq!(c.network.as_deref(), Some("bsc"), "the URL's chain");
    assert_eq!(
        e.wallet.as_deref(),
        Some("0xe42fD8a58A82fDF624A8a94dA03a0e44F9934Dff")
    );
    assert_eq!(
        n.dedupe_key,
        "7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967"
    );
    let without_id = canonical::stringify(&canonical::without_key(&value(SAMPLE.as_bytes()), "id"));
    assert_eq!(n.fingerprint, sha256(without_id.as_bytes()));
    assert_eq!(
        hex::encode(n.fingerprint),
        n.dedupe_key,
        "the fingerprint is the id itself"
    );
    assert_eq!(e.raw, value(SAMPLE.as_bytes()));
}

#[test]
fn every_event_maps_as_documented() {
    let table = [
        ("Payment", true, Status::Completed),
        ("Payment", false, Status::Processing),
        ("Subscription", true, Status::Created),
        ("Billing", true, Status::Completed),
        ("BillingFailed", true, Status::Failed),
        ("BillingAttemptFailed", true, Status::Failed),
        ("SubscriptionCancellationRequested", true, Status::Pending),
        ("SubscriptionCancelled", true, Status::Canceled),
        ("SubscriptionTerminated", true, Status::Canceled),
        ("AllowanceChanged", true, Status::Unknown),
        ("payment", true, Status::Unknown),
    ];
    for (event, confirmed, status) in table {
        assert_eq!(status_of(event, confirmed), status, "{event}");
    }
}

fn normalized(p: &EightPay, body: Value) -> Normalized {
    let signed = p.sign(body.to_string().as_bytes(), NOW).unwrap().body;
    p.normalize(Verified::new(value(&signed)), NOW).unwrap()
}

#[tokio::test]
async fn recurring_events_use_the_subscription_as_the_order() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    for (event, status) in [
        ("Subscription", Status::Created),
        ("Billing", Status::Completed),
        ("BillingFailed", Status::Failed),
        ("BillingAttemptFailed", Status::Failed),
        ("SubscriptionCancellationRequested", Status::Pending),
        ("SubscriptionCancelled", Status::Canceled),
        ("SubscriptionTerminated", Status::Canceled),
        ("SomethingNew", Status::Unknown),
    ] {
        let n = normalized(
            &p,
            serde_json::json!({
                "type": "fixed-recurring", "event": event, "timestamp": 1585220116,
                "transactionHash": "0xabc", "transactionStatus": "confirmed",
                "data": {"planId": "0xp", "subscriptionId": "0xs", "user": "0xu", "amount": "9.99"}
            }),
        );
        assert_eq!(n.event.status, status, "{event}");
        assert_eq!(n.event.order_id, "0xs");
        assert_eq!(n.event.product, "fixed-recurring");
        assert_eq!(n.event.wallet.as_deref(), Some("0xu"));
        assert_eq!(n.event.failure.is_some(), status == Status::Failed);
        assert_eq!(
            n.event.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("9.99")
        );
    }
}

#[tokio::test]
async fn wallet_to_wallet_reads_the_receivers() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    let body = |status: &str| {
        serde_json::json!({
            "type": "wallet-to-wallet", "event": "Payment", "chain": "bsc",
            "data": {"id": "62e1eb77-7204-4c06-a4b8-0096d3e8956b", "email": "john@doe.com",
                "token": "8PAY", "tag": "t1",
                "receivers": [{"user": "0xr", "amount": "5", "fee": "0.05",
                    "timestamp": 1658999245, "transactionHash": "0x729a",
                    "transactionStatus": status}]}
        })
    };
    let n = normalized(&p, body("confirmed"));
    assert_eq!(n.event.status, Status::Completed);
    assert_eq!(n.event.order_id, "62e1eb77-7204-4c06-a4b8-0096d3e8956b");
    assert_eq!(n.event.tx_hashes, ["0x729a"]);
    assert_eq!(
        n.event.occurred_at,
        Some(datetime!(2022-07-28 09:07:25 UTC))
    );
    assert_eq!(
        n.event.customer.as_ref().and_then(|c| c.email.as_deref()),
        Some("john@doe.com")
    );
    assert_eq!(
        n.event.crypto.as_ref().and_then(|c| c.network.as_deref()),
        Some("bsc")
    );
    assert_eq!(
        normalized(&p, body("pending")).event.status,
        Status::Processing
    );
}

#[tokio::test]
async fn order_id_falls_back_to_the_transaction_then_the_notification() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    let n = normalized(
        &p,
        serde_json::json!({"type": "one-time", "event": "Payment", "transactionHash": "0xt",
            "transactionStatus": "pending", "data": {}}),
    );
    assert_eq!(n.event.order_id, "0xt");
    assert_eq!(n.event.status, Status::Processing);
    let n = normalized(
        &p,
        serde_json::json!({"type": "one-time", "event": "Payment"}),
    );
    assert_eq!(n.event.order_id, n.dedupe_key);
    assert_eq!(n.event.status, Status::Processing);
}

/// Authentic but not what normalize needs: kept as unparsed (never a
/// 400), the reason naming the member.
#[tokio::test]
async fn missing_required_fields_are_unparsed_naming_them() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    for (body, field) in [
        (serde_json::json!({"type": "one-time"}), "event"),
        (serde_json::json!({"event": "Payment"}), "type"),
    ] {
        let signed = p.sign(body.to_string().as_bytes(), NOW).unwrap().body;
        let e = p.normalize(Verified::new(value(&signed)), NOW).unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert_eq!(e.reason, UnparsedReason::MissingField);
    }
    for (body, reason) in [
        (
            serde_json::json!({"type": "one-time", "event": "Payment", "data": "0xabc"}),
            UnparsedReason::InvalidField,
        ),
        (
            serde_json::json!({"type": 1, "event": "Payment"}),
            UnparsedReason::InvalidField,
        ),
        (
            serde_json::json!({"type": "one-time", "event": "Payment", "data": {"receivers": {}}}),
            UnparsedReason::InvalidField,
        ),
    ] {
        let signed = p.sign(body.to_string().as_bytes(), NOW).unwrap().body;
        let e = p.normalize(Verified::new(value(&signed)), NOW).unwrap_err();
        assert_eq!(e.reason, reason, "{body}: {e}");
    }
    // A nested member of the wrong type is named by its path.
    let body = serde_json::json!({"type": "fixed-recurring", "event": "Billing", "data": {"amount": true}});
    let signed = p.sign(body.to_string().as_bytes(), NOW).unwrap().body;
    let e = p.normalize(Verified::new(value(&signed)), NOW).unwrap_err();
    assert_eq!(e.reason, UnparsedReason::InvalidField, "{e}");
    assert_eq!(e.field.as_deref(), Some("data.amount"), "{e}");
}

/// Verified end to end, then unparsed: the pipeline keeps it (200) and
/// dedupes a redelivery by the notification id.
#[tokio::test]
async fn an_authentic_body_normalize_cannot_map_is_unparsed_not_refused() {
    let (p, api) = setup(Duration::from_secs(2)).await;
    let signed = p
        .sign(br#"{"type":"one-time","data":[]}"#, NOW)
        .unwrap()
        .body;
    assert!(api.insert("bsc", value(&signed)));
    let v = verify(&p, "bsc", &signed).await.unwrap();
    let e = p.normalize(v, NOW).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("event"));
    let id = notification_id(&value(&signed));
    assert_eq!(p.event_ref(&value(&signed)), Some(id));
    let kept = payhook::pipeline::unparsed_event(&p, &signed, e, NOW);
    assert_eq!(kept.event.status, Status::Unknown);
    assert_eq!(kept.event.flags, ["unparsed"]);
    assert_eq!(kept.event.raw, value(&signed), "raw is the body as sent");
}

#[test]
fn event_ref_is_a_well_formed_id_only() {
    let p = eightpay_new(keys(), "http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
    assert_eq!(
        p.event_ref(&value(SAMPLE.as_bytes())).as_deref(),
        Some("7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967")
    );
    for body in [
        serde_json::json!({}),
        serde_json::json!({"id": 7}),
        serde_json::json!({"id": "ABC"}),
        serde_json::json!({"id": "7E398C290B8C73BC1557740B64B4EDE616A2725C5527E49A76584D6DD0167967"}),
        serde_json::json!([]),
    ] {
        assert_eq!(p.event_ref(&body), None, "{body}");
    }
}

#[test]
fn the_network_is_the_chain_the_request_was_verified_on() {
    let p = eightpay_new(keys(), "http://127.0.0.1:9/", Duration::from_millis(100))
        .unwrap_or_else(|e| panic!("{e}"));
    let v = value(SAMPLE.as_bytes());
    let n = p
        .normalize(Verified::on_network(v.clone(), "polygon"), NOW)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        n.event.crypto.and_then(|c| c.network).as_deref(),
        Some("polygon")
    );
    // `raw` is the notification alone.
    assert_eq!(n.event.raw, v);
}

#[tokio::test]
async fn every_type_and_event_of_8pays_plugin_maps() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    let recurring = [
        ("Subscription", Status::Created),
        ("Billing", Status::Completed),
        ("BillingFailed", Status::Failed),
        ("BillingAttemptFailed", Status::Failed),
        ("SubscriptionCancelled", Status::Canceled),
        ("SubscriptionTerminated", Status::Canceled),
    ];
    for kind in [
        "fixed-recurring",
        "autobiller",
        "variable-recurring",
        "on-demand",
    ] {
        let extra = (kind == "variable-recurring")
            .then_some(("SubscriptionCancellationRequested", Status::Pending));
        for (event, status) in recurring.iter().copied().chain(extra) {
            let n = normalized(
                &p,
                serde_json::json!({
                    "type": kind, "event": event, "timestamp": 1585220116,
                    "transactionHash": "0xt", "transactionStatus": "confirmed",
                    "data": {"planId": "0xp", "subscriptionId": "0xs", "amount": "5.4",
                        "cycleStart": "1585218045", "cycleEnd": "1585219844"}
                }),
            );
            assert_eq!(
                (
                    n.event.status,
                    n.event.order_id.as_str(),
                    n.event.product.as_str()
                ),
                (status, "0xs", kind),
                "{kind} {event}"
            );
            assert_eq!(
                n.event.crypto.as_ref().and_then(|c| c.amount.as_deref()),
                Some("5.4")
            );
        }
    }
    for kind in ["one-time", "wallet-to-wallet", "scheduled-payment"] {
        let n = normalized(
            &p,
            serde_json::json!({"type": kind, "event": "AllowanceChanged", "data": {}}),
        );
        assert_eq!(n.event.status, Status::Unknown, "{kind}");
    }
}

/// Wallet-to-wallet: the receivers' transactions decide, even when the
/// body also has a top-level status.
#[tokio::test]
async fn wallet_to_wallet_is_completed_only_when_every_receiver_is_confirmed() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    let body = |top: Option<&str>, statuses: &[&str]| {
        let receivers: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({"user": "0xr", "amount": "1", "fee": "0",
                    "timestamp": 1658999245 + i, "transactionHash": format!("0xh{i}"),
                    "transactionStatus": s})
            })
            .collect();
        let mut v = serde_json::json!({"type": "wallet-to-wallet", "event": "Payment",
            "data": {"token": "8PAY", "receivers": receivers}});
        if let Some(t) = top {
            v["transactionStatus"] = Value::from(t);
        }
        v
    };
    for (top, statuses, status) in [
        (None, &["confirmed", "confirmed"][..], Status::Completed),
        (None, &["confirmed", "pending"][..], Status::Processing),
        (Some("confirmed"), &["pending"][..], Status::Processing),
        (None, &[][..], Status::Processing),
    ] {
        let n = normalized(&p, body(top, statuses));
        assert_eq!(n.event.status, status, "{top:?} {statuses:?}");
    }
    let n = normalized(&p, body(None, &["confirmed", "confirmed"]));
    assert_eq!(n.event.tx_hashes, ["0xh0", "0xh1"]);
    assert_eq!(
        n.event.order_id, "0xh0",
        "no data.id: the first transaction"
    );
    assert_eq!(
        n.event.occurred_at,
        Some(datetime!(2022-07-28 09:07:26 UTC))
    );
}

/// Each chain is confirmed by its own API; the single base serves the
/// chains not named.
#[tokio::test]
async fn each_chain_asks_its_own_api_base() {
    let (bsc_addr, bsc_api) = standin::spawn(keys()).await.unwrap();
    let (poly_addr, poly_api) = standin::spawn(keys()).await.unwrap();
    let p = eightpay_new(keys(), format!("http://{bsc_addr}"), Duration::from_secs(2))
        .unwrap()
        .with_api_bases(BTreeMap::from([(
            "polygon".to_owned(),
            format!("http://{poly_addr}/"),
        )]));
    assert_eq!(p.api_base("polygon"), format!("http://{poly_addr}"));
    assert_eq!(p.api_base("bsc"), format!("http://{bsc_addr}"));
    // Registered with the bsc API only: polygon's API does not know it.
    bsc_api.insert("polygon", value(SAMPLE.as_bytes()));
    let e = verify(&p, "polygon", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (401, "not_confirmed"));
    poly_api.insert("polygon", value(SAMPLE.as_bytes()));
    let n = p
        .normalize(verify(&p, "polygon", SAMPLE.as_bytes()).await.unwrap(), NOW)
        .unwrap();
    assert_eq!(
        n.event.crypto.and_then(|c| c.network).as_deref(),
        Some("polygon")
    );
    bsc_api.insert("bsc", value(SAMPLE.as_bytes()));
    verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn id_mismatch_is_refused_before_asking_8pay() {
    let (p, api) = setup(Duration::from_secs(2)).await;
    api.insert("bsc", value(SAMPLE.as_bytes()));
    let tampered = SAMPLE.replacen(r#""amount":"5""#, r#""amount":"500""#, 1);
    let e = verify(&p, "bsc", tampered.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (401, "bad_id"));
    // The stand-in would have confirmed nothing anyway; prove we did not
    // even ask: a hanging API would have made this a 503.
    api.set_mode(Mode::Hang);
    let e = verify(&p, "bsc", tampered.as_bytes()).await.unwrap_err();
    assert_eq!(e.kind, "bad_id");
    for bad_id in [
        SAMPLE.replacen("7e398c29", "7E398C29", 1),
        SAMPLE.replacen("7e398c29", "7e398c2", 1),
        SAMPLE.replacen(
            r#""id":"7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967","#,
            "",
            1,
        ),
    ] {
        let e = verify(&p, "bsc", bad_id.as_bytes()).await.unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "bad_id"));
    }
}

#[tokio::test]
async fn not_registered_or_different_copy_is_not_confirmed() {
    let (p, api) = setup(Duration::from_secs(2)).await;
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (401, "not_confirmed"));
    // Registered on another chain only.
    api.insert("polygon", value(SAMPLE.as_bytes()));
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!(e.kind, "not_confirmed");
    // 8Pay's copy differs (here: another amount) from what we received.
    let mut other = value(SAMPLE.as_bytes());
    other["data"]["receivers"][0]["amount"] = Value::from("500");
    api.insert_as(
        "bsc",
        "7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967",
        other,
    );
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (401, "not_confirmed"));
    // Same members in another order: the same JSON value.
    let mut reordered = serde_json::Map::new();
    let v = value(SAMPLE.as_bytes());
    for (k, x) in v.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), x.clone());
    }
    api.insert("bsc", Value::Object(reordered));
    verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn api_errors_and_timeouts_are_503() {
    let (p, api) = setup(Duration::from_millis(300)).await;
    api.insert("bsc", value(SAMPLE.as_bytes()));
    api.set_mode(Mode::Fail500);
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (503, "provider_api"));
    api.set_mode(Mode::Hang);
    let started = std::time::Instant::now();
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (503, "provider_api"));
    assert!(started.elapsed() < Duration::from_secs(2));
    api.set_mode(Mode::Normal);
    verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn unreachable_api_is_503() {
    // Bind then drop: nothing listens on that port any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = eightpay_new(keys(), format!("http://{addr}"), Duration::from_secs(1)).unwrap();
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (503, "provider_api"));
}

#[tokio::test]
async fn a_wrong_api_key_is_503_not_401() {
    let (addr, api) = standin::spawn(keys()).await.unwrap();
    api.insert("bsc", value(SAMPLE.as_bytes()));
    let wrong = BTreeMap::from([("bsc".to_owned(), Secret::new("revoked-key"))]);
    let p = eightpay_new(wrong, format!("http://{addr}"), Duration::from_secs(2)).unwrap();
    let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.kind), (503, "provider_api_auth"));
}

#[tokio::test]
async fn unknown_chain_and_chain_mismatch() {
    let (p, api) = setup(Duration::from_secs(2)).await;
    api.insert("bsc", value(SAMPLE.as_bytes()));
    for chain in ["tron", "BSC", ""] {
        let e = verify(&p, chain, SAMPLE.as_bytes()).await.unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.kind),
            (401, "unknown_chain"),
            "{chain}"
        );
    }
    let headers = http::HeaderMap::new();
    let params = HashMap::new();
    let e = p
        .verify(
            &Inbound {
                body: SAMPLE.as_bytes(),
                headers: &headers,
                params: &params,
            },
            NOW,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 401);

    let mut v = value(SAMPLE.as_bytes());
    v["chain"] = Value::from("polygon");
    let on_polygon = p.sign(v.to_string().as_bytes(), NOW).unwrap();
    assert_eq!(
        on_polygon.params,
        [("chain".to_owned(), "polygon".to_owned())]
    );
    // Even when 8Pay would confirm it (here: on both chains).
    api.insert("bsc", value(&on_polygon.body));
    api.set_mode(Mode::Hang);
    let e = verify(&p, "bsc", &on_polygon.body).await.unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.kind),
        (401, "chain_mismatch"),
        "before asking"
    );
    for chain in [Value::from(56), Value::Null, Value::from("BSC")] {
        let mut v = value(SAMPLE.as_bytes());
        v["chain"] = chain;
        let s = p.sign(v.to_string().as_bytes(), NOW).unwrap();
        let e = verify(&p, "bsc", &s.body).await.unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "chain_mismatch"), "{v}");
    }
    api.set_mode(Mode::Normal);
    api.insert("polygon", value(&on_polygon.body));
    let ok = verify(&p, "polygon", &on_polygon.body).await.unwrap();
    let n = p.normalize(ok, NOW).unwrap();
    assert_eq!(
        n.event.crypto.and_then(|c| c.network).as_deref(),
        Some("polygon")
    );
}

#[tokio::test]
async fn malformed_and_duplicate_keys_are_400() {
    let (p, _api) = setup(Duration::from_secs(2)).await;
    for body in [
        "".to_owned(),
        "{\"id\":".to_owned(),
        "[]".to_owned(),
        SAMPLE.replacen("{", "{\"event\":\"Billing\",", 1),
    ] {
        let e = verify(&p, "bsc", body.as_bytes()).await.unwrap_err();
        assert_eq!(e.status, 400, "{body}");
    }
}

#[test]
fn sign_puts_the_recomputed_id_first() {
    let p = eightpay_new(keys(), "http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
    let mut v = value(SAMPLE.as_bytes());
    let members = v.as_object_mut().unwrap();
    members.shift_remove("id");
    members.insert("id".to_owned(), Value::from("0".repeat(64)));
    let s = p.sign(v.to_string().as_bytes(), NOW).unwrap();
    assert_eq!(String::from_utf8(s.body).unwrap(), SAMPLE);
    assert_eq!(s.params, [("chain".to_owned(), "bsc".to_owned())]);
}

#[test]
fn config_needs_at_least_one_key() {
    let cfg = Config::from_lookup(|_| None).unwrap();
    let e = EightPay::from_config(&cfg).unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Missing {
                name: "PAYHOOK_EIGHTPAY_API_KEYS",
                ..
            }
        ),
        "{e}"
    );
    let cfg = Config::from_lookup(|k| {
        (k == "PAYHOOK_EIGHTPAY_API_KEYS").then(|| "bsc=k1,polygon=k2".to_owned())
    })
    .unwrap();
    let p = EightPay::from_config(&cfg).unwrap();
    assert_eq!(p.chains().collect::<Vec<_>>(), ["bsc", "polygon"]);
    assert_eq!(p.api_base("bsc"), "https://api.8pay.network");
    assert_eq!(p.api_base("private"), "https://api.8pay.tech");
    assert_eq!(p.route(), "/webhooks/8pay/{chain}");
    assert!(!format!("{p:?}").contains("k1"));
}

#[test]
fn config_api_bases_per_chain() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let cfg = Config::from_lookup(lookup(&[
        ("PAYHOOK_EIGHTPAY_API_KEYS", "bsc=k1,private=k2,sandbox=k3"),
        ("PAYHOOK_EIGHTPAY_API_BASE", "http://127.0.0.1:1"),
        ("PAYHOOK_EIGHTPAY_API_BASES", "sandbox=http://127.0.0.1:2/"),
    ]))
    .unwrap();
    let p = EightPay::from_config(&cfg).unwrap();
    assert_eq!(p.api_base("bsc"), "http://127.0.0.1:1");
    assert_eq!(
        p.api_base("private"),
        "http://127.0.0.1:1",
        "the single base wins"
    );
    assert_eq!(p.api_base("sandbox"), "http://127.0.0.1:2");
    // A base for a chain without a key: a misspelt chain.
    let cfg = Config::from_lookup(lookup(&[
        ("PAYHOOK_EIGHTPAY_API_KEYS", "bsc=k1"),
        ("PAYHOOK_EIGHTPAY_API_BASES", "bcs=https://x.example"),
    ]))
    .unwrap();
    let e = EightPay::from_config(&cfg).unwrap_err();
    assert!(
        matches!(
            &e,
            ConfigError::Invalid {
                name: "PAYHOOK_EIGHTPAY_API_BASES",
                why
            } if why.contains("bcs")
        ),
        "{e}"
    );
}

#[tokio::test]
async fn standin_requires_the_chain_key_and_accepts_put() {
    let (addr, api) = standin::spawn(keys()).await.unwrap();
    payhook::tls::ensure_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/bsc/webhook-notifications/abc");
    let put = |key: &'static str| {
        client
            .put(url.clone())
            .bearer_auth(key)
            .body(r#"{"id":"abc","x":1}"#)
            .send()
    };
    assert_eq!(put("test-8pay-key-polygon").await.unwrap().status(), 401);
    assert_eq!(put("test-8pay-key-bsc").await.unwrap().status(), 204);
    assert_eq!(api.len(), 1);
    let get = |key: &'static str| client.get(url.clone()).bearer_auth(key).send();
    assert_eq!(get("nope").await.unwrap().status(), 401);
    let r = get("test-8pay-key-bsc").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"id":"abc","x":1}"#);
    let missing = client
        .get(format!("http://{addr}/v1/bsc/webhook-notifications/zzz"))
        .bearer_auth("test-8pay-key-bsc")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(!api.insert("bsc", serde_json::json!({"no": "id"})));
}

/// Every case of `events/eightpay/cases.json`, run against this module
/// and the stand-in (the method check and the store are not exercised
/// here).
#[tokio::test]
async fn fixtures_behave_as_cases_json_says() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/eightpay");
    let cases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 15);
    let (p, api) = setup(Duration::from_secs(2)).await;
    for case in cases {
        api.clear();
        let file = case["file"].as_str().unwrap();
        let expect = case["expect"].as_u64().unwrap();
        let ev: Value = serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        if ev["requestContext"]["http"]["method"] != "POST" {
            assert_eq!(expect, 405, "{file}");
            continue;
        }
        let chain = ev["pathParameters"]["chain"].as_str().unwrap();
        assert_eq!(ev["rawPath"], format!("/webhooks/8pay/{chain}"));
        let body = ev["body"].as_str().unwrap().as_bytes().to_vec();
        let sent = match case["sign"].as_str().unwrap() {
            "none" => body,
            "fresh" => {
                let s = p.sign(&body, NOW).unwrap();
                assert_eq!(s.body, body, "{file}: the file should already be signed");
                assert!(api.insert(chain, value(&s.body)));
                s.body
            }
            "tamper" => {
                let s = p.sign(&body, NOW).unwrap();
                api.insert(chain, value(&s.body));
                let text = String::from_utf8(s.body).unwrap();
                let from = case["tamper"]["from"].as_str().unwrap();
                let to = case["tamper"]["to"].as_str().unwrap();
                assert!(text.contains(from), "{file}");
                text.replacen(from, to, 1).into_bytes()
            }
            other => panic!("{file}: sign mode {other} does not apply to 8Pay"),
        };
        let outcome = match verify(&p, chain, &sent).await {
            Ok(v) => p.normalize(v, NOW).map_err(NotMapped::from),
            Err(e) => Err(NotMapped::from(e)),
        };
        match outcome {
            Ok(n) => {
                assert_eq!(expect, 200, "{file}");
                assert_eq!(case["status"], n.event.status.as_str(), "{file}");
                assert_eq!(case["provider_event"], n.event.provider_event.as_str());
                assert_eq!(case["order_id"], n.event.order_id.as_str(), "{file}");
            }
            Err(NotMapped::Unparsed(u)) => {
                assert_eq!(expect, 200, "{file}: {u}");
                assert_eq!(case["status"], "unknown", "{file}");
                assert_eq!(case["flags"], serde_json::json!(["unparsed"]), "{file}");
                assert!(case.get("order_id").is_none(), "{file}: generated");
            }
            Err(e) => assert_eq!(u64::from(e.status()), expect, "{file}: {e}"),
        }
    }
}
