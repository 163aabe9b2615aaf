//! The upload domain: what a user may ask to upload, the video types TikTok
//! accepts (and how to recognise them by their first bytes), the upload's
//! states, and the chunk plan TikTok's media transfer requires.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{AccountId, UserId, rfc3339};

/// Our id for one upload: 32 lowercase hex digits (a v4 UUID). It is the
/// whole S3 key's variable part, so keys never carry user text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == 32
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(value.to_owned()))
    }

    /// The object's key in the upload bucket.
    pub fn object_key(&self) -> String {
        format!("{OBJECT_PREFIX}{}", self.0)
    }

    /// The upload an object key belongs to, if it is one of ours.
    pub fn from_object_key(key: &str) -> Option<Self> {
        key.strip_prefix(OBJECT_PREFIX).and_then(Self::parse)
    }
}

/// Where uploads live in the bucket; the S3 notification filters on it.
pub const OBJECT_PREFIX: &str = "uploads/";

impl AsRef<str> for UploadId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// TikTok's `publish_id` (at most 64 characters, e.g. `v_pub_file~v2-1.123`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PublishId(String);

impl PublishId {
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~'));
        ok.then(|| Self(value.to_owned()))
    }
}

impl AsRef<str> for PublishId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The video containers TikTok accepts (tiktok-api.md §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoType {
    Mp4,
    Mov,
    WebM,
}

impl VideoType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
            Self::WebM => "video/webm",
        }
    }

    pub fn from_content_type(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "video/mp4" => Some(Self::Mp4),
            "video/quicktime" => Some(Self::Mov),
            "video/webm" => Some(Self::WebM),
            _ => None,
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Mp4 => &["mp4", "m4v"],
            Self::Mov => &["mov", "qt"],
            Self::WebM => &["webm"],
        }
    }

    /// Whether `head` (the object's first bytes, at least 64 when the object
    /// is that long) is a file of this type.
    pub fn matches(self, head: &[u8]) -> bool {
        matches!(
            (self, sniff(head)),
            (Self::Mp4, Sniffed::Mp4) | (Self::Mov, Sniffed::Mov) | (Self::WebM, Sniffed::WebM)
        )
    }
}

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Mp4,
    Mov,
    WebM,
    Matroska,
    Avi,
    Unknown,
}

impl Sniffed {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Mp4 => "MP4",
            Self::Mov => "QuickTime (MOV)",
            Self::WebM => "WebM",
            Self::Matroska => "Matroska (MKV)",
            Self::Avi => "AVI",
            Self::Unknown => "not a recognised video",
        }
    }
}

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 64;

/// Recognises a video container by its first bytes: ISO-BMFF (`ftyp`, with
/// the `qt  ` brand for QuickTime), classic QuickTime atoms, EBML with its
/// DocType (`webm` or `matroska`), and RIFF AVI.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"AVI " {
        return Sniffed::Avi;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return if &head[8..12] == b"qt  " {
            Sniffed::Mov
        } else {
            Sniffed::Mp4
        };
    }
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free" | b"pnot") {
        return Sniffed::Mov;
    }
    if head.len() >= 4 && head[0..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        // The EBML header's DocType element (0x42 0x82) names the flavour.
        let window = &head[4..head.len().min(SNIFF_BYTES)];
        if let Some(at) = window.windows(2).position(|w| w == [0x42, 0x82]) {
            let rest = &window[at + 2..];
            if rest.len() > 1 {
                let doc = &rest[1..];
                if doc.starts_with(b"webm") {
                    return Sniffed::WebM;
                }
                if doc.starts_with(b"matroska") {
                    return Sniffed::Matroska;
                }
            }
        }
        return Sniffed::Unknown;
    }
    Sniffed::Unknown
}

/// Where the video goes: straight to the profile, or to the creator's inbox
/// as a draft they finish in the TikTok app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishMode {
    Direct,
    Inbox,
}

impl PublishMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Inbox => "inbox",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "direct" => Some(Self::Direct),
            "inbox" => Some(Self::Inbox),
            _ => None,
        }
    }

    /// The OAuth scope TikTok requires for this mode.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Direct => "video.publish",
            Self::Inbox => "video.upload",
        }
    }
}

/// Who may watch a direct post (tiktok-api.md §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrivacyLevel {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl PrivacyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            Self::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            Self::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            Self::SelfOnly => "SELF_ONLY",
        }
    }
}

/// The post's settings, as TikTok's `post_info` takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_level: Option<PrivacyLevel>,
    #[serde(default)]
    pub disable_duet: bool,
    #[serde(default)]
    pub disable_stitch: bool,
    #[serde(default)]
    pub disable_comment: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
    #[serde(default)]
    pub brand_content_toggle: bool,
    #[serde(default)]
    pub brand_organic_toggle: bool,
    #[serde(default)]
    pub is_aigc: bool,
}

/// TikTok's caption limit, in UTF-16 code units.
pub const MAX_TITLE_UTF16: usize = 2200;
/// The smallest upload we accept.
pub const MIN_UPLOAD_BYTES: u64 = 1024;
/// TikTok's documented maximum video size, read in decimal units (the
/// stricter reading): 4 GB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 4_000_000_000;

/// `POST /uploads` as the client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub account_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub mode: String,
    #[serde(default)]
    pub post: Option<PostSettings>,
}

/// Why an upload request is refused: a 400 with this code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUpload {
    #[error("account_id: {0}")]
    AccountId(String),
    #[error("{0} files are not accepted by TikTok; upload MP4, MOV or WebM")]
    Unsupported(&'static str),
    #[error("content_type must be video/mp4, video/quicktime or video/webm")]
    ContentType,
    #[error("file_name must be 1-255 characters ending in .mp4, .mov or .webm")]
    FileName,
    #[error("file_name's extension .{extension} does not match content_type {content_type}")]
    ExtensionMismatch {
        extension: String,
        content_type: &'static str,
    },
    #[error("size_bytes must be between {min} and {max}")]
    Size { min: u64, max: u64 },
    #[error("mode must be direct or inbox")]
    Mode,
    #[error("post.title is longer than {MAX_TITLE_UTF16} UTF-16 units")]
    TitleTooLong,
    #[error("a direct post needs post.privacy_level")]
    PrivacyRequired,
    #[error("an inbox upload takes no post settings: the creator finishes the post in TikTok")]
    InboxPost,
}

impl InvalidUpload {
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccountId(_) => "invalid_account_id",
            Self::Unsupported(_) => "unsupported_video_type",
            Self::ContentType => "invalid_content_type",
            Self::FileName | Self::ExtensionMismatch { .. } => "invalid_file_name",
            Self::Size { .. } => "invalid_size",
            Self::Mode => "invalid_mode",
            Self::TitleTooLong => "title_too_long",
            Self::PrivacyRequired => "privacy_level_required",
            Self::InboxPost => "invalid_post",
        }
    }
}

/// A validated upload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub account_id: AccountId,
    pub video_type: VideoType,
    pub size_bytes: u64,
    pub mode: PublishMode,
    pub post: PostSettings,
}

impl NewUpload {
    /// Checks everything that can be checked without the account: the name,
    /// type and size of the file, and the post settings.
    pub fn parse(request: UploadRequest, max_bytes: u64) -> Result<Self, InvalidUpload> {
        let account_id = AccountId::parse(request.account_id)
            .map_err(|e| InvalidUpload::AccountId(e.to_string()))?;
        let extension = extension(&request.file_name)?;
        let declared = request.content_type.trim().to_ascii_lowercase();
        if let Some(kind) = refused_kind(&extension, &declared) {
            return Err(InvalidUpload::Unsupported(kind));
        }
        let video_type =
            VideoType::from_content_type(&declared).ok_or(InvalidUpload::ContentType)?;
        if !video_type.extensions().contains(&extension.as_str()) {
            return Err(InvalidUpload::ExtensionMismatch {
                extension,
                content_type: video_type.content_type(),
            });
        }
        if !(MIN_UPLOAD_BYTES..=max_bytes).contains(&request.size_bytes) {
            return Err(InvalidUpload::Size {
                min: MIN_UPLOAD_BYTES,
                max: max_bytes,
            });
        }
        let mode = PublishMode::parse(&request.mode).ok_or(InvalidUpload::Mode)?;
        let post = match (mode, request.post) {
            (PublishMode::Inbox, Some(post)) if post != PostSettings::default() => {
                return Err(InvalidUpload::InboxPost);
            }
            (_, post) => post.unwrap_or_default(),
        };
        if post
            .title
            .as_deref()
            .is_some_and(|t| t.encode_utf16().count() > MAX_TITLE_UTF16)
        {
            return Err(InvalidUpload::TitleTooLong);
        }
        if mode == PublishMode::Direct && post.privacy_level.is_none() {
            return Err(InvalidUpload::PrivacyRequired);
        }
        Ok(Self {
            account_id,
            video_type,
            size_bytes: request.size_bytes,
            mode,
            post,
        })
    }
}

fn extension(file_name: &str) -> Result<String, InvalidUpload> {
    let name = file_name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(InvalidUpload::FileName);
    }
    name.rsplit_once('.')
        .map(|(stem, ext)| (stem, ext.to_ascii_lowercase()))
        .filter(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
        .map(|(_, ext)| ext)
        .ok_or(InvalidUpload::FileName)
}

/// Containers people try that TikTok does not take, named in the error.
fn refused_kind(extension: &str, content_type: &str) -> Option<&'static str> {
    match (extension, content_type) {
        ("avi", _) | (_, "video/x-msvideo" | "video/avi" | "video/msvideo") => Some("AVI"),
        ("mkv", _) | (_, "video/x-matroska" | "video/matroska") => Some("MKV"),
        _ => None,
    }
}

/// Where an upload is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Recorded; the client has a presigned URL and has not finished the PUT.
    AwaitingUpload,
    /// The object is stored; publishing is waiting (a rate limit, a retry).
    Uploaded,
    /// A worker holds it: verifying, initialising or transferring.
    Publishing,
    /// TikTok has every byte and is processing the post.
    Processing,
    /// Posted (direct) or delivered to the creator's inbox (inbox).
    Published,
    Failed,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "awaiting_upload",
            Self::Uploaded => "uploaded",
            Self::Publishing => "publishing",
            Self::Processing => "processing",
            Self::Published => "published",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::AwaitingUpload,
            Self::Uploaded,
            Self::Publishing,
            Self::Processing,
            Self::Published,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Published | Self::Failed)
    }
}

/// An upload as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: UploadId,
    pub owner: UserId,
    pub account_id: AccountId,
    pub video_type: VideoType,
    pub size_bytes: u64,
    pub mode: PublishMode,
    pub post: PostSettings,
    pub status: UploadStatus,
    pub publish_id: Option<PublishId>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An upload as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadView {
    pub upload_id: String,
    pub account_id: String,
    pub status: UploadStatus,
    pub mode: PublishMode,
    pub content_type: &'static str,
    pub size_bytes: u64,
    pub publish_id: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Upload {
    pub fn new(id: UploadId, owner: UserId, request: NewUpload, now: DateTime<Utc>) -> Self {
        Self {
            id,
            owner,
            account_id: request.account_id,
            video_type: request.video_type,
            size_bytes: request.size_bytes,
            mode: request.mode,
            post: request.post,
            status: UploadStatus::AwaitingUpload,
            publish_id: None,
            error: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn view(&self) -> UploadView {
        UploadView {
            upload_id: self.id.to_string(),
            account_id: self.account_id.to_string(),
            status: self.status,
            mode: self.mode,
            content_type: self.video_type.content_type(),
            size_bytes: self.size_bytes,
            publish_id: self.publish_id.as_ref().map(ToString::to_string),
            error: self.error.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

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
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn sniffing_recognises_containers() {
        let ftyp = |brand: &[u8; 4]| {
            let mut v = vec![0, 0, 0, 0x20];
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(brand);
            v.resize(64, 0);
            v
        };
        assert_eq!(sniff(&ftyp(b"isom")), Sniffed::Mp4);
        assert_eq!(sniff(&ftyp(b"qt  ")), Sniffed::Mov);
        let ebml = |doc: &[u8]| {
            let mut v = vec![
                0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82,
            ];
            v.push(0x80 | doc.len() as u8);
            v.extend_from_slice(doc);
            v
        };
        assert_eq!(sniff(&ebml(b"webm")), Sniffed::WebM);
        assert_eq!(sniff(&ebml(b"matroska")), Sniffed::Matroska);
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), Sniffed::Avi);
        assert_eq!(sniff(b"hello world, not a video"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Unknown);
        assert!(VideoType::Mp4.matches(&ftyp(b"mp42")));
        assert!(!VideoType::Mp4.matches(&ftyp(b"qt  ")));
        assert!(!VideoType::WebM.matches(&ftyp(b"isom")));
    }

    fn request(file: &str, content_type: &str, size: u64, mode: &str) -> UploadRequest {
        UploadRequest {
            account_id: "open-1".into(),
            file_name: file.into(),
            content_type: content_type.into(),
            size_bytes: size,
            mode: mode.into(),
            post: Some(PostSettings {
                privacy_level: Some(PrivacyLevel::SelfOnly),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn upload_requests_parse_or_say_why_not() {
        let max = DEFAULT_MAX_UPLOAD_BYTES;
        let ok =
            NewUpload::parse(request("Holiday.MP4", "video/mp4", 5000, "direct"), max).unwrap();
        assert_eq!(ok.video_type, VideoType::Mp4);
        assert!(NewUpload::parse(request("a.mov", "video/quicktime", 5000, "direct"), max).is_ok());
        assert!(NewUpload::parse(request("a.webm", "video/webm", 5000, "direct"), max).is_ok());
        let err = |r| NewUpload::parse(r, max).unwrap_err();
        let avi = err(request("a.avi", "video/x-msvideo", 5000, "direct"));
        assert_eq!(avi.code(), "unsupported_video_type");
        assert!(
            avi.to_string()
                .contains("AVI files are not accepted by TikTok")
        );
        let mkv = err(request("a.mkv", "video/x-matroska", 5000, "direct"));
        assert!(
            mkv.to_string()
                .contains("MKV files are not accepted by TikTok")
        );
        assert_eq!(
            err(request("a.mp4", "image/png", 5000, "direct")),
            InvalidUpload::ContentType
        );
        assert_eq!(
            err(request("a.webm", "video/mp4", 5000, "direct")).code(),
            "invalid_file_name"
        );
        assert_eq!(
            err(request("noext", "video/mp4", 5000, "direct")),
            InvalidUpload::FileName
        );
        assert_eq!(
            err(request("a.mp4", "video/mp4", 1023, "direct")).code(),
            "invalid_size"
        );
        assert!(NewUpload::parse(request("a.mp4", "video/mp4", 1024, "direct"), max).is_ok());
        assert!(NewUpload::parse(request("a.mp4", "video/mp4", max, "direct"), max).is_ok());
        assert_eq!(
            err(request("a.mp4", "video/mp4", max + 1, "direct")).code(),
            "invalid_size"
        );
        assert_eq!(
            err(request("a.mp4", "video/mp4", 5000, "draft")),
            InvalidUpload::Mode
        );
        let mut no_privacy = request("a.mp4", "video/mp4", 5000, "direct");
        no_privacy.post = None;
        assert_eq!(err(no_privacy), InvalidUpload::PrivacyRequired);
        let mut inbox = request("a.mp4", "video/mp4", 5000, "inbox");
        inbox.post = None;
        assert!(NewUpload::parse(inbox, max).is_ok());
        assert_eq!(
            err(request("a.mp4", "video/mp4", 5000, "inbox")),
            InvalidUpload::InboxPost
        );
    }

    #[test]
    fn titles_are_measured_in_utf16_units() {
        let max = DEFAULT_MAX_UPLOAD_BYTES;
        let with_title = |title: String| {
            let mut r = request("a.mp4", "video/mp4", 5000, "direct");
            r.post.as_mut().unwrap().title = Some(title);
            NewUpload::parse(r, max)
        };
        // 1100 emoji are 2200 UTF-16 units (and 4400 bytes): allowed.
        assert!(with_title("😀".repeat(1100)).is_ok());
        assert_eq!(
            with_title(format!("{}a", "😀".repeat(1100))).unwrap_err(),
            InvalidUpload::TitleTooLong
        );
        assert!(with_title("a".repeat(2200)).is_ok());
    }

    #[test]
    fn ids_and_keys() {
        let id = UploadId::generate();
        assert_eq!(
            UploadId::from_object_key(&id.object_key()),
            Some(id.clone())
        );
        assert_eq!(UploadId::from_object_key("uploads/../x"), None);
        assert_eq!(UploadId::from_object_key("other/abc"), None);
        assert!(PublishId::parse("v_pub_file~v2-1.123456789").is_some());
        assert!(PublishId::parse("").is_none());
        assert!(PublishId::parse(&"x".repeat(65)).is_none());
    }
}
