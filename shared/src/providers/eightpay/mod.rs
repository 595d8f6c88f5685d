//! 8Pay webhook notifications.
//!
//! 8Pay POSTs the notification object itself as the body, to
//! `/webhooks/8pay/{chain}` (the chain is ours: one URL per chain, configured
//! in 8Pay's dashboard). The body carries no signature. Two checks make it
//! trustworthy:
//!
//! 1. **Integrity**: `id` is the lowercase hex SHA-256 of the body without
//!    its `id` member, printed as JavaScript's `JSON.stringify` prints it
//!    (reproduced on 8Pay's own one-time sample, see the tests). Anyone can
//!    compute it, so it only proves the body was not altered in transit.
//! 2. **Authenticity**: we fetch `GET {api}/v1/{chain}/webhook-notifications/{id}`
//!    with that chain's API key and accept only when 8Pay returns the same
//!    JSON value. A 404 or a different body means 8Pay never sent it (401);
//!    an unreachable API means we cannot tell yet (503, 8Pay retries).
//!
//! [`standin`] is a local stand-in of that API for development and tests.

use super::de::{decimal_string, opt_nonempty};
use super::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, Verified, from_body, sha256,
};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

pub mod standin;

/// The most we read of an API answer. A notification is a few hundred bytes.
const MAX_API_BODY: usize = 1024 * 1024;

/// 8Pay webhook notifications (PROVIDERS.md §4).
#[derive(Debug, Clone)]
pub struct EightPay {
    /// API key per chain (`bsc`, `ethereum`, `polygon`, `sandbox`…). A chain
    /// without a key is not served.
    keys: BTreeMap<String, Secret>,
    /// `https://api.8pay.network`, no trailing slash.
    api_base: String,
    client: reqwest::Client,
}

impl EightPay {
    /// `keys`: API key per chain (at least one). `api_base`: the 8Pay API
    /// (tests point it at [`standin`]). `timeout`: for the whole confirmation
    /// request; keep it well under the few seconds 8Pay waits for us.
    pub fn new(
        keys: BTreeMap<String, Secret>,
        api_base: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::Missing {
                name: "PAYHOOK_EIGHTPAY_API_KEYS",
                hint: " (chain=key,chain=key)",
            });
        }
        let client = crate::outbound::with_builtin_roots(reqwest::Client::builder())
            .and_then(|b| b.timeout(timeout).build())
            .map_err(|e| ConfigError::Invalid {
                name: "PAYHOOK_EIGHTPAY_API_BASE",
                why: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(EightPay {
            keys,
            api_base: api_base.into().trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// From `PAYHOOK_EIGHTPAY_API_KEYS` (required),
    /// `PAYHOOK_EIGHTPAY_API_BASE` and `PAYHOOK_EIGHTPAY_TIMEOUT_MS`.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        EightPay::new(
            cfg.eightpay_api_keys.clone(),
            cfg.eightpay_api_base.clone(),
            cfg.eightpay_timeout,
        )
    }

    /// The chains this instance serves.
    pub fn chains(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Ask 8Pay whether it sent `body` as notification `id` on `chain`.
    async fn confirm(
        &self,
        chain: &str,
        key: &Secret,
        id: &str,
        body: &Value,
    ) -> Result<(), Rejection> {
        // `chain` is one of our configured chains and `id` was checked to be
        // 64 hex digits: both are safe to put in the path as they are.
        let url = format!("{}/v1/{chain}/webhook-notifications/{id}", self.api_base);
        let mut resp = self
            .client
            .get(url)
            .bearer_auth(key.expose())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(
                    chain,
                    timeout = e.is_timeout(),
                    error = %e.without_url(),
                    "8Pay API unreachable"
                );
                Rejection::unavailable("provider_api", "8Pay API unavailable")
            })?;
        let status = resp.status();
        match status.as_u16() {
            200 => {}
            404 => {
                return Err(Rejection::unauthorized(
                    "not_confirmed",
                    "notification not confirmed by 8Pay",
                ));
            }
            401 | 403 => {
                // Our key is wrong or revoked: an operator problem. 503 makes
                // 8Pay retry, so nothing is lost once the key is fixed.
                tracing::error!(
                    chain,
                    status = status.as_u16(),
                    "8Pay API refused our API key; check PAYHOOK_EIGHTPAY_API_KEYS for this chain"
                );
                return Err(Rejection::unavailable(
                    "provider_api_auth",
                    "8Pay API unavailable",
                ));
            }
            other => {
                tracing::warn!(chain, status = other, "8Pay API answered with an error");
                return Err(Rejection::unavailable(
                    "provider_api",
                    "8Pay API unavailable",
                ));
            }
        }
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_API_BODY {
                        tracing::warn!(chain, "8Pay API answer too large");
                        return Err(Rejection::unavailable(
                            "provider_api",
                            "8Pay API unavailable",
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(
                        chain,
                        timeout = e.is_timeout(),
                        error = %e.without_url(),
                        "8Pay API answer interrupted"
                    );
                    return Err(Rejection::unavailable(
                        "provider_api",
                        "8Pay API unavailable",
                    ));
                }
            }
        }
        // A 200 we cannot read is an API fault, not a verdict: 503.
        let fetched: Value = serde_json::from_slice(&bytes).map_err(|_| {
            tracing::warn!(chain, "8Pay API answered 200 with a body that is not JSON");
            Rejection::unavailable("provider_api", "8Pay API unavailable")
        })?;
        // `Value` equality ignores key order (as JSON objects do) but not
        // values: any altered member is a mismatch.
        if &fetched != body {
            return Err(Rejection::unauthorized(
                "not_confirmed",
                "notification not confirmed by 8Pay",
            ));
        }
        Ok(())
    }
}

/// Lowercase hex SHA-256 of the notification without `id`: what 8Pay puts
/// in `id`.
pub fn notification_id(body: &Value) -> String {
    hex::encode(sha256(
        canonical::stringify_without(body, &["id"]).as_bytes(),
    ))
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// 8Pay's events and what they mean for the order (PROVIDERS.md §4).
/// `confirmed` is the payment's transaction status (one-time: the body's
/// `transactionStatus`; wallet-to-wallet: every receiver's).
pub fn status_of(event: &str, confirmed: bool) -> Status {
    match event {
        "Payment" if confirmed => Status::Completed,
        "Payment" => Status::Processing,
        "Subscription" => Status::Created,
        "Billing" => Status::Completed,
        "BillingFailed" | "BillingAttemptFailed" => Status::Failed,
        "SubscriptionCancellationRequested" => Status::Pending,
        "SubscriptionCancelled" | "SubscriptionTerminated" => Status::Canceled,
        _ => Status::Unknown,
    }
}

/// The notification. Unknown members are tolerated (and stay in `raw`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    event: String,
    /// Unix seconds (a number in 8Pay's samples; a numeric string is read
    /// too).
    #[serde(default, deserialize_with = "decimal_string")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    transaction_hash: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    transaction_status: Option<String>,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    chain: Option<String>,
}

/// `data`: its members depend on the notification type.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    /// One-time: the payment id (hex); wallet-to-wallet: a UUID.
    #[serde(default, deserialize_with = "opt_nonempty")]
    id: Option<String>,
    /// Recurring types.
    #[serde(default, deserialize_with = "opt_nonempty")]
    subscription_id: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    sender: Option<String>,
    /// Recurring types: the subscriber.
    #[serde(default, deserialize_with = "opt_nonempty")]
    user: Option<String>,
    /// Wallet-to-wallet: the payer's email (PII: never logged).
    #[serde(default, deserialize_with = "opt_nonempty")]
    email: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    token: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    tag: Option<String>,
    /// Billing: the amount charged.
    #[serde(default, deserialize_with = "decimal_string")]
    amount: Option<String>,
    #[serde(default)]
    receivers: Vec<Receiver>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receiver {
    #[serde(default, deserialize_with = "decimal_string")]
    amount: Option<String>,
    /// Wallet-to-wallet only: each receiver has its own transaction.
    #[serde(default, deserialize_with = "decimal_string")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    transaction_hash: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    transaction_status: Option<String>,
}

fn unix(s: Option<&str>) -> Option<OffsetDateTime> {
    s.and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
}

#[async_trait]
impl Provider for EightPay {
    fn id(&self) -> ProviderId {
        ProviderId::Eightpay
    }

    fn route(&self) -> &'static str {
        "/webhooks/8pay/{chain}"
    }

    async fn verify(&self, req: &Inbound<'_>, _now: OffsetDateTime) -> Result<Authentic, Rejection> {
        // The chain comes first: for a chain we have no key for we cannot
        // ask 8Pay anything, so the request is refused before reading it.
        let Some((chain, key)) = req.param("chain").and_then(|c| self.keys.get_key_value(c)) else {
            return Err(Rejection::unauthorized("unknown_chain", "unknown chain"));
        };
        let body = canonical::parse_strict(req.body)?;
        let Value::Object(members) = &body else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        match members.get("chain") {
            None => {}
            Some(Value::String(c)) if c == chain => {}
            Some(Value::String(_)) => {
                return Err(Rejection::bad_request(
                    "chain_mismatch",
                    "field `chain` does not match the URL",
                ));
            }
            Some(_) => return Err(Rejection::field("chain")),
        }
        let id = match members.get("id") {
            Some(Value::String(id)) if is_lower_hex_64(id) => id,
            _ => return Err(Rejection::unauthorized("bad_id", "missing or malformed id")),
        };
        // A public hash: constant time buys nothing, but costs nothing either.
        let expected = notification_id(&body);
        if !bool::from(crate::secret::ct_eq(expected.as_bytes(), id.as_bytes())) {
            return Err(Rejection::unauthorized(
                "bad_id",
                "id does not match the body",
            ));
        }
        self.confirm(chain, key, id, &body).await?;
        Ok(Verified { body }.into())
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let n: Notification = from_body(&verified.body)?;
        let data = n.data.unwrap_or_default();

        // One-time: the top-level `transactionStatus`. Wallet-to-wallet puts
        // one transaction on each receiver; the payment is confirmed when
        // all of them are.
        let confirmed = match n.transaction_status.as_deref() {
            Some(s) => s == "confirmed",
            None => {
                !data.receivers.is_empty()
                    && data
                        .receivers
                        .iter()
                        .all(|r| r.transaction_status.as_deref() == Some("confirmed"))
            }
        };
        let status = status_of(&n.event, confirmed);

        // The order is what several notifications are about:
        // * recurring types: the subscription (`data.subscriptionId`), so
        //   Subscription, Billing… move one order along;
        // * one-time / wallet-to-wallet: the payment (`data.id`), else the
        //   payment's transaction (`transactionHash`);
        // * else the notification id itself: then the order is this one
        //   notification, which is still unique and stable across retries.
        let order_id = data
            .subscription_id
            .clone()
            .or_else(|| data.id.clone())
            .or_else(|| n.transaction_hash.clone())
            .unwrap_or_else(|| n.id.clone());

        let mut event = PaymentEvent::new(
            ProviderId::Eightpay,
            n.kind.clone(),
            n.event.clone(),
            status,
            order_id,
            received_at,
            verified.body,
        );
        event.merchant_reference = data.tag.clone();
        event.occurred_at = unix(n.timestamp.as_deref()).or_else(|| {
            data.receivers
                .iter()
                .filter_map(|r| unix(r.timestamp.as_deref()))
                .max()
        });
        let mut tx_hashes: Vec<String> = Vec::new();
        for h in n.transaction_hash.iter().chain(
            data.receivers
                .iter()
                .filter_map(|r| r.transaction_hash.as_ref()),
        ) {
            if !tx_hashes.contains(h) {
                tx_hashes.push(h.clone());
            }
        }
        event.tx_hashes = tx_hashes;
        // Amount: the first receiver's (8Pay sends one receiver in practice;
        // summing decimal strings is left to consumers), else the billed
        // amount. The body names the chain only when 8Pay adds `chain`; the
        // URL's chain is not visible to `normalize` (it only sees the body).
        let amount = data
            .receivers
            .first()
            .and_then(|r| r.amount.clone())
            .or_else(|| data.amount.clone());
        if amount.is_some() || data.token.is_some() || n.chain.is_some() {
            event.crypto = Some(Crypto {
                amount,
                currency: data.token.clone(),
                network: n.chain.clone(),
            });
        }
        event.wallet = data.sender.clone().or_else(|| data.user.clone());
        if let Some(email) = data.email.clone() {
            event.customer = Some(Customer { email: Some(email) });
        }
        if status == Status::Failed {
            event.failure = Some(Failure {
                code: None,
                reason: Some(n.event.clone()),
            });
        }
        // The content without `id` (whose position in the body may vary
        // between deliveries): same id, same content, so never a 409. That
        // hash IS `id` once verified (`verify` compared them), so it is
        // read back rather than computed twice.
        let mut fingerprint = [0u8; 32];
        if hex::decode_to_slice(&n.id, &mut fingerprint).is_err() {
            fingerprint = sha256(canonical::stringify_without(&event.raw, &["id"]).as_bytes());
        }
        Ok(Normalized {
            // `id` is a content hash: a redelivery has the same one.
            dedupe_key: n.id.clone(),
            fingerprint,
            event,
        })
    }

    /// Sets `id` (as the first member) to the hash of the rest. The stand-in
    /// API must be told about the result separately ([`standin::StandIn::insert`]).
    /// `at` is not used: 8Pay's `timestamp` is the payment's, not the
    /// delivery's, and nothing checks it against the clock.
    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        let parsed = canonical::parse_strict(body)?;
        let Value::Object(rest) = canonical::without_key(&parsed, "id") else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        let rest = Value::Object(rest);
        let mut out = serde_json::Map::new();
        out.insert("id".to_owned(), Value::String(notification_id(&rest)));
        if let Value::Object(m) = &rest {
            out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let chain = match rest.get("chain") {
            Some(Value::String(c)) => c.clone(),
            _ => self.keys.keys().next().cloned().unwrap_or_default(),
        };
        Ok(Signed {
            body: canonical::stringify(&Value::Object(out)).into_bytes(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            params: vec![("chain".to_owned(), chain)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::standin::{self, Mode, StandIn};
    use super::*;
    use crate::providers::NotMapped;

    /// The parsed body of an authentic request (these tests send JSON).
    fn parsed(a: Authentic) -> Verified {
        a.parsed().unwrap_or_else(|u| panic!("authentic but unreadable: {u}"))
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
        let p = EightPay::new(keys(), format!("http://{addr}/"), timeout).unwrap();
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
        assert_eq!(c.network, None);
        assert_eq!(
            e.wallet.as_deref(),
            Some("0xe42fD8a58A82fDF624A8a94dA03a0e44F9934Dff")
        );
        assert_eq!(
            n.dedupe_key,
            "7e398c290b8c73bc1557740b64b4ede616a2725c5527e49a76584d6dd0167967"
        );
        let without_id =
            canonical::stringify(&canonical::without_key(&value(SAMPLE.as_bytes()), "id"));
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
        p.normalize(
            Verified {
                body: value(&signed),
            },
            NOW,
        )
        .unwrap()
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

    #[tokio::test]
    async fn missing_required_fields_are_a_400_naming_them() {
        let (p, _api) = setup(Duration::from_secs(2)).await;
        for (body, field) in [
            (serde_json::json!({"type": "one-time"}), "event"),
            (serde_json::json!({"event": "Payment"}), "type"),
        ] {
            let signed = p.sign(body.to_string().as_bytes(), NOW).unwrap().body;
            let e = p
                .normalize(
                    Verified {
                        body: value(&signed),
                    },
                    NOW,
                )
                .unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
        }
    }

    #[tokio::test]
    async fn id_mismatch_is_refused_before_asking_8pay() {
        let (p, api) = setup(Duration::from_secs(2)).await;
        api.insert("bsc", value(SAMPLE.as_bytes()));
        let tampered = SAMPLE.replacen(r#""amount":"5""#, r#""amount":"500""#, 1);
        let e = verify(&p, "bsc", tampered.as_bytes()).await.unwrap_err();
        assert_eq!((e.status, e.kind), (401, "bad_id"));
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
            assert_eq!((e.status, e.kind), (401, "bad_id"));
        }
    }

    #[tokio::test]
    async fn not_registered_or_different_copy_is_not_confirmed() {
        let (p, api) = setup(Duration::from_secs(2)).await;
        let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
        assert_eq!((e.status, e.kind), (401, "not_confirmed"));
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
        assert_eq!((e.status, e.kind), (401, "not_confirmed"));
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
        assert_eq!((e.status, e.kind), (503, "provider_api"));
        api.set_mode(Mode::Hang);
        let started = std::time::Instant::now();
        let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
        assert_eq!((e.status, e.kind), (503, "provider_api"));
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
        let p = EightPay::new(keys(), format!("http://{addr}"), Duration::from_secs(1)).unwrap();
        let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
        assert_eq!((e.status, e.kind), (503, "provider_api"));
    }

    #[tokio::test]
    async fn a_wrong_api_key_is_503_not_401() {
        let (addr, api) = standin::spawn(keys()).await.unwrap();
        api.insert("bsc", value(SAMPLE.as_bytes()));
        let wrong = BTreeMap::from([("bsc".to_owned(), Secret::new("revoked-key"))]);
        let p = EightPay::new(wrong, format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        let e = verify(&p, "bsc", SAMPLE.as_bytes()).await.unwrap_err();
        assert_eq!((e.status, e.kind), (503, "provider_api_auth"));
    }

    #[tokio::test]
    async fn unknown_chain_and_chain_mismatch() {
        let (p, api) = setup(Duration::from_secs(2)).await;
        api.insert("bsc", value(SAMPLE.as_bytes()));
        for chain in ["tron", "BSC", ""] {
            let e = verify(&p, chain, SAMPLE.as_bytes()).await.unwrap_err();
            assert_eq!((e.status, e.kind), (401, "unknown_chain"), "{chain}");
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
        let e = verify(&p, "bsc", &on_polygon.body).await.unwrap_err();
        assert_eq!((e.status, e.kind), (400, "chain_mismatch"));
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
        let p = EightPay::new(keys(), "http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
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
        assert_eq!(p.api_base, "https://api.8pay.network");
        assert_eq!(p.route(), "/webhooks/8pay/{chain}");
        assert!(!format!("{p:?}").contains("k1"));
    }

    #[tokio::test]
    async fn standin_requires_the_chain_key_and_accepts_put() {
        let (addr, api) = standin::spawn(keys()).await.unwrap();
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
            let ev: Value =
                serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
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
                Err(e) => assert_eq!(u64::from(e.status()), expect, "{file}: {e}"),
            }
        }
    }
}
