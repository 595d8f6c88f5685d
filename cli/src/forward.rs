//! Forwarding: `payhook serve` POSTs every published event to the
//! merchant's endpoint (`PAYHOOK_FORWARD_URL`), signed the Standard Webhooks
//! way, retried on a schedule kept in the embedded store
//! ([`payhook_embedded::Deliveries`]), so a restart loses no pending
//! delivery. At-least-once: an attempt cut short by a crash is made again
//! with the same `webhook-id` (the event id), which a Standard Webhooks
//! consumer dedupes on.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use payhook::ConfigError;
use payhook::secret::Secret;
use payhook_embedded::{AttemptResult, Deliveries, Due};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub const URL_SETTING: &str = "PAYHOOK_FORWARD_URL";
pub const SECRETS_SETTING: &str = "PAYHOOK_FORWARD_SECRETS";
pub const TIMEOUT_SETTING: &str = "PAYHOOK_FORWARD_TIMEOUT_MS";
pub const SCHEDULE_SETTING: &str = "PAYHOOK_FORWARD_SCHEDULE";
pub const CONCURRENCY_SETTING: &str = "PAYHOOK_FORWARD_CONCURRENCY";

/// Every forwarding setting (documented in the README).
pub const SETTINGS: &[&str] = &[
    URL_SETTING,
    SECRETS_SETTING,
    TIMEOUT_SETTING,
    SCHEDULE_SETTING,
    CONCURRENCY_SETTING,
];

/// The waits between attempts: after the first failure 5 s, then 5 min, …;
/// one attempt more than waits (8 in all), then the delivery is `failed`.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_CONCURRENCY: u64 = 8;
/// How often new outbox messages are picked up when nothing wakes the
/// forwarder sooner.
const POLL: Duration = Duration::from_millis(200);

/// A Standard Webhooks signing key: `whsec_` + base64 of 24 to 64 bytes.
/// The bytes are never printed.
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Parse `whsec_<base64>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s
            .trim()
            .strip_prefix("whsec_")
            .ok_or("each secret must start with whsec_")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a secret is not base64 after whsec_".to_owned())?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(format!(
                "a secret decodes to {} bytes; Standard Webhooks keys are 24 to 64",
                bytes.len()
            ));
        }
        Ok(SigningKey(bytes))
    }

    /// A new random key, as its `whsec_` text (development secrets).
    pub fn generate() -> Secret {
        let mut b = [0u8; 32];
        payhook::secret::fill_random(&mut b);
        Secret::new(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`.
    pub fn sign(&self, id: &str, ts: i64, body: &[u8]) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// Forwarding's settings.
#[derive(Debug)]
pub struct ForwardConfig {
    pub url: reqwest::Url,
    /// Newest first; every delivery carries one signature per key, so a
    /// consumer holding any of them verifies it (rotation).
    pub keys: Vec<SigningKey>,
    pub timeout: Duration,
    /// Waits between attempts (attempts = waits + 1).
    pub schedule: Vec<Duration>,
    pub concurrency: usize,
}

impl ForwardConfig {
    /// Read forwarding's settings through `get`; `Ok(None)` when no URL is
    /// set. A URL without secrets is [`ConfigError::Missing`] (the caller
    /// generates a development secret when that is allowed).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let Some(url) = get(URL_SETTING) else {
            for name in [
                SECRETS_SETTING,
                TIMEOUT_SETTING,
                SCHEDULE_SETTING,
                CONCURRENCY_SETTING,
            ] {
                if get(name).is_some() {
                    return Err(ConfigError::Invalid {
                        name: URL_SETTING,
                        why: format!("{name} is set but no forwarding URL"),
                    });
                }
            }
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ConfigError::Invalid {
                name: URL_SETTING,
                why: "expected an http:// or https:// URL".into(),
            })?;
        let secrets = get(SECRETS_SETTING).ok_or(ConfigError::Missing {
            name: SECRETS_SETTING,
            hint: " (whsec_… secrets, comma-separated, newest first)",
        })?;
        let keys = secrets
            .split(',')
            .map(|s| {
                SigningKey::parse(s).map_err(|why| ConfigError::Invalid {
                    name: SECRETS_SETTING,
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        why: "expected a whole number above 0".into(),
                    }),
            }
        };
        let timeout = Duration::from_millis(number(TIMEOUT_SETTING, DEFAULT_TIMEOUT_MS)?);
        let concurrency = usize::try_from(number(CONCURRENCY_SETTING, DEFAULT_CONCURRENCY)?)
            .unwrap_or(usize::MAX);
        let schedule = parse_schedule(get(SCHEDULE_SETTING).as_deref().unwrap_or(DEFAULT_SCHEDULE))
            .map_err(|why| ConfigError::Invalid {
                name: SCHEDULE_SETTING,
                why,
            })?;
        Ok(Some(ForwardConfig {
            url,
            keys,
            timeout,
            schedule,
            concurrency,
        }))
    }

    /// Attempts a delivery gets before it is `failed`.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule.len() + 1).unwrap_or(u32::MAX)
    }
}

/// `5s,5m,30m` → waits. Empty entries or unparseable ones are errors; an
/// empty schedule (`none`) means one attempt only.
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    if s.trim() == "none" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|part| {
            humantime::parse_duration(part.trim())
                .map_err(|e| format!("{:?}: {e} (e.g. 5s,5m,30m,2h)", part.trim()))
        })
        .collect()
}

/// The wait before attempt `n + 1` after `n` failed attempts, with ±20 %
/// jitter so that many deliveries failing together do not come back
/// together.
fn backoff(schedule: &[Duration], failed: u32) -> Option<Duration> {
    let i = usize::try_from(failed.checked_sub(1)?).ok()?;
    let base = *schedule.get(i)?;
    let mut b = [0u8; 2];
    payhook::secret::fill_random(&mut b);
    // 0.8 ..= 1.2 in 1/65535 steps.
    let factor = 0.8 + 0.4 * f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    Some(base.mul_f64(factor))
}

/// The forwarder: runs until `stop` fires, then lets the attempts in flight
/// finish (each bounded by the timeout) and returns.
pub struct Forwarder {
    pub deliveries: Deliveries,
    pub config: Arc<ForwardConfig>,
    pub client: reqwest::Client,
}

impl Forwarder {
    pub fn new(deliveries: Deliveries, config: ForwardConfig) -> Result<Self, ConfigError> {
        payhook::tls::ensure_crypto_provider();
        let client = crate::outbound::with_builtin_roots(reqwest::Client::builder())
            .and_then(|b| {
                b.timeout(config.timeout)
                    .connect_timeout(config.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
            })
            .map_err(|e| ConfigError::Invalid {
                name: URL_SETTING,
                why: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Forwarder {
            deliveries,
            config: Arc::new(config),
            client,
        })
    }

    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut in_flight = tokio::task::JoinSet::new();
        let mut busy: HashSet<(String, String)> = HashSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let now = OffsetDateTime::now_utc();
            if let Err(e) = self.deliveries.enqueue_new(now).await {
                tracing::warn!(error = %e, "forwarding: cannot read the outbox; retrying");
            }
            let room = self.config.concurrency.saturating_sub(in_flight.len());
            match self
                .deliveries
                .due(now, room, busy.iter().cloned().collect())
                .await
            {
                Ok(due) => {
                    for d in due {
                        busy.insert(d.order_key());
                        let (deliveries, config, client) = (
                            self.deliveries.clone(),
                            self.config.clone(),
                            self.client.clone(),
                        );
                        in_flight.spawn(async move {
                            let key = d.order_key();
                            attempt(&deliveries, &config, &client, d).await;
                            key
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "forwarding: cannot read the schedule; retrying")
                }
            }
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(key) = done {
                        busy.remove(&key);
                    }
                }
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            // Collect whatever else finished meanwhile.
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(key) = done {
                    busy.remove(&key);
                }
            }
        }
        // Shutdown: no new attempt; those in flight finish and are recorded.
        while let Some(done) = in_flight.join_next().await {
            let _ = done;
        }
    }
}

/// One attempt of `d`, recorded in the schedule and counted (metrics
/// `forwarded`, `forward_retries`, `forward_failures`, per provider).
async fn attempt(
    deliveries: &Deliveries,
    config: &ForwardConfig,
    client: &reqwest::Client,
    d: Due,
) {
    use payhook::metrics::{Count, record as count};
    let n = d.attempts.saturating_add(1);
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let signature = config
        .keys
        .iter()
        .map(|k| k.sign(&d.event_id, ts, d.body.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    let sent = client
        .post(config.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await;
    let (status, error) = match sent {
        Ok(resp) if resp.status().is_success() => {
            let status = resp.status().as_u16();
            count(&d.provider, Count::Forwarded, 1, None, None);
            tracing::info!(event_id = %d.event_id, attempt = n, status, "forwarded");
            record(deliveries, &d, n, AttemptResult::Delivered { status }).await;
            return;
        }
        Ok(resp) => (
            Some(resp.status().as_u16()),
            format!("answered {}", resp.status()),
        ),
        Err(e) if e.is_timeout() => (None, format!("no answer within {:?}", config.timeout)),
        Err(e) => (None, crate::outbound::transport_reason(e)),
    };
    let now = OffsetDateTime::now_utc();
    let result = match backoff(&config.schedule, n) {
        Some(wait) if n < config.max_attempts() => {
            count(&d.provider, Count::ForwardRetried, 1, None, None);
            tracing::warn!(event_id = %d.event_id, attempt = n, error = %error, retry_in = ?wait, "forwarding failed; will retry");
            AttemptResult::Retry {
                status,
                error,
                next_at: now + wait,
            }
        }
        _ => {
            count(&d.provider, Count::ForwardFailed, 1, None, None);
            tracing::error!(event_id = %d.event_id, attempts = n, error = %error, "forwarding gave up: the delivery is failed (payhook deliveries --failed; payhook replay --failed)");
            AttemptResult::GaveUp { status, error }
        }
    };
    record(deliveries, &d, n, result).await;
}

async fn record(deliveries: &Deliveries, d: &Due, n: u32, result: AttemptResult) {
    // The store is local; when even it fails, the delivery stays pending
    // and is attempted again (at-least-once).
    if let Err(e) = deliveries
        .record(d.seq, n, result, OffsetDateTime::now_utc())
        .await
    {
        tracing::error!(event_id = %d.event_id, error = %e, "forwarding: cannot record an attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks spec's known answer
    /// (`libraries/javascript/src/webhook.test.ts`).
    #[test]
    fn signs_the_spec_known_answer() {
        let k = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            k.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_and_schedules_are_checked() {
        assert!(SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningKey::parse("whsec_!!").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(SigningKey::parse(SigningKey::generate().expose()).is_ok());
        assert_eq!(
            parse_schedule("5s, 5m,2h").ok(),
            Some(vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ])
        );
        assert!(parse_schedule("5s,,5m").is_err());
        assert!(parse_schedule("soon").is_err());
        assert_eq!(parse_schedule("none").ok(), Some(Vec::new()));
        assert_eq!(
            parse_schedule(DEFAULT_SCHEDULE).map(|s| s.len()).ok(),
            Some(7)
        );
    }

    #[test]
    fn settings_are_strict() {
        let cfg = |pairs: &'static [(&'static str, &'static str)]| {
            ForwardConfig::from_lookup(|k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        assert!(matches!(cfg(&[]), Ok(None)));
        assert!(matches!(
            cfg(&[(URL_SETTING, "http://127.0.0.1:9/hook")]),
            Err(ConfigError::Missing { name, .. }) if name == SECRETS_SETTING
        ));
        assert!(matches!(
            cfg(&[(URL_SETTING, "ftp://x"), (SECRETS_SETTING, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]),
            Err(ConfigError::Invalid { name, .. }) if name == URL_SETTING
        ));
        assert!(matches!(
            cfg(&[(SECRETS_SETTING, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]),
            Err(ConfigError::Invalid { name, .. }) if name == URL_SETTING
        ));
        assert!(matches!(
            cfg(&[
                (URL_SETTING, "http://127.0.0.1:9/hook"),
                (SECRETS_SETTING, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                (SCHEDULE_SETTING, "5 parsecs"),
            ]),
            Err(ConfigError::Invalid { name, .. }) if name == SCHEDULE_SETTING
        ));
        let ok = cfg(&[
            (URL_SETTING, "https://shop.example/hooks"),
            (
                SECRETS_SETTING,
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx",
            ),
        ]);
        let ok = ok
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("valid settings refused"));
        assert_eq!(ok.keys.len(), 2);
        assert_eq!(ok.max_attempts(), 8);
        assert!(!format!("{ok:?}").contains("MfKQ9r8"), "secrets in Debug");
    }

    #[test]
    fn backoff_follows_the_schedule_with_jitter() {
        let s = [Duration::from_secs(10), Duration::from_secs(100)];
        for _ in 0..100 {
            let w = backoff(&s, 1).unwrap_or_default();
            assert!(
                w >= Duration::from_secs(8) && w <= Duration::from_secs(12),
                "{w:?}"
            );
            let w = backoff(&s, 2).unwrap_or_default();
            assert!(
                w >= Duration::from_secs(80) && w <= Duration::from_secs(120),
                "{w:?}"
            );
        }
        assert_eq!(backoff(&s, 3), None);
        assert_eq!(backoff(&s, 0), None);
    }
}
