//! upload-publish, fed by the publish queue exactly as Lambda's SQS poller
//! feeds it: S3 (moto) notifies the queue when the browser's PUT lands.
//! TikTok is the sandbox, which validates chunk plans and Content-Range
//! sequencing, hashes what it receives and signs its webhooks.

use std::time::Duration;

use harness::{
    TestApp,
    publishing::{
        ALL_SCOPES, SAMPLE_MKV, SAMPLE_MOV, SAMPLE_MP4, SAMPLE_WEBM, WebhookEndpoint,
        generated_mp4, upload_request,
    },
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    domain::ids::UploadId,
    service::publish::{FollowUp, Handled},
    support::deadline::Deadline,
};
use tiktok_sandbox::{Fault, FaultKind, PublishOutcome};

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Seeds `open_id` for alice and uploads a generated MP4 of `size` bytes
/// (which S3 announces on the publish queue); returns its SHA-256 and id.
async fn upload_generated(app: &TestApp, open_id: &str, size: usize) -> (String, String) {
    app.seed_account(open_id, "alice", ALL_SCOPES).await;
    let data = generated_mp4(size);
    let digest = sha256(&data);
    let created = app
        .upload_video(
            "alice",
            upload_request(open_id, "a.mp4", "video/mp4", size),
            data,
        )
        .await;
    let id = created["upload_id"].as_str().unwrap().to_string();
    (digest, id)
}

/// Seeds `open_id` for alice and records an upload of the sample MP4 whose
/// PUT has not happened: `awaiting_upload`. Returns the answer and the id.
async fn awaiting_upload(app: &TestApp, open_id: &str) -> (Value, UploadId) {
    app.seed_account(open_id, "alice", ALL_SCOPES).await;
    let created = app
        .create_upload(
            "alice",
            &upload_request(open_id, "a.mp4", "video/mp4", SAMPLE_MP4.len()),
        )
        .await;
    let id = UploadId::parse(created["upload_id"].as_str().unwrap()).unwrap();
    (created, id)
}

/// Waits (up to 10 s) for the upload to reach `status`; returns its view.
async fn wait_for_status(app: &TestApp, user: &str, id: &str, status: &str) -> Value {
    for _ in 0..200 {
        let (_, view) = app.upload_status(user, id).await;
        if view["status"] == status {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, view) = app.upload_status(user, id).await;
    panic!("upload never reached {status}: {view}");
}

/// TikTok calls of the Content Posting API (the upload host excluded).
fn posting_calls(app: &TestApp) -> u64 {
    [
        "/v2/post/publish/creator_info/query/",
        "/v2/post/publish/video/init/",
        "/v2/post/publish/inbox/video/init/",
        "/v2/post/publish/status/fetch/",
    ]
    .iter()
    .map(|p| app.sandbox.calls(p))
    .sum()
}

#[tokio::test]
async fn a_real_mp4_is_published_and_the_webhook_settles_it() {
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    app.seed_account("tt-pub-1", "alice", ALL_SCOPES).await;
    let mut request = upload_request("tt-pub-1", "clip.mp4", "video/mp4", SAMPLE_MP4.len());
    request["post"] = json!({
        "title": "Sunset ☀️ #travel", "privacy_level": "PUBLIC_TO_EVERYONE",
        "disable_comment": true, "is_aigc": true
    });
    let created = app
        .upload_video("alice", request, SAMPLE_MP4.to_vec())
        .await;
    let id = created["upload_id"].as_str().unwrap();

    // moto's S3 notification is on the queue; upload-publish takes it.
    assert_eq!(
        app.drain_publish_queue(5).await,
        2,
        "the notification, then the status check"
    );
    let view = wait_for_status(&app, "alice", id, "published").await;
    let publish_id = view["publish_id"].as_str().expect("publish_id");
    assert!(view["error"].is_null(), "{view}");

    let publish = app.sandbox.publish(publish_id).expect("TikTok has it");
    assert!(publish.direct);
    assert_eq!(publish.status, "PUBLISH_COMPLETE");
    assert_eq!(publish.sha256.as_deref(), Some(sha256(SAMPLE_MP4).as_str()));
    assert_eq!((publish.total_chunk_count, publish.chunk_puts), (1, 1));
    assert_eq!(publish.post_info["title"], "Sunset ☀️ #travel");
    assert_eq!(publish.post_info["privacy_level"], "PUBLIC_TO_EVERYONE");
    assert_eq!(publish.post_info["disable_comment"], true);
    assert_eq!(publish.post_info["is_aigc"], true);
    assert_eq!(app.sandbox.inits("tt-pub-1"), 1);
    let deliveries = app.sandbox.webhook_deliveries();
    assert!(
        deliveries
            .iter()
            .any(|d| d.event == "post.publish.complete" && d.succeeded()),
        "{deliveries:?}"
    );
}

#[tokio::test]
async fn mov_webm_and_inbox_uploads_are_published_too() {
    let app = spawn_app().await;
    app.seed_account("tt-pub-2", "alice", ALL_SCOPES).await;
    let webm = app
        .upload_video(
            "alice",
            upload_request("tt-pub-2", "a.webm", "video/webm", SAMPLE_WEBM.len()),
            SAMPLE_WEBM.to_vec(),
        )
        .await;
    let mut inbox = upload_request("tt-pub-2", "a.mov", "video/quicktime", SAMPLE_MOV.len());
    inbox["mode"] = json!("inbox");
    inbox.as_object_mut().unwrap().remove("post");
    let mov = app.upload_video("alice", inbox, SAMPLE_MOV.to_vec()).await;
    app.drain_publish_queue(10).await;
    // No webhook endpoint here: the status checks settle both.
    let mut publishes = Vec::new();
    for (created, data) in [(&webm, SAMPLE_WEBM), (&mov, SAMPLE_MOV)] {
        let id = created["upload_id"].as_str().unwrap();
        let view = wait_for_status(&app, "alice", id, "published").await;
        let publish = app
            .sandbox
            .publish(view["publish_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(publish.sha256.as_deref(), Some(sha256(data).as_str()));
        publishes.push(publish);
    }
    let inbox_publish = &publishes[1];
    assert!(!inbox_publish.direct);
    assert_eq!(inbox_publish.status, "SEND_TO_USER_INBOX");
}

#[tokio::test]
async fn a_generated_200_mb_file_is_streamed_in_chunks_and_polled_to_published() {
    let app = spawn_app().await;
    app.sandbox.set_webhooks_enabled(false);
    let size = 200_000_000;
    let (digest, id) = upload_generated(&app, "tt-pub-3", size).await;
    app.drain_publish_queue(5).await;
    let view = wait_for_status(&app, "alice", &id, "published").await;
    let publish = app
        .sandbox
        .publish(view["publish_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(publish.sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(publish.video_size, size as u64);
    assert_eq!(publish.chunk_size, 64_000_000);
    assert_eq!((publish.total_chunk_count, publish.chunk_puts), (3, 3));
    assert!(
        app.sandbox.calls("/v2/post/publish/status/fetch/") >= 1,
        "with no webhook, the status check asked TikTok"
    );
}

#[tokio::test]
async fn duplicate_deliveries_publish_once() {
    let app = spawn_app().await;
    app.seed_account("tt-pub-4", "alice", ALL_SCOPES).await;
    let created = app
        .upload_video(
            "alice",
            upload_request("tt-pub-4", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    let id = UploadId::parse(created["upload_id"].as_str().unwrap()).unwrap();
    let notification = app.receive_publish_messages().await;
    assert_eq!(notification.len(), 1, "one S3 notification");
    let message = app
        .publisher
        .read_message(notification[0].body.as_deref().unwrap())
        .unwrap();

    // 12 workers get the same notification at once (SQS is at least once).
    let results =
        futures::future::join_all((0..12).map(|_| app.publisher.handle(message.clone()))).await;
    let handled: Vec<Handled> = results
        .into_iter()
        .flat_map(|r| r.expect("handled"))
        .collect();
    let transferred = handled
        .iter()
        .filter(|h| **h == Handled::Transferred)
        .count();
    let duplicates = handled.iter().filter(|h| **h == Handled::Duplicate).count();
    assert_eq!((transferred, duplicates), (1, 11), "{handled:?}");
    // And once more, long after.
    assert_eq!(
        app.publisher.publish(&id, 0).await.expect("handled"),
        Handled::Duplicate
    );
    assert_eq!(app.sandbox.inits("tt-pub-4"), 1);
    assert_eq!(app.sandbox.publishes().len(), 1);
}

#[tokio::test]
async fn a_size_or_type_mismatch_fails_without_calling_tiktok() {
    let app = spawn_app().await;
    app.seed_account("tt-pub-5", "alice", ALL_SCOPES).await;
    // Declared one size, stored another (moto does not enforce the signed
    // length; S3 would, and the publisher checks again).
    let short = app
        .upload_video(
            "alice",
            upload_request("tt-pub-5", "a.mp4", "video/mp4", SAMPLE_MP4.len() + 10),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    // Declared MP4, stored Matroska of the declared size.
    let mkv = app
        .upload_video(
            "alice",
            upload_request("tt-pub-5", "b.mp4", "video/mp4", SAMPLE_MKV.len()),
            SAMPLE_MKV.to_vec(),
        )
        .await;
    // Declared WebM, stored an MP4.
    let mp4_as_webm = app
        .upload_video(
            "alice",
            upload_request("tt-pub-5", "c.webm", "video/webm", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    app.drain_publish_queue(10).await;
    let app = &app;
    let error = |created: &Value| {
        let id = created["upload_id"].as_str().unwrap().to_owned();
        async move {
            let (_, view) = app.upload_status("alice", &id).await;
            assert_eq!(view["status"], "failed", "{view}");
            view["error"].as_str().unwrap().to_owned()
        }
    };
    assert!(error(&short).await.contains("bytes, but"), "size mismatch");
    assert!(
        error(&mkv)
            .await
            .contains("Matroska (MKV), not the declared video/mp4")
    );
    assert!(
        error(&mp4_as_webm)
            .await
            .contains("MP4, not the declared video/webm")
    );
    assert_eq!(posting_calls(app), 0, "TikTok heard of none of them");
    assert!(app.sandbox.publishes().is_empty());
}

/// Publishes a generated 70 MB video (two chunks) for a new account
/// `open_id` while the upload host answers `kind` to `count` PUTs from the
/// second on. Returns the video's SHA-256 and the published upload.
async fn publish_two_chunks_despite(
    app: &TestApp,
    open_id: &str,
    kind: FaultKind,
    count: u32,
) -> (String, Value) {
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind,
        count,
        rate: 0.0,
        after: 1,
    });
    let (digest, id) = upload_generated(app, open_id, 70_000_000).await;
    app.drain_publish_queue(5).await;
    (
        digest,
        wait_for_status(app, "alice", &id, "published").await,
    )
}

#[tokio::test]
async fn a_5xx_mid_transfer_is_retried_on_the_same_chunk() {
    let app = spawn_app().await;
    // The first chunk lands; the second fails twice with a 500.
    let (digest, view) =
        publish_two_chunks_despite(&app, "tt-pub-6", FaultKind::Status(500), 2).await;
    let publish = app
        .sandbox
        .publish(view["publish_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(publish.sha256.as_deref(), Some(digest.as_str()));
    assert_eq!((publish.total_chunk_count, publish.chunk_puts), (2, 2));
    assert_eq!(
        app.sandbox.calls("/upload/"),
        4,
        "chunk 1, chunk 2 failing twice, chunk 2"
    );
    assert_eq!(app.sandbox.inits("tt-pub-6"), 1);
}

#[tokio::test]
async fn an_expired_upload_url_gets_a_fresh_init_and_one_post() {
    let app = spawn_app().await;
    // TikTok answers the second chunk "the upload_url has expired".
    let (digest, view) =
        publish_two_chunks_despite(&app, "tt-pub-7", FaultKind::Status(403), 1).await;
    assert_eq!(app.sandbox.inits("tt-pub-7"), 2);
    let publishes = app.sandbox.publishes();
    let complete: Vec<_> = publishes
        .iter()
        .filter(|p| p.status == "PUBLISH_COMPLETE")
        .collect();
    assert_eq!(complete.len(), 1, "exactly one post: {publishes:?}");
    assert_eq!(complete[0].publish_id, view["publish_id"].as_str().unwrap());
    assert_eq!(complete[0].sha256.as_deref(), Some(digest.as_str()));
    let abandoned = publishes
        .iter()
        .find(|p| p.status != "PUBLISH_COMPLETE")
        .unwrap();
    assert!(
        abandoned.uploaded_bytes < abandoned.video_size,
        "the first never completed"
    );
}

#[tokio::test]
async fn an_upload_host_outage_defers_then_resumes_without_a_second_post() {
    let app = spawn_app().await;
    // Every PUT fails for a while: the chunk retries run out.
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(503),
        count: 5,
        rate: 0.0,
        after: 1,
    });
    let (_, id) = upload_generated(&app, "tt-pub-8", 70_000_000).await;
    let id = id.as_str();
    let first = app.receive_publish_messages().await;
    let response = app.deliver(first).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "deferred, not failed"
    );
    let (_, view) = app.upload_status("alice", id).await;
    assert_eq!(view["status"], "publishing");
    assert!(
        view["error"].as_str().unwrap().contains("upload host"),
        "{view}"
    );
    let first_publish = view["publish_id"].as_str().unwrap().to_owned();

    // The deferred attempt asks TikTok where the publish stands (the first
    // chunk is there), and goes on from the second chunk on the same
    // upload_url: no new init, no chunk sent twice.
    app.drain_publish_queue(5).await;
    let view = wait_for_status(&app, "alice", id, "published").await;
    assert_eq!(view["publish_id"], first_publish);
    assert_eq!(app.sandbox.inits("tt-pub-8"), 1);
    let publishes = app.sandbox.publishes();
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].status, "PUBLISH_COMPLETE");
    assert_eq!(publishes[0].chunk_puts, 2, "each chunk was stored once");
}

#[tokio::test]
async fn tiktok_rate_limits_defer_the_message_instead_of_failing_it() {
    let app = spawn_app().await;
    let account = app.seed_account("tt-pub-9", "alice", ALL_SCOPES).await;
    // Our side of TikTok's 6 inits per minute is used up (in a window with
    // time enough left for the first delivery to meet it).
    harness::within_one_window(
        &shared::domain::ratelimit::TIKTOK_VIDEO_INIT,
        std::time::Duration::from_secs(15),
    )
    .await;
    let store = app.store();
    let now = chrono::Utc::now();
    for _ in 0..6 {
        store
            .rate_hit(
                &shared::domain::ratelimit::TIKTOK_VIDEO_INIT,
                account.as_ref(),
                now,
            )
            .await
            .unwrap();
    }
    let created = app
        .upload_video(
            "alice",
            upload_request("tt-pub-9", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    let id = created["upload_id"].as_str().unwrap();
    let response = app.deliver(app.receive_publish_messages().await).await;
    assert!(response.batch_item_failures.is_empty());
    let (_, view) = app.upload_status("alice", id).await;
    assert_eq!(view["status"], "uploaded", "{view}");
    assert!(
        view["error"]
            .as_str()
            .unwrap()
            .contains("tiktok-video-init"),
        "{view}"
    );
    assert_eq!(
        app.sandbox.inits("tt-pub-9"),
        0,
        "TikTok's limit was not provoked"
    );
    // Its wake waits on the queue until the window has passed; a quota
    // wait is not an attempt, and nothing claims the upload before then.
    assert!(app.receive_publish_messages().await.is_empty());
    assert_eq!(
        app.delayed_publish_messages().await,
        1,
        "the deferred publish is on the queue, delayed"
    );
    let upload = UploadId::parse(id).unwrap();
    assert_eq!(
        app.publisher.publish(&upload, 0).await.unwrap(),
        Handled::Duplicate,
        "not before its time"
    );

    // The window passes: the wake publishes it.
    let later = app
        .publisher
        .with_clock(shared::support::clock::Clock::from_fn(|| {
            chrono::Utc::now() + chrono::Duration::seconds(61)
        }));
    assert_eq!(
        later.publish(&upload, 0).await.unwrap(),
        Handled::Transferred
    );
    app.drain_publish_queue(5).await;
    wait_for_status(&app, "alice", id, "published").await;
    assert_eq!(app.sandbox.inits("tt-pub-9"), 1);
}

#[tokio::test]
async fn privacy_is_checked_against_creator_info_before_init() {
    let app = spawn_app().await;
    app.seed_account("tt-pub-10", "alice", ALL_SCOPES).await;
    app.sandbox.set_privacy_options(
        "tt-pub-10",
        vec!["FOLLOWER_OF_CREATOR".into(), "SELF_ONLY".into()],
    );
    let mut request = upload_request("tt-pub-10", "a.mp4", "video/mp4", SAMPLE_MP4.len());
    request["post"]["privacy_level"] = json!("PUBLIC_TO_EVERYONE");
    let created = app
        .upload_video("alice", request, SAMPLE_MP4.to_vec())
        .await;
    app.drain_publish_queue(5).await;
    let (_, view) = app
        .upload_status("alice", created["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(view["status"], "failed");
    let error = view["error"].as_str().unwrap();
    assert!(error.contains("privacy_level_option_mismatch"), "{error}");
    assert!(error.contains("FOLLOWER_OF_CREATOR, SELF_ONLY"), "{error}");
    assert_eq!(app.sandbox.inits("tt-pub-10"), 0);
}

#[tokio::test]
async fn tiktok_failing_the_post_fails_the_upload_with_its_reason() {
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    app.sandbox
        .set_outcome(PublishOutcome::Fail("duration_check_failed".into()));
    app.seed_account("tt-pub-11", "alice", ALL_SCOPES).await;
    let created = app
        .upload_video(
            "alice",
            upload_request("tt-pub-11", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    app.drain_publish_queue(5).await;
    let view = wait_for_status(
        &app,
        "alice",
        created["upload_id"].as_str().unwrap(),
        "failed",
    )
    .await;
    assert_eq!(view["error"], "TikTok: duration_check_failed");
}

/// The second chunk is stored, but its answer is lost (502); the resend
/// then finds "no upload task". Only TikTok's status may decide: the
/// publish has every byte, so nothing is initialised again.
#[tokio::test]
async fn a_refused_resend_after_a_lost_answer_asks_tiktok_and_posts_once() {
    let app = spawn_app().await;
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(404),
        count: 1,
        rate: 0.0,
        // Counted with the lost answer's fault below: chunk 1 passes,
        // chunk 2 is stored with its answer lost, its resend is refused.
        after: 2,
    });
    let (digest, view) =
        publish_two_chunks_despite(&app, "tt-pub-11", FaultKind::StoredThen(502), 1).await;
    assert_eq!(
        app.sandbox.calls("/upload/"),
        3,
        "chunk 1, chunk 2 (answer lost), chunk 2 refused"
    );
    assert_eq!(app.sandbox.inits("tt-pub-11"), 1, "no second init");
    let publishes = app.sandbox.publishes();
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    assert_eq!(publishes[0].status, "PUBLISH_COMPLETE");
    assert_eq!(publishes[0].sha256.as_deref(), Some(digest.as_str()));
    assert_eq!(view["status"], "published");
}

/// Every ambiguous end of a transfer gives one post and a settled upload:
/// an answer lost after the last chunk was stored (the resend learns it is
/// all there), and progress unknown (a 416 without `Content-Range`).
#[tokio::test]
async fn a_lost_answer_or_unknown_progress_ends_in_one_post() {
    let app = spawn_app().await;
    for (open_id, kind) in [
        ("tt-pub-12", FaultKind::StoredThen(502)),
        ("tt-pub-13", FaultKind::StoredThen(416)),
    ] {
        app.sandbox.clear_faults();
        let (digest, view) = publish_two_chunks_despite(&app, open_id, kind, 1).await;
        assert_eq!(app.sandbox.inits(open_id), 1, "{kind:?}");
        let publish = app
            .sandbox
            .publish(view["publish_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(publish.status, "PUBLISH_COMPLETE", "{kind:?}");
        assert_eq!(publish.sha256.as_deref(), Some(digest.as_str()));
    }
    let complete = app
        .sandbox
        .publishes()
        .iter()
        .filter(|p| p.status == "PUBLISH_COMPLETE")
        .count();
    assert_eq!(complete, 2, "one post each");
}

/// A transfer that cannot finish in one invocation stops before its
/// deadline and goes on in the next from where TikTok is, on the same
/// upload_url: one init, and no chunk sent twice.
#[tokio::test]
async fn a_transfer_slower_than_one_invocation_goes_on_without_resending() {
    let app = spawn_app_with(|env| env.set("PUBLISH_CHUNK_SECONDS", "1")).await;
    let (digest, id) = upload_generated(&app, "tt-pub-14", 200_000_000).await;
    let id = UploadId::parse(&id).unwrap();
    // Every call to TikTok takes a second; each invocation has 3 s.
    app.sandbox.set_latency(Duration::from_secs(1));
    let mut invocations = 0;
    let mut attempt = 0;
    loop {
        invocations += 1;
        assert!(invocations <= 12, "the transfer made no progress");
        let deadline = chrono::Utc::now() + chrono::Duration::seconds(3);
        let handled = app
            .publisher
            .publish_within(&id, attempt, Deadline::at(deadline))
            .await
            .expect("handled");
        match handled {
            Handled::Transferred => break,
            Handled::Deferred(reason) => {
                assert!(reason.contains("next invocation"), "{reason}");
                attempt += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(invocations > 1, "it took more than one invocation");
    assert_eq!(app.sandbox.inits("tt-pub-14"), 1);
    let publishes = app.sandbox.publishes();
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].chunk_puts, 3, "each chunk was stored once");
    assert_eq!(publishes[0].sha256.as_deref(), Some(digest.as_str()));
}

/// A message that still fails on its last receive fails its upload with
/// the reason as SQS moves it to the dead-letter queue, instead of leaving
/// it `publishing` for good.
#[tokio::test]
async fn a_message_failing_its_last_receive_fails_its_upload() {
    let app = spawn_app().await;
    app.seed_account("tt-pub-15", "alice", ALL_SCOPES).await;
    let created = app
        .upload_video(
            "alice",
            upload_request("tt-pub-15", "a.mp4", "video/mp4", SAMPLE_MP4.len()),
            SAMPLE_MP4.to_vec(),
        )
        .await;
    let id = created["upload_id"].as_str().unwrap();
    let messages = app.receive_publish_messages().await;
    assert_eq!(messages.len(), 1);
    // KMS stays down: the account's token cannot be opened.
    app.aws.fail_next("KMS.Decrypt", 100);
    let with_receives = |n: u32| {
        let mut message = messages[0].clone();
        message.receipt_handle = None;
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), n.to_string());
        message
    };
    let first = app.deliver(vec![with_receives(1)]).await;
    assert_eq!(first.batch_item_failures.len(), 1, "it comes back");
    assert_eq!(
        app.upload_status("alice", id).await.1["status"],
        "publishing"
    );
    // Redelivered after the visibility timeout, which outlasts the lease.
    app.set_number(&format!("UPLOAD#{id}"), "UPLOAD", "lease_until", 0)
        .await;
    let last = app.deliver(vec![with_receives(5)]).await;
    assert_eq!(
        last.batch_item_failures.len(),
        1,
        "dead-lettered, for the operator's alarm"
    );
    let (_, view) = app.upload_status("alice", id).await;
    assert_eq!(view["status"], "failed");
    assert_eq!(
        view["error"],
        "gave up after 5 deliveries: KMS is unavailable"
    );
}

/// An upload_url at any origin but TIKTOK_UPLOAD_ORIGINS' fails the
/// publish before a byte (or the URL's token) goes there: here the sandbox
/// names itself `localhost` instead of 127.0.0.1, another origin.
#[tokio::test]
async fn an_upload_url_outside_the_allowed_origins_gets_no_byte() {
    let app = spawn_app().await;
    app.sandbox.set_upload_host(Some("localhost"));
    let (_, id) = upload_generated(&app, "tt-pub-16", 70_000_000).await;
    app.drain_publish_queue(5).await;
    let view = wait_for_status(&app, "alice", &id, "failed").await;
    assert_eq!(
        view["error"],
        "TikTok's upload_url is not at an allowed upload host; nothing was sent"
    );
    assert_eq!(app.sandbox.calls("/upload/"), 0, "no byte sent");
    assert_eq!(app.sandbox.inits("tt-pub-16"), 1);
}

/// The object TikTok gets is the object verified: once a publish has read
/// it, every read is of that version (`If-Match` on its ETag). An object
/// replaced between two attempts fails the upload, and TikTok gets not one
/// byte of the new one.
#[tokio::test]
async fn an_object_replaced_after_verification_is_never_sent() {
    let app = spawn_app().await;
    // The first chunk lands, then the upload host fails: the attempt defers.
    app.sandbox.add_fault(Fault {
        path_prefix: "/upload/".into(),
        kind: FaultKind::Status(503),
        count: 5,
        rate: 0.0,
        after: 1,
    });
    let size = 70_000_000;
    let (_, id) = upload_generated(&app, "tt-pub-17", size).await;
    let first = app.receive_publish_messages().await;
    app.deliver(first).await;
    assert_eq!(
        app.upload_status("alice", &id).await.1["status"],
        "publishing"
    );
    // The same key is written again: same size, a valid MP4, other bytes.
    let mut other = generated_mp4(size);
    other[size - 1] ^= 0xff;
    app.clients
        .s3
        .put_object()
        .bucket(&app.provisioned.bucket)
        .key(UploadId::parse(&id).unwrap().object_key())
        .body(other.into())
        .send()
        .await
        .unwrap();
    app.drain_publish_queue(5).await;
    let view = wait_for_status(&app, "alice", &id, "failed").await;
    assert_eq!(
        view["error"],
        "the uploaded object changed after it was verified"
    );
    let publishes = app.sandbox.publishes();
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].chunk_puts, 1, "nothing of the new object");
    assert_eq!(app.sandbox.inits("tt-pub-17"), 1);
}

/// A notification for an object of another bucket, with one of our keys,
/// is none of ours: nothing is claimed, nothing fails.
#[tokio::test]
async fn a_notification_from_another_bucket_is_ignored() {
    let app = spawn_app().await;
    let (_, id) = awaiting_upload(&app, "tt-pub-18").await;
    let notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "someone-elses-bucket"},
               "object": {"key": id.object_key().replace('/', "%2F"), "size": SAMPLE_MP4.len()}}
    }]});
    let message = app
        .publisher
        .read_message(&notification.to_string())
        .unwrap();
    assert_eq!(
        app.publisher.handle(message).await.unwrap(),
        vec![Handled::Ignored]
    );
    let (_, view) = app.upload_status("alice", id.as_ref()).await;
    assert_eq!(view["status"], "awaiting_upload");
    assert_eq!(view["error"], Value::Null);
}

/// A message that arrives before the object is stored (early, or forged)
/// leaves the upload waiting for its PUT instead of failing it; the PUT's
/// own notification then publishes it.
#[tokio::test]
async fn a_message_before_the_object_is_stored_leaves_the_upload_waiting() {
    let app = spawn_app().await;
    let (created, id) = awaiting_upload(&app, "tt-pub-19").await;
    let early = serde_json::to_string(&FollowUp::publish(&id, 0)).unwrap();
    let message = app.publisher.read_message(&early).unwrap();
    assert_eq!(
        app.publisher.handle(message).await.unwrap(),
        vec![Handled::NotYetStored]
    );
    let (_, view) = app.upload_status("alice", id.as_ref()).await;
    assert_eq!(view["status"], "awaiting_upload");
    assert_eq!(view["error"], Value::Null);
    assert_eq!(app.put_presigned(&created, SAMPLE_MP4.to_vec()).await, 200);
    app.drain_publish_queue(5).await;
    wait_for_status(&app, "alice", id.as_ref(), "published").await;
    assert_eq!(app.sandbox.inits("tt-pub-19"), 1);
}

/// The write that records a new publish loses its answers (DynamoDB acted
/// on it): it is sent again under one client request token, recognised as
/// ours, and the transfer goes on: one init, one post.
#[tokio::test]
async fn a_publish_record_whose_answer_is_lost_is_sent_again_under_one_token() {
    let app = spawn_app().await;
    let op = "DynamoDB.TransactWriteItems";
    app.aws.record(op);
    // More lost answers than the SDK makes attempts: our own retry runs.
    app.aws.lose_answers(op, 4);
    let (digest, id) = upload_generated(&app, "tt-pub-20", 5_000_000).await;
    app.drain_publish_queue(5).await;
    let view = wait_for_status(&app, "alice", &id, "published").await;
    assert_eq!(app.sandbox.inits("tt-pub-20"), 1);
    let publish = app
        .sandbox
        .publish(view["publish_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(publish.sha256.as_deref(), Some(digest.as_str()));
    let sent = app.aws.recorded(op);
    assert!(sent.len() > 3, "our retry ran: {} sends", sent.len());
    let tokens: std::collections::BTreeSet<String> = sent
        .iter()
        .map(|body| {
            let body: Value = serde_json::from_slice(body).unwrap();
            body["ClientRequestToken"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 1, "one token for every send: {tokens:?}");
}

/// Uploads `data` as alice with `request`, lets upload-publish take the
/// queue, and waits for the upload to reach `status`; returns its view.
async fn upload_until(app: &TestApp, request: Value, data: Vec<u8>, status: &str) -> Value {
    let created = app.upload_video("alice", request, data).await;
    app.drain_publish_queue(5).await;
    wait_for_status(app, "alice", created["upload_id"].as_str().unwrap(), status).await
}

/// The video's duration is read from the stored container before TikTok
/// hears of it: a 10-minute video for a creator allowed 5 minutes fails
/// with `video_too_long` after no init and no chunk; inbox uploads are held
/// to the general limit (`PUBLISH_MAX_VIDEO_SECONDS`).
#[tokio::test]
async fn a_video_longer_than_the_creator_may_post_fails_before_any_init_or_chunk() {
    let app = spawn_app_with(|env| env.set("PUBLISH_MAX_VIDEO_SECONDS", "120")).await;
    app.seed_account("tt-long", "alice", ALL_SCOPES).await;
    app.sandbox.set_max_duration("tt-long", 300);
    let size = 2_000_000;
    let view = upload_until(
        &app,
        upload_request("tt-long", "long.mp4", "video/mp4", size),
        tools::generated_mp4_lasting(size, 600),
        "failed",
    )
    .await;
    let error = view["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("video_too_long"), "{error}");
    assert!(error.contains("300 s"), "{error}");
    assert_eq!(app.sandbox.inits("tt-long"), 0, "no init");
    assert_eq!(app.sandbox.calls("/upload/"), 0, "no chunk");

    // Four minutes: within the creator's five, published.
    let four_minutes = tools::generated_mp4_lasting(size, 240);
    upload_until(
        &app,
        upload_request("tt-long", "ok.mp4", "video/mp4", size),
        four_minutes.clone(),
        "published",
    )
    .await;

    // An inbox upload cannot ask creator info: the general limit, 120 s here.
    let mut inbox = upload_request("tt-long", "inbox.mp4", "video/mp4", size);
    inbox["mode"] = json!("inbox");
    inbox.as_object_mut().unwrap().remove("post");
    let view = upload_until(&app, inbox, four_minutes, "failed").await;
    assert!(
        view["error"].as_str().unwrap_or_default().contains("120 s"),
        "{view}"
    );
    assert_eq!(
        app.sandbox.inits("tt-long"),
        1,
        "only the four-minute direct post"
    );
}

/// A container that does not say how long it is, or lies about its boxes,
/// fails with `duration_unknown` before any init: never a panic, never a
/// guess.
#[tokio::test]
async fn a_container_that_does_not_state_its_duration_fails_cleanly() {
    let app = spawn_app().await;
    app.seed_account("tt-unknown", "alice", ALL_SCOPES).await;
    // An ftyp box, then bytes that are no box at all.
    let mut data = generated_mp4(100_000);
    data[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    let view = upload_until(
        &app,
        upload_request("tt-unknown", "odd.mp4", "video/mp4", data.len()),
        data,
        "failed",
    )
    .await;
    assert!(
        view["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("duration_unknown"),
        "{view}"
    );
    assert_eq!(app.sandbox.inits("tt-unknown"), 0);
}

/// The deployment says the app is audited, TikTok says it is not: the
/// publish fails after one refused init with our code and what to do, and
/// is never retried.
#[tokio::test]
async fn tiktoks_refusal_of_an_unaudited_app_fails_the_publish_with_what_to_do() {
    let app = spawn_app().await;
    app.sandbox.set_audited(false);
    app.seed_account("tt-unaudited", "alice", ALL_SCOPES).await;
    let mut request = upload_request("tt-unaudited", "clip.mp4", "video/mp4", SAMPLE_MP4.len());
    request["post"] = json!({"privacy_level": "PUBLIC_TO_EVERYONE"});
    let view = upload_until(&app, request, SAMPLE_MP4.to_vec(), "failed").await;
    let error = view["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("unaudited_app_private_only"), "{error}");
    assert!(error.contains("TIKTOK_APP_AUDITED"), "{error}");
    assert_eq!(
        app.sandbox.calls("/v2/post/publish/video/init/"),
        1,
        "one init, no retry"
    );
    assert_eq!(app.sandbox.inits("tt-unaudited"), 0);
}

/// A client that never asked creator info cannot turn on what the creator
/// turned off either: the init sends those interactions disabled.
#[tokio::test]
async fn a_creators_turned_off_interactions_stay_off_at_the_init() {
    let app = spawn_app().await;
    app.seed_account("tt-quiet", "alice", ALL_SCOPES).await;
    app.sandbox
        .set_interactions_off("tt-quiet", [true, true, false]);
    let mut request = upload_request("tt-quiet", "clip.mp4", "video/mp4", SAMPLE_MP4.len());
    request["post"] = json!({"privacy_level": "SELF_ONLY"});
    let view = upload_until(&app, request, SAMPLE_MP4.to_vec(), "published").await;
    let publish = app
        .sandbox
        .publish(view["publish_id"].as_str().unwrap())
        .expect("TikTok has it");
    assert_eq!(publish.post_info["disable_comment"], true);
    assert_eq!(publish.post_info["disable_duet"], true);
    assert_eq!(publish.post_info["disable_stitch"], false);
}

/// TikTok's daily caps: a creator at its posting cap, an unaudited app at
/// its five posting creators (both said by creator info), an inbox at its
/// five pending shares (said by the init). Each upload waits hours with
/// the cap's code and when it tries again: one question to TikTok, no
/// init, and no second try before its time.
#[tokio::test]
async fn tiktoks_daily_caps_make_the_upload_wait_hours_with_the_reason() {
    let app = spawn_app().await;
    let caps = [
        ("tt-cap-posts", "spam_risk_too_many_posts", "direct"),
        ("tt-cap-users", "reached_active_user_cap", "direct"),
        ("tt-cap-inbox", "spam_risk_too_many_pending_share", "inbox"),
    ];
    for (account, code, mode) in caps {
        app.seed_account(account, "alice", ALL_SCOPES).await;
        app.sandbox.set_posting_block(account, Some(code.into()));
        let mut request = upload_request(account, "clip.mp4", "video/mp4", SAMPLE_MP4.len());
        if mode == "inbox" {
            request["mode"] = json!("inbox");
            request.as_object_mut().unwrap().remove("post");
        }
        let before = chrono::Utc::now();
        let view = upload_until(&app, request, SAMPLE_MP4.to_vec(), "uploaded").await;
        let error = view["error"].as_str().unwrap_or_default();
        assert_eq!(error, format!("TikTok's daily cap: {code}"), "{view}");
        let retry_at = view["retry_at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .unwrap_or_else(|| panic!("a retry time: {view}"));
        let wait = retry_at.signed_duration_since(before);
        assert!(
            (chrono::Duration::minutes(179)..=chrono::Duration::minutes(181)).contains(&wait),
            "three hours: {view}"
        );
        let upload = UploadId::parse(view["upload_id"].as_str().unwrap()).unwrap();
        assert_eq!(
            app.publisher.publish(&upload, 0).await.unwrap(),
            Handled::Duplicate,
            "not before its time"
        );
    }
    assert!(app.receive_publish_messages().await.is_empty(), "no loop");
    assert_eq!(app.sandbox.calls("/v2/post/publish/creator_info/query/"), 2);
    assert_eq!(app.sandbox.calls("/v2/post/publish/inbox/video/init/"), 1);
    assert_eq!(app.sandbox.calls("/v2/post/publish/video/init/"), 0);
    for (account, _, _) in caps {
        assert_eq!(app.sandbox.inits(account), 0);
    }
}
