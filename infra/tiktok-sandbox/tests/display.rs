//! Display API of the sandbox (user stats, video.list, video.query), its
//! rate limits and analytics controls, driven over HTTP against a sandbox on
//! a free port.

use std::collections::HashSet;

use serde_json::{Value, json};
use tiktok_sandbox::{
    RunningSandbox, SandboxConfig,
    analytics::{FOLLOWERS_PER_DAY, PROFILE_LIKES_PER_DAY, VIEWS_PER_DAY},
    spawn,
};
use url::Url;

const USER_INFO: &str = "/v2/user/info/";
const VIDEO_LIST: &str = "/v2/video/list/";
const VIDEO_QUERY: &str = "/v2/video/query/";
const STATS: &str = "open_id,follower_count,following_count,likes_count,video_count";
const ALL_FIELDS: &str = "id,create_time,title,cover_image_url,share_url,video_description,\
                          duration,view_count,like_count,comment_count,share_count";
const SCOPES: &str = "user.info.basic,user.info.stats,video.list";

async fn sandbox() -> RunningSandbox {
    spawn(
        SandboxConfig::default(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sandbox starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn url(sandbox: &RunningSandbox, path: &str, fields: &str) -> Url {
    let mut url = sandbox.base_url().join(path).expect("path");
    if !fields.is_empty() {
        url.query_pairs_mut().append_pair("fields", fields);
    }
    url
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// `GET /v2/user/info/?fields=..`.
async fn user_info(sandbox: &RunningSandbox, token: &str, fields: &str) -> (u16, Value) {
    let response = client()
        .get(url(sandbox, USER_INFO, fields))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    answer(response).await
}

/// POSTs `body` as JSON to `path?fields=..` with a bearer token.
async fn call(
    sandbox: &RunningSandbox,
    path: &str,
    fields: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let response = client()
        .post(url(sandbox, path, fields))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    answer(response).await
}

/// POSTs a control request; returns status and body (`null` if empty).
async fn control(sandbox: &RunningSandbox, path: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(url(sandbox, path, ""))
        .json(&body)
        .send()
        .await
        .expect("control");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn ids(videos: &Value) -> Vec<String> {
    videos
        .as_array()
        .expect("videos")
        .iter()
        .map(|v| v["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

#[tokio::test]
async fn stats_fields_need_the_stats_scope() {
    let sb = sandbox().await;
    sb.set_profile_stats("alice", 120, 7, 900);
    sb.add_videos("alice", 3);
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (status, body) = user_info(&sb, &token, STATS).await;
    assert_eq!((status, code(&body)), (200, "ok"), "{body}");
    assert_eq!(
        body["data"]["user"],
        json!({"open_id": "alice", "follower_count": 120, "following_count": 7,
               "likes_count": 900, "video_count": 3})
    );

    // Without user.info.stats: the documented missing-scope error.
    let (basic, _) = sb.issue_grant("alice", "user.info.basic,video.list");
    let (status, body) = user_info(&sb, &basic, STATS).await;
    assert_eq!((status, code(&body)), (400, "scope_permission_missed"));
    let (status, body) = user_info(&sb, &basic, "open_id,display_name").await;
    assert_eq!((status, code(&body)), (200, "ok"));
    // Stats alone, without user.info.basic.
    let (stats_only, _) = sb.issue_grant("alice", "user.info.stats");
    let (status, body) = user_info(&sb, &stats_only, "follower_count").await;
    assert_eq!(
        (status, body["data"]["user"]["follower_count"].clone()),
        (200, json!(120))
    );
    let (status, body) = user_info(&sb, &stats_only, STATS).await;
    assert_eq!((status, code(&body)), (401, "scope_not_authorized"));

    // A user nothing was set for: zeros.
    let (bob, _) = sb.issue_grant("bob", SCOPES);
    let (_, body) = user_info(&sb, &bob, STATS).await;
    assert_eq!(
        body["data"]["user"],
        json!({"open_id": "bob", "follower_count": 0, "following_count": 0,
               "likes_count": 0, "video_count": 0})
    );

    // Over HTTP too.
    let (status, _) = control(
        &sb,
        "/sandbox/analytics/profile",
        json!({"open_id": "bob", "followers": 5, "following": 6, "likes": 8}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = user_info(&sb, &bob, "follower_count,following_count,likes_count").await;
    assert_eq!(
        body["data"]["user"],
        json!({"follower_count": 5, "following_count": 6, "likes_count": 8})
    );
    let (status, body) = user_info(&sb, &bob, "").await;
    assert_eq!((status, code(&body)), (400, "invalid_params"));
    let (status, body) = user_info(&sb, "act.unknown", STATS).await;
    assert_eq!((status, code(&body)), (401, "access_token_invalid"));
}

#[tokio::test]
async fn video_list_pages_newest_first() {
    let sb = sandbox().await;
    let added = sb.add_videos("alice", 45);
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let fields = "id,create_time,view_count";

    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    let mut pages = Vec::new();
    loop {
        let mut request = json!({"max_count": 20});
        if let Some(c) = cursor {
            request["cursor"] = json!(c);
        }
        let (status, body) = call(&sb, VIDEO_LIST, fields, &token, request).await;
        assert_eq!((status, code(&body)), (200, "ok"), "{body}");
        let data = &body["data"];
        for video in data["videos"].as_array().expect("videos") {
            let keys: HashSet<&str> = video
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, HashSet::from(["id", "create_time", "view_count"]));
            assert!(video["create_time"].is_i64());
        }
        seen.extend(ids(&data["videos"]));
        pages.push((
            data["videos"].as_array().expect("videos").len(),
            data["has_more"].as_bool().expect("has_more"),
        ));
        cursor = Some(data["cursor"].as_i64().expect("cursor"));
        if !data["has_more"].as_bool().expect("has_more") {
            break;
        }
        assert!(pages.len() < 5, "too many pages");
    }
    assert_eq!(pages, vec![(20, true), (20, true), (5, false)]);
    // Every video once, newest first.
    let newest_first: Vec<String> = added.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    let times: Vec<i64> = sb.videos("alice").iter().map(|v| v.create_time).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]));

    // Every field on request; the ids are int64s written in decimal.
    let (_, body) = call(&sb, VIDEO_LIST, ALL_FIELDS, &token, json!({"max_count": 1})).await;
    let video = &body["data"]["videos"][0];
    assert_eq!(video.as_object().expect("object").len(), 11);
    assert!(video["id"].as_str().expect("id").parse::<i64>().is_ok());
    assert!(
        video["share_url"]
            .as_str()
            .expect("url")
            .ends_with(&added[44])
    );
    assert_eq!(video["title"], "Sandbox video 45");

    // No body fields: the default page size.
    let (_, body) = call(&sb, VIDEO_LIST, "id", &token, json!({})).await;
    assert_eq!(ids(&body["data"]["videos"]).len(), 10);

    // Bad requests.
    for bad in [
        json!({"max_count": 0}),
        json!({"max_count": 21}),
        json!({"max_count": "5"}),
        json!({"max_count": 5, "cursor": -1}),
    ] {
        let (status, body) = call(&sb, VIDEO_LIST, "id", &token, bad).await;
        assert_eq!((status, code(&body)), (400, "invalid_params"));
    }
    let (status, body) = call(&sb, VIDEO_LIST, "", &token, json!({"max_count": 5})).await;
    assert_eq!((status, code(&body)), (400, "invalid_params"));
    let (status, body) = call(&sb, VIDEO_LIST, "id,plays", &token, json!({"max_count": 5})).await;
    assert_eq!((status, code(&body)), (400, "invalid_params"));
    let (no_list, _) = sb.issue_grant("alice", "user.info.basic,user.info.stats");
    let (status, body) = call(&sb, VIDEO_LIST, "id", &no_list, json!({"max_count": 5})).await;
    assert_eq!((status, code(&body)), (401, "scope_not_authorized"));

    // A user without videos: an empty last page.
    let (bob, _) = sb.issue_grant("bob", SCOPES);
    let (status, body) = call(&sb, VIDEO_LIST, "id", &bob, json!({"max_count": 20})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["videos"], json!([]));
    assert_eq!(body["data"]["has_more"], false);
}

#[tokio::test]
async fn video_query_by_ids() {
    let sb = sandbox().await;
    let added = sb.add_videos("alice", 5);
    let others = sb.add_videos("bob", 1);
    assert!(sb.set_video_counts("alice", &added[1], 1000, 100, 10, 1));
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let filters = |ids: Vec<String>| json!({"filters": {"video_ids": ids}});

    let asked = vec![
        added[1].clone(),
        "7000000000000000001".into(),
        others[0].clone(),
        added[3].clone(),
    ];
    let (status, body) = call(
        &sb,
        VIDEO_QUERY,
        "id,view_count,like_count,comment_count,share_count",
        &token,
        filters(asked),
    )
    .await;
    assert_eq!((status, code(&body)), (200, "ok"), "{body}");
    assert_eq!(
        ids(&body["data"]["videos"]),
        vec![added[1].clone(), added[3].clone()]
    );
    assert_eq!(
        body["data"]["videos"][0],
        json!({"id": added[1], "view_count": 1000, "like_count": 100,
               "comment_count": 10, "share_count": 1})
    );

    let too_many: Vec<String> = (0..21)
        .map(|i| format!("70000000000000000{i:02}"))
        .collect();
    let (status, body) = call(&sb, VIDEO_QUERY, "id", &token, filters(too_many)).await;
    assert_eq!((status, code(&body)), (400, "invalid_params"));
    let twenty: Vec<String> = added.iter().cycle().take(20).cloned().collect();
    let (status, body) = call(&sb, VIDEO_QUERY, "id", &token, filters(twenty)).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body["data"]["videos"]).len(), 5);
    for bad in [
        json!({}),
        json!({"filters": {"video_ids": []}}),
        json!({"filters": {"video_ids": [7]}}),
    ] {
        let (status, body) = call(&sb, VIDEO_QUERY, "id", &token, bad).await;
        assert_eq!((status, code(&body)), (400, "invalid_params"));
    }
    let (basic, _) = sb.issue_grant("alice", "user.info.basic");
    let (status, body) = call(
        &sb,
        VIDEO_QUERY,
        "id",
        &basic,
        filters(vec![added[0].clone()]),
    )
    .await;
    assert_eq!((status, code(&body)), (401, "scope_not_authorized"));
}

#[tokio::test]
async fn display_endpoints_are_rate_limited_per_token() {
    let sb = sandbox().await;
    sb.add_videos("alice", 2);
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (other, _) = sb.issue_grant("alice", SCOPES);

    sb.set_rate_limit(VIDEO_LIST, 5);
    for _ in 0..5 {
        let (status, _) = call(&sb, VIDEO_LIST, "id", &token, json!({"max_count": 20})).await;
        assert_eq!(status, 200);
    }
    let (status, body) = call(&sb, VIDEO_LIST, "id", &token, json!({"max_count": 20})).await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"));
    let (status, _) = call(&sb, VIDEO_LIST, "id", &other, json!({"max_count": 20})).await;
    assert_eq!(status, 200);
    // Each endpoint has its own window.
    let (status, _) = user_info(&sb, &token, STATS).await;
    assert_eq!(status, 200);

    // Over HTTP, for user info.
    let (status, _) = control(
        &sb,
        "/sandbox/rate-limits",
        json!({"path": USER_INFO, "per_minute": 1}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = user_info(&sb, &token, STATS).await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"));
    let (status, _) = user_info(&sb, &other, STATS).await;
    assert_eq!(status, 200);

    // The documented default: 600 a minute (one connection, for pace).
    let ask = json!({"filters": {"video_ids": ["1"]}});
    let http = client();
    let query = url(&sb, VIDEO_QUERY, "id");
    for n in 0..600 {
        let response = http
            .post(query.clone())
            .bearer_auth(&token)
            .json(&ask)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "call {n}");
    }
    let (status, body) = call(&sb, VIDEO_QUERY, "id", &token, ask.clone()).await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"));
    let (status, _) = call(&sb, VIDEO_QUERY, "id", &other, ask).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn counts_grow_with_sandbox_days() {
    let sb = sandbox().await;
    sb.set_profile_stats("alice", 100, 3, 1000);
    let added = sb.add_videos("alice", 3);
    assert!(sb.set_video_counts("alice", &added[0], 50, 5, 0, 0));
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let snapshot = || async {
        let (_, user) = user_info(&sb, &token, STATS).await;
        let (_, list) = call(
            &sb,
            VIDEO_LIST,
            "id,view_count",
            &token,
            json!({"max_count": 20}),
        )
        .await;
        (user["data"]["user"].clone(), list["data"]["videos"].clone())
    };

    let (user0, videos0) = snapshot().await;
    assert_eq!(sb.sandbox_day(), 0);
    assert_eq!(sb.advance_days(2), 2);
    let (user2, videos2) = snapshot().await;
    assert_eq!(user0["follower_count"], 100);
    assert_eq!(user2["follower_count"], 100 + 2 * FOLLOWERS_PER_DAY);
    assert_eq!(user2["likes_count"], 1000 + 2 * PROFILE_LIKES_PER_DAY);
    assert_eq!(user2["following_count"], 3);
    assert_eq!(user2["video_count"], 3);
    // Newest first: the video at position i (0 = oldest) gains
    // 100 × (i + 1) views a day.
    let views = |videos: &Value| -> Vec<i64> {
        videos
            .as_array()
            .expect("videos")
            .iter()
            .map(|v| v["view_count"].as_i64().expect("views"))
            .collect()
    };
    assert_eq!(views(&videos0), vec![0, 0, 50]);
    assert_eq!(
        views(&videos2),
        vec![
            2 * 3 * VIEWS_PER_DAY,
            2 * 2 * VIEWS_PER_DAY,
            50 + 2 * VIEWS_PER_DAY
        ]
    );

    // Over HTTP: days, counts and a look at the model.
    let (status, body) = control(&sb, "/sandbox/analytics/advance-days", json!({"days": 1})).await;
    assert_eq!((status, body), (200, json!({"day": 3})));
    let (status, _) = control(
        &sb,
        "/sandbox/analytics/video-counts",
        json!({"open_id": "alice", "video_id": added[2], "views": 7, "likes": 1, "comments": 0, "shares": 0}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = control(
        &sb,
        "/sandbox/analytics/video-counts",
        json!({"open_id": "alice", "video_id": "1", "views": 7}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = control(
        &sb,
        "/sandbox/analytics/videos",
        json!({"open_id": "carol", "count": 2}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ids"].as_array().expect("ids").len(), 2);
    let model: Value = client()
        .get(url(&sb, "/sandbox/analytics/alice", ""))
        .send()
        .await
        .expect("model")
        .json()
        .await
        .expect("JSON");
    assert_eq!(model["day"], 3);
    assert_eq!(model["user"]["follower_count"], 100 + 3 * FOLLOWERS_PER_DAY);
    assert_eq!(model["videos"][0]["id"], added[2].as_str());
    assert_eq!(model["videos"][0]["view_count"], 7);
    assert_eq!(model["videos"][1]["view_count"], 3 * 2 * VIEWS_PER_DAY);
}
