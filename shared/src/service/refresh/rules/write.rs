//! Writing the result of a refresh: the refreshed or flagged account, and
//! what the store's answer to the write means.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        account::{Account, AccountStatus},
        ports::StoreError,
        secrets::SealedTokens,
        tiktok::TokenGrant,
        time::rfc3339,
    },
    service::refresh::Outcome,
    support::errors::chain_line,
};

/// After one attempt at storing a rotated grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStore {
    Stored,
    /// Another writer wrote first: re-read before deciding.
    Conflict,
    /// Try again (if attempts are left); this is why the attempt failed.
    Retry(String),
}

pub fn after_store(result: Result<(), StoreError>) -> AfterStore {
    match result {
        Ok(()) => AfterStore::Stored,
        Err(StoreError::VersionConflict) => AfterStore::Conflict,
        Err(e) => AfterStore::Retry(format!("store: {}", chain_line(&e))),
    }
}

/// What a rotated grant does after its write lost a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterConflict {
    /// The newer write stored no newer tokens (say, a stale worker flagged
    /// the account with the tokens TikTok has just rotated away): write
    /// ours over this version.
    Rewrite(Box<Account>),
    /// The newer write stands: it stored newer tokens (a reconnect), or the
    /// account was disconnected or removed meanwhile.
    KeepTheirs(&'static str),
    /// The re-read failed; try again.
    Retry(String),
}

/// Decides on a lost compare-and-swap from the account as it now is, and
/// the sealed tokens we leased it with. TikTok has issued a grant that only
/// we hold: it is dropped only when a newer write made it moot.
pub fn after_conflict(
    current: Result<Option<Account>, StoreError>,
    leased_tokens: Option<&SealedTokens>,
) -> AfterConflict {
    match current {
        Ok(None) => AfterConflict::KeepTheirs("the account is gone"),
        Ok(Some(current)) if current.status == AccountStatus::Disconnected => {
            AfterConflict::KeepTheirs("the account was disconnected")
        }
        Ok(Some(current)) if current.sealed_tokens.as_ref() == leased_tokens => {
            AfterConflict::Rewrite(Box::new(current))
        }
        Ok(Some(_)) => AfterConflict::KeepTheirs("another writer stored newer tokens"),
        Err(e) => AfterConflict::Retry(format!("re-read: {}", chain_line(&e))),
    }
}

/// The outcome of flagging an account `reauth_required` with `reason`.
pub fn after_flag(result: Result<(), StoreError>, reason: String) -> Outcome {
    match result {
        Ok(()) => Outcome::ReauthRequired(reason),
        // Someone else wrote first; their write stands.
        Err(StoreError::VersionConflict) => Outcome::Skipped,
        Err(e) => Outcome::Failed(format!("flag: {}", chain_line(&e))),
    }
}

/// The account after a refresh that TikTok granted at `now`, as the next
/// version. A refresh token expiring within `reauth_lead` leaves a warning
/// in `last_error`, so the user reconnects before it dies.
pub fn refreshed(
    account: &Account,
    grant: &TokenGrant,
    sealed: SealedTokens,
    now: DateTime<Utc>,
    reauth_lead: Duration,
) -> Account {
    let lead = chrono::Duration::from_std(reauth_lead).unwrap_or_default();
    let warning = (grant.refresh_expires_at <= now + lead).then(|| {
        format!(
            "refresh_token_expiring: reconnect before {}",
            rfc3339(grant.refresh_expires_at)
        )
    });
    Account {
        status: AccountStatus::Active,
        scopes: grant.scopes.clone(),
        access_expires_at: grant.access_expires_at,
        refresh_expires_at: grant.refresh_expires_at,
        last_refreshed_at: Some(now),
        last_error: warning,
        token_version: account.token_version + 1,
        sealed_tokens: Some(sealed),
        ..account.clone()
    }
}

/// The account marked `reauth_required` with `reason`, as the next version
/// (which also drops it from the due index).
pub fn flagged(account: Account, reason: &str) -> Account {
    Account {
        status: AccountStatus::ReauthRequired,
        last_error: Some(reason.to_owned()),
        token_version: account.token_version + 1,
        ..account
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as Span;

    use super::super::fixtures::{account, grant, now, unavailable};
    use super::*;

    #[test]
    fn a_rotated_token_is_stored_or_retried_never_dropped_silently() {
        assert_eq!(after_store(Ok(())), AfterStore::Stored);
        assert_eq!(
            after_store(Err(StoreError::VersionConflict)),
            AfterStore::Conflict
        );
        assert!(matches!(
            after_store(Err(unavailable())),
            AfterStore::Retry(why) if why.starts_with("store: ")
        ));
        assert_eq!(
            after_flag(Ok(()), "invalid_grant".into()),
            Outcome::ReauthRequired("invalid_grant".into())
        );
        assert_eq!(
            after_flag(Err(StoreError::VersionConflict), "x".into()),
            Outcome::Skipped
        );
        assert!(matches!(
            after_flag(Err(unavailable()), "x".into()),
            Outcome::Failed(why) if why.starts_with("flag: ")
        ));
    }

    #[test]
    fn a_lost_compare_and_swap_keeps_a_rotated_grant_unless_a_newer_write_made_it_moot() {
        let leased = account(Span::days(1), true);
        let ours = leased.sealed_tokens.clone();
        // A stale worker flagged it, keeping the tokens we rotated away.
        let flagged_by_another = flagged(leased.clone(), "invalid_grant");
        assert_eq!(
            after_conflict(Ok(Some(flagged_by_another.clone())), ours.as_ref()),
            AfterConflict::Rewrite(Box::new(flagged_by_another))
        );
        // A reconnect stored newer tokens.
        let reconnected = Account {
            sealed_tokens: Some(SealedTokens::from_bytes(vec![9, 9])),
            token_version: 5,
            ..leased.clone()
        };
        assert!(matches!(
            after_conflict(Ok(Some(reconnected)), ours.as_ref()),
            AfterConflict::KeepTheirs(_)
        ));
        // Disconnected (tokens erased) or removed: nothing to resurrect.
        assert!(matches!(
            after_conflict(Ok(Some(leased.clone().disconnected())), ours.as_ref()),
            AfterConflict::KeepTheirs("the account was disconnected")
        ));
        assert!(matches!(
            after_conflict(Ok(None), ours.as_ref()),
            AfterConflict::KeepTheirs(_)
        ));
        assert!(matches!(
            after_conflict(Err(unavailable()), ours.as_ref()),
            AfterConflict::Retry(why) if why.starts_with("re-read: ")
        ));
    }

    #[test]
    fn a_refreshed_account_is_the_next_version_with_the_grants_expiries() {
        let before = account(Span::days(1), true);
        let sealed = SealedTokens::from_bytes(vec![7]);
        let lead = Duration::from_secs(7 * 86_400);
        let after = refreshed(
            &before,
            &grant("open-1", Span::days(180)),
            sealed.clone(),
            now(),
            lead,
        );
        assert_eq!(after.token_version, 5);
        assert_eq!(after.status, AccountStatus::Active);
        assert_eq!(after.access_expires_at, now() + Span::hours(2));
        assert_eq!(after.refresh_expires_at, now() + Span::days(180));
        assert_eq!(after.last_refreshed_at, Some(now()));
        assert_eq!(after.last_error, None);
        assert_eq!(after.sealed_tokens, Some(sealed.clone()));
        assert_eq!(after.scopes.to_string(), "user.info.basic,video.upload");
        assert_eq!(
            (after.owner, after.connected_at),
            (before.owner.clone(), before.connected_at)
        );
        // Within the lead: a warning that names the deadline.
        let soon = refreshed(
            &before,
            &grant("open-1", Span::days(3)),
            sealed,
            now(),
            lead,
        );
        assert_eq!(
            soon.last_error.as_deref(),
            Some("refresh_token_expiring: reconnect before 2027-01-18T08:00:00.000Z")
        );
        let flagged = flagged(before, "invalid_grant");
        assert_eq!(flagged.status, AccountStatus::ReauthRequired);
        assert_eq!(flagged.last_error.as_deref(), Some("invalid_grant"));
        assert_eq!(flagged.token_version, 5);
        assert_eq!(flagged.due_at(), None);
    }
}
