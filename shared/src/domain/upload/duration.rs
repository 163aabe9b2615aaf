//! A video's duration from its container, read a few bytes at a time (never
//! the whole file): MP4 and MOV state it in `moov/mvhd`; WebM in
//! `Segment/Info/Duration`, or, where a browser's recorder left it out, it
//! is computed from the last cluster's timestamps at the end of the file.
//!
//! Every read is bounded and counted, and every size is checked against the
//! object's: a truncated or lying container is an error, never a panic or a
//! read past the end.

use std::future::Future;

use super::video::VideoType;

/// Reads up to `len` bytes at `offset` of the stored object (fewer at its end).
pub trait RangeRead {
    type Error;
    fn read(
        &self,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

/// Why a duration could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError<E> {
    /// The container is well formed but does not say (and, for WebM, its
    /// last cluster could not tell either).
    #[error("the container does not state the video's duration: {0}")]
    Unknown(String),
    #[error("the container is malformed: {0}")]
    Malformed(String),
    #[error("the stored object could not be read")]
    Read(#[source] E),
}

/// At most this many reads per video: headers are walked one box (or
/// element) at a time, and a container needing more is refused.
pub const MAX_READS: usize = 256;
/// How much of a WebM's end is read to find its last cluster.
pub const WEBM_TAIL_BYTES: u64 = 1 << 20;

/// The video's duration in seconds.
pub async fn duration_seconds<R: RangeRead>(
    reader: &R,
    size: u64,
    video_type: VideoType,
) -> Result<f64, DurationError<R::Error>> {
    let mut source = Source {
        reader,
        size,
        reads: 0,
    };
    match video_type {
        VideoType::Mp4 | VideoType::Mov => mp4(&mut source).await,
        VideoType::WebM => webm(&mut source).await,
    }
}

struct Source<'a, R> {
    reader: &'a R,
    size: u64,
    reads: usize,
}

impl<R: RangeRead> Source<'_, R> {
    async fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, DurationError<R::Error>> {
        self.reads += 1;
        if self.reads > MAX_READS {
            return Err(malformed(format!(
                "more than {MAX_READS} reads before the duration"
            )));
        }
        if offset >= self.size {
            return Err(malformed(format!("a read at {offset}, past the end")));
        }
        let len = len.min(self.size - offset);
        let bytes = self
            .reader
            .read(offset, len)
            .await
            .map_err(DurationError::Read)?;
        if (bytes.len() as u64) < len {
            return Err(malformed(format!(
                "the object ended {} bytes into a read of {len} at {offset}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

fn malformed<E>(reason: impl Into<String>) -> DurationError<E> {
    DurationError::Malformed(reason.into())
}

fn unknown<E>(reason: impl Into<String>) -> DurationError<E> {
    DurationError::Unknown(reason.into())
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, b| (n << 8) | u64::from(*b))
}

// ---------------------------------------------------------------- MP4 / MOV

/// A box's size (header included), its type and its header's length.
fn box_header<E>(bytes: &[u8], at: u64, end: u64) -> Result<(u64, [u8; 4], u64), DurationError<E>> {
    if bytes.len() < 8 {
        return Err(malformed(format!("a box header at {at} is cut short")));
    }
    let kind = [bytes[4], bytes[5], bytes[6], bytes[7]];
    let (size, header) = match be(&bytes[0..4]) {
        1 if bytes.len() >= 16 => (be(&bytes[8..16]), 16),
        1 => {
            return Err(malformed(format!(
                "a large box header at {at} is cut short"
            )));
        }
        0 => (end - at, 8),
        n => (n, 8),
    };
    if size < header || at.checked_add(size).is_none_or(|e| e > end) {
        return Err(malformed(format!(
            "box '{}' at {at} claims {size} bytes, past its parent's end at {end}",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok((size, kind, header))
}

async fn mp4<R: RangeRead>(source: &mut Source<'_, R>) -> Result<f64, DurationError<R::Error>> {
    let size = source.size;
    let mut offset = 0;
    while offset + 8 <= size {
        let head = source.read(offset, 16).await?;
        let (length, kind, header) = box_header(&head, offset, size)?;
        if &kind == b"moov" {
            return mvhd(source, offset + header, offset + length).await;
        }
        offset += length;
    }
    Err(unknown("no moov box: the file ends before it"))
}

async fn mvhd<R: RangeRead>(
    source: &mut Source<'_, R>,
    start: u64,
    end: u64,
) -> Result<f64, DurationError<R::Error>> {
    let mut offset = start;
    while offset + 8 <= end {
        let head = source.read(offset, 16).await?;
        let (length, kind, header) = box_header(&head, offset, end)?;
        if &kind == b"mvhd" {
            let body = source
                .read(offset + header, (length - header).min(32))
                .await?;
            let (timescale, duration) = match body.first() {
                Some(0) if body.len() >= 20 => (be(&body[12..16]), be(&body[16..20])),
                Some(1) if body.len() >= 32 => (be(&body[20..24]), be(&body[24..32])),
                Some(0 | 1) => return Err(malformed("mvhd is cut short")),
                _ => return Err(malformed("mvhd has an unknown version")),
            };
            if timescale == 0 {
                return Err(malformed("mvhd's timescale is 0"));
            }
            let all_ones = if body[0] == 0 {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            };
            if duration == 0 || duration == all_ones {
                return Err(unknown(
                    "mvhd states no duration (a fragmented MP4 states it per fragment)",
                ));
            }
            return Ok(duration as f64 / timescale as f64);
        }
        offset += length;
    }
    Err(unknown("moov has no mvhd"))
}

// ---------------------------------------------------------------- WebM

const EBML: u64 = 0x1A45_DFA3;
const SEGMENT: u64 = 0x1853_8067;
const INFO: u64 = 0x1549_A966;
const TIMECODE_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;
const CLUSTER: u64 = 0x1F43_B675;
const CLUSTER_TIMECODE: u64 = 0xE7;
const SIMPLE_BLOCK: u64 = 0xA3;
const BLOCK_GROUP: u64 = 0xA0;
const BLOCK: u64 = 0xA1;
/// Matroska's default: timestamps in milliseconds.
const DEFAULT_TIMECODE_SCALE: u64 = 1_000_000;

/// An element ID (marker bits kept) and its length, from its first bytes.
fn element_id(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 || bytes.len() < len {
        return None;
    }
    Some((be(&bytes[..len]), len))
}

/// An element's data size (`None`: unknown, all value bits set) and the
/// size field's length.
fn element_size(bytes: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || bytes.len() < len {
        return None;
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let value = bytes[1..len]
        .iter()
        .fold(u64::from(first & mask), |n, b| (n << 8) | u64::from(*b));
    let unknown = value == (1u64 << (7 * len)) - 1;
    Some((if unknown { None } else { Some(value) }, len))
}

/// An element's ID, data size and header length, at `at` in `bytes`.
fn element<E>(bytes: &[u8], at: u64) -> Result<(u64, Option<u64>, u64), DurationError<E>> {
    let (id, id_len) =
        element_id(bytes).ok_or_else(|| malformed(format!("no element ID at {at}")))?;
    let (size, size_len) = element_size(&bytes[id_len..])
        .ok_or_else(|| malformed(format!("no element size at {at}")))?;
    Ok((id, size, (id_len + size_len) as u64))
}

async fn webm<R: RangeRead>(source: &mut Source<'_, R>) -> Result<f64, DurationError<R::Error>> {
    let size = source.size;
    let head = source.read(0, 16).await?;
    let (id, ebml_size, header) = element(&head, 0)?;
    if id != EBML {
        return Err(malformed("no EBML header"));
    }
    let ebml_size = ebml_size.ok_or_else(|| malformed("the EBML header has no size"))?;
    let segment_at = header + ebml_size;
    if segment_at + 8 > size {
        return Err(malformed("the file ends before its Segment"));
    }
    let head = source.read(segment_at, 16).await?;
    let (id, segment_size, header) = element(&head, segment_at)?;
    if id != SEGMENT {
        return Err(malformed("no Segment after the EBML header"));
    }
    let start = segment_at + header;
    let end = segment_size.map_or(size, |s| (start + s).min(size));
    let mut scale = DEFAULT_TIMECODE_SCALE;
    let mut offset = start;
    while offset + 2 <= end {
        let head = source.read(offset, 16).await?;
        let (id, length, header) = element(&head, offset)?;
        if id == CLUSTER {
            break; // Info comes before the clusters, if at all.
        }
        let length =
            length.ok_or_else(|| malformed(format!("element {id:#x} at {offset} has no size")))?;
        if id == INFO {
            if length > 64 * 1024 {
                return Err(malformed("Info is implausibly large"));
            }
            let body = source.read(offset + header, length).await?;
            let (stated, info_scale) = info(&body)?;
            scale = info_scale;
            if let Some(duration) = stated {
                return seconds(duration, scale);
            }
            break;
        }
        offset = offset
            .checked_add(header + length)
            .ok_or_else(|| malformed("an element's size overflows"))?;
    }
    last_cluster(source, scale).await
}

/// Info's Duration (in timecode-scale units) and TimecodeScale.
fn info<E>(body: &[u8]) -> Result<(Option<f64>, u64), DurationError<E>> {
    let mut scale = DEFAULT_TIMECODE_SCALE;
    let mut duration = None;
    let mut at = 0usize;
    while at < body.len() {
        let (id, length, header) = element(&body[at..], at as u64)?;
        let length = length.ok_or_else(|| malformed("an Info child has no size"))? as usize;
        let data = body
            .get(at + header as usize..at + header as usize + length)
            .ok_or_else(|| malformed("an Info child runs past Info's end"))?;
        match id {
            TIMECODE_SCALE if (1..=8).contains(&data.len()) => scale = be(data),
            DURATION if data.len() == 4 => {
                duration = Some(f64::from(f32::from_be_bytes([
                    data[0], data[1], data[2], data[3],
                ])));
            }
            DURATION if data.len() == 8 => {
                duration = Some(f64::from_be_bytes(
                    data.try_into().map_err(|_| malformed("Duration"))?,
                ));
            }
            DURATION => return Err(malformed("Duration is neither 4 nor 8 bytes")),
            _ => {}
        }
        at += header as usize + length;
    }
    if scale == 0 {
        return Err(malformed("TimecodeScale is 0"));
    }
    Ok((duration, scale))
}

fn seconds<E>(ticks: f64, scale: u64) -> Result<f64, DurationError<E>> {
    let value = ticks * scale as f64 / 1e9;
    if !value.is_finite() || value <= 0.0 {
        return Err(unknown("Duration is not a positive number"));
    }
    Ok(value)
}

/// The duration up to the last block, from the last cluster in the file's
/// last [`WEBM_TAIL_BYTES`]: its Timecode plus its last block's relative
/// timestamp. It falls short of the true duration by the last frame's own.
async fn last_cluster<R: RangeRead>(
    source: &mut Source<'_, R>,
    scale: u64,
) -> Result<f64, DurationError<R::Error>> {
    let size = source.size;
    let from = size.saturating_sub(WEBM_TAIL_BYTES);
    let tail = source.read(from, size - from).await?;
    let id = CLUSTER.to_be_bytes();
    let id = &id[4..];
    let mut search = tail.len();
    while let Some(at) = tail[..search].windows(4).rposition(|w| w == id) {
        search = at;
        if let Some(end) = cluster_end(&tail[at..]) {
            return seconds(end as f64, scale);
        }
    }
    Err(unknown(
        "Info states no Duration, and no cluster with a timestamp was found at the end of the file",
    ))
}

/// A cluster's Timecode plus its last block's relative timestamp, when the
/// bytes at its start read as a cluster.
fn cluster_end(bytes: &[u8]) -> Option<u64> {
    let (id, id_len) = element_id(bytes)?;
    if id != CLUSTER {
        return None;
    }
    let (_, size_len) = element_size(&bytes[id_len..])?;
    let mut at = id_len + size_len;
    let mut timecode = None;
    let mut last_block: Option<i64> = None;
    while at < bytes.len() {
        let Some((id, len)) = element_id(&bytes[at..]) else {
            break;
        };
        let Some((Some(length), size_len)) = element_size(&bytes[at + len..]) else {
            break;
        };
        let start = at + len + size_len;
        let Some(data) = usize::try_from(length)
            .ok()
            .and_then(|l| bytes.get(start..start.checked_add(l)?))
        else {
            break; // the tail ends inside this element
        };
        match id {
            CLUSTER_TIMECODE if data.len() <= 8 => timecode = Some(be(data)),
            SIMPLE_BLOCK => last_block = block_time(data).or(last_block),
            BLOCK_GROUP => {
                if let Some(block) = find_child(data, BLOCK) {
                    last_block = block_time(block).or(last_block);
                }
            }
            CLUSTER => break, // the next cluster
            _ => {}
        }
        at = start + data.len();
    }
    let timecode = timecode?;
    let relative = last_block.unwrap_or(0).max(0) as u64;
    Some(timecode + relative)
}

/// A block's timestamp relative to its cluster: a signed 16-bit number
/// after the track number.
fn block_time(block: &[u8]) -> Option<i64> {
    let (_, track_len) = element_size(block)?;
    let bytes = block.get(track_len..track_len + 2)?;
    Some(i64::from(i16::from_be_bytes([bytes[0], bytes[1]])))
}

fn find_child(bytes: &[u8], wanted: u64) -> Option<&[u8]> {
    let mut at = 0;
    while at < bytes.len() {
        let (id, len) = element_id(&bytes[at..])?;
        let (Some(length), size_len) = element_size(&bytes[at + len..])? else {
            return None;
        };
        let start = at + len + size_len;
        let data = bytes.get(start..start + usize::try_from(length).ok()?)?;
        if id == wanted {
            return Some(data);
        }
        at = start + data.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// The object in memory, counting the bytes read.
    struct Bytes {
        data: Vec<u8>,
        read: std::sync::Mutex<u64>,
    }

    impl Bytes {
        fn new(data: Vec<u8>) -> Self {
            Self {
                data,
                read: std::sync::Mutex::new(0),
            }
        }
        fn bytes_read(&self) -> u64 {
            *self.read.lock().unwrap()
        }
    }

    impl RangeRead for Bytes {
        type Error = Infallible;
        async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, Infallible> {
            let start = (offset as usize).min(self.data.len());
            let end = (start + len as usize).min(self.data.len());
            *self.read.lock().unwrap() += (end - start) as u64;
            Ok(self.data[start..end].to_vec())
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).expect("fixture")
    }

    async fn duration(
        data: Vec<u8>,
        video_type: VideoType,
    ) -> Result<f64, DurationError<Infallible>> {
        let size = data.len() as u64;
        duration_seconds(&Bytes::new(data), size, video_type).await
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// An MP4 whose moov (after a large mdat, as without faststart) says
    /// `seconds` at a timescale of 1000.
    fn mp4_lasting(seconds: u32, mdat: usize) -> Vec<u8> {
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&(seconds * 1000).to_be_bytes());
        let mut file = mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2");
        file.extend(mp4_box(b"mdat", &vec![7u8; mdat]));
        file.extend(mp4_box(b"moov", &mp4_box(b"mvhd", &mvhd)));
        file
    }

    #[tokio::test]
    async fn the_fixtures_durations_are_read() {
        let mp4 = duration(fixture("sample.mp4"), VideoType::Mp4)
            .await
            .unwrap();
        assert!((mp4 - 3.0).abs() < 0.1, "{mp4}");
        let mov = duration(fixture("sample.mov"), VideoType::Mov)
            .await
            .unwrap();
        assert!((mov - 2.0).abs() < 0.1, "{mov}");
        let webm = duration(fixture("sample.webm"), VideoType::WebM)
            .await
            .unwrap();
        assert!((webm - 2.0).abs() < 0.1, "{webm}");
    }

    #[tokio::test]
    async fn a_moov_at_the_end_is_reached_with_a_few_small_reads() {
        let data = mp4_lasting(600, 50_000_000);
        let size = data.len() as u64;
        let bytes = Bytes::new(data);
        let seconds = duration_seconds(&bytes, size, VideoType::Mp4)
            .await
            .unwrap();
        assert_eq!(seconds, 600.0);
        assert!(
            bytes.bytes_read() < 200,
            "read {} bytes",
            bytes.bytes_read()
        );
    }

    #[tokio::test]
    async fn a_webm_without_a_stated_duration_is_timed_by_its_last_cluster() {
        let mut data = fixture("sample.webm");
        // Replace Info's Duration (ID 0x4489, size 0x88, 8 bytes) with a Void element.
        let at = data
            .windows(3)
            .position(|w| w == [0x44, 0x89, 0x88])
            .expect("a Duration");
        data.splice(at..at + 11, [0xEC, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let seconds = duration(data, VideoType::WebM).await.unwrap();
        // The last frame starts one frame (1/30 s) before the end.
        assert!((1.9..=2.0).contains(&seconds), "{seconds}");
    }

    #[tokio::test]
    async fn truncated_or_lying_containers_fail_cleanly() {
        let full = mp4_lasting(10, 1000);
        // Cut inside the moov.
        let cut = full[..full.len() - 20].to_vec();
        assert!(matches!(
            duration(cut, VideoType::Mp4).await,
            Err(DurationError::Malformed(_))
        ));
        // No moov at all.
        let no_moov = full[..full.len() - 116].to_vec();
        assert!(matches!(
            duration(no_moov, VideoType::Mp4).await,
            Err(DurationError::Unknown(_))
        ));
        // A box claiming more than the file holds.
        let mut lying = full.clone();
        lying[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            duration(lying, VideoType::Mp4).await,
            Err(DurationError::Malformed(_))
        ));
        // A timescale of 0.
        let mut zero = full.clone();
        let mvhd = zero.windows(4).position(|w| w == b"mvhd").unwrap() + 4;
        zero[mvhd + 12..mvhd + 16].copy_from_slice(&[0; 4]);
        assert!(matches!(
            duration(zero, VideoType::Mp4).await,
            Err(DurationError::Malformed(_))
        ));
        // Zero-sized boxes everywhere would loop forever; a size below its header is refused.
        let mut tiny = full;
        tiny[0..4].copy_from_slice(&4u32.to_be_bytes());
        assert!(matches!(
            duration(tiny, VideoType::Mp4).await,
            Err(DurationError::Malformed(_))
        ));
        // WebM cut anywhere, and random bytes: an error, never a panic.
        let webm = fixture("sample.webm");
        for cut in [4, 30] {
            let result = duration(webm[..cut].to_vec(), VideoType::WebM).await;
            assert!(
                matches!(result, Err(DurationError::Malformed(_))),
                "{cut}: {result:?}"
            );
        }
        for cut in (40..webm.len()).step_by(97) {
            let _ = duration(webm[..cut].to_vec(), VideoType::WebM).await; // must return
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..200 {
            let noise: Vec<u8> = (0..512)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            for kind in [VideoType::Mp4, VideoType::WebM] {
                let _ = duration(noise.clone(), kind).await; // must return
            }
            let _ = round;
        }
    }
}
