//! Content Posting API: creator info, the direct-post and inbox video inits,
//! and post status (`shared/tiktok-api.md` §3).

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::Bytes,
    extract::State as AxumState,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    analytics::AnalyticsState,
    api::{api_error, caller, json_body, ok},
    ratelimit::{CREATOR_INFO, INBOX_INIT, STATUS_FETCH, VIDEO_INIT},
    server::Shared,
    state::{log_id, random_token},
    video::{Kept, MAX_VIDEO_SECONDS},
    webhooks::Event,
};

/// Privacy options of a public account, as creator_info lists them.
const PUBLIC_ACCOUNT_OPTIONS: [&str; 3] =
    ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"];
/// The privacy level that makes a completed direct post publicly available.
const PUBLIC: &str = "PUBLIC_TO_EVERYONE";
/// Longest caption, in UTF-16 code units.
const MAX_TITLE_UTF16: usize = 2200;
/// How far back the daily caps look.
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Smallest chunk of a multi-chunk upload (5 MiB: the strict reading of
/// "at least 5 MB").
pub(crate) const MIN_CHUNK: u64 = 5_242_880;
/// Largest chunk, and largest single-chunk video (the strict reading of
/// "no greater than 64 MB").
pub(crate) const MAX_CHUNK: u64 = 64_000_000;
/// Largest final chunk of a multi-chunk upload ("up to 128 MB").
pub(crate) const MAX_FINAL_CHUNK: u64 = 128_000_000;
/// Largest video ("size max 4 GB").
pub(crate) const MAX_VIDEO: u64 = 4_294_967_296;
/// Most chunks per upload.
pub(crate) const MAX_CHUNKS: u64 = 1000;

/// What happens to a publish once its upload completes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum PublishOutcome {
    /// Direct posts become `PUBLISH_COMPLETE`, inbox uploads
    /// `SEND_TO_USER_INBOX`.
    #[default]
    Complete,
    /// The publish becomes `FAILED` with this `fail_reason`.
    Fail(String),
    /// The publish stays `PROCESSING_UPLOAD` forever.
    Never,
}

/// Where a publish stands, as `status/fetch` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublishStatus {
    ProcessingUpload,
    SendToUserInbox,
    PublishComplete,
    Failed,
}

impl PublishStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::SendToUserInbox => "SEND_TO_USER_INBOX",
            Self::PublishComplete => "PUBLISH_COMPLETE",
            Self::Failed => "FAILED",
        }
    }
}

/// A publish as tests see it.
#[derive(Clone, Debug, Serialize)]
pub struct PublishView {
    /// `v_pub_file~v2-1.<digits>` or `v_inbox_file~v2.<digits>`.
    pub publish_id: String,
    /// The user who initialised it.
    pub open_id: String,
    /// Direct post (`video/init`) rather than inbox upload.
    pub direct: bool,
    /// `PROCESSING_UPLOAD`, `SEND_TO_USER_INBOX`, `PUBLISH_COMPLETE` or `FAILED`.
    pub status: String,
    /// Why it failed, once `FAILED`.
    pub fail_reason: Option<String>,
    /// Declared at init.
    pub video_size: u64,
    /// Declared at init.
    pub chunk_size: u64,
    /// Declared at init.
    pub total_chunk_count: u64,
    /// Bytes accepted so far.
    pub uploaded_bytes: u64,
    /// Successful chunk PUTs.
    pub chunk_puts: u64,
    /// Lowercase hex SHA-256 of the whole video, once every chunk arrived.
    pub sha256: Option<String>,
    /// `publicaly_available_post_id`: one id once a public direct post
    /// completes.
    pub post_ids: Vec<i64>,
    /// The `post_info` object sent at init (`null` for inbox uploads without
    /// one).
    pub post_info: Value,
}

/// One publish and its upload.
pub(crate) struct Publish {
    pub publish_id: String,
    pub open_id: String,
    pub direct: bool,
    pub privacy_level: Option<String>,
    pub post_info: Value,
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
    pub upload_token: String,
    pub issued: Instant,
    /// Expired by control, whatever its age.
    pub expired: bool,
    pub uploaded_bytes: u64,
    pub chunk_puts: u64,
    /// SHA-256 of the bytes accepted so far.
    pub hasher: Sha256,
    /// The first and last bytes accepted so far, for the duration check;
    /// dropped once the upload completes.
    pub kept: Kept,
    /// The `Content-Type` of the first chunk.
    pub content_type: Option<String>,
    pub sha256: Option<String>,
    pub status: PublishStatus,
    pub fail_reason: Option<String>,
    pub post_ids: Vec<i64>,
}

impl Publish {
    /// The length chunk `index` (0-based) must have: `chunk_size`, except the
    /// final chunk, which also carries the trailing bytes.
    pub fn planned_len(&self, index: u64) -> u64 {
        if index + 1 < self.total_chunk_count {
            self.chunk_size
        } else {
            self.video_size
                .saturating_sub(self.chunk_size * (self.total_chunk_count - 1))
        }
    }

    /// Whether the upload URL no longer works.
    pub fn is_expired(&self, ttl: u64) -> bool {
        self.expired || self.issued.elapsed() >= Duration::from_secs(ttl)
    }

    fn publish_type(&self) -> &'static str {
        if self.direct {
            "DIRECT_PUBLISH"
        } else {
            "INBOX_SHARE"
        }
    }

    fn view(&self) -> PublishView {
        PublishView {
            publish_id: self.publish_id.clone(),
            open_id: self.open_id.clone(),
            direct: self.direct,
            status: self.status.as_str().to_owned(),
            fail_reason: self.fail_reason.clone(),
            video_size: self.video_size,
            chunk_size: self.chunk_size,
            total_chunk_count: self.total_chunk_count,
            uploaded_bytes: self.uploaded_bytes,
            chunk_puts: self.chunk_puts,
            sha256: self.sha256.clone(),
            post_ids: self.post_ids.clone(),
            post_info: self.post_info.clone(),
        }
    }
}

/// Everything the Content Posting endpoints and the upload host keep.
#[derive(Default)]
pub(crate) struct PostingState {
    pub publishes: HashMap<String, Publish>,
    /// Publish ids in creation order.
    pub order: Vec<String>,
    /// upload_id → publish_id.
    pub uploads: HashMap<String, String>,
    /// Per-user privacy options (a public account otherwise).
    pub privacy_options: HashMap<String, Vec<String>>,
    /// Per-user posting blocks: the error code to answer with.
    pub blocks: HashMap<String, String>,
    /// Per-user `max_video_post_duration_sec` ([`MAX_VIDEO_SECONDS`]
    /// otherwise).
    pub max_duration: HashMap<String, u32>,
    /// Per-user interactions turned off in the creator's TikTok settings:
    /// comment, duet, stitch.
    pub interactions_off: HashMap<String, [bool; 3]>,
    /// The app has not passed TikTok's audit: direct posts must be
    /// `SELF_ONLY` (`unaudited_client_can_only_post_to_private_accounts`).
    pub unaudited: bool,
    pub outcome: PublishOutcome,
    pub processing_delay: Duration,
    /// The host upload URLs name instead of this server's own (the same
    /// server, reached by another name: another origin).
    pub upload_host: Option<String>,
    /// Successful init calls per open_id, both kinds.
    pub inits: HashMap<String, u64>,
    direct_inits: HashMap<String, VecDeque<Instant>>,
    inbox_inits: HashMap<String, VecDeque<Instant>>,
    /// When each user an unaudited app posted for first did so, within
    /// the last 24 hours.
    active_users: HashMap<String, Instant>,
}

impl PostingState {
    /// The longest video `open_id` may send: their creator maximum for a
    /// direct post, TikTok's general limit for an inbox upload.
    pub fn max_seconds(&self, open_id: &str, direct: bool) -> u32 {
        let creator = self.max_duration.get(open_id).copied();
        match direct {
            true => creator.unwrap_or(MAX_VIDEO_SECONDS),
            false => MAX_VIDEO_SECONDS,
        }
    }

    /// Whether an unaudited app may post for `open_id` now: it is among
    /// the `cap` users posted for in the last 24 hours, or there is room.
    fn within_active_user_cap(&mut self, open_id: &str, cap: u32) -> bool {
        if !self.unaudited {
            return true;
        }
        self.active_users.retain(|_, first| first.elapsed() < DAY);
        self.active_users.contains_key(open_id) || self.active_users.len() < cap as usize
    }

    fn options(&self, open_id: &str) -> Vec<String> {
        self.privacy_options
            .get(open_id)
            .cloned()
            .unwrap_or_else(|| {
                PUBLIC_ACCOUNT_OPTIONS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            })
    }

    /// Every publish, oldest first.
    pub fn views(&self) -> Vec<PublishView> {
        self.order
            .iter()
            .filter_map(|id| self.publishes.get(id))
            .map(Publish::view)
            .collect()
    }

    /// One publish.
    pub fn view(&self, publish_id: &str) -> Option<PublishView> {
        self.publishes.get(publish_id).map(Publish::view)
    }

    /// Moves a fully uploaded publish to its final state per `outcome`, and
    /// returns the webhooks to send. A public direct post that completes
    /// also becomes a video in the user's `analytics`, its id the post id.
    pub fn settle(
        &mut self,
        publish_id: &str,
        outcome: &PublishOutcome,
        analytics: &mut AnalyticsState,
    ) -> Vec<Event> {
        let Some(p) = self.publishes.get_mut(publish_id) else {
            return Vec::new();
        };
        if p.status != PublishStatus::ProcessingUpload {
            return Vec::new();
        }
        let (open_id, id, kind) = (p.open_id.clone(), p.publish_id.clone(), p.publish_type());
        match outcome {
            PublishOutcome::Never => Vec::new(),
            PublishOutcome::Fail(reason) => {
                p.status = PublishStatus::Failed;
                p.fail_reason = Some(reason.clone());
                vec![Event::publish(
                    "post.publish.failed",
                    &open_id,
                    &id,
                    json!({"publish_id": id, "reason": reason, "publish_type": kind}),
                )]
            }
            PublishOutcome::Complete if !p.direct => {
                p.status = PublishStatus::SendToUserInbox;
                vec![Event::publish(
                    "post.publish.inbox_delivered",
                    &open_id,
                    &id,
                    json!({"publish_id": id, "publish_type": kind}),
                )]
            }
            PublishOutcome::Complete => {
                p.status = PublishStatus::PublishComplete;
                let mut events = vec![Event::publish(
                    "post.publish.complete",
                    &open_id,
                    &id,
                    json!({"publish_id": id, "publish_type": kind}),
                )];
                if p.privacy_level.as_deref() == Some(PUBLIC) {
                    let title = p
                        .post_info
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let post_id = analytics.add_published(&open_id, title);
                    p.post_ids.push(post_id);
                    // Observed real payloads carry post_id as a string.
                    events.push(Event::publish(
                        "post.publish.publicly_available",
                        &open_id,
                        &id,
                        json!({"publish_id": id, "post_id": post_id.to_string(), "publish_type": kind}),
                    ));
                }
                events
            }
        }
    }
}

/// Whether `open_id` may init once more within `cap` per 24 hours; records
/// the init when it may.
fn within_daily_cap(
    windows: &mut HashMap<String, VecDeque<Instant>>,
    open_id: &str,
    cap: u32,
) -> bool {
    let now = Instant::now();
    let window = windows.entry(open_id.to_owned()).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= DAY)
    {
        window.pop_front();
    }
    if window.len() >= cap as usize {
        return false;
    }
    window.push_back(now);
    true
}

/// A random 19-digit decimal id.
fn digits19() -> String {
    rand::random_range(1_000_000_000_000_000_000_u64..10_000_000_000_000_000_000_u64).to_string()
}

fn block_message(code: &str) -> &'static str {
    match code {
        "spam_risk_too_many_posts" => {
            "The daily post cap from the API is reached for the current user."
        }
        "spam_risk_user_banned_from_posting" => "The user is banned from making new posts.",
        "reached_active_user_cap" => {
            "The daily quota for active publishing users from your client is reached."
        }
        _ => "The user cannot make new posts right now.",
    }
}

fn invalid_param(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_param", message)
}

/// The documented `post_info` fields of a direct post, parsed to check their
/// types (the whole object is kept as sent).
#[derive(Deserialize)]
#[allow(dead_code)] // Fields are parsed to check their types.
struct PostInfo {
    privacy_level: Option<String>,
    title: Option<String>,
    disable_duet: Option<bool>,
    disable_stitch: Option<bool>,
    disable_comment: Option<bool>,
    video_cover_timestamp_ms: Option<i32>,
    brand_content_toggle: Option<bool>,
    brand_organic_toggle: Option<bool>,
    is_aigc: Option<bool>,
}

/// `source_info` of either init.
#[derive(Deserialize)]
struct SourceInfo {
    source: Option<String>,
    video_size: Option<i64>,
    chunk_size: Option<i64>,
    total_chunk_count: Option<i64>,
}

/// A valid upload plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

/// Observed message for a bad `chunk_size`.
pub(crate) const BAD_CHUNK_SIZE: &str = "The chunk size is invalid";
/// Observed message for a bad `total_chunk_count`.
pub(crate) const BAD_CHUNK_COUNT: &str = "total chunk count is invalid";
/// Message for a bad `video_size`.
pub(crate) const BAD_VIDEO_SIZE: &str = "video size is invalid";

/// Checks a FILE_UPLOAD plan against the strictest reading of TikTok's chunk
/// rules (§3.5): one chunk only if it is the whole video and ≤ 64,000,000
/// bytes; otherwise chunks of 5,242,880..=64,000,000 bytes, `floor(size /
/// chunk)` of them (1..=1000), the final one ≤ 128,000,000 bytes.
pub(crate) fn validate_chunks(
    video_size: Option<i64>,
    chunk_size: Option<i64>,
    total_chunk_count: Option<i64>,
) -> Result<ChunkPlan, &'static str> {
    let video = video_size
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| (1..=MAX_VIDEO).contains(v))
        .ok_or(BAD_VIDEO_SIZE)?;
    let count = total_chunk_count
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| (1..=MAX_CHUNKS).contains(v))
        .ok_or(BAD_CHUNK_COUNT)?;
    let chunk = chunk_size
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v >= 1)
        .ok_or(BAD_CHUNK_SIZE)?;
    if count == 1 {
        // A whole video in one chunk: exactly its size, and at most 64 MB.
        if chunk != video || video > MAX_CHUNK {
            return Err(BAD_CHUNK_SIZE);
        }
    } else {
        if video < MIN_CHUNK {
            // "Videos with a total size less than 5 MB must be uploaded as a whole".
            return Err(BAD_CHUNK_COUNT);
        }
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
            return Err(BAD_CHUNK_SIZE);
        }
        if count != video / chunk {
            return Err(BAD_CHUNK_COUNT);
        }
        if video - chunk * (count - 1) > MAX_FINAL_CHUNK {
            return Err(BAD_CHUNK_SIZE);
        }
    }
    Ok(ChunkPlan {
        video_size: video,
        chunk_size: chunk,
        total_chunk_count: count,
    })
}

/// `POST /v2/post/publish/creator_info/query/`.
pub(crate) async fn creator_info(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&shared, &headers, CREATOR_INFO, &["video.publish"]) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let mut state = shared.state();
    let cap = shared.config.unaudited_user_cap;
    let blocked = state.posting.blocks.get(&caller.open_id).cloned();
    let block = match blocked {
        Some(code) => Some(code),
        None if !state.posting.within_active_user_cap(&caller.open_id, cap) => {
            Some("reached_active_user_cap".to_owned())
        }
        None => None,
    };
    if let Some(code) = block {
        // Documented: these errors come with HTTP 200 "(intentional)".
        return (
            StatusCode::OK,
            Json(json!({"data": {}, "error": {"code": code, "message": block_message(&code), "log_id": log_id()}})),
        )
            .into_response();
    }
    let user = state.user(Some(&caller.open_id));
    let options = state.posting.options(&caller.open_id);
    let [comment_off, duet_off, stitch_off] = state
        .posting
        .interactions_off
        .get(&caller.open_id)
        .copied()
        .unwrap_or_default();
    ok(json!({
        "creator_avatar_url": format!("https://sandbox.tiktokcdn.example/{}/avatar.jpeg", user.open_id),
        "creator_username": format!("sandbox_{}", user.open_id),
        "creator_nickname": user.display_name,
        "privacy_level_options": options,
        "comment_disabled": comment_off,
        "duet_disabled": duet_off,
        "stitch_disabled": stitch_off,
        "max_video_post_duration_sec": state.posting.max_seconds(&caller.open_id, true),
    }))
}

/// `POST /v2/post/publish/video/init/` (direct post).
pub(crate) async fn video_init(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    init(&shared, &headers, &body, true)
}

/// `POST /v2/post/publish/inbox/video/init/` (upload to the user's inbox).
pub(crate) async fn inbox_init(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    init(&shared, &headers, &body, false)
}

fn init(shared: &Shared, headers: &HeaderMap, body: &Bytes, direct: bool) -> Response {
    let (path, scope) = if direct {
        (VIDEO_INIT, "video.publish")
    } else {
        (INBOX_INIT, "video.upload")
    };
    let caller = match caller(shared, headers, path, &[scope]) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let body = match json_body(headers, body, "invalid_param") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let post_info = body.get("post_info").cloned().unwrap_or(Value::Null);
    let privacy_level = if direct {
        let Ok(info) = serde_json::from_value::<PostInfo>(post_info.clone()) else {
            return invalid_param("post_info is missing or malformed.");
        };
        let Some(privacy) = info.privacy_level else {
            return invalid_param("post_info.privacy_level is required.");
        };
        if info
            .title
            .is_some_and(|t| t.encode_utf16().count() > MAX_TITLE_UTF16)
        {
            return invalid_param("post_info.title is longer than 2200 UTF-16 units.");
        }
        // TikTok's posting rules (tiktok-api.md §3.9): branded content
        // cannot be private. The error TikTok gives is not documented; the
        // sandbox refuses it as an invalid parameter.
        if info.brand_content_toggle == Some(true) && privacy == "SELF_ONLY" {
            return invalid_param("Branded content cannot be private (SELF_ONLY).");
        }
        Some(privacy)
    } else {
        None
    };
    let Some(source) = body
        .get("source_info")
        .and_then(|s| serde_json::from_value::<SourceInfo>(s.clone()).ok())
    else {
        return invalid_param("source_info is missing or malformed.");
    };
    let plan = match source.source.as_deref() {
        Some("FILE_UPLOAD") => {
            match validate_chunks(
                source.video_size,
                source.chunk_size,
                source.total_chunk_count,
            ) {
                Ok(plan) => Some(plan),
                Err(message) => {
                    return api_error(StatusCode::BAD_REQUEST, "invalid_params", message);
                }
            }
        }
        Some("PULL_FROM_URL") => None,
        _ => return invalid_param("source_info.source must be FILE_UPLOAD or PULL_FROM_URL."),
    };

    let config = &shared.config;
    let mut state = shared.state();
    let open_id = caller.open_id;
    if let Some(code) = state.posting.blocks.get(&open_id) {
        return api_error(StatusCode::FORBIDDEN, code, block_message(code));
    }
    if state.posting.unaudited
        && privacy_level
            .as_deref()
            .is_some_and(|privacy| privacy != "SELF_ONLY")
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "unaudited_client_can_only_post_to_private_accounts",
            "Unaudited clients can only post to private accounts (SELF_ONLY).",
        );
    }
    if let Some(privacy) = &privacy_level
        && !state.posting.options(&open_id).contains(privacy)
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "privacy_level_option_mismatch",
            "privacy_level is not one of the creator's privacy_level_options.",
        );
    }
    let Some(plan) = plan else {
        // No verified domains or URL prefixes in the sandbox.
        return api_error(
            StatusCode::FORBIDDEN,
            "url_ownership_unverified",
            "The video_url's domain or URL prefix is not verified for this app.",
        );
    };
    let posting = &mut state.posting;
    if direct && !posting.within_active_user_cap(&open_id, config.unaudited_user_cap) {
        return api_error(
            StatusCode::FORBIDDEN,
            "reached_active_user_cap",
            block_message("reached_active_user_cap"),
        );
    }
    if direct {
        if !within_daily_cap(&mut posting.direct_inits, &open_id, config.daily_post_cap) {
            return api_error(
                StatusCode::FORBIDDEN,
                "spam_risk_too_many_posts",
                block_message("spam_risk_too_many_posts"),
            );
        }
    } else if !within_daily_cap(&mut posting.inbox_inits, &open_id, config.pending_inbox_cap) {
        return api_error(
            StatusCode::FORBIDDEN,
            "spam_risk_too_many_pending_share",
            "There may be at most 5 pending shares within any 24-hour period.",
        );
    }

    let publish_id = loop {
        let id = if direct {
            format!("v_pub_file~v2-1.{}", digits19())
        } else {
            format!("v_inbox_file~v2.{}", digits19())
        };
        if !posting.publishes.contains_key(&id) {
            break id;
        }
    };
    let upload_id = loop {
        let id = digits19();
        if !posting.uploads.contains_key(&id) {
            break id;
        }
    };
    let upload_token = random_token("");
    let mut upload_url = shared.base_url.clone();
    upload_url.set_path("/upload/");
    if let Some(host) = &posting.upload_host {
        // A host that does not parse keeps the server's own.
        let _ = upload_url.set_host(Some(host));
    }
    upload_url
        .query_pairs_mut()
        .append_pair("upload_id", &upload_id)
        .append_pair("upload_token", &upload_token);
    posting.uploads.insert(upload_id, publish_id.clone());
    posting.order.push(publish_id.clone());
    posting.publishes.insert(
        publish_id.clone(),
        Publish {
            publish_id: publish_id.clone(),
            open_id: open_id.clone(),
            direct,
            privacy_level,
            post_info,
            video_size: plan.video_size,
            chunk_size: plan.chunk_size,
            total_chunk_count: plan.total_chunk_count,
            upload_token: upload_token.clone(),
            issued: Instant::now(),
            expired: false,
            uploaded_bytes: 0,
            chunk_puts: 0,
            hasher: Sha256::new(),
            kept: Kept::default(),
            content_type: None,
            sha256: None,
            status: PublishStatus::ProcessingUpload,
            fail_reason: None,
            post_ids: Vec::new(),
        },
    );
    if direct && posting.unaudited {
        posting
            .active_users
            .entry(open_id.clone())
            .or_insert_with(Instant::now);
    }
    *posting.inits.entry(open_id).or_default() += 1;
    state.issued_secrets.push(upload_token);
    state.issued_secrets.push(upload_url.to_string());
    ok(json!({"publish_id": publish_id, "upload_url": upload_url.as_str()}))
}

/// `POST /v2/post/publish/status/fetch/`.
pub(crate) async fn status_fetch(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match caller(
        &shared,
        &headers,
        STATUS_FETCH,
        &["video.upload", "video.publish"],
    ) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let body = match json_body(&headers, &body, "invalid_param") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(publish_id) = body.get("publish_id").and_then(Value::as_str) else {
        return invalid_param("publish_id is required.");
    };
    let state = shared.state();
    let Some(p) = state.posting.publishes.get(publish_id) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_publish_id",
            "The publish_id does not exist.",
        );
    };
    if p.open_id != caller.open_id {
        return api_error(
            StatusCode::BAD_REQUEST,
            "token_not_authorized_for_specified_publish_id",
            "The access token is not authorized for this publish_id.",
        );
    }
    let mut data = json!({
        "status": p.status.as_str(),
        "publicaly_available_post_id": p.post_ids,
        "uploaded_bytes": p.uploaded_bytes,
    });
    if let (Some(reason), Some(obj)) = (&p.fail_reason, data.as_object_mut()) {
        obj.insert("fail_reason".into(), json!(reason));
    }
    ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: i64, c: i64, n: i64) -> Result<ChunkPlan, &'static str> {
        validate_chunks(Some(v), Some(c), Some(n))
    }

    #[test]
    fn documented_examples_pass() {
        assert!(check(50_000_123, 10_000_000, 5).is_ok());
        assert!(check(4_194_304, 4_194_304, 1).is_ok());
        assert!(check(64_000_000, 64_000_000, 1).is_ok());
        assert!(check(1, 1, 1).is_ok());
        assert!(check(3 * 5_242_880, 5_242_880, 3).is_ok());
        // Largest video in the largest chunks: 67 chunks, last one bigger.
        assert!(check(4_294_967_296, 64_000_000, 67).is_ok());
    }

    #[test]
    fn chunk_rules_are_strict() {
        assert_eq!(check(0, 0, 1), Err(BAD_VIDEO_SIZE));
        assert_eq!(check(4_294_967_297, 64_000_000, 67), Err(BAD_VIDEO_SIZE));
        assert_eq!(check(64_000_001, 64_000_001, 1), Err(BAD_CHUNK_SIZE));
        assert_eq!(check(10_000_000, 5_000_000, 1), Err(BAD_CHUNK_SIZE));
        assert_eq!(check(4_000_000, 2_000_000, 2), Err(BAD_CHUNK_COUNT));
        assert_eq!(check(20_000_000, 5_000_000, 4), Err(BAD_CHUNK_SIZE));
        assert_eq!(check(200_000_000, 65_000_000, 3), Err(BAD_CHUNK_SIZE));
        assert_eq!(check(50_000_123, 10_000_000, 6), Err(BAD_CHUNK_COUNT));
        assert_eq!(check(50_000_123, 10_000_000, 0), Err(BAD_CHUNK_COUNT));
        assert_eq!(check(6_000_000_000, 5_242_880, 1144), Err(BAD_VIDEO_SIZE));
        assert_eq!(
            validate_chunks(Some(10), None, Some(1)),
            Err(BAD_CHUNK_SIZE)
        );
    }

    #[test]
    fn final_chunk_carries_the_remainder() {
        let plan = check(50_000_123, 10_000_000, 5).expect("valid");
        assert_eq!(plan.total_chunk_count, 5);
        assert_eq!(plan.video_size - plan.chunk_size * 4, 10_000_123);
    }

    #[test]
    fn outcome_json_shape() {
        let fail: PublishOutcome =
            serde_json::from_str(r#"{"outcome":"fail","reason":"spam_risk"}"#).expect("fail");
        assert_eq!(fail, PublishOutcome::Fail("spam_risk".into()));
        let never: PublishOutcome = serde_json::from_str(r#"{"outcome":"never"}"#).expect("never");
        assert_eq!(never, PublishOutcome::Never);
    }
}
