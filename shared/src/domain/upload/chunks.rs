//! The chunk plan TikTok's media transfer requires.

use serde::Serialize;

/// How a video is cut for TikTok's chunked FILE_UPLOAD (tiktok-api.md
/// §3.5): `total_chunk_count = floor(video_size / chunk_size)`, and the final
/// chunk takes the trailing bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

/// One whole file only up to this size (the stricter, decimal reading of
/// "64 MB"); larger files must be chunked.
pub const MAX_SINGLE_CHUNK: u64 = 64_000_000;
/// Chunks are at least 5 MB; 5 MiB satisfies both readings of "MB".
pub const MIN_CHUNK: u64 = 5 * 1024 * 1024;
/// Chunks are at most 64 MB (decimal, the stricter reading).
pub const MAX_CHUNK: u64 = 64_000_000;
/// The final chunk may reach 128 MB (decimal).
pub const MAX_FINAL_CHUNK: u64 = 128_000_000;
pub const MAX_CHUNKS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no chunk plan fits {0} bytes")]
pub struct NoPlan(pub u64);

impl ChunkPlan {
    /// The plan for a video of `size` bytes: one chunk up to 64,000,000
    /// bytes; beyond that, the largest chunks TikTok allows (fewest
    /// requests), never fewer than two.
    pub fn for_size(size: u64) -> Result<Self, NoPlan> {
        if size == 0 {
            return Err(NoPlan(size));
        }
        if size <= MAX_SINGLE_CHUNK {
            return Ok(Self {
                video_size: size,
                chunk_size: size,
                total_chunk_count: 1,
            });
        }
        let chunk_size = MAX_CHUNK.min(size / 2);
        let plan = Self {
            video_size: size,
            chunk_size,
            total_chunk_count: size / chunk_size,
        };
        if plan.total_chunk_count > MAX_CHUNKS || plan.final_chunk_len() > MAX_FINAL_CHUNK {
            return Err(NoPlan(size));
        }
        Ok(plan)
    }

    pub fn final_chunk_len(&self) -> u64 {
        self.video_size - self.chunk_size * (self.total_chunk_count - 1)
    }

    /// The chunks in order: `(first byte, length)`.
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        (0..self.total_chunk_count).map(move |index| {
            let first = index * self.chunk_size;
            let len = if index + 1 == self.total_chunk_count {
                self.final_chunk_len()
            } else {
                self.chunk_size
            };
            Chunk {
                index,
                first,
                len,
                total: self.video_size,
            }
        })
    }
}

/// One chunk of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub first: u64,
    pub len: u64,
    pub total: u64,
}

impl Chunk {
    pub fn last(&self) -> u64 {
        self.first + self.len - 1
    }

    /// The `Content-Range` header value for this chunk.
    pub fn content_range(&self) -> String {
        format!("bytes {}-{}/{}", self.first, self.last(), self.total)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::upload::request::DEFAULT_MAX_UPLOAD_BYTES;

    /// TikTok's chunk rules as tiktok-api.md §3.5 states them, in their
    /// strictest reading, written independently of the planner.
    fn tiktok_accepts(plan: &ChunkPlan) -> Result<(), String> {
        let ChunkPlan {
            video_size,
            chunk_size,
            total_chunk_count,
        } = *plan;
        if !(1..=MAX_CHUNKS).contains(&total_chunk_count) {
            return Err("1 to 1000 chunks".into());
        }
        if chunk_size == 0 || total_chunk_count != video_size / chunk_size {
            return Err("count must be floor(size / chunk)".into());
        }
        if total_chunk_count == 1 {
            if chunk_size != video_size || video_size > 64_000_000 {
                return Err("a single chunk is the whole video, at most 64 MB".into());
            }
            return Ok(());
        }
        if !(5_242_880..=64_000_000).contains(&chunk_size) {
            return Err("chunks are 5 to 64 MB".into());
        }
        let last = video_size - chunk_size * (total_chunk_count - 1);
        if last > 128_000_000 {
            return Err("the final chunk is at most 128 MB".into());
        }
        Ok(())
    }

    fn check(size: u64) {
        let plan = ChunkPlan::for_size(size).unwrap();
        tiktok_accepts(&plan).unwrap_or_else(|e| panic!("{size}: {e} ({plan:?})"));
        let mut next = 0;
        for chunk in plan.chunks() {
            assert_eq!(chunk.first, next, "chunks are contiguous");
            assert!(chunk.len > 0);
            next += chunk.len;
        }
        assert_eq!(next, size, "chunks cover the file exactly");
        assert_eq!(plan.chunks().count() as u64, plan.total_chunk_count);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn every_size_up_to_4_gb_has_a_plan_tiktok_accepts(size in 1u64..=4_294_967_296) {
            check(size);
        }
    }

    #[test]
    fn boundaries_have_plans_tiktok_accepts() {
        for size in [
            1,
            1024,
            MIN_CHUNK - 1,
            MIN_CHUNK,
            MIN_CHUNK + 1,
            50_000_123,
            63_999_999,
            64_000_000,
            64_000_001,
            67_108_864,
            127_999_999,
            128_000_000,
            128_000_001,
            191_999_999,
            192_000_000,
            1_000_000_000,
            DEFAULT_MAX_UPLOAD_BYTES,
            4_294_967_296,
        ] {
            check(size);
        }
    }

    #[test]
    fn single_chunk_only_up_to_64_000_000_bytes() {
        assert_eq!(
            ChunkPlan::for_size(64_000_000).unwrap().total_chunk_count,
            1
        );
        let plan = ChunkPlan::for_size(64_000_001).unwrap();
        assert_eq!(plan.total_chunk_count, 2);
        assert_eq!(
            plan.chunks().last().unwrap().content_range(),
            "bytes 32000000-64000000/64000001"
        );
        assert!(ChunkPlan::for_size(0).is_err());
    }
}
