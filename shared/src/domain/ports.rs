//! The narrow ports through which the refresh reaches the store, KMS and
//! TikTok, so that the same refresh code runs on the real adapters and on
//! in-memory stand-ins (unit tests, simulations); and the errors every
//! adapter behind a port must answer with.
//!
//! Each port documents which variant an adapter MUST return for which
//! outcome: the services decide on those variants, never on SDK errors.

use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};

use super::{
    account::Account,
    ids::AccountId,
    schedule::{DuePosition, ShardSpan, Slice},
    secrets::{RefreshToken, SealedTokens, TokenSet},
    tiktok::{TikTokError, TokenGrant},
};

#[derive(thiserror::Error)]
pub enum StoreError {
    /// A create found the item already there.
    #[error("the item already exists")]
    AlreadyExists,
    /// A compare-and-swap found another version: someone else wrote first.
    #[error("the item changed since it was read")]
    VersionConflict,
    #[error("no such item")]
    NotFound,
    /// A conditional transition was refused: the item is held by another
    /// worker, not due, not in a state that allows it, or gone.
    #[error("the item is not available for this transition")]
    NotLeasable,
    #[error("a stored item is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

#[derive(thiserror::Error)]
pub enum SealError {
    /// The ciphertext does not open: it was tampered with, or it belongs to
    /// another account (encryption context mismatch).
    #[error("the sealed tokens do not open for this account")]
    Rejected,
    #[error("KMS is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// Accounts by id, written only by compare-and-swap on `token_version`.
pub trait AccountStore: Send + Sync {
    /// The account, read consistently; `None` when there is none.
    fn get_account(
        &self,
        id: &AccountId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Writes the whole account. With `expected_version: None` the account
    /// must not exist yet (MUST answer `AlreadyExists` otherwise); with
    /// `Some(v)` the stored `token_version` must still be `v` (MUST answer
    /// `VersionConflict` otherwise). `account.token_version` is the version
    /// written.
    fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A page of the due index, in its order: each account with its position,
/// and whether more may follow the last.
pub struct DuePage {
    pub accounts: Vec<DuePosition>,
    pub more: bool,
}

impl DuePage {
    /// Where the next page starts, if there is one.
    pub fn next(&self) -> Option<&DuePosition> {
        self.accounts.last().filter(|_| self.more)
    }
}

/// The due index, the record of which shards it spans, and the refresh
/// leases on accounts.
pub trait RefreshLeases: Send + Sync {
    /// One page of the accounts in `shard` whose `due_at` is at or before
    /// `now`, at most `page_size` long, strictly after `after` in the
    /// index's order (`due_at`, then account id); `after` need not be an
    /// account that is still there.
    fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        after: Option<&DuePosition>,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;

    /// Whether `shard` holds any account at all, due or not.
    fn shard_has_accounts(
        &self,
        shard: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The recorded span of the due index (`None` before the first plan).
    fn shard_span(&self) -> impl Future<Output = Result<Option<ShardSpan>, StoreError>> + Send;

    /// Records the span of the due index.
    fn record_shard_span(
        &self,
        span: &ShardSpan,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the refresh lease on an active account with tokens, whose lease
    /// is free or expired at `now`, until `until`, and returns the account
    /// as it now stands. With `due_by: Some(t)` the account must also still
    /// be due at `t`. MUST answer `NotLeasable` when any condition fails.
    fn acquire_lease(
        &self,
        id: &AccountId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        due_by: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Records a failed refresh (`last_error`, one more failure) and
    /// releases `owner`'s lease. MUST answer `NotLeasable` when `owner` no
    /// longer holds it.
    fn record_failure(
        &self,
        id: &AccountId,
        owner: &str,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases `owner`'s lease, changing nothing else. MUST answer
    /// `NotLeasable` when `owner` no longer holds it.
    fn release_lease(
        &self,
        id: &AccountId,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Seals an account's tokens so that they open only for that account.
pub trait TokenSealer: Send + Sync {
    fn seal(
        &self,
        account: &AccountId,
        tokens: &TokenSet,
    ) -> impl Future<Output = Result<SealedTokens, SealError>> + Send;

    /// MUST answer `Rejected` for a ciphertext that is corrupt or another
    /// account's, and `Unavailable` only for an outage.
    fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> impl Future<Output = Result<TokenSet, SealError>> + Send;
}

#[derive(thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// The refresh queue: where a plan sends its slices and a worker sends the
/// rest of one, each to be taken by one refresh worker.
pub trait RefreshQueue: Send + Sync {
    /// Sends every slice, to be taken no sooner than `delay` from now (at
    /// most 15 minutes), or fails (some may have been sent: a slice taken
    /// twice refreshes nothing twice).
    fn send_slices(
        &self,
        slices: &[Slice],
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// TikTok's token endpoint, for refreshes.
pub trait TokenEndpoint: Send + Sync {
    /// Exchanges `refresh_token` for a new grant, whose expiries count from
    /// `now`.
    fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TokenGrant, TikTokError>> + Send;
}

// A shared port is the port: the refresher and its callers (a planner and
// its workers, a test and what it inspects) may hold one adapter together.

impl<T: AccountStore> AccountStore for Arc<T> {
    fn get_account(
        &self,
        id: &AccountId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        (**self).get_account(id)
    }

    fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put_account(account, expected_version)
    }
}

impl<T: RefreshLeases> RefreshLeases for Arc<T> {
    fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        after: Option<&DuePosition>,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send {
        (**self).due_page(shard, now, page_size, after)
    }

    fn shard_has_accounts(
        &self,
        shard: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).shard_has_accounts(shard)
    }

    fn shard_span(&self) -> impl Future<Output = Result<Option<ShardSpan>, StoreError>> + Send {
        (**self).shard_span()
    }

    fn record_shard_span(
        &self,
        span: &ShardSpan,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).record_shard_span(span)
    }

    fn acquire_lease(
        &self,
        id: &AccountId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        due_by: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send {
        (**self).acquire_lease(id, owner, now, until, due_by)
    }

    fn record_failure(
        &self,
        id: &AccountId,
        owner: &str,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).record_failure(id, owner, error)
    }

    fn release_lease(
        &self,
        id: &AccountId,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release_lease(id, owner)
    }
}

impl<T: TokenSealer> TokenSealer for Arc<T> {
    fn seal(
        &self,
        account: &AccountId,
        tokens: &TokenSet,
    ) -> impl Future<Output = Result<SealedTokens, SealError>> + Send {
        (**self).seal(account, tokens)
    }

    fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> impl Future<Output = Result<TokenSet, SealError>> + Send {
        (**self).open(account, sealed)
    }
}

impl<T: RefreshQueue> RefreshQueue for Arc<T> {
    fn send_slices(
        &self,
        slices: &[Slice],
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send_slices(slices, delay)
    }
}

impl<T: TokenEndpoint> TokenEndpoint for Arc<T> {
    fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TokenGrant, TikTokError>> + Send {
        (**self).refresh(refresh_token, now)
    }
}
