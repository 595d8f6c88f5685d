//! Coinbase webhooks, both generations on `/webhooks/coinbase`: Coinbase
//! Commerce (legacy charges) and Coinbase Business / CDP webhooks (checkouts,
//! payment links, onramp and offramp), which Coinbase delivers through Hook0.
//! The signature header decides which scheme a request is checked under.
//!
//! # Verification
//!
//! | generation | header | signed bytes | time window |
//! |---|---|---|---|
//! | Commerce | `X-CC-Webhook-Signature: <hex>` | the raw body | none (Commerce signs no time) |
//! | CDP (Hook0) | `X-Hook0-Signature: t=…,v0=…,h=…,v1=…` | see below | `t` within the tolerance, both ways |
//!
//! Both are lowercase-hex HMAC-SHA256 under the UTF-8 bytes of the secret
//! (Commerce: `coinbase-commerce-node` `lib/Webhook.js`; Hook0: its sender,
//! `output-worker/src/work.rs`, and its clients' `Signature::verify`).
//!
//! The Hook0 header is a comma-separated list of `name=value` parts
//! (whitespace around names and values ignored, parts without `=` ignored,
//! unknown names ignored, a repeated known name refused): `t` the Unix time
//! in seconds, `v0` = HMAC of `"{t}.{body}"`, `h` the space-separated
//! lowercase names of the headers the `v1` code covers, `v1` = HMAC of
//! `"{t}.{h}.{values of those headers, in that order, joined by "."}.{body}"`.
//! As Hook0's own clients and conformance vectors (`clients/conformance/
//! signature.json`) do: `v1` decides when it is present (the weaker `v0`
//! beside it is not consulted, so a valid `v0` never rescues a wrong
//! `v1`), `v0` decides otherwise; every header `h` names must have been
//! delivered (once; a repeated one is refused), even when only `v0` is
//! signed; `t` is signed as the number it reads as. The signature is
//! checked before the clock, so an unauthenticated caller learns nothing
//! about the window.
//!
//! The Hook0 header legitimately contains commas, so it is read here rather
//! than with [`Inbound::single_header`]; a repeated header is refused. A
//! request carrying both signature headers is refused (no real delivery
//! does). Each generation has its own secrets, so a code Coinbase made
//! under one scheme cannot be replayed under the other.
//!
//! From then on the body is authentic: whatever its shape it is kept
//! (DESIGN.md step 4), as a mapped event or as an `unknown` event flagged
//! `unparsed`.
//!
//! # Normalization
//!
//! The body's shape decides (the scheme that proved it does not matter
//! once it is authentic):
//!
//! * A body with an `event` object is a Commerce delivery `{id,
//!   scheduled_for, attempt_number, event: {id, resource, type,
//!   api_version, created_at, data}}`. Dedupe key: `event.id`; fingerprint:
//!   the `event` object alone, so a retry (new `attempt_number`,
//!   `scheduled_for` and, per Coinbase's field table, possibly a new top
//!   `id`) of one event is a duplicate, not a conflict. Order id: the
//!   charge's `code` (in every Coinbase example), else its `id`.
//! * Anything else is a CDP body: flat, `eventType` plus the resource. The
//!   body's `id` names the checkout / payment link, not the event (Coinbase's
//!   samples carry the same `id` in the success, failed, expired and refund
//!   events of one checkout), and the event's own id travels only in the
//!   `X-Event-Id` header, which normalize does not see. Hook0 retries send
//!   the stored payload byte for byte, so the dedupe key is `eventType`,
//!   the resource id and the SHA-256 of the body: a retry is a duplicate,
//!   and two different events of one checkout are two events, never a 409.
//!
//! See `events/coinbase/README.md` for the status table.

use super::is_decimal;
use super::{Descriptor, Proof};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::providers::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, Verified, sha256,
};
use crate::rejection::Rejection;
use crate::secret::{SecretList, sign_hmac_sha256_hex};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Coinbase Business / CDP (Hook0) signature header.
pub const HOOK0_SIGNATURE_HEADER: &str = "x-hook0-signature";
/// Coinbase Commerce signature header.
pub const COMMERCE_SIGNATURE_HEADER: &str = "x-cc-webhook-signature";

impl ProviderId {
    pub const COINBASE: ProviderId = ProviderId::new("coinbase");
}

const SECRETS_SETTING: &str = "PAYHOOK_COINBASE_SECRETS";
const COMMERCE_SECRETS_SETTING: &str = "PAYHOOK_COINBASE_COMMERCE_SECRETS";
const TOLERANCE_SETTING: &str = "PAYHOOK_COINBASE_TOLERANCE_SECS";
const SIGN_SCHEME_SETTING: &str = "PAYHOOK_COINBASE_SIGN_SCHEME";

/// Coinbase's webhooks. `PAYHOOK_COINBASE_SECRETS` (the CDP webhook
/// subscriptions' secrets, newest first) turns them on;
/// `PAYHOOK_COINBASE_COMMERCE_SECRETS` (Commerce shared secrets) accepts
/// Commerce deliveries too, and alone turns the provider on for Commerce
/// only; `PAYHOOK_COINBASE_TOLERANCE_SECS` (default 300) bounds Hook0's `t`
/// both ways; `PAYHOOK_COINBASE_SIGN_SCHEME` (`auto`, `commerce`, `hook0`)
/// is how `payhook send` / `sign` sign.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::COINBASE,
    route: "/webhooks/coinbase",
    settings: &[
        SECRETS_SETTING,
        COMMERCE_SECRETS_SETTING,
        TOLERANCE_SETTING,
        SIGN_SCHEME_SETTING,
    ],
    build: |cfg| Ok(Arc::new(Coinbase::from_config(cfg)?)),
    dev_settings: |secret| {
        vec![
            (SECRETS_SETTING, secret("dev-coinbase")),
            (COMMERCE_SECRETS_SETTING, secret("dev-coinbase-commerce")),
        ]
    },
    // The older Commerce secret is the one of coinbase-commerce-node's
    // webhook test, so its signed payload verifies as published.
    test_settings: &[
        (
            SECRETS_SETTING,
            "test-coinbase-secret,test-coinbase-secret-old",
        ),
        (
            COMMERCE_SECRETS_SETTING,
            "test-coinbase-commerce-secret,30291a20-0bd1-4267-9b0f-e6e7b123c0bf",
        ),
    ],
    wrong_settings: &[
        (SECRETS_SETTING, "not-the-secret"),
        (COMMERCE_SECRETS_SETTING, "not-the-commerce-secret"),
    ],
    proof: Proof::Bytes,
};

/// Which scheme [`Coinbase::sign`] signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignScheme {
    /// A Commerce envelope (a JSON object with an `event` object) the
    /// Commerce way, anything else the Hook0 way (each only when its
    /// secrets are configured, else the other).
    Auto,
    Commerce,
    Hook0,
}

impl SignScheme {
    fn parse(v: Option<&str>) -> Result<Self, ConfigError> {
        match v.map(str::trim) {
            None | Some("auto") => Ok(SignScheme::Auto),
            Some("commerce") => Ok(SignScheme::Commerce),
            Some("hook0") | Some("cdp") => Ok(SignScheme::Hook0),
            Some(_) => Err(ConfigError::Invalid {
                name: SIGN_SCHEME_SETTING,
                why: "expected `auto`, `commerce` or `hook0`".into(),
            }),
        }
    }
}

/// The two schemes' secrets; at least one list is set.
#[derive(Debug, Clone)]
enum Keys {
    Hook0(SecretList),
    Commerce(SecretList),
    Both {
        hook0: SecretList,
        commerce: SecretList,
    },
}

impl Keys {
    fn hook0(&self) -> Option<&SecretList> {
        match self {
            Keys::Hook0(h) | Keys::Both { hook0: h, .. } => Some(h),
            Keys::Commerce(_) => None,
        }
    }

    fn commerce(&self) -> Option<&SecretList> {
        match self {
            Keys::Commerce(c) | Keys::Both { commerce: c, .. } => Some(c),
            Keys::Hook0(_) => None,
        }
    }
}

/// Coinbase Commerce and Coinbase Business / CDP webhooks.
#[derive(Debug, Clone)]
pub struct Coinbase {
    keys: Keys,
    tolerance: Duration,
    sign_scheme: SignScheme,
}

impl Coinbase {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let hook0 = cfg.secrets(SECRETS_SETTING)?;
        let commerce = cfg.secrets(COMMERCE_SECRETS_SETTING)?;
        let tolerance = Duration::from_secs(cfg.number(TOLERANCE_SETTING, 300)?);
        let sign_scheme = SignScheme::parse(cfg.value(SIGN_SCHEME_SETTING))?;
        let keys = match (hook0, commerce) {
            (Some(hook0), Some(commerce)) => Keys::Both { hook0, commerce },
            (Some(h), None) => Keys::Hook0(h),
            (None, Some(c)) => Keys::Commerce(c),
            (None, None) => {
                return Err(ConfigError::Missing {
                    name: SECRETS_SETTING,
                    hint: " (Coinbase Business / CDP webhook secrets, comma-separated, newest \
                           first; or PAYHOOK_COINBASE_COMMERCE_SECRETS for Coinbase Commerce)",
                });
            }
        };
        let p = Coinbase {
            keys,
            tolerance,
            sign_scheme,
        };
        // A forced signing scheme needs its secrets.
        match sign_scheme {
            SignScheme::Commerce if p.keys.commerce().is_none() => Err(ConfigError::Invalid {
                name: SIGN_SCHEME_SETTING,
                why: format!("`commerce` needs {COMMERCE_SECRETS_SETTING}"),
            }),
            SignScheme::Hook0 if p.keys.hook0().is_none() => Err(ConfigError::Invalid {
                name: SIGN_SCHEME_SETTING,
                why: format!("`hook0` needs {SECRETS_SETTING}"),
            }),
            _ => Ok(p),
        }
    }

    /// Both schemes, the default tolerance (300 s), signing `auto`.
    pub fn new(hook0: SecretList, commerce: SecretList, tolerance: Duration) -> Self {
        Coinbase {
            keys: Keys::Both { hook0, commerce },
            tolerance,
            sign_scheme: SignScheme::Auto,
        }
    }

    /// The same provider, signing with `scheme` (when its secrets are set).
    pub fn with_sign_scheme(mut self, scheme: SignScheme) -> Self {
        self.sign_scheme = scheme;
        self
    }

    fn verify_commerce(&self, req: &Inbound<'_>) -> Result<(), Rejection> {
        let secrets = self.keys.commerce().ok_or_else(|| {
            Rejection::unauthorized(
                "scheme_not_configured",
                "Coinbase Commerce deliveries are not accepted here",
            )
        })?;
        let sig = req
            .single_header(COMMERCE_SIGNATURE_HEADER)
            .ok_or_else(|| {
                Rejection::unauthorized("ambiguous_header", "signature headers must appear once")
            })?;
        if secrets.verify_hmac_sha256_hex(&[req.body], sig) {
            Ok(())
        } else {
            Err(Rejection::unauthorized(
                "bad_signature",
                "signature does not match",
            ))
        }
    }

    fn verify_hook0(
        &self,
        req: &Inbound<'_>,
        header: &str,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let secrets = self.keys.hook0().ok_or_else(|| {
            Rejection::unauthorized(
                "scheme_not_configured",
                "Coinbase Business webhooks are not accepted here",
            )
        })?;
        let sig = Hook0Signature::parse(header).map_err(|e| {
            Rejection::unauthorized("malformed_signature", format!("signature header: {e}"))
        })?;
        // The covered headers, exactly once each, before any code is
        // computed (Hook0's `header_not_delivered`).
        let mut values = Vec::with_capacity(sig.headers.len());
        for name in &sig.headers {
            let mut all = req.headers.get_all(name).iter();
            let v = all.next().ok_or_else(|| {
                Rejection::unauthorized(
                    "missing_signed_header",
                    "a header the signature covers was not delivered",
                )
            })?;
            if all.next().is_some() {
                return Err(Rejection::unauthorized(
                    "ambiguous_header",
                    "a header the signature covers appears more than once",
                ));
            }
            let v = std::str::from_utf8(v.as_bytes()).map_err(|_| {
                Rejection::unauthorized(
                    "malformed_signature",
                    "a header the signature covers is not text",
                )
            })?;
            values.push(v);
        }
        let t = sig.timestamp.to_string();
        let ok = match (&sig.v1, &sig.v0) {
            (Some(v1), _) => {
                let names = sig
                    .headers
                    .iter()
                    .map(http::HeaderName::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                let values = values.join(".");
                secrets.verify_hmac_sha256_hex(
                    &[
                        t.as_bytes(),
                        b".",
                        names.as_bytes(),
                        b".",
                        values.as_bytes(),
                        b".",
                        req.body,
                    ],
                    v1,
                )
            }
            (None, Some(v0)) => secrets.verify_hmac_sha256_hex(&[t.as_bytes(), b".", req.body], v0),
            (None, None) => false,
        };
        if !ok {
            return Err(Rejection::unauthorized(
                "bad_signature",
                "signature does not match",
            ));
        }
        super::check_window(now, sig.timestamp, self.tolerance)?;
        Ok(())
    }

    /// The scheme `body` is signed with.
    fn scheme_for(&self, body: &[u8]) -> SignScheme {
        let commerce_ok = self.keys.commerce().is_some();
        let hook0_ok = self.keys.hook0().is_some();
        match self.sign_scheme {
            SignScheme::Commerce if commerce_ok => SignScheme::Commerce,
            SignScheme::Hook0 if hook0_ok => SignScheme::Hook0,
            _ if !hook0_ok => SignScheme::Commerce,
            _ if !commerce_ok => SignScheme::Hook0,
            _ => match canonical::parse_strict(body) {
                Ok(v) if is_commerce(&v) => SignScheme::Commerce,
                _ => SignScheme::Hook0,
            },
        }
    }
}

/// Why an `X-Hook0-Signature` value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Hook0SignatureError {
    #[error("no `t`")]
    NoTimestamp,
    #[error("`t` is not a Unix time in seconds")]
    BadTimestamp,
    #[error("neither `v0` nor `v1`")]
    NoCode,
    #[error("`{0}` is not 64 lowercase hexadecimal digits")]
    NotHex(&'static str),
    #[error("`{0}` appears more than once")]
    Repeated(&'static str),
    #[error("`h` names something that is not a header name")]
    BadHeaderName,
}

/// A parsed `X-Hook0-Signature` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook0Signature {
    /// `t`: Unix seconds.
    pub timestamp: i64,
    /// `v0` (lowercase hex), when present.
    pub v0: Option<String>,
    /// `h`: the covered header names, lowercased, in order.
    pub headers: Vec<http::HeaderName>,
    /// `v1` (lowercase hex), when present.
    pub v1: Option<String>,
}

impl Hook0Signature {
    pub fn parse(value: &str) -> Result<Self, Hook0SignatureError> {
        let mut t = None;
        let mut v0 = None;
        let mut h = None;
        let mut v1 = None;
        for part in value.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let (slot, name) = match k.trim() {
                "t" => (&mut t, "t"),
                "v0" => (&mut v0, "v0"),
                "h" => (&mut h, "h"),
                "v1" => (&mut v1, "v1"),
                _ => continue,
            };
            if slot.replace(v.trim()).is_some() {
                return Err(Hook0SignatureError::Repeated(name));
            }
        }
        let t = t.ok_or(Hook0SignatureError::NoTimestamp)?;
        let timestamp = parse_unix_seconds(t).ok_or(Hook0SignatureError::BadTimestamp)?;
        let code = |v: Option<&str>, name: &'static str| match v {
            None => Ok(None),
            Some(s) if is_lower_hex_64(s) => Ok(Some(s.to_owned())),
            Some(_) => Err(Hook0SignatureError::NotHex(name)),
        };
        let v0 = code(v0, "v0")?;
        let v1 = code(v1, "v1")?;
        if v0.is_none() && v1.is_none() {
            return Err(Hook0SignatureError::NoCode);
        }
        let headers = match h {
            None => Vec::new(),
            Some(h) => h
                .split(' ')
                .map(|n| {
                    http::HeaderName::from_bytes(n.as_bytes())
                        .map_err(|_| Hook0SignatureError::BadHeaderName)
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Hook0Signature {
            timestamp,
            v0,
            headers,
            v1,
        })
    }
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Unix seconds: ASCII digits only (no sign, no fraction, no exponent), at
/// most 12 of them.
fn parse_unix_seconds(ts: &str) -> Option<i64> {
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ts.parse().ok()
}

/// The one value of `name`: `Ok(None)` when absent, `Err` when repeated or
/// not visible ASCII.
fn one_header<'r>(req: &'r Inbound<'_>, name: &str) -> Result<Option<&'r str>, Rejection> {
    let mut all = req.headers.get_all(name).iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(Rejection::unauthorized(
            "ambiguous_header",
            "signature headers must appear once",
        ));
    }
    first
        .to_str()
        .map(|s| Some(s.trim()))
        .map_err(|_| Rejection::unauthorized("malformed_signature", "signature header is not text"))
}

/// A Commerce delivery: a JSON object with an `event` object.
fn is_commerce(body: &Value) -> bool {
    body.get("event").is_some_and(Value::is_object)
}

/// A deterministic, UUID-shaped `X-Event-Id` for a signed body (Hook0 sends
/// the event's UUID; `sign` derives one so signing is reproducible).
fn event_id_for(body: &[u8]) -> String {
    let h = hex::encode(&sha256(body)[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[async_trait]
impl Provider for Coinbase {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn time_window(&self) -> Option<Duration> {
        Some(self.tolerance)
    }

    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection> {
        let hook0 = one_header(req, HOOK0_SIGNATURE_HEADER)?;
        let commerce = req.headers.contains_key(COMMERCE_SIGNATURE_HEADER);
        match (hook0, commerce) {
            (Some(_), true) => {
                return Err(Rejection::unauthorized(
                    "ambiguous_header",
                    "both Coinbase signature headers",
                ));
            }
            (Some(h), false) => self.verify_hook0(req, h, now)?,
            (None, true) => self.verify_commerce(req)?,
            (None, false) => {
                return Err(Rejection::unauthorized(
                    "missing_signature",
                    "missing signature header",
                ));
            }
        }
        // Both schemes sign the raw bytes: from here the body is authentic
        // whatever it holds.
        Ok(Authentic::from_signed_bytes(req.body))
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let body = &verified.body;
        let (n, dedupe_key, fingerprint) = if is_commerce(body) {
            let (n, event_id) = commerce(body)?;
            // The event alone: the envelope changes with every attempt.
            let event = body.get("event").unwrap_or(&Value::Null);
            let fp = sha256(canonical::stringify(event).as_bytes());
            (n, format!("commerce\n{event_id}"), fp)
        } else {
            let n = cdp(body)?;
            // `Verified` holds the parsed body; its canonical (JavaScript)
            // form is the compact body byte for byte.
            let fp = sha256(canonical::stringify(body).as_bytes());
            let key = format!(
                "cdp\n{}\n{}\n{}",
                n.provider_event,
                n.order_id,
                hex::encode(fp)
            );
            (n, key, fp)
        };
        let mut ev = PaymentEvent::new(
            ProviderId::COINBASE,
            n.product,
            n.provider_event,
            n.status,
            n.order_id,
            received_at,
            verified.body,
        );
        ev.merchant_reference = n.merchant_reference;
        ev.occurred_at = n.occurred_at;
        ev.fiat = n.fiat;
        ev.crypto = n.crypto;
        ev.wallet = n.wallet;
        ev.tx_hashes = n.tx_hashes;
        ev.failure = n.failure;
        ev.flags = n.flags;
        Ok(Normalized {
            dedupe_key,
            fingerprint,
            event: ev,
        })
    }

    // No `event_ref`: a Commerce retry changes the envelope, and an
    // unparsed body is fingerprinted by its bytes, so deduping it by
    // `event.id` would turn the retry into a 409; CDP retries are the same
    // bytes, which the default (SHA-256 of the body) already dedupes.

    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection> {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        match (
            self.scheme_for(body),
            self.keys.hook0(),
            self.keys.commerce(),
        ) {
            (SignScheme::Commerce, _, Some(c)) | (_, None, Some(c)) => {
                let sig = sign_hmac_sha256_hex(c.newest(), &[body]);
                headers.push((COMMERCE_SIGNATURE_HEADER.to_owned(), sig));
            }
            (_, Some(h), _) => {
                let event_type = canonical::parse_strict(body)
                    .ok()
                    .and_then(|v| {
                        v.get("eventType")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()));
                headers.push(("x-event-id".to_owned(), event_id_for(body)));
                if let Some(t) = event_type {
                    headers.push(("x-event-type".to_owned(), t));
                }
                // As Hook0 signs: every header it sets, names sorted.
                headers.sort();
                let t = at.unix_timestamp().to_string();
                let names = headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let values = headers
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                let v0 = sign_hmac_sha256_hex(h.newest(), &[t.as_bytes(), b".", body]);
                let v1 = sign_hmac_sha256_hex(
                    h.newest(),
                    &[
                        t.as_bytes(),
                        b".",
                        names.as_bytes(),
                        b".",
                        values.as_bytes(),
                        b".",
                        body,
                    ],
                );
                headers.push((
                    HOOK0_SIGNATURE_HEADER.to_owned(),
                    format!("t={t},v0={v0},h={names},v1={v1}"),
                ));
            }
            // `Keys` always holds one list.
            (_, None, None) => {
                return Err(Rejection::unavailable(
                    "not_configured",
                    "no Coinbase secrets",
                ));
            }
        }
        Ok(Signed {
            body: body.to_vec(),
            headers,
            params: Vec::new(),
        })
    }
}

// ---------------------------------------------------------------------------
// Reading the body leniently: a member of an unexpected type only leaves its
// normalized field empty (it stays in `raw`).
// ---------------------------------------------------------------------------

/// The provider-specific part of a normalized event.
struct Parts {
    product: String,
    provider_event: String,
    status: Status,
    order_id: String,
    merchant_reference: Option<String>,
    occurred_at: Option<OffsetDateTime>,
    fiat: Option<Fiat>,
    crypto: Option<Crypto>,
    wallet: Option<String>,
    tx_hashes: Vec<String>,
    failure: Option<Failure>,
    flags: Vec<String>,
}

/// A non-empty string member, or a number's JSON text (ids sent as numbers).
fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string member only.
fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn object<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|o| o.is_object())
}

fn array<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// An amount member (a decimal string or a JSON number) as decimal text.
fn decimal(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| is_decimal(s))
}

/// `a < b` for plain non-negative decimals (`"50.00"`, `"100"`); `None`
/// when either is not one.
fn decimal_less(a: &str, b: &str) -> Option<bool> {
    fn split(s: &str) -> Option<(String, String)> {
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        let plain = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if i.is_empty() || !plain(i) || !plain(f) {
            return None;
        }
        let i = i.trim_start_matches('0');
        Some((i.to_owned(), f.trim_end_matches('0').to_owned()))
    }
    let (ai, af) = split(a)?;
    let (bi, bf) = split(b)?;
    Some(match ai.len().cmp(&bi.len()) {
        std::cmp::Ordering::Equal => (ai, af) < (bi, bf),
        o => o == std::cmp::Ordering::Less,
    })
}

fn rfc3339(s: Option<String>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&s?, &time::format_description::well_known::Rfc3339)
        .ok()
        // Coinbase's "not set" (`0001-01-01T00:00:00Z`) is no time.
        .filter(|t| t.year() > 1970)
}

fn push_unique(v: &mut Vec<String>, h: Option<String>) {
    if let Some(h) = h.filter(|h| !h.is_empty())
        && !v.iter().any(|x| x.eq_ignore_ascii_case(&h))
    {
        v.push(h);
    }
}

fn push_flag(flags: &mut Vec<String>, f: &str) {
    if !flags.iter().any(|x| x == f) {
        flags.push(f.to_owned());
    }
}

/// The merchant's own order reference in `metadata`, as Coinbase's own
/// plugins read it (`orderId`), or snake case.
fn merchant_reference(v: &Value) -> Option<String> {
    let m = object(v, "metadata")?;
    text(m, "orderId").or_else(|| text(m, "order_id"))
}

// ---------------------------------------------------------------------------
// Commerce (legacy charges)
// ---------------------------------------------------------------------------

/// `event.type` → (normalized, flag).
fn charge_status(kind: &str) -> (Status, Option<&'static str>) {
    match kind {
        "charge:created" => (Status::Created, None),
        // "posted to the blockchain and funds are received by the
        // merchant", not yet confirmed: Koywe's `payment_received` and
        // thirdweb's PENDING are `processing` too.
        "charge:pending" => (Status::Processing, None),
        "charge:confirmed" => (Status::Completed, None),
        "charge:failed" => (Status::Failed, None),
        // A payment after the charge expired: money moved, the merchant
        // decides (a later `charge:resolved` settles it).
        "charge:delayed" => (Status::Processing, Some("delayed")),
        // The merchant resolved an unresolved charge (under/overpaid,
        // delayed…) by hand: treated as paid.
        "charge:resolved" => (Status::Completed, Some("resolved")),
        _ => (Status::Unknown, None),
    }
}

/// Commerce timeline contexts of an `UNRESOLVED` charge (Commerce API).
const CHARGE_CONTEXTS: &[&str] = &[
    "UNDERPAID",
    "OVERPAID",
    "DELAYED",
    "MULTIPLE",
    "MANUAL",
    "OTHER",
];

/// A Commerce envelope → the event's parts and `event.id`.
fn commerce(body: &Value) -> Result<(Parts, String), Unparsed> {
    let ev = object(body, "event").ok_or_else(|| Unparsed::field("event"))?;
    let event_id = text(ev, "id").ok_or_else(|| Unparsed::field("event.id"))?;
    let kind = string(ev, "type").ok_or_else(|| Unparsed::field("event.type"))?;
    let data = object(ev, "data").ok_or_else(|| Unparsed::field("event.data"))?;
    let order_id = text(data, "code")
        .or_else(|| text(data, "id"))
        .ok_or_else(|| Unparsed::field("event.data.code"))?;
    let (status, flag) = charge_status(&kind);
    let mut flags: Vec<String> = flag.into_iter().map(str::to_owned).collect();

    let pricing = object(data, "pricing");
    let payments: Vec<&Value> = array(data, "payments").collect();
    let last_payment = payments.iter().rev().find(|p| object(p, "value").is_some());
    let value_of = |p: &&Value, side: &str| p.get("value").and_then(|v| object(v, side)).cloned();

    // Fiat: the charge's local price, else what the last payment was worth.
    let fiat = pricing
        .and_then(|p| object(p, "local"))
        .cloned()
        .or_else(|| last_payment.and_then(|p| value_of(p, "local")))
        .map(|l| Fiat {
            amount: decimal(&l, "amount"),
            currency: string(&l, "currency"),
        })
        .filter(|f| f.amount.is_some() || f.currency.is_some());

    let web3 = object(data, "web3_data");
    let intent_meta = web3
        .and_then(|w| object(w, "transfer_intent"))
        .and_then(|t| object(t, "metadata"));
    // Crypto: what the last payment paid (legacy charges), else the
    // settlement of an onchain (web3) charge.
    let crypto = match last_payment.and_then(|p| value_of(p, "crypto").map(|c| (p, c))) {
        Some((p, c)) => Some(Crypto {
            amount: decimal(&c, "amount"),
            currency: string(&c, "currency"),
            network: string(p, "network"),
        }),
        None => pricing
            .and_then(|p| object(p, "settlement"))
            .map(|s| Crypto {
                amount: decimal(s, "amount"),
                currency: string(s, "currency"),
                network: intent_meta.and_then(|m| text(m, "chain_id")),
            }),
    }
    .filter(|c| c.amount.is_some() || c.currency.is_some());

    let mut tx_hashes = Vec::new();
    for p in &payments {
        push_unique(&mut tx_hashes, string(p, "transaction_id"));
    }
    let success: Vec<&Value> = web3
        .map(|w| array(w, "success_events").collect())
        .unwrap_or_default();
    for e in &success {
        push_unique(&mut tx_hashes, string(e, "tx_hsh"));
    }
    let wallet = success
        .iter()
        .find_map(|e| string(e, "sender"))
        .or_else(|| intent_meta.and_then(|m| string(m, "sender")));

    // The charge's last timeline entry says why it ended where it did.
    let last = array(data, "timeline").last();
    let context = last
        .and_then(|t| string(t, "context"))
        .filter(|c| CHARGE_CONTEXTS.contains(&c.as_str()));
    if let Some(c) = &context {
        push_flag(&mut flags, &c.to_ascii_lowercase());
    }
    let failure = (status == Status::Failed).then(|| Failure {
        code: Some(
            context
                .clone()
                .or_else(|| last.and_then(|t| string(t, "status")))
                .map(|c| c.to_ascii_lowercase())
                .unwrap_or_else(|| "failed".to_owned()),
        ),
        reason: web3
            .and_then(|w| {
                array(w, "failure_events")
                    .filter_map(|e| string(e, "reason"))
                    .last()
            })
            .or_else(|| string(data, "failure_reason")),
    });
    Ok((
        Parts {
            product: "charge".to_owned(),
            provider_event: kind,
            status,
            order_id,
            merchant_reference: merchant_reference(data),
            occurred_at: rfc3339(string(ev, "created_at")),
            fiat,
            crypto,
            wallet,
            tx_hashes,
            failure,
            flags,
        },
        event_id,
    ))
}

// ---------------------------------------------------------------------------
// Coinbase Business / CDP (Hook0)
// ---------------------------------------------------------------------------

/// Which CDP product an `eventType` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Checkout,
    PaymentLink,
    Onramp,
    Offramp,
    Other,
}

impl Family {
    fn of(kind: &str) -> (Family, &str) {
        let (head, rest) = kind.split_once('.').unwrap_or((kind, ""));
        let f = match head {
            "checkout" => Family::Checkout,
            "payment_link" => Family::PaymentLink,
            "onramp" => Family::Onramp,
            "offramp" => Family::Offramp,
            _ => Family::Other,
        };
        (f, rest)
    }

    fn product(self, head: &str) -> String {
        match self {
            Family::Checkout => "checkout".to_owned(),
            Family::PaymentLink => "payment-link".to_owned(),
            Family::Onramp => "onramp".to_owned(),
            Family::Offramp => "offramp".to_owned(),
            Family::Other if head.is_empty() => "unknown".to_owned(),
            Family::Other => head.to_owned(),
        }
    }
}

/// An onramp / offramp `status` (`ONRAMP_TRANSACTION_STATUS_IN_PROGRESS`,
/// `ONRAMP_ORDER_STATUS_COMPLETED`…), by what follows `_STATUS_`.
fn ramp_status(s: &str) -> Status {
    let tail = s.rsplit_once("_STATUS_").map_or(s, |(_, t)| t);
    match tail {
        "CREATED" => Status::Created,
        "PENDING" | "PENDING_AUTH" | "PENDING_VERIFICATION" | "PENDING_PAYMENT" => Status::Pending,
        "IN_PROGRESS" | "PROCESSING" => Status::Processing,
        "SUCCESS" | "COMPLETED" => Status::Completed,
        "FAILED" => Status::Failed,
        _ => Status::Unknown,
    }
}

/// A `{currency, value}` object or a plain amount member with its currency
/// in `currency_key` (the two onramp payload shapes Coinbase documents).
fn money(v: &Value, key: &str, currency_key: &str) -> (Option<String>, Option<String>) {
    match object(v, key) {
        Some(o) => (decimal(o, "value"), string(o, "currency")),
        None => (decimal(v, key), string(v, currency_key)),
    }
}

/// A transaction hash, unless it is Coinbase's empty placeholder `0x`.
fn tx_hash(v: &Value, key: &str) -> Option<String> {
    string(v, key).filter(|h| h.len() > 2 || !h.starts_with("0x"))
}

fn cdp(body: &Value) -> Result<Parts, Unparsed> {
    if !body.is_object() {
        return Err(Unparsed::new(crate::providers::UnparsedReason::BadShape));
    }
    let kind = string(body, "eventType").ok_or_else(|| Unparsed::field("eventType"))?;
    let (family, rest) = Family::of(&kind);
    let head = kind.split('.').next().unwrap_or_default();
    let ramp = matches!(family, Family::Onramp | Family::Offramp);
    let order_id = if ramp {
        text(body, "transactionId")
            .or_else(|| text(body, "orderId"))
            .or_else(|| text(body, "id"))
            .ok_or_else(|| Unparsed::field("transactionId"))?
    } else {
        text(body, "id").ok_or_else(|| Unparsed::field("id"))?
    };
    let mut flags = Vec::new();
    let status = match (family, rest) {
        (Family::Checkout | Family::PaymentLink, "payment.success") => Status::Completed,
        (Family::Checkout | Family::PaymentLink, "payment.failed") => Status::Failed,
        (Family::Checkout | Family::PaymentLink, "payment.expired") => Status::Expired,
        (Family::Checkout, "refund.success") => {
            let partial = decimal(body, "refundedAmount")
                .zip(decimal(body, "amount"))
                .and_then(|(r, a)| decimal_less(&r, &a));
            if partial == Some(true) {
                push_flag(&mut flags, "partial");
            }
            Status::Refunded
        }
        // The refund did not happen: the payment stands.
        (Family::Checkout, "refund.failed") => {
            push_flag(&mut flags, "refund_failed");
            Status::Completed
        }
        (_, "transaction.created") if ramp => Status::Created,
        (_, "transaction.success") if ramp => Status::Completed,
        (_, "transaction.failed") if ramp => Status::Failed,
        (_, "transaction.updated") if ramp => {
            string(body, "status").map_or(Status::Unknown, |s| ramp_status(&s))
        }
        _ => Status::Unknown,
    };

    let mut tx_hashes = Vec::new();
    let (fiat, crypto, wallet, merchant_ref, occurred_at);
    if ramp {
        push_unique(&mut tx_hashes, tx_hash(body, "txHash"));
        let (amount, currency) = money(body, "paymentTotal", "paymentCurrency");
        fiat = (amount.is_some() || currency.is_some()).then_some(Fiat { amount, currency });
        let (amount, currency) = money(body, "purchaseAmount", "purchaseCurrency");
        let currency = currency.or_else(|| string(body, "purchaseCurrency"));
        let network =
            string(body, "purchaseNetwork").or_else(|| string(body, "destinationNetwork"));
        crypto = (amount.is_some() || currency.is_some()).then_some(Crypto {
            amount,
            currency,
            network,
        });
        wallet = string(body, "walletAddress").or_else(|| string(body, "destinationAddress"));
        // The partner's own reference for the buyer's session.
        merchant_ref = string(body, "partnerUserRef");
        occurred_at = rfc3339(string(body, "updatedAt"))
            .or_else(|| rfc3339(string(body, "completedAt")))
            .or_else(|| rfc3339(string(body, "createdAt")));
    } else {
        push_unique(&mut tx_hashes, tx_hash(body, "transactionHash"));
        for r in array(body, "refunds") {
            push_unique(&mut tx_hashes, tx_hash(r, "transactionHash"));
        }
        // What the checkout asks for, in a token (USDC on base).
        let amount = decimal(body, "amount");
        let currency = string(body, "currency");
        crypto = (amount.is_some() || currency.is_some()).then(|| Crypto {
            amount,
            currency,
            network: string(body, "network"),
        });
        fiat = None;
        // `address` is where the buyer pays to, not the buyer's wallet.
        wallet = None;
        merchant_ref = merchant_reference(body);
        occurred_at = rfc3339(string(body, "updatedAt"));
    }
    let failure = (status == Status::Failed).then(|| Failure {
        code: Some("failed".to_owned()),
        reason: None,
    });
    Ok(Parts {
        product: family.product(head),
        provider_event: kind,
        status,
        order_id,
        merchant_reference: merchant_ref,
        occurred_at,
        fiat,
        crypto,
        wallet,
        tx_hashes,
        failure,
        flags,
    })
}

#[cfg(test)]
mod tests;
