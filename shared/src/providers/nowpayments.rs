//! NOWPayments instant payment notifications (IPN) on `/webhooks/nowpayments`.
//!
//! # Verification
//!
//! NOWPayments sends `x-nowpayments-sig` = lowercase hex HMAC-SHA512, under
//! the IPN secret, of the body's JSON *re-printed with its keys sorted* —
//! not of the bytes sent. Its own docs describe two JavaScript forms, and
//! both are accepted:
//!
//! * **sorted recursively** (the docs' current Node.js sample,
//!   `JSON.stringify(sortObject(params))`, where `sortObject` rebuilds every
//!   nested value that is an object or an array as an object with sorted
//!   keys): [`sorted_recursive`];
//! * **sorted at the top level** (the docs' text and older sample,
//!   `JSON.stringify(params, Object.keys(params).sort())`): a replacer
//!   *array* is an allow-list that `JSON.stringify` applies at every depth,
//!   so a nested object keeps only the members whose names are top-level
//!   keys (`fee` comes out as `{}`), while arrays keep every element:
//!   [`sorted_top_level`].
//!
//! Both are reproduced with JavaScript's exact semantics: keys sorted by
//! UTF-16 code units (`Array.prototype.sort`), array-index keys (`"2"`,
//! `"10"`) printed first in numeric order in a rebuilt object, `__proto__`
//! (an accessor when assigned) dropped by `sortObject` and resolved through
//! `Object.prototype` by the replacer, numbers and strings printed as
//! `JSON.stringify` prints them ([`canonical::stringify`]).
//! `scripts/nowpayments-vectors.js` runs both forms in Node.js (with
//! `crypto.createHmac('sha512')`) over bodies chosen where a re-serializer
//! can differ, and the unit test `agrees_with_nodejs_on_every_vector` checks
//! payhook against every vector in `events/nowpayments/vectors/signatures.json`.
//! (The docs' PHP and Python samples print other texts — `json_encode`
//! escapes non-ASCII, Python prints `8.3e-05` where JavaScript prints
//! `0.000083` — and are not accepted forms.)
//!
//! The signature covers a *reading* of the body, so a body without one
//! unambiguous reading cannot be authenticated and is refused with a 400
//! ([`Proof::Reading`]): not JSON, a repeated key, an integer JavaScript
//! cannot hold exactly (the signer saw the rounded value), nesting deeper
//! than 64, or a top level that is not an object. The header is checked to
//! be present and single first (401), then the body is read (400), then
//! the signature (401). Which form matched is published in the event's
//! flags: `signature_sorted_recursive` or `signature_sorted_top_level`
//! (the recursive form is tried first; when the two texts coincide it is
//! the one named).
//!
//! No time window: an IPN carries no signed time header, and NOWPayments
//! re-sends a notification (recurrent notifications after an error, or on
//! request from the dashboard) with the same body. A replay is a
//! `duplicate`.
//!
//! # Mapping
//!
//! Dedupe key: `payment_id` + `payment_status` (an IPN has no event id; one
//! notification per status). The fingerprint is SHA-256 of the recursive
//! sorted form without `updated_at`, which a re-sent notification may
//! refresh; any other change under the same payment and status is a 409.
//!
//! | `payment_status` | status | flags |
//! |---|---|---|
//! | waiting | pending | |
//! | confirming, confirmed, sending | processing | |
//! | partially_paid | processing | `partial` |
//! | finished | completed | |
//! | failed | failed | |
//! | refunded | refunded | |
//! | expired | expired | |
//! | anything else | unknown | |
//!
//! The published `order_id` is the order the payment belongs to, stable
//! across its notifications, payment attempts and repeated deposits: the
//! merchant's `order_id` when it has one (NOWPayments echoes what the
//! merchant set at creation), else the `invoice_id` it was paid through,
//! else `parent_payment_id` (a repeated deposit belongs to the original
//! payment, docs "Repeated Deposits"), else `payment_id`. A merchant that
//! reuses one `order_id` for several purchases groups them under one
//! order. `merchant_reference` is the merchant's `order_id`; a payment with
//! `parent_payment_id` is flagged `repeated_deposit`. Fiat: `price_amount`
//! in `price_currency`. Crypto: `actually_paid` (what arrived) when it is
//! above zero, else `pay_amount` (what was asked), in `pay_currency`, on
//! `network` when the body names one. `occurred_at`: `updated_at` (epoch
//! milliseconds, or an RFC 3339 text). `payin_hash` / `payout_hash`, when
//! present, are the transactions. A body without `payment_id` or
//! `payment_status` is kept as `unknown`, flagged `unparsed`.

use super::is_decimal;
use super::{
    Authentic, Descriptor, Inbound, Normalized, Proof, Provider, Signed, Unparsed, UnparsedReason,
    Verified, sha256,
};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::{Secret, SecretList};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha512;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-nowpayments-sig";

/// The member a re-sent notification may refresh, left out of the
/// fingerprint.
const REFRESHED: &str = "updated_at";

/// How many recent verifications remember which form they matched (for the
/// flag [`Provider::normalize`] publishes).
const REMEMBERED: usize = 256;

impl ProviderId {
    pub const NOWPAYMENTS: ProviderId = ProviderId::new("nowpayments");
}

const SECRETS_SETTING: &str = "PAYHOOK_NOWPAYMENTS_SECRETS";

/// NOWPayments IPNs: `PAYHOOK_NOWPAYMENTS_SECRETS` (IPN secrets, newest
/// first) turns them on.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::NOWPAYMENTS,
    route: "/webhooks/nowpayments",
    settings: &[SECRETS_SETTING],
    build: |cfg| Ok(Arc::new(Nowpayments::from_config(cfg)?)),
    dev_settings: |secret| vec![(SECRETS_SETTING, secret("dev-nowpayments"))],
    test_settings: &[(
        SECRETS_SETTING,
        "test-nowpayments-secret,test-nowpayments-secret-old",
    )],
    wrong_settings: &[(SECRETS_SETTING, "not-the-secret")],
    proof: Proof::Reading,
};

/// Which of NOWPayments' two JavaScript texts a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    /// `JSON.stringify(sortObject(params))`: [`sorted_recursive`].
    SortedRecursive,
    /// `JSON.stringify(params, Object.keys(params).sort())`:
    /// [`sorted_top_level`].
    SortedTopLevel,
}

impl SignedForm {
    /// The flag the published event carries.
    pub fn flag(self) -> &'static str {
        match self {
            SignedForm::SortedRecursive => "signature_sorted_recursive",
            SignedForm::SortedTopLevel => "signature_sorted_top_level",
        }
    }
}

/// NOWPayments IPNs.
pub struct Nowpayments {
    secrets: SecretList,
    /// (SHA-256 of the recursive form, the form that matched) of recent
    /// verifications, newest last: `normalize` sees the body, not the
    /// header, and looks the form up here.
    matched: Mutex<VecDeque<([u8; 32], SignedForm)>>,
}

impl std::fmt::Debug for Nowpayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nowpayments")
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Nowpayments {
    /// `secrets`: first = newest (used by [`Provider::sign`]), all accepted.
    pub fn new(secrets: SecretList) -> Self {
        Nowpayments {
            secrets,
            matched: Mutex::new(VecDeque::with_capacity(REMEMBERED)),
        }
    }

    /// From `PAYHOOK_NOWPAYMENTS_SECRETS` (required).
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Nowpayments::new(cfg.require_secrets(SECRETS_SETTING)?))
    }

    /// The form `sig` (raw digest bytes) covers under one of the secrets.
    /// Every secret and both forms are compared (in constant time), whatever
    /// the earlier outcomes.
    fn matching_form(&self, body: &Value, sig: &[u8]) -> Option<SignedForm> {
        let recursive = sorted_recursive(body);
        let top_level = sorted_top_level(body);
        let (mut a, mut b) = (false, false);
        for s in self.secrets.iter() {
            a |= hmac_sha512(s, recursive.as_bytes())
                .verify_slice(sig)
                .is_ok();
            b |= hmac_sha512(s, top_level.as_bytes())
                .verify_slice(sig)
                .is_ok();
        }
        if a {
            Some(SignedForm::SortedRecursive)
        } else if b {
            Some(SignedForm::SortedTopLevel)
        } else {
            None
        }
    }

    fn remember(&self, body: &Value, form: SignedForm) {
        let key = sha256(sorted_recursive(body).as_bytes());
        let mut m = self.matched.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= REMEMBERED {
            m.pop_front();
        }
        m.push_back((key, form));
    }

    /// The form a recent verification of `body` matched; without one, the
    /// recursive form when both texts coincide (either signature is then
    /// the same), else none.
    fn form_of(&self, body: &Value) -> Option<SignedForm> {
        let recursive = sorted_recursive(body);
        let key = sha256(recursive.as_bytes());
        let m = self.matched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = m.iter().rev().find(|(k, _)| *k == key) {
            return Some(*f);
        }
        (recursive == sorted_top_level(body)).then_some(SignedForm::SortedRecursive)
    }
}

fn hmac_sha512(secret: &Secret, msg: &[u8]) -> Hmac<Sha512> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha512>::new_from_slice(secret.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA512 takes keys of any length"),
    };
    mac.update(msg);
    mac
}

/// Lowercase hex HMAC-SHA512 of `msg` under `secret`.
pub fn sign_hmac_sha512_hex(secret: &Secret, msg: &[u8]) -> String {
    hex::encode(hmac_sha512(secret, msg).finalize().into_bytes())
}

/// JavaScript's default sort order of strings: by UTF-16 code units.
fn js_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// An ECMAScript array index (`"0"`, `"17"`; not `"01"`, not 2^32 − 1 or
/// more): an ordinary object lists these keys first, in numeric order.
fn array_index(k: &str) -> Option<u32> {
    let b = k.as_bytes();
    if b.is_empty()
        || b.len() > 10
        || !b.iter().all(u8::is_ascii_digit)
        || (b[0] == b'0' && b.len() > 1)
    {
        return None;
    }
    k.parse::<u64>()
        .ok()
        .filter(|n| *n < u64::from(u32::MAX))
        .and_then(|n| u32::try_from(n).ok())
}

/// NOWPayments' `sortObject`: `Object.keys(obj).sort().reduce((r, k) => {
/// r[k] = (obj[k] && typeof obj[k] === 'object') ? sortObject(obj[k]) :
/// obj[k]; return r }, {})` on an object or an array (whose indices become
/// keys).
fn sort_object(v: &Value) -> Value {
    let entries: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, x)| (k.clone(), x)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| (i.to_string(), x))
            .collect(),
        other => return other.clone(),
    };
    let mut sorted = entries;
    sorted.sort_by(|(a, _), (b, _)| js_cmp(a, b));
    // `r.__proto__ = x` runs Object.prototype's setter: never an own
    // property, so never printed.
    sorted.retain(|(k, _)| k != "__proto__");
    let rebuild = |x: &Value| match x {
        Value::Object(_) | Value::Array(_) => sort_object(x),
        other => other.clone(),
    };
    // The rebuilt object lists array-index keys first, in numeric order,
    // then the others in insertion (sorted) order.
    let mut indices: Vec<(u32, &String, &Value)> = sorted
        .iter()
        .filter_map(|(k, x)| array_index(k).map(|i| (i, k, *x)))
        .collect();
    indices.sort_by_key(|(i, _, _)| *i);
    let mut out = Map::new();
    for (_, k, x) in indices {
        out.insert(k.clone(), rebuild(x));
    }
    for (k, x) in &sorted {
        if array_index(k).is_none() {
            out.insert(k.clone(), rebuild(x));
        }
    }
    Value::Object(out)
}

/// The recursively sorted form: `JSON.stringify(sortObject(params))`.
pub fn sorted_recursive(body: &Value) -> String {
    match body {
        Value::Object(_) | Value::Array(_) => canonical::stringify(&sort_object(body)),
        other => canonical::stringify(other),
    }
}

/// `JSON.stringify(value, list)` with a replacer array: every object, at
/// every depth, prints the members named in `list`, in `list`'s order, that
/// it has (`Get`: an own member; for `__proto__`, without an own one,
/// `Object.prototype`, which prints as `{"__proto__":null}`); arrays print
/// every element.
fn with_allow_list(v: &Value, list: &[&str]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for k in list {
                match m.get(*k) {
                    Some(x) => {
                        out.insert((*k).to_owned(), with_allow_list(x, list));
                    }
                    None if *k == "__proto__" => {
                        let mut proto = Map::new();
                        proto.insert("__proto__".to_owned(), Value::Null);
                        out.insert((*k).to_owned(), Value::Object(proto));
                    }
                    None => {}
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| with_allow_list(x, list)).collect()),
        other => other.clone(),
    }
}

/// The top-level sorted form: `JSON.stringify(params,
/// Object.keys(params).sort())`.
pub fn sorted_top_level(body: &Value) -> String {
    match body {
        Value::Object(m) => {
            let mut list: Vec<&str> = m.keys().map(String::as_str).collect();
            list.sort_by(|a, b| js_cmp(a, b));
            canonical::stringify(&with_allow_list(body, &list))
        }
        other => canonical::stringify(other),
    }
}

/// `payment_status` → (normalized, flag).
pub fn status_of(payment_status: &str) -> (Status, Option<&'static str>) {
    match payment_status {
        "waiting" => (Status::Pending, None),
        "confirming" | "confirmed" | "sending" => (Status::Processing, None),
        "partially_paid" => (Status::Processing, Some("partial")),
        "finished" => (Status::Completed, None),
        "failed" => (Status::Failed, None),
        "refunded" => (Status::Refunded, None),
        "expired" => (Status::Expired, None),
        _ => (Status::Unknown, None),
    }
}

/// An id member: a non-empty string, or a number's JavaScript text.
fn id(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        n @ Value::Number(_) => Some(canonical::stringify(n)),
        _ => None,
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// An amount as NOWPayments sends it (a JSON number, printed as JavaScript
/// prints it, or a decimal string). `Err(())`: there, but no decimal.
fn amount(v: &Value, key: &str) -> Result<Option<String>, ()> {
    let s = match v.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(n @ Value::Number(_)) => canonical::stringify(n),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(()),
    };
    if is_decimal(&s) { Ok(Some(s)) } else { Err(()) }
}

/// Whether a decimal text is above zero: not negative, and a non-zero
/// digit before any exponent (`0e5` is zero).
fn positive(s: &str) -> bool {
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    !s.starts_with('-') && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// `updated_at`: epoch milliseconds (a number or digits), or RFC 3339.
fn occurred_at(body: &Value) -> Option<OffsetDateTime> {
    let ms: Option<i64> = match body.get(REFRESHED)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::String(s) => {
            return OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok();
        }
        _ => None,
    };
    let nanos = i128::from(ms?).checked_mul(1_000_000)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[async_trait]
impl Provider for Nowpayments {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn verify(
        &self,
        req: &Inbound<'_>,
        _now: OffsetDateTime,
    ) -> Result<Authentic, Rejection> {
        // A repeated (or comma-joined) header is refused, never guessed at.
        let sig = req.signature_header(SIGNATURE_HEADER, "x-nowpayments-sig")?;
        // The signature covers a reading of the body: without exactly one,
        // nothing can be authenticated (400).
        let body = canonical::parse_strict(req.body)?;
        if !body.is_object() {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        }
        let bad = || Rejection::unauthorized("bad_signature", "signature does not match");
        // Lowercase hex only, as NOWPayments sends it (`digest('hex')`).
        if sig.len() != 128 || sig.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let digest = hex::decode(sig).map_err(|_| bad())?;
        let form = self.matching_form(&body, &digest).ok_or_else(bad)?;
        self.remember(&body, form);
        // No time window (module docs).
        Ok(Verified::new(body).into())
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let body = &verified.body;
        if !body.is_object() {
            return Err(Unparsed::new(UnparsedReason::BadShape));
        }
        let payment_id = id(body, "payment_id").ok_or_else(|| Unparsed::field("payment_id"))?;
        let raw_status =
            string(body, "payment_status").ok_or_else(|| Unparsed::field("payment_status"))?;
        let (status, flag) = status_of(&raw_status);
        let merchant_order = id(body, "order_id");
        let parent = id(body, "parent_payment_id");
        let order_id = merchant_order
            .clone()
            .or_else(|| id(body, "invoice_id"))
            .or_else(|| parent.clone())
            .unwrap_or_else(|| payment_id.clone());

        let mut flags: Vec<String> = Vec::new();
        flags.extend(flag.map(str::to_owned));
        if parent.is_some() {
            flags.push("repeated_deposit".to_owned());
        }
        if let Some(form) = self.form_of(body) {
            flags.push(form.flag().to_owned());
        }
        let mut unreadable = false;
        let mut read = |key: &str| {
            amount(body, key).unwrap_or_else(|()| {
                unreadable = true;
                None
            })
        };
        let price = read("price_amount");
        let paid = read("actually_paid");
        let asked = read("pay_amount");
        if unreadable {
            flags.push("unreadable_amount".to_owned());
        }
        let price_currency = string(body, "price_currency");
        let fiat = (price.is_some() || price_currency.is_some()).then_some(Fiat {
            amount: price,
            currency: price_currency,
        });
        let crypto_amount = paid.filter(|p| positive(p)).or(asked);
        let pay_currency = string(body, "pay_currency");
        let network = string(body, "network");
        let crypto = (crypto_amount.is_some() || pay_currency.is_some()).then_some(Crypto {
            amount: crypto_amount,
            currency: pay_currency,
            network,
        });
        let mut tx_hashes: Vec<String> = Vec::new();
        for k in ["payin_hash", "payout_hash"] {
            if let Some(h) = string(body, k)
                && !tx_hashes.contains(&h)
            {
                tx_hashes.push(h);
            }
        }
        let failure = (status == Status::Failed).then(|| Failure {
            code: Some("failed".to_owned()),
            reason: None,
        });
        let email = string(body, "customer_email");
        let occurred = occurred_at(body);

        let fingerprint =
            sha256(sorted_recursive(&canonical::without_key(body, REFRESHED)).as_bytes());
        let mut ev = PaymentEvent::new(
            ProviderId::NOWPAYMENTS,
            "payment",
            raw_status.clone(),
            status,
            order_id,
            received_at,
            verified.body,
        );
        ev.merchant_reference = merchant_order;
        ev.occurred_at = occurred;
        ev.fiat = fiat;
        ev.crypto = crypto;
        ev.tx_hashes = tx_hashes;
        ev.failure = failure;
        ev.customer = email.map(|e| Customer { email: Some(e) });
        ev.flags = flags;
        Ok(Normalized {
            dedupe_key: format!("{payment_id}\n{raw_status}"),
            fingerprint,
            event: ev,
        })
    }

    /// Sign the recursive sorted form of the body's reading (serde_json's,
    /// which is JavaScript's `JSON.parse`: the last of repeated keys wins),
    /// as NOWPayments' current sample does; bytes that are not a JSON
    /// object are signed as they are (never refused: such a body is a 400
    /// whatever its signature).
    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        let text = match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => sorted_recursive(&v).into_bytes(),
            _ => body.to_vec(),
        };
        let sig = sign_hmac_sha512_hex(self.secrets.newest(), &text);
        Ok(Signed {
            body: body.to_vec(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                (SIGNATURE_HEADER.to_owned(), sig),
            ],
            params: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::NotMapped;
    use crate::providers::test_support::{at, verify_at};

    const SECRET: &str = "test-nowpayments-secret";
    const T0: i64 = 1_750_000_000;

    fn provider(secrets: &str) -> Nowpayments {
        Nowpayments::new(SecretList::parse(secrets).unwrap_or_else(|e| panic!("{e}")))
    }

    fn verify_with(
        p: &Nowpayments,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Verified, NotMapped> {
        verify_at(p, body.as_bytes(), headers, &[], T0)
    }

    fn signed(p: &Nowpayments, body: &str) -> Result<Normalized, NotMapped> {
        let s = p
            .sign(body.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        let hs: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let v = verify_with(p, body, &hs)?;
        Ok(p.normalize(v, at(T0))?)
    }

    fn ok(body: &str) -> Normalized {
        signed(&provider(SECRET), body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn kind<E: Into<NotMapped>>(r: Result<impl std::fmt::Debug, E>) -> (u16, &'static str, String) {
        match r.map_err(Into::into) {
            Ok(v) => panic!("expected a rejection, got {v:?}"),
            Err(NotMapped::Rejected(e)) => (e.status.as_u16(), e.kind, e.reason.into_owned()),
            Err(NotMapped::Unparsed(u)) => (200, u.reason.as_str(), u.to_string()),
        }
    }

    fn repo(rel: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(rel)
    }

    /// A committed fixture of `events/nowpayments/`: its body and headers.
    fn fixture(file: &str) -> (String, Vec<(String, String)>) {
        let path = repo("events/nowpayments").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ev: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
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

    fn committed(file: &str) -> Result<Normalized, NotMapped> {
        let (body, headers) = fixture(file);
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let p = provider(SECRET);
        let v = verify_with(&p, &body, &hs)?;
        Ok(p.normalize(v, at(T0))?)
    }

    #[derive(Debug, serde::Deserialize)]
    struct Vector {
        name: String,
        secret: String,
        body: String,
        #[serde(default)]
        refused: bool,
        recursive: String,
        top_level: String,
        sig_recursive: String,
        sig_top_level: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = std::fs::read_to_string(repo("events/nowpayments/vectors/signatures.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// payhook prints both of NOWPayments' JavaScript texts exactly as
    /// Node.js does and verifies the HMAC-SHA512 Node.js computes over each
    /// (`scripts/nowpayments-vectors.js`), flagging which one matched; a
    /// body JavaScript reads rounded is a 400 even with Node's signature.
    #[test]
    fn agrees_with_nodejs_on_every_vector() {
        let vs = vectors();
        assert!(vs.len() >= 12, "too few vectors");
        let mut differing = 0;
        for v in &vs {
            let p = provider(&v.secret);
            if v.refused {
                for sig in [&v.sig_recursive, &v.sig_top_level] {
                    let r = verify_with(&p, &v.body, &[(SIGNATURE_HEADER, sig)]);
                    assert_eq!(kind(r).0, 400, "{}", v.name);
                }
                continue;
            }
            let parsed = canonical::parse_strict(v.body.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(
                sorted_recursive(&parsed),
                v.recursive,
                "{}: recursive",
                v.name
            );
            assert_eq!(
                sorted_top_level(&parsed),
                v.top_level,
                "{}: top level",
                v.name
            );
            assert_eq!(
                sign_hmac_sha512_hex(&Secret::new(v.secret.clone()), v.recursive.as_bytes()),
                v.sig_recursive,
                "{}",
                v.name
            );
            if v.recursive != v.top_level {
                differing += 1;
            }
            for (sig, form) in [
                (&v.sig_recursive, SignedForm::SortedRecursive),
                (&v.sig_top_level, SignedForm::SortedTopLevel),
            ] {
                // When the texts coincide both signatures are one, and the
                // recursive form is the one named.
                let want = if v.recursive == v.top_level {
                    SignedForm::SortedRecursive
                } else {
                    form
                };
                let verified = verify_with(&p, &v.body, &[(SIGNATURE_HEADER, sig)])
                    .unwrap_or_else(|e| panic!("{}: {e}", v.name));
                match p.normalize(verified, at(T0)) {
                    Ok(n) => assert!(
                        n.event.flags.iter().any(|f| f == want.flag()),
                        "{}: {:?}",
                        v.name,
                        n.event.flags
                    ),
                    // Vectors without a payment id/status are still
                    // authentic (kept as unparsed by the pipeline).
                    Err(u) => panic!("{}: {u}", v.name),
                }
                // Another secret: not authentic.
                let r = verify_with(
                    &provider("another-secret"),
                    &v.body,
                    &[(SIGNATURE_HEADER, sig)],
                );
                assert_eq!(kind(r).0, 401, "{}", v.name);
            }
            // sign() signs the recursive form.
            let s = p
                .sign(v.body.as_bytes(), at(T0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                s.headers
                    .contains(&(SIGNATURE_HEADER.to_owned(), v.sig_recursive.clone())),
                "{}",
                v.name
            );
            assert_eq!(s.body, v.body.as_bytes());
        }
        assert!(
            differing >= 8,
            "only {differing} vectors tell the forms apart"
        );
    }

    /// The committed vectors are what the script prints now (Node.js is
    /// required: without it this test fails rather than skipping).
    #[test]
    fn committed_vectors_are_current() {
        let out =
            std::env::temp_dir().join(format!("nowpayments-vectors-{}.json", std::process::id()));
        let status = std::process::Command::new("node")
            .arg(repo("scripts/nowpayments-vectors.js"))
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("node: {e}"));
        assert!(status.success());
        let fresh = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        let committed = std::fs::read_to_string(repo("events/nowpayments/vectors/signatures.json"))
            .unwrap_or_default();
        assert_eq!(
            fresh, committed,
            "run node scripts/nowpayments-vectors.js and commit the result"
        );
    }

    #[test]
    fn replacer_array_semantics() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":{"b":2,"c":3},"l":[{"a":1,"z":2},3,[{"b":4}]],"fee":{"currency":"btc"}}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            sorted_top_level(&v),
            r#"{"a":{"b":2},"b":1,"fee":{},"l":[{"a":1},3,[{"b":4}]]}"#
        );
        assert_eq!(
            sorted_recursive(&v),
            r#"{"a":{"b":2,"c":3},"b":1,"fee":{"currency":"btc"},"l":{"0":{"a":1,"z":2},"1":3,"2":{"0":{"b":4}}}}"#
        );
        for (k, want) in [
            ("0", Some(0)),
            ("10", Some(10)),
            ("4294967294", Some(4_294_967_294)),
            ("4294967295", None),
            ("01", None),
            ("-1", None),
            ("1e3", None),
            ("", None),
        ] {
            assert_eq!(array_index(k), want, "{k:?}");
        }
    }

    #[test]
    fn docs_examples() {
        // The docs' "Webhooks Examples: Payments" body lacks a comma: as
        // printed it has no reading, so it cannot be authenticated.
        let (body, _) = fixture("docs-webhook-example-verbatim.json");
        assert!(body.contains("\"payment_extra_ids\":null\n\"fee\""));
        assert_eq!(kind(signed(&provider(SECRET), &body)).0, 400);
        // With the comma: a repeated deposit (`parent_payment_id`) without a
        // merchant order or invoice belongs to its parent payment.
        let e = committed("docs-webhook-example.json")
            .unwrap_or_else(|e| panic!("{e}"))
            .event;
        assert_eq!(
            (e.order_id.as_str(), e.status, e.provider_event.as_str()),
            ("987654321", Status::Completed, "finished")
        );
        assert_eq!(e.merchant_reference, None);
        assert_eq!(e.flags, ["repeated_deposit", "signature_sorted_recursive"]);
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (c.amount.as_deref(), c.currency.as_deref()),
            (Some("15"), Some("trx"))
        );
        assert_eq!(
            e.fiat.map(|f| (f.amount, f.currency)),
            Some((Some("1".to_owned()), Some("usd".to_owned())))
        );
        // The docs' list of payments: a finished and an expired payment.
        let n = committed("docs-list-payment-finished.json").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.dedupe_key, "5524759814\nfinished");
        assert_eq!(n.event.order_id, "RGDBP-21314");
        assert_eq!(n.event.merchant_reference.as_deref(), Some("RGDBP-21314"));
        assert_eq!(
            n.event.crypto.and_then(|c| c.amount).as_deref(),
            Some("180")
        );
        let e = committed("docs-list-payment-expired.json")
            .unwrap_or_else(|e| panic!("{e}"))
            .event;
        assert_eq!(e.status, Status::Expired);
        // Nothing arrived: the amount asked is published.
        assert_eq!(
            e.crypto.and_then(|c| c.amount).as_deref(),
            Some("165.652609")
        );
    }

    #[test]
    fn every_status_is_mapped() {
        for (s, want, flag) in [
            ("waiting", Status::Pending, None),
            ("confirming", Status::Processing, None),
            ("confirmed", Status::Processing, None),
            ("sending", Status::Processing, None),
            ("partially_paid", Status::Processing, Some("partial")),
            ("finished", Status::Completed, None),
            ("failed", Status::Failed, None),
            ("refunded", Status::Refunded, None),
            ("expired", Status::Expired, None),
            ("wrong_asset_confirmed", Status::Unknown, None),
            ("FINISHED", Status::Unknown, None),
        ] {
            assert_eq!(status_of(s), (want, flag), "{s}");
        }
        let (body, _) = fixture("sample.json");
        let n = ok(&body);
        let e = &n.event;
        assert_eq!(n.dedupe_key, "5077125051\nfinished");
        assert_eq!(
            (e.order_id.as_str(), e.product.as_str()),
            ("order-1042", "payment")
        );
        assert_eq!(
            e.occurred_at,
            OffsetDateTime::from_unix_timestamp_nanos(1_750_000_000_123_000_000).ok()
        );
        let failed = body.replace("\"finished\"", "\"failed\"");
        let e = ok(&failed).event;
        assert_eq!(e.failure.and_then(|f| f.code).as_deref(), Some("failed"));
        // The merchant order, else the invoice, else the parent, else the
        // payment itself.
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let mut m = v.clone();
        m["order_id"] = Value::Null;
        assert_eq!(ok(&m.to_string()).event.order_id, "4522625843");
        m["invoice_id"] = Value::Null;
        assert_eq!(ok(&m.to_string()).event.order_id, "5077125051");
        m["parent_payment_id"] = 5_077_125_000u64.into();
        let e = ok(&m.to_string()).event;
        assert_eq!(e.order_id, "5077125000");
        assert!(e.flags.iter().any(|f| f == "repeated_deposit"));
        m["order_id"] = 42.into();
        assert_eq!(ok(&m.to_string()).event.order_id, "42");
    }

    #[test]
    fn amounts_print_as_javascript_does() {
        let body = r#"{"payment_id":1,"payment_status":"partially_paid","price_amount":1e21,"price_currency":"usd","pay_amount":0.00021,"actually_paid":0.000083,"pay_currency":"btc","network":"btc","updated_at":"2021-04-12T14:23:06.244Z","payin_hash":"0xabc","customer_email":"ana@example.com"}"#;
        let e = ok(body).event;
        assert_eq!(e.fiat.and_then(|f| f.amount).as_deref(), Some("1e+21"));
        let c = e.crypto.unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("0.000083"), Some("btc"), Some("btc"))
        );
        assert_eq!(e.tx_hashes, ["0xabc"]);
        assert_eq!(
            e.customer.and_then(|c| c.email).as_deref(),
            Some("ana@example.com")
        );
        assert!(e.occurred_at.is_some());
        // Zero paid: the amount asked.
        let e = ok(&body.replace("0.000083", "0")).event;
        assert_eq!(e.crypto.and_then(|c| c.amount).as_deref(), Some("0.00021"));
        // Amounts as decimal strings are kept; anything else is flagged.
        let e = ok(&body.replace("1e21", "\"170.50\"")).event;
        assert_eq!(e.fiat.and_then(|f| f.amount).as_deref(), Some("170.50"));
        let e = ok(&body.replace("1e21", "\"lots\"")).event;
        assert_eq!(e.fiat.and_then(|f| f.amount), None);
        assert!(e.flags.iter().any(|f| f == "unreadable_amount"));
        for (s, want) in [
            ("0", false),
            ("0.0", false),
            ("0e5", false),
            ("-1", false),
            ("0.1", true),
            ("2e-3", true),
        ] {
            assert_eq!(positive(s), want, "{s}");
        }
    }

    #[test]
    fn header_and_body_checks() {
        let p = provider(SECRET);
        let (body, headers) = fixture("sample.json");
        let good = headers
            .iter()
            .find(|(k, _)| k == SIGNATURE_HEADER)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(verify_with(&p, &body, &[(SIGNATURE_HEADER, &good)]).is_ok());
        // Whitespace and member order are not covered: a reading is.
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
        assert!(verify_with(&p, &pretty, &[(SIGNATURE_HEADER, &good)]).is_ok());
        let tampered = body.replacen("155.38559757", "1553.8559757", 1);
        assert_eq!(
            kind(verify_with(&p, &tampered, &[(SIGNATURE_HEADER, &good)])).1,
            "bad_signature"
        );
        let upper = good.to_uppercase();
        let joined = format!("{good},{good}");
        for (what, hs, want) in [
            ("none", vec![], (401, "missing_signature")),
            (
                "upper case",
                vec![(SIGNATURE_HEADER, upper.as_str())],
                (401, "bad_signature"),
            ),
            (
                "short",
                vec![(SIGNATURE_HEADER, &good[..127])],
                (401, "bad_signature"),
            ),
            (
                "not hex",
                vec![(SIGNATURE_HEADER, &"g".repeat(128)[..])],
                (401, "bad_signature"),
            ),
            (
                "joined",
                vec![(SIGNATURE_HEADER, joined.as_str())],
                (401, "ambiguous_header"),
            ),
            (
                "twice",
                vec![
                    (SIGNATURE_HEADER, good.as_str()),
                    (SIGNATURE_HEADER, good.as_str()),
                ],
                (401, "ambiguous_header"),
            ),
        ] {
            let (s, k, _) = kind(verify_with(&p, &body, &hs));
            assert_eq!((s, k), want, "{what}");
        }
        // No one reading: 400, whatever the signature.
        for bad in [
            "not json",
            r#"{"payment_id":1,"payment_status":"waiting","payment_status":"finished"}"#,
            r#"{"payment_id":9007199254740993,"payment_status":"finished"}"#,
            r#"[{"payment_id":1}]"#,
            "\"text\"",
        ] {
            let r = signed(&p, bad);
            assert_eq!(kind(r).0, 400, "{bad}");
        }
        // Rotation: every secret verifies, the newest signs.
        let rotated = provider("new-secret,test-nowpayments-secret");
        assert!(verify_with(&rotated, &body, &[(SIGNATURE_HEADER, &good)]).is_ok());
        assert!(signed(&rotated, &body).is_ok());
        let s = rotated
            .sign(body.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.headers.iter().any(|(_, v)| *v == good));
        // Python's form (`8.3e-05`, ASCII escapes) is not one of the accepted
        // JavaScript texts.
        assert_eq!(kind(committed("python-form-signature.json")).0, 401);
        // The top-level form, committed.
        let e = committed("signed-top-level.json")
            .unwrap_or_else(|e| panic!("{e}"))
            .event;
        assert!(
            e.flags.iter().any(|f| f == "signature_sorted_top_level"),
            "{:?}",
            e.flags
        );
    }

    #[test]
    fn a_resent_notification_is_the_same_payload() {
        let (body, _) = fixture("sample.json");
        let first = ok(&body);
        let again = ok(&body.replace("1750000000123", "1750000060123"));
        assert_eq!(again.dedupe_key, first.dedupe_key);
        assert_eq!(again.fingerprint, first.fingerprint);
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            ok(&serde_json::to_string_pretty(&v).unwrap_or_default()).fingerprint,
            first.fingerprint
        );
        let other = ok(&body.replacen("155.38559757", "155.4", 1));
        assert_eq!(other.dedupe_key, first.dedupe_key);
        assert_ne!(other.fingerprint, first.fingerprint);
        let next = ok(&body.replace("\"finished\"", "\"refunded\""));
        assert_ne!(next.dedupe_key, first.dedupe_key);
    }

    #[test]
    fn authentic_but_unmappable_bodies_are_kept() {
        for (body, field) in [
            (r#"{"payment_status":"finished"}"#, "payment_id"),
            (r#"{"payment_id":1}"#, "payment_status"),
            (
                r#"{"payment_id":"","payment_status":"finished"}"#,
                "payment_id",
            ),
            (
                r#"{"payment_id":{},"payment_status":"finished"}"#,
                "payment_id",
            ),
            (r#"{"payment_id":1,"payment_status":7}"#, "payment_status"),
        ] {
            let (s, r, why) = kind(signed(&provider(SECRET), body));
            assert_eq!((s, r), (200, "missing_field"), "{body}: {why}");
            assert!(why.contains(&format!("`{field}`")), "{body}: {why}");
        }
    }

    #[test]
    fn sign_never_refuses_bytes() {
        let p = provider(SECRET);
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"[1,2]",
            b"{\"a\":1,\"a\":2}",
            b"null",
        ] {
            let s = p.sign(body, at(T0)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.body, body);
        }
        // A repeated key is signed under JavaScript's reading (last wins),
        // and still refused: it has two readings.
        let body = r#"{"payment_id":1,"payment_status":"waiting","payment_status":"finished"}"#;
        let s = p
            .sign(body.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        let js = r#"{"payment_id":1,"payment_status":"finished"}"#;
        assert!(s.headers.contains(&(
            SIGNATURE_HEADER.to_owned(),
            sign_hmac_sha512_hex(&Secret::new(SECRET), js.as_bytes())
        )));
    }

    #[test]
    fn config_and_route() {
        let cfg = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        let e = Nowpayments::from_config(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("PAYHOOK_NOWPAYMENTS_SECRETS"), "{e}");
        let cfg = Config::from_lookup(|k| (k == SECRETS_SETTING).then(|| SECRET.to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        let p = Nowpayments::from_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.route(), "/webhooks/nowpayments");
        assert_eq!(p.time_window(), None);
        assert!(!format!("{p:?}").contains(SECRET));
    }
}
