//! The transfer: the stored object streamed into TikTok's chunk PUTs, in
//! order. A chunk the host failed is read from S3 again and resent; where
//! to go after each answer is `rules::after_chunk`.

use super::{
    Publisher,
    rules::{self, AfterChunk, RETRY_LATER, Step, defer},
    source::Source,
};
use crate::{
    domain::{
        secrets::UploadUrl,
        upload::{ChunkPlan, Upload},
    },
    support::{backoff::backoff, errors::chain_line},
};

/// How a transfer on one upload_url ended.
pub(super) enum Transfer {
    Complete,
    /// The upload_url can no longer take the video: init again.
    Reinit(&'static str),
    Stop(Step),
}

impl Publisher {
    /// Streams the object into the chunk PUTs, in order. `source` is the
    /// read the checks opened, if it is still at byte 0.
    pub(super) async fn transfer(
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
                    source = back.await.ok();
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
                AfterChunk::Reinit(why) => return Transfer::Reinit(why),
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
