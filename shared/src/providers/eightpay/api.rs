//! What 8Pay's confirmation needs of HTTP: one `GET` with a bearer key, its
//! status and at most a bounded number of bytes of its body. A port, so that
//! the provider's rules (which status means what, the size cap, the
//! timeout) are tested without a network, and a function links an HTTP
//! client only when it confirms 8Pay notifications.
//!
//! [`ReqwestApi`] (feature `eightpay-api`) is the implementation the
//! `eightpay` function and `payhook serve` use.

use crate::secret::Secret;
use async_trait::async_trait;

/// An answer of the API: its status and body (at most the cap asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why no complete answer came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Could not connect, or the connection broke before the answer ended.
    /// `detail` never holds the key (it is sent in a header only).
    #[error("unreachable: {detail}")]
    Unreachable { detail: String },
    /// The body is larger than the cap.
    #[error("answer larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// `GET url` with `Authorization: Bearer key` and `Accept: application/json`.
/// The provider bounds the whole call with its own timeout.
#[async_trait]
pub trait NotificationApi: Send + Sync + std::fmt::Debug {
    async fn get(&self, url: &str, key: &Secret, max_bytes: usize) -> Result<ApiAnswer, ApiError>;
}

#[cfg(feature = "eightpay-api")]
pub use client::ReqwestApi;

#[cfg(feature = "eightpay-api")]
mod client {
    use super::{ApiAnswer, ApiError, NotificationApi};
    use crate::secret::Secret;
    use async_trait::async_trait;

    /// [`NotificationApi`] over reqwest (rustls), trusting only the Mozilla
    /// roots compiled into the binary (`webpki-root-certs`): building it
    /// reads no certificate files. The client is built at the first
    /// confirmation, not at start-up: turning ~150 roots into rustls trust
    /// anchors was the eightpay function's largest init item beyond the
    /// others' (a Lambda cold start pays it only when a notification comes;
    /// the first invocation already builds the SDK's connector the same way).
    #[derive(Debug, Clone, Default)]
    pub struct ReqwestApi {
        client: std::sync::Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
    }

    impl ReqwestApi {
        /// The client, built on first use (no I/O: see the type's doc).
        pub fn new() -> Self {
            ReqwestApi::default()
        }

        /// The client, or why it could not be built (the same answer every
        /// time: the roots are compiled in, so a failure is not transient).
        fn client(&self) -> Result<&reqwest::Client, ApiError> {
            self.client
                .get_or_init(|| {
                    crate::tls::ensure_crypto_provider();
                    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                        .iter()
                        .map(|der| reqwest::Certificate::from_der(der))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())?;
                    reqwest::Client::builder()
                        .tls_certs_only(roots)
                        .build()
                        .map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|why| ApiError::Unreachable {
                    detail: format!("cannot build the HTTP client: {why}"),
                })
        }
    }

    /// The error and its sources (they say why: refused, reset, DNS,
    /// timeout…), without the URL.
    fn unreachable(e: reqwest::Error) -> ApiError {
        let e = e.without_url();
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        ApiError::Unreachable { detail }
    }

    #[async_trait]
    impl NotificationApi for ReqwestApi {
        async fn get(
            &self,
            url: &str,
            key: &Secret,
            max_bytes: usize,
        ) -> Result<ApiAnswer, ApiError> {
            let mut resp = self
                .client()?
                .get(url)
                .bearer_auth(key.expose())
                .header(http::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(unreachable)?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            if status == 200 {
                while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
                    if body.len() + chunk.len() > max_bytes {
                        return Err(ApiError::TooLarge { limit: max_bytes });
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(ApiAnswer { status, body })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Start-up builds nothing; the first call builds the client once
        /// (a refused connection is answered as unreachable, not a panic).
        #[tokio::test]
        async fn the_client_is_built_at_the_first_call() {
            let api = ReqwestApi::new();
            assert!(api.client.get().is_none(), "built at start-up");
            let key = Secret::new("k".to_owned());
            let e = api.get("http://127.0.0.1:1/x", &key, 10).await.err();
            assert!(matches!(e, Some(ApiError::Unreachable { .. })), "{e:?}");
            assert!(matches!(api.client.get(), Some(Ok(_))), "not kept");
            let copy = api.clone();
            assert!(copy.client.get().is_some(), "a clone builds it again");
        }
    }
}
