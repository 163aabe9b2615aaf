//! What a user may ask to upload: the request as the client sends it, and
//! the checks that turn it into a [`NewUpload`] or say why not.

use serde::{Deserialize, Serialize};

use super::video::VideoType;
use crate::domain::ids::AccountId;

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
    #[error("{0}")]
    Body(String),
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
    #[error(
        "branded content (brand_content_toggle) cannot be private (SELF_ONLY): TikTok refuses it; \
         choose who can watch among the others"
    )]
    BrandedPrivate,
    #[error(
        "the TikTok app is not audited yet: TikTok accepts only private posts (privacy_level \
         SELF_ONLY) until it is"
    )]
    UnauditedPrivateOnly,
    #[error("the creator can post as {offered}, not {chosen}")]
    PrivacyNotAllowed { offered: String, chosen: String },
    #[error(
        "{0} is turned off in the creator's TikTok settings and cannot be turned on here: \
         set post.disable_{0} to true"
    )]
    InteractionDisabled(&'static str),
}

impl InvalidUpload {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Body(_) => "invalid_body",
            Self::AccountId(_) => "invalid_account_id",
            Self::Unsupported(_) => "unsupported_video_type",
            Self::ContentType => "invalid_content_type",
            Self::FileName | Self::ExtensionMismatch { .. } => "invalid_file_name",
            Self::Size { .. } => "invalid_size",
            Self::Mode => "invalid_mode",
            Self::TitleTooLong => "title_too_long",
            Self::PrivacyRequired => "privacy_level_required",
            Self::InboxPost => "invalid_post",
            Self::BrandedPrivate => "branded_content_must_be_public",
            Self::UnauditedPrivateOnly => "unaudited_app_private_only",
            Self::PrivacyNotAllowed { .. } => "privacy_level_not_allowed",
            Self::InteractionDisabled(_) => "interaction_disabled_by_creator",
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
        let (video_type, _) = check_file(
            &request.file_name,
            &request.content_type,
            request.size_bytes,
            max_bytes,
        )?;
        let mode = PublishMode::parse(&request.mode).ok_or(InvalidUpload::Mode)?;
        let post = check_post(mode, request.post.unwrap_or_default())?;
        Ok(Self {
            account_id,
            video_type,
            size_bytes: request.size_bytes,
            mode,
            post,
        })
    }
}

/// A post's settings for `mode`: an inbox upload takes none (the creator
/// finishes the post in TikTok), a direct post needs a privacy level, a
/// title fits TikTok's caption limit, and branded content is not private.
pub fn check_post(mode: PublishMode, post: PostSettings) -> Result<PostSettings, InvalidUpload> {
    if mode == PublishMode::Inbox && post != PostSettings::default() {
        return Err(InvalidUpload::InboxPost);
    }
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
    if post.brand_content_toggle && post.privacy_level == Some(PrivacyLevel::SelfOnly) {
        return Err(InvalidUpload::BrandedPrivate);
    }
    Ok(post)
}

/// `POST /uploads` without an account: a video for posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    pub video_type: VideoType,
    pub size_bytes: u64,
}

/// `POST /uploads` as parsed: for one account (published on arrival), or
/// media for posts (verified on arrival, then waits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadKind {
    Single(NewUpload),
    Media(NewMedia),
}

/// `POST /uploads` for posts: no `account_id`, `mode` or `post`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaRequest {
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: u64,
}

impl UploadKind {
    /// A request with an `account_id` is for that account; one without is
    /// media, and takes no `mode` or `post`.
    pub fn parse(body: &[u8], max_bytes: u64) -> Result<Self, InvalidUpload> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| InvalidUpload::Body(e.to_string()))?;
        if value.get("account_id").is_some() {
            let request: UploadRequest =
                serde_json::from_value(value).map_err(|e| InvalidUpload::Body(e.to_string()))?;
            return NewUpload::parse(request, max_bytes).map(Self::Single);
        }
        let request: MediaRequest =
            serde_json::from_value(value).map_err(|e| InvalidUpload::Body(e.to_string()))?;
        let (video_type, size_bytes) = check_file(
            &request.file_name,
            &request.content_type,
            request.size_bytes,
            max_bytes,
        )?;
        Ok(Self::Media(NewMedia {
            video_type,
            size_bytes,
        }))
    }
}

/// The file's type by its name and declared content type, and its size
/// within bounds.
fn check_file(
    file_name: &str,
    content_type: &str,
    size_bytes: u64,
    max_bytes: u64,
) -> Result<(VideoType, u64), InvalidUpload> {
    let extension = extension(file_name)?;
    let declared = content_type.trim().to_ascii_lowercase();
    if let Some(kind) = refused_kind(&extension, &declared) {
        return Err(InvalidUpload::Unsupported(kind));
    }
    let video_type = VideoType::from_content_type(&declared).ok_or(InvalidUpload::ContentType)?;
    if !video_type.extensions().contains(&extension.as_str()) {
        return Err(InvalidUpload::ExtensionMismatch {
            extension,
            content_type: video_type.content_type(),
        });
    }
    if !(MIN_UPLOAD_BYTES..=max_bytes).contains(&size_bytes) {
        return Err(InvalidUpload::Size {
            min: MIN_UPLOAD_BYTES,
            max: max_bytes,
        });
    }
    Ok((video_type, size_bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
