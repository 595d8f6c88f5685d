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

use super::{Inbound, Normalized, Provider, Signed, Verified, from_body, sha256};
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

    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Verified, Rejection> {
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
        let signed = canonical::stringify(&canonical::without_key(&body, SIGNATURE));
        if !self
            .secrets
            .verify_hmac_sha256_hex(&[signed.as_bytes()], sig)
        {
            return Err(Rejection::unauthorized("bad_signature", "bad signature"));
        }
        self.check_time(&body, now)?;
        Ok(Verified { body })
    }

    fn normalize(
        &self,
        verified: &Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Rejection> {
        let ev: KoyweEvent = from_body(&verified.body)?;
        if ev.event_name.is_empty() {
            return Err(Rejection::field("eventName"));
        }
        if ev.order_id.is_empty() {
            return Err(Rejection::field("orderId"));
        }
        let status = status_of(&ev.event_name);
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
            verified.body.clone(),
        );
        event.occurred_at = Some(ev.time_stamp);
        if status == Status::Failed {
            // Koywe gives no reason beyond the event name.
            event.failure = Some(Failure {
                code: None,
                reason: Some(ev.event_name.clone()),
            });
        }
        // A retry of the same event may carry a new time stamp and therefore
        // a new signature; everything else must be identical.
        let stable = canonical::without_key(
            &canonical::without_key(&verified.body, SIGNATURE),
            TIME_STAMP,
        );
        Ok(Normalized {
            dedupe_key: format!("{}\n{}", ev.order_id, ev.event_name),
            fingerprint: sha256(canonical::stringify(&stable).as_bytes()),
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
