//! TikTok's Content Posting API (tiktok-api.md §3): creator info, the direct
//! and inbox FILE_UPLOAD inits, and the publish status. The chunks
//! themselves go through [`super::transfer`].

use serde::{Deserialize, Serialize};

use super::{
    client::{TikTokClient, call},
    settings::UploadOrigins,
    wire::parse_envelope,
};
use crate::domain::{
    ids::PublishId,
    secrets::{AccessToken, UploadUrl},
    tiktok::TikTokError,
    upload::{ChunkPlan, PostSettings, PublishMode},
};

/// What TikTok says the creator may do now (§3.1).
#[derive(Clone, Debug, Deserialize)]
pub struct CreatorInfo {
    #[serde(default)]
    pub creator_nickname: Option<String>,
    #[serde(default)]
    pub creator_username: Option<String>,
    #[serde(default)]
    pub creator_avatar_url: Option<String>,
    #[serde(default)]
    pub comment_disabled: bool,
    #[serde(default)]
    pub duet_disabled: bool,
    #[serde(default)]
    pub stitch_disabled: bool,
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
    /// The public post's id, once a public direct post is available: the
    /// video's id in `video.list`.
    pub public_post_id: Option<String>,
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
        parse_init(status, &body, &self.upload_origins)
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
        parse_publish_status(status, &body)
    }
}

/// Reads an init's answer: its publish_id, and an upload_url at one of
/// `origins` (or no ticket at all).
pub(super) fn parse_init(
    status: u16,
    body: &str,
    origins: &UploadOrigins,
) -> Result<PublishTicket, TikTokError> {
    #[derive(Deserialize)]
    struct Data {
        publish_id: String,
        upload_url: String,
    }
    let data: Data = parse_envelope(status, body)?;
    let malformed = |reason: &str| TikTokError::Malformed {
        status,
        reason: reason.into(),
    };
    let publish_id = PublishId::parse(&data.publish_id).ok_or_else(|| malformed("publish_id"))?;
    let target = url::Url::parse(&data.upload_url).map_err(|_| malformed("upload_url"))?;
    if !origins.allows(&target) {
        return Err(TikTokError::UploadHostNotAllowed {
            host: target.host_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(PublishTicket {
        publish_id,
        upload_url: UploadUrl::parse(data.upload_url).map_err(|_| malformed("upload_url"))?,
    })
}

/// Reads a status fetch's answer.
pub(super) fn parse_publish_status(status: u16, body: &str) -> Result<PublishStatus, TikTokError> {
    #[derive(Deserialize)]
    struct Data {
        status: String,
        #[serde(default)]
        fail_reason: Option<String>,
        #[serde(default)]
        uploaded_bytes: Option<u64>,
        /// TikTok's spelling; ids as numbers (documented) or strings.
        #[serde(default)]
        publicaly_available_post_id: Vec<serde_json::Value>,
    }
    let data: Data = parse_envelope(status, body)?;
    let public_post_id = data
        .publicaly_available_post_id
        .iter()
        .find_map(|id| match id {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        });
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
        public_post_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_body_has_tiktoks_field_names() {
        let plan = ChunkPlan::for_size(50_000_123).unwrap();
        let v = serde_json::to_value(plan).unwrap();
        assert_eq!(v["video_size"], 50_000_123);
        assert_eq!(v["chunk_size"], 50_000_123);
        assert_eq!(v["total_chunk_count"], 1);
        let post = PostSettings {
            privacy_level: Some(crate::domain::upload::PrivacyLevel::SelfOnly),
            title: Some("hi".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&post).unwrap();
        assert_eq!(v["privacy_level"], "SELF_ONLY");
        assert_eq!(v["disable_comment"], false);
    }
}
