//! What a user can do with uploads: ask for a presigned URL to upload a
//! video for one of their accounts, and see how the upload is doing.
//! Another user's upload or account is "not found", like a missing one.

use std::{fmt, time::Duration};

use chrono::Utc;

use crate::{
    account::{AccountStatus, UserId},
    bucket::{BucketError, PresignedPut, UploadBucket},
    ratelimit::{Decision, RateLimit},
    store::{Store, StoreError},
    upload::{NewUpload, Upload, UploadId, UploadView},
};

#[derive(thiserror::Error)]
pub enum UploadsError {
    /// Absent, or not the caller's: never say which.
    #[error("not found")]
    NotFound,
    #[error("the account is {0:?}, not active")]
    AccountNotActive(AccountStatus),
    #[error("the account did not grant {0}")]
    ScopeMissing(&'static str),
    #[error("rate limit {scope} reached")]
    RateLimited {
        scope: &'static str,
        retry_after_seconds: u64,
    },
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for UploadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

impl From<StoreError> for UploadsError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

impl From<BucketError> for UploadsError {
    fn from(e: BucketError) -> Self {
        Self::Unavailable(anyhow::Error::new(e))
    }
}

/// Uploads per account in a day: TikTok itself caps posts at about 15 per
/// creator per day and pending inbox drafts at 5.
pub const UPLOADS_PER_ACCOUNT: RateLimit = RateLimit {
    scope: "uploads",
    max: 25,
    window: Duration::from_secs(86_400),
};

#[derive(Clone, Debug)]
pub struct UploadSettings {
    /// The largest upload accepted.
    pub max_bytes: u64,
    /// How long a presigned URL lasts.
    pub url_ttl: Duration,
}

#[derive(Clone)]
pub struct Uploads {
    store: Store,
    bucket: UploadBucket,
    settings: UploadSettings,
}

/// A recorded upload and where to PUT the file.
pub struct Created {
    pub upload: Upload,
    pub put: PresignedPut,
}

impl Uploads {
    pub fn new(store: Store, bucket: UploadBucket, settings: UploadSettings) -> Self {
        Self {
            store,
            bucket,
            settings,
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.settings.max_bytes
    }

    /// One rate-limit decision; the store failing is a 503 (fail closed).
    pub async fn admit(&self, limit: &RateLimit, key: &str) -> Result<(), UploadsError> {
        match self.store.rate_hit(limit, key, Utc::now()).await? {
            Decision::Allowed { .. } => Ok(()),
            Decision::Denied {
                retry_after_seconds,
            } => Err(UploadsError::RateLimited {
                scope: limit.scope,
                retry_after_seconds,
            }),
        }
    }

    /// Records the upload for the caller's active account and presigns its
    /// PUT. The object key is `uploads/{upload_id}`: no user text.
    #[tracing::instrument(name = "uploads.create", skip_all, fields(user = %user, account_id = %request.account_id))]
    pub async fn create(&self, user: &UserId, request: NewUpload) -> Result<Created, UploadsError> {
        let account = match self.store.get_account(&request.account_id).await? {
            Some(account) if &account.owner == user => account,
            _ => return Err(UploadsError::NotFound),
        };
        if account.status != AccountStatus::Active {
            return Err(UploadsError::AccountNotActive(account.status));
        }
        if !account.scopes.contains(request.mode.scope()) {
            return Err(UploadsError::ScopeMissing(request.mode.scope()));
        }
        self.admit(&UPLOADS_PER_ACCOUNT, account.id.as_ref())
            .await?;
        let now = Utc::now();
        let upload = Upload::new(UploadId::generate(), user.clone(), request, now);
        self.store.put_upload(&upload).await?;
        let put = self
            .bucket
            .presign_put(
                &upload.id.object_key(),
                upload.video_type,
                upload.size_bytes,
                self.settings.url_ttl,
                now,
            )
            .await?;
        tracing::info!(upload_id = %upload.id, size = upload.size_bytes, "upload recorded");
        Ok(Created { upload, put })
    }

    #[tracing::instrument(name = "uploads.get", skip_all, fields(user = %user, upload_id = %id))]
    pub async fn get(&self, user: &UserId, id: &UploadId) -> Result<UploadView, UploadsError> {
        match self.store.get_upload(id).await? {
            Some(upload) if &upload.owner == user => Ok(upload.view()),
            _ => Err(UploadsError::NotFound),
        }
    }
}
