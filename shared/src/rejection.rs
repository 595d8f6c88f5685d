//! Why a request is not accepted, and the HTTP status that says so.
//! Status codes are decided here and in the pipeline only.

use http::StatusCode;
use std::borrow::Cow;

/// A request payhook will not accept. Carries the HTTP status, a short public
/// reason (safe to return to the caller and to log: never body content) and a
/// metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {reason}", .status.as_u16())]
pub struct Rejection {
    pub status: StatusCode,
    pub reason: Cow<'static, str>,
    /// Low-cardinality label for metrics and logs (`bad_signature`, …).
    pub kind: &'static str,
}

impl Rejection {
    /// 401: authentication failed. The reason stays vague on purpose.
    pub fn unauthorized(kind: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            status: StatusCode::UNAUTHORIZED,
            reason: reason.into(),
            kind,
        }
    }

    /// 400: the body is not what the provider documents. `reason` names the
    /// field.
    pub fn bad_request(kind: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
            kind,
        }
    }

    /// 400 naming a missing or mistyped field.
    pub fn field(name: &str) -> Self {
        Rejection::bad_request("bad_field", format!("missing or invalid field `{name}`"))
    }

    /// 503: something payhook depends on is unavailable; the provider should
    /// retry.
    pub fn unavailable(kind: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: reason.into(),
            kind,
        }
    }
}

impl From<crate::canonical::JsonError> for Rejection {
    fn from(e: crate::canonical::JsonError) -> Self {
        match e {
            crate::canonical::JsonError::DuplicateKey(k) => {
                Rejection::bad_request("duplicate_key", format!("body repeats the key `{k}`"))
            }
            crate::canonical::JsonError::Syntax(_) => {
                Rejection::bad_request("malformed_json", "body is not valid JSON")
            }
        }
    }
}
