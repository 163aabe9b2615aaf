//! In-memory stand-ins for the refresh's ports, keeping the semantics the
//! real adapters have: accounts written only by compare-and-swap on
//! `token_version`, the due index as the store keeps it, leases taken and
//! released by condition, sealing bound to the account, and TikTok's strict
//! refresh-token rotation. For unit tests and simulations of the real
//! refresh code; no function runs on them.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::Bound,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    account::{Account, AccountStatus, Scopes},
    ids::AccountId,
    ports::{
        AccountStore, DuePage, QueueError, RefreshLeases, RefreshQueue, SealError, StoreError,
        TokenEndpoint, TokenSealer,
    },
    schedule::{DuePosition, DueShards, ShardSpan, Slice},
    secrets::{
        AccessToken, InvalidSecret, RefreshToken, SealedTokens, TokenSet, decode_plaintext,
        encode_plaintext,
    },
    tiktok::{TikTokError, TokenGrant},
};

/// Where a real adapter would wait on the network, a stand-in lets other
/// tasks run, so concurrent refreshes interleave as they would.
async fn suspend() {
    tokio::task::yield_now().await;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Lease {
    owner: String,
    until: DateTime<Utc>,
}

struct Item {
    account: Account,
    lease: Option<Lease>,
    /// Where the item sits in the due index, as written.
    due: Option<(u32, i64)>,
}

#[derive(Default)]
struct Table {
    items: HashMap<AccountId, Item>,
    /// The sparse due index: (shard, due_at, account), in the index's order.
    due: BTreeSet<(u32, i64, AccountId)>,
    span: Option<ShardSpan>,
}

/// Accounts and their leases, as the table holds them, with the due index
/// written as each account is (so a change of the shard count takes effect
/// account by account, as in the table).
pub struct MemoryStore {
    table: Mutex<Table>,
    shards: Mutex<DueShards>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_due_shards(DueShards::DEFAULT)
    }

    pub fn with_due_shards(shards: DueShards) -> Self {
        Self {
            table: Mutex::default(),
            shards: Mutex::new(shards),
        }
    }

    /// Accounts written from now on go to `shards` shards, as after a
    /// deployment that changes `REFRESH_SHARDS`.
    pub fn set_due_shards(&self, shards: DueShards) {
        *lock(&self.shards) = shards;
    }

    /// How many accounts each shard of the due index holds.
    pub fn shard_sizes(&self) -> BTreeMap<u32, usize> {
        let mut sizes = BTreeMap::new();
        for (shard, _, _) in &lock(&self.table).due {
            *sizes.entry(*shard).or_default() += 1;
        }
        sizes
    }
}

impl AccountStore for MemoryStore {
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        suspend().await;
        Ok(lock(&self.table)
            .items
            .get(id)
            .map(|item| item.account.clone()))
    }

    async fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        suspend().await;
        let shards = *lock(&self.shards);
        let mut table = lock(&self.table);
        let stored = table
            .items
            .get(&account.id)
            .map(|i| i.account.token_version);
        match (expected_version, stored) {
            (None, Some(_)) => return Err(StoreError::AlreadyExists),
            (Some(expected), Some(version)) if expected != version => {
                return Err(StoreError::VersionConflict);
            }
            (Some(_), None) => return Err(StoreError::VersionConflict),
            _ => {}
        }
        let due = account
            .due_at()
            .map(|at| (shards.of(&account.id), at.timestamp()));
        // The whole item is replaced: the lease goes with the old one.
        let old = table.items.insert(
            account.id.clone(),
            Item {
                account: account.clone(),
                lease: None,
                due,
            },
        );
        if let Some((shard, at)) = old.and_then(|old| old.due) {
            table.due.remove(&(shard, at, account.id.clone()));
        }
        if let Some((shard, at)) = due {
            table.due.insert((shard, at, account.id.clone()));
        }
        Ok(())
    }
}

impl RefreshLeases for MemoryStore {
    async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        after: Option<&DuePosition>,
    ) -> Result<DuePage, StoreError> {
        suspend().await;
        let table = lock(&self.table);
        let size = usize::try_from(page_size.max(1)).unwrap_or(1);
        let from = match after {
            Some(p) => Bound::Excluded((shard, p.due_at, p.account_id.clone())),
            None => Bound::Included((shard, i64::MIN, AccountId::parse("-").map_err(corrupt)?)),
        };
        let until = (
            shard,
            now.timestamp(),
            AccountId::parse("~".repeat(128)).map_err(corrupt)?,
        );
        let mut range = table
            .due
            .range((from, Bound::Included(until)))
            .map(|(_, due_at, id)| DuePosition {
                due_at: *due_at,
                account_id: id.clone(),
            });
        let accounts: Vec<DuePosition> = range.by_ref().take(size).collect();
        Ok(DuePage {
            more: range.next().is_some(),
            accounts,
        })
    }

    async fn shard_has_accounts(&self, shard: u32) -> Result<bool, StoreError> {
        suspend().await;
        Ok(lock(&self.table)
            .due
            .range((shard, i64::MIN, AccountId::parse("-").map_err(corrupt)?)..)
            .next()
            .is_some_and(|(s, _, _)| *s == shard))
    }

    async fn shard_span(&self) -> Result<Option<ShardSpan>, StoreError> {
        suspend().await;
        Ok(lock(&self.table).span)
    }

    async fn record_shard_span(&self, span: &ShardSpan) -> Result<(), StoreError> {
        suspend().await;
        lock(&self.table).span = Some(*span);
        Ok(())
    }

    async fn acquire_lease(
        &self,
        id: &AccountId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Account, StoreError> {
        suspend().await;
        let mut table = lock(&self.table);
        let item = table.items.get_mut(id).ok_or(StoreError::NotLeasable)?;
        let account = &item.account;
        let leasable = account.status == AccountStatus::Active
            && account.sealed_tokens.is_some()
            && item.lease.as_ref().is_none_or(|lease| lease.until < now)
            && due_by.is_none_or(|by| item.due.is_some_and(|(_, at)| at <= by.timestamp()));
        if !leasable {
            return Err(StoreError::NotLeasable);
        }
        let account = account.clone();
        item.lease = Some(Lease {
            owner: owner.to_owned(),
            until,
        });
        Ok(account)
    }

    async fn record_failure(
        &self,
        id: &AccountId,
        owner: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        suspend().await;
        let mut table = lock(&self.table);
        let item = held(&mut table.items, id, owner)?;
        item.lease = None;
        item.account.last_error = Some(error.to_owned());
        Ok(())
    }

    async fn release_lease(&self, id: &AccountId, owner: &str) -> Result<(), StoreError> {
        suspend().await;
        let mut table = lock(&self.table);
        held(&mut table.items, id, owner)?.lease = None;
        Ok(())
    }
}

fn corrupt(e: crate::domain::ids::InvalidId) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The item, if `owner` holds its lease.
fn held<'a>(
    items: &'a mut HashMap<AccountId, Item>,
    id: &AccountId,
    owner: &str,
) -> Result<&'a mut Item, StoreError> {
    items
        .get_mut(id)
        .filter(|item| item.lease.as_ref().is_some_and(|l| l.owner == owner))
        .ok_or(StoreError::NotLeasable)
}

/// The refresh queue: slices in the order sent, taken one at a time once
/// their delay (on tokio's clock) has passed.
#[derive(Default)]
pub struct MemoryQueue {
    slices: Mutex<std::collections::VecDeque<(tokio::time::Instant, Slice)>>,
    sent: AtomicU64,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The oldest slice that may be taken now, if any.
    pub fn take(&self) -> Option<Slice> {
        let now = tokio::time::Instant::now();
        let mut slices = lock(&self.slices);
        let at = slices.iter().position(|(visible, _)| *visible <= now)?;
        slices.remove(at).map(|(_, slice)| slice)
    }

    /// Slices waiting.
    pub fn len(&self) -> usize {
        lock(&self.slices).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slices ever sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl RefreshQueue for MemoryQueue {
    async fn send_slices(
        &self,
        slices: &[Slice],
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        suspend().await;
        let visible = tokio::time::Instant::now() + delay;
        lock(&self.slices).extend(slices.iter().map(|s| (visible, s.clone())));
        self.sent.fetch_add(slices.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

/// Seals by writing the account's id beside the plaintext: a ciphertext
/// opens only for its own account, as under KMS's encryption context.
#[derive(Default)]
pub struct MemorySealer;

impl TokenSealer for MemorySealer {
    async fn seal(
        &self,
        account: &AccountId,
        tokens: &TokenSet,
    ) -> Result<SealedTokens, SealError> {
        suspend().await;
        let mut bytes = format!("{account}\n").into_bytes();
        bytes.extend_from_slice(encode_plaintext(tokens).as_bytes());
        Ok(SealedTokens::from_bytes(bytes))
    }

    async fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> Result<TokenSet, SealError> {
        suspend().await;
        let prefix = format!("{account}\n");
        sealed
            .as_bytes()
            .strip_prefix(prefix.as_bytes())
            .and_then(decode_plaintext)
            .ok_or(SealError::Rejected)
    }
}

/// TikTok's token endpoint with strict rotation: each refresh token works
/// once, and the new one expires no later than the one it replaces.
pub struct MemoryTikTok {
    grants: Mutex<HashMap<String, (AccountId, DateTime<Utc>)>>,
    issued: AtomicU64,
    refreshes: AtomicU64,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
}

impl MemoryTikTok {
    /// Grants living `access_lifetime` and `refresh_lifetime`.
    pub fn new(access_lifetime: Duration, refresh_lifetime: Duration) -> Self {
        Self {
            grants: Mutex::default(),
            issued: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            access_lifetime,
            refresh_lifetime,
        }
    }

    /// A new grant for `account`, as a connect would get at `now`.
    pub fn issue(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, InvalidSecret> {
        self.mint(account, now + self.refresh_lifetime)
    }

    /// Refreshes TikTok has granted.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    fn mint(
        &self,
        account: &AccountId,
        refresh_expires_at: DateTime<Utc>,
    ) -> Result<TokenSet, InvalidSecret> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let token = |kind: &str| format!("{kind}.{account}.{n}");
        let tokens = TokenSet {
            access: AccessToken::parse(token("act"))?,
            refresh: RefreshToken::parse(token("rft"))?,
        };
        lock(&self.grants).insert(token("rft"), (account.clone(), refresh_expires_at));
        Ok(tokens)
    }
}

impl TokenEndpoint for MemoryTikTok {
    async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<TokenGrant, TikTokError> {
        suspend().await;
        let spent = lock(&self.grants).remove(refresh_token.expose());
        let Some((account, refresh_expires_at)) = spent.filter(|(_, until)| *until > now) else {
            return Err(TikTokError::OAuth {
                status: 400,
                code: "invalid_grant".into(),
                description: "Refresh token is invalid or expired".into(),
                log_id: None,
            });
        };
        let tokens =
            self.mint(&account, refresh_expires_at)
                .map_err(|e| TikTokError::Malformed {
                    status: 200,
                    reason: e.to_string(),
                })?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(TokenGrant {
            tokens,
            open_id: account,
            scopes: Scopes::parse("user.info.basic").unwrap_or_default(),
            access_expires_at: now + self.access_lifetime,
            refresh_expires_at,
        })
    }
}
