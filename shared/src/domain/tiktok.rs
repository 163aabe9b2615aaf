//! What TikTok answers, in our terms: a token grant, and the ways a call can
//! fail, with the classes the rest of the system acts on (transient, or the
//! grant is gone).
//!
//! TikTok answers OAuth calls with flat objects (`{error, error_description,
//! log_id}` on failure) and the rest of its API with a `{data, error}`
//! envelope whose `error.code` is `ok` on success; `adapters::tiktok` maps
//! both here.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{account::Scopes, ids::AccountId, secrets::TokenSet};

/// What the token endpoint grants: the tokens and when they expire.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub open_id: AccountId,
    pub tokens: TokenSet,
    pub scopes: Scopes,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

#[derive(thiserror::Error)]
pub enum TikTokError {
    /// A flat OAuth error (`invalid_grant`, `invalid_request`, …).
    #[error("TikTok OAuth error {code} (HTTP {status}): {description}")]
    OAuth {
        status: u16,
        code: String,
        description: String,
        log_id: Option<String>,
    },
    /// A `{data, error}` envelope whose `error.code` is not `ok`.
    #[error("TikTok API error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        log_id: Option<String>,
    },
    #[error("TikTok did not answer in time")]
    Timeout,
    #[error("could not reach TikTok")]
    Network(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A body we could not read as TikTok's documented shape.
    #[error("TikTok answered HTTP {status} with an unexpected body: {reason}")]
    Malformed { status: u16, reason: String },
    /// An `upload_url` outside `TIKTOK_UPLOAD_ORIGINS`: no byte is sent.
    #[error("TikTok's upload_url points at {host}, which TIKTOK_UPLOAD_ORIGINS does not list")]
    UploadHostNotAllowed { host: String },
}

impl fmt::Debug for TikTokError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

impl TikTokError {
    /// Worth retrying later: network trouble, timeouts, 5xx, rate limits.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Network(_) => true,
            Self::OAuth { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(code.as_str(), "server_error" | "temporarily_unavailable")
            }
            Self::Api { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(code.as_str(), "internal_error" | "rate_limit_exceeded")
            }
            Self::Malformed { status, .. } => *status >= 500 || *status == 429,
            Self::UploadHostNotAllowed { .. } => false,
        }
    }

    /// The refresh token (or code) is no longer any good.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::OAuth { code, .. } if code == "invalid_grant")
    }

    /// The short code for logs and summaries (`invalid_grant`, `timeout`, …).
    pub fn code(&self) -> &str {
        match self {
            Self::OAuth { code, .. } | Self::Api { code, .. } => code,
            Self::Timeout => "timeout",
            Self::Network(_) => "network",
            Self::Malformed { .. } => "malformed_response",
            Self::UploadHostNotAllowed { .. } => "upload_host_not_allowed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(status: u16, code: &str) -> TikTokError {
        TikTokError::OAuth {
            status,
            code: code.into(),
            description: String::new(),
            log_id: None,
        }
    }

    fn api(status: u16, code: &str) -> TikTokError {
        TikTokError::Api {
            status,
            code: code.into(),
            message: String::new(),
            log_id: None,
        }
    }

    #[test]
    fn failure_classes() {
        // (error, transient, invalid grant)
        let cases = [
            (TikTokError::Timeout, true, false),
            (TikTokError::Network("refused".into()), true, false),
            (oauth(400, "invalid_grant"), false, true),
            (oauth(200, "invalid_grant"), false, true),
            (oauth(400, "invalid_request"), false, false),
            (oauth(503, "temporarily_unavailable"), true, false),
            (oauth(200, "server_error"), true, false),
            (oauth(429, "slow_down"), true, false),
            (api(401, "access_token_invalid"), false, false),
            (api(429, "rate_limit_exceeded"), true, false),
            (api(200, "internal_error"), true, false),
            (api(500, "anything"), true, false),
            (
                TikTokError::Malformed {
                    status: 502,
                    reason: String::new(),
                },
                true,
                false,
            ),
            (
                TikTokError::Malformed {
                    status: 200,
                    reason: String::new(),
                },
                false,
                false,
            ),
        ];
        for (error, transient, invalid_grant) in cases {
            assert_eq!(error.is_transient(), transient, "{error}");
            assert_eq!(error.is_invalid_grant(), invalid_grant, "{error}");
        }
        assert_eq!(TikTokError::Timeout.code(), "timeout");
        assert_eq!(
            api(401, "access_token_invalid").code(),
            "access_token_invalid"
        );
    }
}
