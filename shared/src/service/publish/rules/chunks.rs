//! Where a transfer goes after each chunk.

use super::{RETRY_LATER, Step, defer, failed};
use crate::{
    adapters::tiktok::transfer::ChunkAnswer,
    domain::{
        tiktok::TikTokError,
        upload::{Chunk, ChunkPlan},
    },
};

/// Where a transfer goes after the upload host answered chunk `index` of
/// `chunks`; `failures` counts failed tries since the last progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterChunk {
    /// On to chunk `index`, progress made.
    Next(usize),
    /// Every byte is there.
    Complete,
    /// Wait, then send the same chunk again.
    Retry,
    /// TikTok has the bytes up to chunk `index`'s start: go on from there.
    Realign(usize),
    /// The answer does not say where TikTok is (expired, no task, progress
    /// unknown or off the plan): ask TikTok's status before anything else.
    /// `url_usable`: whether the upload_url may still take bytes.
    Ambiguous { why: &'static str, url_usable: bool },
    /// End the attempt.
    Stop(Step),
}

fn ambiguous(why: &'static str, url_usable: bool) -> AfterChunk {
    AfterChunk::Ambiguous { why, url_usable }
}

pub fn after_chunk(
    answer: Result<ChunkAnswer, TikTokError>,
    index: usize,
    plan: &ChunkPlan,
    chunks: &[Chunk],
    failures: u32,
    max_attempts: u32,
) -> AfterChunk {
    match answer {
        Ok(ChunkAnswer::Partial) if index + 1 < chunks.len() => AfterChunk::Next(index + 1),
        Ok(ChunkAnswer::Complete) => AfterChunk::Complete,
        Ok(ChunkAnswer::Partial) => {
            AfterChunk::Stop(failed("TikTok wanted more bytes than the file has"))
        }
        Ok(ChunkAnswer::Expired) => ambiguous("expired", false),
        Ok(ChunkAnswer::NoTask) => ambiguous("no upload task", false),
        // TikTok says where it is: continue from there if that is a chunk
        // boundary of ours.
        Ok(ChunkAnswer::OutOfOrder { uploaded }) => match uploaded {
            Some(u) if u == plan.video_size => AfterChunk::Complete,
            Some(u) => match chunks.iter().position(|c| c.first == u) {
                Some(at) if failures < max_attempts => AfterChunk::Realign(at),
                _ => ambiguous("progress does not match the plan", true),
            },
            None => ambiguous("progress unknown", true),
        },
        Ok(ChunkAnswer::Refused { status }) => AfterChunk::Stop(failed(format!(
            "TikTok's upload host refused chunk {} (HTTP {status})",
            index + 1
        ))),
        Err(e) if e.is_transient() && failures + 1 < max_attempts => AfterChunk::Retry,
        Err(e) => AfterChunk::Stop(defer(
            RETRY_LATER,
            format!("TikTok's upload host failed: {}", e.code()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::api;
    use super::*;

    #[test]
    fn after_each_chunk_the_transfer_goes_on_retries_realigns_reinits_or_stops() {
        let plan = ChunkPlan::for_size(200_000_000).unwrap();
        let chunks: Vec<Chunk> = plan.chunks().collect();
        assert_eq!(chunks.len(), 3);
        let at = |answer, index, failures| after_chunk(answer, index, &plan, &chunks, failures, 5);
        let out_of_order = |uploaded| Ok(ChunkAnswer::OutOfOrder { uploaded });
        let cases = [
            (at(Ok(ChunkAnswer::Partial), 0, 3), AfterChunk::Next(1)),
            (at(Ok(ChunkAnswer::Partial), 1, 0), AfterChunk::Next(2)),
            (
                at(Ok(ChunkAnswer::Partial), 2, 0),
                AfterChunk::Stop(Step::Failed(
                    "TikTok wanted more bytes than the file has".into(),
                )),
            ),
            (at(Ok(ChunkAnswer::Complete), 2, 0), AfterChunk::Complete),
            (
                at(Ok(ChunkAnswer::Expired), 1, 0),
                ambiguous("expired", false),
            ),
            (
                at(Ok(ChunkAnswer::NoTask), 1, 0),
                ambiguous("no upload task", false),
            ),
            (
                at(out_of_order(Some(200_000_000)), 1, 0),
                AfterChunk::Complete,
            ),
            (
                at(out_of_order(Some(64_000_000)), 0, 0),
                AfterChunk::Realign(1),
            ),
            (at(out_of_order(Some(0)), 2, 4), AfterChunk::Realign(0)),
            (
                at(out_of_order(Some(0)), 2, 5),
                ambiguous("progress does not match the plan", true),
            ),
            (
                at(out_of_order(Some(1234)), 1, 0),
                ambiguous("progress does not match the plan", true),
            ),
            (
                at(out_of_order(None), 1, 0),
                ambiguous("progress unknown", true),
            ),
            (
                at(Ok(ChunkAnswer::Refused { status: 400 }), 1, 0),
                AfterChunk::Stop(Step::Failed(
                    "TikTok's upload host refused chunk 2 (HTTP 400)".into(),
                )),
            ),
            (
                at(Err(api(503, "upload_host_error", "")), 1, 0),
                AfterChunk::Retry,
            ),
            (at(Err(TikTokError::Timeout), 1, 3), AfterChunk::Retry),
            (
                at(Err(TikTokError::Timeout), 1, 4),
                AfterChunk::Stop(defer(RETRY_LATER, "TikTok's upload host failed: timeout")),
            ),
            (
                at(Err(api(400, "bad", "")), 1, 0),
                AfterChunk::Stop(defer(RETRY_LATER, "TikTok's upload host failed: bad")),
            ),
        ];
        for (i, (got, expected)) in cases.into_iter().enumerate() {
            assert_eq!(got, expected, "case {i}");
        }
    }
}
