//! A creator's info, kept briefly: `CREATOR#{open_id}` / `INFO`, the view
//! as JSON, the token version it was asked with, and a TTL.

use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, get_n, get_s, get_time, key, n, s, unavailable},
};
use crate::domain::{account::Account, creator::CreatorView, ids::AccountId, ports::StoreError};

fn creator_key(id: &AccountId) -> Item {
    key(format!("CREATOR#{id}"), "INFO")
}

/// A kept creator info, and what it was asked with.
struct KeptCreator {
    pub view: CreatorView,
    pub token_version: u64,
    pub fetched_at: DateTime<Utc>,
}

impl Store {
    #[tracing::instrument(name = "store.get_creator", skip_all, fields(account_id = %id))]
    async fn get_creator(&self, id: &AccountId) -> Result<Option<KeptCreator>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(creator_key(id)))
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (creator)"))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let view = serde_json::from_str(get_s(&item, "view")?)
            .map_err(|e| StoreError::Corrupt(format!("creator view: {e}")))?;
        Ok(Some(KeptCreator {
            view,
            token_version: u64::try_from(get_n(&item, "token_version")?)
                .map_err(|_| StoreError::Corrupt("creator token_version".into()))?,
            fetched_at: get_time(&item, "fetched_at")?,
        }))
    }

    /// The account's creator info as kept, if it was asked with the
    /// account's current tokens less than `max_age_seconds` ago.
    pub async fn kept_creator(
        &self,
        account: &Account,
        now: DateTime<Utc>,
        max_age_seconds: i64,
    ) -> Result<Option<CreatorView>, StoreError> {
        Ok(self.get_creator(&account.id).await?.and_then(|kept| {
            let age = (now - kept.fetched_at).num_seconds();
            (kept.token_version == account.token_version && (0..max_age_seconds).contains(&age))
                .then_some(kept.view)
        }))
    }

    #[tracing::instrument(name = "store.put_creator", skip_all, fields(account_id = %id))]
    pub async fn put_creator(
        &self,
        id: &AccountId,
        view: &CreatorView,
        token_version: u64,
        fetched_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = creator_key(id);
        let json = serde_json::to_string(view)
            .map_err(|e| StoreError::Corrupt(format!("creator view: {e}")))?;
        item.insert("view".into(), s(json));
        item.insert(
            "token_version".into(),
            n(i64::try_from(token_version).unwrap_or(i64::MAX)),
        );
        item.insert("fetched_at".into(), n(fetched_at.timestamp()));
        item.insert("ttl".into(), n(expires_at.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable("DynamoDB PutItem (creator)"))?;
        Ok(())
    }
}
