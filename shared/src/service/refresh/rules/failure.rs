//! Why a refresh failed, in two voices: a short code and a sentence of ours
//! for the account's owner (its `last_error`), and the detail (an error
//! chain, TikTok's words) for the logs and the invocation's summary. No SDK
//! or AWS text (an ARN, an endpoint) and nothing TikTok said ever reaches
//! the owner.

use crate::support::errors::chain_line;

/// What kind of failure the next sweep may overcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// TikTok was unreachable, slow or failing.
    TikTokUnavailable,
    /// TikTok refused the refresh for a reason other than the grant.
    TikTokRefused,
    /// KMS could not open the tokens.
    KmsUnavailable,
    /// The table could not be read.
    StoreUnavailable,
    /// No time was left before the invocation's deadline.
    Deadline,
    /// TikTok answered with another account's token.
    IdentityMismatch,
}

impl FailureKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::TikTokUnavailable => "tiktok_unavailable",
            Self::TikTokRefused => "tiktok_refused",
            Self::KmsUnavailable => "kms_unavailable",
            Self::StoreUnavailable => "store_unavailable",
            Self::Deadline => "deadline",
            Self::IdentityMismatch => "identity_mismatch",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::TikTokUnavailable => "TikTok could not refresh the token just now",
            Self::TikTokRefused => "TikTok refused to refresh the token",
            Self::KmsUnavailable => "the tokens could not be opened just now",
            Self::StoreUnavailable => "the account could not be read just now",
            Self::Deadline => "no time was left to refresh",
            Self::IdentityMismatch => {
                "TikTok answered for another account; the refresh was refused"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// For the logs and the summary only.
    pub detail: String,
}

impl Failure {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// A failure whose detail is `error`'s whole chain.
    pub fn of(kind: FailureKind, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(kind, chain_line(error))
    }

    /// What the account's owner sees: `code: sentence; the next sweep
    /// retries`, all ours.
    pub fn for_owner(&self) -> String {
        format!(
            "{}: {}; the next sweep retries",
            self.kind.code(),
            self.kind.sentence()
        )
    }

    /// The line for the logs and the summary: the code and the detail.
    pub fn detail_line(&self) -> String {
        format!("{}: {}", self.kind.code(), self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_sees_only_our_words() {
        let failure = Failure::new(
            FailureKind::KmsUnavailable,
            "KMS is unavailable: dispatch failure: http://127.0.0.1:4566 arn:aws:kms:us-east-1:123:key/x",
        );
        assert_eq!(
            failure.for_owner(),
            "kms_unavailable: the tokens could not be opened just now; the next sweep retries"
        );
        assert!(failure.detail_line().contains("arn:aws:kms"));
    }
}
