//! Koywe's user-validation callback through the HTTP handler: every caller
//! authentication method, every decision, malformed input, store failure,
//! the cache, on the memory and the embedded SQLite store.

use async_trait::async_trait;
use base64::Engine as _;
use payhook::koywe_callback::{CallerAuth, Validator};
use payhook::secret::Secret;
use payhook::store::StoreError;
use payhook::users::{Decision, UserRecord, UserStore};
use payhook::{FixedClock, store::memory::MemoryStore};
use payhook_embedded::SqliteStore;
use payhook_tests::{events_dir, test_now};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const JWT_SECRET: &str = "test-jwt-secret-at-least-32-bytes-long!";

async fn seed(users: &dyn UserStore) {
    for (email, d) in [
        ("allowed@example.com", Decision::Allow),
        ("blocked@example.com", Decision::Block),
    ] {
        payhook::koywe_callback::set_user(users, email, d, Some("test".into()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn auth(s: &str) -> CallerAuth {
    CallerAuth::parse(&Secret::new(s), None, None).unwrap_or_else(|e| panic!("{e}"))
}

fn validator(a: CallerAuth, users: Arc<dyn UserStore>, default_allow: bool) -> Validator {
    Validator::new(a, users, default_allow, Duration::ZERO)
        .with_clock(Arc::new(FixedClock::new(test_now())))
}

/// POST `body` with `headers` through the Lambda handler; (status, body).
async fn call(
    v: &Validator,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut ev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("user-validation/allowed.json"))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    ev["headers"] = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    ev["body"] = body.into();
    ev["requestContext"]["http"]["method"] = method.into();
    let req =
        payhook_aws::http::request_from_event(&ev.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let resp = payhook_aws::http::handle_validation(v, req).await;
    let status = resp.status().as_u16();
    let text = match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    (status, text)
}

const ALLOWED: &str = r#"{"email":"allowed@example.com"}"#;

fn jwt(claims: serde_json::Value, alg: jsonwebtoken::Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn b64url(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn every_fixture_in_events_answers_as_listed() {
    let users = Arc::new(MemoryStore::new());
    seed(&*users).await;
    let v = validator(auth("bearer:test-validation-token"), users, false);
    let dir = events_dir().join("user-validation");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap_or_default())
            .unwrap_or_default();
    assert!(cases.len() >= 10);
    for c in cases {
        let file = c["file"].as_str().unwrap_or_default();
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let req =
            payhook_aws::http::request_from_event(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let resp = payhook_aws::http::handle_validation(&v, req).await;
        assert_eq!(
            resp.status().as_u16() as u64,
            c["expect"].as_u64().unwrap_or(0),
            "{file}"
        );
        if let Some(answer) = c["answer"].as_bool() {
            let body = match resp.body() {
                lambda_http::Body::Text(t) => t.clone(),
                _ => String::new(),
            };
            assert_eq!(body, answer.to_string(), "{file}");
        }
    }
}

#[tokio::test]
async fn bearer_tokens_with_rotation() {
    let users = Arc::new(MemoryStore::new());
    seed(&*users).await;
    let v = validator(auth("bearer:new-token,old-token"), users, false);
    for t in ["new-token", "old-token"] {
        assert_eq!(
            call(
                &v,
                "POST",
                &[("authorization", format!("Bearer {t}"))],
                ALLOWED
            )
            .await,
            (200, "true".into())
        );
    }
    for h in [
        "Bearer wrong",
        "Bearer new-tokenx",
        "Bearer ",
        "Basic new-token",
        "new-token",
    ] {
        assert_eq!(
            call(&v, "POST", &[("authorization", h.into())], ALLOWED)
                .await
                .0,
            401,
            "{h}"
        );
    }
    assert_eq!(call(&v, "POST", &[], ALLOWED).await.0, 401);
}

#[tokio::test]
async fn jwt_hs256_valid_expired_none_wrong_algorithm_wrong_secret() {
    let users = Arc::new(MemoryStore::new());
    seed(&*users).await;
    let v = validator(auth(&format!("jwt-hs256:{JWT_SECRET}")), users, false);
    let now = test_now().unix_timestamp();
    let bearer = |t: String| vec![("authorization", format!("Bearer {t}"))];
    let good = jwt(
        serde_json::json!({"exp": now + 60, "sub": "koywe"}),
        jsonwebtoken::Algorithm::HS256,
        JWT_SECRET,
    );
    assert_eq!(
        call(&v, "POST", &bearer(good), ALLOWED).await,
        (200, "true".into())
    );
    // Expired beyond the 5 s leeway; just inside the leeway is accepted.
    let expired = jwt(
        serde_json::json!({"exp": now - 10}),
        jsonwebtoken::Algorithm::HS256,
        JWT_SECRET,
    );
    assert_eq!(call(&v, "POST", &bearer(expired), ALLOWED).await.0, 401);
    let leeway = jwt(
        serde_json::json!({"exp": now - 3}),
        jsonwebtoken::Algorithm::HS256,
        JWT_SECRET,
    );
    assert_eq!(call(&v, "POST", &bearer(leeway), ALLOWED).await.0, 200);
    // No exp at all.
    let no_exp = jwt(
        serde_json::json!({"sub": "koywe"}),
        jsonwebtoken::Algorithm::HS256,
        JWT_SECRET,
    );
    assert_eq!(call(&v, "POST", &bearer(no_exp), ALLOWED).await.0, 401);
    // Wrong secret.
    let other = jwt(
        serde_json::json!({"exp": now + 60}),
        jsonwebtoken::Algorithm::HS256,
        "another-secret-that-is-32-bytes-long!!",
    );
    assert_eq!(call(&v, "POST", &bearer(other), ALLOWED).await.0, 401);
    // Same secret, another HMAC algorithm.
    let hs512 = jwt(
        serde_json::json!({"exp": now + 60}),
        jsonwebtoken::Algorithm::HS512,
        JWT_SECRET,
    );
    assert_eq!(call(&v, "POST", &bearer(hs512), ALLOWED).await.0, 401);
    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64url(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64url(&serde_json::json!({"exp": now + 60}))
    );
    assert_eq!(call(&v, "POST", &bearer(none), ALLOWED).await.0, 401);
    // Garbage and a missing header.
    assert_eq!(
        call(&v, "POST", &bearer("a.b.c".into()), ALLOWED).await.0,
        401
    );
    assert_eq!(call(&v, "POST", &[], ALLOWED).await.0, 401);
}

#[tokio::test]
async fn jwt_issuer_and_audience_when_configured() {
    let users = Arc::new(MemoryStore::new());
    seed(&*users).await;
    let a = CallerAuth::parse(
        &Secret::new(format!("jwt-hs256:{JWT_SECRET}")),
        Some("koywe".into()),
        Some("merchant".into()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = validator(a, users, false);
    let now = test_now().unix_timestamp();
    let tok = |c: serde_json::Value| {
        vec![(
            "authorization",
            format!(
                "Bearer {}",
                jwt(c, jsonwebtoken::Algorithm::HS256, JWT_SECRET)
            ),
        )]
    };
    assert_eq!(
        call(
            &v,
            "POST",
            &tok(serde_json::json!({"exp": now + 60, "iss": "koywe", "aud": "merchant"})),
            ALLOWED
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &v,
            "POST",
            &tok(serde_json::json!({"exp": now + 60, "iss": "evil", "aud": "merchant"})),
            ALLOWED
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &v,
            "POST",
            &tok(serde_json::json!({"exp": now + 60, "iss": "koywe", "aud": "other"})),
            ALLOWED
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn basic_and_header_methods() {
    let users = Arc::new(MemoryStore::new());
    seed(&*users).await;
    let v = validator(auth("basic:koywe:s3cret-pass"), users.clone(), false);
    let basic = |u: &str| {
        vec![(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(u)
            ),
        )]
    };
    assert_eq!(
        call(&v, "POST", &basic("koywe:s3cret-pass"), ALLOWED)
            .await
            .0,
        200
    );
    for wrong in [
        "koywe:wrong",
        "other:s3cret-pass",
        "koywe",
        "koywe:s3cret-pass:x",
    ] {
        assert_eq!(
            call(&v, "POST", &basic(wrong), ALLOWED).await.0,
            401,
            "{wrong}"
        );
    }
    assert_eq!(
        call(
            &v,
            "POST",
            &[("authorization", "Basic !!!".into())],
            ALLOWED
        )
        .await
        .0,
        401
    );

    let v = validator(auth("header:x-api-key:key-one,key-two"), users, false);
    assert_eq!(
        call(&v, "POST", &[("x-api-key", "key-two".into())], ALLOWED)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&v, "POST", &[("x-api-key", "key-three".into())], ALLOWED)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &v,
            "POST",
            &[("authorization", "Bearer key-one".into())],
            ALLOWED
        )
        .await
        .0,
        401
    );
}

#[test]
fn bad_auth_settings_refuse_to_start() {
    for s in [
        "",
        "bearer:",
        "bearer:a,,b",
        "jwt-hs256:short",
        "basic:user",
        "basic::pw",
        "header:bad name:v",
        "magic:x",
        "token",
    ] {
        let r = CallerAuth::parse(&Secret::new(s), None, None);
        let e = r.err().unwrap_or_else(|| panic!("{s:?} accepted"));
        assert!(e.to_string().contains("PAYHOOK_VALIDATION_AUTH"), "{e}");
        assert!(
            !e.to_string().contains("short"),
            "error quotes the secret: {e}"
        );
    }
    // Unset → the function refuses to start, naming the setting.
    let cfg = payhook::Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
    let err = Validator::from_config(&cfg, Arc::new(MemoryStore::new())).err();
    assert!(err.is_some_and(|e| e.to_string().contains("PAYHOOK_VALIDATION_AUTH")));
}

async fn decisions_on(users: Arc<dyn UserStore>) {
    seed(&*users).await;
    let h = vec![("authorization", "Bearer t".to_owned())];
    let deny = validator(auth("bearer:t"), users.clone(), false);
    let allow = validator(auth("bearer:t"), users.clone(), true);
    for (body, d, a) in [
        (r#"{"email":"allowed@example.com"}"#, "true", "true"),
        (r#"{"email":"BLOCKED@example.com "}"#, "false", "false"),
        (r#"{"email":"new@example.com"}"#, "false", "true"),
        (
            r#"{"email":"allowed@example.com","extra":{"x":[1,2]}}"#,
            "true",
            "true",
        ),
    ] {
        assert_eq!(
            call(&deny, "POST", &h, body).await,
            (200, d.to_owned()),
            "{body}"
        );
        assert_eq!(
            call(&allow, "POST", &h, body).await,
            (200, a.to_owned()),
            "{body}"
        );
    }
    for body in [
        "",
        "{",
        "[]",
        r#"{"email":5}"#,
        r#"{"email":"x"}"#,
        r#"{"email":"a@b","email":"c@d"}"#,
        "\"allowed@example.com\"",
    ] {
        assert_eq!(call(&deny, "POST", &h, body).await.0, 400, "{body}");
    }
    assert_eq!(call(&deny, "GET", &h, "").await.0, 405);
    let big = format!(
        r#"{{"email":"allowed@example.com","pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    assert_eq!(call(&deny, "POST", &h, &big).await.0, 413);
    // Changing a decision takes effect on the next call (no cache configured).
    payhook::koywe_callback::set_user(&*users, "new@example.com", Decision::Allow, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        call(&deny, "POST", &h, r#"{"email":"new@example.com"}"#)
            .await
            .1,
        "true"
    );
    assert!(users.remove_user("new@example.com").await.unwrap_or(false));
    assert_eq!(
        call(&deny, "POST", &h, r#"{"email":"new@example.com"}"#)
            .await
            .1,
        "false"
    );
}

#[tokio::test]
async fn decisions_on_the_memory_store() {
    decisions_on(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn decisions_on_the_embedded_store() {
    let s = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
    decisions_on(Arc::new(s)).await;
}

/// Counts lookups; fails them on demand.
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    gets: AtomicUsize,
    fail: AtomicUsize,
}

#[async_trait]
impl UserStore for Flaky {
    async fn get_user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) > 0 {
            return Err(StoreError::Throttled);
        }
        self.inner.get_user(email).await
    }
    async fn put_user(&self, rec: &UserRecord) -> Result<(), StoreError> {
        self.inner.put_user(rec).await
    }
    async fn remove_user(&self, email: &str) -> Result<bool, StoreError> {
        self.inner.remove_user(email).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.inner.list_users().await
    }
}

#[tokio::test]
async fn store_failure_is_503_never_a_guess_and_auth_failure_looks_nothing_up() {
    let users = Arc::new(Flaky::default());
    seed(&*users).await;
    let v = validator(auth("bearer:t"), users.clone(), true);
    users.fail.store(1, Ordering::SeqCst);
    let h = vec![("authorization", "Bearer t".to_owned())];
    assert_eq!(call(&v, "POST", &h, ALLOWED).await.0, 503);
    users.fail.store(0, Ordering::SeqCst);
    let before = users.gets.load(Ordering::SeqCst);
    assert_eq!(
        call(
            &v,
            "POST",
            &[("authorization", "Bearer nope".into())],
            ALLOWED
        )
        .await
        .0,
        401
    );
    assert_eq!(call(&v, "POST", &h, "{").await.0, 400);
    assert_eq!(
        users.gets.load(Ordering::SeqCst),
        before,
        "looked up without a valid caller or email"
    );
    assert_eq!(call(&v, "POST", &h, ALLOWED).await, (200, "true".into()));
    assert_eq!(
        users.gets.load(Ordering::SeqCst),
        before + 1,
        "one lookup per uncached call"
    );
}

#[tokio::test]
async fn the_optional_cache_saves_lookups() {
    let users = Arc::new(Flaky::default());
    seed(&*users).await;
    let v = Validator::new(
        auth("bearer:t"),
        users.clone(),
        false,
        Duration::from_secs(30),
    );
    let h = vec![("authorization", "Bearer t".to_owned())];
    for _ in 0..5 {
        assert_eq!(call(&v, "POST", &h, ALLOWED).await, (200, "true".into()));
    }
    assert_eq!(users.gets.load(Ordering::SeqCst), 1);
}
