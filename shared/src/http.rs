//! The HTTP edge: error bodies, JSON and redirect responses.
//!
//! Every error leaves as `{"error": {"code", "message"}}`; 5xx messages are
//! opaque, their causes stay in the logs.

use lambda_http::{
    Body, Response,
    http::{HeaderValue, StatusCode, header},
};
use serde::Serialize;
use url::Url;

/// An error as the HTTP API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the request carries no verified identity",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency is unavailable, try again later",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this route",
        )
    }

    pub fn bad_gateway() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "tiktok_failed",
            "TikTok did not answer as expected",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Inner<'a>,
        }
        let mut response = json(
            self.status,
            &Envelope {
                error: Inner {
                    code: self.code,
                    message: &self.message,
                },
            },
        );
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<crate::accounts::AccountsError> for ApiError {
    fn from(e: crate::accounts::AccountsError) -> Self {
        use crate::accounts::AccountsError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::InvalidCursor => {
                Self::bad_request("invalid_cursor", "the cursor is not valid for this listing")
            }
            E::RateLimited {
                retry_after_seconds,
                ..
            } => Self::rate_limited(retry_after_seconds),
            E::NotActive(status) => Self::new(
                StatusCode::CONFLICT,
                "account_not_active",
                format!("the account is {}; connect it again", status.as_str()),
            ),
            E::Busy => Self::new(
                StatusCode::CONFLICT,
                "refresh_in_progress",
                "the account is being refreshed right now; try again shortly",
            ),
            E::ReauthRequired(_) => Self::new(
                StatusCode::CONFLICT,
                "reauth_required",
                "TikTok no longer accepts this account's grant; connect it again",
            ),
            E::RefreshFailed(_) | E::Revoke(_) => Self::bad_gateway(),
            E::Unavailable(_) => Self::unavailable(),
        }
    }
}

impl From<crate::uploads::UploadsError> for ApiError {
    fn from(e: crate::uploads::UploadsError) -> Self {
        use crate::uploads::UploadsError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::AccountNotActive(status) => Self::new(
                StatusCode::CONFLICT,
                "account_not_active",
                format!("the account is {}; connect it again", status.as_str()),
            ),
            E::ScopeMissing(scope) => Self::new(
                StatusCode::CONFLICT,
                "scope_not_granted",
                format!("the account did not grant {scope}; connect it again with that scope"),
            ),
            E::RateLimited {
                retry_after_seconds,
                ..
            } => Self::rate_limited(retry_after_seconds),
            E::Unavailable(_) => Self::unavailable(),
        }
    }
}

impl From<crate::upload::InvalidUpload> for ApiError {
    fn from(e: crate::upload::InvalidUpload) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
}

impl ApiError {
    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry after {retry_after_seconds} s"),
        );
        e.retry_after_seconds = Some(retry_after_seconds);
        e
    }
}

/// The id that ties one request's log lines together, across our functions
/// and the client: the caller's `X-Correlation-Id` when it is a plain token
/// (1-64 of `A-Za-z0-9._-`), else API Gateway's request id. It is a field of
/// the request's span and comes back in the response's `X-Correlation-Id`.
/// An error from `respond` becomes its error response.
pub async fn with_correlation(
    request: &lambda_http::Request,
    respond: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    use tracing::Instrument;
    let id = correlation_id(request);
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = respond
        .instrument(span)
        .await
        .unwrap_or_else(ApiError::into_response);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

fn correlation_id(request: &lambda_http::Request) -> String {
    use lambda_http::{RequestExt, request::RequestContext};
    let plain = |v: &str| {
        (1..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if let Some(given) = request
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| plain(v))
    {
        return given.to_owned();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .filter(|v| plain(v))
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A JSON response. Serializing our own response types cannot fail; if it
/// ever did, the caller gets an opaque 500 rather than a panic.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let (status, body) = match serde_json::to_string(body) {
        Ok(body) => (status, body),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"code":"internal","message":"internal error"}}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 302 to `location`, never cached.
pub fn redirect(location: &Url) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape_and_retry_after() {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        e.retry_after_seconds = Some(17);
        let response = e.into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "17");
        let Body::Text(body) = response.body() else {
            panic!("expected text")
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "rate_limited");
        assert_eq!(v["error"]["message"], "slow down");
    }
}
