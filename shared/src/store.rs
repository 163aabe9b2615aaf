//! The DynamoDB adapter: one table, items keyed `pk`/`sk`.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account | `ACCOUNT#{open_id}` | `ACCOUNT` |
//! | OAuth state | `STATE#{sha256(state)}` | `STATE` |
//!
//! Conditional writes are the only lock. Every account write is a
//! compare-and-swap on `token_version`; states are consumed by a conditional
//! delete, so each is used at most once. No `SdkError` leaves this module.

use std::{collections::HashMap, fmt};

mod uploads;

pub use uploads::{EventClaim, upload_from_item, upload_to_item};

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    primitives::Blob,
    types::{AttributeValue, ReturnValue},
};
use chrono::{DateTime, TimeZone, Utc};

use crate::{
    account::{Account, AccountId, AccountStatus, Profile, Scopes, UserId, due_shard, rfc3339},
    config::TableName,
    ratelimit::{Decision, RateLimit},
    tokens::{OAuthState, SealedTokens},
};

type Item = HashMap<String, AttributeValue>;

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
    /// The account cannot be leased now: another holder's lease is live, it
    /// is not due, or it is not an active account with tokens.
    #[error("the account is not available for a lease")]
    NotLeasable,
    #[error("a stored item is corrupt: {0}")]
    Corrupt(String),
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

fn unavailable<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Unavailable(anyhow::Error::new(e).context(operation))
}

/// Maps a failed write: a failed condition becomes `on_failed_condition`,
/// anything else `Unavailable` with the operation as context.
fn on_condition<E, R>(
    on_failed_condition: StoreError,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        if e.code() == Some("ConditionalCheckFailedException") {
            on_failed_condition
        } else {
            unavailable(operation)(e)
        }
    }
}

/// A started OAuth flow, waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn account_key(id: &AccountId) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ACCOUNT#{id}"))),
        ("sk".to_owned(), AttributeValue::S("ACCOUNT".to_owned())),
    ])
}

/// States are keyed by their SHA-256, never stored raw: someone who can read
/// the table (or a TRACE log of its responses) cannot complete a flow.
fn state_key(state: &OAuthState) -> Item {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(state.expose().as_bytes()));
    HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("STATE#{digest}")),
        ),
        ("sk".to_owned(), AttributeValue::S("STATE".to_owned())),
    ])
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &TableName) -> Self {
        Self {
            client,
            table: table.as_ref().to_owned(),
        }
    }

    /// Records a started OAuth flow. `ttl` lets DynamoDB clean it up; expiry
    /// is also checked in code because TTL deletion lags.
    #[tracing::instrument(name = "store.put_state", skip_all, fields(user = %record.user))]
    pub async fn put_state(
        &self,
        state: &OAuthState,
        record: &StateRecord,
    ) -> Result<(), StoreError> {
        let mut item = state_key(state);
        item.insert("user".into(), s(record.user.as_ref()));
        item.insert("created_at".into(), n(record.created_at.timestamp()));
        item.insert("expires_at".into(), n(record.expires_at.timestamp()));
        item.insert("ttl".into(), n(record.expires_at.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(on_condition(
                StoreError::AlreadyExists,
                "DynamoDB PutItem (state)",
            ))?;
        Ok(())
    }

    /// Deletes the state and returns what it held: exactly one caller can
    /// ever consume a given state. `NotFound` means forged or already used.
    #[tracing::instrument(name = "store.consume_state", skip_all)]
    pub async fn consume_state(&self, state: &OAuthState) -> Result<StateRecord, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(state_key(state)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotFound,
                "DynamoDB DeleteItem (state)",
            ))?;
        let item = output.attributes.ok_or(StoreError::NotFound)?;
        Ok(StateRecord {
            user: UserId::parse(get_s(&item, "user")?)
                .map_err(|e| StoreError::Corrupt(format!("state user: {e}")))?,
            created_at: get_time(&item, "created_at")?,
            expires_at: get_time(&item, "expires_at")?,
        })
    }

    /// The account, read consistently.
    #[tracing::instrument(name = "store.get_account", skip_all, fields(account_id = %id))]
    pub async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (account)"))?;
        output.item.map(|item| account_from_item(&item)).transpose()
    }

    /// Writes the whole account. With `expected_version: None` the account
    /// must not exist yet (`AlreadyExists` otherwise); with `Some(v)` the
    /// stored `token_version` must still be `v` (`VersionConflict`
    /// otherwise). `account.token_version` is the version written.
    #[tracing::instrument(name = "store.put_account", skip_all, fields(account_id = %account.id, version = account.token_version))]
    pub async fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(account_to_item(account)));
        request = match expected_version {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(version) => request
                .condition_expression("token_version = :expected")
                .expression_attribute_values(":expected", n(version as i64)),
        };
        let conflict = match expected_version {
            None => StoreError::AlreadyExists,
            Some(_) => StoreError::VersionConflict,
        };
        request
            .send()
            .await
            .map_err(on_condition(conflict, "DynamoDB PutItem (account)"))?;
        Ok(())
    }
}

/// A page of due account ids from the sparse `due` index, and where the
/// next page starts.
pub struct DuePage {
    pub ids: Vec<AccountId>,
    pub next: Option<Item>,
}

impl Store {
    /// One page of the accounts in `shard` whose `due_at` has passed: a Query
    /// on the sparse `due` index, never a Scan.
    #[tracing::instrument(name = "store.due_page", skip_all, fields(shard))]
    pub async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        start: Option<Item>,
    ) -> Result<DuePage, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("due")
            .key_condition_expression("due_shard = :shard AND due_at <= :now")
            .expression_attribute_values(":shard", s(shard.to_string()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .limit(page_size)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (due)"))?;
        let ids = output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                get_s(item, "pk").and_then(|pk| {
                    pk.strip_prefix("ACCOUNT#")
                        .and_then(|id| AccountId::parse(id).ok())
                        .ok_or_else(|| StoreError::Corrupt(format!("due index key {pk}")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DuePage {
            ids,
            next: output.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Takes the refresh lease on an active account with tokens, by
    /// conditional write, and returns the account as it now stands (so no
    /// second read is needed). With `due_by: Some(now)` the account must also
    /// still be due: a sweep that read a stale index entry finds it already
    /// refreshed and backs off. `NotLeasable` when any condition fails.
    #[tracing::instrument(name = "store.acquire_lease", skip_all, fields(account_id = %id))]
    pub async fn acquire_lease(
        &self,
        id: &AccountId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Account, StoreError> {
        let mut condition = "attribute_exists(pk) AND #status = :active \
            AND attribute_exists(sealed_tokens) \
            AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            .to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(id)))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(AccountStatus::Active.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.timestamp()))
            .return_values(ReturnValue::AllNew);
        if let Some(due_by) = due_by {
            condition.push_str(" AND due_at <= :due_by");
            request = request.expression_attribute_values(":due_by", n(due_by.timestamp()));
        }
        let output = request
            .condition_expression(condition)
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (lease)",
            ))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("lease returned no item".into()))?;
        account_from_item(&item)
    }

    /// Records a failed refresh and releases our lease; the account stays
    /// active and due, so the next sweep tries again.
    #[tracing::instrument(name = "store.record_failure", skip_all, fields(account_id = %id))]
    pub async fn record_failure(
        &self,
        id: &AccountId,
        owner: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(id)))
            .update_expression(
                "SET last_error = :error, failure_count = if_not_exists(failure_count, :zero) + :one \
                 REMOVE lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":error", s(error))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(on_condition(StoreError::NotLeasable, "DynamoDB UpdateItem (failure)"))?;
        Ok(())
    }

    /// Releases our lease without changing anything else.
    #[tracing::instrument(name = "store.release_lease", skip_all, fields(account_id = %id))]
    pub async fn release_lease(&self, id: &AccountId, owner: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(id)))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (release)",
            ))?;
        Ok(())
    }
}

impl Store {
    /// One rate-limit decision: a single conditional `UpdateItem` that adds
    /// a hit unless the window's counter has reached `max`.
    #[tracing::instrument(name = "store.rate_hit", skip_all, fields(scope = limit.scope))]
    pub async fn rate_hit(
        &self,
        limit: &RateLimit,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let window = limit.window(now);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                s(format!("RATE#{}#{key}#{}", limit.scope, window.index)),
            )
            .key("sk", s("RATE"))
            .update_expression("ADD hits :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(i64::from(limit.max)))
            .expression_attribute_values(":ttl", n(window.ends_at + 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match output {
            Ok(output) => {
                let hits = output
                    .attributes
                    .as_ref()
                    .map(|a| get_n(a, "hits"))
                    .transpose()?
                    .unwrap_or(1);
                Ok(Decision::Allowed {
                    remaining: (i64::from(limit.max) - hits).max(0) as u32,
                })
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                crate::metrics::count(("Scope", limit.scope), &[("RateLimited", 1)]);
                Ok(Decision::Denied {
                    retry_after_seconds: limit.retry_after(now),
                })
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (rate)")(e)),
        }
    }
}

/// Where a listing of one owner's accounts resumes: the index key of the
/// last account returned, opaque to clients (base64url JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    owner: String,
    connected_at: String,
    pk: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::json!([self.owner, self.connected_at, self.pk]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A cursor only resumes the listing it came from: `owner`'s.
    pub fn decode(raw: &str, owner: &UserId) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()?;
        let [o, c, pk]: [String; 3] = serde_json::from_slice(&bytes).ok()?;
        let valid = o == owner.as_ref()
            && pk
                .strip_prefix("ACCOUNT#")
                .is_some_and(|id| AccountId::parse(id).is_ok())
            && DateTime::parse_from_rfc3339(&c).is_ok();
        valid.then_some(Self {
            owner: o,
            connected_at: c,
            pk,
        })
    }

    fn key(&self) -> Item {
        HashMap::from([
            ("owner".to_owned(), s(&self.owner)),
            ("connected_at".to_owned(), s(&self.connected_at)),
            ("pk".to_owned(), s(&self.pk)),
            ("sk".to_owned(), s("ACCOUNT")),
        ])
    }

    fn from_key(key: &Item) -> Option<Self> {
        Some(Self {
            owner: opt_s(key, "owner")?.to_owned(),
            connected_at: opt_s(key, "connected_at")?.to_owned(),
            pk: opt_s(key, "pk")?.to_owned(),
        })
    }
}

pub struct AccountPage {
    pub accounts: Vec<Account>,
    pub next: Option<Cursor>,
}

impl Store {
    /// One page of `owner`'s accounts, oldest connection first, through the
    /// `by_owner` index: never a Scan.
    #[tracing::instrument(name = "store.accounts_of", skip_all, fields(owner = %owner))]
    pub async fn accounts_of(
        &self,
        owner: &UserId,
        limit: i32,
        start: Option<&Cursor>,
    ) -> Result<AccountPage, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("by_owner")
            .key_condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.as_ref()))
            .limit(limit)
            .set_exclusive_start_key(start.map(Cursor::key))
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (by_owner)"))?;
        let accounts = output
            .items
            .unwrap_or_default()
            .iter()
            .map(account_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccountPage {
            accounts,
            next: output
                .last_evaluated_key
                .as_ref()
                .and_then(Cursor::from_key),
        })
    }
}

/// The item for an account. `due_shard`/`due_at` (the sparse due index) are
/// written only while the sweep should refresh it.
pub fn account_to_item(a: &Account) -> Item {
    let mut item = account_key(&a.id);
    item.insert("account_id".into(), s(a.id.as_ref()));
    item.insert("owner".into(), s(a.owner.as_ref()));
    item.insert("connected_at".into(), s(rfc3339(a.connected_at)));
    item.insert("display_name".into(), s(&a.profile.display_name));
    if let Some(url) = &a.profile.avatar_url {
        item.insert("avatar_url".into(), s(url));
    }
    item.insert("status".into(), s(a.status.as_str()));
    item.insert("scopes".into(), s(a.scopes.to_string()));
    item.insert(
        "access_expires_at".into(),
        n(a.access_expires_at.timestamp()),
    );
    item.insert(
        "refresh_expires_at".into(),
        n(a.refresh_expires_at.timestamp()),
    );
    if let Some(t) = a.last_refreshed_at {
        item.insert("last_refreshed_at".into(), n(t.timestamp()));
    }
    if let Some(e) = &a.last_error {
        item.insert("last_error".into(), s(e));
    }
    item.insert("token_version".into(), n(a.token_version as i64));
    if let Some(sealed) = &a.sealed_tokens {
        item.insert(
            "sealed_tokens".into(),
            AttributeValue::B(Blob::new(sealed.as_bytes())),
        );
    }
    if let Some(due) = a.due_at() {
        item.insert("due_shard".into(), s(due_shard(&a.id).to_string()));
        item.insert("due_at".into(), n(due.timestamp()));
    }
    item
}

pub fn account_from_item(item: &Item) -> Result<Account, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("account {what}"));
    let connected_at = DateTime::parse_from_rfc3339(get_s(item, "connected_at")?)
        .map_err(|_| corrupt("connected_at"))?
        .with_timezone(&Utc);
    Ok(Account {
        id: AccountId::parse(get_s(item, "account_id")?).map_err(|_| corrupt("account_id"))?,
        owner: UserId::parse(get_s(item, "owner")?).map_err(|_| corrupt("owner"))?,
        profile: Profile {
            display_name: get_s(item, "display_name")?.to_owned(),
            avatar_url: opt_s(item, "avatar_url").map(str::to_owned),
        },
        status: AccountStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        scopes: Scopes::parse(get_s(item, "scopes")?).map_err(|_| corrupt("scopes"))?,
        access_expires_at: get_time(item, "access_expires_at")?,
        refresh_expires_at: get_time(item, "refresh_expires_at")?,
        last_refreshed_at: opt_time(item, "last_refreshed_at")?,
        last_error: opt_s(item, "last_error").map(str::to_owned),
        connected_at,
        token_version: get_n(item, "token_version")?
            .try_into()
            .map_err(|_| corrupt("token_version"))?,
        sealed_tokens: match item.get("sealed_tokens") {
            Some(AttributeValue::B(blob)) => Some(SealedTokens::from_bytes(blob.as_ref().to_vec())),
            Some(_) => return Err(corrupt("sealed_tokens")),
            None => None,
        },
    })
}

fn get_s<'a>(item: &'a Item, key: &str) -> Result<&'a str, StoreError> {
    opt_s(item, key).ok_or_else(|| StoreError::Corrupt(format!("missing string {key}")))
}

fn opt_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn get_n(item: &Item, key: &str) -> Result<i64, StoreError> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad number {key}"))),
        _ => Err(StoreError::Corrupt(format!("missing number {key}"))),
    }
}

fn get_time(item: &Item, key: &str) -> Result<DateTime<Utc>, StoreError> {
    let secs = get_n(item, key)?;
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("bad time {key}")))
}

fn opt_time(item: &Item, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    if item.contains_key(key) {
        get_time(item, key).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn account(status: AccountStatus) -> Account {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        Account {
            id: AccountId::parse("open-1").unwrap(),
            owner: UserId::parse("alice").unwrap(),
            profile: Profile {
                display_name: "Alice".into(),
                avatar_url: Some("https://cdn.example/a.jpg".into()),
            },
            status,
            scopes: Scopes::parse("user.info.basic,video.upload").unwrap(),
            access_expires_at: now + Duration::hours(2),
            refresh_expires_at: now + Duration::days(180),
            last_refreshed_at: None,
            last_error: Some("x".into()),
            connected_at: now,
            token_version: 3,
            sealed_tokens: Some(SealedTokens::from_bytes(vec![1, 2, 3])),
        }
    }

    #[test]
    fn items_round_trip() {
        let a = account(AccountStatus::Active);
        let back = account_from_item(&account_to_item(&a)).unwrap();
        assert_eq!(back.view(), a.view());
        assert_eq!(back.token_version, 3);
        assert_eq!(back.sealed_tokens, a.sealed_tokens);
    }

    #[test]
    fn only_active_accounts_with_tokens_are_in_the_due_index() {
        let item = account_to_item(&account(AccountStatus::Active));
        assert!(item.contains_key("due_shard") && item.contains_key("due_at"));
        let item = account_to_item(&account(AccountStatus::ReauthRequired));
        assert!(!item.contains_key("due_shard") && !item.contains_key("due_at"));
        let mut gone = account(AccountStatus::Active);
        gone.sealed_tokens = None;
        assert!(!account_to_item(&gone).contains_key("due_at"));
    }

    #[test]
    fn corrupt_items_are_reported_not_panicked() {
        let mut item = account_to_item(&account(AccountStatus::Active));
        item.insert("status".into(), s("weird"));
        assert!(matches!(
            account_from_item(&item),
            Err(StoreError::Corrupt(_))
        ));
        item.remove("owner");
        assert!(matches!(
            account_from_item(&item),
            Err(StoreError::Corrupt(_))
        ));
    }
}
