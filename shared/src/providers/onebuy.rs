//! 1buy.io: Wallet Pay (`/webhooks/onebuy/wallet-pay/{token}`) and the
//! Checkout on-ramp widget (`/webhooks/onebuy/checkout/{token}`).
//!
//! # Authentication, and why it is weak
//!
//! 1buy documents no signature, no header and no shared secret for either
//! product. payhook's defence is an unguessable **URL token**: the webhook
//! URL registered in 1buy's dashboard carries a random token, compared in
//! constant time against every configured token (`PAYHOOK_ONEBUY_TOKENS`,
//! newest first, all accepted, so a token can be rotated). Optionally the
//! body's `api_key` must equal a configured value (`PAYHOOK_ONEBUY_API_KEYS`).
//!
//! This is a bearer secret, not a signature: anyone who learns the URL (a
//! proxy log, a leaked dashboard screenshot) can post any body, and the
//! body's integrity is not protected at all. Keep the URL secret, rotate the
//! token when in doubt, restrict source IPs where the deployment allows it,
//! and re-check important events with 1buy's transaction lookup API
//! (`POST /api/business/transactions/data`) before shipping goods.
//!
//! # Facts that are inferred, not documented (PROVIDERS.md §1, §2)
//!
//! * Wallet Pay: which field carries the lifecycle stage (see
//!   [`LIFECYCLE_FIELDS`]), the `data.status == "succeeded"` fallback, the
//!   dedupe key (`order_id` else `hash`, plus the lifecycle value).
//! * Checkout: failure codes live in `fail_reason` ([`failure_code`]); the
//!   dedupe key is `data.id` + `data.type`.
//!
//! # PII
//!
//! Checkout bodies carry name, birth date, phone and postal address. The
//! payload types below deliberately do not even declare those fields: they
//! only survive in `raw` (the verified body, as received), and `email` goes to
//! `customer.email`.

use super::{Descriptor, Proof};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::providers::{
    Authentic, Inbound, Normalized, Provider, Signed, Unparsed, Verified, de, from_body, sha256,
};
use crate::rejection::Rejection;
use crate::secret::SecretList;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------
// Shared URL-token / api_key verification
// ---------------------------------------------------------------------------

/// Where a product's body carries its `api_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiKeyAt {
    /// Top-level `api_key`, documented for Wallet Pay: when api keys are
    /// configured it must be present and match.
    TopLevelRequired,
    /// `data.api_key`, *not* documented for Checkout. When api keys are
    /// configured it is checked only if present: requiring an undocumented
    /// field would reject every genuine Checkout webhook the day 1buy does
    /// not send it. A present but wrong key is still refused (it is either a
    /// forgery or a misconfiguration; both deserve a 401, not a silent pass).
    DataIfPresent,
}

impl ProviderId {
    pub const ONEBUY_WALLET_PAY: ProviderId = ProviderId::new("onebuy-wallet-pay");
    pub const ONEBUY_CHECKOUT: ProviderId = ProviderId::new("onebuy-checkout");
}

/// Both products' URL tokens (newest first): they turn both routes on.
pub const TOKENS_SETTING: &str = "PAYHOOK_ONEBUY_TOKENS";
/// Optional: when set, the body's `api_key` must be one of these.
pub const API_KEYS_SETTING: &str = "PAYHOOK_ONEBUY_API_KEYS";
/// Prefix of the development URL token `payhook serve` generates (the only
/// 1buy token it ever prints).
pub const DEV_TOKEN_PREFIX: &str = "dev-onebuy";

const SETTINGS: &[&str] = &[TOKENS_SETTING, API_KEYS_SETTING];
const TEST_SETTINGS: &[(&str, &str)] =
    &[(TOKENS_SETTING, "test-onebuy-token,test-onebuy-token-old")];
const WRONG_SETTINGS: &[(&str, &str)] = &[(TOKENS_SETTING, "not-the-token")];

fn dev_settings(secret: &mut dyn FnMut(&str) -> String) -> Vec<(&'static str, String)> {
    vec![(TOKENS_SETTING, secret(DEV_TOKEN_PREFIX))]
}

/// 1buy.io Wallet Pay (PROVIDERS.md §1).
pub static WALLET_PAY: Descriptor = Descriptor {
    id: ProviderId::ONEBUY_WALLET_PAY,
    route: "/webhooks/onebuy/wallet-pay/{token}",
    settings: SETTINGS,
    build: |cfg| Ok(Arc::new(WalletPay::from_config(cfg)?)),
    dev_settings,
    test_settings: TEST_SETTINGS,
    wrong_settings: WRONG_SETTINGS,
    proof: Proof::UrlToken,
};

/// 1buy.io Checkout (PROVIDERS.md §2).
pub static CHECKOUT: Descriptor = Descriptor {
    id: ProviderId::ONEBUY_CHECKOUT,
    route: "/webhooks/onebuy/checkout/{token}",
    settings: SETTINGS,
    build: |cfg| Ok(Arc::new(Checkout::from_config(cfg)?)),
    dev_settings,
    test_settings: TEST_SETTINGS,
    wrong_settings: WRONG_SETTINGS,
    proof: Proof::UrlToken,
};

/// The URL token (and optional api_key) check shared by both 1buy products.
#[derive(Debug, Clone)]
struct UrlAuth {
    tokens: SecretList,
    api_keys: Option<SecretList>,
}

impl UrlAuth {
    fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let api_keys = cfg.secrets(API_KEYS_SETTING)?;
        let tokens = cfg.require_secrets(TOKENS_SETTING)?;
        Ok(UrlAuth { tokens, api_keys })
    }

    /// Token first (nothing about the body is looked at before it passes),
    /// then strict JSON parsing, then the optional api_key. With no api_key
    /// check configured the token alone authenticates the request, so a body
    /// that is not JSON is authentic and kept (as `unparsed`); with the
    /// check on, such a body cannot be authenticated and is a 400.
    fn verify(&self, req: &Inbound<'_>, api_key_at: ApiKeyAt) -> Result<Authentic, Rejection> {
        // An absent token is compared as the empty string: every configured
        // token is non-empty, so it never matches, and the timing is the same.
        let token = req.param("token").unwrap_or_default();
        if !self.tokens.contains_ct(token.as_bytes()) {
            return Err(Rejection::unauthorized(
                "bad_token",
                "unknown webhook token",
            ));
        }
        let Some(keys) = &self.api_keys else {
            return Ok(Authentic::from_signed_bytes(req.body));
        };
        let body = canonical::parse_strict(req.body)?;
        {
            let sent = match api_key_at {
                ApiKeyAt::TopLevelRequired => Some(body.get("api_key")),
                ApiKeyAt::DataIfPresent => {
                    body.get("data").and_then(|d| d.get("api_key")).map(Some)
                }
            };
            if let Some(sent) = sent {
                let ok = match sent {
                    Some(serde_json::Value::String(s)) => keys.contains_ct(s.as_bytes()),
                    _ => false,
                };
                if !ok {
                    return Err(Rejection::unauthorized(
                        "bad_api_key",
                        "api_key does not match",
                    ));
                }
            }
        }
        Ok(Verified::new(body).into())
    }

    /// 1buy does not sign: "signing" puts the newest token in the URL.
    fn sign(&self, body: &[u8]) -> Signed {
        Signed {
            body: body.to_vec(),
            headers: vec![("content-type".into(), "application/json".into())],
            params: vec![("token".into(), self.tokens.newest().expose().to_owned())],
        }
    }
}

/// Fingerprint shared by both products: the canonical (JavaScript) form of
/// the body, so that insignificant whitespace in a redelivery does not count
/// as a different payload.
fn body_fingerprint(body: &serde_json::Value) -> [u8; 32] {
    sha256(canonical::stringify(body).as_bytes())
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

// ---------------------------------------------------------------------------
// Wallet Pay
// ---------------------------------------------------------------------------

/// 1buy.io Wallet Pay webhooks.
#[derive(Debug, Clone)]
pub struct WalletPay {
    auth: UrlAuth,
}

impl WalletPay {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(WalletPay {
            auth: UrlAuth::from_config(cfg)?,
        })
    }

    pub fn new(tokens: SecretList, api_keys: Option<SecretList>) -> Self {
        WalletPay {
            auth: UrlAuth { tokens, api_keys },
        }
    }
}

/// Fields searched, in this order, for a value of the stage table.
///
/// *Inferred*: the seed's table is headed "Stage Type" but its sample has
/// `stage: "public"` and `event: "purchase"`, neither of which is in the
/// table. We take whichever field holds a table value, `stage` first because
/// the table is named after it. Changing the preference is a one-line edit.
pub const LIFECYCLE_FIELDS: [&str; 2] = ["stage", "event"];

/// The seed's stage table.
fn wallet_pay_stage(v: &str) -> Option<Status> {
    Some(match v {
        "wallet_connect" | "buying_token" => Status::Opened,
        "bought_success" => Status::Pending,
        "final_transaction_started" | "final_approval_completed" => Status::Processing,
        "final_transaction_rejected" | "final_transaction_failed" => Status::Failed,
        "final_transaction_completed" => Status::Completed,
        _ => return None,
    })
}

/// `data.status` value that means "paid" when no lifecycle stage is sent
/// (*inferred* from the seed's sample, `"status": "succeeded"`).
const WALLET_PAY_SUCCEEDED: &str = "succeeded";

#[derive(Debug, Deserialize)]
struct WalletPayBody {
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    stage: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    event: Option<String>,
    // Ids may arrive as numbers; `decimal_string` keeps either as text.
    #[serde(default, deserialize_with = "de::decimal_string")]
    order_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    hash: Option<String>,
    #[serde(default, rename = "customId", deserialize_with = "de::decimal_string")]
    custom_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    email: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    wallet: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    token_symbol: Option<String>,
    /// A JSON number in the seed (`21`); kept as its decimal text.
    #[serde(default, deserialize_with = "de::decimal_string")]
    amount: Option<String>,
    #[serde(default)]
    data: Option<WalletPayData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WalletPayData {
    #[serde(default, deserialize_with = "de::decimal_string")]
    crypto_amount: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    crypto_currency: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    custom_order_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    destination_wallet: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    fail_reason: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    fiat_amount: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    fiat_currency: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    network_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    status: Option<String>,
    #[serde(default)]
    transaction_hashes: Option<Vec<String>>,
}

/// An EVM transaction hash: `0x` and 64 hex digits.
fn looks_like_tx_hash(s: &str) -> bool {
    s.len() == 66 && s.starts_with("0x") && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

#[async_trait]
impl Provider for WalletPay {
    fn descriptor(&self) -> &'static Descriptor {
        &WALLET_PAY
    }

    async fn verify(
        &self,
        req: &Inbound<'_>,
        _now: OffsetDateTime,
    ) -> Result<Authentic, Rejection> {
        self.auth.verify(req, ApiKeyAt::TopLevelRequired)
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let b: WalletPayBody = from_body(&verified.body)?;
        let data = b.data.unwrap_or_default();

        // Lifecycle: the first of LIFECYCLE_FIELDS holding a table value.
        let field = |name: &str| match name {
            "stage" => b.stage.as_deref(),
            "event" => b.event.as_deref(),
            _ => None,
        };
        let staged = LIFECYCLE_FIELDS
            .iter()
            .filter_map(|f| field(f))
            .find_map(|v| wallet_pay_stage(v).map(|s| (v.to_owned(), s)));
        let data_status = data.status.as_deref();
        let (provider_event, status) = match staged {
            Some(found) => found,
            None if data_status == Some(WALLET_PAY_SUCCEEDED) => (
                format!("data.status:{WALLET_PAY_SUCCEEDED}"),
                Status::Completed,
            ),
            None => {
                let name = b
                    .event
                    .clone()
                    .or_else(|| b.stage.clone())
                    .or_else(|| data_status.map(|s| format!("data.status:{s}")))
                    .unwrap_or_else(|| "unknown".to_owned());
                (name, Status::Unknown)
            }
        };

        let order_id = nonempty(b.order_id.clone())
            .or_else(|| b.hash.clone())
            .ok_or_else(|| Unparsed::field("order_id"))?;

        // Dedupe: order + lifecycle value. For an unknown lifecycle the
        // provider_event alone (`purchase`) would make every unknown
        // delivery of one order collide; `data.status` tells them apart.
        let mut dedupe_key = format!("{order_id}\n{provider_event}");
        if status == Status::Unknown
            && let Some(s) = data_status
            && !provider_event.starts_with("data.status:")
        {
            dedupe_key.push_str("\ndata.status:");
            dedupe_key.push_str(s);
        }

        let mut ev = PaymentEvent::new(
            ProviderId::ONEBUY_WALLET_PAY,
            "wallet-pay",
            provider_event,
            status,
            order_id,
            received_at,
            verified.body,
        );
        ev.merchant_reference = nonempty(b.custom_id).or(nonempty(data.custom_order_id));
        // `amount` (top level) is the amount the payment link was created
        // for, in fiat: it stands in when `data.fiatAmount` is absent.
        let fiat_amount = data.fiat_amount.or(b.amount);
        if fiat_amount.is_some() || data.fiat_currency.is_some() {
            ev.fiat = Some(Fiat {
                amount: fiat_amount,
                currency: data.fiat_currency,
            });
        }
        let crypto_currency = data.crypto_currency.or(b.token_symbol);
        if data.crypto_amount.is_some() || crypto_currency.is_some() || data.network_id.is_some() {
            ev.crypto = Some(Crypto {
                amount: data.crypto_amount,
                currency: crypto_currency,
                network: data.network_id,
            });
        }
        ev.wallet = b.wallet.or(data.destination_wallet);

        // tx_hashes: `data.transactionHashes`, plus the top-level `hash` when
        // it has the shape of an EVM transaction hash. The seed calls `hash`
        // a "transaction hash", but it is also the Wallet Pay link hash used
        // as an order reference; only the tx-shaped value is a hash of the
        // chain, so only that one is added (once, case-insensitively).
        let mut tx: Vec<String> = data
            .transaction_hashes
            .unwrap_or_default()
            .into_iter()
            .filter(|h| !h.trim().is_empty())
            .collect();
        if let Some(h) = b.hash.as_deref()
            && looks_like_tx_hash(h)
            && !tx.iter().any(|t| t.eq_ignore_ascii_case(h))
        {
            tx.push(h.to_owned());
        }
        ev.tx_hashes = tx;
        if let Some(reason) = data.fail_reason {
            ev.failure = Some(Failure {
                code: None,
                reason: Some(reason),
            });
        }
        if let Some(email) = b.email {
            ev.customer = Some(Customer { email: Some(email) });
        }

        Ok(Normalized {
            dedupe_key,
            fingerprint: body_fingerprint(&ev.raw),
            event: ev,
        })
    }

    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        Ok(self.auth.sign(body))
    }
}

// ---------------------------------------------------------------------------
// Checkout
// ---------------------------------------------------------------------------

/// 1buy.io Checkout (on-ramp widget) webhooks.
#[derive(Debug, Clone)]
pub struct Checkout {
    auth: UrlAuth,
}

impl Checkout {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Checkout {
            auth: UrlAuth::from_config(cfg)?,
        })
    }

    pub fn new(tokens: SecretList, api_keys: Option<SecretList>) -> Self {
        Checkout {
            auth: UrlAuth { tokens, api_keys },
        }
    }
}

/// The seed's event table.
fn checkout_type(t: &str) -> Status {
    match t {
        "link_unopened" => Status::Created,
        "link_opened" => Status::Opened,
        "payment_started" => Status::Pending,
        "payment_initiated" | "transfer_started" => Status::Processing,
        "order_complete" => Status::Completed,
        "order_failed" | "tx_smart_contract_failed" => Status::Failed,
        "order_canceled" => Status::Canceled,
        "refund_processed" => Status::Refunded,
        _ => Status::Unknown,
    }
}

/// Machine-readable code for a documented card failure code.
fn failure_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        4000 => "card_not_charged_retry",
        4001 => "wrong_cvv",
        4002 | 4010 | 4012 => "card_declined",
        4003 => "wrong_card_details",
        4004 => "insufficient_balance",
        4005 => "card_limit_exceeded",
        4011 => "card_validation_failed",
        4013 => "card_not_charged_contact_support",
        _ => return None,
    })
}

/// The machine-readable code in a `fail_reason`, which may be the bare code
/// (`"4001"`) or text containing it (`"Error 4001: wrong CVV"`). *Inferred*:
/// the seed lists the codes but not the field that carries them. The first
/// standalone four-digit number that is a documented code wins; anything
/// else yields `None` (the raw text is kept as the reason either way).
pub fn failure_code(fail_reason: &str) -> Option<&'static str> {
    fail_reason
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 4)
        .filter_map(|run| run.parse::<u16>().ok())
        .find_map(failure_code_name)
}

#[derive(Debug, Deserialize)]
struct CheckoutBody {
    data: CheckoutData,
}

/// The non-PII part of Checkout's `data`. Name, birth date, phone and
/// address are intentionally not declared.
#[derive(Debug, Deserialize)]
struct CheckoutData {
    #[serde(default, deserialize_with = "de::decimal_string")]
    id: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "de::opt_nonempty")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    custom_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    base: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    base_amount: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    quote: Option<String>,
    #[serde(default, deserialize_with = "de::decimal_string")]
    quote_amount: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    address: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    transaction_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_nonempty")]
    email: Option<String>,
    /// Usually text; a bare numeric code is accepted too.
    #[serde(default, deserialize_with = "de::decimal_string")]
    fail_reason: Option<String>,
}

#[async_trait]
impl Provider for Checkout {
    fn descriptor(&self) -> &'static Descriptor {
        &CHECKOUT
    }

    async fn verify(
        &self,
        req: &Inbound<'_>,
        _now: OffsetDateTime,
    ) -> Result<Authentic, Rejection> {
        self.auth.verify(req, ApiKeyAt::DataIfPresent)
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let b: CheckoutBody = from_body(&verified.body)?;
        let d = b.data;
        let id = d.id.ok_or_else(|| Unparsed::field("data.id"))?;
        let kind = d.kind.ok_or_else(|| Unparsed::field("data.type"))?;
        let status = checkout_type(&kind);
        let dedupe_key = format!("{id}\n{kind}");

        let mut ev = PaymentEvent::new(
            ProviderId::ONEBUY_CHECKOUT,
            "checkout",
            kind,
            status,
            id,
            received_at,
            verified.body,
        );
        ev.merchant_reference = d.custom_id;
        if d.quote_amount.is_some() || d.quote.is_some() {
            ev.fiat = Some(Fiat {
                amount: d.quote_amount,
                currency: d.quote,
            });
        }
        if d.base_amount.is_some() || d.base.is_some() {
            ev.crypto = Some(Crypto {
                amount: d.base_amount,
                currency: d.base,
                // Checkout does not say which chain; `base` may encode it.
                network: None,
            });
        }
        ev.wallet = d.address;
        ev.tx_hashes = d.transaction_id.into_iter().collect();
        if let Some(reason) = d.fail_reason {
            ev.failure = Some(Failure {
                code: failure_code(&reason).map(str::to_owned),
                reason: Some(reason),
            });
        }
        if let Some(email) = d.email {
            ev.customer = Some(Customer { email: Some(email) });
        }

        Ok(Normalized {
            dedupe_key,
            fingerprint: body_fingerprint(&ev.raw),
            event: ev,
        })
    }

    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        Ok(self.auth.sign(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::block_on;
    use crate::providers::{NotMapped, UnparsedReason};

    /// The parsed body of an authentic request (these tests send JSON).
    fn parsed(a: Authentic) -> Verified {
        a.parsed()
            .unwrap_or_else(|u| panic!("authentic but unreadable: {u}"))
    }
    use std::collections::HashMap;

    const TOKEN: &str = "test-onebuy-token";

    fn list(s: &str) -> SecretList {
        SecretList::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap_or_else(|e| panic!("{e}"))
    }

    fn verify(p: &dyn Provider, token: Option<&str>, body: &str) -> Result<Verified, Rejection> {
        let headers = http::HeaderMap::new();
        let mut params = HashMap::new();
        if let Some(t) = token {
            params.insert("token".to_owned(), t.to_owned());
        }
        let req = Inbound {
            body: body.as_bytes(),
            headers: &headers,
            params: &params,
        };
        block_on(p.verify(&req, now())).map(parsed)
    }

    fn run(p: &dyn Provider, body: &str) -> Result<Normalized, NotMapped> {
        let v = verify(p, Some(TOKEN), body)?;
        Ok(p.normalize(v, now())?)
    }

    fn ok(p: &dyn Provider, body: &str) -> Normalized {
        run(p, body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// The HTTP status of a failed verify/normalize (200 for an authentic
    /// but unparsed body, which the pipeline keeps) and its reason text.
    fn status_of(r: Result<impl std::fmt::Debug, NotMapped>) -> (u16, String) {
        match r {
            Ok(v) => panic!("expected a rejection, got {v:?}"),
            Err(e) => (e.status(), e.to_string()),
        }
    }

    fn wallet_pay() -> WalletPay {
        WalletPay::new(list(TOKEN), None)
    }

    fn checkout() -> Checkout {
        Checkout::new(list(TOKEN), None)
    }

    /// The seed's structure with realistic values.
    fn wp_body(stage: &str, event: &str, data_status: &str) -> String {
        serde_json::json!({
            "token_symbol": "ETH",
            "wallet": "0x1a300Ea76131e683f89446FcDab674F109E606FF",
            "email": "buyer@example.com",
            "stage": stage,
            "hash": "0x8e2f6c0b8f1e4b7c9d3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c",
            "amount": 21,
            "event": event,
            "releaseEscrow": false,
            "customId": "shop-order-1001",
            "is_token_webhook": false,
            "api_key": "ENCRYPTED::abc123",
            "order_id": "wp-6651f0c2",
            "data": {
                "cryptoAmount": "0.00731274",
                "cryptoCurrency": "ETH",
                "customOrderId": "",
                "destinationWallet": "0x1a300Ea76131e683f89446FcDab674F109E606FF",
                "failReason": "",
                "fiatAmount": "21",
                "fiatCurrency": "USD",
                "networkId": "1",
                "paymentMethod": "BANKCARD",
                "status": data_status,
                "tapOnFeeAmount": "0",
                "tapOnFeeCurrency": "USD",
                "transactionHashes": ["0x11aa5e1b3a6c4f1d0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122"],
                "transactionId": "7f0c9a3e-6a55-4c38-9d2b-0d6e2a1b9c11"
            }
        })
        .to_string()
    }

    #[test]
    fn token_is_checked_before_the_body_is_parsed() {
        let p = wallet_pay();
        let status = |token: Option<&str>, body: &str| {
            verify(&p, token, body).err().map(|e| e.status.as_u16())
        };
        assert_eq!(status(Some("nope"), "{not json"), Some(401));
        assert_eq!(
            verify(&p, None, "{}").err().map(|e| e.kind),
            Some("bad_token")
        );
        assert_eq!(status(Some(""), "{}"), Some(401));
        assert_eq!(status(Some("test-onebuy-toke"), "{}"), Some(401));
    }

    /// Without an api_key check the URL token alone authenticates: a body
    /// that is not JSON is authentic and kept. With the check on it cannot
    /// be authenticated: 400.
    #[test]
    fn unreadable_bodies_are_kept_unless_the_api_key_must_be_read() {
        let headers = http::HeaderMap::new();
        let params = HashMap::from([("token".to_owned(), TOKEN.to_owned())]);
        for (body, reason) in [
            ("{not json", UnparsedReason::NotJson),
            (r#"{"event":"a","event":"b"}"#, UnparsedReason::DuplicateKey),
        ] {
            let req = Inbound {
                body: body.as_bytes(),
                headers: &headers,
                params: &params,
            };
            match block_on(wallet_pay().verify(&req, now())) {
                Ok(Authentic::Unreadable(u)) => assert_eq!(u.reason, reason, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
            let checked = WalletPay::new(list(TOKEN), Some(list("ENCRYPTED::abc123")));
            match block_on(checked.verify(&req, now())) {
                Err(r) => assert_eq!(r.status, 400, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_configured_token_is_accepted_and_sign_uses_the_newest() {
        let p = Checkout::new(list("new-token,test-onebuy-token"), None);
        assert!(verify(&p, Some("new-token"), "{}").is_ok());
        assert!(verify(&p, Some(TOKEN), "{}").is_ok());
        assert!(verify(&p, Some("old-token"), "{}").is_err());
        let s = p.sign(b"{}", now()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.params, vec![("token".to_owned(), "new-token".to_owned())]);
        assert_eq!(s.body, b"{}");
        let s = wallet_pay()
            .sign(b"x", now())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.params, vec![("token".to_owned(), TOKEN.to_owned())]);
    }

    #[test]
    fn wallet_pay_api_key_is_required_when_configured() {
        let p = WalletPay::new(list(TOKEN), Some(list("ENCRYPTED::abc123,ENCRYPTED::next")));
        assert!(verify(&p, Some(TOKEN), &wp_body("public", "purchase", "succeeded")).is_ok());
        let wrong = wp_body("public", "purchase", "succeeded").replace("abc123", "abc124");
        assert_eq!(
            verify(&p, Some(TOKEN), &wrong).err().map(|e| e.kind),
            Some("bad_api_key")
        );
        assert_eq!(
            verify(&p, Some(TOKEN), r#"{"order_id":"o"}"#)
                .err()
                .map(|e| e.status.as_u16()),
            Some(401)
        );
        assert_eq!(
            verify(&p, Some(TOKEN), r#"{"api_key":5}"#)
                .err()
                .map(|e| e.status.as_u16()),
            Some(401)
        );
        // Without configured keys the body's api_key is not looked at.
        assert!(verify(&wallet_pay(), Some(TOKEN), &wrong).is_ok());
    }

    #[test]
    fn checkout_api_key_is_checked_only_when_sent() {
        let p = Checkout::new(list(TOKEN), Some(list("ck-key")));
        assert!(verify(&p, Some(TOKEN), r#"{"data":{"id":"1"}}"#).is_ok());
        assert!(verify(&p, Some(TOKEN), r#"{"data":{"id":"1","api_key":"ck-key"}}"#).is_ok());
        assert_eq!(
            verify(&p, Some(TOKEN), r#"{"data":{"id":"1","api_key":"other"}}"#)
                .err()
                .map(|e| e.status.as_u16()),
            Some(401)
        );
    }

    #[test]
    fn every_stage_maps_from_stage_or_event() {
        let table = [
            ("wallet_connect", Status::Opened),
            ("buying_token", Status::Opened),
            ("bought_success", Status::Pending),
            ("final_transaction_started", Status::Processing),
            ("final_approval_completed", Status::Processing),
            ("final_transaction_rejected", Status::Failed),
            ("final_transaction_failed", Status::Failed),
            ("final_transaction_completed", Status::Completed),
        ];
        let p = wallet_pay();
        for (stage, want) in table {
            for body in [
                wp_body(stage, "purchase", "pending"),
                wp_body("public", stage, "pending"),
            ] {
                let n = ok(&p, &body);
                assert_eq!(n.event.status, want, "{stage}");
                assert_eq!(n.event.provider_event, stage);
                assert_eq!(n.dedupe_key, format!("wp-6651f0c2\n{stage}"));
            }
        }
    }

    #[test]
    fn seed_sample_with_succeeded_status_is_completed() {
        let n = ok(&wallet_pay(), &wp_body("public", "purchase", "succeeded"));
        let e = &n.event;
        assert_eq!(e.status, Status::Completed);
        assert_eq!(e.provider_event, "data.status:succeeded");
        assert_eq!(n.dedupe_key, "wp-6651f0c2\ndata.status:succeeded");
        assert_eq!(e.product, "wallet-pay");
        assert_eq!(e.order_id, "wp-6651f0c2");
        assert_eq!(e.merchant_reference.as_deref(), Some("shop-order-1001"));
        let fiat = e.fiat.clone().unwrap_or_else(|| panic!("fiat"));
        assert_eq!(
            (fiat.amount.as_deref(), fiat.currency.as_deref()),
            (Some("21"), Some("USD"))
        );
        let c = e.crypto.clone().unwrap_or_else(|| panic!("crypto"));
        assert_eq!(c.amount.as_deref(), Some("0.00731274"));
        assert_eq!(c.currency.as_deref(), Some("ETH"));
        assert_eq!(c.network.as_deref(), Some("1"));
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x1a300Ea76131e683f89446FcDab674F109E606FF")
        );
        // The transaction hash plus the tx-shaped top-level `hash`.
        assert_eq!(e.tx_hashes.len(), 2);
        assert!(e.failure.is_none(), "empty failReason is no failure");
        assert_eq!(
            e.customer.as_ref().and_then(|c| c.email.as_deref()),
            Some("buyer@example.com")
        );
        assert_eq!(
            e.raw,
            serde_json::from_str::<serde_json::Value>(&wp_body("public", "purchase", "succeeded"))
                .unwrap_or_default()
        );
    }

    #[test]
    fn wallet_pay_unknown_lifecycle_is_unknown() {
        let n = ok(&wallet_pay(), &wp_body("public", "purchase", "processing"));
        assert_eq!(n.event.status, Status::Unknown);
        assert_eq!(n.event.provider_event, "purchase");
        assert_eq!(
            n.dedupe_key,
            "wp-6651f0c2\npurchase\ndata.status:processing"
        );
        let n = ok(&wallet_pay(), r#"{"stage":"private","order_id":"o1"}"#);
        assert_eq!(
            (n.event.status, n.event.provider_event.as_str()),
            (Status::Unknown, "private")
        );
    }

    #[test]
    fn wallet_pay_fallbacks() {
        let body = r#"{"hash":"h-123","amount":12.5,"event":"bought_success",
            "data":{"customOrderId":"co-7","destinationWallet":"0xabc","failReason":"no gas",
            "transactionHashes":null}}"#;
        let n = ok(&wallet_pay(), body);
        let e = &n.event;
        assert_eq!(e.order_id, "h-123");
        assert_eq!(n.dedupe_key, "h-123\nbought_success");
        assert_eq!(e.merchant_reference.as_deref(), Some("co-7"));
        assert_eq!(e.wallet.as_deref(), Some("0xabc"));
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.amount.as_deref()),
            Some("12.5")
        );
        assert!(
            e.tx_hashes.is_empty(),
            "a non-tx-shaped hash is not a tx hash"
        );
        assert_eq!(
            e.failure.as_ref().and_then(|f| f.reason.as_deref()),
            Some("no gas")
        );
        // A tx-shaped hash already listed is not repeated.
        let h = "0x11AA5E1B3A6C4F1D0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122";
        let body = format!(
            r#"{{"order_id":7,"hash":"{h}","stage":"final_transaction_completed","data":{{"transactionHashes":["{}"]}}}}"#,
            h.to_lowercase()
        );
        let n = ok(&wallet_pay(), &body);
        assert_eq!(n.event.order_id, "7");
        assert_eq!(n.event.tx_hashes.len(), 1);
    }

    #[test]
    fn wallet_pay_missing_order_id_names_it() {
        // Authentic but not mappable: kept by the pipeline (200), naming
        // the field.
        let (s, why) = status_of(run(
            &wallet_pay(),
            r#"{"stage":"wallet_connect","data":{}}"#,
        ));
        assert_eq!(s, 200);
        assert!(why.contains("`order_id`"), "{why}");
        let (s, _) = status_of(run(&wallet_pay(), r#"{"order_id":"","hash":""}"#));
        assert_eq!(s, 200);
        let (s, _) = status_of(run(&wallet_pay(), r#"[1,2]"#));
        assert_eq!(s, 200);
    }

    #[test]
    fn fingerprint_ignores_whitespace_but_not_content() {
        let a = ok(
            &wallet_pay(),
            r#"{"order_id":"o","stage":"wallet_connect"}"#,
        );
        let b = ok(
            &wallet_pay(),
            "{ \"order_id\" : \"o\",\n \"stage\": \"wallet_connect\" }",
        );
        let c = ok(
            &wallet_pay(),
            r#"{"order_id":"o","stage":"wallet_connect","x":1}"#,
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.dedupe_key, c.dedupe_key);
    }

    fn ck_body(kind: &str, fail_reason: &str) -> String {
        serde_json::json!({"data": {
            "id": "ck-90817",
            "custom_id": "cart-5521",
            "user_id": "u-4410",
            "product_id": "prod-77",
            "type": kind,
            "base": "USDT",
            "base_amount": "98.75",
            "quote": "EUR",
            "quote_amount": "100.00",
            "address": "0x9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
            "transaction_id": "0x5d1e0c3b7a9f8e6d4c2b1a09f8e7d6c5b4a3928170615243342516071829304a",
            "partner_data": {"blueprint": "bp-1"},
            "full_name": "Jane Q. Public",
            "date_of_birth": "1990-04-12",
            "phone": "+4915112345678",
            "email": "jane@example.com",
            "state": "Berlin",
            "country": "DE",
            "city": "Berlin",
            "street": "Musterstrasse 12",
            "postal_code": "10115",
            "utm_source": "newsletter",
            "clickID": "clk-1",
            "campaignID": "cmp-1",
            "fail_reason": fail_reason,
            "redirect_url": "https://shop.example/ok",
            "fail_redirect_url": "https://shop.example/fail",
            "redirect_page": "self",
            "external_user_id": "ext-1"
        }})
        .to_string()
    }

    #[test]
    fn every_checkout_type_maps() {
        let table = [
            ("link_unopened", Status::Created),
            ("link_opened", Status::Opened),
            ("payment_started", Status::Pending),
            ("payment_initiated", Status::Processing),
            ("transfer_started", Status::Processing),
            ("order_complete", Status::Completed),
            ("order_failed", Status::Failed),
            ("tx_smart_contract_failed", Status::Failed),
            ("order_canceled", Status::Canceled),
            ("refund_processed", Status::Refunded),
            ("order_teleported", Status::Unknown),
        ];
        for (kind, want) in table {
            let n = ok(&checkout(), &ck_body(kind, ""));
            assert_eq!(n.event.status, want, "{kind}");
            assert_eq!(n.event.provider_event, kind);
            assert_eq!(n.dedupe_key, format!("ck-90817\n{kind}"));
        }
    }

    #[test]
    fn checkout_fields_and_no_pii_outside_raw() {
        let n = ok(&checkout(), &ck_body("order_complete", ""));
        let e = &n.event;
        assert_eq!(e.product, "checkout");
        assert_eq!(e.order_id, "ck-90817");
        assert_eq!(e.merchant_reference.as_deref(), Some("cart-5521"));
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.amount.as_deref()),
            Some("100.00")
        );
        assert_eq!(
            e.fiat.as_ref().and_then(|f| f.currency.as_deref()),
            Some("EUR")
        );
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.amount.as_deref()),
            Some("98.75")
        );
        assert_eq!(
            e.crypto.as_ref().and_then(|c| c.currency.as_deref()),
            Some("USDT")
        );
        assert_eq!(
            e.wallet.as_deref(),
            Some("0x9f8e7d6c5b4a39281706f5e4d3c2b1a098765432")
        );
        assert_eq!(e.tx_hashes.len(), 1);
        assert!(e.failure.is_none());
        assert_eq!(
            e.customer.as_ref().and_then(|c| c.email.as_deref()),
            Some("jane@example.com")
        );
        let mut without_raw = e.clone();
        without_raw.raw = serde_json::Value::Null;
        let text = without_raw.to_json().unwrap_or_else(|e| panic!("{e}"));
        for pii in [
            "Jane Q. Public",
            "1990-04-12",
            "+4915112345678",
            "Musterstrasse",
            "10115",
        ] {
            assert!(!text.contains(pii), "{pii} leaked: {text}");
            assert!(e.raw.to_string().contains(pii), "raw keeps {pii}");
        }
    }

    #[test]
    fn checkout_failure_codes() {
        let cases = [
            ("4000", Some("card_not_charged_retry")),
            ("4001", Some("wrong_cvv")),
            ("4002", Some("card_declined")),
            ("4003", Some("wrong_card_details")),
            ("4004", Some("insufficient_balance")),
            ("4005", Some("card_limit_exceeded")),
            ("4010", Some("card_declined")),
            ("4011", Some("card_validation_failed")),
            ("4012", Some("card_declined")),
            ("4013", Some("card_not_charged_contact_support")),
            ("Error 4001: incorrect CVV", Some("wrong_cvv")),
            (
                "code=4004 (insufficient funds)",
                Some("insufficient_balance"),
            ),
            ("40011", None),
            ("4007", None),
            ("card issuer unavailable", None),
        ];
        for (text, want) in cases {
            assert_eq!(failure_code(text), want, "{text}");
            let n = ok(&checkout(), &ck_body("order_failed", text));
            let f = n
                .event
                .failure
                .unwrap_or_else(|| panic!("failure for {text}"));
            assert_eq!(f.code.as_deref(), want);
            assert_eq!(f.reason.as_deref(), Some(text));
        }
        // A bare numeric code.
        let n = ok(
            &checkout(),
            r#"{"data":{"id":"1","type":"order_failed","fail_reason":4003}}"#,
        );
        assert_eq!(
            n.event.failure.and_then(|f| f.code),
            Some("wrong_card_details".to_owned())
        );
    }

    #[test]
    fn checkout_missing_fields_name_the_field() {
        for (body, field) in [
            (r#"{}"#, "`data`"),
            (r#"{"data":{"type":"order_complete"}}"#, "`data.id`"),
            (r#"{"data":{"id":"","type":"order_complete"}}"#, "`data.id`"),
            (r#"{"data":{"id":"x"}}"#, "`data.type`"),
        ] {
            let (s, why) = status_of(run(&checkout(), body));
            assert_eq!(s, 200, "{body}");
            assert!(why.contains(field), "{body}: {why}");
        }
    }

    #[test]
    fn from_config_requires_tokens() {
        let cfg = Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        let e = WalletPay::from_config(&cfg).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("PAYHOOK_ONEBUY_TOKENS"));
        let cfg = Config::from_lookup(|k| (k == "PAYHOOK_ONEBUY_TOKENS").then(|| TOKEN.to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(Checkout::from_config(&cfg).is_ok());
        assert_eq!(wallet_pay().route(), "/webhooks/onebuy/wallet-pay/{token}");
        assert_eq!(checkout().route(), "/webhooks/onebuy/checkout/{token}");
    }
}
