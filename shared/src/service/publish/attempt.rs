//! One attempt at publishing an upload: claim it, make sure the account can
//! still post, resume or start a publish, verify the stored object, check
//! the creator, init, transfer; then settle the attempt.

use std::time::Duration;

use super::{
    Handled, PublishError, Publisher,
    message::FollowUp,
    rules::{self, MAX_REINITS, RETRY_LATER, Resume, Settle, Step, defer},
    source::Source,
    transfer::Transfer,
};
use crate::{
    adapters::s3::BucketError,
    domain::{
        ids::{PublishId, UploadId},
        ports::{AccountStore, SealError, StoreError, TokenSealer},
        ratelimit::{self, RateLimit},
        secrets::AccessToken,
        tiktok::TikTokError,
        upload::{ChunkPlan, PublishMode, SNIFF_BYTES, Upload, UploadStatus},
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
    /// Publishes one upload, if it is ours to publish.
    #[tracing::instrument(name = "publish", skip_all, fields(upload_id = %id, attempt))]
    pub async fn publish(&self, id: &UploadId, attempt: u32) -> Result<Handled, PublishError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        let upload = match self.store.claim_upload(id, &owner, now, until).await {
            Ok(upload) => upload,
            Err(StoreError::NotLeasable) => {
                tracing::info!("upload is unknown, held by another worker, or past publishing");
                return Ok(Handled::Duplicate);
            }
            Err(e) => return Err(e.into()),
        };
        // The publish_id stored for this upload, kept current by the attempt.
        let mut stored = upload.publish_id.clone();
        let step = self.attempt(&upload, &owner, &mut stored).await?;
        let settle = rules::settle(
            step,
            attempt,
            self.settings.max_attempts,
            stored.is_some(),
            self.settings.max_defer,
        );
        let now = self.clock.now();
        match settle {
            Settle::Processing => {
                self.store.upload_processing(id, &owner, now).await?;
                tracing::info!("every byte is at TikTok; the post is processing");
                let check = FollowUp::check_status(id, 0);
                if let Err(e) = self
                    .queue
                    .send(&check, self.settings.status_check_delay)
                    .await
                {
                    // The webhook still settles it; only the fallback is lost.
                    tracing::error!(error = %chain_line(&e), "could not schedule the status check");
                }
                Ok(Handled::Transferred)
            }
            Settle::Fail(reason) => {
                self.store
                    .release_upload(id, &owner, UploadStatus::Failed, &reason, now)
                    .await?;
                tracing::warn!(reason = %reason, "upload failed");
                Ok(Handled::Failed(reason))
            }
            Settle::Defer {
                status,
                delay,
                reason,
                next_attempt,
            } => {
                self.store
                    .release_upload(id, &owner, status, &reason, now)
                    .await?;
                self.queue
                    .send(&FollowUp::publish(id, next_attempt), delay)
                    .await?;
                tracing::info!(reason = %reason, delay_s = delay.as_secs(), "publish deferred");
                Ok(Handled::Deferred(reason))
            }
        }
    }

    /// One attempt at an upload we hold. `previous` is the publish_id stored
    /// for it; the attempt updates it when it stores a new one.
    async fn attempt(
        &self,
        upload: &Upload,
        owner: &str,
        previous: &mut Option<PublishId>,
    ) -> Result<Step, PublishError> {
        let access = match self.access_token(upload).await? {
            Access::Ready(access) => access,
            Access::Refused(step) => return Ok(step),
        };
        if let Some(publish_id) = previous.as_ref() {
            // A publish was started before. Resume only what provably cannot
            // complete on its own; otherwise it is TikTok's now.
            match self.previous_publish(upload, &access, publish_id).await {
                Resume::StartOver => {}
                Resume::Done(step) => return Ok(step),
            }
        }
        let mut source = match self.verify_object(upload).await {
            Ok(source) => Some(source),
            Err(step) => return Ok(step),
        };
        if upload.mode == PublishMode::Direct
            && let Err(step) = self.check_creator(upload, &access).await
        {
            return Ok(step);
        }
        let plan = match ChunkPlan::for_size(upload.size_bytes) {
            Ok(plan) => plan,
            Err(e) => return Ok(Step::Failed(e.to_string())),
        };
        for _ in 0..=MAX_REINITS {
            let init_limit = match upload.mode {
                PublishMode::Direct => &ratelimit::TIKTOK_VIDEO_INIT,
                PublishMode::Inbox => &ratelimit::TIKTOK_INBOX_INIT,
            };
            if let Some(step) = self.admit(init_limit, upload).await? {
                return Ok(step);
            }
            let ticket = match self
                .tiktok
                .init_upload(&access, upload.mode, &upload.post, &plan)
                .await
            {
                Ok(ticket) => ticket,
                Err(e) => return Ok(tiktok_step("init", &e)),
            };
            // Stored before any byte moves: if this write fails, the ticket
            // is abandoned untouched, and an empty upload never posts.
            match self
                .store
                .set_publish_id(
                    &upload.id,
                    owner,
                    &ticket.publish_id,
                    previous.as_ref(),
                    self.clock.now(),
                )
                .await
            {
                Ok(()) => {}
                Err(StoreError::NotLeasable) => return Err(PublishError::LostLease),
                Err(e) => {
                    tracing::warn!(error = %chain_line(&e), "could not store the publish_id; abandoning it");
                    return Ok(defer(RETRY_LATER, "could not record the publish_id"));
                }
            }
            tracing::info!(publish_id = %ticket.publish_id, chunks = plan.total_chunk_count, "transferring");
            *previous = Some(ticket.publish_id);
            match self
                .transfer(upload, &ticket.upload_url, &plan, source.take())
                .await
            {
                Transfer::Complete => return Ok(Step::Transferred),
                Transfer::Reinit(why) => {
                    tracing::info!(
                        why,
                        "the upload_url is no longer usable; initialising again"
                    );
                }
                Transfer::Stop(step) => return Ok(step),
            }
        }
        Ok(defer(RETRY_LATER, "the upload_url kept expiring"))
    }

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

    /// What became of a publish started by an earlier attempt.
    async fn previous_publish(
        &self,
        upload: &Upload,
        access: &AccessToken,
        publish_id: &PublishId,
    ) -> Resume {
        match self.admit(&ratelimit::TIKTOK_STATUS_FETCH, upload).await {
            Ok(None) => {}
            Ok(Some(step)) => return Resume::Done(step),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "rate limiter unavailable");
                return Resume::Done(defer(RETRY_LATER, "the rate limiter is unavailable"));
            }
        }
        let status = self.tiktok.publish_status(access, publish_id).await;
        if let Err(e) = &status {
            log_if_unavailable("status", e);
        }
        rules::resume(status, upload.size_bytes)
    }

    /// The stored object must be what was declared: its size, and a
    /// container of the declared type. TikTok hears of nothing otherwise.
    /// The read that checks it stays open for the transfer.
    async fn verify_object(&self, upload: &Upload) -> Result<Source, Step> {
        let (body, size) = match self.bucket.open(&upload.id.object_key(), 0).await {
            Ok(opened) => opened,
            Err(BucketError::NotFound) => {
                return Err(Step::Failed("the uploaded object is missing".into()));
            }
            Err(BucketError::Empty) => (aws_sdk_s3::primitives::ByteStream::from_static(b""), 0),
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
        Ok(source)
    }

    /// A direct post: the creator may post, with the chosen privacy level.
    async fn check_creator(&self, upload: &Upload, access: &AccessToken) -> Result<(), Step> {
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
        match upload.post.privacy_level {
            Some(privacy) => rules::creator_allows(&info, privacy),
            None => Ok(()),
        }
    }

    /// One of TikTok's per-token limits, kept on our side: `Some` step to
    /// defer by when it is used up.
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
            }) => Ok(Some(defer(
                Duration::from_secs(retry_after_seconds),
                format!("waiting for TikTok's {scope} limit"),
            ))),
            Err(LimitError::Unavailable(e)) => Err(e.into()),
        }
    }
}

/// A TikTok error while publishing, logged when TikTok is unavailable.
fn tiktok_step(call: &str, e: &TikTokError) -> Step {
    log_if_unavailable(call, e);
    rules::tiktok_failure(call, e)
}

fn log_if_unavailable(call: &str, e: &TikTokError) {
    if e.is_transient() {
        tracing::warn!(error = %chain_line(e), call, "TikTok unavailable");
    }
}
