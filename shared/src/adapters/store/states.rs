//! OAuth states: `STATE#{sha256(state)}`, consumed by a conditional delete
//! so each is used at most once.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, get_s, get_time, key, on_condition, set_owner_and_lifetime},
};
use crate::domain::{ids::UserId, ports::StoreError, secrets::OAuthState};

/// A started OAuth flow, waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// States are keyed by their SHA-256, never stored raw: someone who can read
/// the table (or a TRACE log of its responses) cannot complete a flow.
fn state_key(state: &OAuthState) -> Item {
    key(format!("STATE#{}", state.digest()), "STATE")
}

impl Store {
    /// Records a started OAuth flow. `ttl` lets DynamoDB clean it up; expiry
    /// is also checked in code because TTL deletion lags.
    #[tracing::instrument(name = "store.put_state", skip_all, fields(user = %record.user))]
    pub async fn put_state(
        &self,
        state: &OAuthState,
        record: &StateRecord,
    ) -> Result<(), StoreError> {
        let mut item = state_key(state);
        set_owner_and_lifetime(
            &mut item,
            &record.user,
            record.created_at,
            record.expires_at,
        );
        self.put_new(item, "DynamoDB PutItem (state)").await
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
}
