//! Who may see the console: the console token, sent once through the login
//! form (then a session cookie, signed with a key derived from the token)
//! or on every request as `Authorization: Bearer`. State-changing requests
//! made with the cookie also carry a CSRF token bound to the session.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use payhook::secret::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The console's setting.
pub const TOKEN_SETTING: &str = "PAYHOOK_CONSOLE_TOKEN";
/// The session cookie's name.
pub const COOKIE: &str = "payhook_console";
/// How long a login lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// A configured token shorter than this is refused at start-up.
pub const MIN_TOKEN_LEN: usize = 16;

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `Authorization: Bearer` with the token: no CSRF token needed (a
    /// browser never adds that header by itself).
    Bearer,
    /// The session cookie (its value): POSTs must carry [`Auth::csrf`].
    Session(String),
}

/// The console token and what is derived from it.
pub struct Auth {
    token: Secret,
    /// HMAC key of session cookies and CSRF tokens (SHA-256 of a label and
    /// the token): changing the token ends every session.
    key: [u8; 32],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl Auth {
    pub fn new(token: Secret) -> Self {
        let mut h = Sha256::new();
        h.update(b"payhook-console-session-v1\0");
        h.update(token.expose().as_bytes());
        Auth {
            token,
            key: h.finalize().into(),
        }
    }

    /// A new random token (development).
    pub fn generate() -> Secret {
        let mut b = [0u8; 24];
        payhook::secret::fill_random(&mut b);
        Secret::new(format!("dev-console-{}", hex::encode(b)))
    }

    fn mac(&self, label: &str, msg: &str) -> Vec<u8> {
        // An HMAC takes a key of any length: `new_from_slice` cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return Vec::new();
        };
        m.update(label.as_bytes());
        m.update(b"\0");
        m.update(msg.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// Whether `given` is the token (constant time over the token's
    /// digest, so neither its bytes nor its length leak through timing).
    pub fn is_token(&self, given: &str) -> bool {
        let a = Sha256::digest(given.as_bytes());
        let b = Sha256::digest(self.token.expose().as_bytes());
        bool::from(a.ct_eq(&b))
    }

    /// A session cookie value valid until `now + SESSION_SECS`.
    pub fn session(&self, now: i64) -> String {
        let exp = now.saturating_add(SESSION_SECS);
        format!("{exp}.{}", b64(&self.mac("session", &exp.to_string())))
    }

    /// Whether `value` is a session this token issued that has not expired.
    pub fn is_session(&self, value: &str, now: i64) -> bool {
        let Some((exp, sig)) = value.split_once('.') else {
            return false;
        };
        let Ok(exp_n) = exp.parse::<i64>() else {
            return false;
        };
        let want = b64(&self.mac("session", exp));
        bool::from(want.as_bytes().ct_eq(sig.as_bytes())) && exp_n > now
    }

    /// The CSRF token of a session (a form's hidden `csrf` field).
    pub fn csrf(&self, session: &str) -> String {
        b64(&self.mac("csrf", session))
    }

    pub fn is_csrf(&self, session: &str, given: &str) -> bool {
        bool::from(self.csrf(session).as_bytes().ct_eq(given.as_bytes()))
    }

    /// Who `headers` are, if anyone.
    pub fn caller(&self, headers: &http::HeaderMap, now: i64) -> Option<Caller> {
        if let Some(v) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            // A wrong bearer token is a failed login, whatever the cookie.
            return v
                .strip_prefix("Bearer ")
                .filter(|t| self.is_token(t.trim()))
                .map(|_| Caller::Bearer);
        }
        cookie(headers, COOKIE)
            .filter(|c| self.is_session(c, now))
            .map(Caller::Session)
    }
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether a state-changing request comes from the console's own pages: a
/// browser's `Sec-Fetch-Site` (when sent) is `same-origin`, and `Origin`
/// (when sent) names the host the request was sent to.
pub fn same_origin(headers: &http::HeaderMap) -> bool {
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| s == "same-origin" || s == "none");
    let origin_ok = match headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(origin) => {
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
        }
    };
    site_ok && origin_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(Secret::new("a-console-token-of-length"))
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let a = auth();
        let s = a.session(1_000);
        assert!(a.is_session(&s, 1_001));
        assert!(!a.is_session(&s, 1_000 + SESSION_SECS));
        // Another token's session, a forged expiry, garbage: refused.
        let other = Auth::new(Secret::new("another-console-token")).session(1_000);
        assert!(!a.is_session(&other, 1_001));
        let (_, sig) = s.split_once('.').unwrap();
        assert!(!a.is_session(&format!("{}.{sig}", 1_000 + 10 * SESSION_SECS), 1_001));
        assert!(!a.is_session("", 0));
        assert!(!a.is_session("x.y", 0));
    }

    #[test]
    fn csrf_is_bound_to_the_session() {
        let a = auth();
        let (s1, s2) = (a.session(1), a.session(2));
        assert!(a.is_csrf(&s1, &a.csrf(&s1)));
        assert!(!a.is_csrf(&s1, &a.csrf(&s2)));
        assert!(!a.is_csrf(&s1, ""));
    }

    #[test]
    fn callers_by_bearer_or_cookie() {
        let a = auth();
        let mut h = http::HeaderMap::new();
        assert_eq!(a.caller(&h, 5), None);
        h.insert(
            "authorization",
            "Bearer a-console-token-of-length".parse().unwrap(),
        );
        assert_eq!(a.caller(&h, 5), Some(Caller::Bearer));
        h.insert("authorization", "Bearer wrong".parse().unwrap());
        let s = a.session(5);
        h.insert("cookie", format!("x=1; {COOKIE}={s}").parse().unwrap());
        assert_eq!(
            a.caller(&h, 5),
            None,
            "a wrong bearer token is not saved by a cookie"
        );
        h.remove("authorization");
        assert_eq!(a.caller(&h, 5), Some(Caller::Session(s)));
        assert!(format!("{a:?}").find("token-of").is_none());
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = http::HeaderMap::new();
        assert!(same_origin(&h));
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
