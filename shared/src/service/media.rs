//! Keeping a video for posts while a post that uses it has not settled:
//! the object carries `retention=hold`; once every post that uses it has
//! settled, `retention=release`, and the bucket's lifecycle rule expires
//! it. Used by the posts API (a cancel) and by upload-publish (a target's
//! end).

use std::fmt;

use crate::{
    adapters::{
        s3::{BucketError, UploadBucket},
        store::{Store, uploads::UploadItem},
    },
    domain::{ids::UploadId, ports::StoreError},
};

#[derive(thiserror::Error)]
pub enum MediaRetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bucket(#[from] BucketError),
}

impl fmt::Debug for MediaRetentionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// Lets the video `media` expire once every post that uses it has settled
/// (each target published, failed or cancelled). Returns whether it did.
pub async fn release_media_if_settled(
    store: &Store,
    bucket: &UploadBucket,
    media: &UploadId,
) -> Result<bool, MediaRetentionError> {
    let Some(UploadItem::Media(media)) = store.get_upload_item(media).await? else {
        return Ok(false);
    };
    for post in &media.posts {
        let Some(post) = store.get_post(post).await? else {
            continue;
        };
        let ids: Vec<UploadId> = post.targets.iter().map(|t| t.upload_id.clone()).collect();
        let open = store
            .get_uploads(&ids)
            .await?
            .iter()
            .flatten()
            .any(|u| !u.status.is_final());
        if open {
            return Ok(false);
        }
    }
    bucket.set_retention(&media.id.media_key(), false).await?;
    tracing::info!(upload_id = %media.id, "every post of the video has settled; it may expire");
    Ok(true)
}
