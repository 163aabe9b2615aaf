use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::future::join_all;
use harness::{RETURN_URL, TestApp, body_text, location, query_of, spawn_app, spawn_app_with};
use sha2::{Digest, Sha256};
use shared::domain::{account::AccountStatus, ports::TokenSealer};
use tiktok_sandbox::{Fault, FaultKind};

use crate::helpers::{account, count_items, n, no_account_or_state, s};

const TOKEN_PATH: &str = "/v2/oauth/token/";

#[tokio::test]
async fn one_user_connects_two_accounts() {
    let app = spawn_app().await;
    let first = app.connect("alice", "tt-user-1").await;
    let second = app.connect("alice", "tt-user-2").await;

    assert_eq!(first["status"], "connected");
    assert_eq!(first["account_id"], "tt-user-1");
    assert_eq!(second["account_id"], "tt-user-2");
    for open_id in ["tt-user-1", "tt-user-2"] {
        let item = app.account_item(open_id).await.expect("written");
        assert_eq!(s(&item, "owner"), "alice");
        assert_eq!(s(&item, "status"), "active");
        assert_eq!(n(&item, "token_version"), 1);
        assert_eq!(
            s(&item, "scopes"),
            "user.info.basic,user.info.stats,video.list,video.upload,video.publish"
        );
        // Expiries come from the sandbox's expires_in (7200 s, 180 days).
        let now = Utc::now().timestamp();
        assert!((n(&item, "access_expires_at") - (now + 7200)).abs() < 60);
        assert!((n(&item, "refresh_expires_at") - (now + 15_552_000)).abs() < 60);
        // In the due index, due well before the access token expires.
        assert!(n(&item, "due_at") < n(&item, "access_expires_at"));
        assert!(item.contains_key("due_shard"));
        // Tokens are stored only as ciphertext.
        let sealed = item["sealed_tokens"]
            .as_b()
            .expect("binary")
            .as_ref()
            .to_vec();
        let raw = String::from_utf8_lossy(&sealed);
        assert!(!raw.contains("act.") && !raw.contains("rft."));
        for (k, v) in &item {
            if let AttributeValue::S(text) = v {
                assert!(
                    !text.contains("act.") && !text.contains("rft."),
                    "{k} holds a token"
                );
            }
        }
    }
    // Each account's tokens open for it and are the ones TikTok issued.
    let a = account(&app, "tt-user-1").await;
    let tokens = app
        .sealer()
        .open(&a.id, a.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        app.sandbox
            .secrets()
            .contains(&tokens.refresh.expose().to_owned())
    );
    assert!(app.sandbox.has_live_grant("tt-user-1"));
    // The states were consumed, and the tickets used up.
    assert_eq!(count_items(&app, "STATE#").await, 0);
    assert_eq!(count_items(&app, "CONNECT#").await, 0);
}

#[tokio::test]
async fn a_reconnect_updates_the_account_in_place() {
    let app = spawn_app().await;
    app.connect("alice", "tt-user-1").await;
    let before = account(&app, "tt-user-1").await;
    let old = app
        .sealer()
        .open(&before.id, before.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();

    // The account needed re-authorisation; the user connects it again.
    app.clients
        .dynamodb
        .update_item()
        .table_name(&app.provisioned.table)
        .key("pk", AttributeValue::S("ACCOUNT#tt-user-1".into()))
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET #s = :s, last_error = :e REMOVE due_at, due_shard")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S("reauth_required".into()))
        .expression_attribute_values(":e", AttributeValue::S("invalid_grant".into()))
        .send()
        .await
        .unwrap();
    let landed = app.connect("alice", "tt-user-1").await;
    assert_eq!(landed["status"], "connected");

    let after = account(&app, "tt-user-1").await;
    assert_eq!(after.token_version, before.token_version + 1);
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(after.last_error, None);
    assert_eq!(after.connected_at, before.connected_at);
    let new = app
        .sealer()
        .open(&after.id, after.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    assert_ne!(new.refresh.expose(), old.refresh.expose());
    assert_eq!(count_items(&app, "ACCOUNT#").await, 1);
    assert!(
        app.account_item("tt-user-1")
            .await
            .unwrap()
            .contains_key("due_at")
    );
}

#[tokio::test]
async fn another_user_cannot_take_a_connected_account_but_can_claim_a_disconnected_one() {
    let app = spawn_app().await;
    app.connect("alice", "tt-shared").await;
    let original = account(&app, "tt-shared").await;

    let refused = app.connect("bob", "tt-shared").await;
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["reason"], "account_connected_elsewhere");
    let unchanged = account(&app, "tt-shared").await;
    assert_eq!(unchanged.owner.as_ref(), "alice");
    assert_eq!(unchanged.token_version, original.token_version);
    assert_eq!(unchanged.sealed_tokens, original.sealed_tokens);
    // Alice's connection still works at TikTok: nothing was revoked.
    let tokens = app
        .sealer()
        .open(&unchanged.id, unchanged.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        app.sandbox
            .secrets()
            .contains(&tokens.access.expose().to_owned())
    );
    assert!(app.sandbox.has_live_grant("tt-shared"));

    // Once alice has disconnected it, bob may connect it.
    app.clients
        .dynamodb
        .update_item()
        .table_name(&app.provisioned.table)
        .key("pk", AttributeValue::S("ACCOUNT#tt-shared".into()))
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET #s = :s REMOVE sealed_tokens, due_at, due_shard")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S("disconnected".into()))
        .send()
        .await
        .unwrap();
    let claimed = app.connect("bob", "tt-shared").await;
    assert_eq!(claimed["status"], "connected");
    let now_bobs = account(&app, "tt-shared").await;
    assert_eq!(now_bobs.owner.as_ref(), "bob");
    assert_eq!(now_bobs.status, AccountStatus::Active);
    assert_eq!(now_bobs.token_version, original.token_version + 1);
}

#[tokio::test]
async fn a_forged_state_is_refused_before_the_code_is_used() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-victim")])
        .await;
    let mut query: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "state")
        .collect();
    query.push((
        "state".into(),
        "forged-state-value-aaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
    ));

    let response = app.callback_with(&query).await;
    assert_eq!(response.status(), 302);
    let landed = location(&response);
    assert!(landed.as_str().starts_with(RETURN_URL));
    assert_eq!(query_of(&landed)["reason"], "invalid_state");
    assert_eq!(
        app.sandbox.calls(TOKEN_PATH),
        0,
        "a forged state must not reach TikTok"
    );
    assert_eq!(count_items(&app, "ACCOUNT#").await, 0);

    // No state at all is refused the same way.
    let none: Vec<(String, String)> = query.into_iter().filter(|(k, _)| k != "state").collect();
    let response = app.callback_with(&none).await;
    assert_eq!(query_of(&location(&response))["reason"], "invalid_state");
}

#[tokio::test]
async fn a_replayed_state_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-user-1")])
        .await;
    let first = app.follow_callback(&callback).await;
    let ticket = TestApp::ticket_of(&first).expect("a ticket");
    assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 200);
    let before = account(&app, "tt-user-1").await;

    let replay = app.follow_callback(&callback).await;
    assert_eq!(query_of(&location(&replay))["reason"], "invalid_state");
    let after = account(&app, "tt-user-1").await;
    assert_eq!(after.token_version, before.token_version);
    assert_eq!(after.sealed_tokens, before.sealed_tokens);
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 1);
}

#[tokio::test]
async fn the_same_callback_delivered_many_times_at_once_connects_exactly_once() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-user-1")])
        .await;
    let outcomes = join_all((0..16).map(|_| app.follow_callback(&callback))).await;
    let reasons: Vec<String> = outcomes
        .iter()
        .map(|r| {
            let q = query_of(&location(r));
            q.get("reason")
                .cloned()
                .unwrap_or_else(|| q["status"].clone())
        })
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "pending").count(),
        1,
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| *r == "invalid_state").count(),
        15,
        "{reasons:?}"
    );
    assert_eq!(
        app.sandbox.calls(TOKEN_PATH),
        0,
        "the callback exchanges nothing"
    );
    let ticket = outcomes
        .iter()
        .find_map(TestApp::ticket_of)
        .expect("one ticket");
    assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 200);
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 1);
    assert_eq!(account(&app, "tt-user-1").await.token_version, 1);
}

#[tokio::test]
async fn concurrent_connects_of_one_account_by_its_owner_all_land_by_compare_and_swap() {
    let app = spawn_app().await;
    app.connect("alice", "tt-user-1").await;
    let mut callbacks = Vec::new();
    for _ in 0..6 {
        let authorize = app.authorize_url("alice").await;
        callbacks.push(
            app.visit_tiktok(&authorize, &[("sandbox_user", "tt-user-1")])
                .await,
        );
    }
    let mut tickets = Vec::new();
    for callback in &callbacks {
        let response = app.follow_callback(callback).await;
        tickets.push(TestApp::ticket_of(&response).expect("a ticket"));
    }
    let outcomes = join_all(tickets.iter().map(|t| app.complete(Some("alice"), t))).await;
    let connected = outcomes.iter().filter(|r| r.status() == 200).count();
    // A connect that lost every compare-and-swap asks to be retried (503),
    // keeping its ticket.
    let retry = outcomes.iter().filter(|r| r.status() == 503).count();
    assert_eq!(connected + retry, 6);
    // Every success bumped the version exactly once: no lost update.
    assert_eq!(
        account(&app, "tt-user-1").await.token_version,
        1 + connected as u64
    );
}

#[tokio::test]
async fn an_expired_state_is_refused_even_before_ttl_deletes_it() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let state = query_of(&authorize)["state"].clone();
    // DynamoDB's TTL deletion lags: the item is still there, but expired.
    app.set_number(
        &format!("STATE#{}", hex::encode(Sha256::digest(state.as_bytes()))),
        "STATE",
        "expires_at",
        Utc::now().timestamp() - 1,
    )
    .await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-user-1")])
        .await;
    let response = app.follow_callback(&callback).await;
    assert_eq!(query_of(&location(&response))["reason"], "state_expired");
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 0);
    assert_eq!(count_items(&app, "ACCOUNT#").await, 0);
    assert_eq!(
        count_items(&app, "STATE#").await,
        0,
        "an expired state is still consumed"
    );
}

#[tokio::test]
async fn access_denied_is_reported_and_writes_nothing() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_decision", "deny")])
        .await;
    assert_eq!(query_of(&callback)["error"], "access_denied");
    let response = app.follow_callback(&callback).await;
    let landed = query_of(&location(&response));
    assert_eq!(landed["status"], "error");
    assert_eq!(landed["reason"], "access_denied");
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 0);
    assert!(
        no_account_or_state(&app).await,
        "no account, and the state is consumed"
    );
}

#[tokio::test]
async fn a_failed_token_exchange_leaves_no_partial_account() {
    let app = spawn_app_with(|env| env.set("TIKTOK_TIMEOUT_SECONDS", "1")).await;
    for kind in [
        FaultKind::Status(500),
        FaultKind::Status(503),
        FaultKind::RateLimited,
        FaultKind::Malformed,
        FaultKind::Timeout,
    ] {
        app.sandbox.clear_faults();
        app.sandbox.add_fault(Fault {
            path_prefix: TOKEN_PATH.into(),
            kind,
            count: 1,
            rate: 0.0,
            after: 0,
        });
        let landed = app.connect("alice", "tt-user-1").await;
        assert_eq!(landed["reason"], "token_exchange_failed", "{kind:?}");
        assert!(no_account_or_state(&app).await, "{kind:?} left an item");
    }
}

#[tokio::test]
async fn a_code_tiktok_refuses_leaves_no_partial_account() {
    let app = spawn_app().await;
    let authorize = app.authorize_url("alice").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-user-1")])
        .await;
    let mut query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    for (k, v) in query.iter_mut() {
        if k == "code" {
            *v = "a-code-tiktok-never-issued".into();
        }
    }
    let response = app.callback_with(&query).await;
    let ticket = TestApp::ticket_of(&response).expect("the callback keeps any code");
    let landed = app.completion(&app.complete(Some("alice"), &ticket).await);
    assert_eq!(landed["reason"], "token_exchange_failed");
    assert_eq!(landed["http_status"], "502");
    assert!(no_account_or_state(&app).await);
}

#[tokio::test]
async fn a_failed_profile_fetch_leaves_no_partial_account() {
    let app = spawn_app().await;
    app.sandbox.add_fault(Fault {
        path_prefix: "/v2/user/info/".into(),
        kind: FaultKind::Status(500),
        count: 1,
        rate: 0.0,
        after: 0,
    });
    let landed = app.connect("alice", "tt-user-1").await;
    assert_eq!(landed["reason"], "profile_fetch_failed");
    assert!(no_account_or_state(&app).await);
}

/// A connect started by one user (or a leaked authorize URL) and approved
/// by someone else's TikTok account lands in the approver's browser; the
/// approver's signed-in app cannot finish it, and nobody else has the
/// ticket. Nothing is exchanged at TikTok and no account is written.
#[tokio::test]
async fn a_forwarded_authorize_url_cannot_attach_an_account_to_another_user() {
    let app = spawn_app().await;
    // Mallory starts a connect and sends the authorize URL to a creator.
    let authorize = app.authorize_url("mallory").await;
    let callback = app
        .visit_tiktok(&authorize, &[("sandbox_user", "tt-creator")])
        .await;
    // The creator approves on TikTok; their browser lands in the app,
    // where they are signed in as alice.
    let landed = app.follow_callback(&callback).await;
    let ticket = TestApp::ticket_of(&landed).expect("a ticket");
    let refused = app.complete(Some("alice"), &ticket).await;
    assert_eq!(refused.status(), 404, "{}", body_text(&refused));
    assert!(body_text(&refused).contains("connect_not_found"));
    // The ticket is burned: not even the user who started it can use it.
    let burned = app.complete(Some("mallory"), &ticket).await;
    assert_eq!(burned.status(), 404);
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 0, "nothing was exchanged");
    assert_eq!(count_items(&app, "ACCOUNT#").await, 0);
    assert_eq!(count_items(&app, "CONNECT#").await, 0);
    // The creator can still connect their account to their own user.
    assert_eq!(
        app.connect("alice", "tt-creator").await["status"],
        "connected"
    );
    assert_eq!(account(&app, "tt-creator").await.owner.as_ref(), "alice");
}

#[tokio::test]
async fn a_ticket_works_once_only_unexpired_and_only_as_a_ticket() {
    let app = spawn_app().await;

    // Used once, then never again.
    let ticket = app.ticket("alice", "tt-user-1").await;
    assert_eq!(app.complete(Some("alice"), &ticket).await.status(), 200);
    let replay = app.complete(Some("alice"), &ticket).await;
    assert_eq!(replay.status(), 404);
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 1);

    // Forged, malformed, or without an identity.
    let forged = app
        .complete(
            Some("alice"),
            "forged-ticket-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .await;
    assert_eq!(forged.status(), 404);
    assert_eq!(
        app.complete(Some("alice"), "has spaces").await.status(),
        404
    );
    let ticket = app.ticket("alice", "tt-user-1").await;
    assert_eq!(app.complete(None, &ticket).await.status(), 401);

    // Expired, though DynamoDB's TTL has not deleted it yet.
    app.set_number(
        &format!("CONNECT#{}", hex::encode(Sha256::digest(ticket.as_bytes()))),
        "CONNECT",
        "expires_at",
        Utc::now().timestamp() - 1,
    )
    .await;
    let expired = app.complete(Some("alice"), &ticket).await;
    assert_eq!(expired.status(), 404);
    assert_eq!(
        app.sandbox.calls(TOKEN_PATH),
        1,
        "nothing more was exchanged"
    );
    assert_eq!(
        count_items(&app, "CONNECT#").await,
        0,
        "the expired one is burned"
    );
}

#[tokio::test]
async fn a_failed_exchange_leaves_the_ticket_usable_until_it_expires() {
    let app = spawn_app().await;
    let ticket = app.ticket("alice", "tt-user-1").await;
    app.sandbox.add_fault(Fault {
        path_prefix: TOKEN_PATH.into(),
        kind: FaultKind::Status(503),
        count: 1,
        rate: 0.0,
        after: 0,
    });
    let failed = app.completion(&app.complete(Some("alice"), &ticket).await);
    assert_eq!(
        (failed["reason"].as_str(), failed["http_status"].as_str()),
        ("token_exchange_failed", "502")
    );
    assert_eq!(count_items(&app, "ACCOUNT#").await, 0);
    let retried = app.completion(&app.complete(Some("alice"), &ticket).await);
    assert_eq!(retried["status"], "connected", "{retried:?}");
    assert_eq!(account(&app, "tt-user-1").await.owner.as_ref(), "alice");
}

#[tokio::test]
async fn one_ticket_presented_many_times_at_once_exchanges_once() {
    let app = spawn_app().await;
    let ticket = app.ticket("alice", "tt-user-1").await;
    let outcomes = join_all((0..12).map(|_| app.complete(Some("alice"), &ticket))).await;
    let statuses: Vec<u16> = outcomes.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 1);
    assert_eq!(account(&app, "tt-user-1").await.token_version, 1);
}
