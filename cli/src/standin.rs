//! A stand-in of 8Pay's notification API. **For development and tests only**:
//! it lets `payhook serve` and the test suites confirm 8Pay notifications
//! with no 8Pay account. Never point a production deployment at it.
//!
//! It serves, with the same per-chain bearer keys as the real API:
//!
//! * `GET /v1/{chain}/webhook-notifications/{id}`: the registered body
//!   (200), 404 when unknown, 401 without the chain's key;
//! * `PUT /v1/{chain}/webhook-notifications/{id}`: register a body (any JSON;
//!   it is stored under the `id` of the path, not checked, so tests can
//!   register an altered copy), 204.
//!
//! [`StandIn`] is the handle to its memory: register notifications directly
//! with [`StandIn::insert`] and make it fail with [`StandIn::set_mode`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use payhook::secret::{Secret, ct_eq};

/// Where `payhook serve` mounts the stand-in (development secrets only).
pub const MOUNT: &str = "/__dev/8pay-api";
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// How the stand-in answers `GET`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// As the real API does.
    #[default]
    Normal,
    /// 500 to every request (the provider-API-down path: payhook answers 503).
    Fail500,
    /// Never answers (payhook's client timeout: 503).
    Hang,
}

#[derive(Debug, Default)]
struct Inner {
    /// (chain, notification id) → body.
    notifications: Mutex<HashMap<(String, String), Value>>,
    mode: Mutex<Mode>,
}

/// Handle to the stand-in's memory. Cheap to clone; all clones share it.
#[derive(Debug, Clone, Default)]
pub struct StandIn {
    inner: Arc<Inner>,
}

/// A poisoned lock only means a test thread panicked while holding it; the
/// map itself is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StandIn {
    pub fn new() -> Self {
        StandIn::default()
    }

    /// Register `value` as a notification sent on `chain`, under its own
    /// `id` member. Returns `false` (and stores nothing) when `value` has
    /// no string `id`.
    pub fn insert(&self, chain: &str, value: Value) -> bool {
        let Some(id) = value.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return false;
        };
        self.insert_as(chain, &id, value);
        true
    }

    /// Register `value` under `id`, whatever `value` says (to simulate an
    /// API copy that differs from what was delivered).
    pub fn insert_as(&self, chain: &str, id: &str, value: Value) {
        lock(&self.inner.notifications).insert((chain.to_owned(), id.to_owned()), value);
    }

    pub fn get(&self, chain: &str, id: &str) -> Option<Value> {
        lock(&self.inner.notifications)
            .get(&(chain.to_owned(), id.to_owned()))
            .cloned()
    }

    pub fn remove(&self, chain: &str, id: &str) -> Option<Value> {
        lock(&self.inner.notifications).remove(&(chain.to_owned(), id.to_owned()))
    }

    pub fn clear(&self) {
        lock(&self.inner.notifications).clear();
    }

    pub fn len(&self) -> usize {
        lock(&self.inner.notifications).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.inner.mode) = mode;
    }

    pub fn mode(&self) -> Mode {
        *lock(&self.inner.mode)
    }
}

#[derive(Clone)]
struct AppState {
    keys: Arc<BTreeMap<String, Secret>>,
    standin: StandIn,
}

impl AppState {
    /// True when the request carries `Bearer <key of chain>`.
    fn authorized(&self, chain: &str, headers: &HeaderMap) -> bool {
        let Some(key) = self.keys.get(chain) else {
            return false;
        };
        let Some(got) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let want = format!("Bearer {}", key.expose());
        ct_eq(want.as_bytes(), got.as_bytes()).into()
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }).to_string())
}

async fn get_notification(
    State(st): State<AppState>,
    Path((chain, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match st.standin.mode() {
        Mode::Normal => {}
        Mode::Fail500 => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        Mode::Hang => std::future::pending::<()>().await,
    }
    if !st.authorized(&chain, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    match st.standin.get(&chain, &id) {
        Some(v) => json(StatusCode::OK, v.to_string()),
        None => error(StatusCode::NOT_FOUND, "notification not found"),
    }
}

async fn put_notification(
    State(st): State<AppState>,
    Path((chain, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !st.authorized(&chain, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            st.standin.insert_as(&chain, &id, v);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => error(StatusCode::BAD_REQUEST, "body is not JSON"),
    }
}

/// The stand-in's routes over `standin`'s memory, with `keys` (chain → API
/// key) as the accepted bearer tokens.
pub fn router(keys: BTreeMap<String, Secret>, standin: StandIn) -> Router {
    Router::new()
        .route(
            "/v1/{chain}/webhook-notifications/{id}",
            get(get_notification).put(put_notification),
        )
        .with_state(AppState {
            keys: Arc::new(keys),
            standin,
        })
}

/// Serve a fresh stand-in on `127.0.0.1` (a free port) in a tokio task that
/// lives as long as the runtime. Point `PAYHOOK_EIGHTPAY_API_BASE` (or
/// [`super::EightPay::new`]) at `http://{addr}`.
pub async fn spawn(keys: BTreeMap<String, Secret>) -> std::io::Result<(SocketAddr, StandIn)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let standin = StandIn::new();
    let app = router(keys, standin.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "8Pay stand-in stopped");
        }
    });
    Ok((addr, standin))
}
