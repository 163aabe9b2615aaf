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

use std::{fmt, io, time::Duration};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use tokio::sync::oneshot;

use crate::{
    account::AccountStatus,
    bucket::{BucketError, UploadBucket},
    error::chain_line,
    queue::{PublishMessage, PublishQueue, QueueError},
    ratelimit::{self, Decision, RateLimit},
    refresh::backoff,
    store::{Store, StoreError},
    tiktok::{
        TikTokClient, TikTokError,
        posting::{ChunkAnswer, MediaTransfer, PublishState},
    },
    tokens::{AccessToken, KmsSealer, SealError, UploadUrl},
    upload::{
        ChunkPlan, PublishId, PublishMode, SNIFF_BYTES, Upload, UploadId, UploadStatus, sniff,
    },
};

/// Tunables, validated at cold start (see `config::PublishConfig`).
#[derive(Clone, Debug)]
pub struct PublishSettings {
    /// How long a worker owns an upload. Longer than Lambda's longest
    /// invocation (15 minutes), so a live worker never loses it.
    pub lease: Duration,
    /// Attempts per chunk on 5xx or network failure.
    pub chunk_attempts: u32,
    /// First backoff between chunk attempts; doubles, with jitter.
    pub backoff: Duration,
    /// Deferrals before the upload is failed.
    pub max_attempts: u32,
    /// The longest a deferral waits (SQS allows 15 minutes).
    pub max_defer: Duration,
    /// Wait before asking TikTok's status when no webhook came.
    pub status_check_delay: Duration,
    /// Status checks before we stop asking.
    pub max_status_checks: u32,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(960),
            chunk_attempts: 5,
            backoff: Duration::from_millis(500),
            max_attempts: 24,
            max_defer: Duration::from_secs(900),
            status_check_delay: Duration::from_secs(900),
            max_status_checks: 96,
        }
    }
}

#[derive(thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("another worker took the upload over")]
    LostLease,
}

impl fmt::Debug for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::error_chain_fmt(self, f)
    }
}

/// What handling one message did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Every byte is at TikTok; the post is processing.
    Transferred,
    /// Someone else holds the upload, or it is past publishing.
    Duplicate,
    /// The upload ended `failed`, with this reason.
    Failed(String),
    /// Put back on the queue, with this reason.
    Deferred(String),
    /// A status check settled the upload, or scheduled another.
    Checked(UploadStatus),
    Ignored,
}

/// Where one attempt ended.
enum Step {
    Transferred,
    Failed(String),
    Defer { delay: Duration, reason: String },
}

fn defer(delay: Duration, reason: impl Into<String>) -> Step {
    Step::Defer {
        delay,
        reason: reason.into(),
    }
}

/// A transient failure's retry delay: a minute, TikTok's rate window.
const RETRY_LATER: Duration = Duration::from_secs(60);
/// Inits (each a fresh upload_url) one attempt may make after an upload_url
/// expired or vanished mid-transfer.
const MAX_REINITS: u32 = 2;

#[derive(Clone)]
pub struct Publisher {
    store: Store,
    sealer: KmsSealer,
    tiktok: TikTokClient,
    transfer: MediaTransfer,
    bucket: UploadBucket,
    queue: PublishQueue,
    settings: PublishSettings,
}

impl Publisher {
    pub fn new(
        store: Store,
        sealer: KmsSealer,
        tiktok: TikTokClient,
        transfer: MediaTransfer,
        bucket: UploadBucket,
        queue: PublishQueue,
        settings: PublishSettings,
    ) -> Self {
        Self {
            store,
            sealer,
            tiktok,
            transfer,
            bucket,
            queue,
            settings,
        }
    }

    /// Handles one queue message. An `Err` means the message should come
    /// back (a store or queue outage); everything else is settled.
    pub async fn handle(&self, message: PublishMessage) -> Result<Vec<Handled>, PublishError> {
        let handled = self.dispatch(message).await?;
        for h in &handled {
            let metric = match h {
                Handled::Transferred => "PublishTransferred",
                Handled::Failed(_) => "PublishFailed",
                Handled::Deferred(_) => "PublishDeferred",
                Handled::Duplicate => "PublishDuplicate",
                Handled::Checked(UploadStatus::Published) => "UploadsPublished",
                Handled::Checked(UploadStatus::Failed) => "UploadsFailed",
                Handled::Checked(_) | Handled::Ignored => continue,
            };
            crate::metrics::count(("Operation", "publish"), &[(metric, 1)]);
        }
        Ok(handled)
    }

    async fn dispatch(&self, message: PublishMessage) -> Result<Vec<Handled>, PublishError> {
        match message {
            PublishMessage::Ignore => Ok(vec![Handled::Ignored]),
            PublishMessage::Publish { uploads, attempt } => {
                let mut handled = Vec::with_capacity(uploads.len());
                for id in uploads {
                    // Boxed: the publish future is large and deeply nested.
                    handled.push(Box::pin(self.publish(&id, attempt)).await?);
                }
                Ok(handled)
            }
            PublishMessage::CheckStatus { upload, attempt } => {
                Ok(vec![Box::pin(self.check_status(&upload, attempt)).await?])
            }
        }
    }

    /// Publishes one upload, if it is ours to publish.
    #[tracing::instrument(name = "publish", skip_all, fields(upload_id = %id, attempt))]
    pub async fn publish(&self, id: &UploadId, attempt: u32) -> Result<Handled, PublishError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
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
        let now = Utc::now();
        match step {
            Step::Transferred => {
                self.store.upload_processing(id, &owner, now).await?;
                tracing::info!("every byte is at TikTok; the post is processing");
                let check = PublishMessage::CheckStatus {
                    upload: id.clone(),
                    attempt: 0,
                };
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
            Step::Failed(reason) => {
                self.store
                    .release_upload(id, &owner, UploadStatus::Failed, &reason, now)
                    .await?;
                tracing::warn!(reason = %reason, "upload failed");
                Ok(Handled::Failed(reason))
            }
            Step::Defer { reason, .. } if attempt + 1 >= self.settings.max_attempts => {
                let reason = format!("gave up after {} attempts: {reason}", attempt + 1);
                self.store
                    .release_upload(id, &owner, UploadStatus::Failed, &reason, now)
                    .await?;
                tracing::warn!(reason = %reason, "upload failed");
                Ok(Handled::Failed(reason))
            }
            Step::Defer { delay, reason } => {
                // Nothing reached TikTok without a stored publish_id, so the
                // next attempt either starts over or resumes that publish.
                let status = match stored {
                    Some(_) => UploadStatus::Publishing,
                    None => UploadStatus::Uploaded,
                };
                self.store
                    .release_upload(id, &owner, status, &reason, now)
                    .await?;
                let retry = PublishMessage::Publish {
                    uploads: vec![id.clone()],
                    attempt: attempt + 1,
                };
                self.queue
                    .send(&retry, delay.min(self.settings.max_defer))
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
            Ok(access) => access,
            Err(step) => return Ok(step),
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
            && let Some(step) = self.check_creator(upload, &access).await
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
                Err(e) => return Ok(tiktok_failure("init", &e)),
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
                    Utc::now(),
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
    async fn access_token(
        &self,
        upload: &Upload,
    ) -> Result<Result<AccessToken, Step>, PublishError> {
        let account = match self.store.get_account(&upload.account_id).await? {
            Some(a) if a.owner == upload.owner => a,
            _ => {
                return Ok(Err(Step::Failed(
                    "the account is no longer connected to this user".into(),
                )));
            }
        };
        let Some(sealed) = account.sealed_tokens.as_ref() else {
            return Ok(Err(Step::Failed(format!(
                "the account is {}; connect it again",
                account.status.as_str()
            ))));
        };
        if account.status != AccountStatus::Active {
            return Ok(Err(Step::Failed(format!(
                "the account is {}; connect it again",
                account.status.as_str()
            ))));
        }
        if !account.scopes.contains(upload.mode.scope()) {
            return Ok(Err(Step::Failed(format!(
                "the account did not grant {}",
                upload.mode.scope()
            ))));
        }
        match self.sealer.open(&account.id, sealed).await {
            Ok(tokens) => Ok(Ok(tokens.access)),
            Err(SealError::Rejected) => Ok(Err(Step::Failed(
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
        match self.tiktok.publish_status(access, publish_id).await {
            Ok(status) => match status.state {
                PublishState::ProcessingUpload
                    if status.uploaded_bytes.unwrap_or(0) < upload.size_bytes =>
                {
                    Resume::StartOver
                }
                PublishState::Failed => Resume::Done(Step::Failed(format!(
                    "TikTok: {}",
                    status.fail_reason.as_deref().unwrap_or("failed")
                ))),
                _ => Resume::Done(Step::Transferred),
            },
            Err(TikTokError::Api { code, .. }) if code == "invalid_publish_id" => Resume::StartOver,
            Err(e) => Resume::Done(tiktok_failure("status", &e)),
        }
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
            Err(BucketError::Empty) => (ByteStream::from_static(b""), 0),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "S3 unavailable");
                return Err(defer(RETRY_LATER, "S3 is unavailable"));
            }
        };
        if size != upload.size_bytes {
            return Err(Step::Failed(format!(
                "the stored file is {size} bytes, but {} were declared",
                upload.size_bytes
            )));
        }
        let mut source = Source::new(body, 0);
        let head = match source.peek(SNIFF_BYTES).await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %e, "S3 read failed");
                return Err(defer(RETRY_LATER, "S3 is unavailable"));
            }
        };
        if !upload.video_type.matches(&head) {
            return Err(Step::Failed(format!(
                "the file is {}, not the declared {}",
                sniff(&head).describe(),
                upload.video_type.content_type()
            )));
        }
        Ok(source)
    }

    /// A direct post: the creator may post, with the chosen privacy level.
    async fn check_creator(&self, upload: &Upload, access: &AccessToken) -> Option<Step> {
        match self.admit(&ratelimit::TIKTOK_CREATOR_INFO, upload).await {
            Ok(None) => {}
            Ok(Some(step)) => return Some(step),
            Err(e) => {
                tracing::warn!(error = %chain_line(&e), "rate limiter unavailable");
                return Some(defer(RETRY_LATER, "the rate limiter is unavailable"));
            }
        }
        let info = match self.tiktok.creator_info(access).await {
            Ok(info) => info,
            Err(e) => return Some(tiktok_failure("creator_info", &e)),
        };
        let privacy = upload.post.privacy_level?;
        if !info
            .privacy_level_options
            .iter()
            .any(|o| o == privacy.as_str())
        {
            return Some(Step::Failed(format!(
                "privacy_level_option_mismatch: this creator can post as {}, not {}",
                info.privacy_level_options.join(", "),
                privacy.as_str()
            )));
        }
        None
    }

    /// One of TikTok's per-token limits, kept on our side.
    async fn admit(
        &self,
        limit: &RateLimit,
        upload: &Upload,
    ) -> Result<Option<Step>, PublishError> {
        match self
            .store
            .rate_hit(limit, upload.account_id.as_ref(), Utc::now())
            .await?
        {
            Decision::Allowed { .. } => Ok(None),
            Decision::Denied {
                retry_after_seconds,
            } => Ok(Some(defer(
                Duration::from_secs(retry_after_seconds),
                format!("waiting for TikTok's {} limit", limit.scope),
            ))),
        }
    }

    /// Streams the object into the chunk PUTs, in order.
    async fn transfer(
        &self,
        upload: &Upload,
        url: &UploadUrl,
        plan: &ChunkPlan,
        mut source: Option<Source>,
    ) -> Transfer {
        let key = upload.id.object_key();
        let chunks: Vec<_> = plan.chunks().collect();
        let mut index = 0;
        let mut failures = 0;
        while let Some(chunk) = chunks.get(index) {
            let src = match source.take() {
                Some(s) if s.offset == chunk.first => s,
                _ => match self.bucket.open(&key, chunk.first).await {
                    Ok((body, _)) => Source::new(body, chunk.first),
                    Err(e) => {
                        tracing::warn!(error = %chain_line(&e), "S3 unavailable mid-transfer");
                        return Transfer::Stop(defer(RETRY_LATER, "S3 is unavailable"));
                    }
                },
            };
            let (body, back) = src.take(chunk.len);
            let answer = self
                .transfer
                .put_chunk(
                    url,
                    upload.video_type,
                    chunk,
                    reqwest::Body::wrap_stream(body),
                )
                .await;
            match answer {
                Ok(ChunkAnswer::Partial) if index + 1 < chunks.len() => {
                    source = back.await.ok();
                    index += 1;
                    failures = 0;
                }
                Ok(ChunkAnswer::Complete) => return Transfer::Complete,
                Ok(ChunkAnswer::Partial) => {
                    return Transfer::Stop(Step::Failed(
                        "TikTok wanted more bytes than the file has".into(),
                    ));
                }
                Ok(ChunkAnswer::Expired) => return Transfer::Reinit("expired"),
                Ok(ChunkAnswer::NoTask) => return Transfer::Reinit("no upload task"),
                Ok(ChunkAnswer::OutOfOrder { uploaded }) => {
                    // TikTok says where it is: continue from there if that is
                    // a chunk boundary of ours.
                    match uploaded {
                        Some(u) if u == plan.video_size => return Transfer::Complete,
                        Some(u) => match chunks.iter().position(|c| c.first == u) {
                            Some(at) if failures < self.settings.chunk_attempts => {
                                tracing::info!(from = at, "realigning with TikTok's progress");
                                index = at;
                                failures += 1;
                            }
                            _ => return Transfer::Reinit("progress does not match the plan"),
                        },
                        None => return Transfer::Reinit("progress unknown"),
                    }
                }
                Ok(ChunkAnswer::Refused { status }) => {
                    return Transfer::Stop(Step::Failed(format!(
                        "TikTok's upload host refused chunk {} (HTTP {status})",
                        chunk.index + 1
                    )));
                }
                Err(e) if e.is_transient() && failures + 1 < self.settings.chunk_attempts => {
                    failures += 1;
                    tracing::info!(error = %chain_line(&e), chunk = chunk.index, failures, "retrying the chunk");
                    tokio::time::sleep(backoff(self.settings.backoff, failures)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %chain_line(&e), chunk = chunk.index, "chunk failed");
                    return Transfer::Stop(defer(
                        RETRY_LATER,
                        format!("TikTok's upload host failed: {}", e.code()),
                    ));
                }
            }
        }
        Transfer::Stop(Step::Failed("the chunk plan is empty".into()))
    }

    /// Asks TikTok how a processing upload is doing (no webhook came).
    #[tracing::instrument(name = "publish.check_status", skip_all, fields(upload_id = %id, attempt))]
    pub async fn check_status(&self, id: &UploadId, attempt: u32) -> Result<Handled, PublishError> {
        let Some(upload) = self.store.get_upload(id).await? else {
            return Ok(Handled::Ignored);
        };
        let Some(publish_id) = upload.publish_id.clone() else {
            return Ok(Handled::Ignored);
        };
        if upload.status != UploadStatus::Processing {
            return Ok(Handled::Checked(upload.status));
        }
        let again = |attempt: u32, delay: Duration| {
            let message = PublishMessage::CheckStatus {
                upload: id.clone(),
                attempt,
            };
            (message, delay)
        };
        let access = match self.access_token(&upload).await? {
            Ok(access) => access,
            Err(_) => {
                tracing::info!(
                    "the account can no longer ask TikTok; leaving the upload to webhooks"
                );
                return Ok(Handled::Checked(upload.status));
            }
        };
        let next = match self
            .store
            .rate_hit(
                &ratelimit::TIKTOK_STATUS_FETCH,
                upload.account_id.as_ref(),
                Utc::now(),
            )
            .await?
        {
            Decision::Denied {
                retry_after_seconds,
            } => Some(again(attempt, Duration::from_secs(retry_after_seconds))),
            Decision::Allowed { .. } => {
                match self.tiktok.publish_status(&access, &publish_id).await {
                    Ok(status) => {
                        let settled = match status.state {
                            PublishState::PublishComplete | PublishState::SendToUserInbox => {
                                Some((UploadStatus::Published, None))
                            }
                            PublishState::Failed => Some((
                                UploadStatus::Failed,
                                Some(format!(
                                    "TikTok: {}",
                                    status.fail_reason.as_deref().unwrap_or("failed")
                                )),
                            )),
                            _ => None,
                        };
                        if let Some((status, error)) = settled {
                            return self
                                .settle(&upload, &publish_id, status, error.as_deref())
                                .await;
                        }
                        Some(again(attempt + 1, self.settings.status_check_delay))
                    }
                    Err(e) if e.is_transient() => {
                        Some(again(attempt + 1, self.settings.status_check_delay))
                    }
                    Err(e) => {
                        tracing::warn!(error = %chain_line(&e), "TikTok refused the status query");
                        None
                    }
                }
            }
        };
        match next {
            Some((message, delay)) if attempt < self.settings.max_status_checks => {
                self.queue.send(&message, delay).await?;
            }
            _ => tracing::warn!("no final status from TikTok; leaving the upload to webhooks"),
        }
        Ok(Handled::Checked(UploadStatus::Processing))
    }

    async fn settle(
        &self,
        upload: &Upload,
        publish_id: &PublishId,
        status: UploadStatus,
        error: Option<&str>,
    ) -> Result<Handled, PublishError> {
        match self
            .store
            .settle_upload(&upload.id, publish_id, status, error, Utc::now())
            .await
        {
            Ok(()) => Ok(Handled::Checked(status)),
            // A webhook settled it first.
            Err(StoreError::NotLeasable) => Ok(Handled::Ignored),
            Err(e) => Err(e.into()),
        }
    }
}

enum Resume {
    StartOver,
    Done(Step),
}

enum Transfer {
    Complete,
    Reinit(&'static str),
    Stop(Step),
}

/// A TikTok error while publishing: transient ones wait, others end it.
fn tiktok_failure(call: &str, e: &TikTokError) -> Step {
    if e.is_transient() {
        tracing::warn!(error = %chain_line(e), call, "TikTok unavailable");
        return defer(RETRY_LATER, format!("TikTok {call} failed: {}", e.code()));
    }
    let detail = match e {
        TikTokError::Api { message, .. } if !message.is_empty() => format!(": {message}"),
        _ => String::new(),
    };
    Step::Failed(format!("TikTok {call} refused: {}{detail}", e.code()))
}

/// The S3 object read from `offset` on; chunks take their bytes from it in
/// order, so the happy path reads the object once.
struct Source {
    body: ByteStream,
    pending: Bytes,
    offset: u64,
}

type ChunkBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

impl Source {
    fn new(body: ByteStream, offset: u64) -> Self {
        Self {
            body,
            pending: Bytes::new(),
            offset,
        }
    }

    /// The next `n` bytes (fewer if the object is shorter), kept for the
    /// transfer.
    async fn peek(&mut self, n: usize) -> Result<Bytes, io::Error> {
        while self.pending.len() < n {
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    let mut joined = bytes::BytesMut::from(&self.pending[..]);
                    joined.extend_from_slice(&bytes);
                    self.pending = joined.freeze();
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => break,
            }
        }
        Ok(self.pending.slice(..self.pending.len().min(n)))
    }

    /// A stream of exactly `len` bytes from here. Once they are out, the
    /// source comes back through the receiver for the next chunk; if the
    /// PUT fails midway it is dropped, and the retry reads from S3 again.
    fn take(self, len: u64) -> (ChunkBody, oneshot::Receiver<Source>) {
        let (tx, rx) = oneshot::channel();
        let stream = futures::stream::unfold(
            (Some(self), len, Some(tx)),
            |(source, remaining, tx)| async move {
                let mut source = source?;
                if remaining == 0 {
                    return None;
                }
                let mut bytes = if source.pending.is_empty() {
                    match source.body.next().await {
                        Some(Ok(bytes)) => bytes,
                        Some(Err(e)) => return Some((Err(io::Error::other(e)), (None, 0, None))),
                        None => {
                            let e =
                                io::Error::new(io::ErrorKind::UnexpectedEof, "object ended early");
                            return Some((Err(e), (None, 0, None)));
                        }
                    }
                } else {
                    std::mem::take(&mut source.pending)
                };
                if bytes.len() as u64 > remaining {
                    source.pending = bytes.split_off(remaining as usize);
                }
                let n = bytes.len() as u64;
                source.offset += n;
                let remaining = remaining - n;
                if remaining == 0 {
                    // Hand the source back now: the HTTP client may never
                    // poll past the last byte of a sized body.
                    if let Some(tx) = tx {
                        let _ = tx.send(source);
                    }
                    return Some((Ok(bytes), (None, 0, None)));
                }
                Some((Ok(bytes), (Some(source), remaining, tx)))
            },
        );
        (Box::pin(stream), rx)
    }
}
