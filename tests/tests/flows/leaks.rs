use harness::{TestApp, logs, spawn_app};
use shared::{
    domain::ports::{AccountStore, TokenSealer},
    service::refresh::{Command, Outcome},
};
use tiktok_sandbox::{Fault, FaultKind};

/// Runs every flow of the connect capability with logs captured at TRACE
/// (our code, the AWS SDK and the HTTP stack), then looks for every token,
/// code and secret the sandbox ever issued or holds.
#[tokio::test]
async fn no_token_code_or_secret_reaches_the_logs() {
    let logs = logs::capture();
    let app = spawn_app().await;

    let mut locations = Vec::new();
    let mut states = Vec::new();
    let mut tickets = Vec::new();
    // Connect two accounts, reconnect one, replay a callback and a ticket.
    for open_id in ["tt-leak-1", "tt-leak-2", "tt-leak-1"] {
        let authorize = app.authorize_url("alice").await;
        states.push(harness::query_of(&authorize)["state"].clone());
        let callback = app
            .visit_tiktok(&authorize, &[("sandbox_user", open_id)])
            .await;
        let response = app.follow_callback(&callback).await;
        locations.push(harness::location(&response).to_string());
        let ticket = TestApp::ticket_of(&response).expect("a ticket");
        assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 200);
        assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 404);
        tickets.push(ticket);
        let replay = app.follow_callback(&callback).await;
        locations.push(harness::location(&replay).to_string());
    }
    // A ticket presented by another user.
    let forwarded = app.ticket("alice", "tt-leak-4").await;
    assert_eq!(app.complete(Some("bob"), &forwarded).await.status(), 404);
    tickets.push(forwarded);
    // Another user tries a connected account; a denial; failures.
    locations.push(harness::query_of(&app.authorize_url("bob").await)["state"].clone());
    let refused = app.connect("bob", "tt-leak-1").await;
    assert_eq!(refused["reason"], "account_connected_elsewhere");
    let authorize = app.authorize_url("alice").await;
    let denied = app
        .visit_tiktok(&authorize, &[("sandbox_decision", "deny")])
        .await;
    app.follow_callback(&denied).await;
    for path in ["/v2/oauth/token/", "/v2/user/info/"] {
        app.sandbox.add_fault(Fault {
            path_prefix: path.into(),
            kind: FaultKind::Status(500),
            count: 1,
            rate: 0.0,
            after: 0,
        });
        let failed = app.connect("alice", "tt-leak-3").await;
        assert_eq!(failed["status"], "error");
    }

    let captured = logs.contents();
    assert!(
        captured.contains("account connected"),
        "the capture must actually see the flows' logs"
    );
    let secrets = app.sandbox.secrets();
    assert!(secrets.len() > 10, "the sandbox issued tokens and codes");
    // Tickets go to the browser in a Location, and nowhere else.
    for ticket in &tickets {
        assert!(
            !captured.contains(ticket.as_str()),
            "a ticket reached the logs"
        );
    }
    for secret in secrets.iter().chain(states.iter()) {
        if let Some(line) = captured.lines().find(|l| l.contains(secret.as_str())) {
            panic!(
                "a secret reached the logs in this line (secret masked):\n{}",
                line.replace(secret.as_str(), "<SECRET>")
            );
        }
        for location in &locations {
            assert!(
                !location.contains(secret.as_str()),
                "a secret reached a Location"
            );
        }
    }
}

/// Refresh flows with logs captured at TRACE: successful rotations,
/// transient faults, an `invalid_grant`, and a store outage after TikTok
/// rotated (which must raise the alert line, without the token).
#[tokio::test]
async fn no_token_reaches_the_logs_during_refresh() {
    let logs = logs::capture();
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("leak", 12, "alice").await;

    // One account's grant is revoked at TikTok: invalid_grant.
    let account = app.store().get_account(&ids[0]).await.unwrap().unwrap();
    let tokens = app
        .sealer()
        .open(&ids[0], account.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    app.tiktok().revoke(&tokens.access).await.unwrap();
    // The first four token calls fail (the sweep's first attempts, spread
    // over its concurrent accounts): retried, never three on one account.
    app.sandbox.add_fault(Fault {
        path_prefix: "/v2/oauth/token/".into(),
        kind: FaultKind::Status(503),
        count: 4,
        rate: 0.0,
        after: 0,
    });
    let summary = app.refresher.run(Command::Sweep { dry_run: false }).await;
    assert_eq!(summary.reauth_required, 1, "{summary:?}");
    app.sandbox.clear_faults();

    // A store outage right after TikTok rotated a token.
    let outage = app
        .refresher_with(|env| env.set("AWS_MAX_ATTEMPTS", "1"))
        .await;
    app.aws.fail_next("DynamoDB.PutItem", 1_000);
    let outcome = outage.refresh_now(&ids[1]).await;
    app.aws.clear_faults();
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.starts_with("rotated token not stored")),
        "{outcome:?}"
    );

    // Fan-out: a plan onto the refresh queue, workers taking its slices,
    // one account refused by TikTok on the way.
    let fanned = app.seed_due_accounts("leakfan", 6, "alice").await;
    let mut env = app.env.clone();
    env.set("REFRESH_MODE", "fanout");
    let planner = shared::startup::token_refresh(&env).await.unwrap();
    app.sandbox.add_fault(Fault {
        path_prefix: "/v2/oauth/token/".into(),
        kind: FaultKind::Status(503),
        count: 3,
        rate: 0.0,
        after: 0,
    });
    token_refresh::handle(
        &planner,
        lambda_runtime::LambdaEvent::new(
            crate::refresh_fanout::scheduled(),
            lambda_runtime::Context::default(),
        ),
    )
    .await
    .unwrap();
    let worker = shared::startup::refresh_worker(&env).await.unwrap();
    assert!(!crate::refresh_fanout::poll(&app, &worker).await.is_empty());
    app.sandbox.clear_faults();
    assert!(
        fanned
            .iter()
            .any(|id| app.sandbox.rotations(id.as_ref()) == 1)
    );

    let captured = logs.contents();
    assert!(captured.contains("sweep finished"));
    assert!(captured.contains("plan sent") && captured.contains("slice finished"));
    let alert = captured
        .lines()
        .find(|l| l.contains("rotated_refresh_token_not_stored"))
        .expect("one alert-level line");
    assert!(alert.contains(r#""level":"ERROR""#), "{alert}");
    assert!(
        alert.contains(ids[1].as_ref()),
        "the alert names the account"
    );
    let secrets = app.sandbox.secrets();
    assert!(secrets.len() > 24);
    for secret in &secrets {
        if let Some(line) = captured.lines().find(|l| l.contains(secret.as_str())) {
            panic!(
                "a secret reached the logs in this line (secret masked):\n{}",
                line.replace(secret.as_str(), "<SECRET>")
            );
        }
    }
}

/// Upload and publish flows with logs captured at TRACE: a presigned upload,
/// a publish with a failing chunk and an expired upload_url, webhooks (a
/// forged one too) and a status check. Neither a token, the upload_url's
/// upload_token, the presigned URL's signature nor the client secret may
/// appear.
#[tokio::test]
async fn no_token_upload_url_or_signature_reaches_the_logs_during_publishing() {
    use harness::publishing::{
        ALL_SCOPES, SAMPLE_MP4, WebhookEndpoint, generated_mp4, upload_request,
    };

    let logs = logs::capture();
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    app.seed_account("tt-leak-up", "alice", ALL_SCOPES).await;

    let small = app
        .upload_video(
            "alice",
            upload_request("tt-leak-up", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    let size = 70_000_000;
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(500),
        count: 1,
        rate: 0.0,
        after: 1,
    });
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(403),
        count: 1,
        rate: 0.0,
        after: 3,
    });
    let big = app
        .upload_video(
            "alice",
            upload_request("tt-leak-up", "b.mp4", "video/mp4", size),
            generated_mp4(size),
        )
        .await;
    app.drain_publish_queue(10).await;
    // A forged webhook.
    let forged = harness::publishing::webhook_request(
        &app.webhooks,
        &std::collections::HashMap::from([("tiktok-signature".to_owned(), "t=1,s=00".to_owned())]),
        b"{}",
    )
    .await;
    assert_eq!(forged.status(), 401);
    app.sandbox.send_authorization_removed("tt-leak-up", 1);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let captured = logs.contents();
    assert!(
        captured.contains("every byte is at TikTok"),
        "the capture sees the publish"
    );
    let mut secrets = app.sandbox.secrets();
    assert!(
        secrets.iter().any(|s| s.contains("upload_token")),
        "the sandbox lists its upload URLs"
    );
    for created in [&small, &big] {
        secrets.extend(presigned_secrets(created));
    }
    assert_no_secret_in(&captured, &secrets);
}

/// A presigned upload's URL and its signature.
fn presigned_secrets(created: &serde_json::Value) -> [String; 2] {
    let url = url::Url::parse(created["upload_url"].as_str().unwrap()).unwrap();
    let signature = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Signature")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    [signature, url.to_string()]
}

fn assert_no_secret_in(captured: &str, secrets: &[String]) {
    for secret in secrets {
        if let Some(line) = captured.lines().find(|l| l.contains(secret.as_str())) {
            panic!(
                "a secret reached the logs in this line (secret masked):\n{}",
                line.replace(secret.as_str(), "<SECRET>")
            );
        }
    }
}

/// Posts with logs captured at TRACE: a media upload (its presigned URL),
/// posts scheduled, moved, cancelled and published to several accounts,
/// one waiting for its video, webhooks settling them. Neither a token, an
/// upload_url, the presigned URL nor its signature may appear.
#[tokio::test]
async fn no_token_upload_url_or_presigned_url_reaches_the_logs_during_posts() {
    use harness::{
        posting::post_request,
        publishing::{ALL_SCOPES, SAMPLE_MP4, WebhookEndpoint},
    };
    use serde_json::json;

    let logs = logs::capture();
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    for account in ["tt-leak-post-1", "tt-leak-post-2"] {
        app.seed_account(account, "alice", ALL_SCOPES).await;
    }
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), false).await;
    let media_id = media["upload_id"].as_str().unwrap().to_owned();
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let mut request = post_request(
        &media_id,
        &["tt-leak-post-1", "tt-leak-post-2"],
        Some(&later),
    );
    request["post"]["privacy_level"] = json!("PUBLIC_TO_EVERYONE");
    let post = app.create_post("alice", &request).await;
    let post_id = post["post_id"].as_str().unwrap().to_owned();
    let cancelled = app.create_post("alice", &request).await;
    let path = format!("/posts/{}", cancelled["post_id"].as_str().unwrap());
    assert_eq!(app.posts_call("DELETE", &path, "alice", None).await.0, 200);
    let now = json!({"publish_at": chrono::Utc::now().to_rfc3339()});
    let path = format!("/posts/{post_id}");
    assert_eq!(
        app.posts_call("PATCH", &path, "alice", Some(&now)).await.0,
        200
    );
    app.drain_publish_queue(10).await;
    assert_eq!(app.put_presigned(&media, SAMPLE_MP4.to_vec()).await, 200);
    for _ in 0..50 {
        app.drain_publish_queue(20).await;
        if app.post("alice", &post_id).await["status"] == "published" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(app.post("alice", &post_id).await["status"], "published");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let captured = logs.contents();
    assert!(
        captured.contains("post started"),
        "the capture sees the post"
    );
    let mut secrets = app.sandbox.secrets();
    assert!(secrets.iter().any(|s| s.contains("upload_token")));
    secrets.extend(presigned_secrets(&media));
    assert_no_secret_in(&captured, &secrets);
}
