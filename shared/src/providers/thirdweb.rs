//! thirdweb Pay (v1) and Universal Bridge / Payments (v2) webhooks, both on
//! `/webhooks/thirdweb`.
//!
//! # Verification
//!
//! thirdweb signs `"{timestamp}.{raw body}"` with HMAC-SHA256 under the
//! webhook secret and sends the lowercase hex digest:
//!
//! | generation | signature header | timestamp header |
//! |---|---|---|
//! | v2 | `x-payload-signature` | `x-timestamp` |
//! | v1 | `x-pay-signature` | `x-pay-timestamp` |
//!
//! The v2 names are looked for first, then the v1 names, for either body
//! generation and independently for the two headers (as the SDK's
//! `Bridge.Webhook.parse` does; an empty value counts as absent there too).
//! A header that is present but repeated (or comma-joined by API Gateway) is
//! refused, never replaced by the fallback name. The signature is checked
//! before the clock, so an unauthenticated caller learns nothing about the
//! tolerance window. From then on the body is authentic: whatever its shape
//! it is kept (DESIGN.md step 4), as a mapped event or, when [`normalize`]
//! cannot map it, as an `unknown` event flagged `unparsed`.
//!
//! # Versions
//!
//! * `"version": 2` → v2, the zod schema of thirdweb's SDK (npm `thirdweb`
//!   5.121.6, `src/bridge/Webhook.ts`), read leniently:
//!   * `pay.onchain-transaction`: order id `data.paymentId` (else
//!     `data.transactionId`, which thirdweb's docs example also carries);
//!     crypto = `destinationAmount` (base units) of `destinationToken`,
//!     converted exactly with its `decimals`; wallet = `sender`; every
//!     `transactions[].transactionHash`. `action`, `receiver`, the origin
//!     leg and the developer fee stay in `raw` (the event has no field for
//!     them).
//!   * `pay.onramp-transaction`: order id `data.id`; crypto = `amount` (base
//!     units) of `token`; fiat = `currencyAmount` in `currency`; wallet =
//!     `sender`, else `receiver`; `transactionHash`.
//!   * no `type` (thirdweb's older docs examples): onchain when the data has
//!     `paymentId` or `transactionId`, else onramp when it has `id`. Another
//!     `type` is recorded with status `unknown`.
//!   * `data.status` PENDING→processing, COMPLETED→completed, FAILED→failed,
//!     anything else → unknown.
//! * `"version": 1` with a `type` (the SDK's "no longer supported" v1), or any
//!   other version → unparsed (`unsupported_version`).
//! * no `version` (or `1` without a `type`), and `data.buyWithFiatStatus` or
//!   `data.buyWithCryptoStatus` → v1 "Pay", the format of the seed's
//!   `purchase_complete` example; statuses as the SDK's
//!   `src/pay/buyWith{Fiat,Crypto}/getStatus.ts` (and older SDKs) name them.
//!
//! A body without an order id or a status cannot be an event of an order:
//! it is unparsed (`missing_field`, naming the member). A member of an
//! unexpected type only leaves its normalized field empty.
//!
//! # provider_event
//!
//! v1 has a single event (`purchase_complete`) and no event field, and v2's
//! `type` only says which product; what changes between deliveries is the
//! status. So `provider_event` is thirdweb's status name as sent
//! (`ON_RAMP_TRANSFER_COMPLETED`, `PENDING`…), followed by `:{subStatus}`
//! when a v1 crypto status carries a meaningful `subStatus`
//! (`COMPLETED:PARTIAL_SUCCESS`). The dedupe key is `{order}\n` + that
//! string (*inferred*: order id + status, PROVIDERS.md §5).

use super::is_decimal;
use super::{Descriptor, Proof};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::providers::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, UnparsedReason, Verified, de,
    from_body, sha256,
};
use crate::rejection::Rejection;
use crate::secret::{SecretList, sign_hmac_sha256_hex};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// v2 header names, looked for first.
pub const V2_SIGNATURE_HEADER: &str = "x-payload-signature";
pub const V2_TIMESTAMP_HEADER: &str = "x-timestamp";
/// v1 ("Pay") header names, the fallback.
pub const V1_SIGNATURE_HEADER: &str = "x-pay-signature";
pub const V1_TIMESTAMP_HEADER: &str = "x-pay-timestamp";

impl ProviderId {
    pub const THIRDWEB: ProviderId = ProviderId::new("thirdweb");
}

const SECRETS_SETTING: &str = "PAYHOOK_THIRDWEB_SECRETS";
const TOLERANCE_SETTING: &str = "PAYHOOK_THIRDWEB_TOLERANCE_SECS";

/// thirdweb's webhooks: `PAYHOOK_THIRDWEB_SECRETS` (newest first) turns them
/// on; `PAYHOOK_THIRDWEB_TOLERANCE_SECS` (default 300) bounds the signed
/// timestamp both ways.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::THIRDWEB,
    route: "/webhooks/thirdweb",
    settings: &[SECRETS_SETTING, TOLERANCE_SETTING],
    build: |cfg| Ok(Arc::new(Thirdweb::from_config(cfg)?)),
    dev_settings: |secret| vec![(SECRETS_SETTING, secret("dev-thirdweb"))],
    test_settings: &[(
        SECRETS_SETTING,
        "test-thirdweb-secret,test-thirdweb-secret-old",
    )],
    wrong_settings: &[(SECRETS_SETTING, "not-the-secret")],
    proof: Proof::Bytes,
};

/// thirdweb Pay / Universal Bridge webhooks.
#[derive(Debug, Clone)]
pub struct Thirdweb {
    secrets: SecretList,
    tolerance: Duration,
}

impl Thirdweb {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let tolerance = Duration::from_secs(cfg.number(TOLERANCE_SETTING, 300)?);
        let secrets = cfg.require_secrets(SECRETS_SETTING)?;
        Ok(Thirdweb::new(secrets, tolerance))
    }

    pub fn new(secrets: SecretList, tolerance: Duration) -> Self {
        Thirdweb { secrets, tolerance }
    }
}

/// The value of `primary`, else of `fallback` (an empty value counts as
/// absent, as in the SDK). `Err` when the header that is looked at appears
/// more than once (or comma-joined); `Ok(None)` when neither has a value.
fn header_pair<'r>(
    req: &'r Inbound<'_>,
    primary: &str,
    fallback: &str,
) -> Result<Option<&'r str>, Rejection> {
    for name in [primary, fallback] {
        if req.headers.contains_key(name) {
            match req.single_header(name) {
                // Empty: the next name is looked at, as the SDK's `a || b`.
                Some("") => continue,
                Some(v) => return Ok(Some(v)),
                None => {
                    return Err(Rejection::unauthorized(
                        "ambiguous_header",
                        "signature headers must appear once",
                    ));
                }
            }
        }
    }
    Ok(None)
}

/// Unix seconds as thirdweb sends them: ASCII digits only (no sign, no
/// fraction, no exponent), at most 12 of them.
fn parse_unix_seconds(ts: &str) -> Option<i64> {
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ts.parse().ok()
}

/// Which body shape a verified body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    V1Fiat,
    V1Crypto,
    V2,
}

fn shape(body: &serde_json::Value) -> Result<Shape, Unparsed> {
    let data = body.get("data");
    let has = |k: &str| data.and_then(|d| d.get(k)).is_some_and(|v| v.is_object());
    let v1 = || {
        if has("buyWithFiatStatus") {
            Some(Shape::V1Fiat)
        } else if has("buyWithCryptoStatus") {
            Some(Shape::V1Crypto)
        } else {
            None
        }
    };
    let unsupported = || Unparsed {
        reason: UnparsedReason::UnsupportedVersion,
        field: Some("version".to_owned()),
    };
    match body.get("version") {
        Some(v) if v.as_u64() == Some(2) => Ok(Shape::V2),
        // `"version": 1` with a `type` is the SDK's refused v1 webhook; a
        // legacy Pay body that happens to say `"version": 1` is still Pay.
        Some(v) if v.as_u64() == Some(1) && body.get("type").is_none() => {
            v1().ok_or_else(unsupported)
        }
        Some(_) => Err(unsupported()),
        None => v1().ok_or_else(|| Unparsed::new(UnparsedReason::BadShape)),
    }
}

#[async_trait]
impl Provider for Thirdweb {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn time_window(&self) -> Option<Duration> {
        Some(self.tolerance)
    }

    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection> {
        let missing = || Rejection::unauthorized("missing_signature", "missing signature headers");
        let sig =
            header_pair(req, V2_SIGNATURE_HEADER, V1_SIGNATURE_HEADER)?.ok_or_else(missing)?;
        let ts = header_pair(req, V2_TIMESTAMP_HEADER, V1_TIMESTAMP_HEADER)?.ok_or_else(missing)?;
        let ts_secs = parse_unix_seconds(ts)
            .ok_or_else(|| Rejection::unauthorized("bad_timestamp", "malformed timestamp"))?;
        // The timestamp text is signed exactly as sent.
        if !self
            .secrets
            .verify_hmac_sha256_hex(&[ts.as_bytes(), b".", req.body], sig)
        {
            return Err(Rejection::unauthorized(
                "bad_signature",
                "signature does not match",
            ));
        }
        super::check_window(now, ts_secs, self.tolerance)?;
        // thirdweb signs the raw bytes: from here the body is authentic
        // whatever it holds.
        Ok(Authentic::from_signed_bytes(req.body))
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let body = &verified.body;
        let n = match shape(body)? {
            Shape::V1Fiat => v1_fiat(body)?,
            Shape::V1Crypto => v1_crypto(body)?,
            Shape::V2 => v2(body)?,
        };
        // `Verified` holds the parsed body, not the bytes; its canonical
        // (JavaScript) form equals thirdweb's compact body byte for byte
        // and ignores insignificant whitespace otherwise.
        let fingerprint = sha256(canonical::stringify(body).as_bytes());
        let mut ev = PaymentEvent::new(
            ProviderId::THIRDWEB,
            n.product,
            n.provider_event.clone(),
            n.status,
            n.order_id.clone(),
            received_at,
            verified.body,
        );
        ev.occurred_at = n.occurred_at;
        ev.fiat = n.fiat;
        ev.crypto = n.crypto;
        ev.wallet = n.wallet;
        ev.tx_hashes = n.tx_hashes;
        ev.failure = n.failure;
        ev.flags = n.flags;
        Ok(Normalized {
            dedupe_key: format!("{}\n{}", n.order_id, n.provider_event),
            fingerprint,
            event: ev,
        })
    }

    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection> {
        // Header names follow the body's generation. A body that does not
        // parse (used to test 400s) is signed the v1 way.
        let is_v2 = canonical::parse_strict(body)
            .ok()
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64))
            == Some(2);
        let (sig_h, ts_h) = if is_v2 {
            (V2_SIGNATURE_HEADER, V2_TIMESTAMP_HEADER)
        } else {
            (V1_SIGNATURE_HEADER, V1_TIMESTAMP_HEADER)
        };
        let ts = at.unix_timestamp().to_string();
        let sig = sign_hmac_sha256_hex(self.secrets.newest(), &[ts.as_bytes(), b".", body]);
        Ok(Signed {
            body: body.to_vec(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (sig_h.into(), sig),
                (ts_h.into(), ts),
            ],
            params: Vec::new(),
        })
    }
}

/// The provider-specific part of a normalized event.
struct Parts {
    product: &'static str,
    provider_event: String,
    status: Status,
    order_id: String,
    occurred_at: Option<OffsetDateTime>,
    fiat: Option<Fiat>,
    crypto: Option<Crypto>,
    wallet: Option<String>,
    tx_hashes: Vec<String>,
    failure: Option<Failure>,
    flags: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, h: Option<String>) {
    if let Some(h) = h.filter(|h| !h.is_empty())
        && !v.iter().any(|x| x.eq_ignore_ascii_case(&h))
    {
        v.push(h);
    }
}

fn rfc3339(s: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s?, &time::format_description::well_known::Rfc3339).ok()
}

// ---------------------------------------------------------------------------
// v1 payload types (thirdweb SDK's BuyWithFiatStatus / BuyWithCryptoStatus)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Token {
    #[serde(default, deserialize_with = "de::decimal_string")]
    chain_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    symbol: Option<String>,
}

/// `source` / `destination`: an on-chain leg.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Leg {
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    transaction_hash: Option<String>,
    /// Token units (`"5"`); `amountWei` has the base units.
    #[serde(default, deserialize_with = "de::decimal_string")]
    amount: Option<String>,
    #[serde(default)]
    token: Option<V1Token>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    completed_at: Option<String>,
}

impl V1Leg {
    fn crypto(&self) -> Option<Crypto> {
        let token = self.token.as_ref();
        if self.amount.is_none() && token.is_none() {
            return None;
        }
        Some(Crypto {
            amount: self.amount.clone(),
            currency: token.and_then(|t| t.symbol.clone()),
            network: token.and_then(|t| t.chain_id.clone()),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1FiatAmount {
    #[serde(default, deserialize_with = "de::decimal_string")]
    amount: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    currency_symbol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1FiatQuote {
    #[serde(default)]
    from_currency: Option<V1FiatAmount>,
    #[serde(default)]
    from_currency_with_fees: Option<V1FiatAmount>,
    #[serde(default)]
    to_token: Option<V1Token>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    estimated_to_token_amount: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1FiatStatus {
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    intent_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    status: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    to_address: Option<String>,
    #[serde(default)]
    quote: Option<V1FiatQuote>,
    #[serde(default)]
    source: Option<V1Leg>,
    #[serde(default)]
    destination: Option<V1Leg>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    failure_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1FiatBody {
    data: V1FiatData,
}
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1FiatData {
    buy_with_fiat_status: V1FiatStatus,
}

/// buyWithFiatStatus.status → (normalized, flag).
fn fiat_status(s: &str) -> (Status, Option<&'static str>) {
    match s {
        "NONE" => (Status::Created, None),
        "PENDING_PAYMENT" => (Status::Pending, None),
        "PENDING_ON_RAMP_TRANSFER"
        | "ON_RAMP_TRANSFER_IN_PROGRESS"
        // Older SDKs' name of the state before CRYPTO_SWAP_IN_PROGRESS.
        | "PENDING_CRYPTO_SWAP"
        | "CRYPTO_SWAP_REQUIRED"
        | "CRYPTO_SWAP_IN_PROGRESS" => (Status::Processing, None),
        "ON_RAMP_TRANSFER_COMPLETED" | "CRYPTO_SWAP_COMPLETED" => (Status::Completed, None),
        // The swap to the requested token failed and the user received the
        // on-ramp token instead: money moved, but not in the asked token.
        "CRYPTO_SWAP_FALLBACK" => (Status::Completed, Some("fallback_token")),
        "PAYMENT_FAILED" | "ON_RAMP_TRANSFER_FAILED" | "CRYPTO_SWAP_FAILED" => {
            (Status::Failed, None)
        }
        _ => (Status::Unknown, None),
    }
}

fn v1_fiat(body: &serde_json::Value) -> Result<Parts, Unparsed> {
    let b: V1FiatBody = from_body(body)?;
    let f = b.data.buy_with_fiat_status;
    const P: &str = "data.buyWithFiatStatus";
    let order_id = f
        .intent_id
        .ok_or_else(|| Unparsed::field(&format!("{P}.intentId")))?;
    let raw_status = f
        .status
        .ok_or_else(|| Unparsed::field(&format!("{P}.status")))?;
    let (status, flag) = fiat_status(&raw_status);

    let quote = f.quote.unwrap_or_default();
    // What the buyer paid: with fees when thirdweb says so.
    let fiat = quote
        .from_currency_with_fees
        .or(quote.from_currency)
        .map(|a| Fiat {
            amount: a.amount,
            currency: a.currency_symbol,
        });
    // What the buyer got: the final token (destination) when a swap
    // happened, else the on-ramp token (source), else the quote's estimate.
    let crypto = f
        .destination
        .as_ref()
        .and_then(V1Leg::crypto)
        .or_else(|| f.source.as_ref().and_then(V1Leg::crypto))
        .or_else(|| {
            let t = quote.to_token.as_ref();
            (quote.estimated_to_token_amount.is_some() || t.is_some()).then(|| Crypto {
                amount: quote.estimated_to_token_amount.clone(),
                currency: t.and_then(|t| t.symbol.clone()),
                network: t.and_then(|t| t.chain_id.clone()),
            })
        });
    let occurred_at = rfc3339(
        f.destination
            .as_ref()
            .and_then(|d| d.completed_at.as_deref())
            .or_else(|| f.source.as_ref().and_then(|s| s.completed_at.as_deref())),
    );
    let mut tx_hashes = Vec::new();
    push_unique(&mut tx_hashes, f.source.and_then(|s| s.transaction_hash));
    push_unique(
        &mut tx_hashes,
        f.destination.and_then(|d| d.transaction_hash),
    );
    let failure = (status == Status::Failed || f.failure_message.is_some()).then(|| Failure {
        code: (status == Status::Failed).then(|| raw_status.to_ascii_lowercase()),
        reason: f.failure_message,
    });
    Ok(Parts {
        product: "onramp",
        provider_event: raw_status,
        status,
        order_id,
        occurred_at,
        fiat,
        crypto,
        wallet: f.to_address,
        tx_hashes,
        failure,
        flags: flag.into_iter().map(str::to_owned).collect(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1CryptoQuote {
    #[serde(default)]
    to_token: Option<V1Token>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    to_amount: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1CryptoStatus {
    #[serde(default)]
    source: Option<V1Leg>,
    #[serde(default)]
    destination: Option<V1Leg>,
    #[serde(default)]
    quote: Option<V1CryptoQuote>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    status: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    sub_status: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    to_address: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    failure_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1CryptoBody {
    data: V1CryptoData,
}
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1CryptoData {
    buy_with_crypto_status: V1CryptoStatus,
}

/// buyWithCryptoStatus (status, subStatus) → (normalized, flag).
fn crypto_status(status: &str, sub: Option<&str>) -> (Status, Option<&'static str>) {
    if sub == Some("REFUNDED") {
        return (Status::Refunded, None);
    }
    match status {
        "PENDING" => (Status::Processing, None),
        "COMPLETED" if sub == Some("PARTIAL_SUCCESS") => (Status::Completed, Some("partial")),
        "COMPLETED" => (Status::Completed, None),
        "FAILED" => (Status::Failed, None),
        _ => (Status::Unknown, None),
    }
}

fn v1_crypto(body: &serde_json::Value) -> Result<Parts, Unparsed> {
    let b: V1CryptoBody = from_body(body)?;
    let c = b.data.buy_with_crypto_status;
    const P: &str = "data.buyWithCryptoStatus";
    let source = c.source.unwrap_or_default();
    let order_id = source
        .transaction_hash
        .clone()
        .ok_or_else(|| Unparsed::field(&format!("{P}.source.transactionHash")))?;
    let raw_status = c
        .status
        .ok_or_else(|| Unparsed::field(&format!("{P}.status")))?;
    // `NONE` is the SDK's "no sub-status" value: it adds nothing.
    let sub = c.sub_status.filter(|s| s != "NONE");
    let (status, flag) = crypto_status(&raw_status, sub.as_deref());
    let provider_event = match &sub {
        Some(s) => format!("{raw_status}:{s}"),
        None => raw_status.clone(),
    };

    let quote = c.quote.unwrap_or_default();
    let crypto = c.destination.as_ref().and_then(V1Leg::crypto).or_else(|| {
        let t = quote.to_token.as_ref();
        (quote.to_amount.is_some() || t.is_some()).then(|| Crypto {
            amount: quote.to_amount.clone(),
            currency: t.and_then(|t| t.symbol.clone()),
            network: t.and_then(|t| t.chain_id.clone()),
        })
    });
    let occurred_at = rfc3339(
        c.destination
            .as_ref()
            .and_then(|d| d.completed_at.as_deref())
            .or(source.completed_at.as_deref()),
    );
    let mut tx_hashes = Vec::new();
    push_unique(&mut tx_hashes, source.transaction_hash);
    push_unique(
        &mut tx_hashes,
        c.destination.and_then(|d| d.transaction_hash),
    );
    let failure = (status == Status::Failed || c.failure_message.is_some()).then(|| Failure {
        code: (status == Status::Failed)
            .then(|| sub.as_deref().unwrap_or("failed").to_ascii_lowercase()),
        reason: c.failure_message,
    });
    Ok(Parts {
        product: "bridge",
        provider_event,
        status,
        order_id,
        occurred_at,
        fiat: None,
        crypto,
        wallet: c.to_address,
        tx_hashes,
        failure,
        flags: flag.into_iter().map(str::to_owned).collect(),
    })
}

// ---------------------------------------------------------------------------
// v2 (Universal Bridge / Payments): thirdweb SDK 5.121.6 `src/bridge/Webhook.ts`
// ---------------------------------------------------------------------------
//
// Read leniently from the JSON value, member by member: a member of an
// unexpected type only leaves its normalized field empty (it stays in
// `raw`); only a body without an order id or status is unparsed.

pub const V2_ONCHAIN: &str = "pay.onchain-transaction";
pub const V2_ONRAMP: &str = "pay.onramp-transaction";

/// A non-empty string member, or a number's JSON text (ids sent as numbers).
fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string member only.
fn string(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `token.decimals`: a JSON integer or a string of digits (the SDK coerces
/// it with `Number()`).
fn token_decimals(token: &serde_json::Value) -> Option<u32> {
    match token.get("decimals")? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|d| u32::try_from(d).ok()),
        serde_json::Value::String(s) => parse_small_uint(s.trim()),
        _ => None,
    }
}

fn parse_small_uint(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An amount in base units as thirdweb sends it (a decimal string, read by
/// the SDK as a bigint; a JSON integer is taken too), as its digits.
/// `Err(())` when the member is there but is not a non-negative integer.
fn base_units(v: &serde_json::Value, key: &str) -> Result<Option<String>, ()> {
    let s = match v.get(key) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => return Err(()),
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(s))
    } else {
        Err(())
    }
}

fn v2_status(s: &str) -> Status {
    match s {
        "PENDING" => Status::Processing,
        "COMPLETED" => Status::Completed,
        "FAILED" => Status::Failed,
        _ => Status::Unknown,
    }
}

/// `base_units / 10^decimals` as an exact decimal string, by string
/// arithmetic (no floats, no overflow): `("1500000", 6)` → `"1.5"`.
/// `None` when `base_units` is not a plain non-negative integer or
/// `decimals` is implausible (over 255).
pub fn base_units_to_decimal(base_units: &str, decimals: u32) -> Option<String> {
    if base_units.is_empty() || !base_units.bytes().all(|b| b.is_ascii_digit()) || decimals > 255 {
        return None;
    }
    let digits = base_units.trim_start_matches('0');
    let d = decimals as usize;
    let (int, frac) = if digits.len() > d {
        digits.split_at(digits.len() - d)
    } else {
        ("", digits)
    };
    let int = if int.is_empty() { "0" } else { int };
    let pad = d.saturating_sub(frac.len());
    let frac = format!("{}{frac}", "0".repeat(pad));
    let frac = frac.trim_end_matches('0');
    Some(if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    })
}

/// The crypto leg of a v2 body: `amount_key` (base units) of `token_key`
/// (`{address, chainId, decimals, name, priceUsd, symbol}`), converted
/// exactly to token units with `token.decimals`. Without usable decimals the
/// base units are kept and the event is flagged `base_units`; an amount that
/// is not a non-negative integer is left out and flagged `unreadable_amount`.
/// `network` is the `chainId` as decimal text (`"8453"`): payhook keeps no
/// table of chain names.
fn v2_crypto(
    data: &serde_json::Value,
    amount_key: &str,
    token_key: &str,
    flags: &mut Vec<String>,
) -> Option<Crypto> {
    let token = data.get(token_key).filter(|t| t.is_object());
    let units = base_units(data, amount_key).unwrap_or_else(|()| {
        flags.push("unreadable_amount".to_owned());
        None
    });
    if units.is_none() && token.is_none() {
        return None;
    }
    let amount = units.map(|u| {
        match token
            .and_then(token_decimals)
            .and_then(|d| base_units_to_decimal(&u, d))
        {
            Some(exact) => exact,
            None => {
                flags.push("base_units".to_owned());
                u
            }
        }
    });
    Some(Crypto {
        amount,
        currency: token.and_then(|t| string(t, "symbol")),
        network: token.and_then(|t| text(t, "chainId")),
    })
}

/// Which v2 product a body is, from `type`, else (no or unknown `type`)
/// from which id the data carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V2Kind {
    Onchain,
    Onramp,
}

fn v2(body: &serde_json::Value) -> Result<Parts, Unparsed> {
    let d = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| Unparsed::field("data"))?;
    let kind = body.get("type").and_then(serde_json::Value::as_str);
    let known_type = matches!(kind, None | Some(V2_ONCHAIN) | Some(V2_ONRAMP));
    // `paymentId` is the SDK's onchain id; thirdweb's docs example also
    // carries a `transactionId`, taken when `paymentId` is absent.
    let onchain_id = || text(d, "paymentId").or_else(|| text(d, "transactionId"));
    let (kind, order_id) = match kind {
        Some(V2_ONCHAIN) => (V2Kind::Onchain, onchain_id()),
        Some(V2_ONRAMP) => (V2Kind::Onramp, text(d, "id")),
        _ => match (onchain_id(), text(d, "id")) {
            (Some(id), _) => (V2Kind::Onchain, Some(id)),
            (None, Some(id)) => (V2Kind::Onramp, Some(id)),
            (None, None) => (V2Kind::Onchain, None),
        },
    };
    let order_id = order_id.ok_or_else(|| {
        Unparsed::field(match kind {
            V2Kind::Onchain => "data.paymentId",
            V2Kind::Onramp => "data.id",
        })
    })?;
    let raw_status = string(d, "status").ok_or_else(|| Unparsed::field("data.status"))?;
    // An unknown `type` is recorded, never acted on.
    let status = if known_type {
        v2_status(&raw_status)
    } else {
        Status::Unknown
    };
    let mut flags = Vec::new();
    let mut tx_hashes = Vec::new();
    let (product, fiat, crypto) = match kind {
        V2Kind::Onchain => {
            // `transactions: [{chainId, transactionHash}]`, origin then
            // destination side.
            for t in d
                .get("transactions")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                push_unique(&mut tx_hashes, string(t, "transactionHash"));
            }
            // What the receiver got. The origin leg (`originToken`,
            // `originAmount`), `action` and the developer fee stay in `raw`.
            let crypto = v2_crypto(d, "destinationAmount", "destinationToken", &mut flags);
            ("bridge", None, crypto)
        }
        V2Kind::Onramp => {
            push_unique(&mut tx_hashes, string(d, "transactionHash"));
            // `currencyAmount` (a JSON number) in `currency` is what the
            // buyer paid; the docs example's currency is a token symbol
            // (USDC), kept as sent.
            let amount = match d.get("currencyAmount") {
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
                _ => None,
            }
            .filter(|a| is_decimal(a));
            let currency = string(d, "currency");
            let fiat =
                (amount.is_some() || currency.is_some()).then_some(Fiat { amount, currency });
            let crypto = v2_crypto(d, "amount", "token", &mut flags);
            ("onramp", fiat, crypto)
        }
    };
    let failure = (status == Status::Failed).then(|| Failure {
        code: Some("failed".to_owned()),
        reason: None,
    });
    Ok(Parts {
        product,
        provider_event: raw_status,
        status,
        order_id,
        occurred_at: None,
        fiat,
        crypto,
        // The paying wallet; `receiver` when there is no `sender` (it is
        // optional on onramp bodies).
        wallet: string(d, "sender").or_else(|| string(d, "receiver")),
        tx_hashes,
        failure,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::NotMapped;
    use crate::providers::test_support::{at, verify_at};

    const SECRET: &str = "test-thirdweb-secret";
    const T0: i64 = 1_750_000_000;
    /// Known answer, computed outside Rust:
    /// `printf '%s' '1750000000.{KAT_BODY}' | openssl dgst -sha256 -hmac test-thirdweb-secret`
    const KAT_BODY: &str = r#"{"data":{"buyWithFiatStatus":{"intentId":"i-1","status":"NONE"}}}"#;
    const KAT_SIG: &str = "6ad7c0ff6e42579d0d47e99be75ed9467c16d3677cec4bdaaef77f0253372fca";

    fn provider(secrets: &str) -> Thirdweb {
        Thirdweb::new(
            SecretList::parse(secrets).unwrap_or_else(|e| panic!("{e}")),
            Duration::from_secs(300),
        )
    }

    fn verify_with(
        p: &Thirdweb,
        body: &str,
        headers: &[(&str, &str)],
        now: i64,
    ) -> Result<Verified, NotMapped> {
        verify_at(p, body.as_bytes(), headers, &[], now)
    }

    /// Sign with `signer` at `signed_at`, verify with the test provider at `now`.
    fn roundtrip(
        signer: &Thirdweb,
        body: &str,
        signed_at: i64,
        now: i64,
    ) -> Result<Verified, NotMapped> {
        let s = signer
            .sign(body.as_bytes(), at(signed_at))
            .unwrap_or_else(|e| panic!("{e}"));
        let headers: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        verify_with(&provider(SECRET), body, &headers, now)
    }

    fn normalize(body: &str) -> Result<Normalized, NotMapped> {
        let v = roundtrip(&provider(SECRET), body, T0, T0)?;
        Ok(provider(SECRET).normalize(v, at(T0))?)
    }

    fn ok(body: &str) -> Normalized {
        normalize(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn kind<E: Into<NotMapped>>(r: Result<impl std::fmt::Debug, E>) -> (u16, &'static str, String) {
        match r.map_err(Into::into) {
            Ok(v) => panic!("expected a rejection, got {v:?}"),
            Err(NotMapped::Rejected(e)) => (e.status.as_u16(), e.kind, e.reason.into_owned()),
            Err(NotMapped::Unparsed(u)) => (200, u.reason.as_str(), u.to_string()),
        }
    }

    #[test]
    fn known_answer_vector() {
        let p = provider(SECRET);
        let hs = [
            ("x-pay-signature", KAT_SIG),
            ("x-pay-timestamp", "1750000000"),
        ];
        assert!(verify_with(&p, KAT_BODY, &hs, T0).is_ok());
        let s = p
            .sign(KAT_BODY.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.headers
                .contains(&("x-pay-signature".to_owned(), KAT_SIG.to_owned()))
        );
        assert!(
            s.headers
                .contains(&("x-pay-timestamp".to_owned(), "1750000000".to_owned()))
        );
        assert!(s.params.is_empty());
        assert_eq!(s.body, KAT_BODY.as_bytes());
    }

    #[test]
    fn v2_bodies_are_signed_with_v2_headers_and_both_names_verify() {
        let body = r#"{"version":2,"data":{"id":"x","status":"PENDING"}}"#;
        let s = provider(SECRET)
            .sign(body.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = s.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"x-payload-signature") && names.contains(&"x-timestamp"));
        assert!(roundtrip(&provider(SECRET), body, T0, T0).is_ok());
        // A v2 body under the v1 header names (and mixed) verifies too.
        let sig = sign_hmac_sha256_hex(
            &crate::secret::Secret::new(SECRET),
            &[b"1750000000.", body.as_bytes()],
        );
        let p = provider(SECRET);
        assert!(
            verify_with(
                &p,
                body,
                &[("x-pay-signature", &sig), ("x-pay-timestamp", "1750000000")],
                T0
            )
            .is_ok()
        );
        assert!(
            verify_with(
                &p,
                body,
                &[
                    ("x-payload-signature", &sig),
                    ("x-pay-timestamp", "1750000000")
                ],
                T0
            )
            .is_ok()
        );
    }

    #[test]
    fn tampered_body_wrong_secret_and_rotation() {
        let p = provider(SECRET);
        let hs = [
            ("x-pay-signature", KAT_SIG),
            ("x-pay-timestamp", "1750000000"),
        ];
        let tampered = KAT_BODY.replace("NONE", "ON_RAMP_TRANSFER_COMPLETED");
        assert_eq!(kind(verify_with(&p, &tampered, &hs, T0)).1, "bad_signature");
        // Timestamp is signed: changing it breaks the signature.
        let hs2 = [
            ("x-pay-signature", KAT_SIG),
            ("x-pay-timestamp", "1750000001"),
        ];
        assert_eq!(kind(verify_with(&p, KAT_BODY, &hs2, T0)).1, "bad_signature");
        assert_eq!(
            kind(roundtrip(&provider("another-secret"), KAT_BODY, T0, T0)).0,
            401
        );
        // Rotation: the verifier accepts every configured secret.
        let rotated = provider("new-secret,test-thirdweb-secret");
        assert!(verify_with(&rotated, KAT_BODY, &hs, T0).is_ok());
        let s = rotated
            .sign(KAT_BODY.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !s.headers.iter().any(|(_, v)| v == KAT_SIG),
            "signs with the newest secret"
        );
    }

    #[test]
    fn upper_case_and_malformed_signatures_are_refused() {
        let p = provider(SECRET);
        let upper = KAT_SIG.to_uppercase();
        for sig in [upper.as_str(), &KAT_SIG[..63], "", "sha256=00"] {
            let r = verify_with(
                &p,
                KAT_BODY,
                &[("x-pay-signature", sig), ("x-pay-timestamp", "1750000000")],
                T0,
            );
            assert_eq!(kind(r).0, 401, "{sig:?}");
        }
    }

    #[test]
    fn timestamps_just_inside_and_outside_the_window() {
        let p = provider(SECRET);
        let tol = 300;
        for (skew, want) in [
            (0, None),
            (tol - 1, None),
            (tol, None),
            (tol + 1, Some("stale_timestamp")),
            (-(tol - 1), None),
            (-tol, None),
            (-(tol + 1), Some("future_timestamp")),
        ] {
            // Signed at T0 - skew, checked at T0.
            let r = roundtrip(&p, KAT_BODY, T0 - skew, T0);
            match want {
                None => assert!(r.is_ok(), "skew {skew}: {r:?}"),
                Some(k) => assert_eq!(kind(r).1, k, "skew {skew}"),
            }
        }
    }

    #[test]
    fn bad_timestamps_and_missing_headers_are_401() {
        let p = provider(SECRET);
        for ts in [
            "",
            "+1750000000",
            "1750000000.0",
            "1.75e9",
            "-5",
            "abc",
            "1750000000000000",
        ] {
            let sig = sign_hmac_sha256_hex(
                &crate::secret::Secret::new(SECRET),
                &[ts.as_bytes(), b".", KAT_BODY.as_bytes()],
            );
            let r = verify_with(
                &p,
                KAT_BODY,
                &[("x-pay-signature", &sig), ("x-pay-timestamp", ts)],
                T0,
            );
            assert_eq!(kind(r).0, 401, "{ts:?}");
        }
        assert_eq!(
            kind(verify_with(&p, KAT_BODY, &[], T0)).1,
            "missing_signature"
        );
        assert_eq!(
            kind(verify_with(
                &p,
                KAT_BODY,
                &[("x-pay-signature", KAT_SIG)],
                T0
            ))
            .1,
            "missing_signature"
        );
        assert_eq!(
            kind(verify_with(
                &p,
                KAT_BODY,
                &[("x-pay-timestamp", "1750000000")],
                T0
            ))
            .1,
            "missing_signature"
        );
    }

    #[test]
    fn repeated_or_comma_joined_headers_are_refused() {
        let p = provider(SECRET);
        let joined = format!("{KAT_SIG},{KAT_SIG}");
        let cases: [&[(&str, &str)]; 4] = [
            &[
                ("x-pay-signature", KAT_SIG),
                ("x-pay-signature", KAT_SIG),
                ("x-pay-timestamp", "1750000000"),
            ],
            &[
                ("x-pay-signature", &joined),
                ("x-pay-timestamp", "1750000000"),
            ],
            &[
                ("x-pay-signature", KAT_SIG),
                ("x-pay-timestamp", "1750000000"),
                ("x-pay-timestamp", "1750000000"),
            ],
            // A repeated v2 header is not replaced by a valid v1 one.
            &[
                ("x-payload-signature", "a"),
                ("x-payload-signature", "b"),
                ("x-pay-signature", KAT_SIG),
                ("x-pay-timestamp", "1750000000"),
            ],
        ];
        for hs in cases {
            assert_eq!(kind(verify_with(&p, KAT_BODY, hs, T0)).0, 401, "{hs:?}");
        }
    }

    #[test]
    fn versions_and_shapes() {
        // Authentic but unmappable: kept (200) as unparsed, with the reason.
        for (body, want) in [
            (
                r#"{"version":1,"type":"pay.onchain-transaction","data":{"transactionId":"t","status":"COMPLETED"}}"#,
                "unsupported_version",
            ),
            (
                r#"{"data":{"someField":"value"},"type":"pay.onchain-transaction","version":1}"#,
                "unsupported_version",
            ),
            (r#"{"version":1,"data":{}}"#, "unsupported_version"),
            (r#"{"version":3,"data":{}}"#, "unsupported_version"),
            (r#"{"data":{},"version":3}"#, "unsupported_version"),
            (r#"{"version":"2","data":{}}"#, "unsupported_version"),
            (r#"{"data":{"somethingElse":{}}}"#, "bad_shape"),
            (r#"{"data":{"transactionId":"tx123"}}"#, "bad_shape"),
            (r#""not-an-object""#, "bad_shape"),
            (r#"{"data":"#, "not_json"),
            ("invalid-json", "not_json"),
            (r#"{"version":2,"version":2,"data":{}}"#, "duplicate_key"),
        ] {
            let (status, reason, why) = kind(normalize(body));
            assert_eq!((status, reason), (200, want), "{body}: {why}");
        }
        // A legacy Pay body that says `"version": 1` (no `type`) is Pay.
        let n =
            ok(r#"{"version":1,"data":{"buyWithFiatStatus":{"intentId":"i-1","status":"NONE"}}}"#);
        assert_eq!(
            (n.event.order_id.as_str(), n.event.status),
            ("i-1", Status::Created)
        );
    }

    fn fiat_body(status: &str) -> String {
        serde_json::json!({"data": {"buyWithFiatStatus": {
            "intentId": "f4cf8ab7-bb62-4b3b-a180-70fc7d72446c",
            "status": status,
            "toAddress": "0xebfb127320fcbe8e07e5a03a4bfb782219f4735b",
            "quote": {
                "fromCurrency": {"amount": "2.79", "currencySymbol": "USD", "decimals": 2},
                "fromCurrencyWithFees": {"amount": "2.94", "currencySymbol": "USD", "decimals": 2},
                "toToken": {"chainId": 137, "symbol": "MATIC", "decimals": 18},
                "estimatedToTokenAmount": "5"
            },
            "source": {
                "completedAt": "2024-06-18T23:49:00.347Z",
                "amount": "5",
                "token": {"chainId": 137, "symbol": "MATIC", "decimals": 18},
                "transactionHash": "0x4bb089f6a60b49235a817b52bf39bc078f1246df15731b85837526bb62cf4e70"
            }
        }}})
        .to_string()
    }

    #[test]
    fn every_fiat_status() {
        let table = [
            ("NONE", Status::Created),
            ("PENDING_PAYMENT", Status::Pending),
            ("PENDING_ON_RAMP_TRANSFER", Status::Processing),
            ("ON_RAMP_TRANSFER_IN_PROGRESS", Status::Processing),
            ("CRYPTO_SWAP_REQUIRED", Status::Processing),
            ("CRYPTO_SWAP_IN_PROGRESS", Status::Processing),
            ("PENDING_CRYPTO_SWAP", Status::Processing),
            ("ON_RAMP_TRANSFER_COMPLETED", Status::Completed),
            ("CRYPTO_SWAP_COMPLETED", Status::Completed),
            ("CRYPTO_SWAP_FALLBACK", Status::Completed),
            ("PAYMENT_FAILED", Status::Failed),
            ("ON_RAMP_TRANSFER_FAILED", Status::Failed),
            ("CRYPTO_SWAP_FAILED", Status::Failed),
            ("NOT_FOUND", Status::Unknown),
            ("SOMETHING_NEW", Status::Unknown),
        ];
        for (s, want) in table {
            let n = ok(&fiat_body(s));
            let e = &n.event;
            assert_eq!(e.status, want, "{s}");
            assert_eq!(e.provider_event, s);
            assert_eq!(e.product, "onramp");
            assert_eq!(e.order_id, "f4cf8ab7-bb62-4b3b-a180-70fc7d72446c");
            assert_eq!(
                n.dedupe_key,
                format!("f4cf8ab7-bb62-4b3b-a180-70fc7d72446c\n{s}")
            );
            assert_eq!(
                e.flags.contains(&"fallback_token".to_owned()),
                s == "CRYPTO_SWAP_FALLBACK"
            );
            assert_eq!(e.failure.is_some(), want == Status::Failed, "{s}");
        }
    }

    #[test]
    fn fiat_fields() {
        let e = ok(&fiat_body("ON_RAMP_TRANSFER_COMPLETED")).event;
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.amount.as_deref()),
            Some("2.94")
        );
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.currency.as_deref()),
            Some("USD")
        );
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("5"), Some("MATIC"), Some("137"))
        );
        assert_eq!(
            e.wallet.as_deref(),
            Some("0xebfb127320fcbe8e07e5a03a4bfb782219f4735b")
        );
        assert_eq!(
            e.tx_hashes,
            vec!["0x4bb089f6a60b49235a817b52bf39bc078f1246df15731b85837526bb62cf4e70"]
        );
        assert_eq!(
            e.occurred_at.map(|t| t.unix_timestamp()),
            Some(1_718_754_540)
        );
        let f = ok(&fiat_body("PAYMENT_FAILED")).event.failure;
        assert_eq!(f.and_then(|f| f.code).as_deref(), Some("payment_failed"));
    }

    fn crypto_body(status: &str, sub: Option<&str>) -> String {
        let mut v = serde_json::json!({"data": {"buyWithCryptoStatus": {
            "quote": {
                "toToken": {"chainId": 8453, "symbol": "USDC", "decimals": 6},
                "toAmount": "10.5"
            },
            "swapType": "CROSS_CHAIN",
            "source": {
                "transactionHash": "0x9a1d3f7c2b6e8d0a4c5b7e9f1a3c5d7e9b0a2c4d6e8f0a1b3c5d7e9f1a2b3c4d",
                "amount": "0.0042",
                "token": {"chainId": 1, "symbol": "ETH", "decimals": 18}
            },
            "status": status,
            "fromAddress": "0x1111111111111111111111111111111111111111",
            "toAddress": "0x2222222222222222222222222222222222222222"
        }}});
        if let Some(s) = sub {
            v["data"]["buyWithCryptoStatus"]["subStatus"] = serde_json::Value::from(s);
        }
        v.to_string()
    }

    #[test]
    fn every_crypto_status() {
        let order = "0x9a1d3f7c2b6e8d0a4c5b7e9f1a3c5d7e9b0a2c4d6e8f0a1b3c5d7e9f1a2b3c4d";
        let table = [
            ("PENDING", None, Status::Processing, "PENDING", None),
            (
                "PENDING",
                Some("WAITING_BRIDGE"),
                Status::Processing,
                "PENDING:WAITING_BRIDGE",
                None,
            ),
            ("COMPLETED", None, Status::Completed, "COMPLETED", None),
            (
                "COMPLETED",
                Some("NONE"),
                Status::Completed,
                "COMPLETED",
                None,
            ),
            (
                "COMPLETED",
                Some("SUCCESS"),
                Status::Completed,
                "COMPLETED:SUCCESS",
                None,
            ),
            (
                "COMPLETED",
                Some("PARTIAL_SUCCESS"),
                Status::Completed,
                "COMPLETED:PARTIAL_SUCCESS",
                Some("partial"),
            ),
            ("FAILED", None, Status::Failed, "FAILED", None),
            (
                "FAILED",
                Some("REVERTED_ON_CHAIN"),
                Status::Failed,
                "FAILED:REVERTED_ON_CHAIN",
                None,
            ),
            (
                "FAILED",
                Some("REFUNDED"),
                Status::Refunded,
                "FAILED:REFUNDED",
                None,
            ),
            (
                "COMPLETED",
                Some("REFUNDED"),
                Status::Refunded,
                "COMPLETED:REFUNDED",
                None,
            ),
            (
                "FAILED",
                Some("UNKNOWN_ERROR"),
                Status::Failed,
                "FAILED:UNKNOWN_ERROR",
                None,
            ),
            ("NOT_FOUND", None, Status::Unknown, "NOT_FOUND", None),
            ("NONE", None, Status::Unknown, "NONE", None),
        ];
        for (s, sub, want, event, flag) in table {
            let n = ok(&crypto_body(s, sub));
            let e = &n.event;
            assert_eq!(e.status, want, "{s} {sub:?}");
            assert_eq!(e.provider_event, event);
            assert_eq!(n.dedupe_key, format!("{order}\n{event}"));
            assert_eq!(e.product, "bridge");
            assert_eq!(e.order_id, order);
            assert_eq!(
                e.flags,
                flag.map(str::to_owned).into_iter().collect::<Vec<_>>()
            );
        }
        let e = ok(&crypto_body("FAILED", Some("REVERTED_ON_CHAIN"))).event;
        assert_eq!(
            e.failure.and_then(|f| f.code).as_deref(),
            Some("reverted_on_chain")
        );
        let c = e.crypto.unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("10.5"), Some("USDC"), Some("8453"))
        );
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x2222222222222222222222222222222222222222")
        );
    }

    const V2_ONRAMP_SAMPLE: &str = r#"{"version":2,"type":"pay.onramp-transaction","data":{"id":"d5d33244-f855-441d-af62-4593094a3eb1","onramp":"stripe","token":{"chainId":8453,"address":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","symbol":"USDC","name":"USD Coin","decimals":6,"priceUsd":0.99995},"amount":"5100000","currency":"USDC","currencyAmount":5.36,"receiver":"0xa5a4...f098","status":"PENDING","purchaseData":null}}"#;

    fn onchain_body(status: &str, with_type: bool) -> String {
        let mut v = serde_json::json!({"version": 2, "type": "pay.onchain-transaction", "data": {
            "transactionId": "0x5e2c8d1f0a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",
            "paymentId": "pay_01HZX3",
            "clientId": "c0ffee",
            "action": "BUY",
            "status": status,
            "originToken": {"chainId": 1, "address": "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "symbol": "ETH", "decimals": 18},
            "originAmount": "1500000000000000",
            "destinationToken": {"chainId": 8453, "address": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "symbol": "USDC", "decimals": 6},
            "destinationAmount": "4990000",
            "sender": "0x1111111111111111111111111111111111111111",
            "receiver": "0x2222222222222222222222222222222222222222",
            "transactions": [
                {"chainId": 1, "transactionHash": "0x5e2c8d1f0a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
                {"chainId": 8453, "transactionHash": "0x7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"}
            ],
            "purchaseData": {"orderId": "shop-42"}
        }});
        if !with_type && let Some(m) = v.as_object_mut() {
            m.remove("type");
        }
        v.to_string()
    }

    #[test]
    fn every_v2_status_for_both_types() {
        for (s, want) in [
            ("PENDING", Status::Processing),
            ("COMPLETED", Status::Completed),
            ("FAILED", Status::Failed),
            ("CREATED", Status::Unknown),
        ] {
            for with_type in [true, false] {
                let n = ok(&onchain_body(s, with_type));
                assert_eq!(
                    (n.event.status, n.event.product.as_str()),
                    (want, "bridge"),
                    "{s}"
                );
                assert_eq!(n.event.provider_event, s);
                assert!(n.dedupe_key.ends_with(&format!("\n{s}")));
                let body = V2_ONRAMP_SAMPLE.replace("\"PENDING\"", &format!("\"{s}\""));
                let body = if with_type {
                    body
                } else {
                    body.replace(r#""type":"pay.onramp-transaction","#, "")
                };
                let n = ok(&body);
                assert_eq!(
                    (n.event.status, n.event.product.as_str()),
                    (want, "onramp"),
                    "{s}"
                );
                assert_eq!(
                    n.dedupe_key,
                    format!("d5d33244-f855-441d-af62-4593094a3eb1\n{s}")
                );
            }
        }
        // An unknown type is recorded as unknown whatever its status.
        let body =
            onchain_body("COMPLETED", true).replace("pay.onchain-transaction", "pay.new-thing");
        assert_eq!(ok(&body).event.status, Status::Unknown);
    }

    #[test]
    fn v2_fields_and_exact_amounts() {
        let e = ok(V2_ONRAMP_SAMPLE).event;
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("5.1"), Some("USDC"), Some("8453"))
        );
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.amount.as_deref()),
            Some("5.36")
        );
        assert_eq!(e.wallet.as_deref(), Some("0xa5a4...f098"));
        assert!(e.flags.is_empty());
        let e = ok(&onchain_body("COMPLETED", true)).event;
        // `paymentId` is the order id, also when `transactionId` is there.
        assert_eq!(e.order_id, "pay_01HZX3");
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x1111111111111111111111111111111111111111")
        );
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("4.99")
        );
        assert_eq!(e.tx_hashes.len(), 2);
        // Without `decimals` the base units are kept and flagged.
        let body = V2_ONRAMP_SAMPLE.replace(r#""decimals":6,"#, "");
        let e = ok(&body).event;
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("5100000")
        );
        assert_eq!(e.flags, vec!["base_units".to_owned()]);
    }

    #[test]
    fn base_units_conversion_is_exact() {
        for (units, d, want) in [
            ("5100000", 6, Some("5.1")),
            ("1500000", 6, Some("1.5")),
            ("24794905", 6, Some("24.794905")),
            ("10", 18, Some("0.00000000000000001")),
            ("1000000", 6, Some("1")),
            ("1", 0, Some("1")),
            ("0", 6, Some("0")),
            ("000", 0, Some("0")),
            ("100", 0, Some("100")),
            ("1", 18, Some("0.000000000000000001")),
            ("5000000000000000000", 18, Some("5")),
            (
                "123456789012345678901234567890",
                18,
                Some("123456789012.34567890123456789"),
            ),
            ("00100", 2, Some("1")),
            ("", 2, None),
            ("-1", 2, None),
            ("1.5", 2, None),
            ("1", 256, None),
        ] {
            assert_eq!(
                base_units_to_decimal(units, d).as_deref(),
                want,
                "{units} {d}"
            );
        }
    }

    #[test]
    fn missing_fields_name_the_field() {
        for (body, field) in [
            (
                r#"{"data":{"buyWithFiatStatus":{"status":"NONE"}}}"#,
                "data.buyWithFiatStatus.intentId",
            ),
            (
                r#"{"data":{"buyWithFiatStatus":{"intentId":"i"}}}"#,
                "data.buyWithFiatStatus.status",
            ),
            (
                r#"{"data":{"buyWithCryptoStatus":{"status":"PENDING"}}}"#,
                "data.buyWithCryptoStatus.source.transactionHash",
            ),
            (
                r#"{"data":{"buyWithCryptoStatus":{"source":{"transactionHash":"0x1"}}}}"#,
                "data.buyWithCryptoStatus.status",
            ),
            (
                r#"{"version":2,"type":"pay.onchain-transaction","data":{"status":"PENDING"}}"#,
                "data.paymentId",
            ),
            (
                r#"{"version":2,"type":"pay.onramp-transaction","data":{"status":"PENDING"}}"#,
                "data.id",
            ),
            (
                r#"{"version":2,"data":{"status":"PENDING"}}"#,
                "data.paymentId",
            ),
            (
                r#"{"version":2,"type":"pay.onchain-transaction","data":{"id":"x","status":"PENDING"}}"#,
                "data.paymentId",
            ),
            (
                r#"{"version":2,"type":"pay.onchain-transaction","data":{"paymentId":"p","status":7}}"#,
                "data.status",
            ),
            (
                r#"{"version":2,"type":"pay.onchain-transaction","data":{"paymentId":{},"transactionId":""}}"#,
                "data.paymentId",
            ),
            (
                r#"{"data":{"transactionId":"tx123"},"version":2}"#,
                "data.status",
            ),
            (r#"{"version":2,"data":{"id":"x"}}"#, "data.status"),
            (r#"{"version":2}"#, "data"),
            (r#"{"version":2,"data":[]}"#, "data"),
        ] {
            // Authentic: kept as unparsed (200), naming the member.
            let (s, reason, why) = kind(normalize(body));
            assert_eq!((s, reason), (200, "missing_field"), "{body}: {why}");
            assert!(why.contains(&format!("`{field}`")), "{body}: {why}");
        }
    }

    /// A committed fixture of `events/thirdweb/`: its body and headers.
    fn fixture(file: &str) -> (String, Vec<(String, String)>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/thirdweb")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ev: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let body = ev["body"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: body"));
        let headers = ev["headers"]
            .as_object()
            .unwrap_or_else(|| panic!("{file}: headers"))
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        (body.to_owned(), headers)
    }

    /// payhook agrees with thirdweb's own `Bridge.Webhook.parse` (npm
    /// `thirdweb` 5.121.6) on every v2 fixture: `scripts/thirdweb-sdk/
    /// RESULT.json` is what `check.mjs` recorded the SDK parsing. Where the
    /// SDK accepted a body, payhook maps it to the same order id and status;
    /// where the SDK refused it (after its signature check passed), payhook
    /// still keeps it (authentic means kept), mapped or unparsed.
    #[test]
    fn sdk_agreement() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts/thirdweb-sdk/RESULT.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let result: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(result["sdk"], "thirdweb@5.121.6");
        let rows = result["results"].as_array().cloned().unwrap_or_default();
        let mut accepted = 0;
        for r in &rows {
            let file = r["file"].as_str().unwrap_or_default();
            let (body, headers) = fixture(file);
            let hs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let p = provider(SECRET);
            let got = verify_with(&p, &body, &hs, T0).and_then(|v| Ok(p.normalize(v, at(T0))?));
            if r["accepted"] == true {
                accepted += 1;
                let n = got.unwrap_or_else(|e| panic!("{file}: SDK accepted, payhook: {e}"));
                let sdk_status = r["status"].as_str().unwrap_or_default();
                assert_eq!(
                    n.event.order_id,
                    r["id"].as_str().unwrap_or_default(),
                    "{file}"
                );
                assert_eq!(n.event.provider_event, sdk_status, "{file}");
                assert_eq!(n.event.status, v2_status(sdk_status), "{file}");
                let product = match r["type"].as_str() {
                    Some(V2_ONCHAIN) => "bridge",
                    _ => "onramp",
                };
                assert_eq!(n.event.product, product, "{file}");
            } else {
                // Refused by the SDK's schema, never by its signature check:
                // payhook answers 200 and keeps it.
                let err = r["error"].as_str().unwrap_or_default();
                assert!(!err.contains("signature"), "{file}: {err}");
                if let Err(e) = got {
                    assert_eq!(kind(Err::<(), _>(e)).0, 200, "{file}");
                }
            }
        }
        assert!(
            accepted >= 8 && rows.len() >= 20,
            "{accepted} of {}",
            rows.len()
        );
    }

    #[test]
    fn sdk_test_payloads() {
        // thirdweb 5.121.6 src/bridge/Webhook.test.ts `validPayload`.
        let (body, _) = fixture("sdk-test-onchain.json");
        let n = ok(&body);
        let e = &n.event;
        assert_eq!(
            (e.order_id.as_str(), e.status),
            ("pay123", Status::Completed)
        );
        assert_eq!(n.dedupe_key, "pay123\nCOMPLETED");
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        // 10 base units of an 18-decimals token.
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("0.00000000000000001"), Some("TKN"), Some("1"))
        );
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x1234567890123456789012345678901234567890")
        );
        // Both transactions carry the same hash: listed once.
        assert_eq!(
            e.tx_hashes,
            vec!["0x1234567890123456789012345678901234567890"]
        );
        assert!(e.flags.is_empty());
        // The developer fee stays in raw.
        assert_eq!(e.raw["data"]["developerFeeBps"], 100);
        // `onrampPayload`.
        let (body, _) = fixture("sdk-test-onramp.json");
        let e = ok(&body).event;
        assert_eq!(
            (e.order_id.as_str(), e.product.as_str()),
            ("onramp123", "onramp")
        );
        assert_eq!(
            e.fiat
                .as_ref()
                .map(|f| (f.amount.as_deref(), f.currency.as_deref())),
            Some((Some("100"), Some("USD")))
        );
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("0.0000000000000001")
        );
        assert_eq!(e.tx_hashes.len(), 1);
    }

    #[test]
    fn docs_examples() {
        for file in ["docs-v2-onchain.json", "docs-v2-onchain-no-type.json"] {
            let (body, _) = fixture(file);
            let e = ok(&body).event;
            // `paymentId`, not the `transactionId` the example also has.
            assert_eq!(
                e.order_id, "0xbea711bf1da223b29b176cff7f01596834dd63c7ad85477a3504f4b9285b33a2",
                "{file}"
            );
            assert_eq!(
                (e.status, e.product.as_str()),
                (Status::Completed, "bridge")
            );
            let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
            assert_eq!(
                (
                    c.amount.as_deref(),
                    c.currency.as_deref(),
                    c.network.as_deref()
                ),
                (Some("24.794905"), Some("USDC"), Some("8453"))
            );
            assert_eq!(
                e.wallet.as_deref(),
                Some("0xb4523A0D69612B9A4629A70E42021B2F384CC8Fa")
            );
            assert_eq!(e.tx_hashes.len(), 2, "{file}");
        }
        for file in ["docs-v2-onramp.json", "docs-v2-onramp-no-type.json"] {
            let (body, _) = fixture(file);
            let e = ok(&body).event;
            assert_eq!(
                (e.order_id.as_str(), e.status, e.product.as_str()),
                (
                    "d5d33244-f855-441d-af62-4593094a3eb1",
                    Status::Processing,
                    "onramp"
                ),
                "{file}"
            );
            assert_eq!(
                e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
                Some("5.1")
            );
            assert_eq!(
                e.fiat.as_ref().and_then(|f| f.amount.as_deref()),
                Some("5.36")
            );
            assert_eq!(
                e.wallet.as_deref(),
                Some("0xa5a484Af10FF67257A06DDbf8DdE6A99a483f098")
            );
        }
        let (body, _) = fixture("docs-v1-crypto.json");
        let e = ok(&body).event;
        assert_eq!(
            (e.status, e.provider_event.as_str()),
            (Status::Completed, "COMPLETED:SUCCESS")
        );
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("1.1")
        );
    }

    #[test]
    fn v2_members_of_unexpected_types_are_tolerated() {
        let base = serde_json::json!({"version": 2, "type": V2_ONCHAIN, "data": {
            "paymentId": "p-1",
            "status": "COMPLETED",
            "destinationToken": {"chainId": "8453", "symbol": "USDC", "decimals": "6"},
            "destinationAmount": "1500000",
            "transactions": "not-an-array",
            "sender": 5,
            "receiver": "0x2222222222222222222222222222222222222222"
        }});
        let e = ok(&base.to_string()).event;
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (c.amount.as_deref(), c.network.as_deref()),
            (Some("1.5"), Some("8453"))
        );
        assert!(e.tx_hashes.is_empty());
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x2222222222222222222222222222222222222222")
        );
        // An amount as a JSON integer converts; one that is not a
        // non-negative integer is left out and flagged.
        for (amount, want, flag) in [
            (serde_json::json!(1500000), Some("1.5"), None),
            (
                serde_json::json!("0x16e360"),
                None,
                Some("unreadable_amount"),
            ),
            (serde_json::json!("-5"), None, Some("unreadable_amount")),
            (serde_json::json!(1.5), None, Some("unreadable_amount")),
            (serde_json::json!({}), None, Some("unreadable_amount")),
        ] {
            let mut b = base.clone();
            b["data"]["destinationAmount"] = amount.clone();
            let e = ok(&b.to_string()).event;
            assert_eq!(
                e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
                want,
                "{amount}"
            );
            assert_eq!(e.flags.first().map(String::as_str), flag, "{amount}");
        }
        // A currencyAmount that is no decimal number is left out.
        let body = V2_ONRAMP_SAMPLE.replace("5.36", r#""five""#);
        let e = ok(&body).event;
        assert_eq!(e.fiat.as_ref().and_then(|f| f.amount.clone()), None);
        // An id sent as a number is still the order id.
        let body =
            r#"{"version":2,"type":"pay.onramp-transaction","data":{"id":42,"status":"FAILED"}}"#;
        let e = ok(body).event;
        assert_eq!((e.order_id.as_str(), e.status), ("42", Status::Failed));
        assert_eq!(e.failure.and_then(|f| f.code).as_deref(), Some("failed"));
    }

    #[test]
    fn authentic_non_json_is_unreadable_not_refused() {
        for body in ["invalid-json", r#"{"data":"#, "\u{feff}{}"] {
            let (s, reason, why) = kind(normalize(body));
            assert_eq!((s, reason), (200, "not_json"), "{body:?}: {why}");
        }
        // Not authentic: still 401.
        let r = verify_with(
            &provider(SECRET),
            "invalid-json",
            &[
                ("x-pay-signature", KAT_SIG),
                ("x-pay-timestamp", "1750000000"),
            ],
            T0,
        );
        assert_eq!(kind(r).0, 401);
    }

    #[test]
    fn empty_signature_header_falls_back_like_the_sdk() {
        let p = provider(SECRET);
        let hs = [
            ("x-payload-signature", ""),
            ("x-timestamp", ""),
            ("x-pay-signature", KAT_SIG),
            ("x-pay-timestamp", "1750000000"),
        ];
        assert!(verify_with(&p, KAT_BODY, &hs, T0).is_ok());
        let hs = [("x-payload-signature", ""), ("x-timestamp", "1750000000")];
        assert_eq!(
            kind(verify_with(&p, KAT_BODY, &hs, T0)).1,
            "missing_signature"
        );
    }

    #[test]
    fn config_and_route() {
        let cfg = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        let e = Thirdweb::from_config(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("PAYHOOK_THIRDWEB_SECRETS"), "{e}");
        let cfg = Config::from_lookup(|k| match k {
            "PAYHOOK_THIRDWEB_SECRETS" => Some(SECRET.to_owned()),
            "PAYHOOK_THIRDWEB_TOLERANCE_SECS" => Some("10".to_owned()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let p = Thirdweb::from_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.route(), "/webhooks/thirdweb");
        let s = p
            .sign(KAT_BODY.as_bytes(), at(T0 - 11))
            .unwrap_or_else(|e| panic!("{e}"));
        let hs: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            kind(verify_with(&p, KAT_BODY, &hs, T0)).1,
            "stale_timestamp"
        );
    }
}
