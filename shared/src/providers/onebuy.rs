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

use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, Fiat, PaymentEvent, ProviderId, Status};
use crate::providers::{Inbound, Normalized, Provider, Signed, Verified, de, from_body, sha256};
use crate::rejection::Rejection;
use crate::secret::SecretList;
use async_trait::async_trait;
use serde::Deserialize;
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

/// The URL token (and optional api_key) check shared by both 1buy products.
#[derive(Debug, Clone)]
struct UrlAuth {
    tokens: SecretList,
    api_keys: Option<SecretList>,
}

impl UrlAuth {
    fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let tokens = Config::require(&cfg.onebuy_tokens, "PAYHOOK_ONEBUY_TOKENS")?.clone();
        Ok(UrlAuth {
            tokens,
            api_keys: cfg.onebuy_api_keys.clone(),
        })
    }

    /// Token first (nothing about the body is looked at before it passes),
    /// then strict JSON parsing, then the optional api_key.
    fn verify(&self, req: &Inbound<'_>, api_key_at: ApiKeyAt) -> Result<Verified, Rejection> {
        // An absent token is compared as the empty string: every configured
        // token is non-empty, so it never matches, and the timing is the same.
        let token = req.param("token").unwrap_or_default();
        if !self.tokens.contains_ct(token.as_bytes()) {
            return Err(Rejection::unauthorized("bad_token", "unknown webhook token"));
        }
        let body = canonical::parse_strict(req.body)?;
        if let Some(keys) = &self.api_keys {
            let sent = match api_key_at {
                ApiKeyAt::TopLevelRequired => Some(body.get("api_key")),
                ApiKeyAt::DataIfPresent => body
                    .get("data")
                    .and_then(|d| d.get("api_key"))
                    .map(Some),
            };
            if let Some(sent) = sent {
                let ok = match sent {
                    Some(serde_json::Value::String(s)) => keys.contains_ct(s.as_bytes()),
                    _ => false,
                };
                if !ok {
                    return Err(Rejection::unauthorized("bad_api_key", "api_key does not match"));
                }
            }
        }
        Ok(Verified { body })
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
    s.len() == 66
        && s.starts_with("0x")
        && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

#[async_trait]
impl Provider for WalletPay {
    fn id(&self) -> ProviderId {
        ProviderId::OnebuyWalletPay
    }

    fn route(&self) -> &'static str {
        "/webhooks/onebuy/wallet-pay/{token}"
    }

    async fn verify(&self, req: &Inbound<'_>, _now: OffsetDateTime) -> Result<Verified, Rejection> {
        self.auth.verify(req, ApiKeyAt::TopLevelRequired)
    }

    fn normalize(
        &self,
        verified: &Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Rejection> {
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
            None if data_status == Some(WALLET_PAY_SUCCEEDED) => {
                (format!("data.status:{WALLET_PAY_SUCCEEDED}"), Status::Completed)
            }
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
            .ok_or_else(|| Rejection::field("order_id"))?;

        // Dedupe: order + lifecycle value. For an unknown lifecycle the
        // provider_event alone (`purchase`) would make every unknown
        // delivery of one order collide; `data.status` tells them apart.
        let mut dedupe_key = format!("{order_id}\n{provider_event}");
        if status == Status::Unknown {
            if let Some(s) = data_status {
                if !provider_event.starts_with("data.status:") {
                    dedupe_key.push_str("\ndata.status:");
                    dedupe_key.push_str(s);
                }
            }
        }

        let mut ev = PaymentEvent::new(
            ProviderId::OnebuyWalletPay,
            "wallet-pay",
            provider_event,
            status,
            order_id,
            received_at,
            verified.body.clone(),
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
        if data.crypto_amount.is_some() || crypto_currency.is_some() || data.network_id.is_some()
        {
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
        if let Some(h) = b.hash.as_deref() {
            if looks_like_tx_hash(h) && !tx.iter().any(|t| t.eq_ignore_ascii_case(h)) {
                tx.push(h.to_owned());
            }
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
            fingerprint: body_fingerprint(&verified.body),
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
    fn id(&self) -> ProviderId {
        ProviderId::OnebuyCheckout
    }

    fn route(&self) -> &'static str {
        "/webhooks/onebuy/checkout/{token}"
    }

    async fn verify(&self, req: &Inbound<'_>, _now: OffsetDateTime) -> Result<Verified, Rejection> {
        self.auth.verify(req, ApiKeyAt::DataIfPresent)
    }

    fn normalize(
        &self,
        verified: &Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Rejection> {
        let b: CheckoutBody = from_body(&verified.body)?;
        let d = b.data;
        let id = d.id.ok_or_else(|| Rejection::field("data.id"))?;
        let kind = d.kind.ok_or_else(|| Rejection::field("data.type"))?;
        let status = checkout_type(&kind);
        let dedupe_key = format!("{id}\n{kind}");

        let mut ev = PaymentEvent::new(
            ProviderId::OnebuyCheckout,
            "checkout",
            kind,
            status,
            id,
            received_at,
            verified.body.clone(),
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
            fingerprint: body_fingerprint(&verified.body),
            event: ev,
        })
    }

    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        Ok(self.auth.sign(body))
    }
}
