//! Connects waiting for their signed-in user: `CONNECT#{sha256(ticket)}`,
//! holding who started the connect and the authorization code sealed for
//! it. A connect is claimed by conditional write while its code is
//! exchanged, so one ticket never exchanges twice at once; it is deleted
//! once used, or burned when someone else presents it.

use aws_sdk_dynamodb::{
    primitives::Blob,
    types::{AttributeValue, ReturnValue},
};
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, get_s, get_time, key, n, on_condition, s, set_owner_and_lifetime, unavailable},
};
use crate::domain::{
    ids::UserId,
    ports::StoreError,
    secrets::{ConnectTicket, SealedSecret},
};

/// A connect the callback recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRecord {
    /// Who started it: the only user who may finish it.
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub sealed_code: SealedSecret,
}

fn connect_key(ticket: &ConnectTicket) -> Item {
    key(format!("CONNECT#{}", ticket.digest()), "CONNECT")
}

fn record_from_item(item: &Item) -> Result<ConnectRecord, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("connect {what}"));
    Ok(ConnectRecord {
        user: UserId::parse(get_s(item, "user")?).map_err(|_| corrupt("user"))?,
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
        sealed_code: match item.get("sealed_code") {
            Some(AttributeValue::B(blob)) => SealedSecret::from_bytes(blob.as_ref().to_vec()),
            _ => return Err(corrupt("sealed_code")),
        },
    })
}

impl Store {
    /// Records a connect under its ticket; `ttl` lets DynamoDB clean it up,
    /// and expiry is also checked in code.
    #[tracing::instrument(name = "store.put_connect", skip_all, fields(user = %record.user))]
    pub async fn put_connect(
        &self,
        ticket: &ConnectTicket,
        record: &ConnectRecord,
    ) -> Result<(), StoreError> {
        let mut item = connect_key(ticket);
        set_owner_and_lifetime(
            &mut item,
            &record.user,
            record.created_at,
            record.expires_at,
        );
        item.insert(
            "sealed_code".into(),
            AttributeValue::B(Blob::new(record.sealed_code.as_bytes())),
        );
        self.put_new(item, "DynamoDB PutItem (connect)").await
    }

    /// The connect, read consistently.
    #[tracing::instrument(name = "store.get_connect", skip_all)]
    pub async fn get_connect(
        &self,
        ticket: &ConnectTicket,
    ) -> Result<Option<ConnectRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(connect_key(ticket)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (connect)"))?;
        output.item.map(|item| record_from_item(&item)).transpose()
    }

    /// Claims `user`'s unexpired connect until `until`, unless another claim
    /// is live. `NotLeasable` when it is gone, expired, someone else's, or
    /// claimed.
    #[tracing::instrument(name = "store.claim_connect", skip_all, fields(user = %user))]
    pub async fn claim_connect(
        &self,
        ticket: &ConnectTicket,
        user: &UserId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ConnectRecord, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connect_key(ticket)))
            .update_expression("SET claimed_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND #user = :user AND expires_at > :now \
                 AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            )
            .expression_attribute_names("#user", "user")
            .expression_attribute_values(":user", s(user.as_ref()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":until", n(until.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (claim connect)",
            ))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("claim returned no item".into()))?;
        record_from_item(&item)
    }

    /// Gives a claim back: the connect may be finished again until it
    /// expires.
    #[tracing::instrument(name = "store.release_connect", skip_all)]
    pub async fn release_connect(&self, ticket: &ConnectTicket) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connect_key(ticket)))
            .update_expression("REMOVE claimed_until")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotFound,
                "DynamoDB UpdateItem (release connect)",
            ))?;
        Ok(())
    }

    /// Deletes the connect: used, or burned.
    #[tracing::instrument(name = "store.delete_connect", skip_all)]
    pub async fn delete_connect(&self, ticket: &ConnectTicket) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(connect_key(ticket)))
            .send()
            .await
            .map_err(unavailable("DynamoDB DeleteItem (connect)"))?;
        Ok(())
    }
}
