//! What posts add to publishing: a post's start (its schedule fired, or it
//! was made for now) sends each target on as a publish of its own; media's
//! arrival is verified and wakes the posts that wait for it; a target that
//! waits for a quota is woken then; and once every post that uses a video
//! has settled, the video may expire.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Handled, PublishError, Publisher, message::FollowUp, rules::Step, source::Source};
use crate::{
    adapters::{s3::BucketError, sqs::MAX_DELAY, store::uploads::UploadItem},
    domain::{
        ids::{PostId, UploadId},
        ports::StoreError,
        post::{SCHEDULE_PRECISION, queue_delay},
        upload::{Media, SNIFF_BYTES, Upload, UploadStatus},
    },
    service::media::release_media_if_settled,
    support::errors::chain_line,
};

/// The schedule that wakes an upload waiting longer than SQS's delay.
pub fn wake_schedule(id: &UploadId) -> String {
    format!("wake-{id}")
}

impl Publisher {
    /// A post's time has come (or is within the scheduler's precision):
    /// mark it started (after which it can no longer change) and send each
    /// target that is due on to the queue, to be taken at the post's exact
    /// time and published on its own. A duplicate, a cancelled post, or
    /// one moved later changes nothing (a post moved later gets its
    /// schedule back, in case the move did not reach it).
    #[tracing::instrument(name = "publish.start_post", skip_all, fields(post_id = %id))]
    pub async fn start_post(&self, id: &PostId) -> Result<Handled, PublishError> {
        let now = self.clock.now();
        let due_by = now + SCHEDULE_PRECISION;
        let post = match self.store.start_post(id, now, due_by).await {
            Ok(post) => post,
            Err(StoreError::NotLeasable) => {
                if let Some(post) = self.store.get_post(id).await?
                    && post.cancelled_at.is_none()
                    && post.publish_at > due_by
                {
                    self.schedules
                        .put(&post.schedule_name(), post.publish_at, &FollowUp::post(id))
                        .await?;
                    tracing::info!("the post's time has not come; its schedule is set");
                } else {
                    tracing::info!("the post is gone or cancelled");
                }
                return Ok(Handled::Ignored);
            }
            Err(e) => return Err(e.into()),
        };
        let at = post.publish_at.max(now);
        let ids: Vec<UploadId> = post.targets.iter().map(|t| t.upload_id.clone()).collect();
        let due: Vec<FollowUp> = self
            .store
            .get_uploads(&ids)
            .await?
            .into_iter()
            .flatten()
            .filter(|u| is_due(u, at))
            .map(|u| FollowUp::publish(&u.id, 0))
            .collect();
        self.queue
            .send_all(&due, queue_delay(post.publish_at, now))
            .await?;
        tracing::info!(targets = due.len(), "post started");
        Ok(Handled::Started(due.len()))
    }

    /// Media's object was stored: verify it (its declared size, a
    /// container of its declared type), mark it `ready` or `failed`, keep
    /// it while posts use it, and wake those posts.
    #[tracing::instrument(name = "publish.media_stored", skip_all, fields(upload_id = %id))]
    pub async fn media_stored(&self, id: &UploadId) -> Result<Handled, PublishError> {
        let Some(UploadItem::Media(media)) = self.store.get_upload_item(id).await? else {
            return Ok(Handled::Ignored);
        };
        if media.status != UploadStatus::AwaitingUpload {
            return Ok(Handled::Duplicate);
        }
        let problem = match self.verify_media(&media).await? {
            Some(problem) => problem,
            None => return Ok(Handled::NotYetStored),
        };
        let now = self.clock.now();
        let media = match self.store.media_arrived(id, problem.as_deref(), now).await {
            Ok(media) => media,
            Err(StoreError::NotLeasable) => return Ok(Handled::Duplicate),
            Err(e) => return Err(e.into()),
        };
        match &problem {
            Some(reason) => tracing::warn!(reason = %reason, "media failed verification"),
            None => tracing::info!(posts = media.posts.len(), "media ready"),
        }
        if problem.is_none() && !media.posts.is_empty() {
            self.bucket.set_retention(&id.media_key(), true).await?;
        }
        let posts: Vec<FollowUp> = media.posts.iter().map(FollowUp::post).collect();
        self.queue.send_all(&posts, Duration::ZERO).await?;
        Ok(Handled::MediaStored(media.status))
    }

    /// `Some(None)`: the stored media is what was declared;
    /// `Some(Some(reason))`: it is not; `None`: it is not stored yet.
    async fn verify_media(&self, media: &Media) -> Result<Option<Option<String>>, PublishError> {
        let object = match self.bucket.open(&media.id.media_key(), 0, None).await {
            Ok(object) => object,
            Err(BucketError::NotFound) => return Ok(None),
            Err(BucketError::Empty) => {
                return Ok(Some(Some("the uploaded object is empty".into())));
            }
            Err(e) => return Err(e.into()),
        };
        if object.size != media.size_bytes {
            return Ok(Some(Some(format!(
                "the stored file is {} bytes, but {} were declared",
                object.size, media.size_bytes
            ))));
        }
        let head = Source::new(object.body, 0)
            .peek(SNIFF_BYTES)
            .await
            .map_err(|e| PublishError::Bucket(BucketError::Unavailable(anyhow::Error::new(e))))?;
        if !media.video_type.matches(&head) {
            return Ok(Some(Some(format!(
                "the file is {}, not the declared {}",
                crate::domain::upload::sniff(&head).describe(),
                media.video_type.content_type()
            ))));
        }
        Ok(Some(None))
    }

    /// Where a post's target stands with its media: `None` when the media
    /// is ready, else the step that ends the attempt (wait for it, or fail
    /// with the media's reason).
    pub(super) async fn media_step(&self, upload: &Upload) -> Result<Option<Step>, PublishError> {
        let Some(target) = &upload.target else {
            return Ok(None);
        };
        match self.store.get_upload_item(&target.media_id).await? {
            Some(UploadItem::Media(media)) => Ok(match media.status {
                UploadStatus::Ready => None,
                UploadStatus::Failed => Some(Step::Failed(format!(
                    "the video failed verification: {}",
                    media.error.as_deref().unwrap_or("unknown")
                ))),
                _ => Some(Step::NotStored),
            }),
            _ => Ok(Some(Step::Failed("the video is gone".into()))),
        }
    }

    /// A target that went back to waiting for its media: if the media
    /// arrived meanwhile (its wake found the target held), wake it now.
    pub(super) async fn wake_if_media_ready(
        &self,
        upload: &Upload,
        attempt: u32,
    ) -> Result<(), PublishError> {
        if let Some(Step::NotStored) = self.media_step(upload).await? {
            return Ok(());
        }
        self.queue
            .send(&FollowUp::publish(&upload.id, attempt), Duration::ZERO)
            .await?;
        Ok(())
    }

    /// Wakes a waiting upload at `until` (`delay` from now): through the
    /// queue's delay when it is short enough, else a one-time schedule. If
    /// neither can be set, the wait is lifted so that the message's
    /// redelivery finds the upload free.
    pub(super) async fn wake_at(
        &self,
        id: &UploadId,
        attempt: u32,
        delay: Duration,
        until: DateTime<Utc>,
    ) -> Result<(), PublishError> {
        let message = FollowUp::publish(id, attempt);
        let woken = if delay <= MAX_DELAY {
            self.queue
                .send(&message, delay)
                .await
                .map_err(PublishError::from)
        } else {
            self.schedules
                .put(&wake_schedule(id), until, &message)
                .await
                .map_err(PublishError::from)
        };
        if let Err(e) = woken {
            if let Err(lift) = self.store.lift_wait(id).await {
                tracing::error!(error = %chain_line(&lift), "could not lift the wait of an upload whose wake was not set");
            }
            return Err(e);
        }
        Ok(())
    }

    /// A post's target ended: if every post that uses its video has
    /// settled, the video may expire. A failure here keeps the video (the
    /// bucket's safety net is the object's age): logged, never raised.
    pub(super) async fn target_settled(&self, upload: &Upload) {
        let Some(target) = &upload.target else {
            return;
        };
        if let Err(e) = release_media_if_settled(&self.store, &self.bucket, &target.media_id).await
        {
            tracing::warn!(error = %chain_line(&e), "could not release the video");
        }
    }
}

/// A target the start of its post sends on: not started, and not waiting
/// for a later time.
fn is_due(upload: &Upload, now: DateTime<Utc>) -> bool {
    matches!(
        upload.status,
        UploadStatus::Scheduled | UploadStatus::Waiting
    ) && upload.retry_at.is_none_or(|at| at <= now)
}
