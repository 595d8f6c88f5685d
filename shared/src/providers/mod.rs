//! One module per provider: payload types, verification, normalization and
//! signing (for tests and `payhook send`). Adding a provider touches one
//! module here, never the pipeline.

use crate::config::{Config, ConfigError};
use crate::event::{PaymentEvent, ProviderId};
pub use crate::event::{Unparsed, UnparsedReason};
use crate::rejection::Rejection;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

pub mod btcpay;
pub mod coinbase;
pub mod eightpay;
pub mod koywe;
pub mod nowpayments;
pub mod onebuy;
pub mod standard_webhooks;
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

    /// The signature header `name` (shown as `label`), which must be sent
    /// exactly once: absent is `missing_signature`, repeated (or
    /// comma-joined, see [`Self::single_header`]) is `ambiguous_header`,
    /// both 401.
    pub fn signature_header(&self, name: &str, label: &str) -> Result<&str, Rejection> {
        if !self.headers.contains_key(name) {
            return Err(Rejection::unauthorized(
                "missing_signature",
                format!("missing {label} header"),
            ));
        }
        self.single_header(name).ok_or_else(|| {
            Rejection::unauthorized("ambiguous_header", format!("{label} must appear once"))
        })
    }
}

/// A request whose authenticity has been proven, with its parsed body.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The parsed body (duplicate keys refused, key order kept).
    pub body: serde_json::Value,
    /// The network the request was authenticated on, when its route names
    /// one (8Pay's path `{chain}`, checked against 8Pay's API by `verify`):
    /// normalize publishes it as `crypto.network`.
    pub network: Option<String>,
    /// The sender the request was authenticated for, when its route names
    /// one of several configured senders (Standard Webhooks' `{source}`):
    /// normalize reads that sender's mapping.
    pub source: Option<String>,
    /// The delivery's own id when it travels outside the body and is
    /// covered by the signature (Standard Webhooks' `webhook-id` header):
    /// normalize dedupes on it.
    pub delivery_id: Option<String>,
}

impl Verified {
    /// A verified body whose route names no network.
    pub fn new(body: serde_json::Value) -> Self {
        Verified {
            body,
            network: None,
            source: None,
            delivery_id: None,
        }
    }

    /// A verified body authenticated on `network`.
    pub fn on_network(body: serde_json::Value, network: impl Into<String>) -> Self {
        Verified {
            network: Some(network.into()),
            ..Verified::new(body)
        }
    }
}

/// What [`Provider::verify`] proved: an authentic request whose body parsed
/// as JSON, or an authentic request whose bytes are not (readable) JSON.
/// The second only comes from providers that sign the raw bytes (thirdweb,
/// Koywe's current API): a body-signed provider cannot authenticate a body
/// it cannot parse, and refuses it with a 400 instead.
#[derive(Debug)]
pub enum Authentic {
    Parsed(Verified),
    /// Authentic, but `verify` already knows the body cannot be mapped (it
    /// is not JSON, or a legacy Koywe body has no readable `timeStamp` to
    /// window): kept as an `unknown` event (DESIGN.md step 4), never
    /// refused.
    Unreadable(Unparsed),
}

impl From<Verified> for Authentic {
    fn from(v: Verified) -> Self {
        Authentic::Parsed(v)
    }
}

impl Authentic {
    /// The parsed body, or why the authentic bytes could not be read.
    pub fn parsed(self) -> Result<Verified, Unparsed> {
        match self {
            Authentic::Parsed(v) => Ok(v),
            Authentic::Unreadable(u) => Err(u),
        }
    }

    /// For providers that sign the raw bytes: parse the already
    /// authenticated `bytes`; JSON that cannot be read is still authentic.
    pub fn from_signed_bytes(bytes: &[u8]) -> Self {
        match crate::canonical::parse_strict(bytes) {
            Ok(body) => Authentic::Parsed(Verified::new(body)),
            Err(e) => Authentic::Unreadable(e.into()),
        }
    }
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

/// Why a body run through `verify` and `normalize` alone (no store) did not
/// become a mapped event: refused before it was proven authentic, or
/// authentic but unparsed (which the pipeline keeps with status `unknown`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMapped {
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("authentic but unparsed: {0}")]
    Unparsed(#[from] Unparsed),
}

impl NotMapped {
    /// The HTTP status the pipeline answers: the rejection's, or 200 for an
    /// authentic body (kept as `unknown`).
    pub fn status(&self) -> u16 {
        match self {
            NotMapped::Rejected(r) => r.status.as_u16(),
            NotMapped::Unparsed(_) => 200,
        }
    }
}

/// `verify` then `normalize`, without the pipeline's keeping of unparsed
/// bodies: what tests and tools use to see what a provider makes of a body.
pub async fn verify_and_normalize(
    p: &dyn Provider,
    req: &Inbound<'_>,
    now: OffsetDateTime,
) -> Result<Normalized, NotMapped> {
    let v = p.verify(req, now).await?.parsed()?;
    Ok(p.normalize(v, now)?)
}

/// A request body signed the way the provider signs it.
#[derive(Debug, Clone, Default)]
pub struct Signed {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Path parameters to put in the URL (`token`, `chain`).
    pub params: Vec<(String, String)>,
}

/// Makes a provider's development settings from a generator of random
/// secrets (given the secret's prefix, e.g. `dev-koywe`).
pub type DevSettings = fn(&mut dyn FnMut(&str) -> String) -> Vec<(&'static str, String)>;

/// What payhook knows about one provider besides its code, listed once in
/// [`ALL`]: `payhook serve`'s routes, `payhook send`, the development
/// settings, the settings read from a Lambda secret, the test harness and
/// its lists derive from it. Each provider module defines its own.
pub struct Descriptor {
    /// Its id: the published `provider`, the name of its Lambda function
    /// (`functions/<id>`, the template's `Binary`) and of its `events/`
    /// folder.
    pub id: ProviderId,
    /// The route as served, e.g. `/webhooks/onebuy/checkout/{token}`.
    pub route: &'static str,
    /// Its own settings, read by [`Descriptor::build`] (the first one turns
    /// it on: unset, the provider is left out).
    pub settings: &'static [&'static str],
    /// Build it from configuration. An unset enabling setting is
    /// [`ConfigError::Missing`]; anything set but unusable is
    /// [`ConfigError::Invalid`].
    pub build: fn(&Config) -> Result<Arc<dyn Provider>, ConfigError>,
    /// The development settings `payhook serve` generates when nothing is
    /// configured, given a generator of random secrets with a prefix.
    pub dev_settings: DevSettings,
    /// The settings the committed `events/<id>/` fixtures are signed with.
    pub test_settings: &'static [(&'static str, &'static str)],
    /// Settings with the same names and other secrets (a wrong signer).
    pub wrong_settings: &'static [(&'static str, &'static str)],
    /// What proves one of its deliveries authentic.
    pub proof: Proof,
}

/// What proves a provider's delivery authentic, as far as the body is
/// concerned: whether a body that cannot be read unambiguously (not JSON,
/// a repeated key, an integer JavaScript cannot hold) can still be
/// authenticated — and is then kept as `unknown` — or is refused with a 400
/// (DESIGN.md step 4). The attack, property and fuzz tests derive what they
/// expect of each provider from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A signature over the exact bytes, carried in headers (thirdweb): any
    /// bytes can be authentic.
    Bytes,
    /// A signature carried in a header over a *reading* of the body (e.g.
    /// its JSON re-printed with sorted keys): a body with no one reading
    /// cannot be authenticated.
    Reading,
    /// The proof is a member of the body (Koywe's signature, 8Pay's id):
    /// a body with no one reading cannot be authenticated.
    InBody,
    /// A secret in the URL (1buy's token): the body is not covered, so any
    /// bytes on an authentic URL are authentic.
    UrlToken,
}

impl Proof {
    /// Whether authenticating a delivery needs one unambiguous reading of
    /// its body (else 400).
    pub fn reads_body(self) -> bool {
        matches!(self, Proof::Reading | Proof::InBody)
    }
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptor")
            .field("id", &self.id)
            .field("route", &self.route)
            .field("settings", &self.settings)
            .field("proof", &self.proof)
            .finish_non_exhaustive()
    }
}

impl Descriptor {
    /// The route's fixed part before its first path parameter, e.g.
    /// `/webhooks/onebuy/checkout/` (the whole route when it has none).
    pub fn route_prefix(&self) -> &'static str {
        match self.route.find('{') {
            Some(i) => &self.route[..i],
            None => self.route,
        }
    }
}

/// Lists every provider once and derives, besides [`ALL`], the code-free
/// lists that every binary reads ([`IDS`], [`SETTINGS`]): a Lambda function
/// parses provider names and reads settings through those, so it links only
/// its own provider's code, not every descriptor's `build`.
macro_rules! registry {
    ($($desc:path),* $(,)?) => {
        /// Every provider payhook knows, in the order they are listed to users.
        pub static ALL: &[&Descriptor] = &[$(&$desc),*];
        /// The id of each of [`ALL`], in the same order (data only).
        pub static IDS: &[ProviderId] = &[$($desc.id),*];
        /// The settings of each of [`ALL`], in the same order (data only).
        pub static SETTINGS: &[&[&str]] = &[$($desc.settings),*];
    };
}

registry! {
    onebuy::WALLET_PAY,
    onebuy::CHECKOUT,
    koywe::DESCRIPTOR,
    eightpay::DESCRIPTOR,
    thirdweb::DESCRIPTOR,
    btcpay::DESCRIPTOR,
    nowpayments::DESCRIPTOR,
    coinbase::DESCRIPTOR,
    standard_webhooks::DESCRIPTOR,
}

/// The descriptor of `id`.
pub fn descriptor(id: ProviderId) -> Option<&'static Descriptor> {
    ALL.iter().copied().find(|d| d.id == id)
}

/// Everything payhook knows about one webhook source.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Its entry in [`ALL`].
    fn descriptor(&self) -> &'static Descriptor;

    fn id(&self) -> ProviderId {
        self.descriptor().id
    }

    /// The route template, e.g. `/webhooks/onebuy/checkout/{token}`.
    fn route(&self) -> &'static str {
        self.descriptor().route
    }

    /// The window its time check allows around "now" (a delivery older, or
    /// that much in the future, is refused), when it has one.
    fn time_window(&self) -> Option<std::time::Duration> {
        None
    }

    /// Prove the request authentic, on the raw bytes. `now` is passed in so
    /// tests can fix the clock. Nothing may be stored before this succeeds.
    /// After it succeeds nothing about the body's shape may refuse the
    /// request (DESIGN.md step 4): a raw-bytes signer returns
    /// [`Authentic::Unreadable`] for a body it cannot parse.
    async fn verify(&self, req: &Inbound<'_>, now: OffsetDateTime) -> Result<Authentic, Rejection>;

    /// Map the verified body to the normalized event. Pure: no I/O. Takes
    /// the body by value: it becomes the event's `raw` without a copy. An
    /// error is not a refusal: the pipeline keeps the delivery as an
    /// `unknown` event flagged `unparsed`.
    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed>;

    /// The provider's own id of one delivery's event, read leniently from a
    /// body that [`normalize`](Provider::normalize) could not map: an
    /// unparsed redelivery with the same id is a duplicate. It must name
    /// one event, not an order (two different bodies with one id would be a
    /// 409). `None` (the default) dedupes by SHA-256 of the body.
    fn event_ref(&self, _body: &serde_json::Value) -> Option<String> {
        None
    }

    /// Sign `body` as the provider would at time `at`, with the newest
    /// configured secret. Used by tests and `payhook send`. May rewrite the
    /// body (Koywe's signature and time stamp live in it).
    fn sign(&self, body: &[u8], at: OffsetDateTime) -> Result<Signed, Rejection>;

    /// [`sign`](Provider::sign) for a request that will carry the path
    /// parameters `params` (`payhook sign --param`, an event file's
    /// `pathParameters`): a provider whose route parameter selects the
    /// signing secret (Standard Webhooks' `{source}`) signs with that
    /// parameter's secret. The default ignores them.
    fn sign_for(
        &self,
        body: &[u8],
        at: OffsetDateTime,
        params: &[(String, String)],
    ) -> Result<Signed, Rejection> {
        let _ = params;
        self.sign(body, at)
    }
}

/// Lowercase hex of `bytes`. `hex::encode` collects an iterator of
/// `char`s, which `perf` showed at ~0.2 µs per 32-byte digest on serve's
/// request path; this writes the digits straight into one buffer.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
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

/// A signed Unix time stamp `ts` checked against `now`: older than
/// `tolerance`, or that much in the future, is a 401 (`stale_timestamp`,
/// `future_timestamp`). Check it after the signature, so that a forged
/// request is told "bad signature", not which window it missed.
pub fn check_window(
    now: OffsetDateTime,
    ts: i64,
    tolerance: std::time::Duration,
) -> Result<(), Rejection> {
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.unix_timestamp().saturating_sub(ts);
    if age > tolerance {
        return Err(Rejection::unauthorized(
            "stale_timestamp",
            "timestamp too old",
        ));
    }
    if age < -tolerance {
        return Err(Rejection::unauthorized(
            "future_timestamp",
            "timestamp in the future",
        ));
    }
    Ok(())
}

/// A decimal number as the published schema allows it
/// (`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`): what an amount must look
/// like to be published as one.
pub fn is_decimal(s: &str) -> bool {
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    digits(int)
        && frac.is_none_or(digits)
        && exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// A required non-empty string member, else [`Unparsed`] naming `path`.
pub fn req_str<'v>(v: &'v serde_json::Value, key: &str, path: &str) -> Result<&'v str, Unparsed> {
    match v.get(key) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(Unparsed::field(path)),
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
/// [`Unparsed`] naming the field (serde's message names it, never a value).
///
/// The plain deserializer runs first: the path is needed only to say where a
/// body fails, and tracking it costs on every body (a wrapper around each
/// value visited). Only a body that fails is read again with the path kept.
pub fn from_body<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<T, Unparsed> {
    if let Ok(t) = T::deserialize(body) {
        return Ok(t);
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        // The path (`data.receivers[0].amount`) says where; serde_json's
        // message says what, and is kept only for the missing field's name
        // ("missing field `orderId`"): values are never echoed back.
        let path = e.path().to_string();
        let at = |name: &str| match path.as_str() {
            "." | "" => name.to_owned(),
            p => format!("{p}.{name}"),
        };
        let msg = e.inner().to_string();
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        match missing {
            Some(f) => Unparsed::field(&at(f)),
            None if path != "." && !path.is_empty() => Unparsed::invalid(&path),
            None if msg.starts_with("unknown variant") || msg.starts_with("invalid") => {
                Unparsed::new(UnparsedReason::InvalidField)
            }
            None => Unparsed::new(UnparsedReason::BadShape),
        }
    })
}

/// Build the provider `id` from configuration (an error names the missing
/// setting).
pub fn build(id: ProviderId, cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    match descriptor(id) {
        Some(d) => (d.build)(cfg),
        None => Err(ConfigError::Invalid {
            name: "provider",
            why: format!("{id} is not a registered provider"),
        }),
    }
}

/// What the providers' unit tests share: running `verify` (which never
/// waits without I/O) on a request made of parts.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Inbound, NotMapped, Provider, Verified};
    use std::collections::HashMap;
    use time::OffsetDateTime;

    /// Run a future that never waits (verification without I/O).
    pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
        use futures_util::FutureExt as _;
        f.now_or_never()
            .unwrap_or_else(|| panic!("verify should not wait"))
    }

    pub fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A header map with each pair appended (a name given twice repeats).
    pub fn header_map(headers: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            let value = http::HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}"));
            map.append(name, value);
        }
        map
    }

    /// `verify` at Unix time `now`, then the parsed body.
    pub fn verify_at(
        p: &dyn Provider,
        body: &[u8],
        headers: &[(&str, &str)],
        params: &[(&str, &str)],
        now: i64,
    ) -> Result<Verified, NotMapped> {
        let map = header_map(headers);
        let params: HashMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let req = Inbound {
            body,
            headers: &map,
            params: &params,
        };
        Ok(block_on(p.verify(&req, at(now)))?.parsed()?)
    }
}

#[cfg(test)]
mod tests {
    use super::{hex_lower, is_decimal};

    #[test]
    fn hex_lower_spells_as_the_hex_crate_does() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_lower(&all), hex::encode(&all));
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(hex_lower(&[0x0f, 0xa0]), "0fa0");
    }

    #[test]
    fn is_decimal_matches_the_schema_pattern() {
        for (s, want) in [
            ("5.36", true),
            ("0.00021500", true),
            ("100", true),
            ("-1", true),
            ("1e-7", true),
            ("1e21", true),
            ("1.5E-7", true),
            ("2E+3", true),
            ("", false),
            (".5", false),
            ("5.", false),
            ("1e", false),
            ("five", false),
            ("0x10", false),
            ("+1", false),
            ("1 000", false),
        ] {
            assert_eq!(is_decimal(s), want, "{s:?}");
        }
    }
}
