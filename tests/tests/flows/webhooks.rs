//! `POST /webhooks/tiktok`: signatures checked on the raw body, duplicates
//! answered 200 and ignored, `authorization.removed` and `post.publish.*`
//! applied. Deliveries come from the sandbox, signed as TikTok signs them.

use std::collections::HashMap;

use harness::{
    TestApp, body_text,
    publishing::{ALL_SCOPES, SAMPLE_MP4, WebhookEndpoint, upload_request, webhook_request},
    spawn_app,
};
use serde_json::{Value, json};
use tiktok_sandbox::sign_webhook;

const SECRET: &str = "sandbox_client_secret";

fn event_body(event: &str, open_id: &str, content: Value) -> Vec<u8> {
    event_body_at(event, open_id, content, now())
}

/// An event TikTok created at `create_time` (Unix seconds).
fn event_body_at(event: &str, open_id: &str, content: Value, create_time: i64) -> Vec<u8> {
    json!({
        "client_key": "sandbox_client_key",
        "event": event,
        "create_time": create_time,
        "user_openid": open_id,
        "content": content.to_string(),
    })
    .to_string()
    .into_bytes()
}

async fn send(app: &TestApp, signature: Option<String>, body: &[u8]) -> (u16, Value) {
    let mut headers = HashMap::from([("content-type".to_owned(), "application/json".to_owned())]);
    if let Some(signature) = signature {
        headers.insert("TikTok-Signature".into(), signature);
    }
    let response = webhook_request(&app.webhooks, &headers, body).await;
    (
        response.status().as_u16(),
        serde_json::from_str(&body_text(&response)).unwrap_or(Value::Null),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn bad_missing_or_stale_signatures_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.seed_account("tt-wh-1", "alice", ALL_SCOPES).await;
    let body = event_body("authorization.removed", "tt-wh-1", json!({"reason": 1}));
    let tampered = {
        let mut b = body.clone();
        let at = b.len() - 3;
        b[at] ^= 1;
        b
    };
    let cases = [
        (None, body.clone()),
        (Some("t=1,s=zz".to_owned()), body.clone()),
        (
            Some(sign_webhook("another-secret", now(), &body)),
            body.clone(),
        ),
        (Some(sign_webhook(SECRET, now(), &body)), tampered),
        (Some(sign_webhook(SECRET, now() - 301, &body)), body.clone()),
        (Some(sign_webhook(SECRET, now() + 301, &body)), body.clone()),
    ];
    for (signature, body) in cases {
        let (status, answer) = send(&app, signature.clone(), &body).await;
        assert_eq!(status, 401, "{signature:?}");
        assert_eq!(answer["error"]["code"], "invalid_signature");
    }
    let account = crate::helpers::account(&app, "tt-wh-1").await;
    assert_eq!(
        account.status,
        shared::domain::account::AccountStatus::Active
    );
    assert!(account.sealed_tokens.is_some());
    assert_eq!(crate::helpers::count_items(&app, "EVENT#").await, 0);

    // The same body, rightly signed, is applied.
    let (status, _) = send(&app, Some(sign_webhook(SECRET, now(), &body)), &body).await;
    assert_eq!(status, 200);
    let account = crate::helpers::account(&app, "tt-wh-1").await;
    assert_eq!(
        account.status,
        shared::domain::account::AccountStatus::Disconnected
    );
}

#[tokio::test]
async fn authorization_removed_disconnects_and_erases_the_tokens() {
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    app.seed_account("tt-wh-2", "alice", ALL_SCOPES).await;
    app.sandbox.send_authorization_removed("tt-wh-2", 1);
    for _ in 0..100 {
        if crate::helpers::account(&app, "tt-wh-2").await.status
            == shared::domain::account::AccountStatus::Disconnected
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let account = crate::helpers::account(&app, "tt-wh-2").await;
    assert_eq!(
        account.status,
        shared::domain::account::AccountStatus::Disconnected
    );
    assert!(account.sealed_tokens.is_none(), "tokens erased");
    assert!(
        account
            .last_error
            .unwrap()
            .contains("disconnected the app in TikTok")
    );
    let item = app.account_item("tt-wh-2").await.unwrap();
    assert!(!item.contains_key("sealed_tokens") && !item.contains_key("due_at"));
    // What the user sees.
    let response = app
        .api("GET", "/accounts/tt-wh-2", Some("alice"), None)
        .await;
    let view: Value = serde_json::from_str(&body_text(&response)).unwrap();
    assert_eq!(view["status"], "disconnected");

    // Delivered again (TikTok is at least once): 200, a duplicate.
    assert!(app.sandbox.redeliver_last_webhook());
    let mut again = None;
    for _ in 0..100 {
        again = app
            .sandbox
            .webhook_deliveries()
            .into_iter()
            .find(|d| d.redelivery);
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let again = again.expect("redelivered");
    assert_eq!(again.status, Some(200));
    assert!(again.body.contains("authorization.removed"));
}

#[tokio::test]
async fn concurrent_duplicate_deliveries_apply_once() {
    let app = spawn_app().await;
    app.seed_account("tt-wh-3", "alice", ALL_SCOPES).await;
    let body = event_body("authorization.removed", "tt-wh-3", json!({"reason": 4}));
    let signature = sign_webhook(SECRET, now(), &body);
    let answers =
        futures::future::join_all((0..16).map(|_| send(&app, Some(signature.clone()), &body)))
            .await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, a)| a["duplicate"] == false)
        .count();
    assert_eq!(applied, 1, "{answers:?}");
    assert_eq!(crate::helpers::count_items(&app, "EVENT#").await, 1);
    let account = crate::helpers::account(&app, "tt-wh-3").await;
    assert_eq!(
        account.status,
        shared::domain::account::AccountStatus::Disconnected
    );
    assert_eq!(account.token_version, 2, "written once");
}

#[tokio::test]
async fn publish_events_settle_only_their_own_upload() {
    let app = spawn_app().await;
    app.sandbox.set_webhooks_enabled(false);
    app.seed_account("tt-wh-4", "alice", ALL_SCOPES).await;
    app.seed_account("tt-wh-5", "bob", ALL_SCOPES).await;
    let created = app
        .upload_video(
            "alice",
            upload_request("tt-wh-4", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    let id = created["upload_id"].as_str().unwrap();
    // Publish, but keep the status check from settling it.
    let notification = app.receive_publish_messages().await;
    app.deliver(notification).await;
    let (_, view) = app.upload_status("alice", id).await;
    assert_eq!(view["status"], "processing");
    let publish_id = view["publish_id"].as_str().unwrap().to_owned();
    let content = json!({"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH"});

    // Another account claiming this publish changes nothing.
    let body = event_body("post.publish.complete", "tt-wh-5", content.clone());
    assert_eq!(
        send(&app, Some(sign_webhook(SECRET, now(), &body)), &body)
            .await
            .0,
        200
    );
    assert_eq!(
        app.upload_status("alice", id).await.1["status"],
        "processing"
    );
    // An unknown publish_id is acknowledged and ignored.
    let body = event_body(
        "post.publish.complete",
        "tt-wh-4",
        json!({"publish_id": "v_pub_file~v2-1.1"}),
    );
    assert_eq!(
        send(&app, Some(sign_webhook(SECRET, now(), &body)), &body)
            .await
            .0,
        200
    );

    // The real one settles it; a late failure for it changes nothing.
    let body = event_body("post.publish.complete", "tt-wh-4", content.clone());
    assert_eq!(
        send(&app, Some(sign_webhook(SECRET, now(), &body)), &body)
            .await
            .0,
        200
    );
    assert_eq!(
        app.upload_status("alice", id).await.1["status"],
        "published"
    );
    let late = event_body(
        "post.publish.failed",
        "tt-wh-4",
        json!({"publish_id": publish_id, "reason": "internal", "publish_type": "DIRECT_PUBLISH"}),
    );
    assert_eq!(
        send(&app, Some(sign_webhook(SECRET, now(), &late)), &late)
            .await
            .0,
        200
    );
    let (_, view) = app.upload_status("alice", id).await;
    assert_eq!(view["status"], "published");
    assert!(view["error"].is_null());
}

/// TikTok delivers at least once and retries for 72 hours, so an event can
/// arrive after a newer grant. An `authorization.removed` about the grant a
/// reconnect replaced is acknowledged and ignored, in whatever order it
/// comes; one about the current grant ends it.
#[tokio::test]
async fn a_removal_older_than_the_current_grant_never_ends_it() {
    use shared::domain::account::AccountStatus::{Active, Disconnected};
    let app = spawn_app().await;
    // The user removed the app at TikTok two minutes ago, then connected
    // the account again just now.
    let old_removal = event_body_at(
        "authorization.removed",
        "tt-wh-6",
        json!({"reason": 1}),
        now() - 120,
    );
    assert_eq!(app.connect("alice", "tt-wh-6").await["status"], "connected");

    // The old removal arrives late: acknowledged, and the new grant stands.
    let (code, body) = send(
        &app,
        Some(sign_webhook(SECRET, now(), &old_removal)),
        &old_removal,
    )
    .await;
    assert_eq!((code, &body["duplicate"]), (200, &json!(false)));
    assert_eq!(
        crate::helpers::account(&app, "tt-wh-6").await.status,
        Active
    );
    // A retry of it, hours later: a duplicate, still nothing.
    let (code, body) = send(
        &app,
        Some(sign_webhook(SECRET, now(), &old_removal)),
        &old_removal,
    )
    .await;
    assert_eq!((code, &body["duplicate"]), (200, &json!(true)));
    // Another event about the old grant (another reason, so another body).
    let older = event_body_at(
        "authorization.removed",
        "tt-wh-6",
        json!({"reason": 5}),
        now() - 3600,
    );
    let (code, _) = send(&app, Some(sign_webhook(SECRET, now(), &older)), &older).await;
    assert_eq!(code, 200);
    let account = crate::helpers::account(&app, "tt-wh-6").await;
    assert_eq!(account.status, Active);
    assert!(
        account.sealed_tokens.is_some(),
        "the new grant's tokens are kept"
    );

    // A removal of the current grant ends it.
    let removal = event_body("authorization.removed", "tt-wh-6", json!({"reason": 2}));
    let (code, _) = send(&app, Some(sign_webhook(SECRET, now(), &removal)), &removal).await;
    assert_eq!(code, 200);
    assert_eq!(
        crate::helpers::account(&app, "tt-wh-6").await.status,
        Disconnected
    );
}
