//! Display API: user info and the user's videos (`shared/tiktok-api.md`
//! §2, §2.2), read from [`crate::analytics`].

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Query, State as AxumState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::{
    analytics::VideoView,
    api::{ApiFailure, api_error, caller, json_body, ok},
    ratelimit::{USER_INFO, VIDEO_LIST, VIDEO_QUERY},
    server::Shared,
};

const BASIC_FIELDS: &[&str] = &[
    "open_id",
    "union_id",
    "avatar_url",
    "avatar_url_100",
    "avatar_large_url",
    "display_name",
];
const PROFILE_FIELDS: &[&str] = &[
    "bio_description",
    "profile_deep_link",
    "is_verified",
    "username",
];
const STATS_FIELDS: &[&str] = &[
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
];
/// The video fields `/v2/video/list/` and `/v2/video/query/` serve.
const VIDEO_FIELDS: &[&str] = &[
    "id",
    "create_time",
    "title",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
];
/// Most videos per list page, and most ids per query.
const MAX_VIDEOS: usize = 20;
/// `max_count` when the body has none (an edge the doc leaves open).
const DEFAULT_MAX_COUNT: usize = 10;

fn invalid_params(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_params", message)
}

/// An `invalid_params` answer waiting to be sent.
fn bad_params(message: &'static str) -> ApiFailure {
    ApiFailure {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_params",
        message,
    }
}

/// The `fields` query parameter, required and non-empty.
fn fields(q: &HashMap<String, String>) -> Result<Vec<&str>, ApiFailure> {
    q.get("fields")
        .filter(|f| !f.is_empty())
        .map(|f| f.split(',').collect())
        .ok_or_else(|| bad_params("fields is required"))
}

/// The video fields asked for, each one known.
fn video_fields(q: &HashMap<String, String>) -> Result<Vec<&str>, ApiFailure> {
    let fields = fields(q)?;
    if fields.iter().any(|f| !VIDEO_FIELDS.contains(f)) {
        return Err(bad_params("unknown field"));
    }
    Ok(fields)
}

/// `video` with only `fields`, in the order asked.
fn select(video: &VideoView, fields: &[&str]) -> Value {
    let all = match serde_json::to_value(video) {
        Ok(Value::Object(all)) => all,
        _ => Map::new(),
    };
    let picked: Map<String, Value> = fields
        .iter()
        .filter_map(|f| all.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .collect();
    Value::Object(picked)
}

/// `GET /v2/user/info/?fields=..`: basic fields need `user.info.basic`
/// (401 `scope_not_authorized` without it), profile and stats fields
/// `user.info.profile` / `user.info.stats` (400 `scope_permission_missed`).
pub(crate) async fn user_info(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let caller = match caller(&shared, &headers, USER_INFO, &[]) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let fields = match fields(&q) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let mut state = shared.state();
    let user = state.user(Some(&caller.open_id));
    let stats = state.analytics.profile(&caller.open_id);
    let mut out = Map::new();
    for field in fields {
        let value: Value = if BASIC_FIELDS.contains(&field) {
            if !caller.has("user.info.basic") {
                return api_error(
                    StatusCode::UNAUTHORIZED,
                    "scope_not_authorized",
                    "The user did not authorize the scope required.",
                );
            }
            match field {
                "open_id" => json!(user.open_id),
                "union_id" => json!(user.union_id),
                "display_name" => json!(user.display_name),
                _ => json!(format!(
                    "https://sandbox.tiktokcdn.example/{}/{field}.jpeg",
                    user.open_id
                )),
            }
        } else if PROFILE_FIELDS.contains(&field) || STATS_FIELDS.contains(&field) {
            let scope = if PROFILE_FIELDS.contains(&field) {
                "user.info.profile"
            } else {
                "user.info.stats"
            };
            if !caller.has(scope) {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "scope_permission_missed",
                    "Access token is invalid, some fields need additional scopes.",
                );
            }
            match field {
                "is_verified" => json!(false),
                "username" | "bio_description" | "profile_deep_link" => {
                    json!(format!("sandbox-{field}"))
                }
                "follower_count" => json!(stats.follower_count),
                "following_count" => json!(stats.following_count),
                "likes_count" => json!(stats.likes_count),
                _ => json!(stats.video_count),
            }
        } else {
            return invalid_params("unknown field");
        };
        out.insert(field.to_owned(), value);
    }
    ok(json!({ "user": out }))
}

/// `POST /v2/video/list/?fields=..` (`video.list`), body `{"max_count":
/// 1..=20, "cursor": <ms>}`: the caller's videos newest first, those
/// created strictly before `cursor` (absent, null or 0: from the newest);
/// the answer's `cursor` is the oldest listed video's create time in ms.
pub(crate) async fn video_list(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let caller = match caller(&shared, &headers, VIDEO_LIST, &["video.list"]) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let fields = match video_fields(&q) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let body = match json_body(&headers, &body, "invalid_params") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let max_count = match body.get("max_count") {
        None | Some(Value::Null) => DEFAULT_MAX_COUNT,
        Some(v) => match v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_VIDEOS).contains(n))
        {
            Some(n) => n,
            None => return invalid_params("max_count must be between 1 and 20"),
        },
    };
    let cursor = match body.get("cursor") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|c| *c >= 0) {
            Some(0) => None,
            Some(c) => Some(c),
            None => return invalid_params("cursor must be a Unix time in milliseconds"),
        },
    };
    let page = shared
        .state()
        .analytics
        .page(&caller.open_id, cursor, max_count);
    let videos: Vec<Value> = page.videos.iter().map(|v| select(v, &fields)).collect();
    ok(json!({"videos": videos, "cursor": page.cursor, "has_more": page.has_more}))
}

/// `POST /v2/video/query/?fields=..` (`video.list`), body `{"filters":
/// {"video_ids": [1..=20 ids]}}`: those of the ids that are the caller's
/// videos, in the order asked.
pub(crate) async fn video_query(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let caller = match caller(&shared, &headers, VIDEO_QUERY, &["video.list"]) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let fields = match video_fields(&q) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let body = match json_body(&headers, &body, "invalid_params") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let ids: Option<Vec<String>> = body
        .get("filters")
        .and_then(|f| f.get("video_ids"))
        .and_then(Value::as_array)
        .filter(|ids| (1..=MAX_VIDEOS).contains(&ids.len()))
        .and_then(|ids| {
            ids.iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect()
        });
    let Some(ids) = ids else {
        return invalid_params("filters.video_ids must hold 1 to 20 video ids");
    };
    let found = shared.state().analytics.query(&caller.open_id, &ids);
    let videos: Vec<Value> = found.iter().map(|v| select(v, &fields)).collect();
    ok(json!({ "videos": videos }))
}
