//! What a user can see and do with their accounts: list, get, refresh now,
//! disconnect. Every operation acts only on the caller's accounts: another
//! user's account is "not found", exactly like a missing one.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    adapters::{
        kms::KmsSealer,
        store::{Store, accounts::Cursor},
        tiktok::{client::TikTokClient, posting::CreatorInfo},
    },
    domain::{
        account::{Account, AccountStatus, AccountView},
        creator::{
            AppAudit, CREATOR_INFO_FRESH_SECONDS, CREATOR_INFO_VALID_SECONDS, CreatorView,
            posting_refusal,
        },
        ids::{AccountId, UserId},
        ports::{AccountStore, SealError, StoreError, TokenSealer},
        ratelimit::{RateLimit, TIKTOK_CREATOR_INFO},
        tiktok::TikTokError,
        time::rfc3339,
    },
    service::{
        limits::{LimitError, Limiter},
        refresh::{Outcome, Refresher},
    },
    support::{clock::Clock, deadline::Deadline, errors::chain_line},
};

/// Forced refreshes, per account.
pub const FORCED_REFRESHES_PER_ACCOUNT: RateLimit = RateLimit {
    scope: "forced-refresh",
    max: 3,
    window: Duration::from_secs(900),
};

pub const DEFAULT_PAGE: i32 = 50;
pub const MAX_PAGE: i32 = 100;

#[derive(thiserror::Error)]
pub enum AccountsError {
    /// Absent, or not the caller's: never say which.
    #[error("no such account")]
    NotFound,
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("the account is {0:?}, not active")]
    NotActive(AccountStatus),
    #[error("the account is being refreshed right now")]
    Busy,
    #[error("TikTok refused the refresh: {0}")]
    ReauthRequired(String),
    #[error("the refresh failed: {0}")]
    RefreshFailed(String),
    #[error("no time was left to refresh before the deadline")]
    Deadline,
    #[error("TikTok did not revoke the grant")]
    Revoke(#[source] TikTokError),
    #[error("the account did not grant {0}")]
    ScopeMissing(&'static str),
    #[error("TikTok no longer accepts the account's access token")]
    TokenRefused(#[source] TikTokError),
    #[error("TikTok did not answer the creator info")]
    CreatorInfo(#[source] TikTokError),
    #[error("TikTok is unavailable")]
    TikTokUnavailable(#[source] TikTokError),
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

impl From<StoreError> for AccountsError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<SealError> for AccountsError {
    fn from(e: SealError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

/// A page of the caller's accounts.
pub struct Listing {
    pub accounts: Vec<AccountView>,
    pub next_cursor: Option<String>,
}

/// What a forced refresh's outcome means to the caller who asked for it;
/// `status` is the account's status before the refresh.
fn forced_refresh_result(outcome: Outcome, status: AccountStatus) -> Result<(), AccountsError> {
    match outcome {
        Outcome::Refreshed => Ok(()),
        Outcome::Skipped if status != AccountStatus::Active => {
            Err(AccountsError::NotActive(status))
        }
        Outcome::Skipped => Err(AccountsError::Busy),
        Outcome::ReauthRequired(reason) => Err(AccountsError::ReauthRequired(reason)),
        Outcome::Failed(error) => Err(AccountsError::RefreshFailed(error)),
        Outcome::Left => Err(AccountsError::Deadline),
    }
}

/// The view of a creator's info, or of TikTok's "not now".
fn creator_view(
    id: &AccountId,
    answer: Result<CreatorInfo, TikTokError>,
    now: DateTime<Utc>,
) -> Result<CreatorView, AccountsError> {
    let fetched_at = rfc3339(now);
    match answer {
        Ok(info) => Ok(CreatorView {
            account_id: id.to_string(),
            nickname: info.creator_nickname,
            username: info.creator_username,
            avatar_url: info.creator_avatar_url,
            privacy_level_options: info.privacy_level_options,
            comment_disabled: info.comment_disabled,
            duet_disabled: info.duet_disabled,
            stitch_disabled: info.stitch_disabled,
            max_video_post_duration_sec: info.max_video_post_duration_sec,
            can_post: true,
            fetched_at,
            ..CreatorView::default()
        }),
        Err(TikTokError::Api { ref code, .. }) if posting_refusal(code).is_some() => {
            Ok(CreatorView {
                account_id: id.to_string(),
                can_post: false,
                reason: posting_refusal(code).map(str::to_owned),
                fetched_at,
                ..CreatorView::default()
            })
        }
        Err(e) if e.is_transient() => Err(AccountsError::TikTokUnavailable(e)),
        Err(e @ TikTokError::Api { status: 401, .. }) => Err(AccountsError::TokenRefused(e)),
        Err(e) => Err(AccountsError::CreatorInfo(e)),
    }
}

/// How close to its expiry an access token is too old to revoke with.
const REVOKE_MARGIN: chrono::Duration = chrono::Duration::minutes(1);

/// Whether the account's access token must be refreshed before it can
/// revoke the grant: an active account (a refresh may still work) whose
/// token has expired or is about to.
fn needs_refresh_to_revoke(account: &Account, now: DateTime<Utc>) -> bool {
    account.status == AccountStatus::Active
        && account.sealed_tokens.is_some()
        && account.access_expires_at <= now + REVOKE_MARGIN
}

/// What a disconnect does after asking TikTok to revoke: go on and erase
/// (revoked, or a token TikTok no longer honours), or stop and keep the
/// tokens so the revoke can be retried (TikTok unavailable).
fn after_revoke(result: Result<(), TikTokError>) -> Result<(), AccountsError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() => Err(AccountsError::Revoke(e)),
        Err(e) => {
            tracing::info!(error = %chain_line(&e), "TikTok no longer honours the token; erasing it");
            Ok(())
        }
    }
}

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    limiter: Limiter,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    refresher: Refresher,
    clock: Clock,
    audit: AppAudit,
}

impl Accounts {
    pub fn new(
        store: Store,
        limiter: Limiter,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        refresher: Refresher,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            limiter,
            sealer,
            tiktok,
            refresher,
            clock,
            audit: AppAudit::Unaudited,
        }
    }

    /// Whether TikTok has audited the app (what creator info offers).
    pub fn with_audit(self, audit: AppAudit) -> Self {
        Self { audit, ..self }
    }

    /// One call of `user`'s to the API, counted against the per-user limit.
    pub async fn admit_api_call(&self, user: &UserId) -> Result<(), AccountsError> {
        Ok(self.limiter.admit_api_call(user).await?)
    }

    #[tracing::instrument(name = "accounts.list", skip_all, fields(user = %user))]
    pub async fn list(
        &self,
        user: &UserId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Listing, AccountsError> {
        let start = cursor
            .map(|raw| Cursor::decode(raw, user).ok_or(AccountsError::InvalidCursor))
            .transpose()?;
        let page = self
            .store
            .accounts_of(user, limit.clamp(1, MAX_PAGE), start.as_ref())
            .await?;
        Ok(Listing {
            accounts: page.accounts.iter().map(Account::view).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        })
    }

    /// The caller's account, or `NotFound`.
    async fn owned(&self, user: &UserId, id: &AccountId) -> Result<Account, AccountsError> {
        match self.store.get_account(id).await? {
            Some(account) if &account.owner == user => Ok(account),
            _ => Err(AccountsError::NotFound),
        }
    }

    #[tracing::instrument(name = "accounts.get", skip_all, fields(user = %user, account_id = %id))]
    pub async fn get(&self, user: &UserId, id: &AccountId) -> Result<AccountView, AccountsError> {
        Ok(self.owned(user, id).await?.view())
    }

    /// Refreshes now, through the sweep's exactly-once path, making only
    /// the attempts that can finish before `deadline`.
    #[tracing::instrument(name = "accounts.refresh", skip_all, fields(user = %user, account_id = %id))]
    pub async fn refresh(
        &self,
        user: &UserId,
        id: &AccountId,
        deadline: Deadline,
    ) -> Result<AccountView, AccountsError> {
        let account = self.owned(user, id).await?;
        self.limiter
            .admit(&FORCED_REFRESHES_PER_ACCOUNT, id.as_ref())
            .await?;
        let outcome = self.refresher.refresh_now_within(id, deadline).await;
        forced_refresh_result(outcome, account.status)?;
        Ok(self.owned(user, id).await?.view())
    }

    /// What the creator may post now (TikTok's creator info), asked at most
    /// once a minute per account and within TikTok's 20 a minute per token.
    #[tracing::instrument(name = "accounts.creator_info", skip_all, fields(user = %user, account_id = %id))]
    pub async fn creator_info(
        &self,
        user: &UserId,
        id: &AccountId,
    ) -> Result<CreatorView, AccountsError> {
        let account = self.owned(user, id).await?;
        let Some(sealed) = account
            .sealed_tokens
            .as_ref()
            .filter(|_| account.status == AccountStatus::Active)
        else {
            return Err(AccountsError::NotActive(account.status));
        };
        if !account.scopes.contains("video.publish") {
            return Err(AccountsError::ScopeMissing("video.publish"));
        }
        let now = self.clock.now();
        if let Some(kept) = self
            .store
            .kept_creator(&account, now, CREATOR_INFO_FRESH_SECONDS)
            .await?
        {
            return Ok(kept.offered(self.audit));
        }
        self.limiter
            .admit(&TIKTOK_CREATOR_INFO, id.as_ref())
            .await?;
        let tokens = match self.sealer.open(id, sealed).await {
            Ok(tokens) => tokens,
            Err(SealError::Rejected) => return Err(AccountsError::NotActive(account.status)),
            Err(e) => return Err(e.into()),
        };
        let view = creator_view(id, self.tiktok.creator_info(&tokens.access).await, now)?;
        let expires = now + chrono::Duration::seconds(CREATOR_INFO_VALID_SECONDS);
        self.store
            .put_creator(id, &view, account.token_version, now, expires)
            .await?;
        Ok(view.offered(self.audit))
    }

    /// Revokes the grant at TikTok, erases the sealed tokens and marks the
    /// account `disconnected`. Disconnecting twice is harmless. An access
    /// token that has expired cannot end the grant, so an active account's
    /// is refreshed first (within `deadline`). A transient TikTok failure
    /// changes nothing (the tokens are kept so the disconnect can be
    /// retried); a token TikTok no longer honours is simply erased.
    #[tracing::instrument(name = "accounts.disconnect", skip_all, fields(user = %user, account_id = %id))]
    pub async fn disconnect(
        &self,
        user: &UserId,
        id: &AccountId,
        deadline: Deadline,
    ) -> Result<(), AccountsError> {
        let mut refreshed = false;
        for _ in 0..3 {
            let account = self.owned(user, id).await?;
            if account.status == AccountStatus::Disconnected {
                return Ok(());
            }
            if !refreshed && needs_refresh_to_revoke(&account, self.clock.now()) {
                refreshed = true;
                tracing::info!("the access token has expired; refreshing it to revoke the grant");
                match self.refresher.refresh_now_within(id, deadline).await {
                    // The grant is gone at TikTok already: only erase.
                    Outcome::Refreshed | Outcome::ReauthRequired(_) => continue,
                    Outcome::Skipped => return Err(AccountsError::Busy),
                    Outcome::Failed(error) => return Err(AccountsError::RefreshFailed(error)),
                    Outcome::Left => return Err(AccountsError::Deadline),
                }
            }
            if let Some(sealed) = &account.sealed_tokens {
                match self.sealer.open(id, sealed).await {
                    Ok(tokens) => after_revoke(self.tiktok.revoke(&tokens.access).await)?,
                    Err(SealError::Rejected) => {
                        tracing::warn!("sealed tokens do not open; erasing them")
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let expected = account.token_version;
            let disconnected = account.disconnected();
            match self.store.put_account(&disconnected, Some(expected)).await {
                Ok(()) => {
                    tracing::info!("account disconnected");
                    return Ok(());
                }
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AccountsError::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_refresh_tells_the_caller_what_happened() {
        use AccountStatus::*;
        let cases = [
            (Outcome::Refreshed, Active, "ok"),
            (Outcome::Skipped, Active, "busy"),
            (Outcome::Skipped, ReauthRequired, "not_active"),
            (Outcome::Skipped, Disconnected, "not_active"),
            (
                Outcome::ReauthRequired("invalid_grant".into()),
                Active,
                "reauth",
            ),
            (Outcome::Failed("timeout".into()), Active, "failed"),
            (Outcome::Left, Active, "deadline"),
        ];
        for (outcome, status, expected) in cases {
            let got = match forced_refresh_result(outcome.clone(), status) {
                Ok(()) => "ok",
                Err(AccountsError::Busy) => "busy",
                Err(AccountsError::NotActive(s)) if s == status => "not_active",
                Err(AccountsError::ReauthRequired(_)) => "reauth",
                Err(AccountsError::RefreshFailed(_)) => "failed",
                Err(AccountsError::Deadline) => "deadline",
                Err(e) => panic!("{e}"),
            };
            assert_eq!(got, expected, "{outcome:?} on {status:?}");
        }
    }

    #[test]
    fn a_disconnect_stops_only_when_tiktok_may_still_honour_the_token() {
        let oauth = |status, code: &str| TikTokError::OAuth {
            status,
            code: code.into(),
            description: String::new(),
            log_id: None,
        };
        assert!(after_revoke(Ok(())).is_ok());
        assert!(after_revoke(Err(oauth(400, "invalid_request"))).is_ok());
        assert!(after_revoke(Err(oauth(401, "access_token_invalid"))).is_ok());
        assert!(matches!(
            after_revoke(Err(oauth(503, "temporarily_unavailable"))),
            Err(AccountsError::Revoke(_))
        ));
        assert!(matches!(
            after_revoke(Err(TikTokError::Timeout)),
            Err(AccountsError::Revoke(_))
        ));
    }
}
