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
    item::{Item, get_n, get_s, get_time, key, n, opt_s, opt_time, s},
};
use crate::domain::{
    ids::{AccountId, PostId, PublishId, UploadId, UserId},
    ports::StoreError,
    secrets::SealedSecret,
    upload::{
        Media, PostSettings, PublishMode, StoredUploadUrl, TargetOf, Upload, UploadStatus,
        VideoType,
    },
};

/// What an upload id names: an upload for one account (or a post's
/// target), or media for posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadItem {
    Upload(Box<Upload>),
    Media(Media),
}

/// The `kind` of a media item; a post's target is `target`; an upload for
/// one account has none.
pub(super) const MEDIA: &str = "media";
pub(super) const TARGET: &str = "target";

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
        self.get_consistent(upload_key(id), "DynamoDB GetItem (upload)")
            .await?
            .filter(|item| opt_s(item, "kind") != Some(MEDIA))
            .map(|item| upload_from_item(&item))
            .transpose()
    }

    /// An upload or media by id.
    #[tracing::instrument(name = "store.get_upload_item", skip_all, fields(upload_id = %id))]
    pub async fn get_upload_item(&self, id: &UploadId) -> Result<Option<UploadItem>, StoreError> {
        self.get_consistent(upload_key(id), "DynamoDB GetItem (upload)")
            .await?
            .map(|item| match opt_s(&item, "kind") {
                Some(MEDIA) => media_from_item(&item).map(UploadItem::Media),
                _ => upload_from_item(&item).map(|u| UploadItem::Upload(Box::new(u))),
            })
            .transpose()
    }

    /// Records new media; its id must be new.
    #[tracing::instrument(name = "store.put_media", skip_all, fields(upload_id = %media.id))]
    pub async fn put_media(&self, media: &Media) -> Result<(), StoreError> {
        self.put_new(media_to_item(media), "DynamoDB PutItem (media)")
            .await
    }

    /// The upload a `publish_id` belongs to.
    #[tracing::instrument(name = "store.upload_of_publish", skip_all, fields(publish_id = %publish_id))]
    pub async fn upload_of_publish(
        &self,
        publish_id: &PublishId,
    ) -> Result<Option<UploadId>, StoreError> {
        match self
            .get_consistent(
                publish_key(publish_id),
                "DynamoDB GetItem (publish pointer)",
            )
            .await?
        {
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
    if let Some(target) = &u.target {
        item.insert("kind".into(), s(TARGET));
        item.insert("post_id".into(), s(target.post_id.as_ref()));
        item.insert("media_id".into(), s(target.media_id.as_ref()));
    }
    if let Some(at) = u.retry_at {
        item.insert("retry_at".into(), n(at.timestamp()));
    }
    if let Some(id) = &u.public_post_id {
        item.insert("public_post_id".into(), s(id));
    }
    item.insert("created_at".into(), n(u.created_at.timestamp()));
    item.insert("updated_at".into(), n(u.updated_at.timestamp()));
    item
}

pub fn media_to_item(m: &Media) -> Item {
    let mut item = upload_key(&m.id);
    item.insert("kind".into(), s(MEDIA));
    item.insert("upload_id".into(), s(m.id.as_ref()));
    item.insert("owner".into(), s(m.owner.as_ref()));
    item.insert("content_type".into(), s(m.video_type.content_type()));
    item.insert("size_bytes".into(), n(m.size_bytes as i64));
    item.insert("status".into(), s(m.status.as_str()));
    if let Some(e) = &m.error {
        item.insert("error".into(), s(e));
    }
    if !m.posts.is_empty() {
        item.insert(
            "posts".into(),
            AttributeValue::Ss(m.posts.iter().map(ToString::to_string).collect()),
        );
    }
    item.insert("created_at".into(), n(m.created_at.timestamp()));
    item.insert("updated_at".into(), n(m.updated_at.timestamp()));
    item
}

pub fn media_from_item(item: &Item) -> Result<Media, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("media {what}"));
    let mut posts = match item.get("posts") {
        Some(AttributeValue::Ss(ids)) => ids
            .iter()
            .map(|id| PostId::parse(id).ok_or_else(|| corrupt("posts")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    posts.sort();
    Ok(Media {
        id: UploadId::parse(get_s(item, "upload_id")?).ok_or_else(|| corrupt("upload_id"))?,
        owner: UserId::parse(get_s(item, "owner")?).map_err(|_| corrupt("owner"))?,
        video_type: VideoType::from_content_type(get_s(item, "content_type")?)
            .ok_or_else(|| corrupt("content_type"))?,
        size_bytes: get_n(item, "size_bytes")?
            .try_into()
            .map_err(|_| corrupt("size_bytes"))?,
        status: UploadStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?,
        error: opt_s(item, "error").map(str::to_owned),
        posts,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
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
        target: match opt_s(item, "kind") {
            Some(TARGET) => Some(TargetOf {
                post_id: PostId::parse(get_s(item, "post_id")?)
                    .ok_or_else(|| corrupt("post_id"))?,
                media_id: UploadId::parse(get_s(item, "media_id")?)
                    .ok_or_else(|| corrupt("media_id"))?,
            }),
            Some(_) => return Err(corrupt("kind")),
            None => None,
        },
        retry_at: opt_time(item, "retry_at")?,
        public_post_id: opt_s(item, "public_post_id").map(str::to_owned),
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
