//! accounts-api and the rate limiter, against moto and the sandbox.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use harness::{TestApp, body_text, spawn_app};
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::domain::ratelimit::{Decision, RateLimit};

fn body(response: &Response<Body>) -> Value {
    serde_json::from_str(&body_text(response)).unwrap_or(Value::Null)
}

fn error_code(response: &Response<Body>) -> String {
    body(response)["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

const TEST_LIMIT: RateLimit = RateLimit::per_minute("test", 5);

#[tokio::test]
async fn sixty_four_concurrent_decisions_with_a_limit_of_5_allow_exactly_5_twenty_times_over() {
    let app = spawn_app().await;
    let store = app.proxied_store().await;
    let now = Utc::now();
    app.aws.reset_calls();
    for round in 0..20 {
        let key = format!("key-{round}");
        let decisions = join_all((0..64).map(|_| store.rate_hit(&TEST_LIMIT, &key, now))).await;
        let allowed = decisions
            .iter()
            .filter(|d| matches!(d, Ok(Decision::Allowed { .. })))
            .count();
        let denied = decisions
            .iter()
            .filter(|d| matches!(d, Ok(Decision::Denied { .. })))
            .count();
        assert_eq!((allowed, denied), (5, 59), "round {round}");
    }
    // Exactly one DynamoDB call per decision.
    assert_eq!(app.aws.calls("DynamoDB.UpdateItem"), 64 * 20);
    assert_eq!(app.aws.all_calls().values().sum::<u64>(), 64 * 20);
}

#[tokio::test]
async fn keys_are_independent_windows_roll_over_and_retry_after_is_exact() {
    let app = spawn_app().await;
    let store = app.store();
    // The window is [1_900_000_020, 1_900_000_080): 39.75 s are left.
    let t = Utc.timestamp_millis_opt(1_900_000_040_250).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            store.rate_hit(&TEST_LIMIT, "a", t).await.unwrap(),
            Decision::Allowed { .. }
        ));
    }
    assert_eq!(
        store.rate_hit(&TEST_LIMIT, "a", t).await.unwrap(),
        Decision::Denied {
            retry_after_seconds: 40
        }
    );
    // Another key, and another scope with the same key, are untouched.
    assert_eq!(
        store.rate_hit(&TEST_LIMIT, "b", t).await.unwrap(),
        Decision::Allowed { remaining: 4 }
    );
    let other = RateLimit::per_minute("other", 5);
    assert_eq!(
        store.rate_hit(&other, "a", t).await.unwrap(),
        Decision::Allowed { remaining: 4 }
    );
    // The next window starts afresh.
    let next = Utc.timestamp_opt(1_900_000_080, 0).unwrap();
    assert_eq!(
        store.rate_hit(&TEST_LIMIT, "a", next).await.unwrap(),
        Decision::Allowed { remaining: 4 }
    );
    // Counters carry a TTL just past their window.
    let item = app
        .clients
        .dynamodb
        .get_item()
        .table_name(&app.provisioned.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "RATE#test#a#{}",
                1_900_000_040 / 60
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("RATE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["hits"].as_n().unwrap(), "5");
    assert_eq!(
        item["ttl"].as_n().unwrap(),
        &(1_900_000_080 + 60).to_string()
    );
}

#[tokio::test]
async fn forced_refreshes_over_the_limit_get_429_with_retry_after() {
    let app = spawn_app().await;
    harness::within_one_window(
        &shared::service::accounts::FORCED_REFRESHES_PER_ACCOUNT,
        std::time::Duration::from_secs(60),
    )
    .await;
    app.connect("alice", "tt-1").await;
    for _ in 0..3 {
        let ok = app
            .api("POST", "/accounts/tt-1/refresh", Some("alice"), None)
            .await;
        assert_eq!(ok.status(), 200, "{}", body_text(&ok));
    }
    let limited = app
        .api("POST", "/accounts/tt-1/refresh", Some("alice"), None)
        .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(error_code(&limited), "rate_limited");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(app.sandbox.rotations("tt-1"), 3);
}

#[tokio::test]
async fn oauth_starts_over_the_limit_get_429() {
    let app = spawn_app().await;
    harness::within_one_window(
        &shared::service::oauth::start::OAUTH_STARTS_PER_USER,
        std::time::Duration::from_secs(60),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(app.start_oauth(Some("alice")).await.status(), 200);
    }
    let limited = app.start_oauth(Some("alice")).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(app.start_oauth(Some("bob")).await.status(), 200, "per user");
}

#[tokio::test]
async fn every_route_answers_404_for_another_users_account() {
    let app = spawn_app().await;
    app.connect("alice", "tt-alice").await;
    let before = app.account_item("tt-alice").await.unwrap();
    let missing = app
        .api("GET", "/accounts/tt-nobody", Some("bob"), None)
        .await;
    for (method, path) in [
        ("GET", "/accounts/tt-alice"),
        ("POST", "/accounts/tt-alice/refresh"),
        ("DELETE", "/accounts/tt-alice"),
    ] {
        let response = app.api(method, path, Some("bob"), None).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            body_text(&response),
            body_text(&missing),
            "indistinguishable from a missing one"
        );
    }
    assert_eq!(
        app.account_item("tt-alice").await.unwrap(),
        before,
        "nothing changed"
    );
    assert_eq!(app.sandbox.rotations("tt-alice"), 0);
    assert!(app.sandbox.has_live_grant("tt-alice"));
    let listed = app.api("GET", "/accounts", Some("bob"), None).await;
    assert_eq!(body(&listed)["accounts"], Value::Array(vec![]));
}

async fn list_all(app: &TestApp, user: &str, limit: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts?limit={limit}&cursor={c}"),
            None => format!("/accounts?limit={limit}"),
        };
        let response = app.api("GET", &path, Some(user), None).await;
        assert_eq!(response.status(), 200, "{}", body_text(&response));
        let page = body(&response);
        pages += 1;
        for a in page["accounts"].as_array().unwrap() {
            ids.push(a["account_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn listing_works_with_0_1_and_250_accounts_across_pages() {
    let app = spawn_app().await;
    app.seed_due_accounts("carol", 250, "carol").await;
    app.seed_due_accounts("dave", 1, "dave").await;
    app.seed_due_accounts("other", 7, "erin").await;

    let (none, _) = list_all(&app, "nobody", 100).await;
    assert!(none.is_empty());
    let (one, _) = list_all(&app, "dave", 100).await;
    assert_eq!(one, ["dave-0"]);
    let (many, pages) = list_all(&app, "carol", 100).await;
    assert_eq!(many.len(), 250);
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(
        many.iter().collect::<HashSet<_>>().len(),
        250,
        "no duplicates"
    );
    assert!(
        many.iter().all(|id| id.starts_with("carol-")),
        "only the caller's"
    );

    // Every listed account is a view, never a token.
    let page = app
        .api("GET", "/accounts?limit=5", Some("carol"), None)
        .await;
    let text = body_text(&page);
    for secret in app.sandbox.secrets() {
        assert!(!text.contains(&secret));
    }
    assert!(!text.contains("sealed") && !text.contains("token\""));
    // A cursor works only for the listing it came from.
    let cursor = body(&page)["next_cursor"].as_str().unwrap().to_owned();
    let stolen = app
        .api(
            "GET",
            &format!("/accounts?cursor={cursor}"),
            Some("erin"),
            None,
        )
        .await;
    assert_eq!(
        (stolen.status().as_u16(), error_code(&stolen)),
        (400, "invalid_cursor".into())
    );
}

#[tokio::test]
async fn get_and_refresh_show_the_account_without_tokens() {
    let app = spawn_app().await;
    app.connect("alice", "tt-1").await;
    let got = app.api("GET", "/accounts/tt-1", Some("alice"), None).await;
    assert_eq!(got.status(), 200);
    let view = body(&got);
    assert_eq!(view["account_id"], "tt-1");
    assert_eq!(view["status"], "active");
    assert!(view["last_refreshed_at"].is_null());

    let refreshed = app
        .api("POST", "/accounts/tt-1/refresh", Some("alice"), Some("{}"))
        .await;
    assert_eq!(refreshed.status(), 200, "{}", body_text(&refreshed));
    let view = body(&refreshed);
    assert!(view["last_refreshed_at"].is_string());
    assert_eq!(app.sandbox.rotations("tt-1"), 1);
    for secret in app.sandbox.secrets() {
        assert!(!body_text(&got).contains(&secret) && !body_text(&refreshed).contains(&secret));
    }
}

/// An access token that has expired cannot end the grant at TikTok: the
/// disconnect refreshes it first, then revokes with the fresh one, and no
/// token of the grant lives on at TikTok.
#[tokio::test]
async fn disconnecting_with_an_expired_access_token_refreshes_first_and_ends_the_grant() {
    let app = spawn_app().await;
    app.connect("alice", "tt-9").await;
    app.sandbox.expire_access_tokens("tt-9");
    let expired = chrono::Utc::now().timestamp() - 60;
    app.set_number("ACCOUNT#tt-9", "ACCOUNT", "access_expires_at", expired)
        .await;
    assert!(
        app.sandbox.has_live_grant("tt-9"),
        "the refresh token lives"
    );

    let response = app
        .api("DELETE", "/accounts/tt-9", Some("alice"), None)
        .await;
    assert_eq!(response.status(), 204, "{}", body_text(&response));
    assert_eq!(app.sandbox.rotations("tt-9"), 1, "refreshed first");
    assert!(
        !app.sandbox.has_live_grant("tt-9"),
        "the grant is over at TikTok"
    );
    let item = app.account_item("tt-9").await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "disconnected");
    assert!(!item.contains_key("sealed_tokens"), "tokens erased");
}

#[tokio::test]
async fn disconnect_revokes_at_tiktok_erases_the_tokens_and_twice_is_harmless() {
    let app = spawn_app().await;
    app.connect("alice", "tt-1").await;
    assert!(app.sandbox.has_live_grant("tt-1"));

    let first = app
        .api("DELETE", "/accounts/tt-1", Some("alice"), None)
        .await;
    assert_eq!(first.status(), 204, "{}", body_text(&first));
    assert!(!app.sandbox.has_live_grant("tt-1"), "revoked at TikTok");
    let item = app.account_item("tt-1").await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "disconnected");
    assert!(!item.contains_key("sealed_tokens"), "tokens erased");
    assert!(!item.contains_key("due_at"), "out of the sweep");

    let second = app
        .api("DELETE", "/accounts/tt-1", Some("alice"), None)
        .await;
    assert_eq!(second.status(), 204);
    assert_eq!(app.sandbox.calls("/v2/oauth/revoke/"), 1);
    let view = body(&app.api("GET", "/accounts/tt-1", Some("alice"), None).await);
    assert_eq!(view["status"], "disconnected");
    // A refresh of a disconnected account is a conflict, not a TikTok call.
    let refresh = app
        .api("POST", "/accounts/tt-1/refresh", Some("alice"), None)
        .await;
    assert_eq!(
        (refresh.status().as_u16(), error_code(&refresh)),
        (409, "account_not_active".into())
    );
}

#[tokio::test]
async fn a_transient_tiktok_failure_during_disconnect_changes_nothing() {
    let app = spawn_app().await;
    app.connect("alice", "tt-1").await;
    let before = app.account_item("tt-1").await.unwrap();
    app.sandbox.add_fault(tiktok_sandbox::Fault {
        path_prefix: "/v2/oauth/revoke/".into(),
        kind: tiktok_sandbox::FaultKind::Status(503),
        count: 1,
        rate: 0.0,
        after: 0,
    });
    let failed = app
        .api("DELETE", "/accounts/tt-1", Some("alice"), None)
        .await;
    assert_eq!(failed.status(), 502);
    assert_eq!(
        app.account_item("tt-1").await.unwrap(),
        before,
        "tokens kept to retry"
    );
    assert_eq!(
        app.api("DELETE", "/accounts/tt-1", Some("alice"), None)
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn malformed_requests_get_400_and_the_error_body() {
    let app = spawn_app().await;
    app.connect("alice", "tt-1").await;
    for (method, path, body_in, code) in [
        ("GET", "/accounts/bad%23id", None, "invalid_account_id"),
        ("DELETE", "/accounts/a.b%20c", None, "invalid_account_id"),
        (
            "POST",
            "/accounts/tt-1/refresh",
            Some("not json"),
            "invalid_body",
        ),
        (
            "POST",
            "/accounts/tt-1/refresh",
            Some("[1,2]"),
            "invalid_body",
        ),
        ("GET", "/accounts?limit=0", None, "invalid_limit"),
        ("GET", "/accounts?limit=abc", None, "invalid_limit"),
        (
            "GET",
            "/accounts?cursor=not-a-cursor",
            None,
            "invalid_cursor",
        ),
    ] {
        let response = app.api(method, path, Some("alice"), body_in).await;
        assert_eq!(
            response.status(),
            400,
            "{method} {path}: {}",
            body_text(&response)
        );
        assert_eq!(error_code(&response), code, "{method} {path}");
        assert!(body(&response)["error"]["message"].is_string());
    }
    assert_eq!(
        app.api("PUT", "/accounts/tt-1", Some("alice"), None)
            .await
            .status(),
        405
    );
    assert_eq!(
        app.api("GET", "/elsewhere", Some("alice"), None)
            .await
            .status(),
        404
    );
    assert_eq!(app.api("GET", "/accounts", None, None).await.status(), 401);
    assert_eq!(app.sandbox.rotations("tt-1"), 0);
}

#[tokio::test]
async fn the_store_failing_fails_our_api_closed() {
    let app = harness::spawn_app_with(|env| env.set("TABLE_NAME", "no-such-table")).await;
    let response = app.api("GET", "/accounts", Some("alice"), None).await;
    assert_eq!(
        (response.status().as_u16(), error_code(&response)),
        (503, "unavailable".into())
    );
    assert!(!body_text(&response).contains("no-such-table"));
}

const CREATOR_INFO: &str = "/v2/post/publish/creator_info/query/";

#[tokio::test]
async fn creator_info_shows_what_the_creator_may_post_asked_once_a_minute_and_only_to_its_owner() {
    let app = spawn_app().await;
    app.connect("alice", "tt-creator").await;
    app.sandbox.set_privacy_options(
        "tt-creator",
        vec!["MUTUAL_FOLLOW_FRIENDS".into(), "SELF_ONLY".into()],
    );
    let first = app.creator_info("alice", "tt-creator").await;
    assert_eq!(first.status(), 200, "{}", body_text(&first));
    let view = body(&first);
    assert_eq!(view["account_id"], "tt-creator");
    assert_eq!(view["can_post"], true);
    assert!(view["reason"].is_null());
    assert!(view["nickname"].is_string());
    assert_eq!(
        view["privacy_level_options"],
        serde_json::json!(["MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(view["comment_disabled"], false);
    assert_eq!(view["max_video_post_duration_sec"], 600);
    assert!(view["fetched_at"].is_string());
    // Asked again and again within the minute: TikTok hears once.
    for _ in 0..10 {
        let again = app.creator_info("alice", "tt-creator").await;
        assert_eq!(body(&again), view);
    }
    assert_eq!(app.sandbox.calls(CREATOR_INFO), 1);
    for secret in app.sandbox.secrets() {
        assert!(
            !body_text(&first).contains(&secret),
            "no token in the answer"
        );
    }
    // Another user: the same 404 as a missing account, and TikTok not asked.
    let missing = app.creator_info("bob", "tt-nobody").await;
    let other = app.creator_info("bob", "tt-creator").await;
    assert_eq!(other.status(), 404);
    assert_eq!(body_text(&other), body_text(&missing));
    assert_eq!(app.sandbox.calls(CREATOR_INFO), 1);
}

#[tokio::test]
async fn a_creator_tiktok_stops_from_posting_is_told_why_not_failed() {
    let app = spawn_app().await;
    app.connect("alice", "tt-capped").await;
    app.sandbox
        .set_posting_block("tt-capped", Some("spam_risk_too_many_posts".into()));
    let response = app.creator_info("alice", "tt-capped").await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let view = body(&response);
    assert_eq!(view["can_post"], false);
    assert!(
        view["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("spam_risk_too_many_posts")),
        "{view}"
    );
    assert_eq!(view["privacy_level_options"], serde_json::json!([]));
}

#[tokio::test]
async fn creator_info_keeps_within_tiktoks_limit_and_needs_the_publish_scope() {
    let app = spawn_app().await;
    app.connect("alice", "tt-busy").await;
    // The per-token limit is shared with publishing: used up, the route
    // answers 429 with Retry-After and TikTok is not asked.
    let store = app.store();
    for _ in 0..20 {
        store
            .rate_hit(
                &shared::domain::ratelimit::TIKTOK_CREATOR_INFO,
                "tt-busy",
                Utc::now(),
            )
            .await
            .expect("a decision");
    }
    let limited = app.creator_info("alice", "tt-busy").await;
    assert_eq!(limited.status(), 429, "{}", body_text(&limited));
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(app.sandbox.calls(CREATOR_INFO), 0);

    // An account connected without video.publish cannot ask.
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(
            &authorize,
            &[
                ("sandbox_user", "tt-inbox-only"),
                ("sandbox_scopes", "user.info.basic,video.upload"),
            ],
        )
        .await;
    let landed = app.follow_callback(&callback).await;
    let ticket = harness::query_of(&harness::location(&landed))["ticket"].clone();
    assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 200);
    let refused = app.creator_info("alice", "tt-inbox-only").await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(&refused), "scope_not_granted");
    assert_eq!(app.sandbox.calls(CREATOR_INFO), 0);
}
