//! Publishing an uploaded video to TikTok, exactly once.
//!
//! TikTok's init is not idempotent: two inits whose transfers both finish
//! are two posts. So:
//! - a worker owns an upload through a lease taken by conditional write, and
//!   a duplicate event finds it taken (or past publishing) and does nothing;
//! - the stored object is verified (size, magic bytes) before TikTok hears
//!   of it;
//! - the `publish_id` is stored before a single byte is transferred, and a
//!   new init happens only when the previous publish provably cannot
//!   complete (its transfer was never finished: TikTok's status says so, or
//!   its upload_url expired mid-way);
//! - a rate limit or a TikTok outage defers the work through the queue with
//!   a delay, releasing the lease, instead of failing the message.
//!
//! The transfer streams one S3 read into the chunk PUTs, so memory does not
//! grow with the file; a failed chunk is re-read from S3 and sent again.
//!
//! | file | what |
//! |---|---|
//! | `message` | what arrives on the queue, and the follow-ups we send |
//! | `attempt` | claim, where an earlier publish stands, init, settle |
//! | `preflight` | the account, the stored object, the creator, the limits |
//! | `transfer`, `source` | the chunked, streamed transfer |
//! | `status` | the status check when no webhook came |
//! | `posts` | a post's start, media's arrival, quota waits, media kept |
//! | `rules` | every decision, pure |

mod attempt;
mod message;
mod posts;
mod preflight;
mod rules;
mod settings;
mod source;
mod status;
mod transfer;

pub use message::{FollowUp, PublishMessage, UnknownMessage};
pub use settings::PublishSettings;

use std::fmt;

use crate::{
    adapters::{
        kms::KmsSealer,
        s3::{BucketError, UploadBucket},
        scheduler::{ScheduleError, Schedules},
        sqs::{Queue, QueueError},
        store::Store,
        tiktok::{client::TikTokClient, transfer::MediaTransfer},
    },
    domain::{
        ports::{SealError, StoreError},
        upload::UploadStatus,
    },
    service::limits::Limiter,
    support::{clock::Clock, deadline::Deadline, metrics},
};

#[derive(thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error("another worker took the upload over")]
    LostLease,
}

impl fmt::Debug for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::support::errors::error_chain_fmt(self, f)
    }
}

/// What handling one message did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Every byte is at TikTok; the post is processing.
    Transferred,
    /// Someone else holds the upload, or it is past publishing.
    Duplicate,
    /// The object is not stored yet; the upload waits for its PUT.
    NotYetStored,
    /// The upload ended `failed`, with this reason.
    Failed(String),
    /// Put back on the queue, with this reason.
    Deferred(String),
    /// A status check settled the upload, or scheduled another.
    Checked(UploadStatus),
    /// A post's time came: this many targets were sent on.
    Started(usize),
    /// Media was stored: verified (`ready`) or not (`failed`).
    MediaStored(UploadStatus),
    Ignored,
}

/// The adapters a publisher works through, built once at cold start.
#[derive(Clone)]
pub struct PublishAdapters {
    pub store: Store,
    pub sealer: KmsSealer,
    pub tiktok: TikTokClient,
    pub transfer: MediaTransfer,
    pub bucket: UploadBucket,
    pub queue: Queue,
    pub schedules: Schedules,
}

#[derive(Clone)]
pub struct Publisher {
    store: Store,
    limiter: Limiter,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    transfer: MediaTransfer,
    bucket: UploadBucket,
    queue: Queue,
    schedules: Schedules,
    settings: PublishSettings,
    clock: Clock,
}

impl Publisher {
    pub fn new(adapters: PublishAdapters, settings: PublishSettings, clock: Clock) -> Self {
        let PublishAdapters {
            store,
            sealer,
            tiktok,
            transfer,
            bucket,
            queue,
            schedules,
        } = adapters;
        Self {
            limiter: Limiter::new(store.clone(), clock.clone()),
            store,
            sealer,
            tiktok,
            transfer,
            bucket,
            queue,
            schedules,
            settings,
            clock,
        }
    }

    /// The same publisher, reading time from `clock`.
    pub fn with_clock(&self, clock: Clock) -> Self {
        Self {
            limiter: Limiter::new(self.store.clone(), clock.clone()),
            clock,
            ..self.clone()
        }
    }

    /// Handles one queue message, with no deadline.
    pub async fn handle(&self, message: PublishMessage) -> Result<Vec<Handled>, PublishError> {
        self.handle_within(message, Deadline::NONE).await
    }

    /// Handles one queue message, sending no chunk that may not finish
    /// before `deadline`. An `Err` means the message should come back (a
    /// store or queue outage); everything else is settled.
    pub async fn handle_within(
        &self,
        message: PublishMessage,
        deadline: Deadline,
    ) -> Result<Vec<Handled>, PublishError> {
        let handled = self.dispatch(message, deadline).await?;
        for metric in handled.iter().filter_map(rules::metric) {
            metrics::count(("Operation", "publish"), &[(metric, 1)]);
        }
        Ok(handled)
    }

    /// Reads an SQS message body (see [`PublishMessage::parse`]) for this
    /// publisher's bucket.
    pub fn read_message(&self, body: &str) -> Result<PublishMessage, UnknownMessage> {
        PublishMessage::parse(body, self.bucket.name())
    }

    /// Receives of a message after which SQS gives it up.
    pub fn max_receives(&self) -> u32 {
        self.settings.max_receives
    }

    /// The last word on a message that failed its last receive: each upload
    /// it would publish that is still waiting or publishing ends `failed`
    /// with the reason, instead of staying `publishing` for good. A status
    /// check gives nothing up: the webhook still settles its upload.
    pub async fn give_up(
        &self,
        message: &PublishMessage,
        error: &PublishError,
    ) -> Result<(), PublishError> {
        let PublishMessage::Publish { uploads, .. } = message else {
            return Ok(());
        };
        let reason = format!(
            "gave up after {} deliveries: {error}",
            self.settings.max_receives
        );
        for id in uploads {
            match self
                .store
                .abandon_upload(id, &reason, self.clock.now())
                .await
            {
                Ok(()) => {
                    tracing::warn!(upload_id = %id, reason = %reason, "upload failed");
                    metrics::count(("Operation", "publish"), &[("PublishFailed", 1)]);
                    if let Some(upload) = self.store.get_upload(id).await? {
                        self.target_settled(&upload).await;
                    }
                }
                Err(StoreError::NotLeasable) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn dispatch(
        &self,
        message: PublishMessage,
        deadline: Deadline,
    ) -> Result<Vec<Handled>, PublishError> {
        match message {
            PublishMessage::Ignore => Ok(vec![Handled::Ignored]),
            PublishMessage::Publish { uploads, attempt } => {
                let mut handled = Vec::with_capacity(uploads.len());
                for id in uploads {
                    // Boxed: the publish future is large and deeply nested.
                    handled.push(Box::pin(self.publish_within(&id, attempt, deadline)).await?);
                }
                Ok(handled)
            }
            PublishMessage::CheckStatus { upload, attempt } => {
                Ok(vec![Box::pin(self.check_status(&upload, attempt)).await?])
            }
            PublishMessage::Post { post } => Ok(vec![self.start_post(&post).await?]),
            PublishMessage::MediaStored { media } => {
                let mut handled = Vec::with_capacity(media.len());
                for id in media {
                    handled.push(self.media_stored(&id).await?);
                }
                Ok(handled)
            }
        }
    }
}
