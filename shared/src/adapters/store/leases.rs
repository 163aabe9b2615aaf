//! The sparse `due` index and the refresh leases on account items.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::{
    Store,
    accounts::{account_from_item, account_key},
    item::{Item, get_s, n, on_condition, s, unavailable},
};
use crate::domain::{
    account::{Account, AccountStatus},
    ids::AccountId,
    ports::{DuePage, RefreshLeases, StoreError},
};

/// Where a due-index Query resumes: its last evaluated key.
pub struct DueCursor(Item);

impl RefreshLeases for Store {
    type Cursor = DueCursor;

    /// One page of the accounts in `shard` whose `due_at` has passed: a Query
    /// on the sparse `due` index, never a Scan.
    #[tracing::instrument(name = "store.due_page", skip_all, fields(shard))]
    async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        start: Option<DueCursor>,
    ) -> Result<DuePage<DueCursor>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("due")
            .key_condition_expression("due_shard = :shard AND due_at <= :now")
            .expression_attribute_values(":shard", s(shard.to_string()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .limit(page_size)
            .set_exclusive_start_key(start.map(|c| c.0))
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
            next: output
                .last_evaluated_key
                .filter(|k| !k.is_empty())
                .map(DueCursor),
        })
    }

    /// Takes the refresh lease on an active account with tokens, by
    /// conditional write, and returns the account as it now stands (so no
    /// second read is needed). With `due_by: Some(now)` the account must also
    /// still be due: a sweep that read a stale index entry finds it already
    /// refreshed and backs off. `NotLeasable` when any condition fails.
    #[tracing::instrument(name = "store.acquire_lease", skip_all, fields(account_id = %id))]
    async fn acquire_lease(
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
    async fn record_failure(
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
    async fn release_lease(&self, id: &AccountId, owner: &str) -> Result<(), StoreError> {
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
