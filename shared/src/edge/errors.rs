//! Errors as the HTTP API answers them: `{"error": {"code", "message"}}`,
//! with every service error mapped to its status and stable code here, in
//! one place. 5xx messages are opaque; their causes go to the logs, never
//! to the caller.

use lambda_http::{
    Body, Response,
    http::{HeaderValue, StatusCode, header},
};
use serde::Serialize;

use super::responses::json;
use crate::{
    domain::{analytics::InvalidRange, post::InvalidPost, upload::InvalidUpload},
    service::{
        accounts::AccountsError,
        analytics::HistoryError,
        limits::LimitError,
        oauth::{errors::CompleteError, start::StartError},
        posts::PostsError,
        uploads::UploadsError,
        webhooks::WebhookError,
    },
    support::errors::chain_line,
};

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

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this route",
        )
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

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

    /// 502: TikTok failed. `cause` goes to the logs only.
    pub fn bad_gateway(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %chain_line(cause), "request failed at TikTok");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "tiktok_failed",
            "TikTok did not answer as expected",
        )
    }

    /// The same error under a more precise code.
    pub fn with_code(self, code: &'static str) -> Self {
        Self { code, ..self }
    }

    /// 503: a dependency is unavailable. `cause` goes to the logs only.
    pub fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %chain_line(cause), "request failed: a dependency is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency is unavailable, try again later",
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

fn account_not_active(status: crate::domain::account::AccountStatus) -> ApiError {
    ApiError::conflict(
        "account_not_active",
        format!("the account is {}; connect it again", status.as_str()),
    )
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited {
                retry_after_seconds,
                ..
            } => Self::rate_limited(retry_after_seconds),
            LimitError::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        use AccountsError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::InvalidCursor => {
                Self::bad_request("invalid_cursor", "the cursor is not valid for this listing")
            }
            E::Limit(e) => e.into(),
            E::NotActive(status) => account_not_active(status),
            E::Busy => Self::conflict(
                "refresh_in_progress",
                "the account is being refreshed right now; try again shortly",
            ),
            E::ReauthRequired(_) => Self::conflict(
                "reauth_required",
                "TikTok no longer accepts this account's grant; connect it again",
            ),
            E::ScopeMissing(scope) => Self::conflict(
                "scope_not_granted",
                format!("the account did not grant {scope}; connect it again with that scope"),
            ),
            E::TokenRefused(_) => Self::conflict(
                "reauth_required",
                "TikTok no longer accepts this account's access token; refresh or connect it again",
            ),
            E::RefreshFailed(_) | E::Revoke(_) | E::CreatorInfo(_) => Self::bad_gateway(&e),
            E::TikTokUnavailable(_) => Self::unavailable(&e).with_code("tiktok_unavailable"),
            E::Deadline | E::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<UploadsError> for ApiError {
    fn from(e: UploadsError) -> Self {
        use UploadsError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::AccountNotActive(status) => account_not_active(status),
            E::ScopeMissing(scope) => Self::conflict(
                "scope_not_granted",
                format!("the account did not grant {scope}; connect it again with that scope"),
            ),
            E::Invalid(e) => e.into(),
            E::Limit(e) => e.into(),
            E::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<InvalidUpload> for ApiError {
    fn from(e: InvalidUpload) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Limit(e) => e.into(),
            StartError::Store(_) => Self::unavailable(&e),
        }
    }
}

impl From<CompleteError> for ApiError {
    fn from(e: CompleteError) -> Self {
        use CompleteError as E;
        match e {
            E::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "connect_not_found",
                "no connect is waiting for this ticket: start again",
            ),
            E::ConnectedElsewhere => Self::conflict(
                "account_connected_elsewhere",
                "this TikTok account is connected to another user",
            ),
            E::TokenExchange(_) => Self::bad_gateway(&e).with_code("token_exchange_failed"),
            E::ProfileFetch(_) | E::IdentityMismatch => {
                Self::bad_gateway(&e).with_code("profile_fetch_failed")
            }
            E::RateLimited {
                retry_after_seconds,
            } => Self::rate_limited(retry_after_seconds),
            E::Contended | E::Store(_) | E::Seal(_) => Self::unavailable(&e),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Signature(reason) => {
                tracing::warn!(reason = %reason, "webhook refused");
                Self::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_signature",
                    "the TikTok-Signature is missing, wrong or stale",
                )
            }
            WebhookError::Malformed(e) => {
                tracing::warn!(error = %e, "webhook body refused");
                Self::bad_request("invalid_event", e.to_string())
            }
            // TikTok retries.
            WebhookError::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<PostsError> for ApiError {
    fn from(e: PostsError) -> Self {
        use PostsError as E;
        match e {
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "post_not_found", "no such post"),
            E::MediaNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "media_not_found",
                "no such video for posts: upload it with POST /uploads without an account_id",
            ),
            E::MediaFailed(_) => Self::bad_request("media_failed", e.to_string()),
            E::AccountNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "account_not_found", e.to_string())
            }
            E::AccountNotActive(ref id, status) => Self::conflict(
                "account_not_active",
                format!("account {id} is {}; connect it again", status.as_str()),
            ),
            E::ScopeMissing(ref id, scope) => Self::conflict(
                "scope_not_granted",
                format!("account {id} did not grant {scope}; connect it again with that scope"),
            ),
            E::Started => Self::conflict(
                "post_started",
                "the post has started or was cancelled; it can no longer change",
            ),
            E::InvalidCursor => {
                Self::bad_request("invalid_cursor", "the cursor is not valid for this listing")
            }
            E::InvalidQuery(_) => Self::bad_request("invalid_query", e.to_string()),
            E::Invalid(e) => Self::bad_request(e.code(), e.to_string()),
            E::Limit(e) => e.into(),
            E::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::NotFound => Self::not_found(),
            HistoryError::InvalidCursor => {
                Self::bad_request("invalid_cursor", "the cursor is not valid for this listing")
            }
            HistoryError::Unavailable(_) => Self::unavailable(&e),
        }
    }
}

impl From<InvalidRange> for ApiError {
    fn from(e: InvalidRange) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
}

impl From<InvalidPost> for ApiError {
    fn from(e: InvalidPost) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
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
