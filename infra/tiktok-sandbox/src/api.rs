//! What every `{data, error}` endpoint shares: the envelopes, the bearer
//! token, scope and rate-limit checks, and the JSON body.

use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    server::Shared,
    state::{log_id, now},
};

/// A `{data, error}` envelope error.
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"data": {}, "error": {"code": code, "message": message, "log_id": log_id()}})),
    )
        .into_response()
}

/// A `{data, error: ok}` success envelope.
pub(crate) fn ok(data: Value) -> Response {
    Json(json!({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}}))
        .into_response()
}

/// An envelope error waiting to be sent.
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        api_error(self.status, self.code, self.message)
    }
}

/// The user behind a valid bearer token, and the scopes it carries.
pub(crate) struct Caller {
    pub open_id: String,
    pub scopes: String,
}

impl Caller {
    /// Whether the token was granted `scope`.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.split(',').any(|s| s.trim() == scope)
    }
}

/// Checks the bearer token (counting its presentation), its scopes (any of
/// `scopes` will do; none checks nothing) and the token's rate limit on
/// `path`.
pub(crate) fn caller(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    scopes: &[&str],
) -> Result<Caller, ApiFailure> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let mut state = shared.state();
    if let Some(token) = bearer {
        *state.token_calls.entry(token.to_owned()).or_default() += 1;
    }
    let t = now();
    let grant = bearer
        .and_then(|token| state.access.get(token))
        .filter(|g| !g.revoked && g.expires_at > t);
    let (Some(token), Some(grant)) = (bearer, grant) else {
        return Err(ApiFailure {
            status: StatusCode::UNAUTHORIZED,
            code: "access_token_invalid",
            message: "The access token is invalid or not found in the request.",
        });
    };
    let caller = Caller {
        open_id: grant.open_id.clone(),
        scopes: grant.scopes.clone(),
    };
    if !scopes.is_empty() && !scopes.iter().any(|s| caller.has(s)) {
        return Err(ApiFailure {
            status: StatusCode::UNAUTHORIZED,
            code: "scope_not_authorized",
            message: "The user did not authorize the scope required for completing this request.",
        });
    }
    if !state.rate.admit(path, token) {
        return Err(ApiFailure {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limit_exceeded",
            message: "The API rate limit was exceeded. Please try again later.",
        });
    }
    Ok(caller)
}

/// The JSON object body, insisting on the documented content type; a bad
/// one is answered with `invalid` (Content Posting spells it
/// `invalid_param`, the Display API `invalid_params`).
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: &Bytes,
    invalid: &'static str,
) -> Result<Value, ApiFailure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        return Err(ApiFailure {
            status: StatusCode::BAD_REQUEST,
            code: invalid,
            message: "Content-Type must be application/json.",
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(ApiFailure {
            status: StatusCode::BAD_REQUEST,
            code: invalid,
            message: "The request body is not a JSON object.",
        }),
    }
}
