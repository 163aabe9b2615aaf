//! What TikTok's answer to a refresh means, and what a re-read after
//! `invalid_grant` decides.

use super::{Failure, FailureKind, Next};
use crate::domain::{
    account::Account,
    ids::AccountId,
    ports::StoreError,
    tiktok::{TikTokError, TokenGrant},
};

/// What to do after TikTok's answer to attempt number `attempt` (from 1).
#[derive(Debug)]
pub enum AfterTikTok {
    /// A transient failure with attempts left: wait, then try again.
    Retry,
    Done(Verdict),
}

/// TikTok's final answer for this refresh.
#[derive(Debug)]
pub enum Verdict {
    /// A new grant for this account: store it, it must not be lost.
    Store(TokenGrant),
    /// `invalid_grant`: re-read the account before flagging, with the
    /// reason to flag it with.
    Recheck(String),
    /// Record the failure; the account stays active.
    Fail(Failure),
    /// TikTok refreshed a token for another open_id: raise the alarm and
    /// record the failure.
    IdentityMismatch,
}

pub fn after_tiktok(
    result: Result<TokenGrant, TikTokError>,
    account: &AccountId,
    attempt: u32,
    max_attempts: u32,
) -> AfterTikTok {
    AfterTikTok::Done(match result {
        Ok(grant) if &grant.open_id != account => Verdict::IdentityMismatch,
        Ok(grant) => Verdict::Store(grant),
        Err(e) if e.is_transient() && attempt < max_attempts => return AfterTikTok::Retry,
        Err(e) if e.is_invalid_grant() => {
            // TikTok's description is for the logs; the owner reads ours.
            if let TikTokError::OAuth { description, .. } = &e {
                tracing::info!(description = %description, "TikTok answered invalid_grant");
            }
            Verdict::Recheck(INVALID_GRANT.to_owned())
        }
        Err(e) => {
            let kind = if e.is_transient() {
                FailureKind::TikTokUnavailable
            } else {
                FailureKind::TikTokRefused
            };
            Verdict::Fail(Failure::new(kind, format!("{}: {e}", e.code())))
        }
    })
}

/// The reason an account is flagged with after `invalid_grant`.
const INVALID_GRANT: &str =
    "invalid_grant: TikTok no longer accepts this account's grant; connect it again";

/// After re-reading an account that TikTok answered `invalid_grant` for,
/// leased at `leased_version`: if another writer stored newer tokens since,
/// theirs are good and there is nothing to do; only an unchanged account is
/// flagged.
pub fn after_recheck(
    current: Result<Option<Account>, StoreError>,
    leased_version: u64,
    reason: String,
) -> Next<()> {
    match current {
        Ok(Some(current)) if current.token_version != leased_version => Next::Skip,
        Ok(Some(_)) => Next::Flag(reason),
        Ok(None) => Next::Skip,
        Err(e) => Next::Fail(Failure::of(FailureKind::StoreUnavailable, &e)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as Span;

    use super::super::fixtures::{account, grant, id, oauth, unavailable};
    use super::*;

    #[test]
    fn tiktoks_answer_decides_the_next_step() {
        // (answer, attempt of 3, expected)
        let cases: Vec<(Result<TokenGrant, TikTokError>, u32, &str)> = vec![
            (Ok(grant("open-1", Span::days(180))), 1, "store"),
            (Ok(grant("open-2", Span::days(180))), 1, "identity"),
            (Err(TikTokError::Timeout), 1, "retry"),
            (Err(TikTokError::Timeout), 2, "retry"),
            (Err(TikTokError::Timeout), 3, "fail"),
            (Err(oauth(503, "temporarily_unavailable", "")), 2, "retry"),
            (Err(oauth(429, "rate_limit", "")), 3, "fail"),
            (
                Err(oauth(400, "invalid_grant", "Refresh token is invalid")),
                1,
                "recheck",
            ),
            (Err(oauth(400, "invalid_request", "")), 1, "fail"),
        ];
        for (answer, attempt, expected) in cases {
            let got = match after_tiktok(answer, &id(), attempt, 3) {
                AfterTikTok::Retry => "retry",
                AfterTikTok::Done(Verdict::Store(_)) => "store",
                AfterTikTok::Done(Verdict::Recheck(_)) => "recheck",
                AfterTikTok::Done(Verdict::Fail(_)) => "fail",
                AfterTikTok::Done(Verdict::IdentityMismatch) => "identity",
            };
            assert_eq!(got, expected, "attempt {attempt}");
        }
        let AfterTikTok::Done(Verdict::Recheck(reason)) = after_tiktok(
            Err(oauth(400, "invalid_grant", "Refresh token is invalid")),
            &id(),
            1,
            3,
        ) else {
            panic!()
        };
        assert_eq!(reason, INVALID_GRANT, "TikTok's words stay in the logs");
        let AfterTikTok::Done(Verdict::Fail(failure)) =
            after_tiktok(Err(TikTokError::Timeout), &id(), 3, 3)
        else {
            panic!()
        };
        assert_eq!(failure.kind, FailureKind::TikTokUnavailable);
        assert_eq!(failure.detail, "timeout: TikTok did not answer in time");
        let AfterTikTok::Done(Verdict::Fail(failure)) =
            after_tiktok(Err(oauth(400, "invalid_request", "bad")), &id(), 1, 3)
        else {
            panic!()
        };
        assert_eq!(failure.kind, FailureKind::TikTokRefused);
    }

    #[test]
    fn invalid_grant_flags_only_an_account_nobody_rotated_since() {
        let leased = account(Span::days(1), true);
        let rotated = Account {
            token_version: 5,
            ..leased.clone()
        };
        let reason = || "invalid_grant".to_owned();
        assert_eq!(after_recheck(Ok(Some(rotated)), 4, reason()), Next::Skip);
        assert_eq!(
            after_recheck(Ok(Some(leased)), 4, reason()),
            Next::Flag("invalid_grant".into())
        );
        assert_eq!(after_recheck(Ok(None), 4, reason()), Next::Skip);
        let Next::Fail(failure) = after_recheck(Err(unavailable()), 4, reason()) else {
            panic!()
        };
        assert_eq!(failure.kind, FailureKind::StoreUnavailable);
    }
}
