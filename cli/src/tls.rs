//! HTTPS for `payhook serve`: `PAYHOOK_TLS_CERT` / `PAYHOOK_TLS_KEY` (PEM
//! files: the certificate chain, leaf first, and its private key), served
//! with rustls (ring) over HTTP/1.1 and HTTP/2 (ALPN). The certificate is
//! reloaded without a restart on SIGHUP and when either file changes
//! (certbot and other ACME clients replace them in place): a new pair that
//! does not load is logged and the old one kept.

use payhook::ConfigError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub const CERT_SETTING: &str = "PAYHOOK_TLS_CERT";
pub const KEY_SETTING: &str = "PAYHOOK_TLS_KEY";
/// How often the files are checked for a change.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Why a certificate pair did not load.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting}: cannot read {path}: {why}")]
    Read {
        setting: &'static str,
        path: String,
        why: String,
    },
    #[error("{CERT_SETTING} / {KEY_SETTING}: the key does not fit the certificate: {0}")]
    Mismatch(String),
}

impl From<TlsError> for ConfigError {
    fn from(e: TlsError) -> Self {
        let name = match &e {
            TlsError::Read { setting, .. } => setting,
            TlsError::Mismatch(_) => &CERT_SETTING,
        };
        ConfigError::Invalid {
            name,
            why: e.to_string(),
        }
    }
}

/// The two files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both settings or neither; one without the other stops start-up.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        match (get(CERT_SETTING), get(KEY_SETTING)) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: PathBuf::from(cert.trim()),
                key: PathBuf::from(key.trim()),
            })),
            (Some(_), None) => Err(ConfigError::Invalid {
                name: KEY_SETTING,
                why: format!("{CERT_SETTING} is set: the private key file is needed too"),
            }),
            (None, Some(_)) => Err(ConfigError::Invalid {
                name: CERT_SETTING,
                why: format!("{KEY_SETTING} is set: the certificate file is needed too"),
            }),
        }
    }

    fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let read = |setting: &'static str, path: &Path, why: String| TlsError::Read {
            setting,
            path: path.display().to_string(),
            why,
        };
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| read(CERT_SETTING, &self.cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| read(CERT_SETTING, &self.cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(read(
                CERT_SETTING,
                &self.cert,
                "no certificate in it".into(),
            ));
        }
        // The error names the file, never its content.
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| read(KEY_SETTING, &self.key, e.to_string()))?;
        CertifiedKey::from_der(certs, key, provider).map_err(|e| TlsError::Mismatch(e.to_string()))
    }

    /// The files' modification times and sizes (what a replacement changes).
    fn stamp(&self) -> Option<(SystemTime, u64, SystemTime, u64)> {
        let c = std::fs::metadata(&self.cert).ok()?;
        let k = std::fs::metadata(&self.key).ok()?;
        Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
    }
}

/// The certificate served now, swapped in place on reload.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

impl Reloading {
    /// Load the pair again; on failure keep the current one.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = self.files.load(&self.provider)?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(key);
        }
        Ok(())
    }

    fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(reason = why, "TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(reason = why, error = %e, "TLS certificate reload failed; still serving the previous one")
            }
        }
    }
}

/// A TLS acceptor for `files` (loaded now: an error stops start-up, naming
/// the setting), and the task that reloads it on SIGHUP or a file change.
pub fn acceptor(
    files: TlsFiles,
) -> Result<(tokio_rustls::TlsAcceptor, Arc<Reloading>), ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let first = files.load(&provider)?;
    let resolver = Arc::new(Reloading {
        files,
        provider: provider.clone(),
        current: RwLock::new(Arc::new(first)),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid {
            name: CERT_SETTING,
            why: format!("TLS set-up: {e}"),
        })?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), resolver))
}

/// Reload on SIGHUP and when the files change, until the task is aborted.
pub async fn watch(resolver: Arc<Reloading>) {
    let mut last = resolver.files.stamp();
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = hangup => {
                last = resolver.files.stamp();
                resolver.reload_logged("SIGHUP");
            }
            _ = tick.tick() => {
                let now = resolver.files.stamp();
                if now.is_some() && now != last {
                    last = now;
                    resolver.reload_logged("the files changed");
                }
            }
        }
    }
}
