//! lambda_http glue: a `lambda_http::Request` (from API Gateway, from an
//! event file, or from `payhook serve`) → the pipeline → a response.

use base64::Engine;
use lambda_http::{Body, Request, RequestExt, Response};
use payhook::pipeline::{App, Reply};
use payhook::rejection::Rejection;
use std::collections::HashMap;

/// Run `req` through `app` and build the HTTP response.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let params: HashMap<String, String> = req
        .path_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let reply = app
        .process(&parts.method, &parts.headers, &params, body_bytes(&body))
        .await;
    to_response(&reply)
}

/// Build the HTTP response for `reply`.
pub fn to_response(reply: &Reply) -> Response<Body> {
    reply.to_http()
}

/// Build a [`Request`] from an API Gateway proxy event (HTTP API 2.0 or
/// REST 1.0 JSON, as in `events/`). Invalid base64 with
/// `isBase64Encoded: true` is a 400 here: lambda_http's own adapter panics
/// on it, so the check runs first.
pub fn request_from_event(json: &str) -> Result<Request, Rejection> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|_| Rejection::bad_request("bad_event", "event is not valid JSON"))?;
    let b64 = v
        .get("isBase64Encoded")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if b64
        && let Some(body) = v.get("body").and_then(serde_json::Value::as_str)
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        return Err(Rejection::bad_request(
            "bad_base64",
            "body is marked base64 but is not valid base64",
        ));
    }
    lambda_http::request::from_str(json)
        .map_err(|_| Rejection::bad_request("bad_event", "not an API Gateway proxy event"))
}

/// Answer for a request that could not even be turned into a [`Request`].
pub fn rejection_response(r: &Rejection) -> Response<Body> {
    Reply::error(r.status, &r.reason).to_http()
}

#[cfg(feature = "callback")]
/// Run a user-validation call through `v` and build the HTTP response.
pub async fn handle_validation(
    v: &payhook::koywe_callback::Validator,
    req: Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    v.process(&parts.method, &parts.headers, body_bytes(&body))
        .await
        .to_http()
}

/// The bytes of a lambda_http body (base64 already decoded by lambda_http).
fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}
