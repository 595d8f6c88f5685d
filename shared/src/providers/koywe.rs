//! Koywe (on- and off-ramp) webhooks, in both of Koywe's formats, on one
//! route (`/webhooks/koywe`). The `Koywe-Signature` header decides which
//! proof a request must carry.
//!
//! # Legacy format (the seed's "Webhooks & Callbacks" page)
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
//! caller learns nothing about our window. A body-signed request whose JSON
//! cannot be parsed cannot be authenticated at all: 400.
//!
//! # Current API (docs.koywe.com: advanced/webhooks, webhooks-overview)
//!
//! Header `Koywe-Signature` = lowercase hex HMAC-SHA256(secret, raw body
//! bytes); no prefix, no time stamp, no id header. When the header is
//! present (exactly once) only it is checked, on the bytes as received;
//! after that the body is authentic whatever it holds (non-JSON bytes are
//! kept by the pipeline as an `unparsed` event). Events carry `id` (stable
//! across retries: the dedupe key), `type` (`order.completed`, …) and the
//! resource; where the resource sits is **not documented**, see
//! [`ORDER_PATHS`].
//!
//! # Which format a body is in
//!
//! [`Provider::verify`] knows from the header, but [`Provider::normalize`]
//! and [`Provider::sign`] only see the body, so they share one rule,
//! [`is_current_format`]: a body is in the current format unless it is a
//! JSON object with an `eventName` member and without a `type` string in
//! one of the current API's families (`order.`, `contact.`, `merchant.`,
//! `invitation.`). Non-JSON bytes are current (only the header can sign
//! them).

use super::is_decimal;
use super::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, UnparsedReason, Verified,
    from_body, req_str, sha256,
};
use super::{Descriptor, Proof};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::{SecretList, sign_hmac_sha256_hex};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How far in the future a `timeStamp` may be (clock skew between Koywe and
/// us). Anything further ahead is refused: a legitimate sender cannot be
/// that far ahead, and accepting it would stretch the replay window.
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(300);

/// The header of Koywe's current API (HTTP header names are
/// case-insensitive; Koywe spells it `Koywe-Signature`).
pub const SIGNATURE_HEADER: &str = "koywe-signature";

/// The body member that carries the legacy signature.
const SIGNATURE: &str = "signature";
/// The body member that carries the (signed) legacy time of the event.
const TIME_STAMP: &str = "timeStamp";
/// The legacy event name member.
const EVENT_NAME: &str = "eventName";

/// `type` prefixes of the current API's event families (docs.koywe.com:
/// orders, contacts, merchants, invitations).
const CURRENT_FAMILIES: &[&str] = &["order.", "contact.", "merchant.", "invitation."];

/// Where the order sits in a current-API event, tried in this order
/// (*inferred*: Koywe documents the event record `{id, organizationId, type,
/// version, occurredAt, payload, createdAt, merchantId, requestId}` but not
/// the POSTed envelope):
///
/// * `data`: what receivers in the wild read (`data.id`, `data.orderId`,
///   `data.externalId`, `data.amountIn`);
/// * `payload`: the member name of Koywe's stored event record;
/// * `order`: an envelope naming its resource;
/// * `data.order`, `payload.order`: the same, wrapped once more.
///
/// The first of these that is an object holding an id ([`ORDER_ID_KEYS`])
/// is the order, and every order field (reference, amounts, currencies,
/// type) is read from that object only. Changing the guess is one edit
/// here.
pub const ORDER_PATHS: &[&str] = &[
    "/data",
    "/payload",
    "/order",
    "/data/order",
    "/payload/order",
];

/// The order id inside an order object: `orderId` (a wrapper naming it),
/// else `id` (the Payments API's order object). Never the envelope's own
/// `id`, which is the event's.
const ORDER_ID_KEYS: &[&str] = &["orderId", "id"];

impl ProviderId {
    pub const KOYWE: ProviderId = ProviderId::new("koywe");
}

const SECRETS_SETTING: &str = "PAYHOOK_KOYWE_SECRETS";
const MAX_AGE_SETTING: &str = "PAYHOOK_KOYWE_MAX_AGE_SECS";

/// Koywe's order webhooks: `PAYHOOK_KOYWE_SECRETS` (newest first) turns
/// them on; `PAYHOOK_KOYWE_MAX_AGE_SECS` (default 86400) bounds a legacy
/// body's `timeStamp`.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::KOYWE,
    route: "/webhooks/koywe",
    settings: &[SECRETS_SETTING, MAX_AGE_SETTING],
    build: |cfg| Ok(Arc::new(Koywe::from_config(cfg)?)),
    dev_settings: |secret| vec![(SECRETS_SETTING, secret("dev-koywe"))],
    test_settings: &[(SECRETS_SETTING, "test-koywe-secret,test-koywe-secret-old")],
    wrong_settings: &[(SECRETS_SETTING, "not-the-secret")],
    proof: Proof::InBody,
};

/// Koywe's order webhooks (PROVIDERS.md §3).
#[derive(Debug, Clone)]
pub struct Koywe {
    secrets: SecretList,
    max_age: Duration,
}

impl Koywe {
    /// `secrets`: first = newest (used by [`Provider::sign`]), all accepted.
    /// `max_age`: how old a legacy `timeStamp` may be. Keep it generous
    /// (default 24 h): Koywe's retries may carry the original time stamp.
    pub fn new(secrets: SecretList, max_age: Duration) -> Self {
        Koywe { secrets, max_age }
    }

    /// From `PAYHOOK_KOYWE_SECRETS` (required) and
    /// `PAYHOOK_KOYWE_MAX_AGE_SECS`.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let max_age = Duration::from_secs(cfg.number(MAX_AGE_SETTING, 86_400)?);
        let secrets = cfg.require_secrets(SECRETS_SETTING)?;
        Ok(Koywe::new(secrets, max_age))
    }

    /// The window on `timeStamp`, applied after the signature was verified.
    /// The replay window on `timeStamp`. `Ok(Some(_))`: the signed body has
    /// no readable `timeStamp`, so no window can be applied — it is
    /// authentic all the same and kept as unparsed (a replay of it is a
    /// duplicate: it dedupes by its bytes).
    fn check_time(&self, body: &Value, now: OffsetDateTime) -> Result<Option<Unparsed>, Rejection> {
        let ts = match body.get(TIME_STAMP) {
            Some(Value::String(s)) => match OffsetDateTime::parse(s, &Rfc3339) {
                Ok(t) => t,
                Err(_) => return Ok(Some(Unparsed::invalid(TIME_STAMP))),
            },
            _ => return Ok(Some(Unparsed::field(TIME_STAMP))),
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
        Ok(None)
    }

    /// The current API's proof: `Koywe-Signature` over the raw bytes.
    fn verify_header(&self, req: &Inbound<'_>) -> Result<Authentic, Rejection> {
        // A repeated (or comma-joined) header is refused, never guessed at.
        let sig = req.single_header(SIGNATURE_HEADER).ok_or_else(|| {
            Rejection::unauthorized("ambiguous_header", "Koywe-Signature must appear once")
        })?;
        if !self.secrets.verify_hmac_sha256_hex(&[req.body], sig) {
            return Err(Rejection::unauthorized("bad_signature", "bad signature"));
        }
        // No time window: the current format signs no time stamp and sends
        // none in a header, so there is nothing authentic to check a clock
        // against (a time inside the body is not a replay defence Koywe
        // offers). A replayed delivery carries the same event `id`, and the
        // dedupe on it answers `duplicate` without publishing again.
        Ok(Authentic::from_signed_bytes(req.body))
    }

    /// The legacy proof: `signature` inside the body, then `timeStamp`.
    fn verify_body(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection> {
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
        match self.check_time(&body, now)? {
            None => Ok(Verified::new(body).into()),
            Some(why) => Ok(Authentic::Unreadable(why)),
        }
    }

    /// Sign as the current API does: the body unchanged, the HMAC of its
    /// bytes in `Koywe-Signature`.
    pub fn sign_current(&self, body: &[u8]) -> Signed {
        let sig = sign_hmac_sha256_hex(self.secrets.newest(), &[body]);
        Signed {
            body: body.to_vec(),
            headers: vec![
                ("Koywe-Signature".to_owned(), sig),
                ("content-type".to_owned(), "application/json".to_owned()),
            ],
            params: Vec::new(),
        }
    }

    /// Sign as the legacy format does: `timeStamp` set to `at` (kept in
    /// place when present, else appended), `signature` replaced.
    pub fn sign_legacy(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection> {
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

/// True when `body` is in the current API's format: anything but a JSON
/// object with an `eventName` member, unless its `type` is a string in one
/// of the current families (`order.…`, `contact.…`, `merchant.…`,
/// `invitation.…`), which wins. Used by `normalize`, `event_ref` and
/// `sign`; `verify` goes by the header.
pub fn is_current_format(body: &Value) -> bool {
    let Value::Object(m) = body else {
        return true;
    };
    let family = m
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| CURRENT_FAMILIES.iter().any(|f| t.starts_with(f)));
    family || !m.contains_key(EVENT_NAME)
}

/// Koywe's legacy event names and what they mean for the order
/// (PROVIDERS.md §3). Names not listed are authentic events we do not know
/// yet: accepted and published as [`Status::Unknown`], never an error.
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

/// The current API's event types (PROVIDERS.md §3, proposed mapping; both
/// spellings of cancel, and the older page's `order.pending`). Anything
/// else (`contact.*`, `merchant.*`, a new `order.*`) is [`Status::Unknown`]:
/// accepted, never refused.
pub fn current_status_of(event_type: &str) -> Status {
    match event_type {
        "order.created" => Status::Created,
        "order.approved" | "order.pending" => Status::Pending,
        "order.processing" | "order.paid" => Status::Processing,
        "order.completed" => Status::Completed,
        "order.failed" => Status::Failed,
        "order.expired" => Status::Expired,
        "order.canceled" | "order.cancelled" => Status::Canceled,
        "order.refunded" => Status::Refunded,
        _ => Status::Unknown,
    }
}

/// The legacy body. Unknown members are tolerated (and stay in `raw`).
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

/// An id member: a non-empty string, or a JSON number as its text.
fn id_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string member.
fn text_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An amount as its exact decimal text: a string kept as sent (trimmed), a
/// JSON number as its text (`21` → `"21"`). Anything that is not a decimal
/// the event schema allows (`"1,5"`, `"abc"`) is left out; `raw` keeps it.
fn amount_of(v: &Value, key: &str) -> Option<String> {
    let text = match v.get(key)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    is_decimal(&text).then_some(text)
}

/// An RFC 3339 time member; anything else is `None` (not an error: the
/// time is informative, `raw` keeps what was sent).
fn time_of(v: &Value, key: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.get(key)?.as_str()?, &Rfc3339).ok()
}

/// The order object of a current-API event and its id ([`ORDER_PATHS`]).
fn find_order(body: &Value) -> Option<(&Value, String)> {
    ORDER_PATHS.iter().find_map(|path| {
        let order = body.pointer(path).filter(|o| o.is_object())?;
        let id = ORDER_ID_KEYS.iter().find_map(|k| id_of(order, k))?;
        Some((order, id))
    })
}

/// The event's product from the order's `type` (*inferred*: Koywe's
/// Payments API names `PAYIN` and `PAYOUT`; a pay-in takes the buyer's
/// money in, which payhook labels `onramp` as it does every legacy event,
/// a pay-out sends it out: `offramp`). Absent or other types: `onramp`.
fn product_of(order_type: Option<&str>) -> &'static str {
    match order_type.map(str::to_ascii_uppercase).as_deref() {
        Some("PAYOUT" | "OFFRAMP" | "OFF_RAMP") => "offramp",
        _ => "onramp",
    }
}

impl Koywe {
    fn normalize_legacy(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        // Named checks first: serde's type errors do not name the member.
        req_str(&verified.body, EVENT_NAME, EVENT_NAME)?;
        req_str(&verified.body, "orderId", "orderId")?;
        let ev: KoyweEvent = from_body(&verified.body)?;
        let status = status_of(&ev.event_name);
        // A retry of the same event may carry a new time stamp and therefore
        // a new signature; everything else must be identical.
        let stable = canonical::stringify_without(&verified.body, &[SIGNATURE, TIME_STAMP]);
        // Koywe runs both on-ramps and off-ramps, and this body does not say
        // which one an order is (`crypto_*` events are on-ramp only, `fiat_*`
        // off-ramp, the `payment_*` ones either). We label every legacy
        // event `onramp`, the product payhook integrates; consumers that
        // need the direction can read `provider_event`.
        let mut event = PaymentEvent::new(
            ProviderId::KOYWE,
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

    fn normalize_current(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let body = &verified.body;
        if !body.is_object() {
            return Err(Unparsed::new(UnparsedReason::BadShape));
        }
        let event_type = text_of(body, "type").ok_or_else(|| {
            // A body-signed (legacy) delivery that lost its `eventName` lands
            // here too: name the member it is missing, not ours.
            Unparsed::field(if body.get(SIGNATURE).is_some() {
                EVENT_NAME
            } else {
                "type"
            })
        })?;
        // Koywe tells receivers to dedupe on the event's `id`, stable across
        // retries. Without it a retry cannot be told from a new event: the
        // body is kept unparsed (deduped by its bytes).
        let event_id = id_of(body, "id").ok_or_else(|| Unparsed::field("id"))?;
        let (order, resource_id) = find_order(body).ok_or_else(|| Unparsed::field("data.id"))?;
        // A contact, merchant or invitation event names no order: it sits
        // on an "order" of its own resource (`contact:<id>`), so it can
        // never be mistaken for, or move, a payment order.
        let order_id = match event_type.split_once('.') {
            Some(("order", _)) => resource_id,
            Some((family, _)) => format!("{family}:{resource_id}"),
            None => resource_id,
        };
        let status = current_status_of(&event_type);
        let product = product_of(order.get("type").and_then(Value::as_str));
        let amount_in = amount_of(order, "amountIn");
        let currency_in = text_of(order, "originCurrencySymbol");
        let amount_out = amount_of(order, "amountOut");
        let currency_out = text_of(order, "destinationCurrencySymbol");
        // On-ramp: fiat in, crypto out; off-ramp the other way round
        // (*inferred* from the direction; a fiat-to-fiat order's `crypto`
        // then names a fiat currency, as sent).
        let ((fiat_amount, fiat_currency), (crypto_amount, crypto_currency)) =
            if product == "offramp" {
                ((amount_out, currency_out), (amount_in, currency_in))
            } else {
                ((amount_in, currency_in), (amount_out, currency_out))
            };
        let merchant_reference = text_of(order, "externalId");
        let occurred_at = time_of(body, "occurredAt").or_else(|| time_of(body, "createdAt"));
        let fingerprint = sha256(canonical::stringify(body).as_bytes());

        let mut event = PaymentEvent::new(
            ProviderId::KOYWE,
            product,
            event_type.clone(),
            status,
            order_id,
            received_at,
            verified.body,
        );
        event.merchant_reference = merchant_reference;
        event.occurred_at = occurred_at;
        if fiat_amount.is_some() || fiat_currency.is_some() {
            event.fiat = Some(Fiat {
                amount: fiat_amount,
                currency: fiat_currency,
            });
        }
        if crypto_amount.is_some() || crypto_currency.is_some() {
            event.crypto = Some(Crypto {
                amount: crypto_amount,
                currency: crypto_currency,
                network: None,
            });
        }
        if status == Status::Failed {
            event.failure = Some(Failure {
                code: None,
                reason: Some(event_type),
            });
        }
        Ok(Normalized {
            // One namespace apart from the legacy `{order}\n{eventName}`.
            dedupe_key: format!("event\n{event_id}"),
            fingerprint,
            event,
        })
    }
}

#[async_trait]
impl Provider for Koywe {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn time_window(&self) -> Option<Duration> {
        Some(self.max_age)
    }

    /// The header decides: `Koywe-Signature` present → the current API's
    /// proof only (a legacy `signature` member is then just data); absent →
    /// the legacy body signature and time window.
    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection> {
        if req.headers.contains_key(SIGNATURE_HEADER) {
            self.verify_header(req)
        } else {
            self.verify_body(req, now)
        }
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        if is_current_format(&verified.body) {
            self.normalize_current(verified, received_at)
        } else {
            self.normalize_legacy(verified, received_at)
        }
    }

    /// The current API's event `id`; `None` for legacy bodies (they have no
    /// event id: an unparsed one is deduped by its bytes).
    fn event_ref(&self, body: &Value) -> Option<String> {
        if is_current_format(body) {
            id_of(body, "id")
        } else {
            None
        }
    }

    /// A body in the current format ([`is_current_format`]; non-JSON bytes
    /// included) is returned unchanged with a `Koywe-Signature` header; a
    /// legacy body gets `timeStamp` = `at` and a new `signature`.
    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection> {
        // Lenient reading for the choice only: a legacy body with a
        // repeated key still goes to the legacy signer, which refuses it.
        let current = serde_json::from_slice::<Value>(body)
            .map(|v| is_current_format(&v))
            .unwrap_or(true);
        if current {
            Ok(self.sign_current(body))
        } else {
            self.sign_legacy(body, at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::NotMapped;

    /// The parsed body of an authentic request (these tests send JSON).
    fn parsed(a: Authentic) -> Verified {
        a.parsed()
            .unwrap_or_else(|u| panic!("authentic but unreadable: {u}"))
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
            assert_eq!(
                (e.status.as_u16(), e.kind),
                (401, "bad_signature"),
                "{from}"
            );
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
        assert_eq!((e.status.as_u16(), e.kind), (401, "bad_signature"));

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
        assert_eq!((e.status.as_u16(), e.kind), (401, "stale_timestamp"));
        verify(&p, &at(T0 + s(300)), T0).await.unwrap();
        let e = verify(&p, &at(T0 + s(301)), T0).await.unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "future_timestamp"));

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
    async fn missing_or_bad_time_stamp_is_kept_as_unparsed_naming_it() {
        // Signed, so authentic; with no readable timeStamp the window
        // cannot be applied: kept (unparsed), never refused.
        let p = koywe(SECRET);
        for (payload, reason) in [
            (
                r#"{"eventName":"crypto_delivered","orderId":"o"}"#,
                UnparsedReason::MissingField,
            ),
            (
                r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":"yesterday"}"#,
                UnparsedReason::InvalidField,
            ),
            (
                r#"{"eventName":"crypto_delivered","orderId":"o","timeStamp":1666823801658}"#,
                UnparsedReason::MissingField,
            ),
        ] {
            let body = sign_raw(payload);
            let req = Inbound {
                body: body.as_bytes(),
                headers: &http::HeaderMap::new(),
                params: &HashMap::new(),
            };
            match p.verify(&req, T0).await {
                Ok(Authentic::Unreadable(u)) => {
                    assert_eq!(u.reason, reason, "{payload}");
                    assert_eq!(u.field.as_deref(), Some("timeStamp"), "{payload}");
                }
                other => panic!("{payload}: {other:?}"),
            }
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
        assert_eq!((e.status.as_u16(), e.kind), (400, "duplicate_key"));
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
    async fn authentic_legacy_body_without_order_id_is_unparsed_naming_it() {
        // Authentic, so kept by the pipeline (status `unknown`, flag
        // `unparsed`): normalize names the member, it does not refuse.
        let p = koywe(SECRET);
        for body in [
            r#"{"eventName":"crypto_delivered","timeStamp":"x"}"#,
            r#"{"eventName":"crypto_delivered","orderId":"","timeStamp":"x"}"#,
            r#"{"eventName":"crypto_delivered","orderId":5,"timeStamp":"x"}"#,
        ] {
            let signed = p.sign(body.as_bytes(), T0).unwrap().body;
            let v = verify(&p, &signed, T0).await.unwrap();
            assert!(p.event_ref(&v.body).is_none(), "{body}");
            let e = p.normalize(v, T0).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("orderId"), "{body}");
        }
        // Without `eventName` the body reads as the current format; a
        // legacy-signed one is still told what it lacks.
        let signed = p
            .sign_legacy(br#"{"orderId":"o","timeStamp":"x"}"#, T0)
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
        assert_eq!(p.id(), ProviderId::KOYWE);
    }

    /// Every case of `events/koywe/cases.json`, run against this module with
    /// the clock at the fixtures' time (a small stand-in for the shared
    /// harness: the method check and the store are not exercised here).
    #[tokio::test]
    async fn fixtures_behave_as_cases_json_says() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/koywe");
        let cases: Vec<Value> =
            serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
        assert!(cases.len() >= 35);
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
            let mut headers = http::HeaderMap::new();
            for (k, v) in ev["headers"].as_object().unwrap() {
                headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
                );
            }
            let sign_at = |at: OffsetDateTime| p.sign(&body, at).unwrap();
            let signed = match case["sign"].as_str().unwrap() {
                "none" => Signed {
                    body: body.clone(),
                    ..Signed::default()
                },
                "fresh" => {
                    let s = sign_at(T0);
                    assert_eq!(s.body, body, "{file}: the file should already be signed");
                    for (k, v) in &s.headers {
                        assert_eq!(
                            headers.get(k.as_str()).and_then(|h| h.to_str().ok()),
                            Some(v.as_str()),
                            "{file}: header {k} should already be signed"
                        );
                    }
                    s
                }
                "wrong_secret" => other.sign(&body, T0).unwrap(),
                "stale" => sign_at(T0 - window - time::Duration::SECOND),
                "inside" => sign_at(T0 - window + time::Duration::SECOND),
                "future" => sign_at(T0 + time::Duration::seconds(301)),
                "tamper" => {
                    let mut s = sign_at(T0);
                    let text = String::from_utf8(s.body).unwrap();
                    let from = case["tamper"]["from"].as_str().unwrap();
                    let to = case["tamper"]["to"].as_str().unwrap();
                    assert!(text.contains(from), "{file}");
                    s.body = text.replacen(from, to, 1).into_bytes();
                    s
                }
                other => panic!("{file}: unknown sign mode {other}"),
            };
            for (k, v) in &signed.headers {
                headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                );
            }
            let params = HashMap::new();
            let req = Inbound {
                body: &signed.body,
                headers: &headers,
                params: &params,
            };
            let flags: Vec<&str> = case["flags"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match crate::providers::verify_and_normalize(&p, &req, T0).await {
                Ok(n) => {
                    assert_eq!(expect, 200, "{file}");
                    assert!(flags.is_empty(), "{file}: mapped, so not {flags:?}");
                    assert_eq!(case["status"], n.event.status.as_str(), "{file}");
                    assert_eq!(case["provider_event"], n.event.provider_event.as_str());
                    assert_eq!(case["order_id"], n.event.order_id.as_str(), "{file}");
                }
                Err(NotMapped::Unparsed(u)) => {
                    assert_eq!(expect, 200, "{file}: {u}");
                    assert_eq!(case["status"], "unknown", "{file}");
                    assert_eq!(flags, ["unparsed"], "{file}");
                    assert!(case.get("order_id").is_none(), "{file}: generated");
                }
                Err(e) => assert_eq!(u64::from(e.status()), expect, "{file}: {e}"),
            }
        }
    }

    // ----- the current API (`Koywe-Signature` over the raw bytes) -----

    /// A request carrying `headers` (name, value), each appended: a name
    /// given twice is a repeated header.
    async fn verify_with(
        p: &Koywe,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Authentic, Rejection> {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let params = HashMap::new();
        p.verify(
            &Inbound {
                body,
                headers: &map,
                params: &params,
            },
            // The format has no time stamp: any clock verifies.
            datetime!(2031-01-01 00:00 UTC),
        )
        .await
    }

    /// Sign `body` the current way with `p` and verify it with `q`.
    async fn current_roundtrip(p: &Koywe, q: &Koywe, body: &[u8]) -> Result<Authentic, Rejection> {
        let s = p.sign_current(body);
        assert_eq!(s.body, body, "the body is sent unchanged");
        let (k, sig) = &s.headers[0];
        verify_with(q, body, &[(k, sig)]).await
    }

    /// A current-API order event with the order under `data`.
    fn current(event_id: &str, event_type: &str, order: Value) -> Vec<u8> {
        serde_json::json!({
            "id": event_id,
            "type": event_type,
            "occurredAt": "2025-03-04T05:06:07.089Z",
            "data": order,
        })
        .to_string()
        .into_bytes()
    }

    fn order(id: &str) -> Value {
        serde_json::json!({
            "id": id,
            "type": "PAYIN",
            "amountIn": "25000",
            "originCurrencySymbol": "CLP",
            "amountOut": "26.315789",
            "destinationCurrencySymbol": "USDC",
            "externalId": "merchant-1001",
        })
    }

    fn mapped(p: &Koywe, a: Authentic) -> Normalized {
        p.normalize(parsed(a), T0).unwrap()
    }

    #[tokio::test]
    async fn current_signature_known_answer() {
        let p = koywe(SECRET);
        // Computed independently of payhook:
        //   printf '%s' '<body>' | openssl dgst -sha256 -hmac 'test-koywe-secret'
        // (python3 hmac.new(secret, body, hashlib.sha256).hexdigest() agrees).
        let body = r#"{"id":"evt_kat","type":"order.completed","data":{"id":"ord_kat","amountIn":"1000"}}"#;
        let kat = "4d045b37c5fb71228cb9415ce8ec7d7b982bd5c0fc3d6a8bc72a6039620ded8b";
        assert_eq!(
            p.sign(body.as_bytes(), T0).unwrap().headers[0],
            ("Koywe-Signature".to_owned(), kat.to_owned())
        );
        let n = mapped(
            &p,
            verify_with(&p, body.as_bytes(), &[("Koywe-Signature", kat)])
                .await
                .unwrap(),
        );
        assert_eq!(n.event.order_id, "ord_kat");
        assert_eq!(n.event.status, Status::Completed);

        // The raw bytes, whitespace and final newline included, not a
        // re-serialization: `printf '{\n  "id": "evt_kat",\n  "type":
        // "order.paid"\n}\n' | openssl dgst -sha256 -hmac 'test-koywe-secret'`.
        let pretty = "{\n  \"id\": \"evt_kat\",\n  \"type\": \"order.paid\"\n}\n";
        let kat = "b9485bb738b7c2b3db3cbf400cf3bf7b56c7c1e182b49b8b7aca3956ef67e5e6";
        verify_with(&p, pretty.as_bytes(), &[("koywe-signature", kat)])
            .await
            .unwrap();
        let compact = r#"{"id":"evt_kat","type":"order.paid"}"#;
        let e = verify_with(&p, compact.as_bytes(), &[("koywe-signature", kat)])
            .await
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "bad_signature"));
    }

    #[tokio::test]
    async fn current_rotation_accepts_the_old_secret_and_signs_with_the_new() {
        let old = koywe("old-secret");
        let new = koywe("new-secret");
        let rotating = koywe("new-secret,old-secret");
        let body = current("evt_1", "order.paid", order("ord_1"));
        current_roundtrip(&old, &rotating, &body).await.unwrap();
        current_roundtrip(&new, &rotating, &body).await.unwrap();
        current_roundtrip(&rotating, &new, &body).await.unwrap();
        let e = current_roundtrip(&old, &new, &body).await.unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "bad_signature"));
    }

    #[tokio::test]
    async fn current_header_must_be_single_lowercase_hex_over_these_bytes() {
        let p = koywe(SECRET);
        let body = current("evt_1", "order.completed", order("ord_1"));
        let sig = p.sign_current(&body).headers[0].1.clone();
        verify_with(&p, &body, &[("Koywe-Signature", &sig)])
            .await
            .unwrap();
        // Repeated, even with the same valid value, or comma-joined.
        for headers in [
            vec![
                ("Koywe-Signature", sig.as_str()),
                ("koywe-signature", sig.as_str()),
            ],
            vec![("koywe-signature", &format!("{sig},{sig}"))],
        ] {
            let e = verify_with(&p, &body, &headers).await.unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.kind),
                (401, "ambiguous_header"),
                "{headers:?}"
            );
        }
        // Upper-case hex, a prefix, empty, truncated.
        let upper = sig.to_uppercase();
        let prefixed = format!("sha256={sig}");
        for bad in [upper.as_str(), prefixed.as_str(), "", &sig[..63]] {
            let e = verify_with(&p, &body, &[("koywe-signature", bad)])
                .await
                .unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.kind),
                (401, "bad_signature"),
                "{bad:?}"
            );
        }
        // Any changed byte.
        for i in [0, body.len() / 2, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[i] ^= 0x01;
            let e = verify_with(&p, &tampered, &[("koywe-signature", &sig)])
                .await
                .unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.kind),
                (401, "bad_signature"),
                "byte {i}"
            );
        }
        // Trailing whitespace is a different body too.
        let mut longer = body.clone();
        longer.push(b'\n');
        assert_eq!(
            verify_with(&p, &longer, &[("koywe-signature", &sig)])
                .await
                .unwrap_err()
                .status,
            401
        );
    }

    #[tokio::test]
    async fn the_header_decides_which_proof_is_checked() {
        let p = koywe(SECRET);
        // A correctly body-signed legacy delivery with a bad header: the
        // header is what is checked, and it fails.
        let e = verify_with(
            &p,
            SAMPLE.as_bytes(),
            &[("koywe-signature", &"0".repeat(64))],
        )
        .await
        .unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "bad_signature"));
        // A current body without the header goes the legacy way: no
        // `signature` member, 401.
        let body = current("evt_1", "order.completed", order("ord_1"));
        let e = verify(&p, &body, T0).await.unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (401, "missing_signature"));
        // And no time window on the current format: years later it verifies.
        current_roundtrip(&p, &p, &body).await.unwrap();
    }

    #[tokio::test]
    async fn every_order_type_maps_as_proposed() {
        let table = [
            ("order.created", Status::Created),
            ("order.approved", Status::Pending),
            ("order.pending", Status::Pending),
            ("order.processing", Status::Processing),
            ("order.paid", Status::Processing),
            ("order.completed", Status::Completed),
            ("order.failed", Status::Failed),
            ("order.expired", Status::Expired),
            ("order.canceled", Status::Canceled),
            ("order.cancelled", Status::Canceled),
            ("order.refunded", Status::Refunded),
            ("order.something_new", Status::Unknown),
        ];
        let p = koywe(SECRET);
        for (t, status) in table {
            assert_eq!(current_status_of(t), status, "{t}");
            let body = current(&format!("evt_{t}"), t, order("ord_1"));
            let n = mapped(&p, current_roundtrip(&p, &p, &body).await.unwrap());
            assert_eq!(n.event.status, status, "{t}");
            assert_eq!(n.event.provider_event, t);
            assert_eq!(n.event.order_id, "ord_1");
            assert_eq!(n.event.product, "onramp");
            assert_eq!(n.event.merchant_reference.as_deref(), Some("merchant-1001"));
            assert_eq!(
                n.event.occurred_at,
                Some(datetime!(2025-03-04 05:06:07.089 UTC))
            );
            assert_eq!(
                n.event.fiat,
                Some(Fiat {
                    amount: Some("25000".into()),
                    currency: Some("CLP".into())
                })
            );
            assert_eq!(
                n.event.crypto,
                Some(Crypto {
                    amount: Some("26.315789".into()),
                    currency: Some("USDC".into()),
                    network: None
                })
            );
            assert_eq!(n.event.failure.is_some(), status == Status::Failed, "{t}");
            assert_eq!(n.dedupe_key, format!("event\nevt_{t}"));
        }
        for t in [
            "contact.created",
            "merchant.updated",
            "invitation.accepted",
            "ping",
        ] {
            assert_eq!(current_status_of(t), Status::Unknown, "{t}");
        }
    }

    #[tokio::test]
    async fn a_redelivery_keeps_its_event_id_and_fingerprint() {
        let p = koywe(SECRET);
        let body = current("evt_42", "order.completed", order("ord_1"));
        let a = mapped(&p, current_roundtrip(&p, &p, &body).await.unwrap());
        // Koywe retries the same event (1 min, 5 min, …): the same bytes.
        let b = mapped(&p, current_roundtrip(&p, &p, &body).await.unwrap());
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_eq!(a.dedupe_key, "event\nevt_42");
        assert_eq!(a.fingerprint, b.fingerprint);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(p.event_ref(&v).as_deref(), Some("evt_42"));
        // Another event of the same order and type is another event.
        let other = current("evt_43", "order.completed", order("ord_1"));
        let c = mapped(&p, current_roundtrip(&p, &p, &other).await.unwrap());
        assert_ne!(c.dedupe_key, a.dedupe_key);
        // The same id with a different body: same key, another fingerprint
        // (the pipeline's 409).
        let changed = current("evt_42", "order.failed", order("ord_1"));
        let d = mapped(&p, current_roundtrip(&p, &p, &changed).await.unwrap());
        assert_eq!(d.dedupe_key, a.dedupe_key);
        assert_ne!(d.fingerprint, a.fingerprint);
        // A numeric id is its text.
        let numeric = br#"{"id":7,"type":"order.paid","data":{"id":"o"}}"#;
        let n = mapped(&p, current_roundtrip(&p, &p, numeric).await.unwrap());
        assert_eq!(n.dedupe_key, "event\n7");
    }

    #[tokio::test]
    async fn the_order_is_found_where_receivers_look_for_it() {
        let p = koywe(SECRET);
        let cases = [
            (
                r#"{"id":"e","type":"order.paid","data":{"orderId":"A","id":"x"}}"#,
                "A",
            ),
            (r#"{"id":"e","type":"order.paid","data":{"id":"B"}}"#, "B"),
            (
                r#"{"id":"e","type":"order.paid","payload":{"id":"C"}}"#,
                "C",
            ),
            (r#"{"id":"e","type":"order.paid","order":{"id":"D"}}"#, "D"),
            (
                r#"{"id":"e","type":"order.paid","data":{"order":{"id":"E"}}}"#,
                "E",
            ),
            (
                r#"{"id":"e","type":"order.paid","payload":{"order":{"orderId":"F"}}}"#,
                "F",
            ),
            // `data` without an id does not hide `payload`.
            (
                r#"{"id":"e","type":"order.paid","data":{"status":"PAID"},"payload":{"id":"G"}}"#,
                "G",
            ),
            (
                r#"{"id":"e","type":"order.paid","data":{"id":12345}}"#,
                "12345",
            ),
        ];
        for (body, want) in cases {
            let n = mapped(
                &p,
                current_roundtrip(&p, &p, body.as_bytes()).await.unwrap(),
            );
            assert_eq!(n.event.order_id, want, "{body}");
        }
        // Amounts as numbers keep their text; a value that is no decimal is
        // left out (raw keeps it); a pay-out swaps the directions.
        let body = br#"{"id":"e","type":"order.completed","createdAt":"2025-01-02T03:04:05Z","data":{"id":"o","type":"PAYOUT","amountIn":120.5,"originCurrencySymbol":"USDT","amountOut":"1,5","destinationCurrencySymbol":"COP"}}"#;
        let n = mapped(&p, current_roundtrip(&p, &p, body).await.unwrap());
        assert_eq!(n.event.product, "offramp");
        assert_eq!(
            n.event.crypto,
            Some(Crypto {
                amount: Some("120.5".into()),
                currency: Some("USDT".into()),
                network: None
            })
        );
        assert_eq!(
            n.event.fiat,
            Some(Fiat {
                amount: None,
                currency: Some("COP".into())
            })
        );
        assert_eq!(n.event.raw["data"]["amountOut"], "1,5");
        assert_eq!(
            n.event.occurred_at,
            Some(datetime!(2025-01-02 03:04:05 UTC))
        );
        assert_eq!(n.event.merchant_reference, None);
    }

    #[tokio::test]
    async fn other_families_are_accepted_as_unknown_on_their_own_resource() {
        let p = koywe(SECRET);
        let body = br#"{"id":"evt_c","type":"contact.created","data":{"id":"con_1","email":"a@example.com"}}"#;
        let n = mapped(&p, current_roundtrip(&p, &p, body).await.unwrap());
        assert_eq!(n.event.status, Status::Unknown);
        assert_eq!(n.event.provider_event, "contact.created");
        assert_eq!(n.event.order_id, "contact:con_1");
        assert!(n.event.flags.is_empty());
    }

    #[tokio::test]
    async fn authentic_current_bodies_that_cannot_be_mapped_are_unparsed() {
        let p = koywe(SECRET);
        let cases: [(&[u8], Option<&str>, Option<&str>); 6] = [
            (
                br#"{"id":"e1","type":"order.paid","data":{"status":"PAID"}}"#,
                Some("data.id"),
                Some("e1"),
            ),
            (
                br#"{"id":"e2","type":"order.paid"}"#,
                Some("data.id"),
                Some("e2"),
            ),
            (
                br#"{"type":"order.paid","data":{"id":"o"}}"#,
                Some("id"),
                None,
            ),
            (
                br#"{"id":"e3","data":{"id":"o"}}"#,
                Some("type"),
                Some("e3"),
            ),
            (
                br#"{"id":"e4","type":"order.paid","data":"o"}"#,
                Some("data.id"),
                Some("e4"),
            ),
            (b"[1,2]", None, None),
        ];
        for (body, field, event_ref) in cases {
            let ctx = String::from_utf8_lossy(body);
            let v = parsed(current_roundtrip(&p, &p, body).await.unwrap());
            assert_eq!(p.event_ref(&v.body).as_deref(), event_ref, "{ctx}");
            let e = p.normalize(v, T0).unwrap_err();
            assert_eq!(e.field.as_deref(), field, "{ctx}");
        }
        // Not JSON at all, but signed: authentic and unreadable (the
        // pipeline keeps it), never a 400.
        for body in [&b"order.completed evt_1"[..], b"{\"id\":", b"\xff\xfe", b""] {
            match current_roundtrip(&p, &p, body).await.unwrap() {
                Authentic::Unreadable(u) => {
                    assert_eq!(u.reason, UnparsedReason::NotJson, "{body:?}")
                }
                Authentic::Parsed(v) => panic!("{body:?} parsed as {}", v.body),
            }
        }
        // A repeated key in a signed body: authentic, unparsed naming it.
        let dup = br#"{"id":"e","id":"f","type":"order.paid","data":{"id":"o"}}"#;
        match current_roundtrip(&p, &p, dup).await.unwrap() {
            Authentic::Unreadable(u) => assert_eq!(u.reason, UnparsedReason::DuplicateKey),
            Authentic::Parsed(_) => panic!("duplicate key parsed"),
        }
    }

    #[test]
    fn sign_chooses_the_format_by_one_rule() {
        let p = koywe(SECRET);
        let current: [&[u8]; 6] = [
            br#"{"id":"e","type":"order.paid","data":{"id":"o"}}"#,
            // A family `type` wins over `eventName`.
            br#"{"eventName":"x","type":"contact.created"}"#,
            br#"{"orderId":"o","timeStamp":"x"}"#,
            b"[]",
            b"not json",
            b"",
        ];
        for body in current {
            let s = p.sign(body, T0).unwrap();
            assert_eq!(s.body, body);
            assert_eq!(s.headers[0].0, "Koywe-Signature");
            let v = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
            assert!(is_current_format(&v));
        }
        let legacy: [&[u8]; 3] = [
            br#"{"eventName":"crypto_delivered","orderId":"o"}"#,
            br#"{"eventName":"x","type":"PAYIN"}"#,
            br#"{"eventName":null}"#,
        ];
        for body in legacy {
            let s = p.sign(body, T0).unwrap();
            assert!(s.headers.iter().all(|(k, _)| k != "Koywe-Signature"));
            let v = canonical::parse_strict(&s.body).unwrap();
            assert!(v["signature"].is_string());
            assert!(!is_current_format(&v));
        }
        // A legacy body with a repeated key is still legacy, and refused.
        let e = p
            .sign(br#"{"eventName":"a","eventName":"b"}"#, T0)
            .unwrap_err();
        assert_eq!(e.status, 400);
    }
}
