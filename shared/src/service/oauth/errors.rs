//! Why a callback handed out no ticket, and why a complete connected no
//! account; which of them leave the ticket usable.

use std::fmt;

use crate::{
    domain::{
        ports::{SealError, StoreError},
        tiktok::TikTokError,
    },
    service::limits::LimitError,
};

/// Why a callback handed out no ticket. `reason()` is what the browser is
/// told.
#[derive(thiserror::Error)]
pub enum CallbackError {
    #[error("the state is missing, forged or already used")]
    InvalidState,
    #[error("the state has expired")]
    StateExpired,
    #[error("the TikTok user denied access")]
    AccessDenied,
    #[error("TikTok reported an authorization error: {0}")]
    AuthorizationFailed(String),
    #[error("the callback has no code")]
    MissingCode,
    #[error("could not record the connect")]
    Store(#[from] StoreError),
    #[error("could not seal the code")]
    Seal(#[from] SealError),
}

impl fmt::Debug for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

impl CallbackError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::StateExpired => "state_expired",
            Self::AccessDenied => "access_denied",
            Self::AuthorizationFailed(_) => "authorization_failed",
            Self::MissingCode => "invalid_request",
            Self::Store(_) | Self::Seal(_) => "temporarily_unavailable",
        }
    }
}

/// Why a complete connected no account.
#[derive(thiserror::Error)]
pub enum CompleteError {
    /// The ticket is unknown, used, expired, in use, or not the caller's:
    /// never say which.
    #[error("no such connect")]
    NotFound,
    #[error("the code exchange failed")]
    TokenExchange(#[source] TikTokError),
    #[error("fetching the TikTok profile failed")]
    ProfileFetch(#[source] TikTokError),
    #[error("TikTok's token and profile name different users")]
    IdentityMismatch,
    #[error("the account is connected to another user")]
    ConnectedElsewhere,
    #[error("the account kept changing while being saved")]
    Contended,
    #[error("TikTok's user-info rate limit for this account is reached")]
    RateLimited { retry_after_seconds: u64 },
    #[error("a dependency is unavailable")]
    Store(#[from] StoreError),
    #[error("could not open or seal a secret")]
    Seal(#[from] SealError),
}

impl fmt::Debug for CompleteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

impl From<LimitError> for CompleteError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited {
                retry_after_seconds,
                ..
            } => Self::RateLimited {
                retry_after_seconds,
            },
            LimitError::Unavailable(e) => Self::Store(e),
        }
    }
}

impl CompleteError {
    /// Whether the caller may try the same ticket again (until it
    /// expires): what failed may pass next time. A refusal that will not
    /// change burns the ticket.
    pub fn keeps_ticket(&self) -> bool {
        match self {
            Self::TokenExchange(_)
            | Self::ProfileFetch(_)
            | Self::Contended
            | Self::RateLimited { .. }
            | Self::Store(_) => true,
            Self::Seal(e) => !matches!(e, SealError::Rejected),
            Self::NotFound | Self::IdentityMismatch | Self::ConnectedElsewhere => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_next_time_keep_the_ticket() {
        let tiktok = || TikTokError::Timeout;
        let cases = [
            (CompleteError::TokenExchange(tiktok()), true),
            (CompleteError::ProfileFetch(tiktok()), true),
            (CompleteError::Contended, true),
            (
                CompleteError::RateLimited {
                    retry_after_seconds: 5,
                },
                true,
            ),
            (CompleteError::Store(StoreError::NotFound), true),
            (
                CompleteError::Seal(SealError::Unavailable(anyhow::anyhow!("down"))),
                true,
            ),
            (CompleteError::Seal(SealError::Rejected), false),
            (CompleteError::NotFound, false),
            (CompleteError::IdentityMismatch, false),
            (CompleteError::ConnectedElsewhere, false),
        ];
        for (error, keeps) in cases {
            assert_eq!(error.keeps_ticket(), keeps, "{error}");
        }
        assert_eq!(CallbackError::MissingCode.reason(), "invalid_request");
        assert_eq!(
            CallbackError::Store(StoreError::NotFound).reason(),
            "temporarily_unavailable"
        );
    }
}
