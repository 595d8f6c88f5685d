//! Koywe's user-validation callback: before a user buys, sells or reads
//! private data, Koywe POSTs `{"email": …}` and waits for a boolean. payhook
//! authenticates the caller (one method, chosen by configuration), looks the
//! user up (one `GetItem`), and answers `true` or `false`.
//!
//! | outcome | status | body |
//! |---|---|---|
//! | allowed / blocked / unknown user | 200 | `true` / `false` / the configured default |
//! | caller authentication fails | 401 | nothing looked up |
//! | not POST | 405 | `Allow: POST` |
//! | malformed body, missing or invalid email | 400 | |
//! | body over 16 KiB | 413 | |
//! | store unavailable | 503 | never a guess |

use crate::config::{Config, ConfigError};
use crate::metrics::Count;
use crate::pipeline::{Clock, Reply, SystemClock};
use crate::secret::{Secret, SecretList, ct_eq};
use crate::users::{Decision, UserRecord, UserStore, email_hash, normalize_email};
use base64::Engine as _;
use http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Largest accepted validation body: Koywe sends an email and maybe a few
/// more fields.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Accepted clock difference for JWT `exp`/`nbf`.
pub const JWT_LEEWAY_SECS: u64 = 5;

/// How callers authenticate. `Debug` never shows credentials.
pub enum CallerAuth {
    Bearer(SecretList),
    JwtHs256 {
        secrets: SecretList,
        issuer: Option<String>,
        audience: Option<String>,
    },
    Basic {
        user: Secret,
        password: Secret,
    },
    Header {
        name: http::HeaderName,
        values: SecretList,
    },
}

impl std::fmt::Debug for CallerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallerAuth::Bearer(_) => "CallerAuth::Bearer(<redacted>)",
            CallerAuth::JwtHs256 { .. } => "CallerAuth::JwtHs256(<redacted>)",
            CallerAuth::Basic { .. } => "CallerAuth::Basic(<redacted>)",
            CallerAuth::Header { .. } => "CallerAuth::Header(<redacted>)",
        })
    }
}

const SETTING: &str = "PAYHOOK_VALIDATION_AUTH";

fn invalid(why: &str) -> ConfigError {
    ConfigError::Invalid {
        name: SETTING,
        why: why.to_owned(),
    }
}

fn list(s: &str) -> Result<SecretList, ConfigError> {
    SecretList::parse(s).map_err(|e| invalid(&format!("credential list {e}")))
}

impl CallerAuth {
    /// Parse `bearer:TOKEN[,TOKEN…]`, `jwt-hs256:SECRET[,SECRET…]`,
    /// `basic:USER:PASSWORD` or `header:NAME:VALUE[,VALUE…]`.
    pub fn parse(
        setting: &Secret,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, ConfigError> {
        let s = setting.expose().trim();
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected METHOD:…, e.g. bearer:TOKEN"))?;
        match kind {
            "bearer" => Ok(CallerAuth::Bearer(list(rest)?)),
            "jwt-hs256" => {
                let secrets = list(rest)?;
                if secrets.iter().any(|s| s.expose().len() < 32) {
                    return Err(invalid("HS256 secrets must be at least 32 bytes"));
                }
                Ok(CallerAuth::JwtHs256 {
                    secrets,
                    issuer,
                    audience,
                })
            }
            "basic" => {
                let (user, password) = rest
                    .split_once(':')
                    .ok_or_else(|| invalid("expected basic:USER:PASSWORD"))?;
                if user.is_empty() || password.is_empty() {
                    return Err(invalid("empty basic user or password"));
                }
                Ok(CallerAuth::Basic {
                    user: Secret::new(user),
                    password: Secret::new(password),
                })
            }
            "header" => {
                let (name, values) = rest
                    .split_once(':')
                    .ok_or_else(|| invalid("expected header:NAME:VALUE"))?;
                let name = http::HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| invalid("bad header name"))?;
                Ok(CallerAuth::Header {
                    name,
                    values: list(values)?,
                })
            }
            _ => Err(invalid(
                "unknown method (expected bearer, jwt-hs256, basic or header)",
            )),
        }
    }

    /// The method's label for logs.
    pub fn method(&self) -> &'static str {
        match self {
            CallerAuth::Bearer(_) => "bearer",
            CallerAuth::JwtHs256 { .. } => "jwt-hs256",
            CallerAuth::Basic { .. } => "basic",
            CallerAuth::Header { .. } => "header",
        }
    }

    /// Check the request's credentials. `Err` carries a log label.
    pub fn check(
        &self,
        headers: &http::HeaderMap,
        now: OffsetDateTime,
    ) -> Result<(), &'static str> {
        match self {
            CallerAuth::Header { name, values } => {
                let v = single(headers, name.as_str()).ok_or("missing_credentials")?;
                values
                    .contains_ct(v.as_bytes())
                    .then_some(())
                    .ok_or("bad_credentials")
            }
            CallerAuth::Bearer(tokens) => {
                let t = scheme(headers, "bearer").ok_or("missing_credentials")?;
                tokens
                    .contains_ct(t.as_bytes())
                    .then_some(())
                    .ok_or("bad_credentials")
            }
            CallerAuth::Basic { user, password } => {
                let b = scheme(headers, "basic").ok_or("missing_credentials")?;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| "bad_credentials")?;
                let (u, p) = decoded
                    .iter()
                    .position(|&c| c == b':')
                    .map(|i| (&decoded[..i], &decoded[i + 1..]))
                    .ok_or("bad_credentials")?;
                let ok =
                    ct_eq(user.expose().as_bytes(), u) & ct_eq(password.expose().as_bytes(), p);
                bool::from(ok).then_some(()).ok_or("bad_credentials")
            }
            CallerAuth::JwtHs256 {
                secrets,
                issuer,
                audience,
            } => {
                let t = scheme(headers, "bearer").ok_or("missing_credentials")?;
                check_jwt(t, secrets, issuer.as_deref(), audience.as_deref(), now)
            }
        }
    }
}

/// A header that appears exactly once, as a string.
fn single<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    let mut it = headers.get_all(name).iter();
    let v = it.next()?;
    if it.next().is_some() {
        return None;
    }
    v.to_str().ok().map(str::trim)
}

/// The credentials of `Authorization: <scheme> <credentials>`.
fn scheme<'h>(headers: &'h http::HeaderMap, want: &str) -> Option<&'h str> {
    let v = single(headers, "authorization")?;
    let (s, cred) = v.split_once(' ')?;
    let cred = cred.trim();
    (s.eq_ignore_ascii_case(want) && !cred.is_empty()).then_some(cred)
}

#[derive(serde::Deserialize)]
struct Claims {
    #[allow(dead_code)]
    exp: u64,
}

fn check_jwt(
    token: &str,
    secrets: &SecretList,
    issuer: Option<&str>,
    audience: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), &'static str> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let mut v = Validation::new(Algorithm::HS256);
    // `exp` is checked below against the injected clock, with the leeway.
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp"]);
    v.leeway = JWT_LEEWAY_SECS;
    match issuer {
        Some(i) => v.set_issuer(&[i]),
        None => v.iss = None,
    }
    match audience {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    let mut last = "bad_credentials";
    for s in secrets.iter() {
        match jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(s.expose().as_bytes()),
            &v,
        ) {
            Ok(data) => {
                let now_s = u64::try_from(now.unix_timestamp()).unwrap_or(0);
                if data.claims.exp.saturating_add(JWT_LEEWAY_SECS) < now_s {
                    return Err("expired_token");
                }
                return Ok(());
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                last = match e.kind() {
                    ErrorKind::InvalidSignature => "bad_credentials",
                    ErrorKind::InvalidAlgorithm => return Err("wrong_algorithm"),
                    ErrorKind::MissingRequiredClaim(_) => return Err("missing_exp"),
                    ErrorKind::InvalidIssuer => return Err("wrong_issuer"),
                    ErrorKind::InvalidAudience => return Err("wrong_audience"),
                    _ => return Err("malformed_token"),
                };
            }
        }
    }
    Err(last)
}

/// A short in-process cache of looked-up decisions (off unless configured).
struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Option<Decision>, Instant)>>,
}

/// Upper bound on cached entries; the cache is cleared when it is reached.
const CACHE_MAX: usize = 100_000;

impl Cache {
    fn get(&self, email: &str) -> Option<Option<Decision>> {
        let g = self.entries.lock().ok()?;
        let (d, at) = g.get(email)?;
        (at.elapsed() < self.ttl).then_some(*d)
    }
    fn put(&self, email: &str, d: Option<Decision>) {
        if let Ok(mut g) = self.entries.lock() {
            if g.len() >= CACHE_MAX {
                g.clear();
            }
            g.insert(email.to_owned(), (d, Instant::now()));
        }
    }
}

/// The user-validation endpoint.
pub struct Validator {
    pub auth: CallerAuth,
    pub users: Arc<dyn UserStore>,
    pub default_allow: bool,
    pub clock: Arc<dyn Clock>,
    cache: Option<Cache>,
    counters: crate::metrics::Counters,
}

/// The route of the callback.
pub const ROUTE: &str = "/callbacks/koywe/validate-user";

impl Validator {
    pub fn from_config(cfg: &Config, users: Arc<dyn UserStore>) -> Result<Self, ConfigError> {
        let setting = cfg.validation_auth.as_ref().ok_or(ConfigError::Missing {
            name: SETTING,
            hint: " (bearer:TOKEN, jwt-hs256:SECRET, basic:USER:PASSWORD or header:NAME:VALUE)",
        })?;
        let auth = CallerAuth::parse(
            setting,
            cfg.validation_jwt_iss.clone(),
            cfg.validation_jwt_aud.clone(),
        )?;
        Ok(Self::new(
            auth,
            users,
            cfg.validation_default_allow,
            cfg.validation_cache,
        ))
    }

    pub fn new(
        auth: CallerAuth,
        users: Arc<dyn UserStore>,
        default_allow: bool,
        cache: Duration,
    ) -> Self {
        Validator {
            auth,
            users,
            default_allow,
            clock: Arc::new(SystemClock),
            cache: (!cache.is_zero()).then(|| Cache {
                ttl: cache,
                entries: Mutex::new(HashMap::new()),
            }),
            counters: crate::metrics::Counters::default(),
        }
    }

    /// What this validator counted (each also in the process-wide
    /// [`crate::metrics::total`]).
    pub fn counts(&self) -> &crate::metrics::Counters {
        &self.counters
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Answer one call. Never panics on input.
    pub async fn process(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let started = Instant::now();
        let mut hash = String::new();
        let mut decision_reason = "";
        let outcome = 'done: {
            if method != http::Method::POST {
                break 'done Outcome::MethodNotAllowed;
            }
            if body.len() > MAX_BODY_BYTES {
                break 'done Outcome::TooLarge;
            }
            if let Err(why) = self.auth.check(headers, self.clock.now()) {
                break 'done Outcome::Unauthenticated(why);
            }
            let email = match crate::canonical::parse_strict(body) {
                Ok(v) => match v
                    .get("email")
                    .and_then(serde_json::Value::as_str)
                    .and_then(normalize_email)
                {
                    Some(e) => e,
                    None => break 'done Outcome::BadEmail,
                },
                Err(_) => break 'done Outcome::MalformedJson,
            };
            hash = email_hash(&email);
            let found = match self.cache.as_ref().and_then(|c| c.get(&email)) {
                Some(d) => d,
                None => match self.users.get_user(&email).await {
                    Ok(rec) => {
                        let d = rec.map(|r| r.decision);
                        if let Some(c) = &self.cache {
                            c.put(&email, d);
                        }
                        d
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "user lookup failed");
                        break 'done Outcome::StoreUnavailable;
                    }
                },
            };
            let allow = match found {
                Some(Decision::Allow) => {
                    decision_reason = "listed_allow";
                    true
                }
                Some(Decision::Block) => {
                    decision_reason = "listed_block";
                    false
                }
                None => {
                    decision_reason = "default";
                    self.default_allow
                }
            };
            if allow { Outcome::Allow } else { Outcome::Deny }
        };
        let reply = outcome.reply();
        let elapsed = started.elapsed();
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let (count, reason) = outcome.count();
        self.counters
            .record("koywe-validation", count, 1, reason, Some(elapsed));
        tracing::info!(
            target: "payhook::validation",
            auth = self.auth.method(),
            outcome = outcome.as_str(),
            reason = decision_reason,
            email_sha256 = %hash,
            code = reply.status.as_u16(),
            latency_us,
            "user validation"
        );
        reply
    }
}

/// How one validation call ended. Decides, in one place, the reply, the
/// `outcome` of the log line and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered `true`.
    Allow,
    /// Answered `false`.
    Deny,
    MethodNotAllowed,
    TooLarge,
    /// The caller's credentials failed; carries the log label
    /// (`missing_credentials`, `bad_credentials`, `expired_token`, …).
    Unauthenticated(&'static str),
    BadEmail,
    MalformedJson,
    /// The user lookup failed: never a guess.
    StoreUnavailable,
}

impl Outcome {
    /// The `outcome` field of the log line (and the `reason` of a
    /// rejection's metric).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::TooLarge => "too_large",
            Outcome::Unauthenticated(why) => why,
            Outcome::BadEmail => "bad_email",
            Outcome::MalformedJson => "malformed_json",
            Outcome::StoreUnavailable => "store_unavailable",
        }
    }

    /// The metric this outcome counts, with its `reason` dimension.
    pub fn count(self) -> (Count, Option<&'static str>) {
        match self {
            Outcome::Allow => (Count::ValidationAllow, None),
            Outcome::Deny => (Count::ValidationDeny, None),
            Outcome::StoreUnavailable => (Count::StoreFailed, None),
            Outcome::MethodNotAllowed
            | Outcome::TooLarge
            | Outcome::Unauthenticated(_)
            | Outcome::BadEmail
            | Outcome::MalformedJson => (Count::Rejected, Some(self.as_str())),
        }
    }

    /// The HTTP status answered.
    pub fn status(self) -> StatusCode {
        match self {
            Outcome::Allow | Outcome::Deny => StatusCode::OK,
            Outcome::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Outcome::BadEmail | Outcome::MalformedJson => StatusCode::BAD_REQUEST,
            Outcome::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The reply: the decision as a JSON boolean, or the error.
    pub fn reply(self) -> Reply {
        let reason = match self {
            Outcome::Allow | Outcome::Deny => {
                return Reply {
                    status: self.status(),
                    body: serde_json::Value::Bool(self == Outcome::Allow),
                    allow_post: false,
                };
            }
            Outcome::MethodNotAllowed => "only POST is accepted",
            Outcome::TooLarge => "body too large",
            Outcome::Unauthenticated(_) => "caller authentication failed",
            Outcome::BadEmail => "missing or invalid field `email`",
            Outcome::MalformedJson => "body is not a JSON object",
            Outcome::StoreUnavailable => "user store unavailable, retry later",
        };
        Reply::error(self.status(), reason)
    }
}

/// Set a user's decision now (CLI `payhook users allow|block`).
pub async fn set_user(
    users: &dyn UserStore,
    email: &str,
    decision: Decision,
    reason: Option<String>,
) -> Result<UserRecord, crate::store::StoreError> {
    let rec = UserRecord {
        email: email.to_owned(),
        decision,
        reason,
        updated_at: OffsetDateTime::now_utc(),
    };
    users.put_user(&rec).await?;
    Ok(rec)
}
