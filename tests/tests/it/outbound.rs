//! The outbound 1buy client (`payhook_cli::outbound::onebuy`) against a local
//! stand-in of 1buy's API on 127.0.0.1: the request it sends (path, `api-key`
//! header, body), every tolerated answer shape, and every failure as a typed
//! error that never shows the API key.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use payhook::secret::Secret;
use payhook_cli::outbound::onebuy::{DEFAULT_PAY_BASE, GENERATE_PATH, TRANSACTIONS_PATH};
use payhook_cli::outbound::{OnebuyClient, OutboundError, TransactionLookup, WalletPayLink};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk_test_0nebuy-Key";

/// What the stand-in answers.
#[derive(Clone)]
enum Answer {
    Json(u16, Value),
    Raw(u16, &'static str, String),
    /// Never answers (within the test).
    Hang,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    api_key: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct StandIn {
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    fn answer(&self, a: Answer) {
        *self.answer.lock().unwrap_or_else(|p| p.into_inner()) = a;
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn handle(State(s): State<StandIn>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    s.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
        path: uri.path().to_owned(),
        api_key: text(header::HeaderName::from_static("api-key")),
        content_type: text(header::CONTENT_TYPE),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    // Like the real API: no key, no answer.
    if text(header::HeaderName::from_static("api-key")).as_deref() != Some(KEY) {
        return (StatusCode::UNAUTHORIZED, "invalid api key").into_response();
    }
    let answer = s.answer.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match answer {
        Answer::Json(status, v) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        Answer::Raw(status, ct, body) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, ct)],
            body,
        )
            .into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, "\"late\"").into_response()
        }
    }
}

async fn standin() -> (SocketAddr, StandIn) {
    let s = StandIn {
        answer: Arc::new(Mutex::new(Answer::Json(200, json!("h")))),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route(GENERATE_PATH, post(handle))
        .route(TRANSACTIONS_PATH, post(handle))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, s)
}

fn client(addr: SocketAddr, key: &str, timeout: Duration) -> OnebuyClient {
    OnebuyClient::new(&format!("http://{addr}/"), Secret::new(key), timeout)
        .unwrap_or_else(|e| panic!("client: {e}"))
}

fn link() -> WalletPayLink {
    WalletPayLink::new("21.50")
        .custom_id("order #42 & co")
        .email("buyer+test@example.com")
}

/// The error's Display and Debug never show the key.
fn no_key(e: &OutboundError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

#[tokio::test]
async fn wallet_pay_hash_request_and_every_answer_shape() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    let shapes = [
        json!("0xabc123"),
        json!({"hash": "0xabc123", "success": true}),
        json!({"success": true, "data": {"hash": "0xabc123", "expires": 1}}),
    ];
    for shape in shapes {
        s.answer(Answer::Json(200, shape.clone()));
        let got = c
            .generate_wallet_pay_hash(&link())
            .await
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(got.hash, "0xabc123", "{shape}");
        assert_eq!(
            got.payment_url,
            "https://wallet-pay.1buy.io/fee_payer?hash=0xabc123"
        );
    }
    let seen = s.seen();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.path, GENERATE_PATH);
        assert_eq!(r.api_key.as_deref(), Some(KEY));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        // Exactly the documented body, each value percent-encoded.
        assert_eq!(
            r.body,
            json!({"urlData": "?api_key=sk_test_0nebuy-Key&custom_id=order%20%2342%20%26%20co&email=buyer%2Btest%40example.com&amount=21.50"})
        );
    }
    // Optional values left out.
    s.answer(Answer::Json(200, json!("h")));
    c.generate_wallet_pay_hash(&WalletPayLink::new("5"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.seen().last().map(|r| r.body.clone()),
        Some(json!({"urlData": "?api_key=sk_test_0nebuy-Key&amount=5"}))
    );
}

#[tokio::test]
async fn payment_url_encodes_the_hash_and_honours_the_pay_base() {
    let (addr, s) = standin().await;
    s.answer(Answer::Json(200, json!({"data": {"hash": "a+b/c=d&e"}})));
    let c = client(addr, KEY, Duration::from_secs(5));
    assert_eq!(c.pay_base(), DEFAULT_PAY_BASE);
    let got = c
        .generate_wallet_pay_hash(&link())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.hash, "a+b/c=d&e");
    assert_eq!(
        got.payment_url,
        "https://wallet-pay.1buy.io/fee_payer?hash=a%2Bb%2Fc%3Dd%26e"
    );
    let c = c
        .with_pay_base("http://127.0.0.1:9/pay/")
        .unwrap_or_else(|e| panic!("{e}"));
    let got = c
        .generate_wallet_pay_hash(&link())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got.payment_url,
        "http://127.0.0.1:9/pay?hash=a%2Bb%2Fc%3Dd%26e"
    );
}

#[tokio::test]
async fn answers_without_a_hash_are_typed_errors() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    for shape in [
        json!({"success": true, "data": {"id": 7}}),
        json!({"success": true}),
        json!(""),
        json!(null),
        json!([{"hash": "h"}]),
    ] {
        s.answer(Answer::Json(200, shape.clone()));
        let e = c
            .generate_wallet_pay_hash(&link())
            .await
            .err()
            .unwrap_or_else(|| panic!("{shape}: accepted"));
        assert!(
            matches!(e, OutboundError::UnexpectedAnswer { .. }),
            "{shape}: {e:?}"
        );
        no_key(&e);
    }
    // The error names the keys it saw, to help adapt to a new shape.
    s.answer(Answer::Json(
        200,
        json!({"ok": true, "data": {"link": "x"}}),
    ));
    let e = c.generate_wallet_pay_hash(&link()).await.err();
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("\"ok\"") && text.contains("\"link\""),
        "{text}"
    );
}

#[tokio::test]
async fn non_json_answers_are_typed_errors() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    s.answer(Answer::Raw(
        200,
        "text/html",
        "<html>maintenance</html>".into(),
    ));
    let e = c.generate_wallet_pay_hash(&link()).await.err();
    match &e {
        Some(OutboundError::NotJson { content_type, .. }) => {
            assert_eq!(content_type, "text/html")
        }
        other => panic!("{other:?}"),
    }
    let e = c
        .transaction(&TransactionLookup::OrderId("o1".into()))
        .await
        .err();
    assert!(matches!(e, Some(OutboundError::NotJson { .. })), "{e:?}");
}

/// Whether an error is the expected one.
type Check = fn(&OutboundError) -> bool;

#[tokio::test]
async fn http_errors_are_typed_and_never_show_the_key() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    let cases: Vec<(Answer, Check, bool)> = vec![
        (
            Answer::Json(
                400,
                json!({"message": format!("bad urlData for key {KEY}")}),
            ),
            |e| matches!(e, OutboundError::Rejected { status: 400, message: Some(m), .. } if m.contains("<redacted>")),
            false,
        ),
        (
            Answer::Json(403, json!({"message": "forbidden"})),
            |e| matches!(e, OutboundError::Unauthorized { status: 403, .. }),
            false,
        ),
        (
            Answer::Raw(404, "text/plain", "no such order".into()),
            |e| matches!(e, OutboundError::NotFound { .. }),
            false,
        ),
        (
            Answer::Json(429, json!({})),
            |e| matches!(e, OutboundError::RateLimited { .. }),
            true,
        ),
        (
            Answer::Raw(500, "text/plain", format!("stack trace with {KEY}")),
            |e| matches!(e, OutboundError::Server { status: 500, .. }),
            true,
        ),
        (
            Answer::Json(503, json!({"error": "down"})),
            |e| matches!(e, OutboundError::Server { status: 503, message: Some(m), .. } if m == "down"),
            true,
        ),
    ];
    for (answer, want, retryable) in cases {
        s.answer(answer);
        for e in [
            c.generate_wallet_pay_hash(&link()).await.err(),
            c.transaction(&TransactionLookup::Hash("0x1".into()))
                .await
                .err(),
        ] {
            let Some(e) = e else { panic!("accepted") };
            assert!(want(&e), "{e:?}");
            assert_eq!(e.is_retryable(), retryable, "{e:?}");
            no_key(&e);
        }
    }
    // A wrong key: the stand-in answers 401.
    let wrong = client(addr, "sk_wrong", Duration::from_secs(5));
    let e = wrong.generate_wallet_pay_hash(&link()).await.err();
    assert!(
        matches!(e, Some(OutboundError::Unauthorized { status: 401, .. })),
        "{e:?}"
    );
    assert!(!format!("{wrong:?}").contains("sk_wrong"));
}

#[tokio::test]
async fn a_hanging_api_is_a_timeout() {
    let (addr, s) = standin().await;
    s.answer(Answer::Hang);
    let c = client(addr, KEY, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = c.generate_wallet_pay_hash(&link()).await.err();
    assert!(
        matches!(e, Some(OutboundError::Timeout { timeout, .. }) if timeout == Duration::from_millis(300)),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.is_some_and(|e| e.is_retryable()));
    let e = c
        .transaction(&TransactionLookup::CustomId("c".into()))
        .await
        .err();
    assert!(matches!(e, Some(OutboundError::Timeout { .. })), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_api_is_typed() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let c = client(
        SocketAddr::from(([127, 0, 0, 1], port)),
        KEY,
        Duration::from_secs(2),
    );
    let e = c.generate_wallet_pay_hash(&link()).await.err();
    assert!(
        matches!(e, Some(OutboundError::Unreachable { .. })),
        "{e:?}"
    );
    if let Some(e) = e {
        no_key(&e);
    }
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    for amount in ["", "0", "-3", "1,5", "abc"] {
        let e = c
            .generate_wallet_pay_hash(&WalletPayLink::new(amount))
            .await
            .err();
        assert!(
            matches!(e, Some(OutboundError::InvalidRequest(_))),
            "{amount}: {e:?}"
        );
    }
    let e = c
        .generate_wallet_pay_hash(&WalletPayLink::new("1").email("nope"))
        .await
        .err();
    assert!(matches!(e, Some(OutboundError::InvalidRequest(_))), "{e:?}");
    let e = c
        .transaction(&TransactionLookup::OrderId(" ".into()))
        .await
        .err();
    assert!(matches!(e, Some(OutboundError::InvalidRequest(_))), "{e:?}");
    assert!(s.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn transaction_lookup_by_each_key_and_answer_shape() {
    let (addr, s) = standin().await;
    let c = client(addr, KEY, Duration::from_secs(5));
    // A transaction as the Wallet Pay webhook describes it (the seed).
    let tx = json!({
        "token_symbol": "ETH", "wallet": "0x1a300Ea76131e683f89446FcDab674F109E606FF",
        "email": "user@example.com", "stage": "public",
        "hash": "0xfeed", "amount": 21, "event": "final_transaction_completed",
        "releaseEscrow": true, "customId": "order-42", "is_token_webhook": false,
        "api_key": "ENCRYPTED::abc", "order_id": "wp-1",
        "data": {"cryptoAmount": "0.00731274", "cryptoCurrency": "ETH", "customOrderId": "",
            "destinationWallet": "0x1a30", "failReason": "", "fiatAmount": "21",
            "fiatCurrency": "USD", "networkId": "1", "paymentMethod": "BANKCARD",
            "status": "succeeded", "tapOnFeeAmount": "0", "tapOnFeeCurrency": "USD",
            "transactionHashes": ["0xaaa"], "transactionId": "8f0c"}
    });
    let lookups = [
        (
            TransactionLookup::OrderId("wp-1".into()),
            json!({"order_id": "wp-1"}),
        ),
        (
            TransactionLookup::CustomId("order-42".into()),
            json!({"custom_id": "order-42"}),
        ),
        (
            TransactionLookup::Hash("0xfeed".into()),
            json!({"hash": "0xfeed"}),
        ),
    ];
    let shapes = [
        tx.clone(),
        json!({"success": true, "data": tx.clone()}),
        json!({"success": true, "data": [tx.clone()]}),
        json!([tx.clone()]),
    ];
    for shape in &shapes {
        s.answer(Answer::Json(200, shape.clone()));
        for (lookup, body) in &lookups {
            let got = c
                .transaction(lookup)
                .await
                .unwrap_or_else(|e| panic!("{shape}: {e}"));
            let seen = s.seen();
            let last = seen.last().unwrap_or_else(|| panic!("no request"));
            assert_eq!(last.path, TRANSACTIONS_PATH);
            assert_eq!(last.api_key.as_deref(), Some(KEY));
            assert_eq!(&last.body, body);
            assert_eq!(&got.raw, shape, "raw kept as received");
            assert_eq!(got.transactions.len(), 1);
            let t = &got.transactions[0];
            assert_eq!(t.order_id.as_deref(), Some("wp-1"));
            assert_eq!(t.custom_id.as_deref(), Some("order-42"));
            assert_eq!(t.amount.as_deref(), Some("21"));
            assert_eq!(t.release_escrow, Some(true));
            assert_eq!(t.lifecycle(), Some("final_transaction_completed"));
            let d = t.data.clone().unwrap_or_default();
            assert_eq!(d.status.as_deref(), Some("succeeded"));
            assert_eq!(d.crypto_amount.as_deref(), Some("0.00731274"));
            assert_eq!(d.custom_order_id, None, "empty is none");
            assert_eq!(d.transaction_hashes, vec!["0xaaa".to_owned()]);
            // Unknown members are kept.
            assert_eq!(t.other.get("is_token_webhook"), Some(&json!(false)));
            assert_eq!(d.other.get("tapOnFeeCurrency"), Some(&json!("USD")));
            // Debug shows no PII.
            let dbg = format!("{t:?}");
            assert!(
                !dbg.contains("user@example.com") && !dbg.contains("ENCRYPTED"),
                "{dbg}"
            );
        }
    }
    // Nothing found.
    for empty in [json!({"success": true, "data": []}), json!({"data": null})] {
        s.answer(Answer::Json(200, empty.clone()));
        let got = c
            .transaction(&TransactionLookup::OrderId("none".into()))
            .await
            .unwrap_or_else(|e| panic!("{empty}: {e}"));
        assert!(got.transactions.is_empty(), "{empty}");
    }
    // Not a transaction.
    s.answer(Answer::Json(200, json!({"message": "ok"})));
    let e = c
        .transaction(&TransactionLookup::OrderId("x".into()))
        .await
        .err();
    assert!(
        matches!(e, Some(OutboundError::UnexpectedAnswer { .. })),
        "{e:?}"
    );
}
