//! The transfer: the stored object streamed into TikTok's chunk PUTs, in
//! order. A chunk the host failed is read from S3 again and resent; where
//! to go after each answer is `rules::after_chunk`.

use std::time::Duration;

use super::{
    Publisher,
    rules::{self, AfterChunk, RETRY_LATER, Step, defer},
    source::{Source, Verified},
};
use crate::{
    adapters::s3::BucketError,
    domain::{
        secrets::UploadUrl,
        upload::{ChunkPlan, Upload},
    },
    support::{backoff::backoff, deadline::Deadline, errors::chain_line},
};

/// Why a publish ends when the stored object is no longer the one verified.
pub(super) const OBJECT_CHANGED: &str = "the uploaded object changed after it was verified";

/// How a transfer on one upload_url ended.
pub(super) enum Transfer {
    Complete,
    /// The answer did not say where TikTok is: its status decides.
    Ambiguous {
        why: &'static str,
        url_usable: bool,
    },
    Stop(Step),
}

impl Publisher {
    /// Streams the object into the chunk PUTs, in order, from chunk
    /// `from`: the read the checks opened first, then reads of the verified
    /// version only. No chunk is started that may not finish before
    /// `deadline`: the transfer then goes on in the next invocation, from
    /// where TikTok is.
    pub(super) async fn transfer(
        &self,
        upload: &Upload,
        url: &UploadUrl,
        plan: &ChunkPlan,
        from: usize,
        object: &mut Verified,
        deadline: Deadline,
    ) -> Transfer {
        let key = upload.object_key();
        let chunks: Vec<_> = plan.chunks().collect();
        let mut index = from;
        let mut failures = 0;
        while let Some(chunk) = chunks.get(index) {
            if !deadline.allows(self.clock.now(), self.settings.chunk_time) {
                tracing::info!(
                    chunk = chunk.index,
                    "too near the deadline for another chunk"
                );
                return Transfer::Stop(defer(
                    Duration::ZERO,
                    "the transfer goes on in the next invocation",
                ));
            }
            let src = match object.source.take() {
                Some(s) if s.offset == chunk.first => s,
                _ => match self
                    .bucket
                    .open(&key, chunk.first, Some(&object.etag))
                    .await
                {
                    Ok(opened) => Source::new(opened.body, chunk.first),
                    Err(BucketError::Changed) => {
                        return Transfer::Stop(Step::Failed(OBJECT_CHANGED.into()));
                    }
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
            if let Err(e) = &answer {
                tracing::info!(error = %chain_line(e), chunk = chunk.index, failures, "chunk failed");
            }
            match rules::after_chunk(
                answer,
                index,
                plan,
                &chunks,
                failures,
                self.settings.chunk_attempts,
            ) {
                AfterChunk::Next(next) => {
                    object.source = back.await.ok();
                    index = next;
                    failures = 0;
                }
                AfterChunk::Complete => return Transfer::Complete,
                AfterChunk::Retry => {
                    failures += 1;
                    tracing::info!(chunk = chunk.index, failures, "retrying the chunk");
                    tokio::time::sleep(backoff(self.settings.backoff, failures)).await;
                }
                AfterChunk::Realign(at) => {
                    tracing::info!(from = at, "realigning with TikTok's progress");
                    index = at;
                    failures += 1;
                }
                AfterChunk::Ambiguous { why, url_usable } => {
                    return Transfer::Ambiguous { why, url_usable };
                }
                AfterChunk::Stop(step) => {
                    if let Step::Defer { reason, .. } = &step {
                        tracing::warn!(chunk = chunk.index, reason = %reason, "transfer stopped");
                    }
                    return Transfer::Stop(step);
                }
            }
        }
        Transfer::Stop(Step::Failed("the chunk plan is empty".into()))
    }
}
