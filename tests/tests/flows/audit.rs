//! What TikTok's audit and the creator allow, checked before anything is
//! stored: an unaudited app posts privately only, a privacy level the
//! creator is not offered is refused, branded content is never private.

use harness::{TestApp, body_text, spawn_app, spawn_app_with};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

fn body(response: &Response<Body>) -> Value {
    serde_json::from_str(&body_text(response)).unwrap_or(Value::Null)
}

fn upload(account: &str, post: Value) -> Value {
    json!({"account_id": account, "file_name": "clip.mp4", "content_type": "video/mp4",
           "size_bytes": 25_144, "mode": "direct", "post": post})
}

async fn media(app: &TestApp, user: &str) -> String {
    let created = app
        .create_upload(
            user,
            &json!({"file_name": "clip.mp4", "content_type": "video/mp4", "size_bytes": 25_144}),
        )
        .await;
    created["upload_id"].as_str().expect("upload_id").to_owned()
}

async fn refused(response: Response<Body>, code: &str) -> String {
    assert_eq!(response.status(), 400, "{}", body_text(&response));
    let answer = body(&response);
    assert_eq!(answer["error"]["code"], code, "{answer}");
    answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_unaudited_app_offers_and_takes_only_private_posts_and_says_why() {
    let app = spawn_app_with(|env| env.set("TIKTOK_APP_AUDITED", "false")).await;
    app.connect("alice", "tt-unaudited").await;
    let info = app.creator_info("alice", "tt-unaudited").await;
    let info = body(&info);
    assert_eq!(
        info["privacy_level_options"],
        json!(["SELF_ONLY"]),
        "{info}"
    );
    assert_eq!(info["app_audited"], false);
    assert!(
        info["note"]
            .as_str()
            .is_some_and(|n| n.contains("not audited"))
    );

    for privacy in [
        "PUBLIC_TO_EVERYONE",
        "MUTUAL_FOLLOW_FRIENDS",
        "FOLLOWER_OF_CREATOR",
    ] {
        let request = upload("tt-unaudited", json!({"privacy_level": privacy}));
        let message = refused(
            app.upload_api("POST", "/uploads", Some("alice"), Some(&request))
                .await,
            "unaudited_app_private_only",
        )
        .await;
        assert!(message.contains("SELF_ONLY"), "{message}");
    }
    let private = upload("tt-unaudited", json!({"privacy_level": "SELF_ONLY"}));
    app.create_upload("alice", &private).await;

    let media = media(&app, "alice").await;
    let post = json!({"upload_id": media, "mode": "direct",
                      "post": {"privacy_level": "SELF_ONLY"},
                      "targets": [{"account_id": "tt-unaudited",
                                   "post": {"privacy_level": "PUBLIC_TO_EVERYONE"}}]});
    let message = refused(
        app.posts_api("POST", "/posts", &[], Some("alice"), Some(&post))
            .await,
        "unaudited_app_private_only",
    )
    .await;
    assert!(
        message.contains("tt-unaudited"),
        "names the target: {message}"
    );
}

#[tokio::test]
async fn a_privacy_level_the_creator_is_not_offered_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    app.connect("alice", "tt-private").await;
    app.connect("alice", "tt-public").await;
    // A private TikTok account: no PUBLIC_TO_EVERYONE.
    app.sandbox.set_privacy_options(
        "tt-private",
        vec![
            "FOLLOWER_OF_CREATOR".into(),
            "MUTUAL_FOLLOW_FRIENDS".into(),
            "SELF_ONLY".into(),
        ],
    );
    // The person's post page asked for the creator's options first.
    let info = app.creator_info("alice", "tt-private").await;
    assert_eq!(info.status(), 200);

    let public = upload("tt-private", json!({"privacy_level": "PUBLIC_TO_EVERYONE"}));
    app.aws.reset_calls();
    let message = refused(
        app.upload_api("POST", "/uploads", Some("alice"), Some(&public))
            .await,
        "privacy_level_not_allowed",
    )
    .await;
    assert!(
        message.contains("FOLLOWER_OF_CREATOR"),
        "offers the options: {message}"
    );
    assert_eq!(app.aws.calls("DynamoDB.PutItem"), 0, "nothing stored");
    let followers = upload(
        "tt-private",
        json!({"privacy_level": "FOLLOWER_OF_CREATOR"}),
    );
    app.create_upload("alice", &followers).await;

    // One post to both: the private account's target is refused by name.
    let media = media(&app, "alice").await;
    let post = json!({"upload_id": media, "mode": "direct",
                      "post": {"privacy_level": "PUBLIC_TO_EVERYONE"},
                      "targets": [{"account_id": "tt-public"}, {"account_id": "tt-private"}]});
    let message = refused(
        app.posts_api("POST", "/posts", &[], Some("alice"), Some(&post))
            .await,
        "privacy_level_not_allowed",
    )
    .await;
    assert!(message.contains("tt-private"), "{message}");
    let mixed = json!({"upload_id": media, "mode": "direct",
                       "post": {"privacy_level": "PUBLIC_TO_EVERYONE"},
                       "targets": [{"account_id": "tt-public"},
                                   {"account_id": "tt-private",
                                    "post": {"privacy_level": "FOLLOWER_OF_CREATOR"}}]});
    let created = app
        .posts_api("POST", "/posts", &[], Some("alice"), Some(&mixed))
        .await;
    assert_eq!(created.status(), 201, "{}", body_text(&created));
}

#[tokio::test]
async fn branded_content_is_never_private() {
    let app = spawn_app().await;
    app.connect("alice", "tt-brand").await;
    let branded = upload(
        "tt-brand",
        json!({"privacy_level": "SELF_ONLY", "brand_content_toggle": true}),
    );
    let message = refused(
        app.upload_api("POST", "/uploads", Some("alice"), Some(&branded))
            .await,
        "branded_content_must_be_public",
    )
    .await;
    assert!(message.contains("cannot be private"), "{message}");
    let public = upload(
        "tt-brand",
        json!({"privacy_level": "PUBLIC_TO_EVERYONE", "brand_content_toggle": true}),
    );
    app.create_upload("alice", &public).await;
    // Your own brand (brand_organic_toggle) may be private.
    let organic = upload(
        "tt-brand",
        json!({"privacy_level": "SELF_ONLY", "brand_organic_toggle": true}),
    );
    app.create_upload("alice", &organic).await;
}

#[tokio::test]
async fn an_interaction_the_creator_turned_off_cannot_be_turned_on() {
    let app = spawn_app().await;
    app.connect("alice", "tt-quiet").await;
    app.sandbox
        .set_interactions_off("tt-quiet", [true, false, false]);
    let info = body(&app.creator_info("alice", "tt-quiet").await);
    assert_eq!(info["comment_disabled"], true, "{info}");
    let allowing = upload("tt-quiet", json!({"privacy_level": "SELF_ONLY"}));
    let message = refused(
        app.upload_api("POST", "/uploads", Some("alice"), Some(&allowing))
            .await,
        "interaction_disabled_by_creator",
    )
    .await;
    assert!(message.contains("disable_comment"), "{message}");
    let off = upload(
        "tt-quiet",
        json!({"privacy_level": "SELF_ONLY", "disable_comment": true}),
    );
    app.create_upload("alice", &off).await;
}
