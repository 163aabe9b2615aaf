//! The sparse `due` index and the refresh leases on account items.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::{
    Store,
    accounts::{account_from_item, account_key},
    item::{Item, get_n, get_s, get_time, key, n, on_condition, s, unavailable},
};
use crate::domain::{
    account::{Account, AccountStatus},
    ids::AccountId,
    ports::{DuePage, RefreshLeases, StoreError},
    schedule::{DuePosition, ShardSpan},
};

/// The item recording which shards the due index spans.
fn span_key() -> Item {
    key("REFRESH#SHARDS".into(), "REFRESH")
}

/// The due-index key of a position in `shard`: where a Query resumes.
fn position_key(shard: u32, position: &DuePosition) -> Item {
    let mut key = account_key(&position.account_id);
    key.insert("due_shard".into(), s(shard.to_string()));
    key.insert("due_at".into(), n(position.due_at));
    key
}

fn position_of(item: &Item) -> Result<DuePosition, StoreError> {
    let pk = get_s(item, "pk")?;
    let account_id = pk
        .strip_prefix("ACCOUNT#")
        .and_then(|id| AccountId::parse(id).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("due index key {pk}")))?;
    Ok(DuePosition {
        due_at: get_n(item, "due_at")?,
        account_id,
    })
}

impl RefreshLeases for Store {
    /// One page of the accounts in `shard` whose `due_at` has passed: a Query
    /// on the sparse `due` index, never a Scan. The index orders by
    /// `due_at`, then by the table's key, so a page resumes from any
    /// position, whether or not its account is still there.
    #[tracing::instrument(name = "store.due_page", skip_all, fields(shard))]
    async fn due_page(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        page_size: i32,
        after: Option<&DuePosition>,
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
            .set_exclusive_start_key(after.map(|p| position_key(shard, p)))
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (due)"))?;
        let accounts = output
            .items
            .unwrap_or_default()
            .iter()
            .map(position_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DuePage {
            accounts,
            more: output.last_evaluated_key.is_some_and(|k| !k.is_empty()),
        })
    }

    #[tracing::instrument(name = "store.shard_has_accounts", skip_all, fields(shard))]
    async fn shard_has_accounts(&self, shard: u32) -> Result<bool, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("due")
            .key_condition_expression("due_shard = :shard")
            .expression_attribute_values(":shard", s(shard.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(unavailable("DynamoDB Query (due shard)"))?;
        Ok(output.count > 0)
    }

    async fn shard_span(&self) -> Result<Option<ShardSpan>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(span_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (shard span)"))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let number = |name| {
            u32::try_from(get_n(&item, name)?)
                .map_err(|_| StoreError::Corrupt(format!("shard span {name}")))
        };
        Ok(Some(ShardSpan {
            widest: number("widest")?,
            count: number("count")?,
            since: get_time(&item, "since")?,
        }))
    }

    async fn record_shard_span(&self, span: &ShardSpan) -> Result<(), StoreError> {
        let mut item = span_key();
        item.insert("widest".into(), n(i64::from(span.widest)));
        item.insert("count".into(), n(i64::from(span.count)));
        item.insert("since".into(), n(span.since.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable("DynamoDB PutItem (shard span)"))?;
        Ok(())
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
