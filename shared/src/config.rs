//! Settings, read once at start-up. Every setting has a name; a missing or
//! malformed one fails start-up with a message naming it.

use crate::secret::{Secret, SecretList};
use std::collections::BTreeMap;
use std::time::Duration;

/// A setting that is missing or cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("setting {name} is required{hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("setting {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// All payhook settings. Secrets are redacted in `Debug`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PAYHOOK_ONEBUY_TOKENS`: URL tokens for both 1buy routes.
    pub onebuy_tokens: Option<SecretList>,
    /// `PAYHOOK_ONEBUY_API_KEYS`: optional; when set, the body's `api_key`
    /// must equal one of these.
    pub onebuy_api_keys: Option<SecretList>,
    /// `PAYHOOK_KOYWE_SECRETS`.
    pub koywe_secrets: Option<SecretList>,
    /// `PAYHOOK_KOYWE_MAX_AGE_SECS` (default 86400).
    pub koywe_max_age: Duration,
    /// `PAYHOOK_THIRDWEB_SECRETS`.
    pub thirdweb_secrets: Option<SecretList>,
    /// `PAYHOOK_THIRDWEB_TOLERANCE_SECS` (default 300).
    pub thirdweb_tolerance: Duration,
    /// `PAYHOOK_EIGHTPAY_API_KEYS`: `chain=key,…`.
    pub eightpay_api_keys: BTreeMap<String, Secret>,
    /// `PAYHOOK_EIGHTPAY_API_BASE` (default `https://api.8pay.network`): the
    /// 8Pay API of every chain not in `eightpay_api_bases`.
    pub eightpay_api_base: String,
    /// `PAYHOOK_EIGHTPAY_API_BASES`: `chain=url,…`, the 8Pay API of single
    /// chains (no trailing slash). `private` is `https://api.8pay.tech`
    /// unless named here or `PAYHOOK_EIGHTPAY_API_BASE` is set.
    pub eightpay_api_bases: BTreeMap<String, String>,
    /// `PAYHOOK_EIGHTPAY_TIMEOUT_MS` (default 3000).
    pub eightpay_timeout: Duration,
    /// `PAYHOOK_MAX_BODY_BYTES` (default 262144).
    pub max_body_bytes: usize,
    /// `PAYHOOK_LEASE_SECS` (default 30): how long a claim is held before
    /// another delivery (or the sweeper) may take the event over.
    pub lease: Duration,
    /// `PAYHOOK_RETENTION_DAYS` (default 30): TTL of event items.
    pub retention_days: u32,
    /// `PAYHOOK_TABLE` (AWS backend).
    pub table: Option<String>,
    /// `PAYHOOK_QUEUE_URL` (AWS backend).
    pub queue_url: Option<String>,
    /// `PAYHOOK_VALIDATION_AUTH`: how Koywe's user-validation calls
    /// authenticate (`bearer:…`, `jwt-hs256:…`, `basic:USER:PASSWORD`,
    /// `header:NAME:VALUE…`). Kept as a secret: it holds credentials.
    pub validation_auth: Option<Secret>,
    /// `PAYHOOK_VALIDATION_JWT_ISS` / `PAYHOOK_VALIDATION_JWT_AUD`: required
    /// issuer / audience of JWTs (unchecked when unset).
    pub validation_jwt_iss: Option<String>,
    pub validation_jwt_aud: Option<String>,
    /// `PAYHOOK_VALIDATION_DEFAULT`: `deny` (default) or `allow` for users
    /// not in the table.
    pub validation_default_allow: bool,
    /// `PAYHOOK_VALIDATION_CACHE_SECS` (default 0 = off): how long a looked-up
    /// decision is reused in process.
    pub validation_cache: Duration,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
pub const DEFAULT_EIGHTPAY_API_BASE: &str = "https://api.8pay.network";
/// 8Pay's API for its `private` chain (8Pay's WooCommerce plugin, v1.1.5).
pub const DEFAULT_EIGHTPAY_PRIVATE_API_BASE: &str = "https://api.8pay.tech";

/// Every `PAYHOOK_*` setting name that may hold a secret or configuration
/// (used to read the Lambda JSON secret with the same keys).
pub const SETTING_NAMES: &[&str] = &[
    "PAYHOOK_ONEBUY_TOKENS",
    "PAYHOOK_ONEBUY_API_KEYS",
    "PAYHOOK_KOYWE_SECRETS",
    "PAYHOOK_KOYWE_MAX_AGE_SECS",
    "PAYHOOK_THIRDWEB_SECRETS",
    "PAYHOOK_THIRDWEB_TOLERANCE_SECS",
    "PAYHOOK_EIGHTPAY_API_KEYS",
    "PAYHOOK_EIGHTPAY_API_BASE",
    "PAYHOOK_EIGHTPAY_API_BASES",
    "PAYHOOK_EIGHTPAY_TIMEOUT_MS",
    "PAYHOOK_MAX_BODY_BYTES",
    "PAYHOOK_LEASE_SECS",
    "PAYHOOK_RETENTION_DAYS",
    "PAYHOOK_TABLE",
    "PAYHOOK_QUEUE_URL",
    "PAYHOOK_VALIDATION_AUTH",
    "PAYHOOK_VALIDATION_JWT_ISS",
    "PAYHOOK_VALIDATION_JWT_AUD",
    "PAYHOOK_VALIDATION_DEFAULT",
    "PAYHOOK_VALIDATION_CACHE_SECS",
];

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `lookup` (environment, a `.env` file, a JSON secret…).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        // A secret list that is set but empty is an error, not "unset": an
        // operator who cleared it by mistake must not get a different
        // configuration silently.
        let secrets = |name: &'static str| -> Result<Option<SecretList>, ConfigError> {
            lookup(name)
                .map(|v| {
                    SecretList::parse(&v).map_err(|e| ConfigError::Invalid {
                        name,
                        why: e.to_string(),
                    })
                })
                .transpose()
        };
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    why: "expected a whole number".into(),
                }),
            }
        };
        let mut eightpay_api_keys = BTreeMap::new();
        if let Some(v) = get("PAYHOOK_EIGHTPAY_API_KEYS") {
            for pair in v.split(',') {
                let (chain, key) = pair.split_once('=').ok_or(ConfigError::Invalid {
                    name: "PAYHOOK_EIGHTPAY_API_KEYS",
                    why: "expected chain=key,chain=key".into(),
                })?;
                let (chain, key) = (chain.trim(), key.trim());
                if chain.is_empty() || key.is_empty() {
                    return Err(ConfigError::Invalid {
                        name: "PAYHOOK_EIGHTPAY_API_KEYS",
                        why: "empty chain or key".into(),
                    });
                }
                eightpay_api_keys.insert(chain.to_ascii_lowercase(), Secret::new(key));
            }
        }
        let max_body = num("PAYHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)?;
        if max_body == 0 {
            return Err(ConfigError::Invalid {
                name: "PAYHOOK_MAX_BODY_BYTES",
                why: "must be positive".into(),
            });
        }
        let base_set = get("PAYHOOK_EIGHTPAY_API_BASE");
        let eightpay_api_base = eightpay_url(
            "PAYHOOK_EIGHTPAY_API_BASE",
            base_set.as_deref().unwrap_or(DEFAULT_EIGHTPAY_API_BASE),
        )?;
        let mut eightpay_api_bases = match get("PAYHOOK_EIGHTPAY_API_BASES") {
            Some(v) => eightpay_api_bases(&v)?,
            None => BTreeMap::new(),
        };
        // The single base, when set, serves every chain (tests point it at a
        // stand-in); else `private` has its own API, as in 8Pay's plugin.
        if base_set.is_none() {
            eightpay_api_bases
                .entry("private".to_owned())
                .or_insert_with(|| DEFAULT_EIGHTPAY_PRIVATE_API_BASE.to_owned());
        }
        Ok(Config {
            onebuy_tokens: secrets("PAYHOOK_ONEBUY_TOKENS")?,
            onebuy_api_keys: secrets("PAYHOOK_ONEBUY_API_KEYS")?,
            koywe_secrets: secrets("PAYHOOK_KOYWE_SECRETS")?,
            koywe_max_age: Duration::from_secs(num("PAYHOOK_KOYWE_MAX_AGE_SECS", 86_400)?),
            thirdweb_secrets: secrets("PAYHOOK_THIRDWEB_SECRETS")?,
            thirdweb_tolerance: Duration::from_secs(num("PAYHOOK_THIRDWEB_TOLERANCE_SECS", 300)?),
            eightpay_api_keys,
            eightpay_api_base,
            eightpay_api_bases,
            eightpay_timeout: Duration::from_millis(num("PAYHOOK_EIGHTPAY_TIMEOUT_MS", 3000)?),
            max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
            lease: Duration::from_secs(num("PAYHOOK_LEASE_SECS", 30)?.max(1)),
            retention_days: u32::try_from(num("PAYHOOK_RETENTION_DAYS", 30)?).unwrap_or(u32::MAX),
            table: get("PAYHOOK_TABLE"),
            queue_url: get("PAYHOOK_QUEUE_URL"),
            validation_auth: get("PAYHOOK_VALIDATION_AUTH").map(Secret::new),
            validation_jwt_iss: get("PAYHOOK_VALIDATION_JWT_ISS"),
            validation_jwt_aud: get("PAYHOOK_VALIDATION_JWT_AUD"),
            validation_default_allow: match get("PAYHOOK_VALIDATION_DEFAULT")
                .as_deref()
                .map(str::trim)
            {
                None | Some("deny") => false,
                Some("allow") => true,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "PAYHOOK_VALIDATION_DEFAULT",
                        why: "expected `deny` or `allow`".into(),
                    });
                }
            },
            validation_cache: Duration::from_secs(num("PAYHOOK_VALIDATION_CACHE_SECS", 0)?),
        })
    }

    /// A secret list that a provider needs, or an error naming the setting.
    pub fn require<'a>(
        field: &'a Option<SecretList>,
        name: &'static str,
    ) -> Result<&'a SecretList, ConfigError> {
        field.as_ref().ok_or(ConfigError::Missing {
            name,
            hint: " (comma-separated, newest first)",
        })
    }
}

/// An 8Pay API base from setting `name`: an http(s) URL, no trailing slash.
fn eightpay_url(name: &'static str, url: &str) -> Result<String, ConfigError> {
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
fn eightpay_api_bases(v: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    const NAME: &str = "PAYHOOK_EIGHTPAY_API_BASES";
    let invalid = |why: String| ConfigError::Invalid { name: NAME, why };
    let mut bases = BTreeMap::new();
    for pair in v.split(',').filter(|p| !p.trim().is_empty()) {
        let (chain, url) = pair
            .split_once('=')
            .ok_or_else(|| invalid("expected chain=url,chain=url".into()))?;
        let chain = chain.trim().to_ascii_lowercase();
        if chain.is_empty() {
            return Err(invalid("empty chain".into()));
        }
        let url = eightpay_url(NAME, url)
            .map_err(|_| invalid(format!("the base of chain {chain} is not an http(s) URL")))?;
        if bases.insert(chain.clone(), url).is_some() {
            return Err(invalid(format!("chain {chain} is named twice")));
        }
    }
    Ok(bases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.koywe_max_age, Duration::from_secs(86_400));
        assert_eq!(c.thirdweb_tolerance, Duration::from_secs(300));
        assert_eq!(c.eightpay_api_base, "https://api.8pay.network");
        assert_eq!(
            c.eightpay_api_bases,
            BTreeMap::from([("private".to_owned(), "https://api.8pay.tech".to_owned())])
        );
        assert!(c.koywe_secrets.is_none());
    }

    #[test]
    fn errors_name_the_setting() {
        let e = cfg(&[("PAYHOOK_MAX_BODY_BYTES", "lots")]).err();
        assert!(
            format!("{}", e.unwrap_or_else(|| unreachable!())).contains("PAYHOOK_MAX_BODY_BYTES")
        );
        let e = cfg(&[("PAYHOOK_KOYWE_SECRETS", "a,,b")]).err();
        assert!(
            format!("{}", e.unwrap_or_else(|| unreachable!())).contains("PAYHOOK_KOYWE_SECRETS")
        );
        let e = cfg(&[("PAYHOOK_EIGHTPAY_API_KEYS", "bsc")]).err();
        assert!(
            format!("{}", e.unwrap_or_else(|| unreachable!()))
                .contains("PAYHOOK_EIGHTPAY_API_KEYS")
        );
    }

    #[test]
    fn eightpay_api_bases_per_chain() {
        let c = cfg(&[(
            "PAYHOOK_EIGHTPAY_API_BASES",
            " BSC=https://bsc.example/ , sandbox=http://127.0.0.1:9",
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.eightpay_api_bases,
            BTreeMap::from([
                ("bsc".to_owned(), "https://bsc.example".to_owned()),
                ("private".to_owned(), "https://api.8pay.tech".to_owned()),
                ("sandbox".to_owned(), "http://127.0.0.1:9".to_owned()),
            ])
        );
        // The single base, when set, is every chain's default, `private`'s too.
        let c = cfg(&[("PAYHOOK_EIGHTPAY_API_BASE", "http://127.0.0.1:1/")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.eightpay_api_base, "http://127.0.0.1:1");
        assert!(c.eightpay_api_bases.is_empty());
        let c = cfg(&[
            ("PAYHOOK_EIGHTPAY_API_BASE", "http://127.0.0.1:1"),
            ("PAYHOOK_EIGHTPAY_API_BASES", "private=https://p.example"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.eightpay_api_bases["private"], "https://p.example");
        for bad in [
            "bsc",
            "=https://x.example",
            "bsc=ftp://x.example",
            "bsc=https://",
            "bsc=https://a.example,BSC=https://b.example",
        ] {
            let e = cfg(&[("PAYHOOK_EIGHTPAY_API_BASES", bad)]).err();
            assert!(
                matches!(
                    e,
                    Some(ConfigError::Invalid {
                        name: "PAYHOOK_EIGHTPAY_API_BASES",
                        ..
                    })
                ),
                "{bad}: {e:?}"
            );
        }
        let e = cfg(&[("PAYHOOK_EIGHTPAY_API_BASE", "api.8pay.network")]).err();
        assert!(
            matches!(
                e,
                Some(ConfigError::Invalid {
                    name: "PAYHOOK_EIGHTPAY_API_BASE",
                    ..
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = cfg(&[
            ("PAYHOOK_KOYWE_SECRETS", "koywe-secret-1"),
            ("PAYHOOK_EIGHTPAY_API_KEYS", "bsc=bsc-key-1"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let d = format!("{c:?}");
        assert!(
            !d.contains("koywe-secret-1") && !d.contains("bsc-key-1"),
            "{d}"
        );
    }
}
