//! Media: a video uploaded for posts, with no account. It is verified on
//! arrival (`ready`, or `failed` with the reason), never published by
//! itself, and kept until every post that uses it has settled.

use chrono::{DateTime, Utc};

use super::{NewMedia, UploadStatus, UploadView, VideoType};
use crate::domain::{
    ids::{PostId, UploadId, UserId},
    time::rfc3339,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub id: UploadId,
    pub owner: UserId,
    pub video_type: VideoType,
    pub size_bytes: u64,
    /// `awaiting_upload`, `ready` or `failed`.
    pub status: UploadStatus,
    pub error: Option<String>,
    /// The posts that use it.
    pub posts: Vec<PostId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Media {
    pub fn new(id: UploadId, owner: UserId, request: NewMedia, now: DateTime<Utc>) -> Self {
        Self {
            id,
            owner,
            video_type: request.video_type,
            size_bytes: request.size_bytes,
            status: UploadStatus::AwaitingUpload,
            error: None,
            posts: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn view(&self) -> UploadView {
        UploadView {
            upload_id: self.id.to_string(),
            account_id: None,
            status: self.status,
            mode: None,
            content_type: self.video_type.content_type(),
            size_bytes: self.size_bytes,
            publish_id: None,
            error: self.error.clone(),
            retry_at: None,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}
