//! Upload items, the `publish_id` pointers webhooks look uploads up by, and
//! the webhook dedupe records.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | upload | `UPLOAD#{upload_id}` | `UPLOAD` |
//! | publish pointer | `PUBLISH#{publish_id}` | `PUBLISH` |
//! | webhook event | `EVENT#{sha256(body)}` | `EVENT` |
//!
//! A worker owns an upload through a lease (`lease_owner`, `lease_until`)
//! taken by conditional write; every later write of that worker is
//! conditional on still owning it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{
    Item, Store, StoreError, get_n, get_s, get_time, n, on_condition, opt_s, s, unavailable,
};
use crate::{
    account::{AccountId, UserId},
    upload::{PostSettings, PublishId, PublishMode, Upload, UploadId, UploadStatus, VideoType},
};

fn upload_key(id: &UploadId) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("UPLOAD#{id}"))),
        ("sk".to_owned(), s("UPLOAD")),
    ])
}

fn publish_key(id: &PublishId) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("PUBLISH#{id}"))),
        ("sk".to_owned(), s("PUBLISH")),
    ])
}

fn event_key(digest: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(format!("EVENT#{digest}"))),
        ("sk".to_owned(), s("EVENT")),
    ])
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
    /// Records a new upload; its id must be new.
    #[tracing::instrument(name = "store.put_upload", skip_all, fields(upload_id = %upload.id))]
    pub async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(upload_to_item(upload)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(on_condition(
                StoreError::AlreadyExists,
                "DynamoDB PutItem (upload)",
            ))?;
        Ok(())
    }

    #[tracing::instrument(name = "store.get_upload", skip_all, fields(upload_id = %id))]
    pub async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (upload)"))?;
        output.item.map(|item| upload_from_item(&item)).transpose()
    }

    /// Takes the publishing lease: the upload must be waiting
    /// (`awaiting_upload`, `uploaded`) or `publishing` with no live lease.
    /// Returns the upload as it now stands; `NotLeasable` when another worker
    /// holds it or it is past publishing (a duplicate event).
    #[tracing::instrument(name = "store.claim_upload", skip_all, fields(upload_id = %id))]
    pub async fn claim_upload(
        &self,
        id: &UploadId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Upload, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :publishing, lease_owner = :owner, lease_until = :until, \
                 updated_at = :now",
            )
            .condition_expression(
                "attribute_exists(pk) AND (#status IN (:awaiting, :uploaded) \
                 OR (#status = :publishing AND (attribute_not_exists(lease_until) OR lease_until < :now)))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()))
            .expression_attribute_values(":awaiting", s(UploadStatus::AwaitingUpload.as_str()))
            .expression_attribute_values(":uploaded", s(UploadStatus::Uploaded.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(on_condition(StoreError::NotLeasable, "DynamoDB UpdateItem (claim upload)"))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("claim returned no item".into()))?;
        upload_from_item(&item)
    }

    /// Records the `publish_id` TikTok issued, and its pointer, in one
    /// transaction, while we still hold the lease. `previous` is the
    /// publish_id being replaced (an abandoned transfer), if any.
    #[tracing::instrument(name = "store.set_publish_id", skip_all, fields(upload_id = %id, publish_id = %publish_id))]
    pub async fn set_publish_id(
        &self,
        id: &UploadId,
        owner: &str,
        publish_id: &PublishId,
        previous: Option<&PublishId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression("SET publish_id = :publish_id, updated_at = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publish_id", s(publish_id.as_ref()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()));
        let held = "lease_owner = :owner AND #status = :publishing";
        update = match previous {
            None => {
                update.condition_expression(format!("{held} AND attribute_not_exists(publish_id)"))
            }
            Some(previous) => update
                .condition_expression(format!("{held} AND publish_id = :previous"))
                .expression_attribute_values(":previous", s(previous.as_ref())),
        };
        let mut pointer = publish_key(publish_id);
        pointer.insert("upload_id".into(), s(id.as_ref()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(pointer))
            .condition_expression("attribute_not_exists(pk)");
        let (update, put) = (
            update
                .build()
                .map_err(unavailable("DynamoDB Update builder"))?,
            put.build().map_err(unavailable("DynamoDB Put builder"))?,
        );
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_dynamodb::error::ProvideErrorMetadata;
                if e.code() == Some("TransactionCanceledException") {
                    StoreError::NotLeasable
                } else {
                    unavailable("DynamoDB TransactWriteItems (publish_id)")(e)
                }
            })?;
        Ok(())
    }

    /// Every byte reached TikTok: `processing`, lease released.
    #[tracing::instrument(name = "store.upload_processing", skip_all, fields(upload_id = %id))]
    pub async fn upload_processing(
        &self,
        id: &UploadId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :processing, updated_at = :now REMOVE lease_owner, lease_until, #error",
            )
            .condition_expression("lease_owner = :owner AND #status = :publishing")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":processing", s(UploadStatus::Processing.as_str()))
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await
            .map_err(on_condition(StoreError::NotLeasable, "DynamoDB UpdateItem (processing)"))?;
        Ok(())
    }

    /// Gives the lease back, leaving the upload in `status` with `note` in
    /// `error`: `uploaded` (nothing sent to TikTok yet) or `publishing` (a
    /// publish_id exists) for a later attempt to continue, or `failed`.
    #[tracing::instrument(name = "store.release_upload", skip_all, fields(upload_id = %id))]
    pub async fn release_upload(
        &self,
        id: &UploadId,
        owner: &str,
        status: UploadStatus,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :status, #error = :note, updated_at = :now, \
                 attempts = if_not_exists(attempts, :zero) + :one REMOVE lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":note", s(note))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (release upload)",
            ))?;
        Ok(())
    }

    /// TikTok's final word on `publish_id`: `published` or `failed`. Applies
    /// only while the upload is still on that publish_id and not final, so
    /// late, repeated or stale news changes nothing (`NotLeasable`).
    #[tracing::instrument(name = "store.settle_upload", skip_all, fields(upload_id = %id, publish_id = %publish_id))]
    pub async fn settle_upload(
        &self,
        id: &UploadId,
        publish_id: &PublishId,
        status: UploadStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .condition_expression(
                "publish_id = :publish_id AND #status IN (:publishing, :processing)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":publish_id", s(publish_id.as_ref()))
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()))
            .expression_attribute_values(":processing", s(UploadStatus::Processing.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()));
        request = match error {
            Some(error) => request
                .update_expression("SET #status = :status, #error = :error, updated_at = :now")
                .expression_attribute_values(":error", s(error)),
            None => {
                request.update_expression("SET #status = :status, updated_at = :now REMOVE #error")
            }
        };
        request.send().await.map_err(on_condition(
            StoreError::NotLeasable,
            "DynamoDB UpdateItem (settle upload)",
        ))?;
        Ok(())
    }

    /// The upload a `publish_id` belongs to.
    #[tracing::instrument(name = "store.upload_of_publish", skip_all, fields(publish_id = %publish_id))]
    pub async fn upload_of_publish(
        &self,
        publish_id: &PublishId,
    ) -> Result<Option<UploadId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(publish_key(publish_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (publish pointer)"))?;
        match output.item {
            None => Ok(None),
            Some(item) => UploadId::parse(get_s(&item, "upload_id")?)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("publish pointer upload_id".into())),
        }
    }

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

pub fn upload_to_item(u: &Upload) -> Item {
    let mut item = upload_key(&u.id);
    item.insert("upload_id".into(), s(u.id.as_ref()));
    item.insert("owner".into(), s(u.owner.as_ref()));
    item.insert("account_id".into(), s(u.account_id.as_ref()));
    item.insert("content_type".into(), s(u.video_type.content_type()));
    item.insert("size_bytes".into(), n(u.size_bytes as i64));
    item.insert("mode".into(), s(u.mode.as_str()));
    if let Ok(post) = serde_json::to_string(&u.post) {
        item.insert("post".into(), s(post));
    }
    item.insert("status".into(), s(u.status.as_str()));
    if let Some(p) = &u.publish_id {
        item.insert("publish_id".into(), s(p.as_ref()));
    }
    if let Some(e) = &u.error {
        item.insert("error".into(), s(e));
    }
    item.insert("created_at".into(), n(u.created_at.timestamp()));
    item.insert("updated_at".into(), n(u.updated_at.timestamp()));
    item
}

pub fn upload_from_item(item: &Item) -> Result<Upload, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("upload {what}"));
    let post: PostSettings = match item.get("post") {
        Some(AttributeValue::S(raw)) => serde_json::from_str(raw).map_err(|_| corrupt("post"))?,
        _ => PostSettings::default(),
    };
    Ok(Upload {
        id: UploadId::parse(get_s(item, "upload_id")?).ok_or_else(|| corrupt("upload_id"))?,
        owner: UserId::parse(get_s(item, "owner")?).map_err(|_| corrupt("owner"))?,
        account_id: AccountId::parse(get_s(item, "account_id")?)
            .map_err(|_| corrupt("account_id"))?,
        video_type: VideoType::from_content_type(get_s(item, "content_type")?)
            .ok_or_else(|| corrupt("content_type"))?,
        size_bytes: get_n(item, "size_bytes")?
            .try_into()
            .map_err(|_| corrupt("size_bytes"))?,
        mode: PublishMode::parse(get_s(item, "mode")?).ok_or_else(|| corrupt("mode"))?,
        post,
        status: UploadStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        publish_id: opt_s(item, "publish_id")
            .map(|p| PublishId::parse(p).ok_or_else(|| corrupt("publish_id")))
            .transpose()?,
        error: opt_s(item, "error").map(str::to_owned),
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::{NewUpload, PrivacyLevel};
    use chrono::TimeZone;

    #[test]
    fn uploads_round_trip() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let upload = Upload::new(
            UploadId::generate(),
            UserId::parse("alice").unwrap(),
            NewUpload {
                account_id: AccountId::parse("open-1").unwrap(),
                video_type: VideoType::WebM,
                size_bytes: 12_345,
                mode: PublishMode::Direct,
                post: PostSettings {
                    title: Some("Ünïcode 😀 #tag".into()),
                    privacy_level: Some(PrivacyLevel::MutualFollowFriends),
                    disable_duet: true,
                    ..Default::default()
                },
            },
            now,
        );
        assert_eq!(upload_from_item(&upload_to_item(&upload)).unwrap(), upload);
    }
}
