//! What TikTok checks of a video once its upload completes (§3.7, §3.8):
//! the sandbox keeps an upload's first and last bytes, enough to read the
//! container's duration without holding the file, and fails a video longer
//! than the creator may post with `duration_check_failed`.
//!
//! Only what it can read is checked: a duration the kept bytes cannot tell
//! (a container that does not state it, or whose header lies between the
//! kept ends) passes, as do bytes that are no video at all.

use std::{collections::VecDeque, future::Future};

use shared::domain::upload::{
    VideoType,
    duration::{RangeRead, duration_seconds},
};

/// The longest video the inbox init takes ("The longest video a developer
/// can send via the initialize Upload Video endpoint is 10 minutes"), and
/// the `max_video_post_duration_sec` of a creator with no other set.
pub(crate) const MAX_VIDEO_SECONDS: u32 = 600;
/// Bytes kept from the start of an upload (its `ftyp` and a `moov` written
/// first, or a WebM's headers).
const HEAD: usize = 4 << 20;
/// Bytes kept from the end (a `moov` written last, or a WebM's last cluster).
const TAIL: usize = 2 << 20;

/// An upload's first [`HEAD`] and last [`TAIL`] bytes.
#[derive(Clone, Default)]
pub(crate) struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    len: u64,
}

impl Kept {
    /// Takes the next bytes of the upload.
    pub fn feed(&mut self, bytes: &[u8]) {
        let room = HEAD.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        let last = &bytes[bytes.len().saturating_sub(TAIL)..];
        self.tail.extend(last);
        let excess = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..excess);
        self.len += bytes.len() as u64;
    }
}

/// A read that falls between the kept ends.
#[derive(Debug)]
pub(crate) struct NotKept;

/// The kept ends of a whole upload, read as the stored video.
struct Ends {
    head: Vec<u8>,
    tail: Vec<u8>,
    size: u64,
}

impl Ends {
    fn slice(&self, offset: u64, len: u64) -> Result<Vec<u8>, NotKept> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let tail_start = self.size - self.tail.len() as u64;
        let (bytes, from) = if end <= self.head.len() as u64 {
            (&self.head, offset)
        } else if offset >= tail_start {
            (&self.tail, offset - tail_start)
        } else {
            return Err(NotKept);
        };
        let from = usize::try_from(from).map_err(|_| NotKept)?;
        let to = from + usize::try_from(end - offset).map_err(|_| NotKept)?;
        bytes.get(from..to).map(<[u8]>::to_vec).ok_or(NotKept)
    }
}

impl RangeRead for Ends {
    type Error = NotKept;

    fn read(&self, offset: u64, len: u64) -> impl Future<Output = Result<Vec<u8>, NotKept>> + Send {
        std::future::ready(self.slice(offset, len))
    }
}

/// TikTok's `fail_reason` for a complete upload of `content_type` that runs
/// longer than `max_seconds`, if it does.
pub(crate) async fn duration_check(
    kept: Kept,
    content_type: &str,
    max_seconds: u32,
) -> Option<&'static str> {
    let video_type = VideoType::from_content_type(content_type)?;
    let size = kept.len;
    let ends = Ends {
        head: kept.head,
        tail: kept.tail.into(),
        size,
    };
    let seconds = duration_seconds(&ends, size, video_type).await.ok()?;
    (seconds > f64::from(max_seconds)).then_some("duration_check_failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_of(data: &[u8], piece: usize) -> Kept {
        let mut kept = Kept::default();
        for chunk in data.chunks(piece) {
            kept.feed(chunk);
        }
        kept
    }

    #[tokio::test]
    async fn a_video_longer_than_the_maximum_fails_its_duration_check() {
        let ten_minutes = tools::generated_mp4_lasting(7 << 20, 600);
        let kept = kept_of(&ten_minutes, 65_536);
        assert_eq!(kept.head.len(), HEAD);
        assert_eq!(kept.tail.len(), TAIL);
        assert_eq!(
            duration_check(kept.clone(), "video/mp4", 300).await,
            Some("duration_check_failed")
        );
        assert_eq!(duration_check(kept, "video/mp4", 600).await, None);
    }

    #[tokio::test]
    async fn the_fixtures_pass_and_their_tails_are_read_from_the_end() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");
        for (file, content_type) in [
            ("sample.mp4", "video/mp4"),
            ("sample.mov", "video/quicktime"),
            ("sample.webm", "video/webm"),
        ] {
            let data = std::fs::read(format!("{fixtures}{file}")).expect("fixture");
            let kept = kept_of(&data, 1000);
            assert_eq!(
                duration_check(kept.clone(), content_type, 60).await,
                None,
                "{file}"
            );
            assert_eq!(
                duration_check(kept, content_type, 1).await,
                Some("duration_check_failed"),
                "{file}"
            );
        }
    }

    #[test]
    fn reads_between_the_kept_ends_are_refused() {
        let data: Vec<u8> = (0..(HEAD + TAIL + 100)).map(|i| (i % 251) as u8).collect();
        let kept = kept_of(&data, 4096);
        let ends = Ends {
            head: kept.head,
            tail: kept.tail.into(),
            size: data.len() as u64,
        };
        let size = data.len() as u64;
        assert_eq!(ends.slice(0, 10).expect("head"), data[..10]);
        assert_eq!(
            ends.slice(size - 10, 50).expect("tail"),
            data[data.len() - 10..]
        );
        assert!(ends.slice(HEAD as u64 - 1, 2).is_err());
        assert!(ends.slice(size, 10).expect("past the end").is_empty());
    }

    #[tokio::test]
    async fn bytes_that_are_no_video_pass() {
        let kept = kept_of(&[7u8; 5000], 512);
        assert_eq!(duration_check(kept, "video/mp4", 1).await, None);
        assert_eq!(duration_check(Kept::default(), "video/webm", 1).await, None);
    }
}
