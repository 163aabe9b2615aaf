//! Token refresh against moto and the sandbox with strict rotation.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use futures::future::join_all;
use harness::{TestApp, spawn_app};
use shared::support::deadline::Deadline;
use shared::{
    domain::{
        account::{Account, AccountStatus},
        ids::AccountId,
        ports::{AccountStore, TokenEndpoint, TokenSealer},
        secrets::{AccessToken, RefreshToken, TokenSet},
    },
    service::refresh::{Command, Outcome, Summary},
};
use tiktok_sandbox::{Fault, FaultKind};

const TOKEN_PATH: &str = "/v2/oauth/token/";

fn sweep() -> Command {
    Command::Sweep { dry_run: false }
}

/// The refresh token stored for `id`, opened.
async fn stored_refresh_token(app: &TestApp, id: &AccountId) -> String {
    let account = app.store().get_account(id).await.unwrap().unwrap();
    let tokens = app
        .sealer()
        .open(id, account.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    tokens.refresh.expose().to_owned()
}

/// The accounts whose items hold a lease (read only).
async fn leased(app: &TestApp, ids: &[AccountId]) -> Vec<AccountId> {
    let mut leased = Vec::new();
    for id in ids {
        if let Some(item) = app.account_item(id.as_ref()).await
            && item.contains_key("lease_owner")
        {
            leased.push(id.clone());
        }
    }
    leased
}

async fn assert_refreshed_once(app: &TestApp, ids: &[AccountId]) {
    for id in ids {
        assert_eq!(app.sandbox.rotations(id.as_ref()), 1, "{id} rotations");
        let account = app.store().get_account(id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Active, "{id}");
        assert_eq!(account.token_version, 2, "{id}");
        assert!(account.last_refreshed_at.is_some());
        // What we stored is exactly the token TikTok now honours.
        assert_eq!(
            Some(stored_refresh_token(app, id).await),
            app.sandbox.current_refresh_token(id.as_ref()),
            "{id}"
        );
    }
}

#[tokio::test]
async fn four_overlapping_sweeps_refresh_500_due_accounts_exactly_once() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("acct", 500, "alice").await;
    // 128 refreshes in flight against one emulator, which serves about
    // 130 calls a second: a call may queue for seconds, so each may take
    // up to 30 s (and the lease outlives that worst case).
    let mut refreshers = Vec::new();
    for _ in 0..4 {
        refreshers.push(
            app.refresher_with(|env| {
                env.set("AWS_OPERATION_TIMEOUT_SECONDS", "30");
                env.set("REFRESH_LEASE_SECONDS", "900");
            })
            .await,
        );
    }

    let summaries: Vec<Summary> = join_all(refreshers.iter().map(|r| r.run(sweep()))).await;

    let refreshed: u64 = summaries.iter().map(|s| s.refreshed).sum();
    let failed: u64 = summaries.iter().map(|s| s.failed).sum();
    assert_eq!(refreshed, 500, "{summaries:?}");
    assert_eq!(failed, 0, "{summaries:?}");
    for s in &summaries {
        assert_eq!(s.refreshed + s.skipped, s.due, "{s:?}");
        assert_eq!(s.reauth_required, 0);
    }
    assert_eq!(app.sandbox.invalid_grants(), 0);
    assert_refreshed_once(&app, &ids).await;

    // Nothing is due any more: the next sweep does nothing.
    let after = app.refresher.run(sweep()).await;
    assert_eq!((after.due, after.refreshed), (0, 0), "{after:?}");
}

#[tokio::test]
async fn a_20_percent_transient_fault_rate_flags_nobody_and_all_are_refreshed_within_three_sweeps()
{
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("flaky", 120, "alice").await;
    for kind in [FaultKind::Status(503), FaultKind::RateLimited] {
        app.sandbox.add_fault(Fault {
            path_prefix: TOKEN_PATH.into(),
            kind,
            count: 0,
            rate: 0.1,
            after: 0,
        });
    }
    let mut refreshed = 0;
    for sweep_number in 1..=3 {
        let summary = app.refresher.run(sweep()).await;
        assert_eq!(
            summary.reauth_required, 0,
            "sweep {sweep_number}: {summary:?}"
        );
        refreshed += summary.refreshed;
        if refreshed == 120 {
            break;
        }
    }
    assert_eq!(refreshed, 120);
    assert_eq!(app.sandbox.invalid_grants(), 0);
    assert_refreshed_once(&app, &ids).await;
}

#[tokio::test]
async fn transient_failures_leave_the_account_active_with_last_error() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("down", 3, "alice").await;
    app.sandbox.add_fault(Fault {
        path_prefix: TOKEN_PATH.into(),
        kind: FaultKind::Status(500),
        count: 0,
        rate: 1.0,
        after: 0,
    });
    let summary = app.refresher.run(sweep()).await;
    assert_eq!(
        (summary.failed, summary.reauth_required),
        (3, 0),
        "{summary:?}"
    );
    for id in &ids {
        let item = app.account_item(id.as_ref()).await.unwrap();
        assert_eq!(item["status"].as_s().unwrap(), "active");
        assert_eq!(
            item["last_error"].as_s().unwrap(),
            "tiktok_unavailable: TikTok could not refresh the token just now; the next sweep retries"
        );
        assert_eq!(item["failure_count"].as_n().unwrap(), "1");
        assert!(!item.contains_key("lease_owner"), "the lease is released");
        assert!(item.contains_key("due_at"), "still due for the next sweep");
    }
    // Bounded retries: three attempts per account, no more.
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 9);

    app.sandbox.clear_faults();
    let summary = app.refresher.run(sweep()).await;
    assert_eq!(summary.refreshed, 3);
    let item = app.account_item(ids[0].as_ref()).await.unwrap();
    assert!(!item.contains_key("last_error") && !item.contains_key("failure_count"));
}

#[tokio::test]
async fn invalid_grant_marks_the_account_reauth_required_with_the_reason() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("revoked", 3, "alice").await;
    // The user revoked access at TikTok: the stored refresh token is dead.
    let dead = &ids[0];
    let tiktok = app.tiktok();
    let account = app.store().get_account(dead).await.unwrap().unwrap();
    let tokens = app
        .sealer()
        .open(dead, account.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    tiktok.revoke(&tokens.access).await.unwrap();

    let summary = app.refresher.run(sweep()).await;
    assert_eq!(
        (summary.refreshed, summary.reauth_required),
        (2, 1),
        "{summary:?}"
    );
    assert_eq!(summary.errors[0].account_id, dead.as_ref());
    assert!(summary.errors[0].error.starts_with("invalid_grant"));

    let item = app.account_item(dead.as_ref()).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "reauth_required");
    assert!(
        item["last_error"]
            .as_s()
            .unwrap()
            .starts_with("invalid_grant: ")
    );
    assert!(!item.contains_key("due_at"), "out of the due index");
    assert_eq!(app.refresher.run(sweep()).await.due, 0);
}

#[tokio::test]
async fn invalid_grant_after_another_writer_rotated_the_token_does_not_flag() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("raced", 1, "alice").await;
    let id = &ids[0];
    // Another writer (say, a reconnect) gets new tokens while our sweep is
    // calling TikTok with the old refresh token.
    let before = app.store().get_account(id).await.unwrap().unwrap();
    let (access, refresh) = app.sandbox.issue_grant(id.as_ref(), "user.info.basic");
    let old = app
        .sealer()
        .open(id, before.sealed_tokens.as_ref().unwrap())
        .await
        .unwrap();
    let tiktok = app.tiktok();
    tiktok.refresh(&old.refresh, Utc::now()).await.unwrap(); // old token now rotated away
    app.sandbox.set_latency(Duration::from_millis(1500));
    let sweep_task = {
        let refresher = app.refresher.clone();
        tokio::spawn(async move { refresher.run(sweep()).await })
    };
    // The sweep holds the lease (and so has read the old tokens) before the
    // other writer goes ahead: wait for the lease, not a fixed delay.
    for _ in 0..200 {
        let leased = app
            .account_item(id.as_ref())
            .await
            .is_some_and(|item| item.contains_key("lease_owner"));
        if leased {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let newer = Account {
        token_version: before.token_version + 1,
        sealed_tokens: Some(
            app.sealer()
                .seal(
                    id,
                    &TokenSet {
                        access: AccessToken::parse(access).unwrap(),
                        refresh: RefreshToken::parse(refresh.clone()).unwrap(),
                    },
                )
                .await
                .unwrap(),
        ),
        ..before.clone()
    };
    app.store()
        .put_account(&newer, Some(before.token_version))
        .await
        .unwrap();

    let summary = sweep_task.await.unwrap();
    assert_eq!(
        (summary.skipped, summary.reauth_required),
        (1, 0),
        "{summary:?}"
    );
    let after = app.store().get_account(id).await.unwrap().unwrap();
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(stored_refresh_token(&app, id).await, refresh);
}

#[tokio::test]
async fn a_sweep_killed_mid_way_is_finished_by_the_next_sweep_after_lease_expiry() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("killed", 40, "alice").await;
    // Leases land, then the Lambda dies before TikTok is called: the
    // emulator's answers to the lease writes are held back, and the sweep is
    // killed as soon as the first lease is in the table.
    app.aws
        .delay("DynamoDB.UpdateItem", Duration::from_secs(20));
    let doomed = {
        let refresher = app.refresher.clone();
        tokio::spawn(async move { refresher.run(sweep()).await })
    };
    for _ in 0..100 {
        if !leased(&app, &ids).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    doomed.abort();
    // Lease writes already sent still reach the emulator; let them land.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    app.aws.clear_faults();
    let held = leased(&app, &ids).await;
    assert!(!held.is_empty(), "the killed sweep held leases");
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 0);

    // While the dead sweep's leases are live, nobody else touches them.
    let second = app.refresher.run(sweep()).await;
    assert_eq!(
        second.refreshed as usize,
        ids.len() - held.len(),
        "{second:?}"
    );
    assert_eq!(second.skipped as usize, held.len());

    // The leases expire (time passes: set lease_until in the past).
    for id in &held {
        app.set_number(
            &format!("ACCOUNT#{id}"),
            "ACCOUNT",
            "lease_until",
            Utc::now().timestamp() - 1,
        )
        .await;
    }
    let third = app.refresher.run(sweep()).await;
    assert_eq!(third.refreshed as usize, held.len(), "{third:?}");
    assert_eq!(app.sandbox.invalid_grants(), 0);
    assert_refreshed_once(&app, &ids).await;
}

#[tokio::test]
async fn a_dry_run_reports_and_changes_nothing() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("dry", 12, "alice").await;
    let before = app.all_items().await;

    let summary = app.refresher.run(Command::Sweep { dry_run: true }).await;
    assert!(summary.dry_run);
    assert_eq!((summary.due, summary.refreshed, summary.failed), (12, 0, 0));
    let one = app
        .refresher
        .run(Command::Refresh {
            account_id: ids[0].to_string(),
            dry_run: true,
        })
        .await;
    assert_eq!((one.due, one.refreshed), (1, 1), "reports it would refresh");

    let mut after = app.all_items().await;
    let mut before = before;
    let key =
        |i: &std::collections::HashMap<String, AttributeValue>| i["pk"].as_s().unwrap().clone();
    before.sort_by_key(key);
    after.sort_by_key(key);
    assert_eq!(before, after, "a dry run wrote something");
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 0, "a dry run called TikTok");
    assert_eq!(app.aws.calls("KMS.Decrypt"), 0);
}

#[tokio::test]
async fn a_store_write_that_fails_after_tiktok_rotated_is_retried_and_the_token_kept() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("kept", 1, "alice").await;
    let refresher = app
        .refresher_with(|env| env.set("AWS_MAX_ATTEMPTS", "1"))
        .await;
    // The first three writes of the new tokens fail.
    app.aws.fail_next("DynamoDB.PutItem", 3);
    let summary = refresher.run(sweep()).await;
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    assert_eq!(app.aws.calls("DynamoDB.PutItem"), 4);
    assert_refreshed_once(&app, &ids).await;
    // And the kept token works for the next refresh.
    assert_eq!(app.refresher.refresh_now(&ids[0]).await, Outcome::Refreshed);
    assert_eq!(app.sandbox.invalid_grants(), 0);
}

#[tokio::test]
async fn a_forced_refresh_and_the_handler_speak_the_contract() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("forced", 2, "alice").await;
    let event = serde_json::json!({"action": "refresh", "account_id": ids[0].as_ref()});
    let summary = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["action"], "refresh");
    assert_eq!(json["refreshed"], 1);
    assert_eq!(app.sandbox.rotations(ids[0].as_ref()), 1);
    assert_eq!(app.sandbox.rotations(ids[1].as_ref()), 0);

    // An unknown account is skipped, a malformed id fails, bad input errs.
    let unknown = app
        .refresher
        .run(Command::Refresh {
            account_id: "nobody".into(),
            dry_run: false,
        })
        .await;
    assert_eq!(unknown.skipped, 1);
    let bad = app
        .refresher
        .run(Command::Refresh {
            account_id: "a#b".into(),
            dry_run: false,
        })
        .await;
    assert_eq!(bad.failed, 1);
    let err = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(
            serde_json::json!({"action": "boom"}),
            lambda_runtime::Context::default(),
        ),
    )
    .await;
    assert!(err.is_err());

    // The sample scheduled event runs a sweep.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/events/token-refresh-scheduled.json");
    let scheduled: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let summary = token_refresh::handle(
        &app.token_refresh,
        lambda_runtime::LambdaEvent::new(scheduled, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let summary = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        (&summary["action"], &summary["refreshed"]),
        (&"sweep".into(), &1.into())
    );
}

#[tokio::test]
async fn aws_calls_per_refreshed_account_stay_within_five() {
    let app = spawn_app().await;
    app.seed_due_accounts("calls", 50, "alice").await;
    app.aws.reset_calls();
    let summary = app.refresher.run(sweep()).await;
    assert_eq!(summary.refreshed, 50);
    let total: u64 = app.aws.all_calls().values().sum();
    assert!(total <= 5 * 50, "{:?}", app.aws.all_calls());
    assert_eq!(app.aws.calls("DynamoDB.Scan"), 0, "never a Scan");
    assert_eq!(
        app.aws.calls("DynamoDB.GetItem"),
        1,
        "one read of the shard record; the lease returns each account"
    );
}

#[tokio::test]
async fn cleanup_flags_accounts_whose_refresh_token_expired_and_refresh_warns_ahead() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("old", 2, "alice").await;
    // One account's refresh token expired a minute ago.
    app.set_number(
        &format!("ACCOUNT#{}", ids[0]),
        "ACCOUNT",
        "refresh_expires_at",
        Utc::now().timestamp() - 60,
    )
    .await;
    let summary = app.refresher.run(Command::Cleanup).await;
    assert_eq!(
        (summary.reauth_required, summary.skipped),
        (1, 1),
        "{summary:?}"
    );
    let item = app.account_item(ids[0].as_ref()).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "reauth_required");
    assert_eq!(item["last_error"].as_s().unwrap(), "refresh_token_expired");
    assert_eq!(
        app.sandbox.calls(TOKEN_PATH),
        0,
        "cleanup never calls TikTok"
    );

    // A refresh token that expires within the lead is refreshed, and flagged.
    let warned = app
        .refresher_with(|env| env.set("REAUTH_LEAD_DAYS", "200"))
        .await;
    assert_eq!(warned.refresh_now(&ids[1]).await, Outcome::Refreshed);
    let item = app.account_item(ids[1].as_ref()).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "active");
    assert!(
        item["last_error"]
            .as_s()
            .unwrap()
            .starts_with("refresh_token_expiring: reconnect before ")
    );
}

/// Worker A rotates the token, then stalls past its lease before its write
/// lands; worker B takes over with the rotated-away token, gets
/// `invalid_grant` and flags the account. A's late write loses its
/// compare-and-swap, re-reads, finds no newer tokens, and stores the only
/// valid grant over the stale flag.
#[tokio::test]
async fn a_rotated_grant_whose_write_lands_late_is_stored_over_a_stale_flag() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("late", 1, "alice").await;
    let id = ids[0].clone();
    app.aws
        .hold_next("DynamoDB.PutItem", 1, Duration::from_secs(3));
    let a = {
        let (refresher, id) = (app.refresher.clone(), id.clone());
        tokio::spawn(async move { refresher.refresh_now(&id).await })
    };
    // A has its new grant and its write is on the way (held).
    for _ in 0..300 {
        if app.aws.calls("DynamoDB.PutItem") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 1, "A rotated the token");
    // A's lease lapses; B takes the account over with the stale token.
    app.set_number(
        &format!("ACCOUNT#{id}"),
        "ACCOUNT",
        "lease_until",
        Utc::now().timestamp() - 1,
    )
    .await;
    let b = app.refresher_with(|_| {}).await.refresh_now(&id).await;
    assert!(matches!(b, Outcome::ReauthRequired(_)), "{b:?}");
    assert_eq!(
        app.store().get_account(&id).await.unwrap().unwrap().status,
        AccountStatus::ReauthRequired
    );

    assert_eq!(a.await.unwrap(), Outcome::Refreshed);
    let after = app.store().get_account(&id).await.unwrap().unwrap();
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(after.token_version, 3, "written over B's flag");
    assert_eq!(after.last_error, None);
    // The stored token is the one TikTok now honours.
    let stored = stored_refresh_token(&app, &id).await;
    app.tiktok()
        .refresh(&RefreshToken::parse(stored).unwrap(), Utc::now())
        .await
        .expect("the stored refresh token works");
}

/// A sweep whose deadline is near starts only the refreshes that can finish
/// before it (the whole worst case of each), finishes every one it
/// started, and leaves the rest to the next sweep: no lease is left behind
/// and nobody is flagged.
#[tokio::test]
async fn a_sweep_near_its_deadline_finishes_what_it_starts_and_leaves_the_rest() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("deadline", 30, "alice").await;
    // A whole refresh at worst: lease and open 2 s, one TikTok attempt 2 s,
    // two store attempts 6 s and a backoff: just over 10 s.
    let refresher = app
        .refresher_with(|env| {
            env.set("REFRESH_ATTEMPTS", "1");
            env.set("REFRESH_STORE_ATTEMPTS", "2");
            env.set("AWS_OPERATION_TIMEOUT_SECONDS", "1");
            env.set("REFRESH_CONCURRENCY", "2");
        })
        .await;
    app.sandbox.set_latency(Duration::from_millis(500));
    let started = Utc::now();
    let deadline = started + chrono::Duration::seconds(14);
    let summary = refresher.run_until(sweep(), Deadline::at(deadline)).await;
    assert!(
        Utc::now() <= deadline,
        "the sweep ended before its deadline"
    );
    assert!(summary.refreshed > 0 && summary.left > 0, "{summary:?}");
    assert_eq!(
        summary.refreshed + summary.left,
        ids.len() as u64,
        "{summary:?}"
    );
    assert_eq!(
        (summary.failed, summary.reauth_required),
        (0, 0),
        "{summary:?}"
    );
    // Every refresh it started was finished: no lease is left, and TikTok
    // rotated exactly the tokens that were stored.
    assert!(leased(&app, &ids).await.is_empty());
    assert_eq!(app.sandbox.calls(TOKEN_PATH), summary.refreshed);
    app.sandbox.set_latency(Duration::ZERO);
    let rest = app.refresher.run(sweep()).await;
    assert_eq!(rest.refreshed, summary.left, "{rest:?}");
}

/// A refresh asked for by name (the HTTP API waits 30 s at most) makes
/// only the TikTok attempts that, with storing their answer, fit before its
/// deadline; the account stays active for the next sweep.
#[tokio::test]
async fn a_forced_refresh_makes_only_the_attempts_that_fit_its_deadline() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("forced", 1, "alice").await;
    // One attempt: TikTok's 2 s and a store attempt of three 1 s calls.
    let refresher = app
        .refresher_with(|env| env.set("AWS_OPERATION_TIMEOUT_SECONDS", "1"))
        .await;
    app.sandbox.add_fault(Fault {
        path_prefix: TOKEN_PATH.into(),
        kind: FaultKind::Timeout,
        count: 3,
        rate: 0.0,
        after: 0,
    });
    let deadline = Utc::now() + chrono::Duration::seconds(8);
    let outcome = refresher
        .refresh_now_within(&ids[0], Deadline::at(deadline))
        .await;
    assert!(Utc::now() <= deadline);
    let Outcome::Failed(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.starts_with("deadline: "), "{reason}");
    // Two of the three attempts fit; the third would not have.
    assert_eq!(app.sandbox.calls(TOKEN_PATH), 2);
    let account = app.store().get_account(&ids[0]).await.unwrap().unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    assert!(leased(&app, &ids).await.is_empty());
}

/// What an outage shows the account's owner is a code and a sentence of
/// ours: the SDK's error chain (endpoints, request ids, ARNs) stays in the
/// logs and the invocation's summary.
#[tokio::test]
async fn an_outage_shows_the_owner_our_words_and_the_operator_the_chain() {
    let app = spawn_app().await;
    let ids = app.seed_due_accounts("kmsdown", 1, "alice").await;
    app.aws.fail_next("KMS.Decrypt", 100);
    let summary = app.refresher.run(sweep()).await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert!(
        summary.errors[0]
            .error
            .starts_with("kms_unavailable: KMS is unavailable: "),
        "the operator gets the chain: {:?}",
        summary.errors[0].error
    );
    let response = app
        .api("GET", &format!("/accounts/{}", ids[0]), Some("alice"), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&harness::body_text(&response)).unwrap();
    assert_eq!(
        body["last_error"],
        "kms_unavailable: the tokens could not be opened just now; the next sweep retries"
    );
}
