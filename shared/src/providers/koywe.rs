//! Koywe (on- and off-ramp) order webhooks.
//!
//! Koywe POSTs a flat JSON object `{"eventName", "orderId", "timeStamp",
//! "signature"}`. The signature is the lowercase hex HMAC-SHA256, under the
//! merchant's secret, of `JSON.stringify(payload)` where `payload` is the body
//! without its `signature` member. So verification is:
//!
//! 1. parse the body strictly (duplicate keys refused: a body with two
//!    `signature` or two `eventName` members could be read two ways),
//! 2. drop `signature`, keeping every other member in the order sent,
//! 3. print the rest exactly as JavaScript's `JSON.stringify` would
//!    ([`canonical::stringify`]; agreement with Node.js is proven by
//!    `tests/koywe_stringify.rs`),
//! 4. compare the HMAC in constant time against every configured secret
//!    (rotation),
//! 5. only then look at `timeStamp` and refuse stale or future ones.
//!
//! The signature is checked before the time stamp so that an unauthenticated
//! caller learns nothing about our window.

use super::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, Verified, from_body, sha256,
};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Failure, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::{SecretList, sign_hmac_sha256_hex};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How far in the future a `timeStamp` may be (clock skew between Koywe and
/// us). Anything further ahead is refused: a legitimate sender cannot be
/// that far ahead, and accepting it would stretch the replay window.
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(300);

/// The body member that carries the signature.
const SIGNATURE: &str = "signature";
/// The body member that carries the (signed) time of the event.
const TIME_STAMP: &str = "timeStamp";

/// Koywe's order webhooks (PROVIDERS.md §3).
#[derive(Debug, Clone)]
pub struct Koywe {
    secrets: SecretList,
    max_age: Duration,
}

impl Koywe {
    /// `secrets`: first = newest (used by [`Provider::sign`]), all accepted.
    /// `max_age`: how old a `timeStamp` may be. Keep it generous (default
    /// 24 h): Koywe's retries may carry the original time stamp.
    pub fn new(secrets: SecretList, max_age: Duration) -> Self {
        Koywe { secrets, max_age }
    }

    /// From `PAYHOOK_KOYWE_SECRETS` (required) and
    /// `PAYHOOK_KOYWE_MAX_AGE_SECS`.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let secrets = Config::require(&cfg.koywe_secrets, "PAYHOOK_KOYWE_SECRETS")?;
        Ok(Koywe::new(secrets.clone(), cfg.koywe_max_age))
    }

    /// The window on `timeStamp`, applied after the signature was verified.
    fn check_time(&self, body: &Value, now: OffsetDateTime) -> Result<(), Rejection> {
        let ts = match body.get(TIME_STAMP) {
            Some(Value::String(s)) => {
                OffsetDateTime::parse(s, &Rfc3339).map_err(|_| Rejection::field(TIME_STAMP))?
            }
            _ => return Err(Rejection::field(TIME_STAMP)),
        };
        let max_age = time::Duration::try_from(self.max_age).unwrap_or(time::Duration::MAX);
        let skew = time::Duration::try_from(MAX_FUTURE_SKEW).unwrap_or(time::Duration::MAX);
        if now - ts > max_age {
            return Err(Rejection::unauthorized(
                "stale_timestamp",
                "timeStamp is too old",
            ));
        }
        if ts - now > skew {
            return Err(Rejection::unauthorized(
                "future_timestamp",
                "timeStamp is in the future",
            ));
        }
        Ok(())
    }
}

/// Koywe's event names and what they mean for the order (PROVIDERS.md §3).
/// Names not listed are authentic events we do not know yet: accepted and
/// published as [`Status::Unknown`], never an error.
pub fn status_of(event_name: &str) -> Status {
    match event_name {
        "payment_created" => Status::Created,
        "payment_received"
        | "payment_received_modified_order_amount"
        | "crypto_tx_sent"
        | "fiat_sent" => Status::Processing,
        "crypto_delivered" | "fiat_delivered" => Status::Completed,
        "payment_rejected" | "payment_rejected_by_compliance" | "crypto_tx_failed" => {
            Status::Failed
        }
        "wire_order_canceled" => Status::Canceled,
        "payment_expired" => Status::Expired,
        _ => Status::Unknown,
    }
}

/// The documented body. Unknown members are tolerated (and stay in `raw`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KoyweEvent {
    event_name: String,
    order_id: String,
    #[serde(with = "time::serde::rfc3339")]
    time_stamp: OffsetDateTime,
}

/// `2022-10-26T22:36:41.658Z`: the form Koywe's `new Date().toISOString()`
/// produces (UTC, milliseconds, `Z`).
const ISO_MILLIS: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

#[async_trait]
impl Provider for Koywe {
    fn id(&self) -> ProviderId {
        ProviderId::Koywe
    }

    fn route(&self) -> &'static str {
        "/webhooks/koywe"
    }

    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection> {
        let body = canonical::parse_strict(req.body)?;
        let Value::Object(members) = &body else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        let Some(Value::String(sig)) = members.get(SIGNATURE) else {
            return Err(Rejection::unauthorized(
                "missing_signature",
                "missing signature",
            ));
        };
        let signed = canonical::stringify_without(&body, &[SIGNATURE]);
        if !self
            .secrets
            .verify_hmac_sha256_hex(&[signed.as_bytes()], sig)
        {
            return Err(Rejection::unauthorized("bad_signature", "bad signature"));
        }
        self.check_time(&body, now)?;
        Ok(Verified { body }.into())
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let ev: KoyweEvent = from_body(&verified.body)?;
        if ev.event_name.is_empty() {
            return Err(Unparsed::field("eventName"));
        }
        if ev.order_id.is_empty() {
            return Err(Unparsed::field("orderId"));
        }
        let status = status_of(&ev.event_name);
        // A retry of the same event may carry a new time stamp and therefore
        // a new signature; everything else must be identical.
        let stable = canonical::stringify_without(&verified.body, &[SIGNATURE, TIME_STAMP]);
        // Koywe runs both on-ramps and off-ramps, and this body does not say
        // which one an order is (`crypto_*` events are on-ramp only, `fiat_*`
        // off-ramp, the `payment_*` ones either). We label every Koywe event
        // `onramp`, the product payhook integrates; consumers that need the
        // direction can read `provider_event`.
        let mut event = PaymentEvent::new(
            ProviderId::Koywe,
            "onramp",
            ev.event_name.clone(),
            status,
            ev.order_id.clone(),
            received_at,
            verified.body,
        );
        event.occurred_at = Some(ev.time_stamp);
        if status == Status::Failed {
            // Koywe gives no reason beyond the event name.
            event.failure = Some(Failure {
                code: None,
                reason: Some(ev.event_name.clone()),
            });
        }
        Ok(Normalized {
            dedupe_key: format!("{}\n{}", ev.order_id, ev.event_name),
            fingerprint: sha256(stable.as_bytes()),
            event,
        })
    }

    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection> {
        let parsed = canonical::parse_strict(body)?;
        let Value::Object(mut members) = canonical::without_key(&parsed, SIGNATURE) else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        let stamp = at
            .to_offset(time::UtcOffset::UTC)
            .format(ISO_MILLIS)
            .map_err(|_| Rejection::bad_request("bad_time", "time cannot be formatted"))?;
        // Replaces the value in place when present (key order kept), else
        // appends.
        members.insert(TIME_STAMP.to_owned(), Value::String(stamp));
        let sig = sign_hmac_sha256_hex(
            self.secrets.newest(),
            &[canonical::stringify(&Value::Object(members.clone())).as_bytes()],
        );
        members.insert(SIGNATURE.to_owned(), Value::String(sig));
        Ok(Signed {
            body: canonical::stringify(&Value::Object(members)).into_bytes(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            params: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::NotMapped;

    /// The parsed body of an authentic request (these tests send JSON).
    fn parsed(a: Authentic) -> Verified {
        a.parsed().unwrap_or_else(|u| panic!("authentic but unreadable: {u}"))
    }
    use base64::Engine as _;
    use std::collections::HashMap;
    use time::macros::datetime;

    const SECRET: &str = "test-koywe-secret";
    const DAY: Duration = Duration::from_secs(86_400);
    /// The documented sample's time stamp.
    const T0: OffsetDateTime = datetime!(2022-10-26 22:36:41.658 UTC);
    /// The documented sample, signed by Node.js with `SECRET`:
    /// `crypto.createHmac('sha256', SECRET).update(JSON.stringify(payload)).digest('hex')`.
    const SAMPLE: &str = r#"{"eventName":"crypto_delivered","orderId":"5a3288ea-0bd4-44d2-af11-aae1f88bbd61","timeStamp":"2022-10-26T22:36:41.658Z","signature":"d79b351f8851fd568fbfe0794abd6322b8f12be43ed4b15fd07a197debcccef2"}"#;

    fn koywe(secrets: &str) -> Koywe {
        Koywe::new(SecretList::parse(secrets).unwrap(), DAY)
    }

    async fn verify(p: &Koywe, body: &[u8], now: OffsetDateTime) -> Result<Verified, Rejection> {
        let headers = http::HeaderMap::new();
        let params = HashMap::new();
        p.verify(
            &Inbound {
                body,
                headers: &headers,
                params: &params,
            },
            now,
        )
        .await
        .map(parsed)
    }

    fn signed(p: &Koywe, event: &str, order: &str, at: OffsetDateTime) -> Vec<u8> {
        let body = serde_json::json!({"eventName": event, "orderId": order, "timeStamp": "x"});
        p.sign(body.to_string().as_bytes(), at).unwrap().body
    }

    #[tokio::test]
    async fn documented_sample_verifies_and_signing_reproduces_it() {
        let p = koywe(SECRET);
        let v = verify(&p, SAMPLE.as_bytes(), T0).await.unwrap();
        let n = p.normalize(v, T0).unwrap();
        assert_eq!(n.event.status, Status::Completed);
        assert_eq!(n.event.order_id, "5a3288ea-0bd4-44d2-af11-aae1f88bbd61");
        assert_eq!(n.event.provider_event, "crypto_delivered");
        assert_eq!(n.event.product, "onramp");
        assert_eq!(n.event.occurred_at, Some(T0));
        assert_eq!(
            n.dedupe_key,
            "5a3288ea-0bd4-44d2-af11-aae1f88bbd61\ncrypto_delivered"
        );
        assert_eq!(
            n.event.raw,
            canonical::parse_strict(SAMPLE.as_bytes()).unwrap()
        );

        let unsigned = r#"{"eventName":"crypto_delivered","orderId":"5a3288ea-0bd4-44d2-af11-aae1f88bbd61","timeStamp":"2000-01-01T00:00:00.000Z"}"#;
        let s = p.sign(unsigned.as_bytes(), T0).unwrap();
        assert_eq!(String::from_utf8(s.body).unwrap(), SAMPLE);
        assert_eq!(
            s.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        // Re-signing a signed body replaces the signature.
        let again = p.sign(SAMPLE.as_bytes(), T0).unwrap();
        assert_eq!(String::from_utf8(again.body).unwrap(), SAMPLE);
    }

    #[test]
    fn sign_formats_the_time_as_javascript_does() {
        let p = koywe(SECRET);
        let at = datetime!(2024-02-29 03:04:05.007891 +02:00);
        let body = p
            .sign(br#"{"eventName":"e","orderId":"o"}"#, at)
            .unwrap()
            .body;
        let v = canonical::parse_strict(&body).unwrap();
        assert_eq!(v["timeStamp"], "2024-02-29T01:04:05.007Z");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["eventName", "orderId", "timeStamp", "signature"]);
    }

    #[tokio::test]
    async fn every_event_name_maps_as_documented() {
        let table = [
            ("payment_created", Status::Created),
            ("payment_received", Status::Processing),
            ("payment_received_modified_order_amount", Status::Processing),
            ("crypto_tx_sent", Status::Processing),
            ("fiat_sent", Status::Processing),
            ("crypto_delivered", Status::Completed),
            ("fiat_delivered", Status::Completed),
            ("payment_rejected", Status::Failed),
            ("payment_rejected_by_compliance", Status::Failed),
            ("crypto_tx_failed", Status::Failed),
            ("wire_order_canceled", Status::Canceled),
            ("payment_expired", Status::Expired),
            ("something_new", Status::Unknown),
            ("", Status::Unknown),
        ];
        let p = koywe(SECRET);
        for (name, status) in table {
            assert_eq!(status_of(name), status, "{name}");
            if name.is_empty() {
                continue;
            }
            let body = signed(&p, name, "order-1", T0);
            let v = verify(&p, &body, T0).await.unwrap();
            let n = p.normalize(v, T0).unwrap();
            assert_eq!(n.event.status, status, "{name}");
            assert_eq!(n.event.provider_event, name);
            assert_eq!(n.event.order_id, "order-1");
            assert_eq!(n.dedupe_key, format!("order-1\n{name}"));
            assert_eq!(
                n.event.failure.is_some(),
                status == Status::Failed,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn tampered_body_is_refused() {
        let p = koywe(SECRET);
        let body = String::from_utf8(signed(&p, "payment_received", "order-1", T0)).unwrap();
        for (from, to) in [
            ("payment_received", "crypto_delivered"),
            ("order-1", "order-2"),
            ("41.658Z", "41.659Z"),
        ] {
            let bad = body.replacen(from, to, 1);
            let e = verify(&p, bad.as_bytes(), T0).await.unwrap_err();
            assert_eq!((e.status, e.kind), (401, "bad_signature"), "{from}");
        }
        // Adding a member changes the signed payload too.
        let extra = body.replacen('{', r#"{"amount":1,"#, 1);
        assert_eq!(
            verify(&p, extra.as_bytes(), T0).await.unwrap_err().status,
            401
        );
        // Upper-case hex is not the signature Koywe sends.
        let v = canonical::parse_strict(body.as_bytes()).unwrap();
        let sig = v["signature"].as_str().unwrap();
        let upper = body.replacen(sig, &sig.to_uppercase(), 1);
        assert_eq!(
            verify(&p, upper.as_bytes(), T0).await.unwrap_err().status,
            401
        );
    }

    #[tokio::test]
    async fn wrong_secret_is_refused_and_rotation_accepts_both() {
        let old = koywe("old-secret");
        let new = koywe("new-secret");
        let body = signed(&old, "crypto_delivered", "o", T0);
        let e = verify(&new, &body, T0).await.unwrap_err();
        assert_eq!((e.status, e.kind), (401, "bad_signature"));

        let rotating = koywe("new-secret,old-secret");
        verify(&rotating, &body, T0).await.unwrap();
        verify(&rotating, &signed(&new, "crypto_delivered", "o", T0), T0)
            .await
            .unwrap();
        // Signing uses the newest secret.
        verify(&new, &signed(&rotating, "crypto_delivered", "o", T0), T0)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn time_window() {
        let p = koywe(SECRET);
        let s = |d: i64| time::Duration::seconds(d);
        let day = 86_400;
        let at = |t: OffsetDateTime| signed(&p, "crypto_delivered", "o", t);
        verify(&p, &at(T0 - s(day - 1)), T0).await.unwrap();
        verify(&p, &at(T0 - s(day)), T0).await.unwrap();
        let e = verify(&p, &at(T0 - s(day + 1)), T0).await.unwrap_err();
        assert_eq!((e.status, e.kind), (401, "stale_timestamp"));
        verify(&p, &at(T0 + s(300)), T0).await.unwrap();
        let e = verify(&p, &at(T0 + s(301)), T0).await.unwrap_err();
        assert_eq!((e.status, e.kind), (401, "future_timestamp"));

        // The signature is checked first: a forged stale body says "bad
        // signature", not "stale".
        let forged = signed(&koywe("other"), "crypto_delivered", "o", T0 - s(2 * day));
        let e = verify(&p, &forged, T0).await.unwrap_err();
        assert_eq!(e.kind, "bad_signature");

        // The window is configurable.
        let short = Koywe::new(SecretList::parse(SECRET).unwrap(), Duration::from_secs(60));
        let e = verify(&short, &at(T0 - s(61)), T0).await.unwrap_err();
        assert_eq!(e.kind, "stale_timestamp");
    }

    fn sign_raw(payload: &str) -> String {
        let sig = sign_hmac_sha256_hex(&crate::secret::Secret::new(SECRET), &[payload.as_bytes()]);
        format!(
            "{},\"signature\":\"{sig}\"}}",
            &payload[..payload.len() - 1]
        )
    }

    #[tokio::test]
    async fn missing_or_bad_time_stamp_is_a_400_naming_it() {
        let p = koywe(SECRET);
        for payload in [
            r#"{"eventName":"crypto_delivered","orderId":"o"}"#,
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"yesterday"}"#,
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":1666823801658}"#,
        ] {
            let e = verify(&p, sign_raw(payload).as_bytes(), T0)
                .await
                .unwrap_err();
            assert_eq!(e.status, 400, "{payload}");
            assert!(e.reason.contains("timeStamp"), "{}", e.reason);
        }
    }

    #[tokio::test]
    async fn missing_signature_is_a_401() {
        let p = koywe(SECRET);
        for body in [
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"2022-10-26T22:36:41.658Z"}"#,
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"2022-10-26T22:36:41.658Z","signature":null}"#,
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"2022-10-26T22:36:41.658Z","signature":12}"#,
            r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"2022-10-26T22:36:41.658Z","signature":""}"#,
        ] {
            let e = verify(&p, body.as_bytes(), T0).await.unwrap_err();
            assert_eq!(e.status, 401, "{body}");
        }
    }

    #[tokio::test]
    async fn duplicate_keys_malformed_json_and_non_objects_are_400() {
        let p = koywe(SECRET);
        let good: Value = canonical::parse_strict(SAMPLE.as_bytes()).unwrap();
        let sig = good["signature"].as_str().unwrap();
        let dup = SAMPLE.replacen("}", &format!(",\"signature\":\"{}\"}}", "0".repeat(64)), 1);
        let e = verify(&p, dup.as_bytes(), T0).await.unwrap_err();
        assert_eq!((e.status, e.kind), (400, "duplicate_key"));
        // Even when both copies carry the valid signature.
        let dup = SAMPLE.replacen("}", &format!(",\"signature\":\"{sig}\"}}"), 1);
        assert_eq!(
            verify(&p, dup.as_bytes(), T0).await.unwrap_err().status,
            400
        );
        let dup = SAMPLE.replacen("{", r#"{"eventName":"payment_rejected","#, 1);
        assert_eq!(
            verify(&p, dup.as_bytes(), T0).await.unwrap_err().status,
            400
        );
        for body in ["", "{", "[]", "\"x\"", "null", "{\"a\":1} {}"] {
            let e = verify(&p, body.as_bytes(), T0).await.unwrap_err();
            assert_eq!(e.status, 400, "{body:?}");
        }
    }

    #[tokio::test]
    async fn missing_order_id_is_a_400_naming_it() {
        let p = koywe(SECRET);
        for body in [
            r#"{"eventName":"crypto_delivered","timeStamp":"x"}"#,
            r#"{"eventName":"crypto_delivered","orderId":"","timeStamp":"x"}"#,
            r#"{"eventName":"crypto_delivered","orderId":5,"timeStamp":"x"}"#,
        ] {
            let signed = p.sign(body.as_bytes(), T0).unwrap().body;
            let v = verify(&p, &signed, T0).await.unwrap();
            let e = p.normalize(v, T0).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("orderId"), "{body}");
        }
        let signed = p
            .sign(br#"{"orderId":"o","timeStamp":"x"}"#, T0)
            .unwrap()
            .body;
        let v = verify(&p, &signed, T0).await.unwrap();
        let e = p.normalize(v, T0).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("eventName"), "{e}");
    }

    #[tokio::test]
    async fn unknown_members_are_tolerated_and_kept() {
        let p = koywe(SECRET);
        let body = p
            .sign(
                br#"{"eventName":"fiat_delivered","orderId":"o","timeStamp":"x","amount":100.0,"note":"caf\u00e9 \ud83d\ude00"}"#,
                T0,
            )
            .unwrap()
            .body;
        let v = verify(&p, &body, T0).await.unwrap();
        let n = p.normalize(v, T0).unwrap();
        assert_eq!(n.event.status, Status::Completed);
        assert_eq!(n.event.raw["note"], "café 😀");
    }

    #[tokio::test]
    async fn a_retry_with_a_new_time_stamp_has_the_same_fingerprint() {
        let p = koywe(SECRET);
        let a = verify(&p, &signed(&p, "crypto_delivered", "o", T0), T0)
            .await
            .unwrap();
        let later = T0 + time::Duration::minutes(5);
        let b = verify(&p, &signed(&p, "crypto_delivered", "o", later), later)
            .await
            .unwrap();
        let (na, nb) = (p.normalize(a, T0).unwrap(), p.normalize(b, later).unwrap());
        assert_eq!(na.fingerprint, nb.fingerprint);
        assert_eq!(na.dedupe_key, nb.dedupe_key);
        let c = verify(&p, &signed(&p, "crypto_delivered", "o2", T0), T0)
            .await
            .unwrap();
        assert_ne!(p.normalize(c, T0).unwrap().fingerprint, na.fingerprint);
    }

    #[test]
    fn from_config_requires_the_secrets() {
        let cfg = Config::from_lookup(|_| None).unwrap();
        let e = Koywe::from_config(&cfg).unwrap_err();
        assert!(e.to_string().contains("PAYHOOK_KOYWE_SECRETS"), "{e}");
        let cfg = Config::from_lookup(|k| match k {
            "PAYHOOK_KOYWE_SECRETS" => Some("a,b".into()),
            "PAYHOOK_KOYWE_MAX_AGE_SECS" => Some("60".into()),
            _ => None,
        })
        .unwrap();
        let p = Koywe::from_config(&cfg).unwrap();
        assert_eq!(p.max_age, Duration::from_secs(60));
        assert_eq!(p.route(), "/webhooks/koywe");
        assert_eq!(p.id(), ProviderId::Koywe);
    }

    /// Every case of `events/koywe/cases.json`, run against this module with
    /// the clock at the fixtures' time (a small stand-in for the shared
    /// harness: the method check and the store are not exercised here).
    #[tokio::test]
    async fn fixtures_behave_as_cases_json_says() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/koywe");
        let cases: Vec<Value> =
            serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
        assert!(cases.len() >= 20);
        let p = koywe(SECRET);
        let other = koywe("a-different-secret");
        let window = time::Duration::try_from(DAY).unwrap();
        for case in cases {
            let file = case["file"].as_str().unwrap();
            let expect = case["expect"].as_u64().unwrap();
            let ev: Value =
                serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
            assert_eq!(ev["version"], "2.0", "{file}");
            if ev["requestContext"]["http"]["method"] != "POST" {
                assert_eq!(expect, 405, "{file}");
                continue;
            }
            let text = ev["body"].as_str().unwrap_or_default();
            let body = if ev["isBase64Encoded"] == true {
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(b) => b,
                    Err(_) => {
                        assert_eq!(expect, 400, "{file}");
                        continue;
                    }
                }
            } else {
                text.as_bytes().to_vec()
            };
            let sign_at = |at: OffsetDateTime| p.sign(&body, at).unwrap().body;
            let sent = match case["sign"].as_str().unwrap() {
                "none" => body.clone(),
                "fresh" => {
                    let s = sign_at(T0);
                    assert_eq!(s, body, "{file}: the file should already be signed");
                    s
                }
                "wrong_secret" => other.sign(&body, T0).unwrap().body,
                "stale" => sign_at(T0 - window - time::Duration::SECOND),
                "inside" => sign_at(T0 - window + time::Duration::SECOND),
                "future" => sign_at(T0 + time::Duration::seconds(301)),
                "tamper" => {
                    let s = String::from_utf8(sign_at(T0)).unwrap();
                    let from = case["tamper"]["from"].as_str().unwrap();
                    let to = case["tamper"]["to"].as_str().unwrap();
                    assert!(s.contains(from), "{file}");
                    s.replacen(from, to, 1).into_bytes()
                }
                other => panic!("{file}: unknown sign mode {other}"),
            };
            let outcome = match verify(&p, &sent, T0).await {
                Ok(v) => p.normalize(v, T0).map_err(NotMapped::from),
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
