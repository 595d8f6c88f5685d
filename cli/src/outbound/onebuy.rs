//! 1buy.io's merchant API (PROVIDERS.md §1): Wallet Pay payment links and
//! the transaction lookup.
//!
//! ```no_run
//! # async fn demo() -> Result<(), payhook_cli::outbound::OutboundError> {
//! use payhook_cli::outbound::{OnebuyClient, WalletPayLink};
//! use payhook::secret::Secret;
//! use std::time::Duration;
//!
//! let client = OnebuyClient::new(
//!     payhook_cli::outbound::onebuy::DEFAULT_API_BASE,
//!     Secret::new("the merchant's 1buy API key"),
//!     Duration::from_secs(10),
//! )?;
//! let link = client
//!     .generate_wallet_pay_hash(&WalletPayLink::new("21.50").custom_id("order-1"))
//!     .await?;
//! println!("{}", link.payment_url);
//! # Ok(()) }
//! ```
//!
//! # What 1buy documents, and what is tolerated
//!
//! - `generate_wallet_pay_hash`: `POST {base}/api/business/smart_contract/generate_wallet_pay_hash`
//!   with the header `api-key` and the body
//!   `{"urlData":"?api_key=…&custom_id=…&email=…&amount=…"}` (each value
//!   percent-encoded; `custom_id` and `email` are optional and left out when
//!   not given). 1buy only says the answer "contains a hash". Accepted
//!   shapes, first match wins: a JSON string (`"HASH"`); an object with a
//!   string `hash` (`{"hash":"HASH",…}`); an object whose `data` is such an
//!   object (`{"data":{"hash":"HASH"},…}`). Anything else is
//!   [`OutboundError::UnexpectedAnswer`] naming the keys it did have, so a
//!   new shape is one small change here. The checkout URL is
//!   `{pay_base}?hash=HASH` with `pay_base` =
//!   `https://wallet-pay.1buy.io/fee_payer` unless configured.
//! - `transactions/data`: `POST {base}/api/business/transactions/data`, header
//!   `api-key`, body with exactly one of `order_id`, `custom_id`, `hash`.
//!   The answer's shape is not documented either: see [`Transactions`].

use super::{OutboundError, base_url, http_client, read_body, status_error, transport_error};
use payhook::providers::de::{decimal_string, opt_nonempty};
use payhook::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// 1buy's API.
pub const DEFAULT_API_BASE: &str = "https://api.1buy.io";
/// Where a Wallet Pay hash is paid.
pub const DEFAULT_PAY_BASE: &str = "https://wallet-pay.1buy.io/fee_payer";
/// The path of `generate_wallet_pay_hash`.
pub const GENERATE_PATH: &str = "/api/business/smart_contract/generate_wallet_pay_hash";
/// The path of the transaction lookup.
pub const TRANSACTIONS_PATH: &str = "/api/business/transactions/data";

const API_GENERATE: &str = "1buy generate_wallet_pay_hash";
const API_TRANSACTIONS: &str = "1buy transactions/data";

/// A client of 1buy's merchant API. `Debug` never shows the key.
#[derive(Debug, Clone)]
pub struct OnebuyClient {
    api_base: String,
    pay_base: String,
    api_key: Secret,
    timeout: Duration,
    http: reqwest::Client,
}

/// What to put in a Wallet Pay payment hash.
#[derive(Clone, PartialEq, Eq)]
pub struct WalletPayLink {
    /// Decimal amount as 1buy shows it (e.g. `"21.50"`).
    pub amount: String,
    /// Your reference (returned in webhooks as `customId`).
    pub custom_id: Option<String>,
    /// The customer's email (PII: never logged, redacted in `Debug`).
    pub email: Option<String>,
    /// The `api_key` inside `urlData`. 1buy's example uses the same key as
    /// the `api-key` header, which is what `None` does; set it only if your
    /// 1buy account tells you to use a different (e.g. public) key there.
    pub api_key_param: Option<Secret>,
}

impl std::fmt::Debug for WalletPayLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletPayLink")
            .field("amount", &self.amount)
            .field("custom_id", &self.custom_id)
            .field("email", &self.email.as_ref().map(|_| "<redacted>"))
            .field("api_key_param", &self.api_key_param)
            .finish()
    }
}

impl WalletPayLink {
    pub fn new(amount: impl Into<String>) -> Self {
        WalletPayLink {
            amount: amount.into(),
            custom_id: None,
            email: None,
            api_key_param: None,
        }
    }
    pub fn custom_id(mut self, v: impl Into<String>) -> Self {
        self.custom_id = Some(v.into());
        self
    }
    pub fn email(mut self, v: impl Into<String>) -> Self {
        self.email = Some(v.into());
        self
    }
    pub fn api_key_param(mut self, v: Secret) -> Self {
        self.api_key_param = Some(v);
        self
    }
}

/// The created payment hash and where the customer pays it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WalletPayHash {
    pub hash: String,
    /// `{pay_base}?hash=HASH` (the hash percent-encoded).
    pub payment_url: String,
}

/// Which transaction to look up: exactly one key, as 1buy requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionLookup {
    /// 1buy's `order_id`.
    OrderId(String),
    /// Your `custom_id` (the webhooks' `customId`).
    CustomId(String),
    /// The payment hash.
    Hash(String),
}

impl TransactionLookup {
    /// The body 1buy expects, e.g. `{"order_id":"…"}`.
    pub fn body(&self) -> Value {
        let (k, v) = match self {
            TransactionLookup::OrderId(v) => ("order_id", v),
            TransactionLookup::CustomId(v) => ("custom_id", v),
            TransactionLookup::Hash(v) => ("hash", v),
        };
        let mut m = Map::new();
        m.insert(k.to_owned(), Value::String(v.clone()));
        Value::Object(m)
    }

    fn value(&self) -> &str {
        match self {
            TransactionLookup::OrderId(v)
            | TransactionLookup::CustomId(v)
            | TransactionLookup::Hash(v) => v,
        }
    }
}

/// The answer of the transaction lookup: the JSON as received, and the
/// transactions found in it.
///
/// 1buy does not document the shape. Tolerated: the transaction object
/// itself, an array of them, or either wrapped in `data` (possibly more than
/// once, e.g. `{"success":true,"data":{"data":[…]}}`). An object is taken as
/// a transaction (and not as an envelope) when it has any of the Wallet Pay
/// webhook's top-level keys (`order_id`, `hash`, `customId`, `stage`,
/// `event`, `wallet`, `token_symbol`); `null` or an empty array means
/// nothing was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Transactions {
    pub transactions: Vec<Transaction>,
    /// The answer exactly as 1buy sent it (may hold PII: don't log it).
    pub raw: Value,
}

/// One transaction, typed where the Wallet Pay webhook's fields apply
/// (PROVIDERS.md §1); every other member is kept in [`Transaction::other`].
/// Amounts are decimal strings (1buy sends `amount` as a number).
/// `Debug` leaves out the email and the unknown members.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Transaction {
    // Ids may arrive as numbers: `decimal_string` keeps either as text.
    #[serde(default, deserialize_with = "decimal_string")]
    pub order_id: Option<String>,
    #[serde(default, rename = "customId", deserialize_with = "decimal_string")]
    pub custom_id: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub hash: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub stage: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub event: Option<String>,
    #[serde(default, deserialize_with = "decimal_string")]
    pub amount: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub token_symbol: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub wallet: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub email: Option<String>,
    #[serde(default, rename = "releaseEscrow")]
    pub release_escrow: Option<bool>,
    #[serde(default)]
    pub data: Option<TransactionData>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("order_id", &self.order_id)
            .field("custom_id", &self.custom_id)
            .field("hash", &self.hash)
            .field("stage", &self.stage)
            .field("event", &self.event)
            .field("amount", &self.amount)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl Transaction {
    /// The lifecycle name: the first of
    /// [`LIFECYCLE_FIELDS`](payhook::providers::onebuy::LIFECYCLE_FIELDS)
    /// (`stage`, then `event`) that holds a value of 1buy's stage table, as
    /// the webhook provider reads it; else the first non-empty one.
    pub fn lifecycle(&self) -> Option<&str> {
        let field = |name: &str| match name {
            "stage" => self.stage.as_deref(),
            "event" => self.event.as_deref(),
            _ => None,
        };
        let fields = payhook::providers::onebuy::LIFECYCLE_FIELDS;
        fields
            .iter()
            .filter_map(|f| field(f))
            .find(|v| WALLET_PAY_STAGES.contains(v))
            .or_else(|| fields.iter().find_map(|f| field(f)))
    }
}

/// 1buy's Wallet Pay stage table (PROVIDERS.md §1; the normalization lives
/// in `providers::onebuy`).
const WALLET_PAY_STAGES: &[&str] = &[
    "wallet_connect",
    "buying_token",
    "bought_success",
    "final_transaction_started",
    "final_approval_completed",
    "final_transaction_rejected",
    "final_transaction_failed",
    "final_transaction_completed",
];

/// The Wallet Pay webhook's nested `data`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionData {
    #[serde(default, deserialize_with = "decimal_string")]
    pub crypto_amount: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub crypto_currency: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub custom_order_id: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub destination_wallet: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub fail_reason: Option<String>,
    #[serde(default, deserialize_with = "decimal_string")]
    pub fiat_amount: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub fiat_currency: Option<String>,
    #[serde(default, deserialize_with = "decimal_string")]
    pub network_id: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub payment_method: Option<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub status: Option<String>,
    #[serde(default)]
    pub transaction_hashes: Vec<String>,
    #[serde(default, deserialize_with = "opt_nonempty")]
    pub transaction_id: Option<String>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Percent-encode everything but RFC 3986's unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`), as a query value: a space is `%20`, `+` is
/// `%2B`, `@` is `%40`, `&` is `%26`. Any query parser decodes this.
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `urlData` of a payment link: `?api_key=…&custom_id=…&email=…&amount=…`
/// in 1buy's documented order, absent optional values left out.
pub fn url_data(link: &WalletPayLink, api_key: &Secret) -> String {
    let key = link.api_key_param.as_ref().unwrap_or(api_key);
    let mut pairs: Vec<(&str, &str)> = vec![("api_key", key.expose())];
    if let Some(c) = &link.custom_id {
        pairs.push(("custom_id", c));
    }
    if let Some(e) = &link.email {
        pairs.push(("email", e));
    }
    pairs.push(("amount", &link.amount));
    let mut out = String::from("?");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&encode_query_value(v));
    }
    out
}

/// A positive decimal: digits, at most one `.` with digits on both sides.
fn is_decimal(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits) && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// Find the hash in an answer of `generate_wallet_pay_hash` (see the module
/// docs for the tolerated shapes).
pub fn hash_from_answer(v: &Value) -> Result<String, String> {
    let found = match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) => m.get("hash").and_then(Value::as_str).or_else(|| {
            m.get("data")
                .and_then(|d| d.get("hash"))
                .and_then(Value::as_str)
        }),
        _ => None,
    };
    match found.map(str::trim) {
        Some(h) if !h.is_empty() => Ok(h.to_owned()),
        Some(_) => Err("the hash is empty".into()),
        None => Err(match v {
            Value::Object(m) => {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                let data_keys: Vec<&str> = m
                    .get("data")
                    .and_then(Value::as_object)
                    .map(|d| d.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                if data_keys.is_empty() {
                    format!("no hash: an object with keys {keys:?}")
                } else {
                    format!("no hash: an object with keys {keys:?}, data with keys {data_keys:?}")
                }
            }
            other => format!("no hash: a JSON {}", kind(other)),
        }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys that make an object a Wallet Pay transaction rather than an envelope.
const TRANSACTION_KEYS: &[&str] = &[
    "order_id",
    "hash",
    "customId",
    "stage",
    "event",
    "wallet",
    "token_symbol",
];

/// The transactions in an answer of `transactions/data` (see
/// [`Transactions`]).
pub fn transactions_from_answer(v: &Value) -> Result<Vec<Transaction>, String> {
    let mut cur = v;
    for _ in 0..4 {
        match cur {
            Value::Object(m)
                if !TRANSACTION_KEYS.iter().any(|k| m.contains_key(*k))
                    && m.contains_key("data") =>
            {
                cur = &m["data"];
            }
            _ => break,
        }
    }
    let one = |x: &Value| {
        Transaction::deserialize(x).map_err(|e| format!("a transaction does not parse: {e}"))
    };
    match cur {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Object(m) if TRANSACTION_KEYS.iter().any(|k| m.contains_key(*k)) => {
            Ok(vec![one(cur)?])
        }
        Value::Object(m) => Err(format!(
            "no transaction: an object with keys {:?}",
            m.keys().map(String::as_str).collect::<Vec<_>>()
        )),
        other => Err(format!("no transaction: a JSON {}", kind(other))),
    }
}

impl OnebuyClient {
    /// A client of the API at `base` (e.g. [`DEFAULT_API_BASE`]) with the
    /// merchant's key, each call bounded by `timeout`. Payment URLs use
    /// [`DEFAULT_PAY_BASE`] (see [`OnebuyClient::with_pay_base`]).
    pub fn new(base: &str, api_key: Secret, timeout: Duration) -> Result<Self, OutboundError> {
        if api_key.expose().trim().is_empty() {
            return Err(OutboundError::Config {
                name: "PAYHOOK_ONEBUY_API_KEY",
                why: "is empty".into(),
            });
        }
        Ok(OnebuyClient {
            api_base: base_url("PAYHOOK_ONEBUY_API_BASE", base)?,
            pay_base: DEFAULT_PAY_BASE.to_owned(),
            api_key,
            timeout,
            http: http_client("PAYHOOK_ONEBUY_TIMEOUT_MS", timeout)?,
        })
    }

    /// Build payment URLs on another page (a sandbox, a stand-in).
    pub fn with_pay_base(mut self, pay_base: &str) -> Result<Self, OutboundError> {
        self.pay_base = base_url("PAYHOOK_ONEBUY_PAY_BASE", pay_base)?;
        Ok(self)
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    pub fn pay_base(&self) -> &str {
        &self.pay_base
    }

    /// `{pay_base}?hash=HASH`, the hash percent-encoded.
    pub fn payment_url(&self, hash: &str) -> String {
        let sep = if self.pay_base.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}hash={}", self.pay_base, encode_query_value(hash))
    }

    /// Create a Wallet Pay payment hash and its checkout URL.
    pub async fn generate_wallet_pay_hash(
        &self,
        link: &WalletPayLink,
    ) -> Result<WalletPayHash, OutboundError> {
        let amount = link.amount.trim();
        if !is_decimal(amount) {
            return Err(OutboundError::InvalidRequest(format!(
                "amount {amount:?}: expected a positive decimal such as 21.50"
            )));
        }
        if link.custom_id.as_deref().is_some_and(str::is_empty) {
            return Err(OutboundError::InvalidRequest(
                "custom_id is empty (leave it out instead)".into(),
            ));
        }
        if link.email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(OutboundError::InvalidRequest(
                "email is not an email address".into(),
            ));
        }
        let mut link = link.clone();
        link.amount = amount.to_owned();
        let body = serde_json::json!({ "urlData": url_data(&link, &self.api_key) });
        let answer = self.post(API_GENERATE, GENERATE_PATH, &body).await?;
        let hash = hash_from_answer(&answer).map_err(|what| OutboundError::UnexpectedAnswer {
            api: API_GENERATE,
            what,
        })?;
        Ok(WalletPayHash {
            payment_url: self.payment_url(&hash),
            hash,
        })
    }

    /// Look a transaction up by order id, custom id or hash. A 404 is
    /// [`OutboundError::NotFound`]; a 2xx with nothing in it is an empty
    /// [`Transactions::transactions`].
    pub async fn transaction(
        &self,
        lookup: &TransactionLookup,
    ) -> Result<Transactions, OutboundError> {
        if lookup.value().trim().is_empty() {
            return Err(OutboundError::InvalidRequest(
                "the lookup value is empty".into(),
            ));
        }
        let raw = self
            .post(API_TRANSACTIONS, TRANSACTIONS_PATH, &lookup.body())
            .await?;
        let transactions =
            transactions_from_answer(&raw).map_err(|what| OutboundError::UnexpectedAnswer {
                api: API_TRANSACTIONS,
                what,
            })?;
        Ok(Transactions { transactions, raw })
    }

    /// POST `body` as JSON with the `api-key` header; a 2xx JSON answer.
    async fn post(
        &self,
        api: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, OutboundError> {
        let mut resp = self
            .http
            .post(format!("{}{path}", self.api_base))
            .header("api-key", self.api_key.expose())
            .header(http::header::ACCEPT, "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(api, self.timeout, e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        let bytes = read_body(api, self.timeout, &mut resp).await?;
        if !(200..300).contains(&status) {
            return Err(status_error(api, status, &bytes, self.api_key.expose()));
        }
        serde_json::from_slice(&bytes).map_err(|e| OutboundError::NotJson {
            api,
            content_type,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_data_encodes_each_value_in_order() {
        let link = WalletPayLink::new("21.50")
            .custom_id("order 1&x=2")
            .email("a+b@example.com");
        assert_eq!(
            url_data(&link, &Secret::new("k/1=")),
            "?api_key=k%2F1%3D&custom_id=order%201%26x%3D2&email=a%2Bb%40example.com&amount=21.50"
        );
        assert_eq!(
            url_data(&WalletPayLink::new("5"), &Secret::new("k")),
            "?api_key=k&amount=5"
        );
        let own = WalletPayLink::new("5").api_key_param(Secret::new("pub"));
        assert_eq!(url_data(&own, &Secret::new("k")), "?api_key=pub&amount=5");
        assert_eq!(encode_query_value("ñ~"), "%C3%B1~");
    }

    #[test]
    fn decimals() {
        for ok in ["1", "21.50", "0.01", "100"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "", "0", "0.00", "-1", "1.", ".5", "1e3", "1,5", "1.2.3", " 1",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn hash_shapes() {
        assert_eq!(hash_from_answer(&json!("h1")), Ok("h1".into()));
        assert_eq!(hash_from_answer(&json!({"hash": "h2"})), Ok("h2".into()));
        assert_eq!(
            hash_from_answer(&json!({"success": true, "data": {"hash": "h3"}})),
            Ok("h3".into())
        );
        assert!(hash_from_answer(&json!({"data": {"id": 1}})).is_err());
        assert!(hash_from_answer(&json!("")).is_err());
        assert!(hash_from_answer(&json!([1])).is_err());
    }

    #[test]
    fn transaction_shapes() {
        let t = json!({"order_id": "o1", "amount": 21, "event": "final_transaction_completed",
            "stage": "public", "customId": "c1", "api_key": "ENCRYPTED::x",
            "data": {"status": "succeeded", "fiatAmount": "21", "transactionHashes": ["0x1"]}});
        let one = transactions_from_answer(&t).unwrap_or_default();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].order_id.as_deref(), Some("o1"));
        assert_eq!(one[0].amount.as_deref(), Some("21"));
        assert_eq!(one[0].custom_id.as_deref(), Some("c1"));
        assert_eq!(one[0].lifecycle(), Some("final_transaction_completed"));
        assert_eq!(one[0].other.get("api_key"), Some(&json!("ENCRYPTED::x")));
        assert!(!format!("{:?}", one[0]).contains("ENCRYPTED"));
        let data = one[0].data.clone().unwrap_or_default();
        assert_eq!(data.status.as_deref(), Some("succeeded"));
        assert_eq!(data.transaction_hashes, vec!["0x1".to_owned()]);

        for wrapped in [
            json!({"data": t.clone()}),
            json!({"success": true, "data": [t.clone()]}),
            json!({"data": {"data": [t.clone()]}}),
            json!([t.clone()]),
        ] {
            assert_eq!(
                transactions_from_answer(&wrapped).map(|v| v.len()),
                Ok(1),
                "{wrapped}"
            );
        }
        assert_eq!(transactions_from_answer(&json!({"data": null})), Ok(vec![]));
        assert_eq!(transactions_from_answer(&json!({"data": []})), Ok(vec![]));
        assert!(transactions_from_answer(&json!({"message": "x"})).is_err());
    }

    #[test]
    fn debug_hides_the_key_and_email() {
        let c = OnebuyClient::new(
            "http://127.0.0.1:1",
            Secret::new("sk-live"),
            Duration::from_secs(1),
        );
        let text = format!("{c:?}");
        assert!(!text.contains("sk-live"), "{text}");
        let link = WalletPayLink::new("1")
            .email("x@y.z")
            .api_key_param(Secret::new("sk-live"));
        let text = format!("{link:?}");
        assert!(
            !text.contains("x@y.z") && !text.contains("sk-live"),
            "{text}"
        );
    }

    #[test]
    fn payment_urls() {
        let c = OnebuyClient::new(
            "http://127.0.0.1:1/",
            Secret::new("k"),
            Duration::from_secs(1),
        )
        .and_then(|c| c.with_pay_base("https://pay.example/fee_payer/"));
        let Ok(c) = c else { panic!("client") };
        assert_eq!(c.api_base(), "http://127.0.0.1:1");
        assert_eq!(
            c.payment_url("a+b/c="),
            "https://pay.example/fee_payer?hash=a%2Bb%2Fc%3D"
        );
        assert!(OnebuyClient::new("x", Secret::new("k"), Duration::from_secs(1)).is_err());
        assert!(OnebuyClient::new("http://a", Secret::new(" "), Duration::from_secs(1)).is_err());
        assert!(OnebuyClient::new("http://a", Secret::new("k"), Duration::ZERO).is_err());
    }
}
