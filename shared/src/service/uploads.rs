//! What a user can do with uploads: ask for a presigned URL to upload a
//! video for one of their accounts, and see how the upload is doing.
//! Another user's upload or account is "not found", like a missing one.

use std::{fmt, time::Duration};

use crate::{
    adapters::{
        s3::{BucketError, MEDIA_TAGGING, PresignedPut, UploadBucket},
        store::{Store, uploads::UploadItem},
    },
    domain::{
        account::{Account, AccountStatus},
        creator::{AppAudit, CREATOR_INFO_VALID_SECONDS, check_settings},
        ids::{UploadId, UserId},
        ports::{AccountStore, StoreError},
        ratelimit::RateLimit,
        upload::{
            DEFAULT_MAX_UPLOAD_BYTES, InvalidUpload, MIN_UPLOAD_BYTES, Media, NewMedia, NewUpload,
            PublishMode, UploadKind, UploadView,
        },
    },
    env::{ConfigError, Env},
    service::limits::{LimitError, Limiter},
    support::clock::Clock,
};

/// Uploads per account in a day: TikTok itself caps posts at about 15 per
/// creator per day and pending inbox drafts at 5.
pub const UPLOADS_PER_ACCOUNT: RateLimit = RateLimit {
    scope: "uploads",
    max: 25,
    window: Duration::from_secs(86_400),
};

/// Media uploads (videos for posts) per user in a day.
pub const MEDIA_PER_USER: RateLimit = RateLimit {
    scope: "media",
    max: 200,
    window: Duration::from_secs(86_400),
};

/// The largest `UPLOAD_MAX_BYTES` allowed: TikTok's 4 GB, read as binary.
pub const MAX_UPLOAD_BYTES_LIMIT: u64 = 4_294_967_296;

#[derive(Clone, Debug)]
pub struct UploadSettings {
    /// The largest upload accepted (`UPLOAD_MAX_BYTES`, 1024 to
    /// 4,294,967,296, default 4,000,000,000).
    pub max_bytes: u64,
    /// How long a presigned URL lasts (`UPLOAD_URL_TTL_SECONDS`, 60-3600,
    /// default 900).
    pub url_ttl: Duration,
    /// Whether TikTok has audited the app (`TIKTOK_APP_AUDITED`).
    pub audit: AppAudit,
}

impl UploadSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_bytes: env.number(
                "UPLOAD_MAX_BYTES",
                DEFAULT_MAX_UPLOAD_BYTES,
                (MIN_UPLOAD_BYTES, MAX_UPLOAD_BYTES_LIMIT),
            )?,
            url_ttl: env.seconds("UPLOAD_URL_TTL_SECONDS", 900, (60, 3600))?,
            audit: AppAudit::from_env(env)?,
        })
    }
}

#[derive(thiserror::Error)]
pub enum UploadsError {
    /// Absent, or not the caller's: never say which.
    #[error("not found")]
    NotFound,
    #[error("the account is {0:?}, not active")]
    AccountNotActive(AccountStatus),
    #[error("the account did not grant {0}")]
    ScopeMissing(&'static str),
    #[error(transparent)]
    Invalid(#[from] InvalidUpload),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl fmt::Debug for UploadsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
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

/// Whether `user` may upload for `account` in `mode`: their own, active,
/// with the mode's scope granted.
fn check_account(
    account: Option<Account>,
    user: &UserId,
    mode: PublishMode,
) -> Result<Account, UploadsError> {
    let account = match account {
        Some(account) if &account.owner == user => account,
        _ => return Err(UploadsError::NotFound),
    };
    if account.status != AccountStatus::Active {
        return Err(UploadsError::AccountNotActive(account.status));
    }
    if !account.scopes.contains(mode.scope()) {
        return Err(UploadsError::ScopeMissing(mode.scope()));
    }
    Ok(account)
}

#[derive(Clone)]
pub struct Uploads {
    store: Store,
    limiter: Limiter,
    bucket: UploadBucket,
    settings: UploadSettings,
    clock: Clock,
}

/// A recorded upload and where to PUT the file.
pub struct Created {
    pub upload: UploadView,
    pub put: PresignedPut,
}

impl Uploads {
    pub fn new(
        store: Store,
        limiter: Limiter,
        bucket: UploadBucket,
        settings: UploadSettings,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            limiter,
            bucket,
            settings,
            clock,
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.settings.max_bytes
    }

    /// One call of `user`'s to the API, counted against the per-user limit.
    pub async fn admit_api_call(&self, user: &UserId) -> Result<(), UploadsError> {
        Ok(self.limiter.admit_api_call(user).await?)
    }

    /// Records an upload for one of the caller's accounts, or media for
    /// posts, and presigns its PUT.
    pub async fn create(
        &self,
        user: &UserId,
        request: UploadKind,
    ) -> Result<Created, UploadsError> {
        match request {
            UploadKind::Single(request) => self.create_single(user, request).await,
            UploadKind::Media(request) => self.create_media(user, request).await,
        }
    }

    /// Records media for the caller's posts and presigns its PUT, which
    /// must carry the `retention=release` tag. The object key is
    /// `media/{upload_id}`: no user text.
    #[tracing::instrument(name = "uploads.create_media", skip_all, fields(user = %user))]
    pub async fn create_media(
        &self,
        user: &UserId,
        request: NewMedia,
    ) -> Result<Created, UploadsError> {
        self.limiter.admit(&MEDIA_PER_USER, user.as_ref()).await?;
        let now = self.clock.now();
        let media = Media::new(UploadId::generate(), user.clone(), request, now);
        self.store.put_media(&media).await?;
        let put = self
            .bucket
            .presign_put(
                &media.id.media_key(),
                media.video_type,
                media.size_bytes,
                Some(MEDIA_TAGGING),
                self.settings.url_ttl,
                now,
            )
            .await?;
        tracing::info!(upload_id = %media.id, size = media.size_bytes, "media recorded");
        Ok(Created {
            upload: media.view(),
            put,
        })
    }

    /// Records the upload for the caller's active account and presigns its
    /// PUT. The object key is `uploads/{upload_id}`: no user text.
    #[tracing::instrument(name = "uploads.create", skip_all, fields(user = %user, account_id = %request.account_id))]
    pub async fn create_single(
        &self,
        user: &UserId,
        request: NewUpload,
    ) -> Result<Created, UploadsError> {
        let account = check_account(
            self.store.get_account(&request.account_id).await?,
            user,
            request.mode,
        )?;
        let now = self.clock.now();
        if request.mode == PublishMode::Direct {
            let creator = self
                .store
                .kept_creator(&account, now, CREATOR_INFO_VALID_SECONDS)
                .await?;
            check_settings(&request.post, self.settings.audit, creator.as_ref())?;
        }
        self.limiter
            .admit(&UPLOADS_PER_ACCOUNT, account.id.as_ref())
            .await?;
        let upload =
            crate::domain::upload::Upload::new(UploadId::generate(), user.clone(), request, now);
        self.store.put_upload(&upload).await?;
        let put = self
            .bucket
            .presign_put(
                &upload.id.object_key(),
                upload.video_type,
                upload.size_bytes,
                None,
                self.settings.url_ttl,
                now,
            )
            .await?;
        tracing::info!(upload_id = %upload.id, size = upload.size_bytes, "upload recorded");
        Ok(Created {
            upload: upload.view(),
            put,
        })
    }

    #[tracing::instrument(name = "uploads.get", skip_all, fields(user = %user, upload_id = %id))]
    pub async fn get(&self, user: &UserId, id: &UploadId) -> Result<UploadView, UploadsError> {
        match self.store.get_upload_item(id).await? {
            Some(UploadItem::Upload(upload))
                if &upload.owner == user && upload.target.is_none() =>
            {
                Ok(upload.view())
            }
            Some(UploadItem::Media(media)) if &media.owner == user => Ok(media.view()),
            _ => Err(UploadsError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::sample::account;

    #[test]
    fn only_the_owners_active_account_with_the_modes_scope_takes_uploads() {
        use AccountStatus::*;
        use PublishMode::*;
        let alice = UserId::parse("alice").unwrap();
        let all = "user.info.basic,video.upload,video.publish";
        let cases = [
            (None, Direct, "not_found"),
            (Some(account("bob", Active, all)), Direct, "not_found"),
            (
                Some(account("alice", ReauthRequired, all)),
                Direct,
                "not_active",
            ),
            (
                Some(account("alice", Disconnected, all)),
                Inbox,
                "not_active",
            ),
            (
                Some(account("alice", Active, "video.upload")),
                Direct,
                "scope",
            ),
            (
                Some(account("alice", Active, "video.publish")),
                Inbox,
                "scope",
            ),
            (Some(account("alice", Active, "video.upload")), Inbox, "ok"),
            (Some(account("alice", Active, all)), Direct, "ok"),
        ];
        for (account, mode, expected) in cases {
            let got = match check_account(account, &alice, mode) {
                Ok(_) => "ok",
                Err(UploadsError::NotFound) => "not_found",
                Err(UploadsError::AccountNotActive(_)) => "not_active",
                Err(UploadsError::ScopeMissing(scope)) if scope == mode.scope() => "scope",
                Err(e) => panic!("{e}"),
            };
            assert_eq!(got, expected, "{mode:?}");
        }
    }
}
