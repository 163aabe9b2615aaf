//! Reading and writing DynamoDB attribute maps, and turning SDK failures
//! into [`StoreError`]s.

use std::{collections::HashMap, fmt};

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};
use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{ids::UserId, ports::StoreError};

pub(super) type Item = HashMap<String, AttributeValue>;

/// An item's key: `pk` and `sk`.
pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn unavailable<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Unavailable(anyhow::Error::new(e).context(operation))
}

/// Sets whose item it is, when it was made, when it expires, and the `ttl`
/// DynamoDB deletes it by (expiry is also checked in code: TTL deletion
/// lags).
pub(super) fn set_owner_and_lifetime(
    item: &mut Item,
    user: &UserId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) {
    item.insert("user".into(), s(user.as_ref()));
    item.insert("created_at".into(), n(created_at.timestamp()));
    item.insert("expires_at".into(), n(expires_at.timestamp()));
    item.insert("ttl".into(), n(expires_at.timestamp()));
}

/// Maps a failed write: a failed condition becomes `on_failed_condition`,
/// anything else `Unavailable` with the operation as context.
pub(super) fn on_condition<E, R>(
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

pub(super) fn get_s<'a>(item: &'a Item, key: &str) -> Result<&'a str, StoreError> {
    opt_s(item, key).ok_or_else(|| StoreError::Corrupt(format!("missing string {key}")))
}

pub(super) fn opt_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub(super) fn get_n(item: &Item, key: &str) -> Result<i64, StoreError> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad number {key}"))),
        _ => Err(StoreError::Corrupt(format!("missing number {key}"))),
    }
}

pub(super) fn get_time(item: &Item, key: &str) -> Result<DateTime<Utc>, StoreError> {
    let secs = get_n(item, key)?;
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("bad time {key}")))
}

pub(super) fn opt_time(item: &Item, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    if item.contains_key(key) {
        get_time(item, key).map(Some)
    } else {
        Ok(None)
    }
}
