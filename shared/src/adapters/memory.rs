//! In-memory stand-ins for the refresh's ports, keeping the semantics the
//! real adapters have: accounts written only by compare-and-swap on
//! `token_version`, the due index as the store keeps it, leases taken and
//! released by condition, sealing bound to the account, and TikTok's strict
//! refresh-token rotation. For unit tests and simulations of the real
//! refresh code; no function runs on them.

use std::{
    collections::{BTreeMap, HashMap},
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
        AccountStore, DuePage, RefreshLeases, SealError, StoreError, TokenEndpoint, TokenSealer,
    },
    schedule::due_shard,
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

#[derive(Default)]
struct Item {
    account: Option<Account>,
    lease: Option<Lease>,
}

/// Accounts and their leases, as the table holds them.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<AccountId, Item>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl AccountStore for MemoryStore {
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        suspend().await;
        Ok(lock(&self.items)
            .get(id)
            .and_then(|item| item.account.clone()))
    }

    async fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        suspend().await;
        let mut items = lock(&self.items);
        let item = items.entry(account.id.clone()).or_default();
        let stored = item.account.as_ref().map(|a| a.token_version);
        match (expected_version, stored) {
            (None, Some(_)) => return Err(StoreError::AlreadyExists),
            (Some(expected), Some(version)) if expected != version => {
                return Err(StoreError::VersionConflict);
            }
            (Some(_), None) => return Err(StoreError::VersionConflict),
            _ => {}
        }
        // The whole item is replaced: the lease goes with the old one.
        *item = Item {
            account: Some(account.clone()),
            lease: None,
        };
        Ok(())
    }
}

impl RefreshLeases for MemoryStore {
    /// How many ids of the shard's due list were handed out already.
    type Cursor = usize;

    async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        start: Option<usize>,
    ) -> Result<DuePage<usize>, StoreError> {
        suspend().await;
        let items = lock(&self.items);
        let mut due: Vec<(DateTime<Utc>, &AccountId)> = items
            .iter()
            .filter_map(|(id, item)| Some((item.account.as_ref()?.due_at()?, id)))
            .filter(|(at, id)| *at <= now && due_shard(id) == shard)
            .collect();
        due.sort();
        let from = start.unwrap_or(0);
        let to = (from + usize::try_from(page_size.max(1)).unwrap_or(1)).min(due.len());
        Ok(DuePage {
            ids: due[from.min(to)..to]
                .iter()
                .map(|(_, id)| (*id).clone())
                .collect(),
            next: (to < due.len()).then_some(to),
        })
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
        let mut items = lock(&self.items);
        let item = items.get_mut(id).ok_or(StoreError::NotLeasable)?;
        let account = item.account.as_ref().ok_or(StoreError::NotLeasable)?;
        let leasable = account.status == AccountStatus::Active
            && account.sealed_tokens.is_some()
            && item.lease.as_ref().is_none_or(|lease| lease.until < now)
            && due_by.is_none_or(|by| account.due_at().is_some_and(|at| at <= by));
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
        let mut items = lock(&self.items);
        let item = held(&mut items, id, owner)?;
        item.lease = None;
        if let Some(account) = item.account.as_mut() {
            account.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn release_lease(&self, id: &AccountId, owner: &str) -> Result<(), StoreError> {
        suspend().await;
        let mut items = lock(&self.items);
        held(&mut items, id, owner)?.lease = None;
        Ok(())
    }
}

/// The item, if `owner` holds its lease.
fn held<'a>(
    items: &'a mut BTreeMap<AccountId, Item>,
    id: &AccountId,
    owner: &str,
) -> Result<&'a mut Item, StoreError> {
    items
        .get_mut(id)
        .filter(|item| item.lease.as_ref().is_some_and(|l| l.owner == owner))
        .ok_or(StoreError::NotLeasable)
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
