//! The publishing lease on an upload and its transitions: claimed, the
//! publish_id recorded, processing, released, settled. A worker owns an
//! upload through a lease (`lease_owner`, `lease_until`) taken by
//! conditional write; every later write of that worker is conditional on
//! still owning it.

use aws_sdk_dynamodb::{
    primitives::Blob,
    types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update},
};
use chrono::{DateTime, Utc};

use super::{
    Store,
    item::{n, on_condition, s, unavailable},
    uploads::{TARGET, publish_key, upload_from_item, upload_key},
};
use crate::domain::{
    ids::{PublishId, UploadId},
    ports::StoreError,
    upload::{NewPublish, Upload, UploadStatus},
};

/// Attempts at recording a new publish, all with one client request token:
/// a write whose answer was lost is not applied twice, and is recognised.
const PUBLISH_RECORD_ATTEMPTS: u32 = 3;

/// An upload this worker now holds, and the state it was claimed from.
#[derive(Debug)]
pub struct Claimed {
    pub upload: Upload,
    pub from: UploadStatus,
}

impl Store {
    /// Takes the publishing lease: the upload must be waiting
    /// (`awaiting_upload`, `uploaded`) or `publishing` with no live lease.
    /// Returns the upload as it now stands and the state it was in;
    /// `NotLeasable` when another worker holds it or it is past publishing
    /// (a duplicate event).
    #[tracing::instrument(name = "store.claim_upload", skip_all, fields(upload_id = %id))]
    pub async fn claim_upload(
        &self,
        id: &UploadId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claimed, StoreError> {
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
                "attribute_exists(pk) AND (attribute_not_exists(#kind) OR #kind = :target) \
                 AND (attribute_not_exists(retry_at) OR retry_at <= :now) \
                 AND (#status IN (:awaiting, :uploaded, :scheduled, :waiting) \
                 OR (#status = :publishing AND (attribute_not_exists(lease_until) OR lease_until < :now)))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":target", s(TARGET))
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()))
            .expression_attribute_values(":awaiting", s(UploadStatus::AwaitingUpload.as_str()))
            .expression_attribute_values(":uploaded", s(UploadStatus::Uploaded.as_str()))
            .expression_attribute_values(":scheduled", s(UploadStatus::Scheduled.as_str()))
            .expression_attribute_values(":waiting", s(UploadStatus::Waiting.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(on_condition(StoreError::NotLeasable, "DynamoDB UpdateItem (claim upload)"))?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Corrupt("claim returned no item".into()))?;
        let before = upload_from_item(&item)?;
        Ok(Claimed {
            from: before.status,
            upload: Upload {
                status: UploadStatus::Publishing,
                updated_at: now,
                ..before
            },
        })
    }

    /// Gives back an upload whose object is not stored yet, lease released:
    /// `awaiting_upload` again for the notification its PUT will send, or
    /// (a post's target) `waiting` with `note` until its media arrives.
    #[tracing::instrument(name = "store.unclaim_upload", skip_all, fields(upload_id = %id))]
    pub async fn unclaim_upload(
        &self,
        id: &UploadId,
        owner: &str,
        status: UploadStatus,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut request = self.client.update_item();
        request = match note {
            Some(note) => request
                .update_expression(
                    "SET #status = :awaiting, #error = :note, updated_at = :now \
                     REMOVE lease_owner, lease_until",
                )
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":note", s(note)),
            None => request.update_expression(
                "SET #status = :awaiting, updated_at = :now REMOVE lease_owner, lease_until",
            ),
        };
        request
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .condition_expression("lease_owner = :owner AND attribute_not_exists(publish_id)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":awaiting", s(status.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (unclaim upload)",
            ))?;
        Ok(())
    }

    /// Records the `publish_id` TikTok issued with its sealed `upload_url`
    /// and the object version it reads, and the publish pointer, in one
    /// transaction, while we still hold the lease. `previous` is the
    /// publish_id being replaced (an abandoned transfer), if any.
    ///
    /// A write whose answer is lost is sent again with the same client
    /// request token, which DynamoDB answers with the first write's result
    /// (for ten minutes); a refusal after a lost answer is checked against
    /// the item, in case the lost write was ours.
    #[tracing::instrument(name = "store.set_publish_id", skip_all, fields(upload_id = %id, publish_id = %publish.publish_id))]
    pub async fn set_publish_id(
        &self,
        id: &UploadId,
        owner: &str,
        publish: &NewPublish,
        previous: Option<&PublishId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        let mut answer_lost = false;
        let mut last = None;
        for attempt in 1..=PUBLISH_RECORD_ATTEMPTS {
            match self
                .record_publish(id, owner, publish, previous, now, &token)
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::NotLeasable) if answer_lost => {
                    return match self.get_upload(id).await? {
                        Some(u) if u.publish_id.as_ref() == Some(&publish.publish_id) => {
                            tracing::info!("the write whose answer was lost had landed");
                            Ok(())
                        }
                        _ => Err(StoreError::NotLeasable),
                    };
                }
                Err(StoreError::Unavailable(e)) => {
                    tracing::info!(attempt, error = %crate::support::errors::chain_line(e.as_ref()), "recording the publish failed; sending it again");
                    answer_lost = true;
                    last = Some(StoreError::Unavailable(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StoreError::NotLeasable))
    }

    /// One try at [`Store::set_publish_id`]'s transaction, under `token`.
    async fn record_publish(
        &self,
        id: &UploadId,
        owner: &str,
        publish: &NewPublish,
        previous: Option<&PublishId>,
        now: DateTime<Utc>,
        token: &str,
    ) -> Result<(), StoreError> {
        let NewPublish {
            publish_id,
            upload_url,
            object_etag,
        } = publish;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET publish_id = :publish_id, upload_url = :url, upload_url_until = :until, \
                 object_etag = :etag, updated_at = :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publish_id", s(publish_id.as_ref()))
            .expression_attribute_values(
                ":url",
                AttributeValue::B(Blob::new(upload_url.sealed.as_bytes())),
            )
            .expression_attribute_values(":until", n(upload_url.usable_until.timestamp()))
            .expression_attribute_values(":etag", s(object_etag))
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
            .client_request_token(token)
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
                 attempts = if_not_exists(attempts, :zero) + :one \
                 REMOVE lease_owner, lease_until, retry_at",
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

    /// Gives the lease back to wait for a quota: `status` with `note`, not
    /// to be claimed before `until`. A wait is not an attempt.
    #[tracing::instrument(name = "store.wait_upload", skip_all, fields(upload_id = %id))]
    pub async fn wait_upload(
        &self,
        id: &UploadId,
        owner: &str,
        status: UploadStatus,
        note: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :status, #error = :note, retry_at = :until, updated_at = :now \
                 REMOVE lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":note", s(note))
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (wait upload)",
            ))?;
        Ok(())
    }

    /// Lifts a quota wait whose wake could not be set, so that any later
    /// message may claim the upload.
    #[tracing::instrument(name = "store.lift_wait", skip_all, fields(upload_id = %id))]
    pub async fn lift_wait(&self, id: &UploadId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression("REMOVE retry_at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(lease_owner)")
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (lift wait)",
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

    /// Fails an upload that is still waiting or publishing, whoever holds
    /// it: the last word on a message that could not be handled. An upload
    /// TikTok already has (`processing`) or that is settled is left as it
    /// is (`NotLeasable`).
    #[tracing::instrument(name = "store.abandon_upload", skip_all, fields(upload_id = %id))]
    pub async fn abandon_upload(
        &self,
        id: &UploadId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(upload_key(id)))
            .update_expression(
                "SET #status = :failed, #error = :reason, updated_at = :now \
                 REMOVE lease_owner, lease_until",
            )
            .condition_expression("#status IN (:awaiting, :uploaded, :publishing, :waiting)")
            .expression_attribute_values(":waiting", s(UploadStatus::Waiting.as_str()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(UploadStatus::Failed.as_str()))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":awaiting", s(UploadStatus::AwaitingUpload.as_str()))
            .expression_attribute_values(":uploaded", s(UploadStatus::Uploaded.as_str()))
            .expression_attribute_values(":publishing", s(UploadStatus::Publishing.as_str()))
            .send()
            .await
            .map_err(on_condition(
                StoreError::NotLeasable,
                "DynamoDB UpdateItem (abandon upload)",
            ))?;
        Ok(())
    }
}
