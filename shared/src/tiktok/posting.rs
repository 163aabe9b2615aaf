//! TikTok's Content Posting API (tiktok-api.md §3): creator info, the direct
//! and inbox FILE_UPLOAD inits, the chunked media transfer, and the publish
//! status.

use serde::{Deserialize, Serialize};

use super::{TikTokClient, TikTokError, call, parse_envelope, read_body};
use crate::{
    tokens::{AccessToken, UploadUrl},
    upload::{Chunk, ChunkPlan, PostSettings, PublishId, PublishMode, VideoType},
};

/// What TikTok says the creator may do now (§3.1).
#[derive(Clone, Debug, Deserialize)]
pub struct CreatorInfo {
    #[serde(default)]
    pub creator_nickname: Option<String>,
    #[serde(default)]
    pub privacy_level_options: Vec<String>,
    #[serde(default)]
    pub max_video_post_duration_sec: Option<u32>,
}

/// An initialised FILE_UPLOAD: the id TikTok tracks the post by, and where
/// the bytes go (valid for an hour).
#[derive(Debug)]
pub struct PublishTicket {
    pub publish_id: PublishId,
    pub upload_url: UploadUrl,
}

/// TikTok's `status` for a publish (§3.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishState {
    ProcessingUpload,
    ProcessingDownload,
    SendToUserInbox,
    PublishComplete,
    Failed,
    Other(String),
}

#[derive(Clone, Debug)]
pub struct PublishStatus {
    pub state: PublishState,
    pub fail_reason: Option<String>,
    pub uploaded_bytes: Option<u64>,
}

/// How the upload host answered one chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkAnswer {
    /// 206: stored; more chunks expected.
    Partial,
    /// 201: every byte is there; TikTok starts posting.
    Complete,
    /// 403: the upload_url has expired.
    Expired,
    /// 404: no upload task for this upload_url.
    NoTask,
    /// 416: the range does not follow what TikTok has; `uploaded` is what it
    /// says it has, when it says.
    OutOfOrder { uploaded: Option<u64> },
    /// Another 4xx: our request is wrong; retrying will not help.
    Refused { status: u16 },
}

impl TikTokClient {
    /// `POST /v2/post/publish/creator_info/query/`.
    #[tracing::instrument(name = "tiktok.creator_info", skip_all)]
    pub async fn creator_info(&self, access: &AccessToken) -> Result<CreatorInfo, TikTokError> {
        let (status, body) = call(
            self.post("/v2/post/publish/creator_info/query/")
                .bearer_auth(access.expose())
                .header("Content-Type", "application/json; charset=UTF-8"),
        )
        .await?;
        parse_envelope(status, &body)
    }

    /// Initialises a FILE_UPLOAD: a direct post
    /// (`/v2/post/publish/video/init/`) or an inbox draft
    /// (`/v2/post/publish/inbox/video/init/`).
    #[tracing::instrument(name = "tiktok.init_upload", skip_all, fields(mode = mode.as_str()))]
    pub async fn init_upload(
        &self,
        access: &AccessToken,
        mode: PublishMode,
        post: &PostSettings,
        plan: &ChunkPlan,
    ) -> Result<PublishTicket, TikTokError> {
        #[derive(Serialize)]
        struct SourceInfo<'a> {
            source: &'static str,
            #[serde(flatten)]
            plan: &'a ChunkPlan,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            post_info: Option<&'a PostSettings>,
            source_info: SourceInfo<'a>,
        }
        let (path, post_info) = match mode {
            PublishMode::Direct => ("/v2/post/publish/video/init/", Some(post)),
            PublishMode::Inbox => ("/v2/post/publish/inbox/video/init/", None),
        };
        let (status, body) = call(self.post(path).bearer_auth(access.expose()).json(&Body {
            post_info,
            source_info: SourceInfo {
                source: "FILE_UPLOAD",
                plan,
            },
        }))
        .await?;
        #[derive(Deserialize)]
        struct Data {
            publish_id: String,
            upload_url: String,
        }
        let data: Data = parse_envelope(status, &body)?;
        let malformed = |reason: &str| TikTokError::Malformed {
            status,
            reason: reason.into(),
        };
        Ok(PublishTicket {
            publish_id: PublishId::parse(&data.publish_id)
                .ok_or_else(|| malformed("publish_id"))?,
            upload_url: UploadUrl::parse(data.upload_url).map_err(|_| malformed("upload_url"))?,
        })
    }

    /// `POST /v2/post/publish/status/fetch/`.
    #[tracing::instrument(name = "tiktok.publish_status", skip_all, fields(publish_id = %publish_id))]
    pub async fn publish_status(
        &self,
        access: &AccessToken,
        publish_id: &PublishId,
    ) -> Result<PublishStatus, TikTokError> {
        let (status, body) = call(
            self.post("/v2/post/publish/status/fetch/")
                .bearer_auth(access.expose())
                .json(&serde_json::json!({ "publish_id": publish_id.as_ref() })),
        )
        .await?;
        #[derive(Deserialize)]
        struct Data {
            status: String,
            #[serde(default)]
            fail_reason: Option<String>,
            #[serde(default)]
            uploaded_bytes: Option<u64>,
        }
        let data: Data = parse_envelope(status, &body)?;
        let state = match data.status.as_str() {
            "PROCESSING_UPLOAD" => PublishState::ProcessingUpload,
            "PROCESSING_DOWNLOAD" => PublishState::ProcessingDownload,
            "SEND_TO_USER_INBOX" => PublishState::SendToUserInbox,
            "PUBLISH_COMPLETE" => PublishState::PublishComplete,
            "FAILED" => PublishState::Failed,
            other => PublishState::Other(other.to_owned()),
        };
        Ok(PublishStatus {
            state,
            fail_reason: data.fail_reason.filter(|r| !r.is_empty()),
            uploaded_bytes: data.uploaded_bytes,
        })
    }
}

/// The media transfer to TikTok's upload host, on the same HTTP client as
/// the API (see [`super::http_client`]): a chunk of up to 128 MB has no
/// overall timeout, only the client's connect and read timeouts.
#[derive(Clone)]
pub struct MediaTransfer {
    http: reqwest::Client,
}

impl MediaTransfer {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// PUTs one chunk: `Content-Type`, `Content-Length` and `Content-Range`
    /// as the media transfer guide documents, the body streamed.
    #[tracing::instrument(name = "tiktok.put_chunk", skip_all, fields(chunk = chunk.index))]
    pub async fn put_chunk(
        &self,
        upload_url: &UploadUrl,
        video_type: VideoType,
        chunk: &Chunk,
        body: reqwest::Body,
    ) -> Result<ChunkAnswer, TikTokError> {
        let response = self
            .http
            .put(upload_url.expose())
            .header("Content-Type", video_type.content_type())
            .header("Content-Length", chunk.len)
            .header("Content-Range", chunk.content_range())
            .body(body)
            .send()
            .await
            .map_err(TikTokError::from_reqwest)?;
        let status = response.status().as_u16();
        let uploaded = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(uploaded_from_range);
        // Drain the (undocumented, small) body so the connection is reused.
        let _ = read_body(response).await;
        Ok(match status {
            201 => ChunkAnswer::Complete,
            200 | 206 => ChunkAnswer::Partial,
            403 => ChunkAnswer::Expired,
            404 => ChunkAnswer::NoTask,
            416 => ChunkAnswer::OutOfOrder { uploaded },
            s if s >= 500 || s == 429 => {
                return Err(TikTokError::Api {
                    status: s,
                    code: "upload_host_error".into(),
                    message: "the upload host asks to retry the chunk".into(),
                    log_id: None,
                });
            }
            s => ChunkAnswer::Refused { status: s },
        })
    }
}

/// Bytes the upload host has, from its `Content-Range: bytes 0-{last}/{total}`
/// (`bytes */{total}`: none).
pub fn uploaded_from_range(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    let (span, _total) = range.split_once('/')?;
    if span == "*" {
        return Some(0);
    }
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    (first == 0).then_some(last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_progress_from_content_range() {
        assert_eq!(
            uploaded_from_range("bytes 0-5242879/20000000"),
            Some(5_242_880)
        );
        assert_eq!(uploaded_from_range("bytes */20000000"), Some(0));
        assert_eq!(uploaded_from_range("bytes 10-20/30"), None);
        assert_eq!(uploaded_from_range("nonsense"), None);
    }

    #[test]
    fn init_body_has_tiktoks_field_names() {
        let plan = ChunkPlan::for_size(50_000_123).unwrap();
        let v = serde_json::to_value(plan).unwrap();
        assert_eq!(v["video_size"], 50_000_123);
        assert_eq!(v["chunk_size"], 50_000_123);
        assert_eq!(v["total_chunk_count"], 1);
        let post = PostSettings {
            privacy_level: Some(crate::upload::PrivacyLevel::SelfOnly),
            title: Some("hi".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&post).unwrap();
        assert_eq!(v["privacy_level"], "SELF_ONLY");
        assert_eq!(v["disable_comment"], false);
    }
}
