//! One module per provider: payload types, verification, normalization and
//! signing (for tests and `payhook send`). Adding a provider touches one
//! module here, never the pipeline.

use crate::event::{PaymentEvent, ProviderId};
use crate::rejection::Rejection;
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;

pub mod eightpay;
pub mod koywe;
pub mod onebuy;
pub mod thirdweb;

/// What a provider's `verify` sees of a request.
pub struct Inbound<'a> {
    /// The raw body bytes, exactly as received (after base64 decoding).
    pub body: &'a [u8],
    pub headers: &'a http::HeaderMap,
    /// Path parameters (`token`, `chain`).
    pub params: &'a HashMap<String, String>,
}

impl Inbound<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The value of a header that must appear exactly once. A repeated
    /// header (or one API Gateway joined with commas) is refused rather than
    /// guessed at: `None` then.
    pub fn single_header(&self, name: &str) -> Option<&str> {
        let mut it = self.headers.get_all(name).iter();
        let first = it.next()?;
        if it.next().is_some() {
            return None;
        }
        let s = first.to_str().ok()?;
        if s.contains(',') {
            return None;
        }
        Some(s.trim())
    }
}

/// A request whose authenticity has been proven, with its parsed body.
#[derive(Debug)]
pub struct Verified {
    /// The parsed body (duplicate keys refused, key order kept).
    pub body: serde_json::Value,
}

/// The outcome of [`Provider::normalize`].
#[derive(Debug)]
pub struct Normalized {
    /// The provider's dedupe key (PROVIDERS.md); `event_id` is derived from it.
    pub dedupe_key: String,
    /// SHA-256 of what makes two deliveries of the same event "the same
    /// payload" (the body minus fields a retry legitimately changes). Same
    /// event id with a different fingerprint is a 409.
    pub fingerprint: [u8; 32],
    /// The normalized event; `event_id` is filled in by the pipeline.
    pub event: PaymentEvent,
}

/// A request body signed the way the provider signs it.
#[derive(Debug, Clone, Default)]
pub struct Signed {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Path parameters to put in the URL (`token`, `chain`).
    pub params: Vec<(String, String)>,
}

/// Everything payhook knows about one webhook source.
#[async_trait]
pub trait Provider: Send + Sync {
    fn id(&self) -> ProviderId;

    /// The route template, e.g. `/webhooks/onebuy/checkout/{token}`.
    fn route(&self) -> &'static str;

    /// Prove the request authentic, on the raw bytes. `now` is passed in so
    /// tests can fix the clock. Nothing may be stored before this succeeds.
    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Verified, Rejection>;

    /// Map the verified body to the normalized event. Pure: no I/O. Takes
    /// the body by value: it becomes the event's `raw` without a copy.
    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Rejection>;

    /// Sign `body` as the provider would at time `at`, with the newest
    /// configured secret. Used by tests and `payhook send`. May rewrite the
    /// body (Koywe's signature and time stamp live in it).
    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection>;
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Read an optional string member; non-string scalars are turned into their
/// JSON text (`21` → `"21"`), so amounts sent as numbers stay decimal strings.
pub fn opt_str(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A required non-empty string member, else a 400 naming `path`.
pub fn req_str<'v>(v: &'v serde_json::Value, key: &str, path: &str) -> Result<&'v str, Rejection> {
    match v.get(key) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(Rejection::field(path)),
    }
}

/// Serde helpers for provider payload types.
pub mod de {
    use serde::{Deserialize, Deserializer};

    /// A decimal amount sent as a JSON string or number, kept as its exact
    /// decimal text (`21` → `"21"`, `"0.00731274"` stays). `null`/absent →
    /// `None`.
    pub fn decimal_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Amount {
            S(String),
            N(serde_json::Number),
        }
        Ok(match Option::<Amount>::deserialize(d)? {
            None => None,
            Some(Amount::S(s)) if s.trim().is_empty() => None,
            Some(Amount::S(s)) => Some(s),
            Some(Amount::N(n)) => Some(n.to_string()),
        })
    }

    /// A string that may be absent, `null` or empty (all → `None`).
    pub fn opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
    }
}

/// Deserialize a provider payload type from the verified body; a mismatch is
/// a 400 that names the field (serde's message names it, never a value).
pub fn from_body<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<T, Rejection> {
    T::deserialize(body).map_err(|e| {
        // serde_json's messages look like "missing field `orderId`" or
        // "invalid type: integer `5`, expected a string": keep only the field
        // name part, never echo values back.
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown variant"))
            .map(str::to_owned);
        match field {
            Some(f) => Rejection::field(&f),
            None => Rejection::bad_request("bad_shape", "body does not have the documented shape"),
        }
    })
}

/// Build the provider `id` from configuration (an error names the missing
/// setting).
pub fn build(
    id: ProviderId,
    cfg: &crate::Config,
) -> Result<std::sync::Arc<dyn Provider>, crate::ConfigError> {
    use std::sync::Arc;
    Ok(match id {
        ProviderId::OnebuyWalletPay => Arc::new(onebuy::WalletPay::from_config(cfg)?),
        ProviderId::OnebuyCheckout => Arc::new(onebuy::Checkout::from_config(cfg)?),
        ProviderId::Koywe => Arc::new(koywe::Koywe::from_config(cfg)?),
        ProviderId::Eightpay => Arc::new(eightpay::EightPay::from_config(cfg)?),
        ProviderId::Thirdweb => Arc::new(thirdweb::Thirdweb::from_config(cfg)?),
    })
}
