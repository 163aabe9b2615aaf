use harness::{REDIRECT_URI, body_text, query_of, spawn_app};
use shared::domain::secrets::OAuthState;

use crate::helpers::count_items;

#[tokio::test]
async fn start_returns_an_authorize_url_with_a_fresh_single_use_state() {
    let app = spawn_app().await;
    let first = app.authorize_url("alice").await;
    let second = app.authorize_url("alice").await;

    let q = query_of(&first);
    assert_eq!(q["client_key"], "sandbox_client_key");
    assert_eq!(q["response_type"], "code");
    assert_eq!(
        q["scope"],
        "user.info.basic,user.info.stats,video.list,video.upload,video.publish"
    );
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["disable_auto_auth"], "1");
    assert!(q["state"].len() >= 43, "state too short to be unguessable");
    assert_ne!(q["state"], query_of(&second)["state"]);
    assert_eq!(first.path(), "/v2/auth/authorize/");

    // The state is stored, bound to the user, and consumable once.
    let state = OAuthState::parse(q["state"].clone()).unwrap();
    let record = app.store().consume_state(&state).await.expect("stored");
    assert_eq!(record.user.as_ref(), "alice");
    assert!(record.expires_at > record.created_at);
    assert!(app.store().consume_state(&state).await.is_err());
    assert_eq!(count_items(&app, "STATE#").await, 1);
}

#[tokio::test]
async fn start_without_an_identity_is_401_and_writes_nothing() {
    let app = spawn_app().await;
    let response = app.start_oauth(None).await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = serde_json::from_str(&body_text(&response)).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(app.all_items().await.is_empty());
}

#[tokio::test]
async fn start_reports_503_when_the_table_is_unavailable() {
    let app = harness::spawn_app_with(|env| env.set("TABLE_NAME", "no-such-table")).await;
    let response = app.start_oauth(Some("alice")).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&body_text(&response)).unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(!body_text(&response).contains("no-such-table"));
}
