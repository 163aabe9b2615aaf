//! `POST /uploads` and `GET /uploads/{id}`: validation, ownership, rate
//! limits, and the presigned URL itself (moto does not enforce presigned
//! signatures, so the URL's signed headers and expiry are read here).

use harness::{
    body_text,
    publishing::{ALL_SCOPES, upload_request},
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

fn error_code(response: &lambda_http::Response<lambda_http::Body>) -> String {
    let v: Value = serde_json::from_str(&body_text(response)).expect("json");
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_upload_gets_a_presigned_put_that_binds_type_and_length() {
    let app = spawn_app().await;
    app.seed_account("tt-up-1", "alice", ALL_SCOPES).await;
    let mut request = upload_request("tt-up-1", "My holiday (final).MP4", "video/mp4", 123_456);
    request["post"]["title"] = json!("Sunset ☀️ #travel");
    let created = app.create_upload("alice", &request).await;

    let id = created["upload_id"].as_str().expect("upload_id");
    assert_eq!(id.len(), 32);
    assert_eq!(created["status"], "awaiting_upload");
    assert_eq!(created["account_id"], "tt-up-1");
    assert_eq!(created["method"], "PUT");
    assert_eq!(created["publish_id"], Value::Null);
    assert_eq!(created["headers"]["content-type"], "video/mp4");
    assert_eq!(created["headers"]["content-length"], "123456");

    let url = url::Url::parse(created["upload_url"].as_str().expect("url")).expect("url");
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let signed: Vec<&str> = query["X-Amz-SignedHeaders"].split(';').collect();
    assert!(signed.contains(&"content-type"), "{signed:?}");
    assert!(signed.contains(&"content-length"), "{signed:?}");
    assert_eq!(query["X-Amz-Expires"], "900", "expires within minutes");
    assert!(query.contains_key("X-Amz-Signature"));
    // The key is ours alone: no file name, title or user id in it.
    assert!(
        url.path().ends_with(&format!("/uploads/{id}")),
        "{}",
        url.path()
    );
    for user_text in ["holiday", "alice", "Sunset", "final"] {
        assert!(!url.as_str().contains(user_text), "{user_text} in {url}");
    }
    let expires = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .expect("rfc3339");
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((800..=900).contains(&left), "{left}");

    let (status, view) = app.upload_status("alice", id).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "awaiting_upload");
    assert_eq!(view["size_bytes"], 123_456);
    assert!(view.get("upload_url").is_none());
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_clear_error() {
    let app = spawn_app_with(|env| env.set("UPLOAD_MAX_BYTES", "10000000")).await;
    app.seed_account("tt-up-2", "alice", ALL_SCOPES).await;
    let base = || upload_request("tt-up-2", "clip.mp4", "video/mp4", 5000);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            upload_request("tt-up-2", "clip.avi", "video/x-msvideo", 5000),
            "unsupported_video_type",
            "AVI files are not accepted by TikTok",
        ),
        (
            upload_request("tt-up-2", "clip.mkv", "video/x-matroska", 5000),
            "unsupported_video_type",
            "MKV files are not accepted by TikTok",
        ),
        (
            upload_request("tt-up-2", "clip.mp4", "image/gif", 5000),
            "invalid_content_type",
            "",
        ),
        (
            upload_request("tt-up-2", "clip.webm", "video/mp4", 5000),
            "invalid_file_name",
            "",
        ),
        (
            upload_request("tt-up-2", "clip.mp4", "video/mp4", 1023),
            "invalid_size",
            "1024",
        ),
        (
            upload_request("tt-up-2", "clip.mp4", "video/mp4", 10_000_001),
            "invalid_size",
            "10000000",
        ),
        (
            {
                let mut r = base();
                r["post"]["title"] = json!("x".repeat(2201));
                r
            },
            "title_too_long",
            "2200",
        ),
        (
            {
                let mut r = base();
                r["post"] = json!({"title": "no privacy"});
                r
            },
            "privacy_level_required",
            "",
        ),
        (
            {
                let mut r = base();
                r["mode"] = json!("draft");
                r
            },
            "invalid_mode",
            "",
        ),
        (
            {
                let mut r = base();
                r["post"]["privacy_level"] = json!("EVERYONE");
                r
            },
            "invalid_body",
            "",
        ),
        (json!({"account_id": "tt-up-2"}), "invalid_body", ""),
    ];
    for (request, code, needle) in cases {
        let response = app
            .upload_api("POST", "/uploads", Some("alice"), Some(&request))
            .await;
        assert_eq!(
            response.status(),
            400,
            "{request}: {}",
            body_text(&response)
        );
        assert_eq!(error_code(&response), code, "{request}");
        assert!(
            body_text(&response).contains(needle),
            "{}",
            body_text(&response)
        );
    }
    assert_eq!(
        crate::helpers::count_items(&app, "UPLOAD#").await,
        0,
        "nothing is recorded for a refused request"
    );
}

#[tokio::test]
async fn only_the_owner_of_an_active_account_with_the_scope_may_upload() {
    let app = spawn_app().await;
    app.seed_account("tt-up-3", "alice", ALL_SCOPES).await;
    app.seed_account("tt-up-4", "alice", "user.info.basic,video.upload")
        .await;

    // Bob cannot upload to Alice's account, nor to a missing one: the same 404.
    let bobs = app
        .upload_api(
            "POST",
            "/uploads",
            Some("bob"),
            Some(&upload_request("tt-up-3", "a.mp4", "video/mp4", 5000)),
        )
        .await;
    let missing = app
        .upload_api(
            "POST",
            "/uploads",
            Some("bob"),
            Some(&upload_request("tt-nobody", "a.mp4", "video/mp4", 5000)),
        )
        .await;
    assert_eq!(bobs.status(), 404);
    assert_eq!(body_text(&bobs), body_text(&missing));

    // A direct post needs video.publish.
    let no_scope = app
        .upload_api(
            "POST",
            "/uploads",
            Some("alice"),
            Some(&upload_request("tt-up-4", "a.mp4", "video/mp4", 5000)),
        )
        .await;
    assert_eq!(no_scope.status(), 409);
    assert_eq!(error_code(&no_scope), "scope_not_granted");
    let mut inbox = upload_request("tt-up-4", "a.mp4", "video/mp4", 5000);
    inbox["mode"] = json!("inbox");
    inbox.as_object_mut().unwrap().remove("post");
    app.create_upload("alice", &inbox).await;

    // A disconnected account takes no uploads.
    let response = app
        .api("DELETE", "/accounts/tt-up-3", Some("alice"), None)
        .await;
    assert_eq!(response.status(), 204);
    let gone = app
        .upload_api(
            "POST",
            "/uploads",
            Some("alice"),
            Some(&upload_request("tt-up-3", "a.mp4", "video/mp4", 5000)),
        )
        .await;
    assert_eq!(gone.status(), 409);
    assert_eq!(error_code(&gone), "account_not_active");

    // Bob cannot see Alice's upload; a malformed id is a 400; no identity 401.
    let created = app.create_upload("alice", &inbox).await;
    let id = created["upload_id"].as_str().unwrap();
    let (status, bob_view) = app.upload_status("bob", id).await;
    assert_eq!(status, 404);
    let (_, missing_view) = app.upload_status("bob", &"0".repeat(32)).await;
    assert_eq!(bob_view, missing_view);
    assert_eq!(app.upload_status("alice", "not-an-upload-id").await.0, 400);
    let anonymous = app
        .upload_api("GET", &format!("/uploads/{id}"), None, None)
        .await;
    assert_eq!(anonymous.status(), 401);
    let wrong_method = app
        .upload_api("DELETE", &format!("/uploads/{id}"), Some("alice"), None)
        .await;
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn uploads_per_account_are_rate_limited() {
    let app = spawn_app().await;
    app.seed_account("tt-up-5", "alice", ALL_SCOPES).await;
    harness::within_one_window(
        &shared::service::uploads::UPLOADS_PER_ACCOUNT,
        std::time::Duration::from_secs(60),
    )
    .await;
    let request = upload_request("tt-up-5", "a.mp4", "video/mp4", 5000);
    for _ in 0..25 {
        app.create_upload("alice", &request).await;
    }
    let response = app
        .upload_api("POST", "/uploads", Some("alice"), Some(&request))
        .await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    assert_eq!(crate::helpers::count_items(&app, "UPLOAD#").await, 25);
}
