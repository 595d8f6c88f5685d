//! BTCPay Server (Greenfield) webhooks on `/webhooks/btcpay`.
//!
//! # Verification
//!
//! BTCPay serializes each event with Newtonsoft.Json (camelCase,
//! `Formatting.Indented`), signs the UTF-8 bytes with HMAC-SHA256 under the
//! webhook's secret and sends `BTCPay-Sig: sha256=<lowercase hex>`
//! (`BTCPayServer/Plugins/Webhooks/WebhookSender.cs`, `SendDelivery`). The
//! signature covers the raw bytes, so they are verified exactly as received,
//! never re-serialized: from then on the body is authentic whatever it holds
//! (DESIGN.md step 4), bytes that are not JSON included. The header must
//! appear once (a repeated or comma-joined one is refused) and carry the
//! `sha256=` prefix exactly as BTCPay writes it.
//!
//! # No time window
//!
//! BTCPay sends no time header, and the body's `timestamp` is the time the
//! *first* delivery was created: a redelivery re-reads the stored request
//! and keeps it (`CreateRedeliveryRequest`), and redeliveries come 10 s,
//! 1 min and then 6 × 10 min later when automatic redelivery is on, or at
//! any later time when the merchant presses "Redeliver". A window on it
//! would refuse legitimate redeliveries, so none is applied. A replayed
//! delivery is answered as a duplicate instead: it carries the
//! `originalDeliveryId` of the delivery it copies.
//!
//! # Dedupe key and fingerprint
//!
//! The dedupe key is `originalDeliveryId`: BTCPay sets it to the first
//! delivery's id and keeps it on every redelivery (a redelivery of a
//! redelivery included), while `deliveryId` is new and `isRedelivery` is
//! `true`. Older BTCPay releases spelled the member `orignalDeliveryId`
//! (`WebhookEvent.cs` still reads that spelling back), so it is taken too,
//! and `deliveryId` when neither is there.
//!
//! A redelivery is not byte-identical to the first delivery: BTCPay reads
//! the stored request back as the base `WebhookEvent` (whose
//! `[JsonExtensionData]` holds every other member) and writes it again, so
//! besides `deliveryId` and `isRedelivery` the order of the members changes
//! (the base members first). The fingerprint is therefore SHA-256 of the
//! body's key-sorted JavaScript form without `deliveryId`, `isRedelivery`,
//! `originalDeliveryId` and `orignalDeliveryId`: a redelivery is a
//! `duplicate`, never a 409. `timestamp` and `webhookId` are not rewritten
//! by a redelivery and stay covered. (Newtonsoft may re-spell a date-like
//! string inside merchant `metadata` when it reads it back; such a
//! redelivery would be a 409 on a delivery that was already recorded, so
//! nothing is lost.)
//!
//! # Mapping (`WebhookEventType.cs`, `InvoiceTriggerProvider.cs`)
//!
//! | type | status | flags |
//! |---|---|---|
//! | InvoiceCreated | created | |
//! | InvoiceReceivedPayment, InvoicePaymentSettled | pending | `after_expiration` |
//! | InvoiceProcessing | processing | `overpaid` |
//! | InvoiceSettled | completed | `overpaid`, `manually_marked` |
//! | InvoiceExpired | expired | `partial` (`partiallyPaid`) |
//! | InvoiceExpiredPaidPartial | expired | `partial` |
//! | InvoiceInvalid | failed | `manually_marked` |
//! | InvoicePaidAfterExpiration | processing | `after_expiration` |
//! | InvoiceRefund | refunded | |
//! | Payout*, PaymentRequest*, anything else | unknown | |
//!
//! A redelivery also carries the flag `redelivery`. The order id is
//! `invoiceId` (`payoutId` for payouts, `paymentRequestId` for payment
//! requests; for another type the first of those it has), the merchant
//! reference `metadata.orderId`, the customer `metadata.buyerEmail`,
//! `occurred_at` the `timestamp`. A payment event (`InvoiceReceivedPayment`,
//! `InvoicePaymentSettled`) publishes `payment.value` in the currency its
//! `paymentMethodId` names (`BTC-CHAIN` → `BTC`) and, for an on-chain
//! payment, the transaction of `payment.id` (`<txid>-<vout>`). BTCPay's
//! webhooks carry no invoice amount: `fiat` stays empty. A body with no
//! `type`, no delivery id or no order id is kept as `unknown`, flagged
//! `unparsed`.

use super::is_decimal;
use super::{
    Authentic, Descriptor, Inbound, Normalized, Proof, Provider, Signed, Unparsed, UnparsedReason,
    Verified, opt_str, sha256,
};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::{SecretList, sign_hmac_sha256_hex};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

/// The signature header (HTTP header names are case-insensitive; BTCPay
/// spells it `BTCPay-Sig`).
pub const SIGNATURE_HEADER: &str = "btcpay-sig";
/// What precedes the hex digest in [`SIGNATURE_HEADER`].
pub const SIGNATURE_PREFIX: &str = "sha256=";

/// The members a redelivery rewrites (see the module docs), left out of the
/// fingerprint.
const DELIVERY_MEMBERS: &[&str] = &[
    "deliveryId",
    "isRedelivery",
    "originalDeliveryId",
    "orignalDeliveryId",
];

impl ProviderId {
    pub const BTCPAY: ProviderId = ProviderId::new("btcpay");
}

const SECRETS_SETTING: &str = "PAYHOOK_BTCPAY_SECRETS";

/// BTCPay Server's Greenfield webhooks: `PAYHOOK_BTCPAY_SECRETS` (the
/// webhooks' secrets, newest first) turns them on.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::BTCPAY,
    route: "/webhooks/btcpay",
    settings: &[SECRETS_SETTING],
    build: |cfg| Ok(Arc::new(Btcpay::from_config(cfg)?)),
    dev_settings: |secret| vec![(SECRETS_SETTING, secret("dev-btcpay"))],
    test_settings: &[(SECRETS_SETTING, "test-btcpay-secret,test-btcpay-secret-old")],
    wrong_settings: &[(SECRETS_SETTING, "not-the-secret")],
    proof: Proof::Bytes,
};

/// BTCPay Server webhooks.
#[derive(Debug, Clone)]
pub struct Btcpay {
    secrets: SecretList,
}

impl Btcpay {
    /// `secrets`: first = newest (used by [`Provider::sign`]), all accepted.
    pub fn new(secrets: SecretList) -> Self {
        Btcpay { secrets }
    }

    /// From `PAYHOOK_BTCPAY_SECRETS` (required).
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Btcpay::new(cfg.require_secrets(SECRETS_SETTING)?))
    }
}

/// The id of the delivery a body is (a copy of): `originalDeliveryId`, else
/// the old spelling `orignalDeliveryId`, else `deliveryId`.
fn delivery_ref(body: &Value) -> Option<String> {
    ["originalDeliveryId", "orignalDeliveryId", "deliveryId"]
        .iter()
        .find_map(|k| match body.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        })
}

/// What kind of object an event type is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Invoice,
    Payout,
    PaymentRequest,
    Other,
}

impl Family {
    fn of(event_type: &str) -> Self {
        if event_type.starts_with("Invoice") {
            Family::Invoice
        } else if event_type.starts_with("Payout") {
            Family::Payout
        } else if event_type.starts_with("PaymentRequest") {
            Family::PaymentRequest
        } else {
            Family::Other
        }
    }

    fn product(self) -> &'static str {
        match self {
            Family::Invoice => "invoice",
            Family::Payout => "payout",
            Family::PaymentRequest => "payment-request",
            Family::Other => "event",
        }
    }

    /// The members naming the order, tried in this order.
    fn id_members(self) -> &'static [&'static str] {
        match self {
            Family::Invoice => &["invoiceId"],
            Family::Payout => &["payoutId"],
            Family::PaymentRequest => &["paymentRequestId"],
            Family::Other => &["invoiceId", "payoutId", "paymentRequestId"],
        }
    }
}

/// BTCPay's event type → normalized status (module docs).
pub fn status_of(event_type: &str) -> Status {
    match event_type {
        "InvoiceCreated" => Status::Created,
        "InvoiceReceivedPayment" | "InvoicePaymentSettled" => Status::Pending,
        "InvoiceProcessing" | "InvoicePaidAfterExpiration" => Status::Processing,
        "InvoiceSettled" => Status::Completed,
        "InvoiceExpired" | "InvoiceExpiredPaidPartial" => Status::Expired,
        "InvoiceInvalid" => Status::Failed,
        "InvoiceRefund" => Status::Refunded,
        _ => Status::Unknown,
    }
}

fn flag(body: &Value, key: &str) -> bool {
    body.get(key).and_then(Value::as_bool) == Some(true)
}

/// The payment of a payment event: its amount in the payment method's
/// currency, and its transaction when it is on-chain.
fn payment(body: &Value, flags: &mut Vec<String>) -> (Option<Crypto>, Vec<String>) {
    let Some(p) = body.get("payment").filter(|p| p.is_object()) else {
        return (None, Vec::new());
    };
    // `paymentMethodId`; older releases (before the 2.0 refactoring) sent
    // `paymentMethod`.
    let method = opt_str(body, "paymentMethodId").or_else(|| opt_str(body, "paymentMethod"));
    let (currency, rail) = match method.as_deref() {
        Some(m) => match m.split_once('-') {
            Some((c, r)) => (Some(c.to_owned()), Some(r)),
            None => (Some(m.to_owned()), None),
        },
        None => (None, None),
    };
    let amount = match opt_str(p, "value") {
        Some(v) if is_decimal(&v) => Some(v),
        Some(_) => {
            flags.push("unreadable_amount".to_owned());
            None
        }
        None => None,
    };
    // On-chain payment ids are `<txid>-<vout>` (a bare currency is BTCPay's
    // old on-chain name); Lightning ids are payment hashes, not
    // transactions.
    let on_chain = matches!(rail, None | Some("CHAIN") | Some("OnChain"));
    let mut tx = Vec::new();
    if on_chain
        && let Some(id) = opt_str(p, "id")
        && let Some((txid, vout)) = id.rsplit_once('-')
        && txid.len() == 64
        && txid.bytes().all(|b| b.is_ascii_hexdigit())
        && !vout.is_empty()
        && vout.bytes().all(|b| b.is_ascii_digit())
    {
        tx.push(txid.to_owned());
    }
    let crypto = (amount.is_some() || currency.is_some()).then_some(Crypto {
        amount,
        currency,
        network: None,
    });
    (crypto, tx)
}

/// `value` with the keys of every object sorted (by UTF-16 code units, as
/// JavaScript sorts them), for an order-independent fingerprint.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            Value::Object(
                keys.into_iter()
                    .filter_map(|k| Some((k.clone(), sorted(m.get(k)?))))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// SHA-256 of what two deliveries of one event share (module docs).
fn fingerprint(body: &Value) -> [u8; 32] {
    let stable = match body {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !DELIVERY_MEMBERS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    sha256(canonical::stringify(&sorted(&stable)).as_bytes())
}

#[async_trait]
impl Provider for Btcpay {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn verify(
        &self,
        req: &Inbound<'_>,
        _now: OffsetDateTime,
    ) -> Result<Authentic, Rejection> {
        // A repeated (or comma-joined) header is refused, never guessed at.
        let sig = req.signature_header(SIGNATURE_HEADER, "BTCPay-Sig")?;
        let hex = sig
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or_else(|| Rejection::unauthorized("bad_signature", "signature does not match"))?;
        if !self.secrets.verify_hmac_sha256_hex(&[req.body], hex) {
            return Err(Rejection::unauthorized(
                "bad_signature",
                "signature does not match",
            ));
        }
        // BTCPay signs the raw bytes: from here the body is authentic
        // whatever it holds. No time window (module docs).
        Ok(Authentic::from_signed_bytes(req.body))
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
        let event_type = match body.get("type") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(Unparsed::field("type")),
        };
        let dedupe_key = delivery_ref(body).ok_or_else(|| Unparsed::field("originalDeliveryId"))?;
        let family = Family::of(&event_type);
        let members = family.id_members();
        let order_id = members
            .iter()
            .find_map(|k| opt_str(body, k).filter(|s| !s.trim().is_empty()))
            .ok_or_else(|| Unparsed::field(members.first().copied().unwrap_or("invoiceId")))?;
        let status = status_of(&event_type);

        let mut flags = Vec::new();
        let mut push = |cond: bool, name: &str| {
            if cond && !flags.iter().any(|f| f == name) {
                flags.push(name.to_owned());
            }
        };
        push(flag(body, "overPaid"), "overpaid");
        push(
            flag(body, "partiallyPaid") || event_type == "InvoiceExpiredPaidPartial",
            "partial",
        );
        push(flag(body, "manuallyMarked"), "manually_marked");
        push(
            flag(body, "afterExpiration") || event_type == "InvoicePaidAfterExpiration",
            "after_expiration",
        );
        push(flag(body, "isRedelivery"), "redelivery");

        let (crypto, tx_hashes) = payment(body, &mut flags);
        let metadata = body.get("metadata").filter(|m| m.is_object());
        let merchant_reference = metadata.and_then(|m| opt_str(m, "orderId"));
        let email = metadata.and_then(|m| opt_str(m, "buyerEmail"));
        let occurred_at = body
            .get("timestamp")
            .and_then(Value::as_i64)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let failure = (status == Status::Failed).then(|| Failure {
            code: Some(if flag(body, "manuallyMarked") {
                "marked_invalid".to_owned()
            } else {
                "invalid".to_owned()
            }),
            reason: None,
        });

        let fingerprint = fingerprint(body);
        let mut ev = PaymentEvent::new(
            ProviderId::BTCPAY,
            family.product(),
            event_type,
            status,
            order_id,
            received_at,
            verified.body,
        );
        ev.merchant_reference = merchant_reference;
        ev.occurred_at = occurred_at;
        ev.crypto = crypto;
        ev.tx_hashes = tx_hashes;
        ev.failure = failure;
        ev.customer = email.map(|e| Customer { email: Some(e) });
        ev.flags = flags;
        Ok(Normalized {
            dedupe_key,
            fingerprint,
            event: ev,
        })
    }

    /// The delivery an unparsed body is (a copy of): an unparsed
    /// redelivery is a duplicate too.
    fn event_ref(&self, body: &Value) -> Option<String> {
        delivery_ref(body)
    }

    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        let sig = sign_hmac_sha256_hex(self.secrets.newest(), &[body]);
        Ok(Signed {
            body: body.to_vec(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("BTCPay-Sig".to_owned(), format!("{SIGNATURE_PREFIX}{sig}")),
            ],
            params: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::NotMapped;
    use crate::providers::test_support::{at, block_on, verify_at};
    use std::collections::HashMap;

    const SECRET: &str = "test-btcpay-secret";
    const T0: i64 = 1_750_000_000;

    /// Known answer from BTCPay's own Zapier integration
    /// (github.com/btcpayserver/zapier at 4b0cae9ff2ff2c554513831a73e8c0852e12bf84):
    /// `test/creates/CreateInvoice.test.js` sends this body with header
    /// `Http-Btcpay-Sig: sha256=4ec27a6c…f211`, the HMAC under the secret of
    /// `test/triggers/InvoiceProcessing.test.js`. Node.js and
    /// `openssl dgst -sha256 -hmac 5TjrCfkTgfjY4rJj85bTJj` agree.
    const ZAPIER_SECRET: &str = "5TjrCfkTgfjY4rJj85bTJj";
    const ZAPIER_BODY: &str = "{\n  \"deliveryId\": \"PENf2czGBzTepjzSJdt6Nz\",\n  \"webhookId\": \"6KQ4EmzqKowRgyBL65TwJg\",\n  \"originalDeliveryId\": \"PENf2czGBzTepjzSJdt6Nz\",\n  \"isRedelivery\": false,\n  \"type\": \"InvoiceCreated\",\n  \"timestamp\": 1623954207,\n  \"storeId\": \"Hf9GvFK2dHJehm9J8A6kYfbc1ruc5jEZBKEr9r7jsrLo\",\n  \"invoiceId\": \"CQZj4Qbm475EJQ5HsWeAbd\"\n}";
    const ZAPIER_SIG: &str =
        "sha256=4ec27a6ca16dbc7b8c7ddfb5654b1f8dbf8c69a439e970fd2bfac6e19713f211";

    fn provider(secrets: &str) -> Btcpay {
        Btcpay::new(SecretList::parse(secrets).unwrap_or_else(|e| panic!("{e}")))
    }

    fn verify_with(
        p: &Btcpay,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Verified, NotMapped> {
        verify_at(p, body.as_bytes(), headers, &[], T0)
    }

    fn sig_of(secret: &str, body: &str) -> String {
        format!(
            "sha256={}",
            sign_hmac_sha256_hex(&crate::secret::Secret::new(secret), &[body.as_bytes()])
        )
    }

    fn normalize(body: &str) -> Result<Normalized, NotMapped> {
        let p = provider(SECRET);
        let v = verify_with(&p, body, &[("btcpay-sig", &sig_of(SECRET, body))])?;
        Ok(p.normalize(v, at(T0))?)
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

    /// A committed fixture of `events/btcpay/`: its body and headers.
    fn fixture(file: &str) -> (String, Vec<(String, String)>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/btcpay")
            .join(file);
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

    fn fixture_body(file: &str) -> String {
        fixture(file).0
    }

    #[test]
    fn known_answer_from_btcpays_zapier_tests() {
        let p = provider(ZAPIER_SECRET);
        let n = verify_with(&p, ZAPIER_BODY, &[("BTCPay-Sig", ZAPIER_SIG)])
            .and_then(|v| Ok(p.normalize(v, at(T0))?))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (n.event.order_id.as_str(), n.event.status),
            ("CQZj4Qbm475EJQ5HsWeAbd", Status::Created)
        );
        assert_eq!(n.dedupe_key, "PENf2czGBzTepjzSJdt6Nz");
        assert_eq!(n.event.occurred_at, Some(at(1_623_954_207)));
        let s = p
            .sign(ZAPIER_BODY.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.headers
                .contains(&("BTCPay-Sig".to_owned(), ZAPIER_SIG.to_owned()))
        );
        assert_eq!(s.body, ZAPIER_BODY.as_bytes());
        assert!(s.params.is_empty());
        // The committed fixture is that body byte for byte, with its header.
        let (body, headers) = fixture("sdk-test-zapier-invoice-created.json");
        assert_eq!(body, ZAPIER_BODY);
        assert!(headers.contains(&("btcpay-sig".to_owned(), ZAPIER_SIG.to_owned())));
        // And under payhook's test secret it is not authentic.
        let r = verify_with(
            &provider(SECRET),
            ZAPIER_BODY,
            &[("btcpay-sig", ZAPIER_SIG)],
        );
        assert_eq!(kind(r).1, "bad_signature");
    }

    #[test]
    fn committed_fixtures_verify_as_they_are() {
        let p = provider(SECRET);
        for file in [
            "invoice-settled.json",
            "invoice-received-payment.json",
            "payout-created.json",
            "invoice-settled-redelivery.json",
            "malformed-json.json",
        ] {
            let (body, headers) = fixture(file);
            let hs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut map = http::HeaderMap::new();
            for (k, v) in &hs {
                map.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
                    http::HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
                );
            }
            let params = HashMap::new();
            let req = Inbound {
                body: body.as_bytes(),
                headers: &map,
                params: &params,
            };
            assert!(block_on(p.verify(&req, at(T0))).is_ok(), "{file}");
        }
    }

    #[test]
    fn tampered_wrong_secret_header_forms_and_rotation() {
        let p = provider(SECRET);
        let body = fixture_body("invoice-settled.json");
        let good = sig_of(SECRET, &body);
        assert!(verify_with(&p, &body, &[("btcpay-sig", &good)]).is_ok());
        let tampered = body.replacen("\"overPaid\": false", "\"overPaid\": true", 1);
        assert_ne!(tampered, body);
        assert_eq!(
            kind(verify_with(&p, &tampered, &[("btcpay-sig", &good)])).1,
            "bad_signature"
        );
        // One byte of whitespace is covered too: the raw bytes are signed.
        let spaced = format!("{body}\n");
        assert_eq!(
            kind(verify_with(&p, &spaced, &[("btcpay-sig", &good)])).1,
            "bad_signature"
        );
        let wrong = sig_of("another-secret", &body);
        assert_eq!(
            kind(verify_with(&p, &body, &[("btcpay-sig", &wrong)])).0,
            401
        );
        let hex = good.trim_start_matches(SIGNATURE_PREFIX);
        let upper = format!("sha256={}", hex.to_uppercase());
        let sha512 = format!("sha512={hex}");
        let upper_prefix = format!("SHA256={hex}");
        let truncated = &good[..good.len() - 1];
        for (what, headers, want) in [
            ("no header", vec![], "missing_signature"),
            ("bare hex", vec![("btcpay-sig", hex)], "bad_signature"),
            (
                "upper-case hex",
                vec![("btcpay-sig", upper.as_str())],
                "bad_signature",
            ),
            (
                "sha512=",
                vec![("btcpay-sig", sha512.as_str())],
                "bad_signature",
            ),
            (
                "SHA256=",
                vec![("btcpay-sig", upper_prefix.as_str())],
                "bad_signature",
            ),
            (
                "truncated",
                vec![("btcpay-sig", truncated)],
                "bad_signature",
            ),
            ("empty", vec![("btcpay-sig", "")], "bad_signature"),
            (
                "twice",
                vec![("btcpay-sig", good.as_str()), ("btcpay-sig", good.as_str())],
                "ambiguous_header",
            ),
        ] {
            let r = verify_with(&p, &body, &headers);
            let (s, k, _) = kind(r);
            assert_eq!((s, k), (401, want), "{what}");
        }
        let joined = format!("{good},{good}");
        assert_eq!(
            kind(verify_with(&p, &body, &[("btcpay-sig", &joined)])).1,
            "ambiguous_header"
        );
        // Rotation: every configured secret verifies; the newest signs.
        let rotated = provider("new-secret,test-btcpay-secret");
        assert!(verify_with(&rotated, &body, &[("btcpay-sig", &good)]).is_ok());
        let s = rotated
            .sign(body.as_bytes(), at(T0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.headers
                .contains(&("BTCPay-Sig".to_owned(), sig_of("new-secret", &body)))
        );
    }

    #[test]
    fn every_event_type_is_mapped() {
        for (t, want) in [
            ("InvoiceCreated", Status::Created),
            ("InvoiceReceivedPayment", Status::Pending),
            ("InvoicePaymentSettled", Status::Pending),
            ("InvoiceProcessing", Status::Processing),
            ("InvoiceSettled", Status::Completed),
            ("InvoiceExpired", Status::Expired),
            ("InvoiceExpiredPaidPartial", Status::Expired),
            ("InvoiceInvalid", Status::Failed),
            ("InvoicePaidAfterExpiration", Status::Processing),
            ("InvoiceRefund", Status::Refunded),
            ("PayoutCreated", Status::Unknown),
            ("PayoutApproved", Status::Unknown),
            ("PayoutUpdated", Status::Unknown),
            ("PaymentRequestUpdated", Status::Unknown),
            ("PaymentRequestCreated", Status::Unknown),
            ("PaymentRequestArchived", Status::Unknown),
            ("PaymentRequestStatusChanged", Status::Unknown),
            ("PaymentRequestCompleted", Status::Unknown),
            ("SubscriberCreated", Status::Unknown),
            ("invoicesettled", Status::Unknown),
        ] {
            assert_eq!(status_of(t), want, "{t}");
        }
        for (file, status, flags) in [
            ("invoice-created.json", Status::Created, &[][..]),
            ("invoice-processing.json", Status::Processing, &[]),
            (
                "invoice-processing-overpaid.json",
                Status::Processing,
                &["overpaid"],
            ),
            ("invoice-settled.json", Status::Completed, &[]),
            (
                "invoice-settled-manually.json",
                Status::Completed,
                &["manually_marked"],
            ),
            ("invoice-expired.json", Status::Expired, &[]),
            (
                "invoice-expired-partially-paid.json",
                Status::Expired,
                &["partial"],
            ),
            (
                "invoice-expired-paid-partial.json",
                Status::Expired,
                &["partial"],
            ),
            ("invoice-invalid.json", Status::Failed, &[]),
            (
                "invoice-paid-after-expiration.json",
                Status::Processing,
                &["after_expiration"],
            ),
            ("invoice-refund.json", Status::Refunded, &[]),
            ("invoice-unknown-type.json", Status::Unknown, &[]),
            (
                "invoice-settled-redelivery.json",
                Status::Completed,
                &["redelivery"],
            ),
        ] {
            let e = ok(&fixture_body(file)).event;
            assert_eq!(e.status, status, "{file}");
            assert_eq!(e.flags, flags, "{file}");
            assert_eq!(e.order_id, "7qXnTt4hYdB1nZcR8mKwVe", "{file}");
            assert_eq!(e.product, "invoice", "{file}");
            assert_eq!(
                e.merchant_reference.as_deref(),
                Some("order-1042"),
                "{file}"
            );
            assert_eq!(
                e.customer.and_then(|c| c.email).as_deref(),
                Some("satoshi@example.com"),
                "{file}"
            );
        }
        let e = ok(&fixture_body("invoice-invalid.json")).event;
        assert_eq!(e.failure.and_then(|f| f.code).as_deref(), Some("invalid"));
        let b = fixture_body("invoice-invalid.json")
            .replace("\"manuallyMarked\": false", "\"manuallyMarked\": true");
        let e = ok(&b).event;
        assert_eq!(
            e.failure.and_then(|f| f.code).as_deref(),
            Some("marked_invalid")
        );
        assert_eq!(e.flags, ["manually_marked"]);
        // Payouts and payment requests: their own ids, status unknown.
        let e = ok(&fixture_body("payout-approved.json")).event;
        assert_eq!(
            (e.order_id.as_str(), e.product.as_str(), e.status),
            ("4YbHcQm8rT2sVx9KpLn3Wd", "payout", Status::Unknown)
        );
        let e = ok(&fixture_body("payment-request-completed.json")).event;
        assert_eq!(
            (e.order_id.as_str(), e.product.as_str(), e.status),
            (
                "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b",
                "payment-request",
                Status::Unknown
            )
        );
    }

    #[test]
    fn payments_publish_amount_currency_and_transaction() {
        let e = ok(&fixture_body("invoice-received-payment.json")).event;
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(
            (
                c.amount.as_deref(),
                c.currency.as_deref(),
                c.network.as_deref()
            ),
            (Some("0.00021500"), Some("BTC"), None)
        );
        assert_eq!(
            e.tx_hashes,
            ["5b1d1b6a0f8e4c3d2a19087f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3"]
        );
        assert!(e.fiat.is_none());
        // Lightning: the payment id is a payment hash, not a transaction.
        let e = ok(&fixture_body("invoice-received-payment-lightning.json")).event;
        assert!(e.tx_hashes.is_empty());
        assert_eq!(e.flags, ["after_expiration"]);
        assert_eq!(
            e.crypto.and_then(|c| c.amount).as_deref(),
            Some("0.0000002")
        );
        // The old `paymentMethod` name and bare currency (on-chain).
        let b = fixture_body("invoice-payment-settled.json").replace(
            "\"paymentMethodId\": \"BTC-CHAIN\"",
            "\"paymentMethod\": \"BTC\"",
        );
        let e = ok(&b).event;
        assert_eq!(e.tx_hashes.len(), 1);
        assert_eq!(e.crypto.and_then(|c| c.currency).as_deref(), Some("BTC"));
        // A value that is no decimal is left out and flagged.
        let b = fixture_body("invoice-payment-settled.json").replace("0.00021500", "lots");
        let e = ok(&b).event;
        assert_eq!(e.crypto.and_then(|c| c.amount), None);
        assert_eq!(e.flags, ["unreadable_amount"]);
    }

    #[test]
    fn a_redelivery_has_the_key_and_fingerprint_of_the_first_delivery() {
        let first = ok(&fixture_body("invoice-settled.json"));
        let again = ok(&fixture_body("invoice-settled-redelivery.json"));
        assert_eq!(first.dedupe_key, "Tm2dJg5OaMc9Xs6HvNi1Zt");
        assert_eq!(again.dedupe_key, first.dedupe_key);
        assert_eq!(again.fingerprint, first.fingerprint);
        // The old spelling names the same delivery.
        let legacy = ok(&fixture_body("legacy-orignal-delivery-id.json"));
        assert_eq!(legacy.dedupe_key, first.dedupe_key);
        assert_eq!(legacy.fingerprint, first.fingerprint);
        // Anything else that differs is a different payload (a 409).
        let other = fixture_body("invoice-settled.json")
            .replace("\"overPaid\": false", "\"overPaid\": true");
        let other = ok(&other);
        assert_eq!(other.dedupe_key, first.dedupe_key);
        assert_ne!(other.fingerprint, first.fingerprint);
        let later = fixture_body("invoice-settled.json").replace("1749999600", "1749999601");
        assert_ne!(ok(&later).fingerprint, first.fingerprint);
        // Without `originalDeliveryId` the delivery's own id is the key.
        let b = fixture_body("invoice-settled.json")
            .replace("\"originalDeliveryId\": \"Tm2dJg5OaMc9Xs6HvNi1Zt\",\n", "");
        assert_eq!(ok(&b).dedupe_key, "Tm2dJg5OaMc9Xs6HvNi1Zt");
    }

    /// Through the pipeline on one store: the first delivery is accepted and
    /// published, BTCPay's redelivery of it (new `deliveryId`,
    /// `isRedelivery: true`, members reordered) is a `duplicate` that
    /// publishes nothing, and an old-spelling copy too.
    #[tokio::test]
    async fn redeliveries_are_duplicates_through_the_pipeline() {
        use crate::publish::memory::MemoryPublisher;
        use crate::store::memory::MemoryStore;
        let publisher = Arc::new(MemoryPublisher::new());
        let app = crate::App::new(
            Arc::new(provider(SECRET)),
            Arc::new(MemoryStore::new()),
            publisher.clone(),
            crate::Limits::default(),
        );
        let send = |file: &str| {
            let body = fixture_body(file);
            let mut headers = http::HeaderMap::new();
            headers.insert(
                SIGNATURE_HEADER,
                http::HeaderValue::from_str(&sig_of(SECRET, &body))
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            (headers, body)
        };
        let mut ids = Vec::new();
        for (file, want) in [
            ("invoice-settled.json", "accepted"),
            ("invoice-settled-redelivery.json", "duplicate"),
            ("legacy-orignal-delivery-id.json", "duplicate"),
            ("invoice-settled.json", "duplicate"),
        ] {
            let (headers, body) = send(file);
            let reply = app
                .process(
                    &http::Method::POST,
                    &headers,
                    &HashMap::new(),
                    body.as_bytes(),
                )
                .await;
            assert_eq!(reply.status, 200, "{file}: {:?}", reply.body);
            assert_eq!(reply.body["status"], want, "{file}: {:?}", reply.body);
            ids.push(reply.body["event_id"].clone());
        }
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        assert_eq!(publisher.messages().len(), 1);
        // A different payload under the same delivery id is a conflict.
        let body = fixture_body("invoice-settled.json")
            .replace("\"overPaid\": false", "\"overPaid\": true");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            http::HeaderValue::from_str(&sig_of(SECRET, &body)).unwrap_or_else(|e| panic!("{e}")),
        );
        let reply = app
            .process(
                &http::Method::POST,
                &headers,
                &HashMap::new(),
                body.as_bytes(),
            )
            .await;
        assert_eq!(reply.status, 409, "{:?}", reply.body);
        assert_eq!(publisher.messages().len(), 1);
    }

    #[test]
    fn authentic_but_unmappable_bodies_are_kept() {
        for (body, reason, field) in [
            (
                r#"{"deliveryId":"d","originalDeliveryId":"d"}"#,
                "missing_field",
                "type",
            ),
            (
                r#"{"type":"InvoiceSettled","invoiceId":"i"}"#,
                "missing_field",
                "originalDeliveryId",
            ),
            (
                r#"{"originalDeliveryId":"d","type":"InvoiceSettled"}"#,
                "missing_field",
                "invoiceId",
            ),
            (
                r#"{"originalDeliveryId":"d","type":"PayoutCreated","invoiceId":"i"}"#,
                "missing_field",
                "payoutId",
            ),
            (
                r#"{"originalDeliveryId":"d","type":"SubscriberCreated"}"#,
                "missing_field",
                "invoiceId",
            ),
            (
                r#"{"originalDeliveryId":"d","type":7,"invoiceId":"i"}"#,
                "missing_field",
                "type",
            ),
        ] {
            let (s, r, why) = kind(normalize(body));
            assert_eq!((s, r), (200, reason), "{body}: {why}");
            assert!(why.contains(&format!("`{field}`")), "{body}: {why}");
        }
        for body in ["[]", "\"x\"", "null"] {
            assert_eq!(kind(normalize(body)).1, "bad_shape", "{body}");
        }
        for body in ["not json", "{\"type\":", "\u{feff}{}"] {
            assert_eq!(kind(normalize(body)).1, "not_json", "{body:?}");
        }
        // An unparsed redelivery dedupes with its original.
        let p = provider(SECRET);
        let b: Value = serde_json::from_str(r#"{"deliveryId":"new","originalDeliveryId":"first"}"#)
            .unwrap_or_default();
        assert_eq!(p.event_ref(&b).as_deref(), Some("first"));
        assert_eq!(p.event_ref(&Value::Null), None);
        // Not authentic: still 401.
        let r = verify_with(&p, "not json", &[("btcpay-sig", ZAPIER_SIG)]);
        assert_eq!(kind(r).0, 401);
    }

    #[test]
    fn no_time_window_applies() {
        let p = provider(SECRET);
        assert_eq!(p.time_window(), None);
        // A redelivery of a years-old delivery is authentic.
        let body =
            fixture_body("invoice-settled-redelivery.json").replace("1749999600", "1500000000");
        let n = ok(&body);
        assert_eq!(n.event.occurred_at, Some(at(1_500_000_000)));
    }

    #[test]
    fn sign_never_refuses_bytes() {
        let p = provider(SECRET);
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"{\"a\":1,\"a\":2}",
            ZAPIER_BODY.as_bytes(),
        ] {
            let s = p.sign(body, at(T0)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.body, body);
        }
    }

    #[test]
    fn config_and_route() {
        let cfg = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        let e = Btcpay::from_config(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("PAYHOOK_BTCPAY_SECRETS"), "{e}");
        let cfg = Config::from_lookup(|k| (k == SECRETS_SETTING).then(|| SECRET.to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        let p = Btcpay::from_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.route(), "/webhooks/btcpay");
        assert_eq!(p.id(), ProviderId::BTCPAY);
        assert!(!format!("{p:?}").contains(SECRET));
    }
}
