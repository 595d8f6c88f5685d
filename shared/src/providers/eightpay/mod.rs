//! 8Pay webhook notifications.
//!
//! 8Pay POSTs the notification object itself as the body, to
//! `/webhooks/8pay/{chain}` (the chain is ours: one URL per chain, configured
//! in 8Pay's dashboard). The body carries no signature. Two checks make it
//! trustworthy:
//!
//! 1. **Integrity**: `id` is the lowercase hex SHA-256 of the body without
//!    its `id` member, printed as JavaScript's `JSON.stringify` prints it
//!    (reproduced on 8Pay's own one-time sample, see the tests). Anyone can
//!    compute it, so it only proves the body was not altered in transit.
//! 2. **Authenticity**: we fetch `GET {api}/v1/{chain}/webhook-notifications/{id}`
//!    with that chain's API key and accept only when 8Pay returns the same
//!    JSON value. A 404 or a different body means 8Pay never sent it (401);
//!    an unreachable API means we cannot tell yet (503, 8Pay retries).
//!
//! The chain is the URL's. A body that names another `chain` is refused
//! (401) before 8Pay is asked: 8Pay's own WooCommerce plugin asks the API of
//! the body's chain, so such a body would be confirmed on a chain the URL
//! does not serve. Each chain has its own API base (`private` is
//! `https://api.8pay.tech`, the others `https://api.8pay.network`).
//!
//! Once authentic, a notification is kept whatever its shape (DESIGN.md
//! step 4): `normalize` maps what it can read and reports the rest as
//! [`Unparsed`]; unknown event names are status `unknown`.
//!
//! The API is asked through the [`NotificationApi`] port; `payhook serve`
//! has a local stand-in of it for development and tests.

use super::de::decimal_string;
use super::{
    Authentic, Descriptor, Inbound, Normalized, Proof, Provider, Signed, Unparsed, Verified,
    from_body, sha256,
};
use crate::canonical;
use crate::config::{Config, ConfigError};
use crate::event::{Crypto, Customer, Failure, PaymentEvent, ProviderId, Status};
use crate::rejection::Rejection;
use crate::secret::Secret;
use async_trait::async_trait;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub mod api;

#[cfg(feature = "eightpay-api")]
pub use api::ReqwestApi;
pub use api::{ApiAnswer, ApiError, NotificationApi};

/// The most we read of an API answer. A notification is a few hundred bytes.
const MAX_API_BODY: usize = 1024 * 1024;

/// The chains 8Pay serves (its WooCommerce plugin, v1.1.5). Which of them
/// payhook serves is decided by `PAYHOOK_EIGHTPAY_API_KEYS`.
pub const CHAINS: [&str; 5] = ["bsc", "ethereum", "polygon", "sandbox", "private"];

impl ProviderId {
    pub const EIGHTPAY: ProviderId = ProviderId::new("eightpay");
}

const API_KEYS_SETTING: &str = "PAYHOOK_EIGHTPAY_API_KEYS";
const API_BASE_SETTING: &str = "PAYHOOK_EIGHTPAY_API_BASE";
const API_BASES_SETTING: &str = "PAYHOOK_EIGHTPAY_API_BASES";
const TIMEOUT_SETTING: &str = "PAYHOOK_EIGHTPAY_TIMEOUT_MS";

/// 8Pay's API of every chain but `private`.
pub const DEFAULT_API_BASE: &str = "https://api.8pay.network";
/// 8Pay's API for its `private` chain (8Pay's WooCommerce plugin, v1.1.5).
pub const DEFAULT_PRIVATE_API_BASE: &str = "https://api.8pay.tech";

/// 8Pay's notifications, one URL per chain.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ProviderId::EIGHTPAY,
    route: "/webhooks/8pay/{chain}",
    settings: &[
        API_KEYS_SETTING,
        API_BASE_SETTING,
        API_BASES_SETTING,
        TIMEOUT_SETTING,
    ],
    build: build_from_config,
    dev_settings: |secret| {
        let keys = CHAINS
            .iter()
            .map(|c| format!("{c}={}", secret("dev-8pay")))
            .collect::<Vec<_>>()
            .join(",");
        vec![(API_KEYS_SETTING, keys)]
    },
    test_settings: &[
        (
            API_KEYS_SETTING,
            "bsc=test-8pay-key-bsc,polygon=test-8pay-key-polygon",
        ),
        (TIMEOUT_SETTING, "1500"),
    ],
    // 8Pay signs nothing: a wrong signer is one whose API does not know
    // the notification, which the tests arrange with the stand-in.
    wrong_settings: &[],
    proof: Proof::InBody,
};

#[cfg(feature = "eightpay-api")]
fn build_from_config(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(EightPay::from_config(cfg)?))
}

#[cfg(not(feature = "eightpay-api"))]
fn build_from_config(cfg: &Config) -> Result<Arc<dyn Provider>, ConfigError> {
    // Read (and check) the settings all the same, so that an unset key is
    // still "not configured" rather than an error.
    Settings::from_config(cfg)?;
    Err(ConfigError::Invalid {
        name: API_KEYS_SETTING,
        why: "this binary is built without 8Pay's API client (feature eightpay-api)".into(),
    })
}

/// 8Pay's settings, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PAYHOOK_EIGHTPAY_API_KEYS`: `chain=key,…` (chains lowercased).
    pub keys: BTreeMap<String, Secret>,
    /// `PAYHOOK_EIGHTPAY_API_BASE` (default `https://api.8pay.network`): the
    /// API of every chain not in `api_bases`, no trailing slash.
    pub api_base: String,
    /// `PAYHOOK_EIGHTPAY_API_BASES`: `chain=url,…`, the API of single
    /// chains. `private` is `https://api.8pay.tech` unless named here or
    /// `PAYHOOK_EIGHTPAY_API_BASE` is set.
    pub api_bases: BTreeMap<String, String>,
    /// `PAYHOOK_EIGHTPAY_TIMEOUT_MS` (default 3000).
    pub timeout: Duration,
}

impl Settings {
    /// Parse every 8Pay setting; the keys are required. A base named for a
    /// chain that has no key is refused: it is most likely a misspelt chain.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let base_set = cfg.value(API_BASE_SETTING);
        let api_base = api_url(API_BASE_SETTING, base_set.unwrap_or(DEFAULT_API_BASE))?;
        let mut api_bases = match cfg.value(API_BASES_SETTING) {
            Some(v) => parse_api_bases(v)?,
            None => BTreeMap::new(),
        };
        // The single base, when set, serves every chain (tests point it at a
        // stand-in); else `private` has its own API, as in 8Pay's plugin.
        if base_set.is_none() {
            api_bases
                .entry("private".to_owned())
                .or_insert_with(|| DEFAULT_PRIVATE_API_BASE.to_owned());
        }
        let timeout = Duration::from_millis(cfg.number(TIMEOUT_SETTING, 3000)?);
        let keys = match cfg.value(API_KEYS_SETTING) {
            Some(v) => parse_keys(v)?,
            None => {
                return Err(ConfigError::Missing {
                    name: API_KEYS_SETTING,
                    hint: " (chain=key,chain=key)",
                });
            }
        };
        // `private` always has a base (its default), key or not.
        if let Some(chain) = api_bases
            .keys()
            .find(|c| *c != "private" && !keys.contains_key(*c))
        {
            return Err(ConfigError::Invalid {
                name: API_BASES_SETTING,
                why: format!("chain {chain} has no key in {API_KEYS_SETTING}"),
            });
        }
        Ok(Settings {
            keys,
            api_base,
            api_bases,
            timeout,
        })
    }

    /// The API base that confirms notifications of `chain`.
    pub fn api_base(&self, chain: &str) -> &str {
        self.api_bases.get(chain).unwrap_or(&self.api_base)
    }
}

/// `PAYHOOK_EIGHTPAY_API_KEYS`: `chain=key,chain=key`.
fn parse_keys(v: &str) -> Result<BTreeMap<String, Secret>, ConfigError> {
    let mut keys = BTreeMap::new();
    for pair in v.split(',') {
        let (chain, key) = pair.split_once('=').ok_or(ConfigError::Invalid {
            name: API_KEYS_SETTING,
            why: "expected chain=key,chain=key".into(),
        })?;
        let (chain, key) = (chain.trim(), key.trim());
        if chain.is_empty() || key.is_empty() {
            return Err(ConfigError::Invalid {
                name: API_KEYS_SETTING,
                why: "empty chain or key".into(),
            });
        }
        keys.insert(chain.to_ascii_lowercase(), Secret::new(key));
    }
    Ok(keys)
}

/// An API base from setting `name`: an http(s) URL, no trailing slash.
fn api_url(name: &'static str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(str::is_empty) {
        return Err(ConfigError::Invalid {
            name,
            why: "expected an http(s) URL".into(),
        });
    }
    Ok(url.to_owned())
}

/// `PAYHOOK_EIGHTPAY_API_BASES`: `chain=url,chain=url` (chains lowercased,
/// each named once).
fn parse_api_bases(v: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        name: API_BASES_SETTING,
        why,
    };
    let mut bases = BTreeMap::new();
    for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
        let (chain, url) = pair
            .split_once('=')
            .ok_or_else(|| invalid("expected chain=url,chain=url".into()))?;
        let chain = chain.trim().to_ascii_lowercase();
        if chain.is_empty() {
            return Err(invalid("empty chain".into()));
        }
        let url = api_url(API_BASES_SETTING, url)
            .map_err(|_| invalid(format!("the base of chain {chain} is not an http(s) URL")))?;
        if bases.insert(chain.clone(), url).is_some() {
            return Err(invalid(format!("chain {chain} is named twice")));
        }
    }
    Ok(bases)
}

/// 8Pay webhook notifications (PROVIDERS.md §4).
#[derive(Debug, Clone)]
pub struct EightPay {
    /// API key per chain (`bsc`, `ethereum`, `polygon`, `sandbox`,
    /// `private`). A chain without a key is not served.
    keys: BTreeMap<String, Secret>,
    /// The API of every chain not in `api_bases`, no trailing slash.
    api_base: String,
    /// The API of single chains, no trailing slash.
    api_bases: BTreeMap<String, String>,
    /// How 8Pay's API is asked ([`api::NotificationApi`]).
    api: Arc<dyn NotificationApi>,
    /// For the whole confirmation call.
    timeout: Duration,
}

impl EightPay {
    /// `keys`: API key per chain (at least one). `api_base`: the 8Pay API of
    /// every chain (tests point it at the CLI's stand-in; see
    /// [`EightPay::with_api_bases`] for single chains). `timeout`: for the
    /// whole confirmation request; keep it well under the few seconds 8Pay
    /// waits for us.
    pub fn new(
        keys: BTreeMap<String, Secret>,
        api_base: impl Into<String>,
        timeout: Duration,
        api: Arc<dyn NotificationApi>,
    ) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::Missing {
                name: "PAYHOOK_EIGHTPAY_API_KEYS",
                hint: " (chain=key,chain=key)",
            });
        }
        Ok(EightPay {
            keys,
            api_base: api_base.into().trim_end_matches('/').to_owned(),
            api_bases: BTreeMap::new(),
            api,
            timeout,
        })
    }

    /// The API base of single chains (chain → URL), over the one given to
    /// [`EightPay::new`].
    pub fn with_api_bases(mut self, bases: BTreeMap<String, String>) -> Self {
        self.api_bases = bases
            .into_iter()
            .map(|(chain, url)| (chain, url.trim_end_matches('/').to_owned()))
            .collect();
        self
    }

    /// From `PAYHOOK_EIGHTPAY_API_KEYS` (required),
    /// `PAYHOOK_EIGHTPAY_API_BASE`, `PAYHOOK_EIGHTPAY_API_BASES` and
    /// `PAYHOOK_EIGHTPAY_TIMEOUT_MS` ([`Settings`]), asking 8Pay over
    /// reqwest.
    #[cfg(feature = "eightpay-api")]
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let settings = Settings::from_config(cfg)?;
        let api = api::ReqwestApi::new();
        EightPay::from_settings(settings, Arc::new(api))
    }

    /// The provider of `settings`, asking 8Pay through `api`.
    pub fn from_settings(
        settings: Settings,
        api: Arc<dyn NotificationApi>,
    ) -> Result<Self, ConfigError> {
        let p = EightPay::new(settings.keys, settings.api_base, settings.timeout, api)?;
        Ok(p.with_api_bases(settings.api_bases))
    }

    /// The chains this instance serves.
    pub fn chains(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The API base that confirms notifications of `chain`.
    pub fn api_base(&self, chain: &str) -> &str {
        self.api_bases.get(chain).unwrap_or(&self.api_base)
    }

    /// Ask 8Pay whether it sent `body` as notification `id` on `chain`.
    async fn confirm(
        &self,
        chain: &str,
        key: &Secret,
        id: &str,
        body: &Value,
    ) -> Result<(), Rejection> {
        // `chain` is one of our configured chains and `id` was checked to be
        // 64 hex digits: both are safe to put in the path as they are.
        let url = format!(
            "{}/v1/{chain}/webhook-notifications/{id}",
            self.api_base(chain)
        );
        let api = self.api.get(&url, key, MAX_API_BODY);
        let answer = match tokio::time::timeout(self.timeout, api).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                tracing::warn!(chain, error = %e, "8Pay API unreachable");
                return Err(Rejection::unavailable(
                    "provider_api",
                    "8Pay API unavailable",
                ));
            }
            Err(_) => {
                tracing::warn!(chain, timeout = true, "8Pay API unreachable");
                return Err(Rejection::unavailable(
                    "provider_api",
                    "8Pay API unavailable",
                ));
            }
        };
        match answer.status {
            200 => {}
            404 => {
                return Err(Rejection::unauthorized(
                    "not_confirmed",
                    "notification not confirmed by 8Pay",
                ));
            }
            401 | 403 => {
                // Our key is wrong or revoked: an operator problem. 503 makes
                // 8Pay retry, so nothing is lost once the key is fixed.
                tracing::error!(
                    chain,
                    status = answer.status,
                    "8Pay API refused our API key; check PAYHOOK_EIGHTPAY_API_KEYS for this chain"
                );
                return Err(Rejection::unavailable(
                    "provider_api_auth",
                    "8Pay API unavailable",
                ));
            }
            other => {
                tracing::warn!(chain, status = other, "8Pay API answered with an error");
                return Err(Rejection::unavailable(
                    "provider_api",
                    "8Pay API unavailable",
                ));
            }
        }
        let bytes = answer.body;
        // A 200 we cannot read is an API fault, not a verdict: 503.
        let fetched: Value = serde_json::from_slice(&bytes).map_err(|_| {
            tracing::warn!(chain, "8Pay API answered 200 with a body that is not JSON");
            Rejection::unavailable("provider_api", "8Pay API unavailable")
        })?;
        // `Value` equality ignores key order (as JSON objects do) but not
        // values: any altered member is a mismatch.
        if &fetched != body {
            return Err(Rejection::unauthorized(
                "not_confirmed",
                "notification not confirmed by 8Pay",
            ));
        }
        Ok(())
    }
}

/// Lowercase hex SHA-256 of the notification without `id`: what 8Pay puts
/// in `id`.
pub fn notification_id(body: &Value) -> String {
    hex::encode(sha256(
        canonical::stringify_without(body, &["id"]).as_bytes(),
    ))
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// 8Pay's events and what they mean for the order (PROVIDERS.md §4). The
/// names are the same for every type: `Payment` (one-time,
/// wallet-to-wallet); `Subscription`, `Billing`, `BillingFailed`,
/// `BillingAttemptFailed`, `SubscriptionCancelled`, `SubscriptionTerminated`
/// (fixed-recurring, autobiller, variable-recurring, on-demand), and
/// `SubscriptionCancellationRequested` (variable-recurring). `confirmed` is
/// the payment's transaction status (one-time: the body's
/// `transactionStatus`; wallet-to-wallet: every receiver's).
pub fn status_of(event: &str, confirmed: bool) -> Status {
    match event {
        "Payment" if confirmed => Status::Completed,
        "Payment" => Status::Processing,
        "Subscription" => Status::Created,
        "Billing" => Status::Completed,
        "BillingFailed" | "BillingAttemptFailed" => Status::Failed,
        "SubscriptionCancellationRequested" => Status::Pending,
        "SubscriptionCancelled" | "SubscriptionTerminated" => Status::Canceled,
        _ => Status::Unknown,
    }
}

/// A descriptive member (a hash, an address, a tag…) read leniently: a
/// non-empty string, or a number's text; anything else is taken as absent
/// rather than making the whole notification unreadable.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The notification. Unknown members are tolerated (and stay in `raw`).
/// `id`, `type` and `event` are required, `data` must be an object when
/// present, and amounts must be decimals; anything else is read leniently.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    event: String,
    /// Unix seconds (a number in 8Pay's samples; a numeric string is read
    /// too).
    #[serde(default, deserialize_with = "lenient")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    transaction_hash: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    transaction_status: Option<String>,
    #[serde(default)]
    data: Option<Data>,
    /// When present, `verify` proved it is the URL's chain.
    #[serde(default, deserialize_with = "lenient")]
    chain: Option<String>,
}

/// `data`: its members depend on the notification type. Billing data is
/// `{planId, subscriptionId, amount, cycleStart, cycleEnd}` (cycle bounds
/// as strings of Unix seconds); the plan and the cycle stay in `raw`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    /// One-time: the payment id (hex); wallet-to-wallet: a UUID.
    #[serde(default, deserialize_with = "lenient")]
    id: Option<String>,
    /// Recurring types.
    #[serde(default, deserialize_with = "lenient")]
    subscription_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    sender: Option<String>,
    /// Recurring types: the subscriber.
    #[serde(default, deserialize_with = "lenient")]
    user: Option<String>,
    /// Wallet-to-wallet: the payer's email (PII: never logged).
    #[serde(default, deserialize_with = "lenient")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    token: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    tag: Option<String>,
    /// Billing: the amount charged.
    #[serde(default, deserialize_with = "decimal_string")]
    amount: Option<String>,
    #[serde(default)]
    receivers: Vec<Receiver>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receiver {
    #[serde(default, deserialize_with = "decimal_string")]
    amount: Option<String>,
    /// Wallet-to-wallet only: each receiver has its own transaction.
    #[serde(default, deserialize_with = "lenient")]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    transaction_hash: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    transaction_status: Option<String>,
}

fn unix(s: Option<&str>) -> Option<OffsetDateTime> {
    s.and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
}

#[async_trait]
impl Provider for EightPay {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn verify(
        &self,
        req: &Inbound<'_>,
        _now: OffsetDateTime,
    ) -> Result<Authentic, Rejection> {
        // The chain comes first: for a chain we have no key for we cannot
        // ask 8Pay anything, so the request is refused before reading it.
        let Some((chain, key)) = req.param("chain").and_then(|c| self.keys.get_key_value(c)) else {
            return Err(Rejection::unauthorized("unknown_chain", "unknown chain"));
        };
        // A body that is not a JSON object cannot be asked about: 400.
        let body = canonical::parse_strict(req.body)?;
        let Value::Object(members) = &body else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        // A notification of another chain is not this URL's to accept, even
        // if 8Pay confirms it there: 401, nothing asked, nothing stored.
        match members.get("chain") {
            None => {}
            Some(Value::String(c)) if c == chain => {}
            Some(_) => {
                return Err(Rejection::unauthorized(
                    "chain_mismatch",
                    "field `chain` does not match the URL's chain",
                ));
            }
        }
        let id = match members.get("id") {
            Some(Value::String(id)) if is_lower_hex_64(id) => id,
            _ => return Err(Rejection::unauthorized("bad_id", "missing or malformed id")),
        };
        // A public hash: constant time buys nothing, but costs nothing either.
        let expected = notification_id(&body);
        if !bool::from(crate::secret::ct_eq(expected.as_bytes(), id.as_bytes())) {
            return Err(Rejection::unauthorized(
                "bad_id",
                "id does not match the body",
            ));
        }
        self.confirm(chain, key, id, &body).await?;
        Ok(Verified::on_network(body, chain).into())
    }

    fn normalize(
        &self,
        verified: Verified,
        received_at: OffsetDateTime,
    ) -> Result<Normalized, Unparsed> {
        let (body, url_chain) = (verified.body, verified.network);
        let n: Notification = from_body(&body)?;
        let data = n.data.unwrap_or_default();

        // Wallet-to-wallet puts one transaction on each receiver: the
        // payment is confirmed when all of them are. Other types carry the
        // top-level `transactionStatus` (the receivers' when it is absent).
        let receivers_confirmed = !data.receivers.is_empty()
            && data
                .receivers
                .iter()
                .all(|r| r.transaction_status.as_deref() == Some("confirmed"));
        let confirmed = match (n.kind.as_str(), n.transaction_status.as_deref()) {
            ("wallet-to-wallet", _) | (_, None) => receivers_confirmed,
            (_, Some(s)) => s == "confirmed",
        };
        let status = status_of(&n.event, confirmed);

        // The order is what several notifications are about:
        // * recurring types: the subscription (`data.subscriptionId`), so
        //   Subscription, Billing… move one order along;
        // * one-time / wallet-to-wallet: the payment (`data.id`), else the
        //   payment's transaction (`transactionHash`, else the first
        //   receiver's);
        // * else the notification id itself: then the order is this one
        //   notification, which is still unique and stable across retries.
        let order_id = data
            .subscription_id
            .clone()
            .or_else(|| data.id.clone())
            .or_else(|| n.transaction_hash.clone())
            .or_else(|| {
                data.receivers
                    .iter()
                    .find_map(|r| r.transaction_hash.clone())
            })
            .unwrap_or_else(|| n.id.clone());

        let mut event = PaymentEvent::new(
            ProviderId::EIGHTPAY,
            n.kind.clone(),
            n.event.clone(),
            status,
            order_id,
            received_at,
            body,
        );
        event.merchant_reference = data.tag.clone();
        event.occurred_at = unix(n.timestamp.as_deref()).or_else(|| {
            data.receivers
                .iter()
                .filter_map(|r| unix(r.timestamp.as_deref()))
                .max()
        });
        let mut tx_hashes: Vec<String> = Vec::new();
        for h in n.transaction_hash.iter().chain(
            data.receivers
                .iter()
                .filter_map(|r| r.transaction_hash.as_ref()),
        ) {
            if !tx_hashes.contains(h) {
                tx_hashes.push(h.clone());
            }
        }
        event.tx_hashes = tx_hashes;
        // Amount: the first receiver's (8Pay sends one receiver in practice;
        // summing decimal strings is left to consumers), else the billed
        // amount. The network is the URL's chain (the body's `chain`, when
        // present, was proven equal to it).
        let amount = data
            .receivers
            .first()
            .and_then(|r| r.amount.clone())
            .or_else(|| data.amount.clone());
        let network = url_chain.or_else(|| n.chain.clone());
        if amount.is_some() || data.token.is_some() || network.is_some() {
            event.crypto = Some(Crypto {
                amount,
                currency: data.token.clone(),
                network,
            });
        }
        event.wallet = data.sender.clone().or_else(|| data.user.clone());
        if let Some(email) = data.email.clone() {
            event.customer = Some(Customer { email: Some(email) });
        }
        if status == Status::Failed {
            event.failure = Some(Failure {
                code: None,
                reason: Some(n.event.clone()),
            });
        }
        // The content without `id` (whose position in the body may vary
        // between deliveries): same id, same content, so never a 409. That
        // hash IS `id` once verified (`verify` compared them), so it is
        // read back rather than computed twice.
        let mut fingerprint = [0u8; 32];
        if hex::decode_to_slice(&n.id, &mut fingerprint).is_err() {
            fingerprint = sha256(canonical::stringify_without(&event.raw, &["id"]).as_bytes());
        }
        Ok(Normalized {
            // `id` is a content hash: a redelivery has the same one.
            dedupe_key: n.id,
            fingerprint,
            event,
        })
    }

    /// The notification's `id`: verified against 8Pay's API before the body
    /// got here, and a content hash naming one notification, so an unparsed
    /// redelivery is a duplicate.
    fn event_ref(&self, body: &Value) -> Option<String> {
        body.get("id")
            .and_then(Value::as_str)
            .filter(|id| is_lower_hex_64(id))
            .map(str::to_owned)
    }

    /// Sets `id` (as the first member) to the hash of the rest. The stand-in
    /// API must be told about the result separately (the stand-in's `StandIn::insert`).
    /// `at` is not used: 8Pay's `timestamp` is the payment's, not the
    /// delivery's, and nothing checks it against the clock.
    fn sign(&self, body: &[u8], _at: OffsetDateTime) -> Result<Signed, Rejection> {
        let parsed = canonical::parse_strict(body)?;
        let Value::Object(rest) = canonical::without_key(&parsed, "id") else {
            return Err(Rejection::bad_request(
                "bad_shape",
                "body must be a JSON object",
            ));
        };
        let rest = Value::Object(rest);
        let mut out = serde_json::Map::new();
        out.insert("id".to_owned(), Value::String(notification_id(&rest)));
        if let Value::Object(m) = &rest {
            out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let chain = match rest.get("chain") {
            Some(Value::String(c)) => c.clone(),
            _ => self.keys.keys().next().cloned().unwrap_or_default(),
        };
        Ok(Signed {
            body: canonical::stringify(&Value::Object(out)).into_bytes(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            params: vec![("chain".to_owned(), chain)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_config(&Config::from_lookup(|k| m.get(k).cloned())?)
    }

    const KEYS: (&str, &str) = (API_KEYS_SETTING, "bsc=k1,Sandbox=k2");

    #[test]
    fn defaults_and_required_keys() {
        let s = settings(&[KEYS]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.api_base("private"), DEFAULT_PRIVATE_API_BASE);
        assert_eq!(s.timeout, Duration::from_millis(3000));
        assert_eq!(
            s.keys.keys().map(String::as_str).collect::<Vec<_>>(),
            ["bsc", "sandbox"]
        );
        assert!(matches!(
            settings(&[]),
            Err(ConfigError::Missing {
                name: API_KEYS_SETTING,
                ..
            })
        ));
        for bad in ["bsc", "bsc=", "=k"] {
            assert!(
                matches!(
                    settings(&[(API_KEYS_SETTING, bad)]),
                    Err(ConfigError::Invalid {
                        name: API_KEYS_SETTING,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // An invalid timeout is an error even before the keys are looked at.
        assert!(matches!(
            settings(&[(TIMEOUT_SETTING, "soon")]),
            Err(ConfigError::Invalid {
                name: TIMEOUT_SETTING,
                ..
            })
        ));
    }

    #[test]
    fn api_bases_per_chain() {
        let s = settings(&[
            KEYS,
            (
                API_BASES_SETTING,
                " BSC=https://bsc.example/ , sandbox=http://127.0.0.1:9",
            ),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.api_bases,
            BTreeMap::from([
                ("bsc".to_owned(), "https://bsc.example".to_owned()),
                ("private".to_owned(), DEFAULT_PRIVATE_API_BASE.to_owned()),
                ("sandbox".to_owned(), "http://127.0.0.1:9".to_owned()),
            ])
        );
        // The single base, when set, is every chain's default, `private`'s too.
        let s = settings(&[KEYS, (API_BASE_SETTING, "http://127.0.0.1:1/")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.api_base, "http://127.0.0.1:1");
        assert!(s.api_bases.is_empty());
        let s = settings(&[
            KEYS,
            (API_BASE_SETTING, "http://127.0.0.1:1"),
            (API_BASES_SETTING, "private=https://p.example"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.api_bases["private"], "https://p.example");
        for bad in [
            "bsc",
            "=https://x.example",
            "bsc=ftp://x.example",
            "bsc=https://",
            "bsc=https://a.example,BSC=https://b.example",
            "polygon=https://x.example",
        ] {
            let e = settings(&[KEYS, (API_BASES_SETTING, bad)]).err();
            assert!(
                matches!(
                    e,
                    Some(ConfigError::Invalid {
                        name: API_BASES_SETTING,
                        ..
                    })
                ),
                "{bad}: {e:?}"
            );
        }
        let e = settings(&[KEYS, (API_BASE_SETTING, "api.8pay.network")]).err();
        assert!(
            matches!(
                e,
                Some(ConfigError::Invalid {
                    name: API_BASE_SETTING,
                    ..
                })
            ),
            "{e:?}"
        );
    }
}
