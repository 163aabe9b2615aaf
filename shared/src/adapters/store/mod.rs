//! The DynamoDB adapter: one table, items keyed `pk`/`sk`, one module per
//! kind of item.
//!
//! | item | pk | sk | module |
//! |---|---|---|---|
//! | account | `ACCOUNT#{open_id}` | `ACCOUNT` | [`accounts`], [`leases`] |
//! | OAuth state | `STATE#{sha256(state)}` | `STATE` | [`states`] |
//! | pending connect | `CONNECT#{sha256(ticket)}` | `CONNECT` | [`connects`] |
//! | rate counter | `RATE#{scope}#{key}#{window}` | `RATE` | [`rate`] |
//! | upload, publish pointer | `UPLOAD#{id}`, `PUBLISH#{publish_id}` | `UPLOAD`, `PUBLISH` | [`uploads`], [`publishing`] |
//! | webhook event | `EVENT#{sha256(body)}` | `EVENT` | [`events`] |
//! | creator info, kept a minute | `CREATOR#{open_id}` | `INFO` | [`creators`] |
//! | due-index span | `REFRESH#SHARDS` | `REFRESH` | [`leases`] |
//!
//! Conditional writes are the only lock. Every account write is a
//! compare-and-swap on `token_version`; states are consumed by a conditional
//! delete, so each is used at most once. No `SdkError` leaves this module:
//! every failure is a [`StoreError`](crate::domain::ports::StoreError).

pub mod accounts;
pub mod analytics;
pub mod connects;
pub mod creators;
pub mod events;
mod item;
pub mod leases;
pub mod posts;
pub mod publishing;
pub mod rate;
pub mod states;
pub mod uploads;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use crate::{
    domain::{ports::StoreError, schedule::DueShards},
    env::{ConfigError, Env},
};

/// DynamoDB's BatchGetItem limit.
const BATCH_GET: usize = 100;

/// The DynamoDB table holding every item (`TABLE_NAME`).
#[derive(Clone, Debug)]
pub struct TableName(String);

impl TableName {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let name = env.required("TABLE_NAME")?;
        let valid = (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConfigError::malformed(
                "TABLE_NAME",
                "expected 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The table, through one SDK client built on its first use, and the number
/// of due-index shards accounts are written to.
#[derive(Clone)]
pub struct Store {
    client: crate::adapters::aws::LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
    due_shards: DueShards,
}

impl Store {
    pub fn new(
        client: impl Into<crate::adapters::aws::LazyClient<aws_sdk_dynamodb::Client>>,
        table: &TableName,
    ) -> Self {
        Self {
            client: client.into(),
            table: table.as_ref().to_owned(),
            due_shards: DueShards::default(),
        }
    }

    /// Writes accounts to `shards` due-index shards (`REFRESH_SHARDS`).
    pub fn with_due_shards(self, due_shards: DueShards) -> Self {
        Self { due_shards, ..self }
    }
}

impl Store {
    /// The item at `key`, read consistently.
    async fn get_consistent(
        &self,
        key: item::Item,
        operation: &'static str,
    ) -> Result<Option<item::Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(item::unavailable(operation))?;
        Ok(output.item)
    }

    /// The items at `keys` that exist, read consistently, in batches of
    /// BatchGetItem's 100; keys DynamoDB leaves unprocessed (throttling)
    /// are asked again a few times.
    async fn batch_get_consistent(
        &self,
        keys: Vec<item::Item>,
        operation: &'static str,
    ) -> Result<Vec<item::Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for batch in keys.chunks(BATCH_GET) {
            let mut keys = batch.to_vec();
            keys.dedup();
            for _ in 0..5 {
                if keys.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(item::unavailable("DynamoDB KeysAndAttributes builder"))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(item::unavailable(operation))?;
                found.extend(
                    output
                        .responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                keys = output
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "{operation} left {} keys unprocessed",
                    keys.len()
                )));
            }
        }
        Ok(found)
    }

    /// Writes `item`, which must not exist yet (`AlreadyExists` otherwise).
    async fn put_new(&self, item: item::Item, operation: &'static str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(item::on_condition(StoreError::AlreadyExists, operation))?;
        Ok(())
    }
}
