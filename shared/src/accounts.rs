//! What a user can see and do with their accounts: list, get, refresh now,
//! disconnect. Every operation acts only on the caller's accounts: another
//! user's account is "not found", exactly like a missing one.

use std::fmt;

use chrono::Utc;

use crate::{
    account::{Account, AccountId, AccountStatus, AccountView, UserId},
    error::chain_line,
    ratelimit::{self, Decision, RateLimit},
    refresh::{Outcome, Refresher},
    store::{Cursor, Store, StoreError},
    tiktok::{TikTokClient, TikTokError},
    tokens::{KmsSealer, SealError},
};

#[derive(thiserror::Error)]
pub enum AccountsError {
    /// Absent, or not the caller's: never say which.
    #[error("no such account")]
    NotFound,
    #[error("the cursor is not valid for this listing")]
    InvalidCursor,
    #[error("rate limit {scope} reached")]
    RateLimited {
        scope: &'static str,
        retry_after_seconds: u64,
    },
    #[error("the account is {0:?}, not active")]
    NotActive(AccountStatus),
    #[error("the account is being refreshed right now")]
    Busy,
    #[error("TikTok refused the refresh: {0}")]
    ReauthRequired(String),
    #[error("the refresh failed: {0}")]
    RefreshFailed(String),
    #[error("TikTok did not revoke the grant")]
    Revoke(#[source] TikTokError),
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
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

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    refresher: Refresher,
}

pub const DEFAULT_PAGE: i32 = 50;
pub const MAX_PAGE: i32 = 100;

impl Accounts {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        refresher: Refresher,
    ) -> Self {
        Self {
            store,
            sealer,
            tiktok,
            refresher,
        }
    }

    /// One rate-limit decision. The store failing is a 503: our API fails
    /// closed.
    pub async fn admit(&self, limit: &RateLimit, key: &str) -> Result<(), AccountsError> {
        match self.store.rate_hit(limit, key, Utc::now()).await? {
            Decision::Allowed { .. } => Ok(()),
            Decision::Denied {
                retry_after_seconds,
            } => Err(AccountsError::RateLimited {
                scope: limit.scope,
                retry_after_seconds,
            }),
        }
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

    /// Refreshes now, through the sweep's exactly-once path.
    #[tracing::instrument(name = "accounts.refresh", skip_all, fields(user = %user, account_id = %id))]
    pub async fn refresh(
        &self,
        user: &UserId,
        id: &AccountId,
    ) -> Result<AccountView, AccountsError> {
        let account = self.owned(user, id).await?;
        self.admit(&ratelimit::FORCED_REFRESHES_PER_ACCOUNT, id.as_ref())
            .await?;
        match self.refresher.refresh_now(id).await {
            Outcome::Refreshed => Ok(self.owned(user, id).await?.view()),
            Outcome::Skipped if account.status != AccountStatus::Active => {
                Err(AccountsError::NotActive(account.status))
            }
            Outcome::Skipped => Err(AccountsError::Busy),
            Outcome::ReauthRequired(reason) => Err(AccountsError::ReauthRequired(reason)),
            Outcome::Failed(error) => Err(AccountsError::RefreshFailed(error)),
        }
    }

    /// Revokes the grant at TikTok, erases the sealed tokens and marks the
    /// account `disconnected`. Disconnecting twice is harmless. A transient
    /// TikTok failure changes nothing (the tokens are kept so the revoke can
    /// be retried); a token TikTok no longer honours is simply erased.
    #[tracing::instrument(name = "accounts.disconnect", skip_all, fields(user = %user, account_id = %id))]
    pub async fn disconnect(&self, user: &UserId, id: &AccountId) -> Result<(), AccountsError> {
        for _ in 0..3 {
            let account = self.owned(user, id).await?;
            if account.status == AccountStatus::Disconnected {
                return Ok(());
            }
            if let Some(sealed) = &account.sealed_tokens {
                match self.sealer.open(id, sealed).await {
                    Ok(tokens) => match self.tiktok.revoke(&tokens.access).await {
                        Ok(()) => {}
                        Err(e) if e.is_transient() => return Err(AccountsError::Revoke(e)),
                        Err(e) => {
                            tracing::info!(error = %chain_line(&e), "TikTok no longer honours the token; erasing it")
                        }
                    },
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
