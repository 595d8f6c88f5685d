//! The normalized, published event: `payhook.payment_event/v1`.
//!
//! Consumers deserialize this from the queue and match on [`Status`].
//! Amounts are decimal strings, never floats.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Value of the `schema` field of every published event.
pub const SCHEMA: &str = "payhook.payment_event/v1";

/// The JSON Schema of [`PaymentEvent`], shipped with the crate.
pub const JSON_SCHEMA: &str = include_str!("../../schema/payment_event.v1.json");

/// Which provider (and product line) a webhook came from: its name as
/// published (`koywe`, `onebuy-checkout`, …). Each provider module defines
/// its own constant (e.g. `ProviderId::KOYWE` in `providers::koywe`) and its
/// [`Descriptor`](crate::providers::Descriptor) in
/// [`providers::ALL`](crate::providers::ALL), which is the list of known
/// providers: [`ProviderId::parse`] and deserialization accept only those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(&'static str);

impl ProviderId {
    /// A provider named `name` (lowercase, kebab-case). Only for the
    /// constant each provider module defines.
    pub const fn new(name: &'static str) -> Self {
        ProviderId(name)
    }

    /// Every registered provider, in [`providers::ALL`](crate::providers::ALL)'s order.
    pub fn all() -> impl Iterator<Item = ProviderId> {
        crate::providers::IDS.iter().copied()
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The registered provider named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::all().find(|p| p.as_str() == s)
    }
}

impl Serialize for ProviderId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        ProviderId::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown provider {name:?}")))
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalized payment status, in lifecycle order (see [`Status::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Opened,
    Pending,
    Processing,
    Failed,
    Canceled,
    Expired,
    Completed,
    Refunded,
    /// An authentic event whose name payhook does not know. Never changes an
    /// order's status.
    Unknown,
}

impl Status {
    /// Every status, in lifecycle order (`unknown` last).
    pub const ALL: [Status; 10] = [
        Status::Created,
        Status::Opened,
        Status::Pending,
        Status::Processing,
        Status::Failed,
        Status::Canceled,
        Status::Expired,
        Status::Completed,
        Status::Refunded,
        Status::Unknown,
    ];

    /// Position in the lifecycle. An order's status only moves to a strictly
    /// higher rank. `None` for [`Status::Unknown`], which never moves it.
    pub fn rank(self) -> Option<u8> {
        Some(match self {
            Status::Created => 1,
            Status::Opened => 2,
            Status::Pending => 3,
            Status::Processing => 4,
            Status::Failed | Status::Canceled | Status::Expired => 5,
            Status::Completed => 6,
            Status::Refunded => 7,
            Status::Unknown => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Opened => "opened",
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
            Status::Completed => "completed",
            Status::Refunded => "refunded",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fiat amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fiat {
    /// Decimal string, e.g. `"21.50"`.
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// A crypto amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crypto {
    /// Decimal string in token units (not wei) unless the provider only
    /// gives base units; see each provider module.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub network: Option<String>,
}

/// Why a payment failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Machine-readable code (e.g. `card_declined`), when known.
    pub code: Option<String>,
    /// The provider's text.
    pub reason: Option<String>,
}

/// The paying customer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: Option<String>,
}

impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Customer")
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why an authentic body could not be mapped to a normalized event. The
/// pipeline keeps such a delivery as an event with status `unknown`, the
/// flag `unparsed` and this reason (published as `unparsed`): a 4xx would
/// only make the provider retry the same bytes until it gives up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{reason}{}", .field.as_deref().map(|f| format!(" `{f}`")).unwrap_or_default())]
pub struct Unparsed {
    pub reason: UnparsedReason,
    /// The body path the problem is at (`data.paymentId`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Machine-readable reason of an [`Unparsed`] event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnparsedReason {
    /// The body is not JSON (or not UTF-8).
    NotJson,
    /// The body repeats an object key (two readings of one body).
    DuplicateKey,
    /// A member normalize needs is absent, empty or of another type.
    MissingField,
    /// A member is present but its value cannot be used.
    InvalidField,
    /// The body is JSON but not shaped like any known event.
    BadShape,
    /// A payload version payhook does not know.
    UnsupportedVersion,
}

impl UnparsedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnparsedReason::NotJson => "not_json",
            UnparsedReason::DuplicateKey => "duplicate_key",
            UnparsedReason::MissingField => "missing_field",
            UnparsedReason::InvalidField => "invalid_field",
            UnparsedReason::BadShape => "bad_shape",
            UnparsedReason::UnsupportedVersion => "unsupported_version",
        }
    }
}

impl std::fmt::Display for UnparsedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Unparsed {
    pub fn new(reason: UnparsedReason) -> Self {
        Unparsed {
            reason,
            field: None,
        }
    }

    /// A member normalize needs is missing or mistyped.
    pub fn field(path: &str) -> Self {
        Unparsed {
            reason: UnparsedReason::MissingField,
            field: Some(path.to_owned()),
        }
    }

    /// A member is there but its value cannot be used.
    pub fn invalid(path: &str) -> Self {
        Unparsed {
            reason: UnparsedReason::InvalidField,
            field: Some(path.to_owned()),
        }
    }
}

impl From<crate::canonical::JsonError> for Unparsed {
    fn from(e: crate::canonical::JsonError) -> Self {
        match e {
            crate::canonical::JsonError::DuplicateKey(k) => Unparsed {
                reason: UnparsedReason::DuplicateKey,
                field: Some(k),
            },
            crate::canonical::JsonError::Syntax(_) => Unparsed::new(UnparsedReason::NotJson),
        }
    }
}

/// One normalized payment event, as published to the queue.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub schema: String,
    pub event_id: String,
    pub provider: ProviderId,
    /// Product line: `wallet-pay`, `checkout`, `onramp`, `one-time`, `bridge`, …
    pub product: String,
    /// The provider's own event / stage / status name.
    pub provider_event: String,
    pub status: Status,
    pub order_id: String,
    pub merchant_reference: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub fiat: Option<Fiat>,
    pub crypto: Option<Crypto>,
    pub wallet: Option<String>,
    pub tx_hashes: Vec<String>,
    pub failure: Option<Failure>,
    pub customer: Option<Customer>,
    /// Provider-specific flags (e.g. `fallback_token`, `partial`), and
    /// `unparsed` on an authentic body payhook could not map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Why an authentic body could not be mapped (status `unknown`, flag
    /// `unparsed`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsed: Option<Unparsed>,
    /// The verified provider body, as received: its JSON, or (an authentic
    /// body that is not JSON) its text.
    pub raw: serde_json::Value,
}

impl std::fmt::Debug for PaymentEvent {
    /// Never prints `raw` or the customer: they carry PII.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentEvent")
            .field("event_id", &self.event_id)
            .field("provider", &self.provider)
            .field("provider_event", &self.provider_event)
            .field("status", &self.status)
            .field("order_id", &self.order_id)
            .finish_non_exhaustive()
    }
}

impl PaymentEvent {
    /// An event with only the required fields set; providers fill the rest.
    pub fn new(
        provider: ProviderId,
        product: impl Into<String>,
        provider_event: impl Into<String>,
        status: Status,
        order_id: impl Into<String>,
        received_at: OffsetDateTime,
        raw: serde_json::Value,
    ) -> Self {
        PaymentEvent {
            schema: SCHEMA.to_owned(),
            event_id: String::new(),
            provider,
            product: product.into(),
            provider_event: provider_event.into(),
            status,
            order_id: order_id.into(),
            merchant_reference: None,
            occurred_at: None,
            received_at,
            fiat: None,
            crypto: None,
            wallet: None,
            tx_hashes: Vec::new(),
            failure: None,
            customer: None,
            flags: Vec::new(),
            unparsed: None,
            raw,
        }
    }

    /// The published JSON. Fails when a time is outside RFC 3339's years
    /// 0000-9999 (an 8Pay `timestamp` of Unix seconds can be); the pipeline
    /// then keeps the delivery as unparsed.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        // serde_json's own buffer starts at 128 bytes and doubles, so a
        // 1.5 KB event was copied four times as it grew (~1 µs of serve's
        // CPU per webhook in `perf`). Sized from the last event instead.
        let hint = JSON_LEN_HINT.load(Relaxed);
        let mut out = Vec::with_capacity(hint + hint / 4);
        serde_json::to_writer(&mut out, self)?;
        JSON_LEN_HINT.store(out.len().clamp(256, 64 * 1024), Relaxed);
        // A large event then a small one: do not keep the slack.
        if out.capacity() > 2 * out.len() {
            out.shrink_to_fit();
        }
        String::from_utf8(out).map_err(serde::ser::Error::custom)
    }
}

/// The size of the last published JSON, for the next one's buffer.
static JSON_LEN_HINT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1024);

/// `event_id` = hex SHA-256 of `provider \0 dedupe_key`, truncated to 32 hex
/// characters (128 bits): stable across retries, opaque, fixed length.
pub fn event_id(provider: ProviderId, dedupe_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(provider.as_str().as_bytes());
    h.update([0u8]);
    h.update(dedupe_key.as_bytes());
    let digest = h.finalize();
    crate::providers::hex_lower(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_lifecycle() {
        use Status::*;
        let order = [
            Created, Opened, Pending, Processing, Failed, Completed, Refunded,
        ];
        for w in order.windows(2) {
            assert!(w[0].rank() < w[1].rank(), "{:?} < {:?}", w[0], w[1]);
        }
        assert_eq!(Failed.rank(), Canceled.rank());
        assert_eq!(Failed.rank(), Expired.rank());
        assert_eq!(Unknown.rank(), None);
    }

    #[test]
    fn event_id_depends_on_provider_and_key() {
        let a = event_id(ProviderId::KOYWE, "o1\0crypto_delivered");
        assert_eq!(a.len(), 32);
        assert_eq!(a, event_id(ProviderId::KOYWE, "o1\0crypto_delivered"));
        assert_ne!(a, event_id(ProviderId::THIRDWEB, "o1\0crypto_delivered"));
        assert_ne!(a, event_id(ProviderId::KOYWE, "o1\0payment_received"));
    }

    #[test]
    fn status_round_trips_through_its_name() {
        for s in [Status::Created, Status::Unknown, Status::Refunded] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("nope"), None);
    }
}
