//! One attempt at publishing an upload: claim it, make sure the account can
//! still post, find out where a publish an earlier attempt started stands,
//! verify the stored object, init, transfer; then settle the attempt.
//! A transfer that stops short without saying where TikTok is (a lost
//! answer, a refused resend, progress unknown) is never answered with a new
//! init until TikTok's status says the publish never got every byte.

use chrono::Duration as Span;

use super::{
    Handled, PublishError, Publisher,
    message::FollowUp,
    preflight::{Access, log_if_unavailable, tiktok_step},
    rules::{self, AfterStatus, MAX_INITS, MAX_TURNS, RETRY_LATER, Settle, Step, defer},
    transfer::Transfer,
};
use crate::{
    adapters::store::publishing::Claimed,
    domain::{
        creator::respecting_creator,
        ids::{PublishId, UploadId},
        ports::{SealError, StoreError},
        ratelimit::{self, RateLimit},
        secrets::{AccessToken, UploadUrl},
        upload::{ChunkPlan, NewPublish, PublishMode, StoredUploadUrl, Upload, UploadStatus},
    },
    support::{deadline::Deadline, errors::chain_line},
};

/// What a post's target says while its media is still being uploaded.
pub(super) const MEDIA_PENDING: &str = "waiting for the video to finish uploading";

/// How long an upload_url is taken to live: TikTok's hour, less a margin.
const UPLOAD_URL_LIFE: Span = Span::minutes(55);

/// What an init gave: a publish to transfer, or where the attempt ends.
enum Init {
    Started(Current),
    Stopped(Step),
}

/// The publish a transfer works on: its id, where its bytes go, and the
/// chunk to send next.
struct Current {
    publish_id: PublishId,
    url: UploadUrl,
    from: usize,
}

impl Publisher {
    /// Publishes one upload, if it is ours to publish, with no deadline.
    pub async fn publish(&self, id: &UploadId, attempt: u32) -> Result<Handled, PublishError> {
        self.publish_within(id, attempt, Deadline::NONE).await
    }

    /// Publishes one upload, if it is ours to publish, sending no chunk
    /// that may not finish before `deadline`.
    #[tracing::instrument(name = "publish", skip_all, fields(upload_id = %id, attempt))]
    pub async fn publish_within(
        &self,
        id: &UploadId,
        attempt: u32,
        deadline: Deadline,
    ) -> Result<Handled, PublishError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.settings.lease).unwrap_or_default();
        let Claimed { upload, from } = match self.store.claim_upload(id, &owner, now, until).await {
            Ok(claimed) => claimed,
            Err(StoreError::NotLeasable) => {
                tracing::info!("upload is unknown, held by another worker, or past publishing");
                return Ok(Handled::Duplicate);
            }
            Err(e) => return Err(e.into()),
        };
        // The publish_id stored for this upload, kept current by the attempt.
        let mut stored = upload.publish_id.clone();
        let step = self
            .attempt(&upload, from, &owner, &mut stored, deadline)
            .await?;
        let settle = rules::settle(
            step,
            attempt,
            self.settings.max_attempts,
            stored.is_some(),
            upload.target.is_some(),
            self.settings.max_defer,
        );
        let now = self.clock.now();
        match settle {
            Settle::AwaitUpload if upload.target.is_some() => {
                self.store
                    .unclaim_upload(id, &owner, UploadStatus::Waiting, Some(MEDIA_PENDING), now)
                    .await?;
                tracing::info!("the media is not stored yet; the target waits for it");
                self.wake_if_media_ready(&upload, attempt).await?;
                Ok(Handled::NotYetStored)
            }
            Settle::AwaitUpload => {
                self.store
                    .unclaim_upload(id, &owner, UploadStatus::AwaitingUpload, None, now)
                    .await?;
                tracing::info!("the object is not stored yet; the upload waits for its PUT");
                Ok(Handled::NotYetStored)
            }
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
                self.target_settled(&upload).await;
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
            Settle::Wait {
                status,
                delay,
                reason,
            } => {
                let until = now + Span::from_std(delay).unwrap_or(Span::hours(24));
                self.store
                    .wait_upload(id, &owner, status, &reason, until, now)
                    .await?;
                tracing::info!(reason = %reason, delay_s = delay.as_secs(), "waiting for a quota");
                self.wake_at(id, attempt, delay, until).await?;
                Ok(Handled::Deferred(reason))
            }
        }
    }

    /// One attempt at an upload we hold, claimed from state `from`.
    /// `previous` is the publish_id stored for it; the attempt updates it
    /// when it stores a new one.
    async fn attempt(
        &self,
        upload: &Upload,
        from: UploadStatus,
        owner: &str,
        previous: &mut Option<PublishId>,
        deadline: Deadline,
    ) -> Result<Step, PublishError> {
        if let Some(step) = self.media_step(upload).await? {
            return Ok(step);
        }
        let access = match self.access_token(upload).await? {
            Access::Ready(access) => access,
            Access::Refused(step) => return Ok(step),
        };
        let plan = match ChunkPlan::for_size(upload.size_bytes) {
            Ok(plan) => plan,
            Err(e) => return Ok(Step::Failed(e.to_string())),
        };
        // A publish was started before: it is TikTok's now unless TikTok
        // says it never got every byte; then go on where it stopped, or
        // replace it.
        let mut current = None;
        if let Some(publish_id) = previous.clone() {
            let url = self.stored_url(upload).await?;
            match self
                .publish_status(upload, &access, &publish_id, &plan, url.is_some())
                .await
            {
                AfterStatus::Done(step) => return Ok(step),
                AfterStatus::Replace => {}
                AfterStatus::Continue(from) => {
                    if let Some(url) = url {
                        tracing::info!(from, "resuming the transfer where TikTok is");
                        current = Some(Current {
                            publish_id,
                            url,
                            from,
                        });
                    }
                }
            }
        }
        let mut object = match self.verify_object(upload, from).await {
            Ok(object) => object,
            Err(step) => return Ok(step),
        };
        let (mut inits, mut creator_checked) = (0, false);
        // What the init sends: the creator's turned-off interactions stay off.
        let mut sent = upload.clone();
        for _ in 0..MAX_TURNS {
            let this = match current.take() {
                Some(this) => this,
                None if inits == MAX_INITS => break,
                None => {
                    if !creator_checked {
                        let creator_max = if upload.mode == PublishMode::Direct {
                            match self.check_creator(upload, &access).await {
                                Ok(info) => {
                                    sent.post = respecting_creator(
                                        &upload.post,
                                        info.comment_disabled,
                                        info.duet_disabled,
                                        info.stitch_disabled,
                                    );
                                    info.max_video_post_duration_sec
                                }
                                Err(step) => return Ok(step),
                            }
                        } else {
                            None
                        };
                        let max = creator_max.unwrap_or(self.settings.max_video_seconds);
                        if let Err(step) = self.check_duration(upload, &object.etag, max).await {
                            return Ok(step);
                        }
                        creator_checked = true;
                    }
                    inits += 1;
                    match self
                        .init(&sent, owner, &access, &plan, &object.etag, previous)
                        .await?
                    {
                        Init::Started(this) => this,
                        Init::Stopped(step) => return Ok(step),
                    }
                }
            };
            let transfer = self
                .transfer(upload, &this.url, &plan, this.from, &mut object, deadline)
                .await;
            match transfer {
                Transfer::Complete => return Ok(Step::Transferred),
                Transfer::Stop(step) => return Ok(step),
                Transfer::Ambiguous { why, url_usable } => {
                    tracing::info!(why, "the transfer stopped short; asking TikTok where it is");
                    match self
                        .publish_status(upload, &access, &this.publish_id, &plan, url_usable)
                        .await
                    {
                        AfterStatus::Done(step) => return Ok(step),
                        AfterStatus::Replace => {
                            tracing::info!("TikTok never got every byte; initialising again");
                        }
                        AfterStatus::Continue(from) => current = Some(Current { from, ..this }),
                    }
                }
            }
        }
        Ok(defer(RETRY_LATER, "the transfer kept stopping short"))
    }

    /// A new publish: TikTok's init, and its publish_id, sealed upload_url
    /// and the object version `etag` stored before a single byte moves (if
    /// that write fails, the publish is abandoned untouched, and an empty
    /// upload never posts).
    async fn init(
        &self,
        upload: &Upload,
        owner: &str,
        access: &AccessToken,
        plan: &ChunkPlan,
        etag: &str,
        previous: &mut Option<PublishId>,
    ) -> Result<Init, PublishError> {
        let init_limit = match upload.mode {
            PublishMode::Direct => &ratelimit::TIKTOK_VIDEO_INIT,
            PublishMode::Inbox => &ratelimit::TIKTOK_INBOX_INIT,
        };
        // The scarcest last: a refusal wastes no slot of a later limit.
        let daily = RateLimit {
            scope: "posts-daily",
            max: self.settings.daily_cap,
            window: std::time::Duration::from_secs(86_400),
        };
        let mut limits = vec![init_limit, &daily];
        if upload.mode == PublishMode::Inbox {
            limits.push(&ratelimit::TIKTOK_INBOX_PENDING);
        }
        for limit in limits {
            if let Some(step) = self.admit(limit, upload).await? {
                return Ok(Init::Stopped(step));
            }
        }
        let ticket = match self
            .tiktok
            .init_upload(access, upload.mode, &upload.post, plan)
            .await
        {
            Ok(ticket) => ticket,
            Err(e) => return Ok(Init::Stopped(tiktok_step("init", &e))),
        };
        let now = self.clock.now();
        let sealed = match self
            .sealer
            .seal_upload_url(&upload.id, &ticket.upload_url)
            .await
        {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "could not seal the upload_url; abandoning it");
                return Ok(Init::Stopped(defer(
                    RETRY_LATER,
                    "could not record the publish",
                )));
            }
        };
        let publish = NewPublish {
            publish_id: ticket.publish_id.clone(),
            upload_url: StoredUploadUrl {
                sealed,
                usable_until: now + UPLOAD_URL_LIFE,
            },
            object_etag: etag.to_owned(),
        };
        let recorded = self
            .store
            .set_publish_id(&upload.id, owner, &publish, previous.as_ref(), now)
            .await;
        match recorded {
            Ok(()) => {}
            Err(StoreError::NotLeasable) => return Err(PublishError::LostLease),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "could not store the publish_id; abandoning it");
                return Ok(Init::Stopped(defer(
                    RETRY_LATER,
                    "could not record the publish_id",
                )));
            }
        }
        tracing::info!(publish_id = %ticket.publish_id, chunks = plan.total_chunk_count, "transferring");
        *previous = Some(ticket.publish_id.clone());
        Ok(Init::Started(Current {
            publish_id: ticket.publish_id,
            url: ticket.upload_url,
            from: 0,
        }))
    }

    /// The stored upload_url, if it can still take a chunk.
    async fn stored_url(&self, upload: &Upload) -> Result<Option<UploadUrl>, PublishError> {
        let Some(stored) = &upload.upload_url else {
            return Ok(None);
        };
        if !Deadline::at(stored.usable_until).allows(self.clock.now(), self.settings.chunk_time) {
            return Ok(None);
        }
        match self
            .sealer
            .open_upload_url(&upload.id, &stored.sealed)
            .await
        {
            Ok(url) => Ok(Some(url)),
            Err(SealError::Rejected) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Where a publish we hold stands, by TikTok's status.
    async fn publish_status(
        &self,
        upload: &Upload,
        access: &AccessToken,
        publish_id: &PublishId,
        plan: &ChunkPlan,
        url_usable: bool,
    ) -> AfterStatus {
        match self.admit(&ratelimit::TIKTOK_STATUS_FETCH, upload).await {
            Ok(None) => {}
            Ok(Some(step)) => return AfterStatus::Done(step),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "rate limiter unavailable");
                return AfterStatus::Done(defer(RETRY_LATER, "the rate limiter is unavailable"));
            }
        }
        let status = self.tiktok.publish_status(access, publish_id).await;
        if let Err(e) = &status {
            log_if_unavailable("status", e);
        }
        rules::after_status(status, plan, url_usable)
    }
}
