//! Webhook deliveries: `EVENT#{sha256(body)}`, claimed by a conditional put
//! so each is applied once, remembered past TikTok's 72 hours of retries.

use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{Item, key, n, on_condition, s, unavailable},
};
use crate::domain::ports::StoreError;

fn event_key(digest: &str) -> Item {
    key(format!("EVENT#{digest}"), "EVENT")
}

/// Whether a webhook delivery is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClaim {
    /// Ours to apply.
    New,
    /// Applied already, or being applied by another delivery right now.
    Duplicate,
}

impl Store {
    /// Claims a webhook delivery by its body's digest. A claim whose
    /// applier died (`claimed_until` passed, never marked applied) can be
    /// taken again, so a failure never loses an event.
    #[tracing::instrument(name = "store.claim_event", skip_all)]
    pub async fn claim_event(
        &self,
        digest: &str,
        now: DateTime<Utc>,
        claimed_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<EventClaim, StoreError> {
        let mut item = event_key(digest);
        item.insert("state".into(), s("applying"));
        item.insert("claimed_until".into(), n(claimed_until.timestamp()));
        item.insert("ttl".into(), n(expires_at.timestamp()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :applying AND claimed_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applying", s("applying"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await
            .map_err(on_condition(
                StoreError::AlreadyExists,
                "DynamoDB PutItem (event)",
            ));
        match result {
            Ok(_) => Ok(EventClaim::New),
            Err(StoreError::AlreadyExists) => Ok(EventClaim::Duplicate),
            Err(e) => Err(e),
        }
    }

    /// The event was applied: later deliveries are duplicates.
    pub async fn event_applied(&self, digest: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(event_key(digest)))
            .update_expression("SET #state = :applied REMOVE claimed_until")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applied", s("applied"))
            .send()
            .await
            .map_err(unavailable("DynamoDB UpdateItem (event applied)"))?;
        Ok(())
    }

    /// Gives a claim back after failing to apply, so a redelivery applies it.
    pub async fn release_event(&self, digest: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(event_key(digest)))
            .condition_expression("#state = :applying")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":applying", s("applying"))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotFound,
                "DynamoDB DeleteItem (event)",
            ))?;
        Ok(())
    }
}
