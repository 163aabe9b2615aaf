//! What is checked before TikTok hears of a publish: the account can still
//! post (and its access token), the stored object is what was declared,
//! the creator may post with the chosen privacy, and TikTok's per-token
//! limits allow the call.

use std::time::Duration;

use super::{
    PublishError, Publisher,
    rules::{self, RETRY_LATER, Step, defer},
    source::{Source, Verified},
    transfer::OBJECT_CHANGED,
};
use crate::{
    adapters::s3::BucketError,
    adapters::tiktok::posting::CreatorInfo,
    domain::{
        ports::{AccountStore, SealError, TokenSealer},
        ratelimit::{self, RateLimit},
        secrets::AccessToken,
        tiktok::TikTokError,
        upload::{
            SNIFF_BYTES, Upload, UploadStatus,
            duration::{DurationError, duration_seconds},
        },
    },
    service::limits::LimitError,
    support::errors::chain_line,
};

/// The account's access token, or why the upload cannot be published.
pub(super) enum Access {
    Ready(AccessToken),
    Refused(Step),
}

impl Publisher {
    /// The account's access token, or why there is none.
    pub(super) async fn access_token(&self, upload: &Upload) -> Result<Access, PublishError> {
        let account = self.store.get_account(&upload.account_id).await?;
        let sealed = match rules::account_ready(account, upload) {
            Ok(sealed) => sealed,
            Err(step) => return Ok(Access::Refused(step)),
        };
        match self.sealer.open(&upload.account_id, &sealed).await {
            Ok(tokens) => Ok(Access::Ready(tokens.access)),
            Err(SealError::Rejected) => Ok(Access::Refused(Step::Failed(
                "the account's tokens do not open; connect it again".into(),
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The stored object must be what was declared: its size, and a
    /// container of the declared type; and, once a publish has read it,
    /// the same version. TikTok hears of nothing otherwise. The read that
    /// checks it stays open for the transfer. An upload claimed from
    /// `awaiting_upload` whose object is not there yet waits for it.
    pub(super) async fn verify_object(
        &self,
        upload: &Upload,
        from: UploadStatus,
    ) -> Result<Verified, Step> {
        let opened = self
            .bucket
            .open(&upload.object_key(), 0, upload.object_etag.as_deref())
            .await;
        let (body, size, etag) = match opened {
            Ok(object) => (object.body, object.size, object.etag),
            Err(BucketError::NotFound) => return Err(rules::object_missing(from)),
            Err(BucketError::Changed) => return Err(Step::Failed(OBJECT_CHANGED.into())),
            Err(BucketError::Empty) => {
                rules::verify_size(upload, 0)?;
                return Err(Step::Failed("the uploaded object is empty".into()));
            }
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "S3 unavailable");
                return Err(defer(RETRY_LATER, "S3 is unavailable"));
            }
        };
        rules::verify_size(upload, size)?;
        let mut source = Source::new(body, 0);
        let head = match source.peek(SNIFF_BYTES).await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %e, "S3 read failed");
                return Err(defer(RETRY_LATER, "S3 is unavailable"));
            }
        };
        rules::verify_type(upload, &head)?;
        Ok(Verified {
            etag,
            source: Some(source),
        })
    }

    /// A direct post: the creator may post, with the chosen privacy level.
    /// Returns what TikTok says of the creator (the longest video it takes,
    /// the interactions turned off).
    pub(super) async fn check_creator(
        &self,
        upload: &Upload,
        access: &AccessToken,
    ) -> Result<CreatorInfo, Step> {
        match self.admit(&ratelimit::TIKTOK_CREATOR_INFO, upload).await {
            Ok(None) => {}
            Ok(Some(step)) => return Err(step),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "rate limiter unavailable");
                return Err(defer(RETRY_LATER, "the rate limiter is unavailable"));
            }
        }
        let info = match self.tiktok.creator_info(access).await {
            Ok(info) => info,
            Err(e) => return Err(tiktok_step("creator_info", &e)),
        };
        if let Some(privacy) = upload.post.privacy_level {
            rules::creator_allows(&info, privacy)?;
        }
        Ok(info)
    }

    /// The video may last at most `max_seconds`: its duration is read from
    /// the stored container's headers (a few ranged reads of the version
    /// verified) before TikTok hears of it.
    pub(super) async fn check_duration(
        &self,
        upload: &Upload,
        etag: &str,
        max_seconds: u32,
    ) -> Result<(), Step> {
        let key = upload.object_key();
        let ranges = self.bucket.ranges(&key, etag);
        let read = duration_seconds(&ranges, upload.size_bytes, upload.video_type).await;
        match rules::duration_allows(read, max_seconds) {
            Err(DurationError::Read(BucketError::Changed)) => {
                Err(Step::Failed(OBJECT_CHANGED.into()))
            }
            Err(DurationError::Read(e)) => {
                tracing::warn!(error = %chain_line(&e), "S3 unavailable");
                Err(defer(RETRY_LATER, "S3 is unavailable"))
            }
            Err(DurationError::Unknown(why) | DurationError::Malformed(why)) => {
                Err(Step::Failed(format!(
                    "duration_unknown: {why}; upload an MP4, MOV or WebM that states its duration"
                )))
            }
            Ok(result) => result,
        }
    }

    /// One of TikTok's per-token limits or our quotas, kept on our side:
    /// `Some` step to wait by when it is used up.
    pub(super) async fn admit(
        &self,
        limit: &RateLimit,
        upload: &Upload,
    ) -> Result<Option<Step>, PublishError> {
        match self.limiter.admit(limit, upload.account_id.as_ref()).await {
            Ok(()) => Ok(None),
            Err(LimitError::Limited {
                scope,
                retry_after_seconds,
            }) => Ok(Some(rules::wait(
                Duration::from_secs(retry_after_seconds),
                format!("waiting for the {scope} limit"),
            ))),
            Err(LimitError::Unavailable(e)) => Err(e.into()),
        }
    }
}

/// A TikTok error while publishing, logged when TikTok is unavailable.
pub(super) fn tiktok_step(call: &str, e: &TikTokError) -> Step {
    log_if_unavailable(call, e);
    rules::tiktok_failure(call, e)
}

pub(super) fn log_if_unavailable(call: &str, e: &TikTokError) {
    if e.is_transient() {
        tracing::warn!(error = %chain_line(e), call, "TikTok unavailable");
    }
}
