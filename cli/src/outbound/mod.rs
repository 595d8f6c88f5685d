//! Outbound provider APIs: calls the CLI (or a merchant's backend) makes *to*
//! the providers, as opposed to the webhooks they send to us.
//!
//! - [`onebuy`]: 1buy.io's merchant API (PROVIDERS.md §1–2): create a Wallet
//!   Pay payment hash and its checkout URL
//!   ([`OnebuyClient::generate_wallet_pay_hash`]), and look a transaction up
//!   for re-verification ([`OnebuyClient::transaction`]).
//! - 8Pay's notification fetch is not here: it lives with the provider that
//!   uses it to verify every notification, behind a port
//!   (`payhook::providers::eightpay::api`), and its local stand-in is
//!   [`crate::standin`].
//!
//! Every client has a configurable base URL (tests and stand-ins point it at
//! 127.0.0.1), one timeout for the whole request, a cap on the answer's size,
//! and typed errors ([`OutboundError`]) that never contain the API key.

pub mod onebuy;

pub use onebuy::{
    OnebuyClient, Transaction, TransactionData, TransactionLookup, Transactions, WalletPayHash,
    WalletPayLink,
};

use std::time::Duration;

/// The most we read of an API answer.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why an outbound API call failed. Never contains the API key: the key is
/// sent in a header only, and any text the provider sends back is scrubbed
/// of it before it is kept here.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// A setting (base URL, key, timeout) cannot be used.
    #[error("invalid setting {name}: {why}")]
    Config { name: &'static str, why: String },
    /// The request we were asked to send is invalid (e.g. an empty amount).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No complete answer within the configured timeout.
    #[error("{api}: no answer within {timeout:?}")]
    Timeout {
        api: &'static str,
        timeout: Duration,
    },
    /// Could not connect or the connection broke.
    #[error("{api}: cannot reach the API: {reason}")]
    Unreachable { api: &'static str, reason: String },
    /// 401/403: the API key is wrong, revoked or lacks the permission.
    #[error("{api}: the API key was refused (HTTP {status})")]
    Unauthorized { api: &'static str, status: u16 },
    /// 404: nothing there (an unknown order, hash or custom id).
    #[error("{api}: not found (HTTP 404)")]
    NotFound { api: &'static str },
    /// 429: slow down.
    #[error("{api}: rate limited (HTTP 429)")]
    RateLimited { api: &'static str },
    /// Any other 4xx: the provider refused the request.
    #[error("{api}: request refused (HTTP {status}){}", detail(.message))]
    Rejected {
        api: &'static str,
        status: u16,
        message: Option<String>,
    },
    /// 5xx (or any other non-2xx): the provider failed.
    #[error("{api}: provider error (HTTP {status}){}", detail(.message))]
    Server {
        api: &'static str,
        status: u16,
        message: Option<String>,
    },
    /// A 2xx whose body is not JSON.
    #[error("{api}: the answer is not JSON (content-type {content_type}): {reason}")]
    NotJson {
        api: &'static str,
        content_type: String,
        reason: String,
    },
    /// A 2xx JSON answer without what we need (e.g. no hash in it).
    #[error("{api}: unexpected answer: {what}")]
    UnexpectedAnswer { api: &'static str, what: String },
    /// The answer is larger than [`MAX_ANSWER_BYTES`].
    #[error("{api}: the answer is larger than {limit} bytes")]
    TooLarge { api: &'static str, limit: usize },
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(m) => format!(": {m}"),
        None => String::new(),
    }
}

impl OutboundError {
    /// True when the same call may succeed later unchanged (timeouts,
    /// connection failures, 429 and 5xx).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OutboundError::Timeout { .. }
                | OutboundError::Unreachable { .. }
                | OutboundError::RateLimited { .. }
                | OutboundError::Server { .. }
                | OutboundError::TooLarge { .. }
        )
    }

    /// The HTTP status the provider answered, when it answered with an
    /// error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            OutboundError::Unauthorized { status, .. }
            | OutboundError::Rejected { status, .. }
            | OutboundError::Server { status, .. } => Some(*status),
            OutboundError::NotFound { .. } => Some(404),
            OutboundError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

/// Check and normalize a base URL: `http(s)://…`, no trailing slash.
pub(crate) fn base_url(name: &'static str, base: &str) -> Result<String, OutboundError> {
    let b = base.trim().trim_end_matches('/');
    let rest = b
        .strip_prefix("https://")
        .or_else(|| b.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(b.to_owned()),
        _ => Err(OutboundError::Config {
            name,
            why: format!("expected an http(s) URL, got {b:?}"),
        }),
    }
}

/// An HTTP client with one timeout for the whole request.
pub(crate) fn http_client(
    name: &'static str,
    timeout: Duration,
) -> Result<reqwest::Client, OutboundError> {
    if timeout.is_zero() {
        return Err(OutboundError::Config {
            name,
            why: "the timeout must be more than 0".into(),
        });
    }
    payhook::tls::ensure_crypto_provider();
    with_builtin_roots(reqwest::Client::builder())
        .and_then(|b| b.timeout(timeout).connect_timeout(timeout).build())
        .map_err(|e| OutboundError::Config {
            name,
            why: format!("cannot build the HTTP client: {e}"),
        })
}

/// `builder` trusting only the Mozilla root certificates compiled into the
/// binary (`webpki-root-certs`), so that building a client reads no
/// certificate files: reqwest's default, the platform verifier, reads every
/// file of `/etc/ssl/certs`, ~7 ms of a Lambda cold start. Certificates are
/// verified as before (webpki, with the hostname).
pub(crate) fn with_builtin_roots(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(builder.tls_certs_only(roots))
}

/// A transport error as an [`OutboundError`]: timeout or unreachable. The
/// URL is left out (it never holds a key, but it is noise) and the error's
/// sources are kept (they say *why*: refused, reset, DNS…).
pub(crate) fn transport_error(
    api: &'static str,
    timeout: Duration,
    e: reqwest::Error,
) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout { api, timeout };
    }
    OutboundError::Unreachable {
        api,
        reason: transport_reason(e),
    }
}

/// A transport error without the URL, with its causes (they say *why*:
/// refused, reset, DNS…).
pub(crate) fn transport_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// Read a whole answer body, at most [`MAX_ANSWER_BYTES`].
pub(crate) async fn read_body(
    api: &'static str,
    timeout: Duration,
    resp: &mut reqwest::Response,
) -> Result<Vec<u8>, OutboundError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(api, timeout, e))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(OutboundError::TooLarge {
                api,
                limit: MAX_ANSWER_BYTES,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A short, printable excerpt of a provider's error body, with `secret`
/// replaced wherever it appears (a provider may echo the key it refused).
/// A JSON body's `message` / `error` / `msg` string is preferred.
pub(crate) fn excerpt(body: &[u8], secret: &str) -> Option<String> {
    const MAX: usize = 200;
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => ["message", "error", "msg", "detail"]
            .iter()
            .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let mut text = if secret.is_empty() {
        text
    } else {
        text.replace(secret, "<redacted>")
    };
    text = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned();
    if text.is_empty() {
        return None;
    }
    if text.chars().count() > MAX {
        text = text.chars().take(MAX).collect::<String>() + "…";
    }
    Some(text)
}

/// The error for a non-2xx status.
pub(crate) fn status_error(
    api: &'static str,
    status: u16,
    body: &[u8],
    secret: &str,
) -> OutboundError {
    let message = excerpt(body, secret);
    match status {
        401 | 403 => OutboundError::Unauthorized { api, status },
        404 => OutboundError::NotFound { api },
        429 => OutboundError::RateLimited { api },
        400..=499 => OutboundError::Rejected {
            api,
            status,
            message,
        },
        _ => OutboundError::Server {
            api,
            status,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("X", "https://api.1buy.io/").ok().as_deref(),
            Some("https://api.1buy.io")
        );
        assert_eq!(
            base_url("X", "http://127.0.0.1:9").ok().as_deref(),
            Some("http://127.0.0.1:9")
        );
        for bad in ["", "api.1buy.io", "ftp://x", "https://", "https://a b"] {
            assert!(base_url("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn excerpts_scrub_the_key_and_prefer_the_message() {
        let body = br#"{"success":false,"message":"invalid api key sk-123"}"#;
        assert_eq!(
            excerpt(body, "sk-123").as_deref(),
            Some("invalid api key <redacted>")
        );
        assert_eq!(
            excerpt(b"oops\nsk-123", "sk-123").as_deref(),
            Some("oops <redacted>")
        );
        assert_eq!(excerpt(b"  ", "k"), None);
        let long = "x".repeat(500);
        assert_eq!(
            excerpt(long.as_bytes(), "k").map(|s| s.chars().count()),
            Some(201)
        );
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(
            status_error("a", 401, b"", ""),
            OutboundError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            status_error("a", 404, b"", ""),
            OutboundError::NotFound { .. }
        ));
        assert!(matches!(
            status_error("a", 422, b"bad", ""),
            OutboundError::Rejected { status: 422, .. }
        ));
        let e = status_error("a", 502, b"", "");
        assert!(matches!(e, OutboundError::Server { status: 502, .. }));
        assert!(e.is_retryable());
        assert!(!status_error("a", 400, b"", "").is_retryable());
    }
}
