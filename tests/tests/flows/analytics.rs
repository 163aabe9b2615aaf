//! Daily snapshots against moto and the sandbox, with time controlled by
//! the test: the sandbox's days and our clock move together.

use chrono::{Duration, TimeZone, Utc};
use harness::{TestApp, spawn_app};
use shared::{
    domain::{
        account::{Account, AccountStatus},
        analytics::{DateRange, change},
        ids::{AccountId, UserId},
        ports::AccountStore,
    },
    service::analytics::{AnalyticsSettings, History, HistoryError, SnapshotOutcome, Snapshots},
    support::clock::{Clock, ManualTime},
};

const ANALYTICS_SCOPES: &str =
    "user.info.basic,user.info.stats,video.list,video.upload,video.publish";

fn snapshots(app: &TestApp) -> (Snapshots, ManualTime) {
    let start = Utc.with_ymd_and_hms(2027, 3, 1, 6, 0, 0).unwrap();
    let (clock, time) = Clock::manual(start);
    let snapshots = Snapshots::new(
        app.store(),
        app.sealer(),
        app.tiktok(),
        AnalyticsSettings {
            videos_per_account: 25,
            ..AnalyticsSettings::default()
        },
        clock,
    );
    (snapshots, time)
}

#[tokio::test]
async fn two_days_of_snapshots_give_the_points_and_the_change_and_a_retry_writes_nothing_twice() {
    let app = spawn_app().await;
    app.seed(
        "tt-stats-1",
        "alice",
        ANALYTICS_SCOPES,
        tools::seed::Freshness::Fresh,
    )
    .await;
    app.sandbox.set_profile_stats("tt-stats-1", 1000, 50, 9000);
    app.sandbox.add_videos("tt-stats-1", 25);
    let (snapshots, time) = snapshots(&app);
    let id = AccountId::parse("tt-stats-1").unwrap();

    assert_eq!(
        snapshots.snapshot(&id).await.unwrap(),
        SnapshotOutcome::Taken { videos: 25 }
    );
    let items = app.all_items().await.len();
    // Retried the same day: nothing asked, nothing written.
    let calls = app.sandbox.calls("/v2/user/info/");
    assert_eq!(
        snapshots.snapshot(&id).await.unwrap(),
        SnapshotOutcome::AlreadyDone
    );
    assert_eq!(app.all_items().await.len(), items);
    assert_eq!(app.sandbox.calls("/v2/user/info/"), calls);

    // The next day: TikTok's counts grew.
    app.sandbox.advance_days(1);
    time.advance(Duration::days(1));
    assert_eq!(
        snapshots.snapshot(&id).await.unwrap(),
        SnapshotOutcome::Taken { videos: 25 }
    );
    let range =
        DateRange::parse(Some("2027-03-01"), Some("2027-03-02"), snapshots.today()).unwrap();
    let days = app.store().profile_points(&id, &range).await.unwrap();
    let points: Vec<_> = days.iter().map(|d| d.point).collect();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].followers, 1000);
    assert_eq!(points[0].videos, 25);
    let grown = change(&points);
    assert_eq!((grown.followers, grown.likes, grown.following), (10, 50, 0));
    // Each video's two days, the newest gaining most.
    let newest = app.sandbox.videos("tt-stats-1")[0].id.clone();
    let video = app
        .store()
        .video_points(&id, &newest, &range)
        .await
        .unwrap();
    assert_eq!(video.len(), 2);
    assert_eq!(video[1].views - video[0].views, 2500);
    let page = app.store().videos_of(&id, 10, None).await.unwrap();
    assert_eq!(page.videos.len(), 10);
    assert_eq!(page.videos[0].video.id, newest, "newest first");
    assert!(page.next.is_some());

    // What the API reads, the caller's only.
    let history = History::new(app.store());
    let (alice, bob) = (
        UserId::parse("alice").unwrap(),
        UserId::parse("bob").unwrap(),
    );
    let stats = history.account_stats(&alice, &id, &range).await.unwrap();
    assert_eq!(
        (stats.points.len(), stats.change.followers, stats.note),
        (2, 10, None)
    );
    assert!(matches!(
        history.account_stats(&bob, &id, &range).await,
        Err(HistoryError::NotFound)
    ));
    let first = history.videos(&alice, &id, 20, None).await.unwrap();
    assert_eq!(first.videos.len(), 20);
    let cursor = first.next_cursor.expect("a second page");
    let rest = history
        .videos(&alice, &id, 20, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(rest.videos.len(), 5);
    assert!(matches!(
        history.videos(&bob, &id, 20, None).await,
        Err(HistoryError::NotFound)
    ));
    let one = history
        .video_stats(&alice, &id, &newest, &range)
        .await
        .unwrap();
    assert_eq!(one.points.len(), 2);
    assert!(matches!(
        history.video_stats(&alice, &id, "123", &range).await,
        Err(HistoryError::NotFound)
    ));
    let summary = history.summary(&alice, &range).await.unwrap();
    assert_eq!(summary.accounts.len(), 1);
    let row = &summary.accounts[0];
    assert_eq!(
        (row.followers, row.followers_change, row.likes_change),
        (Some(1010), 10, 50)
    );
    let top = row.top_video.as_ref().expect("a top video");
    assert_eq!((top.video_id.as_str(), top.views), (newest.as_str(), 2500));
    assert!(
        history
            .summary(&bob, &range)
            .await
            .unwrap()
            .accounts
            .is_empty()
    );
}

#[tokio::test]
async fn accounts_without_the_scopes_or_needing_reconnecting_are_skipped_with_the_reason() {
    let app = spawn_app().await;
    app.seed(
        "tt-stats-old",
        "alice",
        "user.info.basic,video.publish",
        tools::seed::Freshness::Fresh,
    )
    .await;
    app.seed(
        "tt-stats-gone",
        "alice",
        ANALYTICS_SCOPES,
        tools::seed::Freshness::Fresh,
    )
    .await;
    let store = app.store();
    let id = AccountId::parse("tt-stats-gone").unwrap();
    let account = store.get_account(&id).await.unwrap().unwrap();
    let version = account.token_version;
    let flagged = Account {
        status: AccountStatus::ReauthRequired,
        token_version: version + 1,
        ..account
    };
    store.put_account(&flagged, Some(version)).await.unwrap();
    let (snapshots, _) = snapshots(&app);
    let old = snapshots
        .snapshot(&AccountId::parse("tt-stats-old").unwrap())
        .await
        .unwrap();
    assert_eq!(
        old,
        SnapshotOutcome::Skipped(
            "the account did not grant user.info.stats and video.list; connect it again to grant it"
                .into()
        )
    );
    assert_eq!(
        snapshots.snapshot(&id).await.unwrap(),
        SnapshotOutcome::Skipped("the account is reauth_required".into())
    );
    assert_eq!(app.sandbox.calls("/v2/user/info/"), 0);
}

/// A video we published is recognised in `video.list`: TikTok's public
/// post id links it to our upload and post.
#[tokio::test]
async fn a_video_we_published_is_linked_to_its_upload_and_post() {
    use harness::{
        posting::post_request,
        publishing::{SAMPLE_MP4, WebhookEndpoint},
    };
    let app = spawn_app().await;
    let endpoint = WebhookEndpoint::spawn(app.webhooks.clone()).await;
    app.sandbox.set_webhook_url(Some(endpoint.url.clone()));
    app.seed(
        "tt-stats-pub",
        "alice",
        ANALYTICS_SCOPES,
        tools::seed::Freshness::Fresh,
    )
    .await;
    let media = app.upload_media("alice", SAMPLE_MP4.to_vec(), true).await;
    let mut request = post_request(
        media["upload_id"].as_str().unwrap(),
        &["tt-stats-pub"],
        None,
    );
    request["post"]["privacy_level"] = serde_json::json!("PUBLIC_TO_EVERYONE");
    let post_id = app.create_post("alice", &request).await["post_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = AccountId::parse("tt-stats-pub").unwrap();
    let mut public = None;
    for _ in 0..100 {
        app.drain_publish_queue(20).await;
        let post = app.post("alice", &post_id).await;
        if let Some(video) = post["targets"][0]["public_post_id"].as_str() {
            public = Some(video.to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let video = public.expect("a public post id");
    let links = app
        .store()
        .video_links(&id, &[video.as_str()])
        .await
        .unwrap();
    let link = &links[&video];
    assert_eq!(
        link.post_id.as_ref().map(ToString::to_string),
        Some(post_id)
    );
    // The snapshot sees the same id in video.list.
    let (snapshots, _) = snapshots(&app);
    snapshots.snapshot(&id).await.unwrap();
    let page = app.store().videos_of(&id, 20, None).await.unwrap();
    assert!(page.videos.iter().any(|v| v.video.id == video), "{page:?}");
}

/// The plan covers the configured shards, and more while the refresh's
/// record says accounts written under a wider `REFRESH_SHARDS` are still
/// in the old shards.
#[tokio::test]
async fn the_plan_covers_the_shards_the_refresh_records_as_holding_accounts() {
    use shared::domain::{
        ports::RefreshLeases,
        schedule::{DueShards, ShardSpan},
    };
    let app = spawn_app().await;
    let (snapshots, _) = snapshots(&app);
    let plain = snapshots.plan(DueShards::DEFAULT).await.unwrap();
    assert_eq!(plain.len(), DueShards::DEFAULT.count() as usize);

    // REFRESH_SHARDS went from 32 down to 16: shards 16..32 still hold
    // accounts until they are written again.
    app.store()
        .record_shard_span(&ShardSpan {
            widest: 32,
            count: 16,
            since: Utc::now(),
        })
        .await
        .unwrap();
    let wider = snapshots.plan(DueShards::DEFAULT).await.unwrap();
    let shards: Vec<u32> = wider.iter().map(|s| s.shard).collect();
    assert_eq!(shards, (0..32).collect::<Vec<_>>());
    assert!(
        wider
            .iter()
            .all(|s| s.day == snapshots.today() && s.after.is_none())
    );
}

/// 500 accounts in one day's run: the plan's slices, worked until done,
/// each slice handed back when the app-wide cap of 600 calls a minute is
/// used up and taken again a minute later (the test's clock). Every
/// account is snapshotted once; no limit shows up as a failure.
#[tokio::test]
async fn a_run_over_500_accounts_keeps_under_the_limit_and_fails_none() {
    use futures::StreamExt;
    use shared::{
        domain::schedule::DueShards, service::analytics::SnapshotSlice, support::deadline::Deadline,
    };
    let app = spawn_app().await;
    let ids: Vec<String> = (0..500).map(|i| format!("tt-run-{i}")).collect();
    futures::stream::iter(ids.iter())
        .for_each_concurrent(16, |id| async {
            app.seed(id, "alice", ANALYTICS_SCOPES, tools::seed::Freshness::Fresh)
                .await;
        })
        .await;
    let (snapshots, time) = snapshots(&app);
    let mut queue: Vec<SnapshotSlice> = snapshots.plan(DueShards::DEFAULT).await.unwrap();
    let (mut taken, mut waits, mut minutes) = (0, 0, 0);
    let mut calls_this_minute = 0;
    while let Some(slice) = queue.pop() {
        let before = app.sandbox.calls("/v2/user/info/") + app.sandbox.calls("/v2/video/list/");
        let report = snapshots.work(slice, Deadline::NONE).await.unwrap();
        let after = app.sandbox.calls("/v2/user/info/") + app.sandbox.calls("/v2/video/list/");
        calls_this_minute += after - before;
        assert!(
            calls_this_minute <= 600,
            "{calls_this_minute} calls in a minute"
        );
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(report.skipped.is_empty());
        taken += report.taken;
        if let Some((rest, delay)) = report.rest {
            assert!(delay > std::time::Duration::ZERO && delay.as_secs() <= 60);
            waits += 1;
            // The queue's delay passes: the next minute.
            time.advance(chrono::Duration::seconds(delay.as_secs() as i64));
            minutes += 1;
            calls_this_minute = 0;
            queue.insert(0, rest);
        }
    }
    assert_eq!(taken, 500);
    assert!(waits >= 1, "1000 calls do not fit one minute");
    assert!(minutes >= 1);
    assert_eq!(app.sandbox.calls("/v2/user/info/"), 500);
}

/// analytics-api through its handler: the caller's accounts only, ranges
/// checked, no token in any log line of the snapshot and its reads.
#[tokio::test]
async fn the_analytics_routes_answer_the_caller_only_and_refuse_bad_ranges() {
    let logs = harness::logs::capture();
    let app = spawn_app().await;
    app.seed(
        "tt-http-1",
        "alice",
        ANALYTICS_SCOPES,
        tools::seed::Freshness::Fresh,
    )
    .await;
    app.sandbox.set_profile_stats("tt-http-1", 10, 1, 100);
    let videos = app.sandbox.add_videos("tt-http-1", 3);
    // Today's snapshot, by the system clock the API's default range uses.
    let snapshots = Snapshots::new(
        app.store(),
        app.sealer(),
        app.tiktok(),
        AnalyticsSettings::default(),
        Clock::system(),
    );
    let id = AccountId::parse("tt-http-1").unwrap();
    assert!(matches!(
        snapshots.snapshot(&id).await.unwrap(),
        SnapshotOutcome::Taken { videos: 3 }
    ));
    let call = |path: String, query: Vec<(&'static str, String)>, user: &'static str| {
        let app = &app;
        async move {
            let query: Vec<(String, String)> =
                query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let event = harness::events::http_event("GET", &path, &query, Some(user));
            let response = analytics_api::handle(&app.analytics, harness::events::request(&event))
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&harness::body_text(&response)).unwrap_or_default();
            (status, body)
        }
    };
    let video = videos.last().unwrap().clone();
    let (status, stats) = call("/accounts/tt-http-1/stats".into(), vec![], "alice").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["points"][0]["followers"], 10);
    assert!(stats["points"][0]["date"].is_string());
    let (status, list) = call(
        "/accounts/tt-http-1/videos".into(),
        vec![("limit", "2".into())],
        "alice",
    )
    .await;
    assert_eq!(
        (status, list["videos"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    assert_eq!(list["videos"][0]["video_id"], video.as_str());
    assert!(list["next_cursor"].is_string());
    let path = format!("/accounts/tt-http-1/videos/{video}/stats");
    let (status, one) = call(path.clone(), vec![], "alice").await;
    assert_eq!(
        (status, one["points"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, summary) = call("/analytics/summary".into(), vec![], "alice").await;
    assert_eq!(status, 200);
    assert_eq!(summary["accounts"][0]["followers"], 10);

    // Another user's account or video: 404 on every route.
    for path in [
        "/accounts/tt-http-1/stats".to_owned(),
        "/accounts/tt-http-1/videos".to_owned(),
        path.clone(),
    ] {
        assert_eq!(call(path.clone(), vec![], "bob").await.0, 404, "{path}");
    }
    assert_eq!(
        call("/analytics/summary".into(), vec![], "bob").await.1["accounts"],
        serde_json::json!([])
    );
    // Bad ranges: 400.
    for query in [
        vec![
            ("from", "2027-03-02".to_owned()),
            ("to", "2027-03-01".to_owned()),
        ],
        vec![
            ("from", "2025-01-01".to_owned()),
            ("to", "2027-03-01".to_owned()),
        ],
        vec![("from", "last week".to_owned())],
    ] {
        let (status, body) = call("/accounts/tt-http-1/stats".into(), query, "alice").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_range"))
        );
    }

    let captured = logs.contents();
    assert!(
        captured.contains("analytics.snapshot"),
        "the capture sees the snapshot"
    );
    for secret in app.sandbox.secrets() {
        assert!(!captured.contains(&secret), "a token reached the logs");
    }
}
