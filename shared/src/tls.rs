//! The TLS crypto of every reqwest client payhook builds (8Pay's API, the
//! 1buy merchant API, `payhook send`): rustls with *ring*, the provider the
//! AWS SDK's client uses too, so no binary carries a second one (aws-lc).
//! reqwest is built without a provider of its own and needs one installed
//! before a client is built.

/// Install ring as the process's rustls provider (once; a provider already
/// installed is kept). Call before building any reqwest client.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_once_the_provider_is_installed() {
        super::ensure_crypto_provider();
        super::ensure_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(reqwest::Client::builder().build().is_ok());
    }
}
