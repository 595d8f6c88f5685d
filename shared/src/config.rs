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

/// payhook's settings. The shared ones are fields; each provider's own
/// settings (named in its [`Descriptor`](crate::providers::Descriptor)) are
/// kept as read and parsed by the provider when it is built
/// ([`Config::secrets`], [`Config::number`], [`Config::value`]). Secrets are
/// redacted in `Debug`: provider values are never printed, only their names.
#[derive(Clone)]
pub struct Config {
    /// Every provider's own settings, as read (empty values included: a
    /// secret list set to "" is an error, not "unset").
    provider_values: BTreeMap<&'static str, String>,
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
/// The settings every deployment reads (besides each provider's own, listed
/// in its descriptor).
pub const SHARED_SETTING_NAMES: &[&str] = &[
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

/// Every `PAYHOOK_*` setting name that may hold a secret or configuration:
/// the shared ones, then each registered provider's (used to read the
/// Lambda JSON secret with the same keys, and by tests to clear them).
pub fn setting_names() -> Vec<&'static str> {
    let mut names = SHARED_SETTING_NAMES.to_vec();
    for settings in crate::providers::SETTINGS {
        for n in *settings {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    names
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("provider_settings_set", &self.provider_values.keys())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("lease", &self.lease)
            .field("retention_days", &self.retention_days)
            .field("table", &self.table)
            .field("queue_url", &self.queue_url)
            .field("validation_auth", &self.validation_auth)
            .field("validation_jwt_iss", &self.validation_jwt_iss)
            .field("validation_jwt_aud", &self.validation_jwt_aud)
            .field("validation_default_allow", &self.validation_default_allow)
            .field("validation_cache", &self.validation_cache)
            .finish()
    }
}

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `lookup` (environment, a `.env` file, a JSON secret…).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            parse_number(name, get(name).as_deref(), default)
        };
        let max_body = num("PAYHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)?;
        if max_body == 0 {
            return Err(ConfigError::Invalid {
                name: "PAYHOOK_MAX_BODY_BYTES",
                why: "must be positive".into(),
            });
        }
        let mut provider_values = BTreeMap::new();
        for settings in crate::providers::SETTINGS {
            for &name in *settings {
                if let Some(v) = lookup(name) {
                    provider_values.insert(name, v);
                }
            }
        }
        Ok(Config {
            provider_values,
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

    /// A provider's setting `name`, trimmed; `None` when unset or empty.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.provider_values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A provider's secret list (comma-separated, newest first). Set but
    /// empty, or with an empty entry, is an error naming it: an operator
    /// who cleared it by mistake must not get another configuration
    /// silently.
    pub fn secrets(&self, name: &'static str) -> Result<Option<SecretList>, ConfigError> {
        self.provider_values
            .get(name)
            .map(|v| {
                SecretList::parse(v).map_err(|e| ConfigError::Invalid {
                    name,
                    why: e.to_string(),
                })
            })
            .transpose()
    }

    /// [`Config::secrets`] that the provider cannot run without.
    pub fn require_secrets(&self, name: &'static str) -> Result<SecretList, ConfigError> {
        self.secrets(name)?.ok_or(ConfigError::Missing {
            name,
            hint: " (comma-separated, newest first)",
        })
    }

    /// A provider's whole-number setting, `default` when unset.
    pub fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        parse_number(name, self.value(name), default)
    }
}

fn parse_number(name: &'static str, v: Option<&str>, default: u64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
            name,
            why: "expected a whole number".into(),
        }),
    }
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
        assert_eq!(c.lease, Duration::from_secs(30));
        assert_eq!(c.value("PAYHOOK_KOYWE_SECRETS"), None);
        assert_eq!(c.secrets("PAYHOOK_KOYWE_SECRETS"), Ok(None));
    }

    #[test]
    fn errors_name_the_setting() {
        let e = cfg(&[("PAYHOOK_MAX_BODY_BYTES", "lots")]).err();
        assert!(
            format!("{}", e.unwrap_or_else(|| unreachable!())).contains("PAYHOOK_MAX_BODY_BYTES")
        );
        let c = cfg(&[
            ("PAYHOOK_KOYWE_SECRETS", "a,,b"),
            ("PAYHOOK_KOYWE_MAX_AGE_SECS", "soon"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let e = c.secrets("PAYHOOK_KOYWE_SECRETS").err();
        assert!(matches!(
            e,
            Some(ConfigError::Invalid {
                name: "PAYHOOK_KOYWE_SECRETS",
                ..
            })
        ));
        let e = c.number("PAYHOOK_KOYWE_MAX_AGE_SECS", 1).err();
        assert!(matches!(
            e,
            Some(ConfigError::Invalid {
                name: "PAYHOOK_KOYWE_MAX_AGE_SECS",
                ..
            })
        ));
        let e = c.require_secrets("PAYHOOK_THIRDWEB_SECRETS").err();
        assert!(matches!(
            e,
            Some(ConfigError::Missing {
                name: "PAYHOOK_THIRDWEB_SECRETS",
                ..
            })
        ));
    }

    #[test]
    fn every_provider_setting_is_known() {
        let names = setting_names();
        for d in crate::providers::ALL {
            for n in d.settings {
                assert!(names.contains(n), "{n}");
            }
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a setting is listed twice");
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = cfg(&[
            ("PAYHOOK_KOYWE_SECRETS", "koywe-secret-1"),
            ("PAYHOOK_EIGHTPAY_API_KEYS", "bsc=bsc-key-1"),
            ("PAYHOOK_VALIDATION_AUTH", "bearer:validation-token-1"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let d = format!("{c:?}");
        assert!(
            !d.contains("koywe-secret-1")
                && !d.contains("bsc-key-1")
                && !d.contains("validation-token-1"),
            "{d}"
        );
        assert!(d.contains("PAYHOOK_KOYWE_SECRETS"), "{d}");
    }
}
