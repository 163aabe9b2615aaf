//! Account items: `ACCOUNT#{open_id}`, written only by compare-and-swap on
//! `token_version`, listed per owner through the `by_owner` index.

use aws_sdk_dynamodb::{primitives::Blob, types::AttributeValue};
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, get_n, get_s, get_time, key, n, on_condition, opt_s, opt_time, s, unavailable},
};
use crate::domain::{
    account::{Account, AccountStatus, Profile, Scopes},
    ids::{AccountId, UserId},
    ports::{AccountStore, StoreError},
    schedule::DueShards,
    secrets::SealedTokens,
    time::rfc3339,
};

pub(super) fn account_key(id: &AccountId) -> Item {
    key(format!("ACCOUNT#{id}"), "ACCOUNT")
}

impl AccountStore for Store {
    #[tracing::instrument(name = "store.get_account", skip_all, fields(account_id = %id))]
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
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

    #[tracing::instrument(name = "store.put_account", skip_all, fields(account_id = %account.id, version = account.token_version))]
    async fn put_account(
        &self,
        account: &Account,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(account_to_item(account, self.due_shards)));
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
        let mut key = key(self.pk.clone(), "ACCOUNT");
        key.insert("owner".to_owned(), s(&self.owner));
        key.insert("connected_at".to_owned(), s(&self.connected_at));
        key
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
pub fn account_to_item(a: &Account, shards: DueShards) -> Item {
    let mut item = account_key(&a.id);
    item.insert("account_id".into(), s(a.id.as_ref()));
    item.insert("owner".into(), s(a.owner.as_ref()));
    item.insert("connected_at".into(), s(rfc3339(a.connected_at)));
    item.insert("granted_at".into(), n(a.granted_at.timestamp()));
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
    // Every connected account is in the analytics index (sparse: a
    // disconnected one has nothing to snapshot).
    if a.status != AccountStatus::Disconnected {
        item.insert("analytics_shard".into(), s(shards.of(&a.id).to_string()));
    }
    if let Some(due) = a.due_at() {
        item.insert("due_shard".into(), s(shards.of(&a.id).to_string()));
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
        // Accounts written before grants were dated: their first connect.
        granted_at: opt_time(item, "granted_at")?.unwrap_or(connected_at),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

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
            granted_at: now + Duration::days(3),
            token_version: 3,
            sealed_tokens: Some(SealedTokens::from_bytes(vec![1, 2, 3])),
        }
    }

    #[test]
    fn items_round_trip() {
        let a = account(AccountStatus::Active);
        let back = account_from_item(&account_to_item(&a, DueShards::DEFAULT)).unwrap();
        assert_eq!(back, a);
        // Written before grants were dated: granted at the first connect.
        let mut undated = account_to_item(&a, DueShards::DEFAULT);
        undated.remove("granted_at");
        assert_eq!(
            account_from_item(&undated).unwrap().granted_at,
            a.connected_at
        );
        assert_eq!(back.view(), a.view());
        assert_eq!(back.token_version, 3);
        assert_eq!(back.sealed_tokens, a.sealed_tokens);
    }

    #[test]
    fn only_active_accounts_with_tokens_are_in_the_due_index() {
        let item = account_to_item(&account(AccountStatus::Active), DueShards::DEFAULT);
        assert!(item.contains_key("due_shard") && item.contains_key("due_at"));
        let item = account_to_item(&account(AccountStatus::ReauthRequired), DueShards::DEFAULT);
        assert!(!item.contains_key("due_shard") && !item.contains_key("due_at"));
        let mut gone = account(AccountStatus::Active);
        gone.sealed_tokens = None;
        assert!(!account_to_item(&gone, DueShards::DEFAULT).contains_key("due_at"));
    }

    #[test]
    fn corrupt_items_are_reported_not_panicked() {
        let mut item = account_to_item(&account(AccountStatus::Active), DueShards::DEFAULT);
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
