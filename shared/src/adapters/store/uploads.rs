//! Upload items and the `publish_id` pointers webhooks find them by; the
//! publishing transitions are in [`super::publishing`].
//!
//! | item | pk | sk |
//! |---|---|---|
//! | upload | `UPLOAD#{upload_id}` | `UPLOAD` |
//! | publish pointer | `PUBLISH#{publish_id}` | `PUBLISH` |

use aws_sdk_dynamodb::{primitives::Blob, types::AttributeValue};

use super::{
    Store,
    item::{Item, get_n, get_s, get_time, key, n, opt_s, opt_time, s, unavailable},
};
use crate::domain::{
    ids::{AccountId, PublishId, UploadId, UserId},
    ports::StoreError,
    secrets::SealedSecret,
    upload::{PostSettings, PublishMode, StoredUploadUrl, Upload, UploadStatus, VideoType},
};

pub(super) fn upload_key(id: &UploadId) -> Item {
    key(format!("UPLOAD#{id}"), "UPLOAD")
}

pub(super) fn publish_key(id: &PublishId) -> Item {
    key(format!("PUBLISH#{id}"), "PUBLISH")
}

impl Store {
    /// Records a new upload; its id must be new.
    #[tracing::instrument(name = "store.put_upload", skip_all, fields(upload_id = %upload.id))]
    pub async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        self.put_new(upload_to_item(upload), "DynamoDB PutItem (upload)")
            .await
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
    if let Some(url) = &u.upload_url {
        item.insert(
            "upload_url".into(),
            AttributeValue::B(Blob::new(url.sealed.as_bytes())),
        );
        item.insert("upload_url_until".into(), n(url.usable_until.timestamp()));
    }
    if let Some(etag) = &u.object_etag {
        item.insert("object_etag".into(), s(etag));
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
        upload_url: match (item.get("upload_url"), opt_time(item, "upload_url_until")?) {
            (Some(AttributeValue::B(sealed)), Some(usable_until)) => Some(StoredUploadUrl {
                sealed: SealedSecret::from_bytes(sealed.as_ref().to_vec()),
                usable_until,
            }),
            (None, None) => None,
            _ => return Err(corrupt("upload_url")),
        },
        object_etag: opt_s(item, "object_etag").map(str::to_owned),
        error: opt_s(item, "error").map(str::to_owned),
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::upload::{NewUpload, PrivacyLevel};
    use chrono::{TimeZone, Utc};

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
        let transferring = Upload {
            upload_url: Some(StoredUploadUrl {
                sealed: SealedSecret::from_bytes(vec![7; 40]),
                usable_until: now + chrono::Duration::minutes(55),
            }),
            ..upload
        };
        let item = upload_to_item(&transferring);
        assert_eq!(upload_from_item(&item).unwrap(), transferring);
        let mut half = item;
        half.remove("upload_url_until");
        assert!(upload_from_item(&half).is_err());
    }
}
