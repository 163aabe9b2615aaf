//! Scheduled posts to many accounts, against moto and the sandbox: the
//! posts API through its handler, the schedule in moto's EventBridge
//! Scheduler (fired by the test at its time), and upload-publish fed by
//! the publish queue.

use chrono::{Duration as Span, SecondsFormat, Utc};
use harness::{
    TestApp,
    posting::{media_request, post_request},
    publishing::{ALL_SCOPES, SAMPLE_MP4, generated_mp4},
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    domain::{
        account::AccountStatus,
        ids::{AccountId, PostId, UploadId},
        ports::AccountStore,
    },
    service::publish::Handled,
    support::clock::Clock,
};

fn at(offset: Span) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn id_of(value: &Value, field: &str) -> String {
    value[field].as_str().expect(field).to_owned()
}

/// Drains the publish queue until post `id` is `status` (up to 20 s: the
/// sandbox settles a publish a moment after its last chunk, and a status
/// check may wait for its rate limit); returns the post.
async fn settle_post(app: &TestApp, id: &str, status: &str) -> Value {
    for _ in 0..100 {
        app.drain_concurrently(4).await;
        let post = app.post("alice", id).await;
        if post["status"] == status {
            return post;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let post = app.post("alice", id).await;
    panic!("the post never became {status}: {post}");
}

/// Seeds `accounts` for alice, each with every scope.
async fn seed_accounts(app: &TestApp, accounts: &[&str]) {
    for account in accounts {
        app.seed_account(account, "alice", ALL_SCOPES).await;
    }
}

/// The targets' statuses, by account.
fn statuses(post: &Value) -> Vec<(String, String)> {
    post["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| (id_of(t, "account_id"), id_of(t, "status")))
        .collect()
}

#[tokio::test]
async fn a_post_is_scheduled_moved_and_cancelled_and_a_cancelled_post_never_publishes() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-post-1"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let media_id = id_of(&media, "upload_id");
    app.drain_publish_queue(5).await;

    let first = Utc::now() + Span::hours(3);
    let request = post_request(&media_id, &["tt-post-1"], Some(&at(Span::hours(3))));
    let post = app.create_post("alice", &request).await;
    let post_id = id_of(&post, "post_id");
    assert_eq!(post["status"], "scheduled");
    assert_eq!(statuses(&post), [("tt-post-1".into(), "scheduled".into())]);
    let schedule = app.post_schedule(&post_id).await.expect("a schedule");
    assert_eq!(
        schedule.expression,
        format!("at({})", first.format("%Y-%m-%dT%H:%M:%S"))
    );
    assert_eq!(schedule.target_arn, app.provisioned.queue_arn);
    let input: Value = serde_json::from_str(&schedule.input).unwrap();
    assert_eq!(input, json!({"step": "post", "post_id": post_id}));

    // Moved a day later: the schedule moves with it.
    let later = Utc::now() + Span::hours(27);
    let (status, moved) = app
        .posts_call(
            "PATCH",
            &format!("/posts/{post_id}"),
            "alice",
            Some(&json!({"publish_at": at(Span::hours(27))})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let schedule = app.post_schedule(&post_id).await.expect("still scheduled");
    assert_eq!(
        schedule.expression,
        format!("at({})", later.format("%Y-%m-%dT%H:%M:%S"))
    );
    // Its old time's message (fired before the move reached it) runs
    // nothing: the post's time has not come.
    let id = PostId::parse(&post_id).unwrap();
    assert_eq!(
        app.publisher.start_post(&id).await.unwrap(),
        Handled::Ignored
    );

    // Cancelled: the schedule is gone, the target cancelled.
    let (status, cancelled) = app
        .posts_call("DELETE", &format!("/posts/{post_id}"), "alice", None)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        statuses(&cancelled),
        [("tt-post-1".into(), "cancelled".into())]
    );
    assert!(
        app.post_schedule(&post_id).await.is_none(),
        "schedule deleted"
    );
    // A late or forged start changes nothing, and nothing can change it.
    app.send_post_message(&id, 2).await;
    app.drain_publish_queue(10).await;
    assert_eq!(app.sandbox.inits("tt-post-1"), 0);
    let (status, body) = app
        .posts_call(
            "PATCH",
            &format!("/posts/{post_id}"),
            "alice",
            Some(&json!({"publish_at": at(Span::hours(5))})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("post_started"))
    );
    assert_eq!(app.post("alice", &post_id).await["status"], "cancelled");
}

#[tokio::test]
async fn a_post_whose_time_passed_while_it_was_made_runs_now() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-post-2"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    app.drain_publish_queue(5).await;
    let request = post_request(
        &id_of(&media, "upload_id"),
        &["tt-post-2"],
        Some(&at(-Span::seconds(30))),
    );
    let post = app.create_post("alice", &request).await;
    let post_id = id_of(&post, "post_id");
    assert!(
        app.post_schedule(&post_id).await.is_none(),
        "no schedule for now"
    );
    app.drain_publish_queue(20).await;
    let post = settle_post(&app, &post_id, "published").await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(app.sandbox.inits("tt-post-2"), 1);
}

/// One video to five accounts: five posts at TikTok, each with the file's
/// exact bytes, though the schedule's message came four times and eight
/// workers took the queue at once.
#[tokio::test]
async fn one_upload_to_five_accounts_publishes_exactly_five_times() {
    let app = spawn_app().await;
    let accounts = [
        "tt-five-1",
        "tt-five-2",
        "tt-five-3",
        "tt-five-4",
        "tt-five-5",
    ];
    seed_accounts(&app, &accounts).await;
    let data = generated_mp4(12_000_000);
    let digest = hex::encode(Sha256::digest(&data));
    let media = app.upload_media("alice", data, true).await;
    let media_id = id_of(&media, "upload_id");
    let request = post_request(&media_id, &accounts, Some(&at(Span::minutes(3))));
    let post = app.create_post("alice", &request).await;
    let post_id = id_of(&post, "post_id");
    // Kept while the post has not settled.
    app.drain_publish_queue(5).await;
    let media_key = UploadId::parse(&media_id).unwrap();
    assert_eq!(
        app.media_retention(&media_key).await.as_deref(),
        Some("hold")
    );
    // The schedule fires, and its message is delivered three more times.
    assert!(app.fire_schedule(&format!("post-{post_id}")).await);
    app.send_post_message(&PostId::parse(&post_id).unwrap(), 3)
        .await;
    // Its time has not come yet: the start waits for it.
    app.drain_concurrently(8).await;
    assert_eq!(app.sandbox.publishes().len(), 0, "nothing before its time");

    // At its time (the post moved to now), eight workers at once.
    let (status, _) = app
        .posts_call(
            "PATCH",
            &format!("/posts/{post_id}"),
            "alice",
            Some(&json!({"publish_at": at(Span::zero())})),
        )
        .await;
    assert_eq!(status, 200);
    app.send_post_message(&PostId::parse(&post_id).unwrap(), 3)
        .await;
    let id = PostId::parse(&post_id).unwrap();
    let starts = futures::future::join_all((0..8).map(|_| app.publisher.start_post(&id))).await;
    assert!(starts.iter().all(Result::is_ok));
    app.drain_concurrently(8).await;

    let publishes = app.sandbox.publishes();
    assert_eq!(publishes.len(), 5, "one publish per target");
    let mut open_ids: Vec<&str> = publishes.iter().map(|p| p.open_id.as_str()).collect();
    open_ids.sort();
    assert_eq!(open_ids, accounts);
    for publish in &publishes {
        assert_eq!(
            publish.sha256.as_deref(),
            Some(digest.as_str()),
            "exact bytes"
        );
    }
    for account in accounts {
        assert_eq!(app.sandbox.inits(account), 1, "{account}");
    }
    let post = settle_post(&app, &post_id, "published").await;
    assert_eq!(post["status"], "published", "{post}");
    for target in post["targets"].as_array().unwrap() {
        assert_eq!(target["status"], "published");
        assert!(target["publish_id"].is_string());
    }
    // Every post of the video has settled: it may expire now.
    let retention = app.media_retention(&media_key).await;
    assert_eq!(retention.as_deref(), Some("release"));
}

#[tokio::test]
async fn a_target_whose_account_needs_reconnecting_fails_alone() {
    let app = spawn_app().await;
    let accounts = ["tt-reauth-1", "tt-reauth-2", "tt-reauth-3"];
    seed_accounts(&app, &accounts).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let request = post_request(
        &id_of(&media, "upload_id"),
        &accounts,
        Some(&at(Span::hours(1))),
    );
    let post = app.create_post("alice", &request).await;
    let post_id = id_of(&post, "post_id");
    // Before its time, TikTok stops accepting one account's grant.
    let store = app.store();
    let id = AccountId::parse("tt-reauth-2").unwrap();
    let account = store.get_account(&id).await.unwrap().unwrap();
    let version = account.token_version;
    let flagged = shared::domain::account::Account {
        status: AccountStatus::ReauthRequired,
        token_version: version + 1,
        ..account
    };
    store.put_account(&flagged, Some(version)).await.unwrap();

    app.posts_call(
        "PATCH",
        &format!("/posts/{post_id}"),
        "alice",
        Some(&json!({"publish_at": at(Span::zero())})),
    )
    .await;
    app.drain_concurrently(3).await;
    let post = settle_post(&app, &post_id, "partially_failed").await;
    assert_eq!(post["status"], "partially_failed", "{post}");
    for target in post["targets"].as_array().unwrap() {
        if target["account_id"] == "tt-reauth-2" {
            assert_eq!(target["status"], "failed");
            let error = target["error"].as_str().unwrap();
            assert!(error.contains("reauth_required"), "{error}");
        } else {
            assert_eq!(target["status"], "published", "{target}");
        }
    }
    assert_eq!(app.sandbox.inits("tt-reauth-2"), 0);
}

/// TikTok allows 6 inits a minute per token: the 7th post to one account
/// in a minute waits, with its reason and time, and is published then.
#[tokio::test]
async fn the_seventh_post_in_a_minute_waits_for_its_turn_and_is_published() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-quota-1"]).await;
    harness::within_one_window(
        &shared::domain::ratelimit::TIKTOK_VIDEO_INIT,
        std::time::Duration::from_secs(40),
    )
    .await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let mut posts = Vec::new();
    for _ in 0..7 {
        let request = post_request(&id_of(&media, "upload_id"), &["tt-quota-1"], None);
        posts.push(id_of(&app.create_post("alice", &request).await, "post_id"));
    }
    app.drain_concurrently(4).await;
    assert_eq!(app.sandbox.inits("tt-quota-1"), 6, "6 inits in the minute");
    let mut waiting = Vec::new();
    for id in &posts {
        let post = app.post("alice", id).await;
        let target = &post["targets"][0];
        match target["status"].as_str().unwrap() {
            "published" => {}
            "waiting" => waiting.push(target.clone()),
            other => panic!("{other}: {post}"),
        }
    }
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let error = waiting[0]["error"].as_str().unwrap();
    assert!(error.contains("tiktok-video-init"), "{error}");
    let retry_at = chrono::DateTime::parse_from_rfc3339(waiting[0]["retry_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    assert!(retry_at > Utc::now() && retry_at <= Utc::now() + Span::seconds(61));

    // Its wake arrives at its time: a publisher a minute on takes it.
    let later = app
        .publisher
        .with_clock(Clock::from_fn(|| Utc::now() + Span::seconds(61)));
    let (_, waiting_id) = app
        .target_of(posts.iter().map(String::as_str), "waiting")
        .await;
    // Before its time, it stays waiting.
    assert_eq!(
        app.publisher.publish(&waiting_id, 0).await.unwrap(),
        Handled::Duplicate
    );
    // Only our clock moved on: TikTok's own sliding minute (the sandbox's,
    // in real time) is lifted for the retry.
    app.sandbox
        .set_rate_limit("/v2/post/publish/video/init/", 1000);
    assert_eq!(
        later.publish(&waiting_id, 0).await.unwrap(),
        Handled::Transferred
    );
    assert_eq!(app.sandbox.inits("tt-quota-1"), 7);
}

/// Inbox posts: TikTok keeps at most 5 pending shares per creator a day;
/// the 6th waits for the next day instead of failing, its wake scheduled.
#[tokio::test]
async fn the_sixth_inbox_post_in_a_day_waits_for_the_next_day() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-inbox-1"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let mut posts = Vec::new();
    for _ in 0..6 {
        let request = json!({
            "upload_id": id_of(&media, "upload_id"), "mode": "inbox",
            "targets": [{"account_id": "tt-inbox-1"}],
        });
        posts.push(id_of(&app.create_post("alice", &request).await, "post_id"));
    }
    app.drain_concurrently(3).await;
    assert_eq!(app.sandbox.inits("tt-inbox-1"), 5);
    let (post, target) = app
        .target_of(posts.iter().map(String::as_str), "waiting")
        .await;
    let view = app.post("alice", &post).await;
    let error = view["targets"][0]["error"].as_str().unwrap();
    assert!(error.contains("tiktok-inbox-pending"), "{error}");
    // A wait past SQS's 15 minutes is woken by a schedule of its own.
    let wake = app
        .schedules()
        .await
        .get(&format!("wake-{target}"))
        .await
        .unwrap();
    let to_midnight = (Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        - Utc::now();
    if to_midnight > Span::minutes(16) {
        let wake = wake.expect("a wake schedule");
        assert_eq!(
            serde_json::from_str::<Value>(&wake.input).unwrap(),
            json!({"step": "publish", "upload_id": target.to_string(), "attempt": 0})
        );
    }
}

/// A post may name a video still being uploaded: its targets wait for it,
/// and run once it is stored and verified.
#[tokio::test]
async fn a_post_waits_for_a_video_still_being_uploaded() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-media-1", "tt-media-2"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), false).await;
    let media_id = id_of(&media, "upload_id");
    let request = post_request(&media_id, &["tt-media-1", "tt-media-2"], None);
    let post_id = id_of(&app.create_post("alice", &request).await, "post_id");
    app.drain_concurrently(2).await;
    let post = app.post("alice", &post_id).await;
    for target in post["targets"].as_array().unwrap() {
        assert_eq!(target["status"], "waiting", "{post}");
        assert_eq!(target["error"], "waiting for the video to finish uploading");
    }
    assert_eq!(app.sandbox.publishes().len(), 0);

    // The PUT lands: S3 tells the queue, the video is verified and kept.
    assert_eq!(app.put_presigned(&media, SAMPLE_MP4.to_vec()).await, 200);
    app.drain_concurrently(2).await;
    let (status, media) = app.upload_status("alice", &media_id).await;
    assert_eq!((status, media["status"].as_str()), (200, Some("ready")));
    let post = settle_post(&app, &post_id, "published").await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(app.sandbox.publishes().len(), 2);
}

/// A video that is not what was declared fails, and so do the targets
/// that wait for it; nothing reaches TikTok.
#[tokio::test]
async fn a_video_that_fails_verification_fails_its_targets() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-bad-1"]).await;
    let bogus = vec![0u8; SAMPLE_MP4.len()];
    let media = app.upload_media("alice", bogus.clone(), false).await;
    let media_id = id_of(&media, "upload_id");
    let request = post_request(&media_id, &["tt-bad-1"], None);
    let post_id = id_of(&app.create_post("alice", &request).await, "post_id");
    assert_eq!(app.put_presigned(&media, bogus).await, 200);
    app.drain_concurrently(2).await;
    let (_, media) = app.upload_status("alice", &media_id).await;
    assert_eq!(media["status"], "failed", "{media}");
    let post = settle_post(&app, &post_id, "failed").await;
    assert_eq!(post["status"], "failed", "{post}");
    assert!(
        post["targets"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("the video failed verification")
    );
    assert_eq!(app.sandbox.inits("tt-bad-1"), 0);
    // A new post of a failed video is refused.
    let (status, body) = app
        .posts_call("POST", "/posts", "alice", Some(&request))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("media_failed"))
    );
}

#[tokio::test]
async fn another_users_video_account_or_post_is_not_found_and_nothing_is_scheduled() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-own-1"]).await;
    app.seed_account("tt-own-bob", "bob", ALL_SCOPES).await;
    let alices = id_of(
        &app.upload_media("alice", SAMPLE_MP4.to_vec(), false).await,
        "upload_id",
    );
    let bobs = id_of(
        &app.upload_media("bob", SAMPLE_MP4.to_vec(), false).await,
        "upload_id",
    );
    let later = at(Span::hours(2));
    let code = |(status, body): (u16, Value)| (status, body["error"]["code"].clone());

    let request = post_request(&bobs, &["tt-own-1"], Some(&later));
    assert_eq!(
        code(
            app.posts_call("POST", "/posts", "alice", Some(&request))
                .await
        ),
        (404, json!("media_not_found"))
    );
    let request = post_request(&alices, &["tt-own-1", "tt-own-bob"], Some(&later));
    assert_eq!(
        code(
            app.posts_call("POST", "/posts", "alice", Some(&request))
                .await
        ),
        (404, json!("account_not_found"))
    );
    // A single-account upload is not media for posts.
    let single = app
        .create_upload(
            "alice",
            &harness::publishing::upload_request("tt-own-1", "a.mp4", "video/mp4", 5000),
        )
        .await;
    let request = post_request(&id_of(&single, "upload_id"), &["tt-own-1"], Some(&later));
    assert_eq!(
        code(
            app.posts_call("POST", "/posts", "alice", Some(&request))
                .await
        ),
        (404, json!("media_not_found"))
    );
    let (_, media) = app.upload_status("bob", &alices).await;
    assert_eq!(media["error"]["code"], "not_found");

    let request = post_request(&alices, &["tt-own-1"], Some(&later));
    let post_id = id_of(&app.create_post("alice", &request).await, "post_id");
    let path = format!("/posts/{post_id}");
    let patch = json!({"publish_at": at(Span::hours(3))});
    for (method, body) in [("GET", None), ("PATCH", Some(&patch)), ("DELETE", None)] {
        assert_eq!(
            code(app.posts_call(method, &path, "bob", body).await),
            (404, json!("post_not_found")),
            "{method}"
        );
    }
    let (status, listing) = app.posts_call("GET", "/posts", "bob", None).await;
    assert_eq!(
        (status, listing["posts"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Only alice's one post was scheduled, still at its time.
    let schedules = app.schedules().await;
    let names = app.schedule_names().await;
    assert_eq!(names, [format!("post-{post_id}")]);
    assert!(schedules.get(&names[0]).await.unwrap().is_some());
    assert_eq!(app.post("alice", &post_id).await["status"], "scheduled");
}

#[tokio::test]
async fn bad_post_requests_are_refused_with_their_codes() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-bad-req"]).await;
    let media = id_of(
        &app.upload_media("alice", SAMPLE_MP4.to_vec(), false).await,
        "upload_id",
    );
    let many: Vec<String> = (0..21).map(|i| format!("acct-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases = [
        (
            post_request(&media, &["tt-bad-req"], Some(&at(-Span::minutes(5)))),
            "invalid_publish_at",
        ),
        (
            post_request(&media, &["tt-bad-req"], Some(&at(Span::days(61)))),
            "invalid_publish_at",
        ),
        (
            post_request(&media, &["tt-bad-req"], Some("next tuesday")),
            "invalid_publish_at",
        ),
        (post_request(&media, &[], None), "no_targets"),
        (post_request(&media, &many, None), "too_many_targets"),
        (
            post_request(&media, &["tt-bad-req", "tt-bad-req"], None),
            "duplicate_target",
        ),
        (
            json!({"upload_id": media, "mode": "direct", "targets": [{"account_id": "tt-bad-req"}]}),
            "privacy_level_required",
        ),
        (
            json!({"upload_id": media, "mode": "later", "targets": []}),
            "invalid_mode",
        ),
        (json!({"upload_id": media}), "invalid_body"),
    ];
    for (request, expected) in cases {
        let (status, body) = app
            .posts_call("POST", "/posts", "alice", Some(&request))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(expected)),
            "{request}"
        );
    }
    assert!(app.schedule_names().await.is_empty(), "nothing scheduled");
    let (status, listing) = app.posts_call("GET", "/posts", "alice", None).await;
    assert_eq!(
        (status, listing["posts"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

/// The listing: newest `publish_at` first, filtered by account, status
/// and range, in pages.
#[tokio::test]
async fn posts_are_listed_newest_first_by_account_status_and_range() {
    let app = spawn_app_with(|_| {}).await;
    seed_accounts(&app, &["tt-list-1", "tt-list-2"]).await;
    let media = id_of(
        &app.upload_media("alice", SAMPLE_MP4.to_vec(), false).await,
        "upload_id",
    );
    let mut ids = Vec::new();
    for hours in [1, 2, 3] {
        let accounts: &[&str] = if hours == 2 {
            &["tt-list-2"]
        } else {
            &["tt-list-1"]
        };
        let request = post_request(&media, accounts, Some(&at(Span::hours(hours))));
        ids.push(id_of(&app.create_post("alice", &request).await, "post_id"));
    }
    let list = |query: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = app
                .posts_api("GET", "/posts", &query, Some("alice"), None)
                .await;
            assert_eq!(response.status(), 200);
            serde_json::from_str::<Value>(&harness::body_text(&response)).unwrap()
        }
    };
    let ids_of = |listing: &Value| -> Vec<String> {
        listing["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| id_of(p, "post_id"))
            .collect()
    };
    let all = list(vec![]).await;
    assert_eq!(
        ids_of(&all),
        [ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    let first = list(vec![("limit", "2".into())]).await;
    assert_eq!(ids_of(&first), [ids[2].clone(), ids[1].clone()]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = list(vec![("limit", "2".into()), ("cursor", cursor)]).await;
    assert_eq!(ids_of(&rest), [ids[0].clone()]);
    let by_account = list(vec![("account_id", "tt-list-2".into())]).await;
    assert_eq!(ids_of(&by_account), [ids[1].clone()]);
    let in_range = list(vec![
        ("from", at(Span::minutes(90))),
        ("to", at(Span::minutes(150))),
    ])
    .await;
    assert_eq!(ids_of(&in_range), [ids[1].clone()]);
    app.posts_call("DELETE", &format!("/posts/{}", ids[0]), "alice", None)
        .await;
    let cancelled = list(vec![("status", "cancelled".into())]).await;
    assert_eq!(ids_of(&cancelled), [ids[0].clone()]);
    let response = app
        .posts_api("GET", "/posts", &[("status", "done")], Some("alice"), None)
        .await;
    assert_eq!(response.status(), 400);
}

// Media for posts keeps today's single-account uploads as they are.
#[tokio::test]
async fn media_uploads_sign_their_retention_tag_and_are_never_published_alone() {
    let app = spawn_app().await;
    let created = app
        .create_upload("alice", &media_request(SAMPLE_MP4.len()))
        .await;
    assert_eq!(created["headers"]["x-amz-tagging"], "retention=release");
    let url = created["upload_url"].as_str().unwrap();
    assert!(url.contains("/media/"), "{url}");
    let signed = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        signed.split(';').any(|h| h == "x-amz-tagging"),
        "S3 refuses a PUT without the tag: {signed}"
    );
    assert_eq!(app.put_presigned(&created, SAMPLE_MP4.to_vec()).await, 200);
    app.drain_publish_queue(5).await;
    let id = id_of(&created, "upload_id");
    let (_, media) = app.upload_status("alice", &id).await;
    assert_eq!(media["status"], "ready");
    assert_eq!(app.sandbox.publishes().len(), 0);
    let retention = app.media_retention(&UploadId::parse(&id).unwrap()).await;
    assert_eq!(retention.as_deref(), Some("release"), "no post holds it");
}

/// TikTok's `post.publish.publicly_available` webhook names the public
/// post: its target records it.
#[tokio::test]
async fn a_public_posts_webhook_fills_in_its_public_post_id() {
    use harness::publishing::WebhookEndpoint;
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    seed_accounts(&app, &["tt-public-1"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let mut request = post_request(&id_of(&media, "upload_id"), &["tt-public-1"], None);
    request["post"]["privacy_level"] = json!("PUBLIC_TO_EVERYONE");
    let post_id = id_of(&app.create_post("alice", &request).await, "post_id");
    settle_post(&app, &post_id, "published").await;
    let publish = &app.sandbox.publishes()[0];
    let expected = publish
        .post_ids
        .first()
        .expect("a public post id")
        .to_string();
    for _ in 0..50 {
        let post = app.post("alice", &post_id).await;
        if post["targets"][0]["public_post_id"] == expected.as_str() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{}", app.post("alice", &post_id).await);
}

/// EventBridge Scheduler fires within the minute of a schedule's time,
/// possibly before it: such a start sends the targets on, and they wait on
/// the queue for the exact time.
#[tokio::test]
async fn a_schedule_firing_early_in_its_minute_holds_the_targets_until_the_time() {
    let app = spawn_app().await;
    seed_accounts(&app, &["tt-early-1", "tt-early-2"]).await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    app.drain_publish_queue(5).await;
    let request = post_request(
        &id_of(&media, "upload_id"),
        &["tt-early-1", "tt-early-2"],
        Some(&at(Span::minutes(10))),
    );
    let post_id = id_of(&app.create_post("alice", &request).await, "post_id");
    let id = PostId::parse(&post_id).unwrap();
    // Ten minutes early: nothing starts.
    assert_eq!(
        app.publisher.start_post(&id).await.unwrap(),
        Handled::Ignored
    );
    // Forty seconds early, within the scheduler's minute: it starts...
    let early = app
        .publisher
        .with_clock(Clock::from_fn(|| Utc::now() + Span::seconds(560)));
    assert_eq!(early.start_post(&id).await.unwrap(), Handled::Started(2));
    // ...and its targets wait on the queue, delayed, not visible yet.
    assert!(app.receive_publish_messages().await.is_empty());
    assert_eq!(app.delayed_publish_messages().await, 2);
    // A target taken before its time stays scheduled.
    let (_, target) = app.target_of([post_id.as_str()], "scheduled").await;
    assert_eq!(early.publish(&target, 0).await.unwrap(), Handled::Duplicate);
    // The post has started: it can no longer change.
    let (status, _) = app
        .posts_call(
            "PATCH",
            &format!("/posts/{post_id}"),
            "alice",
            Some(&json!({"publish_at": at(Span::hours(1))})),
        )
        .await;
    assert_eq!(status, 409);
}
