//! The refresh's decisions, as pure functions over what each step
//! returned: what to do next, and what the outcome is. Before TikTok
//! (here), TikTok's answer (`tiktok`), and writing the result (`write`).
//! The I/O around them (in `account` and `sweep`) only carries them out.

mod failure;
#[cfg(test)]
mod fixtures;
mod tiktok;
mod write;

pub use failure::{Failure, FailureKind};
pub use tiktok::{AfterTikTok, Verdict, after_recheck, after_tiktok};
pub use write::{
    AfterConflict, AfterStore, after_conflict, after_flag, after_store, flagged, refreshed,
};

use chrono::{DateTime, Utc};

use super::command::Outcome;
use crate::domain::{
    account::Account,
    ports::{SealError, StoreError},
    secrets::{SealedTokens, TokenSet},
};

/// What a step leaves the refresh to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<T> {
    /// Go on with this.
    Go(T),
    /// Nothing to do: release the lease (if held) and count it skipped.
    Skip,
    /// TikTok will never refresh this grant: mark the account
    /// `reauth_required` with this reason.
    Flag(String),
    /// A failure the next sweep may overcome: record it, release the lease,
    /// keep the account active.
    Fail(Failure),
}

/// After the lease: the account to refresh, or why not (another holder, not
/// due, not active: skipped).
pub fn after_lease(result: Result<Account, StoreError>) -> Result<Account, Outcome> {
    match result {
        Ok(account) => Ok(account),
        Err(StoreError::NotLeasable) => Err(Outcome::Skipped),
        Err(e) => Err(Outcome::Failed(
            Failure::of(FailureKind::StoreUnavailable, &e).detail_line(),
        )),
    }
}

/// Before opening the tokens of a leased account: the sealed tokens, or no
/// tokens to refresh, or a refresh token already past its expiry.
pub fn before_open(account: &Account, now: DateTime<Utc>) -> Next<SealedTokens> {
    match &account.sealed_tokens {
        None => Next::Skip,
        Some(_) if account.refresh_expires_at <= now => Next::Flag("refresh_token_expired".into()),
        Some(sealed) => Next::Go(sealed.clone()),
    }
}

/// What cleanup does with a leased due account: flag it when its refresh
/// token has expired, otherwise leave it (and its lease) alone.
pub fn cleanup(account: &Account, now: DateTime<Utc>) -> Next<()> {
    if account.refresh_expires_at <= now {
        Next::Flag("refresh_token_expired".into())
    } else {
        Next::Skip
    }
}

/// After opening the tokens: a ciphertext that does not open is for good;
/// KMS being away is not.
pub fn after_open(result: Result<TokenSet, SealError>) -> Next<TokenSet> {
    match result {
        Ok(tokens) => Next::Go(tokens),
        Err(SealError::Rejected) => Next::Flag("sealed_tokens_rejected".into()),
        Err(e) => Next::Fail(Failure::of(FailureKind::KmsUnavailable, &e)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as Span;

    use super::fixtures::{account, now, unavailable};
    use super::*;

    #[test]
    fn the_lease_decides_who_refreshes() {
        assert!(after_lease(Ok(account(Span::days(1), true))).is_ok());
        assert_eq!(
            after_lease(Err(StoreError::NotLeasable)).unwrap_err(),
            Outcome::Skipped
        );
        let Err(Outcome::Failed(reason)) = after_lease(Err(unavailable())) else {
            panic!("an outage fails the refresh")
        };
        assert!(reason.starts_with("store_unavailable: "), "{reason}");
    }

    #[test]
    fn only_live_tokens_are_opened() {
        // (refresh token expires in, has tokens, next)
        let cases = [
            (Span::days(1), true, "go"),
            (Span::seconds(1), true, "go"),
            (Span::zero(), true, "flag"),
            (-Span::days(1), true, "flag"),
            (Span::days(1), false, "skip"),
            (-Span::days(1), false, "skip"),
        ];
        for (expires_in, sealed, expected) in cases {
            let next = before_open(&account(expires_in, sealed), now());
            let got = match &next {
                Next::Go(_) => "go",
                Next::Skip => "skip",
                Next::Flag(reason) if reason == "refresh_token_expired" => "flag",
                other => panic!("{other:?}"),
            };
            assert_eq!(got, expected, "{expires_in} {sealed}");
        }
        assert_eq!(
            cleanup(&account(Span::zero(), true), now()),
            Next::Flag("refresh_token_expired".into())
        );
        assert_eq!(cleanup(&account(Span::hours(1), true), now()), Next::Skip);
    }

    #[test]
    fn a_ciphertext_that_does_not_open_needs_a_reconnect_an_outage_does_not() {
        assert!(matches!(
            after_open(Err(SealError::Rejected)),
            Next::Flag(reason) if reason == "sealed_tokens_rejected"
        ));
        let Next::Fail(failure) = after_open(Err(SealError::Unavailable(anyhow::anyhow!("x"))))
        else {
            panic!("an outage is a failure")
        };
        assert_eq!(failure.kind, FailureKind::KmsUnavailable);
    }
}
