//! An upload as stored, where it is in its life, and what the API shows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::request::{NewUpload, PostSettings, PublishMode};
use super::video::VideoType;
use crate::domain::{
    ids::{AccountId, PostId, PublishId, UploadId, UserId},
    secrets::SealedSecret,
    time::rfc3339,
};

/// Where an upload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Recorded; the client has a presigned URL and has not finished the PUT.
    AwaitingUpload,
    /// The object is stored; publishing is waiting (a rate limit, a retry).
    Uploaded,
    /// A worker holds it: verifying, initialising or transferring.
    Publishing,
    /// TikTok has every byte and is processing the post.
    Processing,
    /// Posted (direct) or delivered to the creator's inbox (inbox).
    Published,
    Failed,
    /// A post's target before its time.
    Scheduled,
    /// A post's target that waits: for a quota, the media, or a retry
    /// (`error` says which, `retry_at` until when).
    Waiting,
    /// A post's target cancelled before it started.
    Cancelled,
    /// Media for posts, stored and verified.
    Ready,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "awaiting_upload",
            Self::Uploaded => "uploaded",
            Self::Publishing => "publishing",
            Self::Processing => "processing",
            Self::Published => "published",
            Self::Failed => "failed",
            Self::Scheduled => "scheduled",
            Self::Waiting => "waiting",
            Self::Cancelled => "cancelled",
            Self::Ready => "ready",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::AwaitingUpload,
            Self::Uploaded,
            Self::Publishing,
            Self::Processing,
            Self::Published,
            Self::Failed,
            Self::Scheduled,
            Self::Waiting,
            Self::Cancelled,
            Self::Ready,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Published | Self::Failed | Self::Cancelled)
    }

    /// Whether nothing of it has reached TikTok and no worker holds it.
    pub fn not_started(self) -> bool {
        matches!(
            self,
            Self::AwaitingUpload | Self::Uploaded | Self::Scheduled | Self::Waiting
        )
    }
}

/// An upload as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: UploadId,
    pub owner: UserId,
    pub account_id: AccountId,
    pub video_type: VideoType,
    pub size_bytes: u64,
    pub mode: PublishMode,
    pub post: PostSettings,
    pub status: UploadStatus,
    pub publish_id: Option<PublishId>,
    /// Where the current publish's bytes go, sealed, while TikTok takes
    /// them: a transfer cut short resumes there.
    pub upload_url: Option<StoredUploadUrl>,
    /// The version (S3 ETag) of the object whose bytes the publish sends:
    /// every later read is of this version only.
    pub object_etag: Option<String>,
    pub error: Option<String>,
    /// A post's target: the post, and the media whose object it sends.
    pub target: Option<TargetOf>,
    /// Not to be started before this (a quota, a post's time).
    pub retry_at: Option<DateTime<Utc>>,
    /// TikTok's id of the public post, once it is publicly available.
    pub public_post_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a post's target belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetOf {
    pub post_id: PostId,
    pub media_id: UploadId,
}

/// A publish's `upload_url`, sealed, and until when it can still take
/// bytes (TikTok's live an hour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUploadUrl {
    pub sealed: SealedSecret,
    pub usable_until: DateTime<Utc>,
}

/// What a new publish stores before a byte moves: TikTok's publish_id,
/// where its bytes go (sealed), and the version of the object they are
/// read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPublish {
    pub publish_id: PublishId,
    pub upload_url: StoredUploadUrl,
    pub object_etag: String,
}

/// An upload as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadView {
    pub upload_id: String,
    /// `None` for media (a video for posts).
    pub account_id: Option<String>,
    pub status: UploadStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<PublishMode>,
    pub content_type: &'static str,
    pub size_bytes: u64,
    pub publish_id: Option<String>,
    pub error: Option<String>,
    /// When an upload waiting for a quota or a daily cap tries again.
    pub retry_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Upload {
    pub fn new(id: UploadId, owner: UserId, request: NewUpload, now: DateTime<Utc>) -> Self {
        Self {
            id,
            owner,
            account_id: request.account_id,
            video_type: request.video_type,
            size_bytes: request.size_bytes,
            mode: request.mode,
            post: request.post,
            status: UploadStatus::AwaitingUpload,
            publish_id: None,
            upload_url: None,
            object_etag: None,
            error: None,
            target: None,
            retry_at: None,
            public_post_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// When it tries again, while it waits for a quota or a daily cap
    /// (not once settled, nor while scheduled: `publish_at` says when).
    pub fn pending_retry(&self) -> Option<String> {
        self.retry_at
            .filter(|_| !self.status.is_final() && self.status != UploadStatus::Scheduled)
            .map(rfc3339)
    }

    /// Where its bytes are: its own object, or its post's media.
    pub fn object_key(&self) -> String {
        match &self.target {
            Some(target) => target.media_id.media_key(),
            None => self.id.object_key(),
        }
    }

    pub fn view(&self) -> UploadView {
        UploadView {
            upload_id: self.id.to_string(),
            account_id: Some(self.account_id.to_string()),
            status: self.status,
            mode: Some(self.mode),
            content_type: self.video_type.content_type(),
            size_bytes: self.size_bytes,
            publish_id: self.publish_id.as_ref().map(ToString::to_string),
            error: self.error.clone(),
            retry_at: self.pending_retry(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}
