//! Content Posting API, upload host and webhooks of the sandbox, driven over
//! HTTP against a sandbox on a free port.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tiktok_sandbox::{
    Fault, FaultKind, PublishOutcome, RunningSandbox, SandboxConfig, sign_webhook, spawn,
};
use url::Url;

const CREATOR_INFO: &str = "/v2/post/publish/creator_info/query/";
const VIDEO_INIT: &str = "/v2/post/publish/video/init/";
const INBOX_INIT: &str = "/v2/post/publish/inbox/video/init/";
const STATUS: &str = "/v2/post/publish/status/fetch/";
const MIN_CHUNK: u64 = 5_242_880;
const SCOPES: &str = "user.info.basic,video.publish,video.upload";

async fn sandbox_with(config: SandboxConfig) -> RunningSandbox {
    spawn(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox starts")
}

async fn sandbox() -> RunningSandbox {
    sandbox_with(SandboxConfig::default()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn url(sandbox: &RunningSandbox, path: &str) -> Url {
    sandbox.base_url().join(path).expect("path")
}

/// POSTs `body` as JSON with a bearer token; returns status and JSON body.
async fn call(sandbox: &RunningSandbox, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(url(sandbox, path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn source(video_size: u64, chunk_size: u64, total_chunk_count: u64) -> Value {
    json!({
        "source": "FILE_UPLOAD",
        "video_size": video_size,
        "chunk_size": chunk_size,
        "total_chunk_count": total_chunk_count,
    })
}

fn direct_body(privacy: &str, source_info: Value) -> Value {
    json!({
        "post_info": {"privacy_level": privacy, "title": "hello #sandbox", "disable_comment": false},
        "source_info": source_info,
    })
}

/// A direct-post init that must succeed: (publish_id, upload_url).
async fn init_direct(
    sandbox: &RunningSandbox,
    token: &str,
    privacy: &str,
    plan: (u64, u64, u64),
) -> (String, Url) {
    let (status, body) = call(
        sandbox,
        VIDEO_INIT,
        token,
        direct_body(privacy, source(plan.0, plan.1, plan.2)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "ok");
    (
        body["data"]["publish_id"]
            .as_str()
            .expect("publish_id")
            .to_owned(),
        Url::parse(body["data"]["upload_url"].as_str().expect("upload_url")).expect("URL"),
    )
}

/// An inbox init that must succeed: (publish_id, upload_url).
async fn init_inbox(sandbox: &RunningSandbox, token: &str, plan: (u64, u64, u64)) -> (String, Url) {
    let (status, body) = call(
        sandbox,
        INBOX_INIT,
        token,
        json!({"source_info": source(plan.0, plan.1, plan.2)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["publish_id"]
            .as_str()
            .expect("publish_id")
            .to_owned(),
        Url::parse(body["data"]["upload_url"].as_str().expect("upload_url")).expect("URL"),
    )
}

/// Deterministic, non-repeating-looking test bytes.
fn video(len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// PUTs `data[first..=last]` with consistent headers; returns status and the
/// response Content-Range.
async fn put_chunk(upload_url: &Url, data: &[u8], first: u64, last: u64) -> (u16, Option<String>) {
    let chunk = data[first as usize..=last as usize].to_vec();
    let response = client()
        .put(upload_url.clone())
        .header("Content-Type", "video/mp4")
        .header(
            "Content-Range",
            format!("bytes {first}-{last}/{}", data.len()),
        )
        .body(chunk)
        .send()
        .await
        .expect("PUT");
    let range = response
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), range)
}

/// Uploads `data` in the planned chunks; every PUT must succeed.
async fn upload_all(upload_url: &Url, data: &[u8], chunk_size: u64, count: u64) {
    for i in 0..count {
        let first = i * chunk_size;
        let last = if i + 1 == count {
            data.len() as u64 - 1
        } else {
            first + chunk_size - 1
        };
        let (status, _) = put_chunk(upload_url, data, first, last).await;
        assert_eq!(status, if i + 1 == count { 201 } else { 206 });
    }
}

async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Polls status/fetch until the status leaves PROCESSING_UPLOAD.
async fn settled_status(sandbox: &RunningSandbox, token: &str, publish_id: &str) -> Value {
    for _ in 0..250 {
        let (status, body) = call(sandbox, STATUS, token, json!({"publish_id": publish_id})).await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] != "PROCESSING_UPLOAD" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("publish never settled");
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test]
async fn creator_info_reports_options_scopes_and_blocks() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (status, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "ok");
    let data = &body["data"];
    assert_eq!(
        data["privacy_level_options"],
        json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(data["max_video_post_duration_sec"], 600);
    for flag in ["comment_disabled", "duet_disabled", "stitch_disabled"] {
        assert_eq!(data[flag], false);
    }
    assert!(data["creator_nickname"].is_string());
    assert!(data["creator_username"].is_string());
    assert!(data["creator_avatar_url"].is_string());
    assert_eq!(sb.token_calls(&token), 1);

    // A private account, set per open_id.
    let private = vec![
        "FOLLOWER_OF_CREATOR".to_owned(),
        "MUTUAL_FOLLOW_FRIENDS".to_owned(),
        "SELF_ONLY".to_owned(),
    ];
    sb.set_privacy_options("alice", private.clone());
    let (_, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(body["data"]["privacy_level_options"], json!(private));

    // No video.publish scope; unknown token.
    let (upload_only, _) = sb.issue_grant("bob", "user.info.basic,video.upload");
    let (status, body) = call(&sb, CREATOR_INFO, &upload_only, json!({})).await;
    assert_eq!((status, code(&body)), (401, "scope_not_authorized"));
    let (status, body) = call(&sb, CREATOR_INFO, "act.nope", json!({})).await;
    assert_eq!((status, code(&body)), (401, "access_token_invalid"));

    // A posting block comes with HTTP 200, as documented.
    sb.set_posting_block("alice", Some("spam_risk_user_banned_from_posting".into()));
    let (status, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "spam_risk_user_banned_from_posting");
    let (status, body) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("SELF_ONLY", source(1000, 1000, 1)),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "spam_risk_user_banned_from_posting")
    );
    sb.set_posting_block("alice", None);
    let (_, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(code(&body), "ok");
    assert_eq!(sb.calls(CREATOR_INFO), 6);
}

#[tokio::test]
async fn direct_and_inbox_inits_succeed() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "PUBLIC_TO_EVERYONE", (1000, 1000, 1)).await;
    let digits = publish_id
        .strip_prefix("v_pub_file~v2-1.")
        .expect("direct publish_id prefix");
    assert_eq!(digits.len(), 19);
    assert!(digits.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(upload_url.origin(), sb.base_url().origin());
    assert_eq!(upload_url.path(), "/upload/");
    let query: Vec<(String, String)> = upload_url.query_pairs().into_owned().collect();
    assert_eq!(query[0].0, "upload_id");
    assert_eq!(query[0].1.len(), 19);
    assert_eq!(query[1].0, "upload_token");
    let secrets = sb.secrets();
    assert!(secrets.contains(&query[1].1), "upload_token is a secret");
    assert!(secrets.contains(&upload_url.to_string()));

    let (inbox_id, _) = init_inbox(&sb, &token, (MIN_CHUNK * 2, MIN_CHUNK, 2)).await;
    let digits = inbox_id
        .strip_prefix("v_inbox_file~v2.")
        .expect("inbox publish_id prefix");
    assert_eq!(digits.len(), 19);
    assert_eq!(sb.inits("alice"), 2);

    let view = sb.publish(&publish_id).expect("publish");
    assert!(view.direct);
    assert_eq!(view.status, "PROCESSING_UPLOAD");
    assert_eq!(view.post_info["privacy_level"], "PUBLIC_TO_EVERYONE");
    assert_eq!(view.post_info["title"], "hello #sandbox");
    let inbox = sb.publish(&inbox_id).expect("inbox publish");
    assert!(!inbox.direct);
    assert_eq!(
        (inbox.video_size, inbox.chunk_size, inbox.total_chunk_count),
        (MIN_CHUNK * 2, MIN_CHUNK, 2)
    );
    assert_eq!(sb.publishes().len(), 2);
}

#[tokio::test]
async fn init_requests_are_checked() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    sb.set_rate_limit(VIDEO_INIT, 1000);
    let plan = source(1000, 1000, 1);

    // Content-Type must be JSON.
    let response = client()
        .post(url(&sb, VIDEO_INIT))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body(direct_body("SELF_ONLY", plan.clone()).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(code(&body), "invalid_param");

    let cases = [
        (json!({"source_info": plan.clone()}), 400, "invalid_param"),
        (
            json!({"post_info": {"privacy_level": "SELF_ONLY", "title": "é".repeat(2201)}, "source_info": plan.clone()}),
            400,
            "invalid_param",
        ),
        (
            json!({"post_info": {"privacy_level": "SELF_ONLY", "disable_duet": "no"}, "source_info": plan.clone()}),
            400,
            "invalid_param",
        ),
        (
            direct_body("SELF_ONLY", json!({"source": "SOMETHING"})),
            400,
            "invalid_param",
        ),
        (
            direct_body("FOLLOWER_OF_CREATOR", plan.clone()),
            403,
            "privacy_level_option_mismatch",
        ),
        (
            direct_body(
                "SELF_ONLY",
                json!({"source": "PULL_FROM_URL", "video_url": "https://example.com/v.mp4"}),
            ),
            403,
            "url_ownership_unverified",
        ),
    ];
    for (body, status, expected) in cases {
        let (got, answer) = call(&sb, VIDEO_INIT, &token, body.clone()).await;
        assert_eq!((got, code(&answer)), (status, expected), "{body}");
    }
    // A title of exactly 2200 UTF-16 units is fine ("𝄞" is two units).
    let (status, answer) = call(
        &sb,
        VIDEO_INIT,
        &token,
        json!({"post_info": {"privacy_level": "SELF_ONLY", "title": "𝄞".repeat(1100)}, "source_info": plan.clone()}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // Inbox init needs video.upload; direct init needs video.publish.
    let (publish_only, _) = sb.issue_grant("bob", "video.publish");
    let (status, answer) = call(
        &sb,
        INBOX_INIT,
        &publish_only,
        json!({"source_info": plan.clone()}),
    )
    .await;
    assert_eq!((status, code(&answer)), (401, "scope_not_authorized"));
    let (upload_only, _) = sb.issue_grant("carol", "video.upload");
    let (status, answer) = call(
        &sb,
        VIDEO_INIT,
        &upload_only,
        direct_body("SELF_ONLY", plan.clone()),
    )
    .await;
    assert_eq!((status, code(&answer)), (401, "scope_not_authorized"));
    let (status, answer) = call(
        &sb,
        VIDEO_INIT,
        "act.unknown",
        direct_body("SELF_ONLY", plan),
    )
    .await;
    assert_eq!((status, code(&answer)), (401, "access_token_invalid"));
    assert_eq!(sb.inits("alice"), 1);
}

#[tokio::test]
async fn chunk_rule_violations_are_refused() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    sb.set_rate_limit(VIDEO_INIT, 1000);
    sb.set_rate_limit(INBOX_INIT, 1000);
    const SIZE: &str = "The chunk size is invalid";
    const COUNT: &str = "total chunk count is invalid";
    const VIDEO: &str = "video size is invalid";
    let cases: [(i64, i64, i64, &str); 12] = [
        // video_size out of range
        (0, 0, 1, VIDEO),
        (4_294_967_297, 64_000_000, 67, VIDEO),
        // one chunk must be the whole video, at most 64,000,000 bytes
        (64_000_001, 64_000_001, 1, SIZE),
        (10_000_000, 5_242_880, 1, SIZE),
        (1000, 999, 1, SIZE),
        // videos under 5,242,880 bytes must be one chunk
        (5_000_000, 2_500_000, 2, COUNT),
        // chunk_size bounds
        (20_000_000, 5_000_000, 4, SIZE),
        (200_000_000, 65_000_000, 3, SIZE),
        // total_chunk_count must be floor(video_size / chunk_size), 1..=1000
        (50_000_123, 10_000_000, 6, COUNT),
        (50_000_123, 10_000_000, 4, COUNT),
        (50_000_123, 10_000_000, 0, COUNT),
        (50_000_123, 10_000_000, -5, COUNT),
    ];
    for (size, chunk, count, message) in cases {
        let plan = json!({"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": count});
        for (path, body) in [
            (VIDEO_INIT, direct_body("SELF_ONLY", plan.clone())),
            (INBOX_INIT, json!({"source_info": plan.clone()})),
        ] {
            let (status, answer) = call(&sb, path, &token, body).await;
            assert_eq!(status, 400, "{path} {plan}");
            assert_eq!(code(&answer), "invalid_params", "{plan}");
            assert_eq!(answer["error"]["message"], message, "{plan}");
        }
    }
    assert_eq!(sb.inits("alice"), 0);

    // The documented worked example: 5 chunks, the last one 10,000,123 bytes.
    let (publish_id, _) = init_direct(&sb, &token, "SELF_ONLY", (50_000_123, 10_000_000, 5)).await;
    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!(view.total_chunk_count, 5);
    // And the other documented example: one 4,194,304-byte chunk.
    init_inbox(&sb, &token, (4_194_304, 4_194_304, 1)).await;
}

#[tokio::test]
async fn three_chunk_upload_completes_with_the_right_hash() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let total = MIN_CHUNK * 3 + 123;
    let data = video(total);
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "PUBLIC_TO_EVERYONE", (total, MIN_CHUNK, 3)).await;

    let (status, range) = put_chunk(&upload_url, &data, 0, MIN_CHUNK - 1).await;
    assert_eq!(status, 206);
    assert_eq!(
        range.as_deref(),
        Some(format!("bytes 0-{}/{total}", MIN_CHUNK - 1).as_str())
    );
    let (status, body) = call(&sb, STATUS, &token, json!({"publish_id": publish_id})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "PROCESSING_UPLOAD");
    assert_eq!(body["data"]["uploaded_bytes"], MIN_CHUNK);

    let (status, range) = put_chunk(&upload_url, &data, MIN_CHUNK, 2 * MIN_CHUNK - 1).await;
    assert_eq!(status, 206);
    assert_eq!(
        range.as_deref(),
        Some(format!("bytes 0-{}/{total}", 2 * MIN_CHUNK - 1).as_str())
    );

    // The final chunk carries the trailing 123 bytes.
    let (status, range) = put_chunk(&upload_url, &data, 2 * MIN_CHUNK, total - 1).await;
    assert_eq!(status, 201);
    assert_eq!(
        range.as_deref(),
        Some(format!("bytes 0-{}/{total}", total - 1).as_str())
    );

    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!(view.uploaded_bytes, total);
    assert_eq!(view.chunk_puts, 3);
    assert_eq!(view.sha256.as_deref(), Some(hex_sha256(&data).as_str()));

    // Any PUT after completion no longer matches the progress.
    let (status, range) = put_chunk(&upload_url, &data, 0, MIN_CHUNK - 1).await;
    assert_eq!(status, 416);
    assert_eq!(
        range.as_deref(),
        Some(format!("bytes 0-{}/{total}", total - 1).as_str())
    );

    let data = settled_status(&sb, &token, &publish_id).await;
    assert_eq!(data["status"], "PUBLISH_COMPLETE");
    assert_eq!(data["uploaded_bytes"], total);
    let ids = data["publicaly_available_post_id"].as_array().expect("ids");
    assert_eq!(ids.len(), 1);
    assert!(ids[0].is_i64());
    assert!(data.get("fail_reason").is_none());
    assert_eq!(sb.calls("/upload/"), 4);
}

#[tokio::test]
async fn upload_puts_are_checked() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let total = MIN_CHUNK * 2;
    let data = video(total);
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "SELF_ONLY", (total, MIN_CHUNK, 2)).await;

    // Out of order: the second chunk first.
    let (status, range) = put_chunk(&upload_url, &data, MIN_CHUNK, total - 1).await;
    assert_eq!(status, 416);
    assert_eq!(range.as_deref(), Some(format!("bytes */{total}").as_str()));

    // Content-Range says one length, the body (and Content-Length) another.
    let response = client()
        .put(upload_url.clone())
        .header("Content-Type", "video/mp4")
        .header(
            "Content-Range",
            format!("bytes 0-{}/{total}", MIN_CHUNK - 1),
        )
        .body(data[..1000].to_vec())
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status().as_u16(), 400);

    // A consistent request for a chunk of the wrong length.
    let (status, _) = put_chunk(&upload_url, &data, 0, 999).await;
    assert_eq!(status, 400);

    let base = || {
        client()
            .put(upload_url.clone())
            .body(data[..MIN_CHUNK as usize].to_vec())
    };
    let good_range = format!("bytes 0-{}/{total}", MIN_CHUNK - 1);
    // Wrong content type; no Content-Range; malformed; wrong total.
    let bad = [
        base()
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", good_range.clone()),
        base().header("Content-Type", "video/mp4"),
        base()
            .header("Content-Type", "video/mp4")
            .header("Content-Range", format!("0-{}/{total}", MIN_CHUNK - 1)),
        base().header("Content-Type", "video/mp4").header(
            "Content-Range",
            format!("bytes 0-{}/{}", MIN_CHUNK - 1, total + 1),
        ),
    ];
    for request in bad {
        let response = request.send().await.expect("PUT");
        assert_eq!(response.status().as_u16(), 400);
    }
    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!((view.uploaded_bytes, view.chunk_puts), (0, 0));

    // webm and quicktime are fine too.
    let response = base()
        .header("Content-Type", "video/webm")
        .header("Content-Range", good_range)
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status().as_u16(), 206);
}

#[tokio::test]
async fn a_body_shorter_than_content_length_is_not_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (publish_id, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    let addr = format!(
        "{}:{}",
        upload_url.host_str().expect("host"),
        upload_url.port().expect("port")
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: sandbox\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-999/1000\r\nContent-Length: 1000\r\n\r\n",
        upload_url.path(),
        upload_url.query().expect("query")
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&[7u8; 600]).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "unexpected answer: {answer}"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-range: bytes */1000")
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!((view.uploaded_bytes, view.chunk_puts), (0, 0));
    assert!(view.sha256.is_none());
}

#[tokio::test]
async fn expired_and_unknown_upload_urls() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let data = video(1000);
    let (_, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;

    // Wrong token, unknown upload_id: 404.
    let mut wrong = upload_url.clone();
    let pairs: Vec<(String, String)> = upload_url.query_pairs().into_owned().collect();
    wrong
        .query_pairs_mut()
        .clear()
        .append_pair("upload_id", &pairs[0].1)
        .append_pair("upload_token", "not-the-token");
    assert_eq!(put_chunk(&wrong, &data, 0, 999).await.0, 404);
    let mut unknown = upload_url.clone();
    unknown
        .query_pairs_mut()
        .clear()
        .append_pair("upload_id", "1234567890123456789")
        .append_pair("upload_token", &pairs[1].1);
    assert_eq!(put_chunk(&unknown, &data, 0, 999).await.0, 404);
    let mut bare = upload_url.clone();
    bare.set_query(None);
    assert_eq!(put_chunk(&bare, &data, 0, 999).await.0, 404);

    // Expired by control: 403 with the progress header.
    sb.expire_upload_urls();
    let (status, range) = put_chunk(&upload_url, &data, 0, 999).await;
    assert_eq!(status, 403);
    assert_eq!(range.as_deref(), Some("bytes */1000"));
    // A URL issued afterwards still works.
    let (_, fresh) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    assert_eq!(put_chunk(&fresh, &data, 0, 999).await.0, 201);

    // Expired by age (a zero TTL expires at once).
    let sb = sandbox_with(SandboxConfig {
        upload_url_ttl: 0,
        ..SandboxConfig::default()
    })
    .await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (_, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    assert_eq!(put_chunk(&upload_url, &data, 0, 999).await.0, 403);
}

#[tokio::test]
async fn rate_limits_and_daily_caps() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    for _ in 0..6 {
        init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    }
    let (status, body) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("SELF_ONLY", source(1000, 1000, 1)),
    )
    .await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"));
    // Per token: another token of the same user is not limited yet.
    let (other, _) = sb.issue_grant("alice", SCOPES);
    init_direct(&sb, &other, "SELF_ONLY", (1000, 1000, 1)).await;

    // Limits are settable over HTTP too.
    let response = client()
        .post(url(&sb, "/sandbox/rate-limits"))
        .json(&json!({"path": STATUS, "per_minute": 1}))
        .send()
        .await
        .expect("control");
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = call(&sb, STATUS, &token, json!({"publish_id": "x"})).await;
    assert_eq!(status, 400);
    let (status, body) = call(&sb, STATUS, &token, json!({"publish_id": "x"})).await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"));

    // Daily caps: 15 direct posts, 5 pending inbox shares per user.
    sb.set_rate_limit(VIDEO_INIT, 1000);
    sb.set_rate_limit(INBOX_INIT, 1000);
    for _ in 0..8 {
        init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    }
    let (status, body) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("SELF_ONLY", source(1000, 1000, 1)),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "spam_risk_too_many_posts"));
    for _ in 0..5 {
        init_inbox(&sb, &token, (1000, 1000, 1)).await;
    }
    let (status, body) = call(
        &sb,
        INBOX_INIT,
        &token,
        json!({"source_info": source(1000, 1000, 1)}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "spam_risk_too_many_pending_share")
    );
    assert_eq!(sb.inits("alice"), 20);
}

#[tokio::test]
async fn status_follows_the_outcome() {
    let sb = sandbox().await;
    // The polls below are as many as the machine's pace makes them: keep
    // them clear of the 30-a-minute status limit, which is tested apart.
    sb.set_rate_limit(STATUS, 10_000);
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let data = video(1000);

    // Inbox: SEND_TO_USER_INBOX, no post id.
    let (inbox_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    let status = settled_status(&sb, &token, &inbox_id).await;
    assert_eq!(status["status"], "SEND_TO_USER_INBOX");
    assert_eq!(status["publicaly_available_post_id"], json!([]));

    // A private direct post completes without a public post id.
    let (private_id, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    let status = settled_status(&sb, &token, &private_id).await;
    assert_eq!(status["status"], "PUBLISH_COMPLETE");
    assert_eq!(status["publicaly_available_post_id"], json!([]));

    // Failure.
    sb.set_outcome(PublishOutcome::Fail("duration_check_failed".into()));
    let (failed_id, upload_url) =
        init_direct(&sb, &token, "PUBLIC_TO_EVERYONE", (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    let status = settled_status(&sb, &token, &failed_id).await;
    assert_eq!(status["status"], "FAILED");
    assert_eq!(status["fail_reason"], "duration_check_failed");
    assert_eq!(status["uploaded_bytes"], 1000);

    // Never: stays PROCESSING_UPLOAD; a delay holds it there for a while.
    sb.set_outcome(PublishOutcome::Never);
    let (stuck_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    sb.set_outcome(PublishOutcome::Complete);
    sb.set_processing_delay(Duration::from_millis(1000));
    let (slow_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    let (_, body) = call(&sb, STATUS, &token, json!({"publish_id": slow_id})).await;
    assert_eq!(body["data"]["status"], "PROCESSING_UPLOAD");
    let status = settled_status(&sb, &token, &slow_id).await;
    assert_eq!(status["status"], "SEND_TO_USER_INBOX");
    let (_, body) = call(&sb, STATUS, &token, json!({"publish_id": stuck_id})).await;
    assert_eq!(body["data"]["status"], "PROCESSING_UPLOAD");

    // Unknown and other users' publish ids.
    let (status, body) = call(
        &sb,
        STATUS,
        &token,
        json!({"publish_id": "v_pub_file~v2-1.1"}),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_publish_id"));
    let (mallory, _) = sb.issue_grant("mallory", "video.upload");
    let (status, body) = call(&sb, STATUS, &mallory, json!({"publish_id": inbox_id})).await;
    assert_eq!(
        (status, code(&body)),
        (400, "token_not_authorized_for_specified_publish_id")
    );
    let (status, body) = call(&sb, STATUS, &token, json!({})).await;
    assert_eq!((status, code(&body)), (400, "invalid_param"));
    let (nothing, _) = sb.issue_grant("nobody", "user.info.basic");
    let (status, body) = call(&sb, STATUS, &nothing, json!({"publish_id": inbox_id})).await;
    assert_eq!((status, code(&body)), (401, "scope_not_authorized"));
}

/// What the test webhook receiver saw: (TikTok-Signature, body).
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(String, String)>>>,
    /// How many requests still get a 500.
    failures: Arc<AtomicU32>,
}

impl Receiver {
    fn hits(&self) -> Vec<(String, String)> {
        self.hits.lock().expect("lock").clone()
    }

    fn events(&self) -> Vec<Value> {
        self.hits()
            .iter()
            .map(|(_, body)| serde_json::from_str(body).expect("JSON envelope"))
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("tiktok-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    receiver
        .hits
        .lock()
        .expect("lock")
        .push((signature, String::from_utf8_lossy(&body).into_owned()));
    let failing = receiver
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn spawn_receiver(failures: u32) -> (Url, Receiver) {
    let receiver = Receiver {
        failures: Arc::new(AtomicU32::new(failures)),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        Url::parse(&format!("http://{addr}/hook")).expect("URL"),
        receiver,
    )
}

/// Checks a `TikTok-Signature` by recomputing the HMAC independently.
fn verify(secret: &str, header: &str, body: &str) {
    let mut t = None;
    let mut s = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("s", v)) => s = Some(v),
            _ => panic!("unexpected signature part {part}"),
        }
    }
    let (t, s) = (t.expect("t"), s.expect("s"));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    assert_eq!(s, hex::encode(mac.finalize().into_bytes()));
    let t: i64 = t.parse().expect("numeric t");
    assert!((chrono::Utc::now().timestamp() - t).abs() < 60);
    assert_eq!(sign_webhook(secret, t, body.as_bytes()), header);
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_redeliverable() {
    let (hook, receiver) = spawn_receiver(1).await;
    let config = SandboxConfig {
        webhook_url: Some(hook),
        ..SandboxConfig::default()
    };
    let secret = config.client_secret.clone();
    let client_key = config.client_key.clone();
    let sb = sandbox_with(config).await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let data = video(1000);
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "PUBLIC_TO_EVERYONE", (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;

    // complete (500, then retried) and publicly_available.
    eventually("two webhooks acknowledged", || {
        sb.webhook_deliveries()
            .iter()
            .filter(|d| d.succeeded())
            .count()
            == 2
    })
    .await;
    let deliveries = sb.webhook_deliveries();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[0].event, "post.publish.complete");
    assert_eq!(
        (deliveries[0].attempt, deliveries[0].status),
        (1, Some(500))
    );
    assert_eq!(deliveries[1].event, "post.publish.complete");
    assert_eq!(
        (deliveries[1].attempt, deliveries[1].status),
        (2, Some(200))
    );
    assert_eq!(deliveries[2].event, "post.publish.publicly_available");
    assert_eq!(
        deliveries[2].publish_id.as_deref(),
        Some(publish_id.as_str())
    );

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    // The retry is the same webhook, byte for byte.
    assert_eq!(hits[0], hits[1]);
    for (signature, body) in &hits {
        verify(&secret, signature, body);
    }
    let events = receiver.events();
    assert_eq!(events[0]["client_key"], client_key.as_str());
    assert_eq!(events[0]["user_openid"], "alice");
    assert!(events[0]["create_time"].is_i64());
    let content: Value =
        serde_json::from_str(events[0]["content"].as_str().expect("content is a string"))
            .expect("content JSON");
    assert_eq!(
        content,
        json!({"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH"})
    );
    let content: Value =
        serde_json::from_str(events[2]["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(content["publish_type"], "DIRECT_PUBLISH");
    let post_id: i64 = content["post_id"]
        .as_str()
        .expect("post_id")
        .parse()
        .expect("numeric");
    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!(view.post_ids, vec![post_id]);

    // A deliberate duplicate.
    assert!(sb.redeliver_last_webhook());
    eventually("a redelivery", || receiver.hits().len() == 4).await;
    assert_eq!(receiver.hits()[3], receiver.hits()[2]);
    eventually("the redelivery recorded", || {
        sb.webhook_deliveries().len() == 4
    })
    .await;
    assert!(sb.webhook_deliveries()[3].redelivery);

    // Inbox and failure events.
    let (inbox_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    eventually("inbox_delivered", || receiver.hits().len() == 5).await;
    sb.set_outcome(PublishOutcome::Fail("spam_risk_text".into()));
    let (failed_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    eventually("failed", || receiver.hits().len() == 6).await;
    let events = receiver.events();
    assert_eq!(events[4]["event"], "post.publish.inbox_delivered");
    let content: Value =
        serde_json::from_str(events[4]["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(
        content,
        json!({"publish_id": inbox_id, "publish_type": "INBOX_SHARE"})
    );
    assert_eq!(events[5]["event"], "post.publish.failed");
    let content: Value =
        serde_json::from_str(events[5]["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(
        content,
        json!({"publish_id": failed_id, "reason": "spam_risk_text", "publish_type": "INBOX_SHARE"})
    );
    for (signature, body) in receiver.hits() {
        verify(&secret, &signature, &body);
    }
}

#[tokio::test]
async fn authorization_removed_webhooks() {
    let (hook, receiver) = spawn_receiver(0).await;
    let sb = sandbox().await;
    // No URL yet: nothing is sent.
    sb.send_authorization_removed("zed", 1);
    let (token, _) = sb.issue_grant("alice", SCOPES);
    sb.set_webhook_url(Some(hook));

    // The developer revokes: reason 5.
    let config = SandboxConfig::default();
    let response = client()
        .post(url(&sb, "/v2/oauth/revoke/"))
        .form(&[
            ("client_key", config.client_key.as_str()),
            ("client_secret", config.client_secret.as_str()),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 200);
    assert!(!sb.has_live_grant("alice"));
    eventually("authorization.removed", || receiver.hits().len() == 1).await;
    let event = &receiver.events()[0];
    assert_eq!(event["event"], "authorization.removed");
    assert_eq!(event["user_openid"], "alice");
    assert_eq!(event["content"], r#"{"reason":5}"#);

    // TikTok removes it (user disconnected): grants die, reason 1.
    let (token, _) = sb.issue_grant("bob", SCOPES);
    assert!(sb.has_live_grant("bob"));
    sb.send_authorization_removed("bob", 1);
    assert!(!sb.has_live_grant("bob"));
    eventually("second authorization.removed", || {
        receiver.hits().len() == 2
    })
    .await;
    assert_eq!(receiver.events()[1]["content"], r#"{"reason":1}"#);
    let (status, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!((status, code(&body)), (401, "access_token_invalid"));

    // Switched off: nothing goes out.
    sb.set_webhooks_enabled(false);
    sb.send_authorization_removed("carol", 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(sb.webhook_deliveries().len(), 2);
    for (signature, body) in receiver.hits() {
        verify(&config.client_secret, &signature, &body);
    }
}

#[tokio::test]
async fn undeliverable_webhooks_give_up_after_five_attempts() {
    let (hook, receiver) = spawn_receiver(u32::MAX).await;
    let sb = sandbox_with(SandboxConfig {
        webhook_url: Some(hook),
        ..SandboxConfig::default()
    })
    .await;
    sb.send_authorization_removed("alice", 0);
    eventually("five attempts", || sb.webhook_deliveries().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let deliveries = sb.webhook_deliveries();
    assert_eq!(deliveries.len(), 5);
    let attempts: Vec<u32> = deliveries.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5]);
    assert!(deliveries.iter().all(|d| d.status == Some(500)));
    assert_eq!(receiver.hits().len(), 5);
    // Nothing was acknowledged, so there is nothing to redeliver.
    assert!(!sb.redeliver_last_webhook());
}

#[tokio::test]
async fn faults_can_skip_the_first_requests() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let total = MIN_CHUNK * 3;
    let data = video(total);
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "SELF_ONLY", (total, MIN_CHUNK, 3)).await;
    // Fail only the second chunk PUT.
    sb.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(503),
        count: 1,
        rate: 0.0,
        after: 1,
    });
    assert_eq!(put_chunk(&upload_url, &data, 0, MIN_CHUNK - 1).await.0, 206);
    assert_eq!(
        put_chunk(&upload_url, &data, MIN_CHUNK, 2 * MIN_CHUNK - 1)
            .await
            .0,
        503
    );
    assert_eq!(
        sb.publish(&publish_id).expect("publish").uploaded_bytes,
        MIN_CHUNK
    );
    // The retry of the same chunk goes through, and so does the rest.
    assert_eq!(
        put_chunk(&upload_url, &data, MIN_CHUNK, 2 * MIN_CHUNK - 1)
            .await
            .0,
        206
    );
    assert_eq!(
        put_chunk(&upload_url, &data, 2 * MIN_CHUNK, total - 1)
            .await
            .0,
        201
    );
    let view = sb.publish(&publish_id).expect("publish");
    assert_eq!(view.chunk_puts, 3);
    assert_eq!(view.sha256.as_deref(), Some(hex_sha256(&data).as_str()));
    assert_eq!(sb.calls("/upload/"), 4);

    // Faults wrap the Content Posting endpoints too, also over HTTP.
    let response = client()
        .post(url(&sb, "/sandbox/faults"))
        .json(&json!({"path_prefix": STATUS, "kind": {"kind": "rate_limited"}, "count": 1, "after": 2}))
        .send()
        .await
        .expect("control");
    assert_eq!(response.status().as_u16(), 204);
    for expected in [200, 200, 429, 200] {
        let (status, _) = call(&sb, STATUS, &token, json!({"publish_id": publish_id})).await;
        assert_eq!(status, expected);
    }
}

#[tokio::test]
async fn sink_streams_and_hashes() {
    let sb = sandbox().await;
    let data = video(3_000_001);
    let response = client()
        .put(url(&sb, "/sandbox/sink"))
        .body(data.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["bytes"], 3_000_001);
    assert_eq!(body["sha256"], hex_sha256(&data));
}

#[tokio::test]
async fn http_controls_drive_publishes() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let post_json = |path: &'static str, body: Value| {
        let request = client().post(url(&sb, path)).json(&body);
        async move { request.send().await.expect("control").status().as_u16() }
    };
    assert_eq!(
        post_json(
            "/sandbox/privacy-options",
            json!({"open_id": "alice", "options": ["SELF_ONLY"]})
        )
        .await,
        204
    );
    let (status, body) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("PUBLIC_TO_EVERYONE", source(1000, 1000, 1)),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "privacy_level_option_mismatch")
    );
    assert_eq!(
        post_json(
            "/sandbox/outcome",
            json!({"outcome": "fail", "reason": "internal"})
        )
        .await,
        204
    );
    let (publish_id, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    upload_all(&upload_url, &video(1000), 1000, 1).await;
    let status = settled_status(&sb, &token, &publish_id).await;
    assert_eq!(status["fail_reason"], "internal");
    let listed: Value = client()
        .get(url(&sb, "/sandbox/publishes"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed[0]["publish_id"], publish_id.as_str());
    assert_eq!(listed[0]["status"], "FAILED");
    assert_eq!(
        post_json(
            "/sandbox/posting-block",
            json!({"open_id": "alice", "code": "spam_risk_too_many_posts"})
        )
        .await,
        204
    );
    let (status, body) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!((status, code(&body)), (200, "spam_risk_too_many_posts"));
    assert_eq!(post_json("/sandbox/expire-uploads", json!({})).await, 204);
    assert_eq!(
        post_json("/sandbox/webhooks/redeliver", json!({})).await,
        404
    );
}

#[tokio::test]
async fn a_public_post_appears_in_video_list() {
    let (hook, receiver) = spawn_receiver(0).await;
    let sb = sandbox_with(SandboxConfig {
        webhook_url: Some(hook),
        ..SandboxConfig::default()
    })
    .await;
    sb.set_rate_limit(STATUS, 10_000);
    let (token, _) = sb.issue_grant("alice", &format!("{SCOPES},video.list"));
    sb.add_videos("alice", 2);
    let data = video(1000);

    // A private post is not listed; a public one is, as the newest video,
    // under the webhook's post_id.
    let (private_id, upload_url) = init_direct(&sb, &token, "SELF_ONLY", (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    settled_status(&sb, &token, &private_id).await;
    let (publish_id, upload_url) =
        init_direct(&sb, &token, "PUBLIC_TO_EVERYONE", (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    eventually("publicly_available", || {
        receiver
            .events()
            .iter()
            .any(|e| e["event"] == "post.publish.publicly_available")
    })
    .await;
    let event = receiver
        .events()
        .into_iter()
        .find(|e| e["event"] == "post.publish.publicly_available")
        .expect("event");
    let content: Value =
        serde_json::from_str(event["content"].as_str().expect("content")).expect("JSON");
    assert_eq!(content["publish_id"], publish_id.as_str());
    let post_id = content["post_id"].as_str().expect("post_id").to_owned();
    let status = settled_status(&sb, &token, &publish_id).await;
    assert_eq!(
        status["publicaly_available_post_id"],
        json!([post_id.parse::<i64>().expect("int64")])
    );

    let response = client()
        .post(url(&sb, "/v2/video/list/?fields=id,title,view_count"))
        .bearer_auth(&token)
        .json(&json!({"max_count": 20}))
        .send()
        .await
        .expect("video.list");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    let videos = body["data"]["videos"].as_array().expect("videos");
    assert_eq!(videos.len(), 3);
    assert_eq!(
        videos[0],
        json!({"id": post_id, "title": "hello #sandbox", "view_count": 0})
    );
    assert_eq!(sb.profile_stats("alice").video_count, 3);
}

/// TikTok's audit and posting rules at the init: an unaudited app posts
/// only `SELF_ONLY`, and branded content is never private.
#[tokio::test]
async fn an_unaudited_app_posts_privately_and_branded_content_is_never_private() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let plan = source(1000, 1000, 1);
    let branded_private = json!({"post_info": {"privacy_level": "SELF_ONLY", "brand_content_toggle": true},
                                 "source_info": plan.clone()});
    let (status, answer) = call(&sb, VIDEO_INIT, &token, branded_private).await;
    assert_eq!((status, code(&answer)), (400, "invalid_param"), "{answer}");

    sb.set_audited(false);
    for privacy in ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS"] {
        let (status, answer) =
            call(&sb, VIDEO_INIT, &token, direct_body(privacy, plan.clone())).await;
        assert_eq!(
            (status, code(&answer)),
            (403, "unaudited_client_can_only_post_to_private_accounts"),
            "{privacy}"
        );
    }
    let (status, answer) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("SELF_ONLY", plan.clone()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // Over HTTP too.
    let audited = client()
        .post(url(&sb, "/sandbox/audited"))
        .json(&json!({"audited": true}))
        .send()
        .await
        .expect("control");
    assert_eq!(audited.status().as_u16(), 204);
    let (status, answer) = call(
        &sb,
        VIDEO_INIT,
        &token,
        direct_body("PUBLIC_TO_EVERYONE", plan),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sb.inits("alice"), 2);
}

#[tokio::test]
async fn an_unaudited_app_posts_for_at_most_five_users_a_day() {
    let sb = sandbox().await;
    sb.set_audited(false);
    let plan = || direct_body("SELF_ONLY", source(1000, 1000, 1));
    let mut tokens = Vec::new();
    for n in 1..=6 {
        let (token, _) = sb.issue_grant(&format!("creator-{n}"), SCOPES);
        tokens.push(token);
    }
    for token in &tokens[..5] {
        let (status, answer) = call(&sb, VIDEO_INIT, token, plan()).await;
        assert_eq!(status, 200, "{answer}");
    }
    // The sixth user: creator_info says so with HTTP 200, and the init is refused.
    let (status, info) = call(&sb, CREATOR_INFO, &tokens[5], json!({})).await;
    assert_eq!(
        (status, code(&info)),
        (200, "reached_active_user_cap"),
        "{info}"
    );
    let (status, answer) = call(&sb, VIDEO_INIT, &tokens[5], plan()).await;
    assert_eq!(
        (status, code(&answer)),
        (403, "reached_active_user_cap"),
        "{answer}"
    );
    // Inbox uploads are not direct posts; the five still post.
    let (status, answer) = call(
        &sb,
        INBOX_INIT,
        &tokens[5],
        json!({"source_info": source(1000, 1000, 1)}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, info) = call(&sb, CREATOR_INFO, &tokens[0], json!({})).await;
    assert_eq!((status, code(&info)), (200, "ok"), "{info}");
    let (status, answer) = call(&sb, VIDEO_INIT, &tokens[0], plan()).await;
    assert_eq!(status, 200, "{answer}");
    // An audited app has no such cap.
    sb.set_audited(true);
    let (status, answer) = call(&sb, VIDEO_INIT, &tokens[5], plan()).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_video_longer_than_the_creator_may_post_fails_its_duration_check() {
    let sb = sandbox().await;
    let (token, _) = sb.issue_grant("alice", SCOPES);
    let (_, info) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(info["data"]["max_video_post_duration_sec"], 600);
    // Over HTTP: alice may post five minutes.
    let set = client()
        .post(url(&sb, "/sandbox/max-duration"))
        .json(&json!({"open_id": "alice", "seconds": 300}))
        .send()
        .await
        .expect("control");
    assert_eq!(set.status().as_u16(), 204);
    let (_, info) = call(&sb, CREATOR_INFO, &token, json!({})).await;
    assert_eq!(info["data"]["max_video_post_duration_sec"], 300);

    // Two chunks, the moov at the start: ten minutes fails, four passes.
    let size = 2 * MIN_CHUNK + 123;
    for (seconds, expected) in [(600, "FAILED"), (240, "PUBLISH_COMPLETE")] {
        let data = tools::generated_mp4_lasting(size as usize, seconds);
        let (publish_id, upload_url) =
            init_direct(&sb, &token, "SELF_ONLY", (size, MIN_CHUNK, 2)).await;
        upload_all(&upload_url, &data, MIN_CHUNK, 2).await;
        let settled = settled_status(&sb, &token, &publish_id).await;
        assert_eq!(settled["status"], expected, "{seconds} s: {settled}");
        if expected == "FAILED" {
            assert_eq!(settled["fail_reason"], "duration_check_failed");
        }
    }
    // An inbox upload is held to TikTok's ten minutes, whatever the creator's.
    let data = tools::generated_mp4_lasting(1000, 601);
    let (publish_id, upload_url) = init_inbox(&sb, &token, (1000, 1000, 1)).await;
    upload_all(&upload_url, &data, 1000, 1).await;
    let settled = settled_status(&sb, &token, &publish_id).await;
    assert_eq!(settled["fail_reason"], "duration_check_failed", "{settled}");
}
